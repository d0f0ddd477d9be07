"""The mechanism of Phaseless Alignment Learning (Max et al. 2024): with frozen random forward
weights, the top-down weights W_down,k learned from the apical noise align with W_up,k+1^T.

Setting (the PAL template's values where it has them): Latent Equilibrium, logistic neurons,
dt 0.01 ms, pal_tau_xi = pal_tau_hp = 0.1 ms, pal_sigma 0.05, pal_alpha 1e-5, eta_down 50,
no somatic noise, self-predicting initialisation, every other weight fixed, random input
patterns of 1 ms (task self_predicting), U(-1, 1) initial weights.

Measured (angle between vec(W_down,k) and vec(W_up,k+1^T), degrees):
5-10-5, seeds 0/1/2, 2000 patterns (200,000 steps): 92.2/93.6/73.1 -> 18.3/17.9/14.2
(5000 patterns: 11.1/15.3/10.4); 5-20-10-20-5, seed 0, 5000 patterns: 89.2/92.5/91.8 ->
20.2/19.3/23.2 for k = 1/2/3. With eta_down = 0 the top-down weights do not move.
"""

import h5py
import numpy as np
import pytest

from dendrosim import config
from dendrosim.simulation import MemorySink, Simulation


def angle(a, b):
    """Degrees between vec(a) and vec(b)."""
    a, b = np.ravel(a), np.ravel(b)
    return float(np.degrees(np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1.0, 1.0))))


def pal_alignment_cfg(sizes, n_patterns, seed=0, eta_down=50.0):
    return config.from_dict({
        "network": {"sizes": list(sizes), "transfer": "logistic", "latent_equilibrium": True, "tau_in": 0.0},
        "plasticity": {"eta_up": 0.0, "eta_IP": 0.0, "eta_PI": 0.0, "eta_down": eta_down, "tau_w": 0.0,
                       "down_rule": "pal", "pal_sigma": 0.05, "pal_alpha": 1e-5,
                       "pal_tau_xi": 0.1, "pal_tau_hp": 0.1},
        "simulation": {"dt": 0.01}, "noise": {"sigma": 0.0},
        "init": {"seed": seed, "self_predicting": True},
        "task": {"kind": "self_predicting", "n_patterns": n_patterns, "duration": 1.0},
        "record": {"variables": [], "weights_every": 50_000}})


def _angles(net, N):
    return [angle(net.w(f"down{k}"), net.w(f"up{k + 1}").T) for k in range(1, N)]


def _run(sizes, n_patterns, seed=0, eta_down=50.0):
    sim = Simulation(pal_alignment_cfg(sizes, n_patterns, seed, eta_down))
    N = len(sizes) - 1
    before = _angles(sim.net, N)
    up = {k: sim.net.w(f"up{k}").copy() for k in range(1, N + 1)}
    sink = MemorySink()
    sim.run(sink)
    for k in range(1, N + 1):                        # forward weights frozen
        np.testing.assert_array_equal(sim.net.w(f"up{k}"), up[k])
    trace = [[angle(w[f"down{k}"], w[f"up{k + 1}"].T) for k in range(1, N)] for w in sink.weights_list]
    return before, _angles(sim.net, N), trace, sim


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pal_aligns_the_top_down_weights_with_the_forward_ones(seed):
    before, after, trace, _ = _run((5, 10, 5), 2000, seed)
    assert before[0] > 70.0, before
    assert after[0] < 25.0, (before, after)
    # the angle falls along the run: each 500 ms snapshot below the start, the end below the first
    assert all(a[0] < before[0] for a in trace[1:]), trace
    assert after[0] < trace[1][0], trace


def test_pal_aligns_every_hidden_layer_of_a_deeper_network():
    before, after, _, _ = _run((5, 20, 10, 20, 5), 5000)
    assert min(before) > 80.0, before
    assert max(after) < 30.0, (before, after)


def test_without_a_learning_rate_the_top_down_weights_stay():
    sim = Simulation(pal_alignment_cfg((5, 10, 5), 200, eta_down=0.0))
    down = sim.net.w("down1").copy()
    sim.run(MemorySink())
    np.testing.assert_array_equal(sim.net.w("down1"), down)
    assert np.abs(sim.net.y[sim.net.layout.lay[1].xi:][:10]).max() > 0     # the noise ran


# -- the per-pattern metric /metrics/top_down_angle ------------------------------------------

def test_the_angle_metric_follows_the_weights_for_every_top_down_rule(tmp_path):
    """/metrics/top_down_angle is the angle of this module's :func:`angle` (NumPy) of the weights
    at each pattern's end: for PAL (generic kernel), eq. 10 (fused) and eq. 10 in an ensemble
    (lanes and fused members), and it is written to the file in degrees."""
    from dendrosim.ensemble import Ensemble
    from dendrosim.io import HDF5Sink, load
    cfg = pal_alignment_cfg((5, 10, 5), 300)
    d = cfg.to_dict()
    d["record"]["weights_every"] = 100          # a snapshot at every pattern's end
    eq10 = config.from_dict({**d, "plasticity": {**d["plasticity"], "down_rule": "eq10", "eta_down": 0.5,
                                                  "eta_up": 0.05},
                             "network": {**d["network"], "latent_equilibrium": False}})
    for c, kernel in ((config.from_dict(d), "generic"), (eq10, "fused")):
        sim = Simulation(c)
        assert sim.kernel == kernel
        sink = HDF5Sink(tmp_path / f"{kernel}.h5")
        sim.run(sink)
        sink.close()
        with load(tmp_path / f"{kernel}.h5") as run:
            t, a = run.metric("top_down_angle")
            tw, down = run.weight("down1")
            _, up = run.weight("up2")
        with h5py.File(tmp_path / f"{kernel}.h5", "r") as f:
            assert f["metrics/top_down_angle"].attrs["units"] == "degree"
        assert a.shape == (300, 1)
        np.testing.assert_allclose(tw[1:], t)     # a snapshot at each pattern's end
        expected = [angle(down[i], up[i].T) for i in range(1, len(tw))]
        np.testing.assert_allclose(a[:, 0], expected, rtol=1e-12, atol=1e-9)
        assert np.ptp(a) > 1.0                  # the weights moved, and the metric with them
    members = range(9)
    ens = Ensemble(eq10, members)
    sinks = [MemorySink() for _ in members]
    ens.run(sinks)
    for m, s in zip(ens.members, sinks):
        assert s.metric("top_down_angle")[-1, 0] == pytest.approx(
            angle(m.net.w("down1"), m.net.w("up2").T), rel=1e-12)


def test_the_angle_of_a_zero_matrix_is_nan():
    cfg = pal_alignment_cfg((5, 10, 5), 1)
    sim = Simulation(cfg)
    sim.net.w("down1")[:] = 0.0
    m = sim.metrics(sim.task.segment(0))
    assert np.isnan(m["top_down_angle"][0])
    sim.net.w("down1")[:] = sim.net.w("up2").T * 2.0
    assert sim.metrics(sim.task.segment(0))["top_down_angle"][0] == pytest.approx(0.0, abs=1e-5)
