#!/usr/bin/env python
"""The discrete limit of the microcircuit (sacramento2018.md sec. 5.2), as a table.

30-20-10, paper conductances with g_A and g_som scaled by s, analytic
self-predicting state, sigma = 0, one input held with the target on. For each s
the angle (degrees) between the forward-weight update of the microcircuit and
the discrete update of the attenuated feedforward net:

- steady: eq. 7 at the exact fixed point (dendrosim.steady);
- engine: the change of up{k} accumulated by the continuous engine (Euler,
  dt = 0.1 ms) over a 300 ms presentation, plasticity on after 100 ms, tau_w = 0,
  one run per layer with only up{k} plastic, eta_k chosen so each step adds ~1e-12
  to the largest entry (weights move by ~1e-9).

Columns: BP reference with D_N (top-down = W^T), BP without D_N (the "error on
voltages" reference: does not vanish), soft-ReLU (gamma 0.1, theta 3), and FA
(fixed random top-down B, reference FA with the same B).

    python scripts/limit_angle.py [--seeds 3] [--markdown]
"""
import argparse

import numpy as np

from dendrosim import limit


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=1, help="average the angles over this many networks/patterns")
    ap.add_argument("--scales", default="1,0.3,0.1,0.01")
    a = ap.parse_args()
    scales = [float(v) for v in a.scales.split(",")]
    cols = [("BP, dW_10 logistic", "bp", 1), ("BP no D_N, dW_10", "bp_no_dN", 1),
            ("BP, dW_10 soft-ReLU", "soft_relu", 1), ("BP, dW_21 logistic", "bp", 2),
            ("FA, dW_10 logistic", "fa", 1), ("FA, dW_21 logistic", "fa", 2)]
    acc = {}
    for seed in range(a.seeds):
        for row in limit.table(scales, engine=True, seed=seed):
            for name, key, k in cols:
                m = row[key]
                acc.setdefault((row["s"], name, "steady"), []).append(m["steady"][k])
                if "engine" in m:
                    acc.setdefault((row["s"], name, "engine"), []).append(m["engine"][k])
            acc.setdefault((row["s"], "lambda", ""), []).append(row["lambda"])
            acc.setdefault((row["s"], "ratio", ""), []).append(row["bp"]["ratio"])
    head = ["s", "lambda_A"] + [f"{n} (steady / engine)" for n, _, _ in cols] + ["|dW_10|/|dW_21|"]
    print(f"Angle (degrees) between the microcircuit's update and the discrete rule; mean over "
          f"{a.seeds} seed(s)\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for s in scales:
        cells = [f"{s:g}", f"{np.mean(acc[(s, 'lambda', '')]):.4f}"]
        for name, _, _ in cols:
            st = np.mean(acc[(s, name, "steady")])
            en = acc.get((s, name, "engine"))
            cells.append(f"{st:.3g}° / {np.mean(en):.3g}°" if en else f"{st:.3g}° / -")
        cells.append(f"{np.mean(acc[(s, 'ratio', '')]):.3g}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
