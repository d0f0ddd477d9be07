"""The bench's reference implementations integrate the engine's equations (else its ratios
would compare different work)."""

import numpy as np

from dendrosim import config
from dendrosim.bench import bench_config
from dendrosim.bench_floor import run_floor
from dendrosim.simulation import MemorySink, Simulation


def test_hand_loop_follows_the_engine():
    """Noise off, strong plasticity: the hand-written loop and the engine give the same
    potentials and weights after 300 steps of one pattern, with and without the tau_w trace."""
    for tau_w in (30.0, 0.0):
        d = bench_config((7, 5, 3), "float64", tau_w, 300, pattern_steps=300).to_dict()
        d["noise"]["sigma"] = 0.0
        d["plasticity"].update(eta_up=[20.0, 20.0], eta_IP=[20.0], eta_PI=[20.0])
        d["task"]["input_high"] = 5.0
        sim = Simulation(config.from_dict(d))
        W = {n: sim.net.w(n).copy() for n in ("up1", "up2", "down1", "IP1", "PI1")}
        x = sim._xt(sim.task.segment(0))[0].astype(np.float64)
        sim.run(MemorySink())
        D = {n: np.zeros_like(W[n]) for n in W}
        u = run_floor(300, W["up1"], D["up1"], W["up2"], D["up2"], W["down1"], W["IP1"], D["IP1"],
                      W["PI1"], D["PI1"], x, np.array([1, 2, 3, 4], dtype=np.uint64), 0.1, 20.0, tau_w, 0.0)
        np.testing.assert_allclose(u, sim.net.y[:11], rtol=1e-9, atol=1e-12)
        for n in ("up1", "up2", "IP1", "PI1"):
            assert np.abs(W[n] - Simulation(config.from_dict(d)).net.w(n)).max() > 1e-7   # learned: >1000x the tolerance below
            np.testing.assert_allclose(W[n], sim.net.w(n), rtol=1e-9, atol=1e-12)
