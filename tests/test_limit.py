"""The discrete limit (sacramento2018.md sec. 5.2): in the self-predicting state with weak
feedback the microcircuit's forward update points along BP (top-down = W^T) or FA (fixed
random top-down B, same B), with an angle falling linearly in lambda ~ s."""

import numpy as np
import pytest

from dendrosim import limit

SCALES = (1.0, 0.1, 0.01)


@pytest.mark.parametrize("top_down", ["transpose", "random"])
def test_angle_small_and_linear_in_s_steady_and_engine(top_down):
    rows = {s: limit.measure(s, top_down=top_down, engine=(s != 1.0)) for s in SCALES}
    for k in (1, 2):
        a = [rows[s]["steady"][k] for s in SCALES]
        assert a[0] > a[1] > a[2]
        assert a[2] < 0.3, f"layer {k}: {a[2]:.3g} deg at s = 0.01"
        # linear in s: a tenfold smaller s gives a roughly tenfold smaller angle
        assert 6.0 < a[1] / a[2] < 14.0, a
        # the continuous engine's accumulated update gives the same angles
        for s in (0.1, 0.01):
            assert rows[s]["engine"][k] == pytest.approx(rows[s]["steady"][k], rel=0.05, abs=2e-3)
            assert rows[s]["engine_vs_steady"][k] < 0.05 * rows[s]["steady"][k] + 2e-3
    # hidden update shrinks like lambda relative to the output update
    r = [rows[s]["ratio"] for s in SCALES]
    assert 6.0 < r[1] / r[2] < 14.0


def test_reference_without_output_derivative_does_not_converge():
    """Against delta_N = u_tgt - u (no phi'), the angle stays large: the test can fail."""
    a = [limit.measure(s, output_dphi=False)["steady"][1] for s in (0.1, 0.01)]
    assert min(a) > 5.0


def test_fa_reference_is_not_bp():
    """With random top-down weights the update follows FA with that B, not BP."""
    from dendrosim import steady
    from dendrosim.network import Layout
    from dendrosim.network import build_network
    s, sizes = 0.01, (30, 20, 10)
    x, t = limit.pattern(sizes, 0)
    cfg = limit.limit_config(s, sizes, top_down="random", x=x, target=t)
    net = build_network(cfg, Layout.build(sizes, cfg.network.transfer, traces=False), np.float64,
                        np.random.default_rng(np.random.SeedSequence(0).spawn(3)[0]))
    circ = steady.Circuit(cfg)
    G = steady.plasticity(steady.exact(net, circ, x, t, tol=1e-15), net, circ, groups=("up",))
    fa = limit.reference_update(net.copy(), circ, x, t, "fa")
    bp = limit.reference_update(net.copy(), circ, x, t, "bp")
    assert limit.angle(G["up1"], fa[1]) < 0.3
    assert limit.angle(G["up1"], bp[1]) > 20.0
