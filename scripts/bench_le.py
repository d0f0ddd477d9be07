"""Latent Equilibrium's cost: steps per second of the fused kernel with LE against the generic
path with LE (the specification it is tested against) and against the fused kernel without LE,
measured in turn in one process (rounds alternate, the best round counts).

    python scripts/bench_le.py [--rounds 5] [--steps 20000]

One thread (NUMBA_NUM_THREADS=1 is set before numba loads). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

NETWORKS = {"30-20-10": [30, 20, 10], "784-100-10": [784, 100, 10], "784-500-10": [784, 500, 10]}
VARIANTS = {"original, fused": (False, True), "LE, fused": (True, True), "LE, generic": (True, False)}


def make(sizes, le, fused, steps):
    from dendrosim import config
    from dendrosim.simulation import Simulation
    cfg = config.from_dict({
        "network": {"sizes": sizes, "transfer": "logistic", "tau_in": 0.0, "latent_equilibrium": le},
        "plasticity": {"eta_up": [0.01, 0.001], "eta_IP": 0.001, "tau_w": 0.0},
        "task": {"kind": "self_predicting", "n_patterns": max(1, steps // 10), "duration": 1.0},
        "record": {"variables": []}})
    return Simulation(cfg, fused=fused)


def steps_per_second(sizes, le, fused, steps):
    from dendrosim.simulation import MemorySink
    sim = make(sizes, le, fused, steps)
    t0 = time.perf_counter()
    sim.run(MemorySink())
    return sim.total_steps / (time.perf_counter() - t0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20000)
    a = p.parse_args(argv)
    for sizes in NETWORKS.values():                 # compile every variant first
        for le, fused in VARIANTS.values():
            steps_per_second(sizes, le, fused, 100)
    best = {}
    for _ in range(a.rounds):
        for name, sizes in NETWORKS.items():
            for label, (le, fused) in VARIANTS.items():
                sps = steps_per_second(sizes, le, fused, a.steps)
                best[name, label] = max(best.get((name, label), 0.0), sps)
    print("| network | " + " | ".join(VARIANTS) + " | LE fused / LE generic |")
    print("|---|" + "---|" * (len(VARIANTS) + 1))
    for name in NETWORKS:
        row = [best[name, label] for label in VARIANTS]
        print(f"| {name} | " + " | ".join(f"{v:,.0f} steps/s" for v in row)
              + f" | {best[name, 'LE, fused'] / best[name, 'LE, generic']:.2f}x |")


if __name__ == "__main__":
    main()
