"""The fused one-pass Euler kernel against the generic rhs-based Euler path."""

import numpy as np
import pytest

from dendrosim import config
from dendrosim.simulation import MemorySink, Simulation

from .helpers import make_cfg, random_state
from .test_dynamics import assert_float32_changes_match, state_blocks

CASES = [
    dict(sizes=(4, 3), bias=False, tau_w=0.0),
    dict(sizes=(5, 4, 3), bias=True, tau_w=30.0),
    dict(sizes=(5, 4, 3, 2), bias=False, tau_w=10.0, eta_down=0.02),
    dict(sizes=(3, 6, 5, 4, 2), bias=True, tau_w=0.0, eta_down=0.01, nudging="conductance"),
    dict(sizes=(4, 5, 3, 2), bias=True, tau_w=5.0, tau_in=0.0, transfer=["logistic", "relu", "linear"]),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("record_mode", ["sample", "mean"])
@pytest.mark.parametrize("le", [False, True])
def test_fused_equals_generic(case, record_mode, le):
    """Both kernels, every switch, noise on, with and without Latent Equilibrium (and then with
    a target from the second pattern on, so the output's nudged tau_eff is exercised)."""
    case = dict(case)
    sizes = case.pop("sizes")
    case.setdefault("transfer", "soft_relu")
    base = make_cfg(sizes, eta=0.01, **case).to_dict()
    base["noise"] = {"sigma": 0.2}
    base["plasticity"]["lag"] = 0.5
    base["task"] = {"kind": "self_predicting", "n_patterns": 4, "duration": 3.0, "input_high": 5.0}
    variables = ["u_P", "v_B", "v_A", "u_I", "v_I", "r", "r_I"]
    if le:
        base["network"]["latent_equilibrium"] = True
        base["task"] = {"kind": "single_pattern", "n_repeats": 4, "duration": 3.0, "target_from": 1,
                        "input": [float(i % 3) for i in range(sizes[0])],
                        "target": [0.5 + 0.1 * i for i in range(sizes[-1])]}
        variables.append("u_breve")
    base["record"] = {"every": 3, "mode": record_mode, "block": 7, "variables": variables}
    cfg = config.from_dict(base)
    net = random_state(cfg, np.random.default_rng(len(sizes)), scale=0.5)
    out = []
    for fused in (True, False):
        sim = Simulation(cfg, net=net.copy(), fused=fused)
        sink = MemorySink()
        sim.run(sink)
        out.append((sim.net.y.copy(), np.concatenate(sink.rows), np.concatenate(sink.t),
                    sink.metric("apical_norm")))
    (y1, r1, t1, a1), (y2, r2, t2, a2) = out
    np.testing.assert_allclose(y1, y2, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_allclose(r1, r2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a1, a2, rtol=1e-12, atol=1e-12)
    assert not np.allclose(y1, net.y)        # something happened


def test_fused_float32_stays_float32_and_close():
    """The fused kernel in float32 (self-predicting task, no target, every group incl. top-down
    plastic, traces on) keeps state and recordings float32 and changes every state block --
    potentials, input filter, each weight matrix, each trace -- by the float64 run's change to
    float32 rounding (test_dynamics.assert_float32_changes_match). Weights move by 1e-3..1."""
    d = make_cfg((6, 5, 4), eta=0.3, tau_w=5.0, transfer="logistic").to_dict()
    d["task"] = {"kind": "self_predicting", "n_patterns": 3, "duration": 5.0}
    d["record"] = {"variables": ["u_P"], "every": 5}
    res = {}
    for dt in ("float32", "float64"):
        d["simulation"]["dtype"] = dt
        sim = Simulation(config.from_dict(d))
        before = state_blocks(sim.net)
        sink = MemorySink()
        sim.run(sink)
        assert sim.net.y.dtype == np.dtype(dt) and sink.rows[0].dtype == np.dtype(dt)
        res[dt] = (before, state_blocks(sim.net))
    assert_float32_changes_match(*res["float32"], *res["float64"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_threaded_sweeps_are_bit_identical_to_serial(dtype):
    """Large matrices (>= 100k weights) and layers (>= 256 cells) are split over threads by rows;
    rows are independent, so the result is bit-identical to one thread. One thread also takes
    the batched transfer function (one loop over all neurons) and several threads the
    layer-by-layer one, so this checks that those agree bit for bit too."""
    from dendrosim.engine.params import I_THREADS
    d = make_cfg((400, 300, 260, 5), eta=1e-3, tau_w=30.0, bias=True).to_dict()
    d["simulation"]["dtype"] = dtype
    d["noise"] = {"sigma": 0.1}
    d["task"] = {"kind": "self_predicting", "n_patterns": 2, "duration": 2.0}
    d["record"] = {"variables": ["u_P", "v_A", "r"], "every": 4}
    cfg = config.from_dict(d)
    out = []
    for nth in (0, 2):
        sim = Simulation(cfg)
        sim.ip[I_THREADS] = nth
        sink = MemorySink()
        sim.run(sink)
        out.append((sim.net.y.copy(), np.concatenate(sink.rows)))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


@pytest.mark.parametrize("sizes", [(4, 3), (5, 4, 3), (3, 6, 5, 4, 2)])
def test_z_blocks_follow_y_order(sizes):
    """The fused kernel reads v_B / v_I and the rates of all neurons as two blocks of z in the
    neuron order of y (one loop each); every z slot belongs to exactly one variable."""
    from dendrosim.network import Layout
    lay = Layout.build(sizes, ["soft_relu"] * (len(sizes) - 1)).lay
    N, n = len(sizes) - 1, lay[0].u
    vb0, r0 = lay[1].v_B - lay[1].u, lay[1].r - lay[1].u
    assert r0 == vb0 + n
    slots = [range(lay[0].r, lay[0].r + sizes[0]), range(lay[0].z_input, lay[0].z_input + sizes[0]),
             range(lay[0].z_target, lay[0].z_target + sizes[N])]
    for k in range(1, N + 1):
        assert (lay[k].v_B, lay[k].r) == (vb0 + lay[k].u, r0 + lay[k].u)
        slots += [range(lay[k].v_B, lay[k].v_B + sizes[k]), range(lay[k].r, lay[k].r + sizes[k])]
        if k < N:
            assert (lay[k].v_I, lay[k].r_I) == (vb0 + lay[k].u_I, r0 + lay[k].u_I)
            slots += [range(lay[k].v_A, lay[k].v_A + sizes[k]),
                      range(lay[k].v_I, lay[k].v_I + sizes[k + 1]),
                      range(lay[k].r_I, lay[k].r_I + sizes[k + 1])]
    used = sorted(i for s in slots for i in s)
    assert used == list(range(Layout.build(sizes, ["soft_relu"] * N).n_z))


def test_threaded_kernel_only_for_matrices_worth_splitting():
    """Small nets get the serial kernel even when threads are available (a parallel call in the
    step loop costs time even untaken); nets with a matrix of >= THREADED_MIN_WEIGHTS get them."""
    from dendrosim.engine.fused import THREADED_MIN_WEIGHTS, threads_arg
    from dendrosim.engine.params import I_THREADS
    small = Simulation(make_cfg((30, 20, 10)))
    small.ip[I_THREADS] = 2
    assert small._threads() == ()
    big = Simulation(make_cfg((400, 300, 5)))
    assert 400 * 300 >= THREADED_MIN_WEIGHTS
    big.ip[I_THREADS] = 2
    assert big._threads() == (2,)
    big.ip[I_THREADS] = 1
    assert threads_arg(big.layout, big.ip) == ()
    assert Simulation(make_cfg((400, 300, 5)), fused=False)._threads() == ()


@pytest.mark.parametrize("fused", [True, False])
def test_lag_freezes_every_weight_for_the_first_lag_ms_of_each_pattern(fused):
    """[plasticity] lag = 1 ms, patterns of 3 ms, weight snapshots every 0.5 ms: no weight
    moves in [0, 1), [3, 4), [6, 7) ms, and every other interval changes some weight."""
    d = make_cfg((4, 3, 2), eta=0.05, tau_w=5.0).to_dict()
    d["plasticity"]["lag"] = 1.0
    d["task"] = {"kind": "self_predicting", "n_patterns": 3, "duration": 3.0, "input_high": 5.0}
    d["record"] = {"variables": [], "weights_every": 5}
    sim = Simulation(config.from_dict(d), fused=fused)
    sink = MemorySink()
    sim.run(sink)
    t = np.asarray(sink.weights_t)
    W = np.array([np.concatenate([v.ravel() for v in w.values()]) for w in sink.weights_list])
    change = np.abs(np.diff(W, axis=0)).max(axis=1)
    in_lag = (t[:-1] % 3.0) < 1.0 - 1e-9
    assert len(change) == 18 and in_lag.sum() == 6
    assert np.all(change[in_lag] == 0.0)
    assert np.all(change[~in_lag] > 1e-8)
