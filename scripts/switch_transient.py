"""Where in each image does the continuous rule's hidden-weight change come from?

    python scripts/switch_transient.py RUN.h5 [--images 300] [--early 20]

Takes the final weights of a continuous-engine MNIST run (mnist_continuous.toml, for example the
continuous_lag row of scripts/reproduce_mnist.py), freezes them, presents ``--images`` training
images for the model's duration each with plasticity off and ``lag = 0``, and integrates the
integrand of eq. 7, e_k(t) r_{k-1}(t)^T with e_k = r_k - phi(vhat_B,k), over the first ``--early`` ms
of each image and over the rest. Prints, per layer, the ratio of the two norms and their cosine,
and the norm of the hidden error over time after a switch (mnist_continuous.toml, "Why").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import dendrosim
from dendrosim import config
from dendrosim.steady import Circuit
from dendrosim.simulation import MemorySink, Simulation

MODEL = Path(__file__).resolve().parents[1] / "models" / "sacramento2018" / "mnist_continuous.toml"


def _cos(a, b):
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="HDF5 file of a finished continuous MNIST run (its final weights are used)")
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--early", type=float, default=20.0, help="ms after each switch counted as early")
    a = p.parse_args(argv)
    src = dendrosim.load(a.run)
    cfg = config.load(MODEL, [f"task.subset={a.images}", "task.eval_every=1000000", "task.n_test=100",
                              "plasticity.eta_up=[0.0, 0.0]", "plasticity.eta_IP=[0.0]", "plasticity.lag=0.0",
                              "record.variables=['v_B', 'r', 'input']", "record.every=5"])
    if tuple(src.sizes) != tuple(cfg.network.sizes):
        raise SystemExit(f"{a.run}: sizes {src.sizes}, the model has {cfg.network.sizes}")
    sim = Simulation(cfg)
    for name in src.file["weights"]:
        if name != "t":
            sim.net.w(name)[...] = src.weight(name)[1][-1]
    src.close()
    sink = MemorySink()
    sim.run(sink)
    circ = Circuit(cfg)                       # eq. 7's attenuation and phi of each layer
    every_ms = cfg.record.every * cfg.simulation.dt
    per = int(round(cfg.task["duration"] / every_ms))
    n_early = int(round(a.early / every_ms))

    def per_image(x):          # (images, samples per image, neurons), the first image dropped
        return x[:len(x) // per * per].reshape(-1, per, x.shape[1])[1:]

    pre = per_image(sink.trace("layer0/input")[1])
    for k in range(1, circ.N + 1):
        vB, r = sink.trace(f"layer{k}/v_B")[1], sink.trace(f"layer{k}/r")[1]
        e = per_image(r - circ.phi(k, circ.att(k) * vB))
        n_e, n_l, cos = [], [], []
        for i in range(len(e)):
            early = e[i, :n_early].T @ pre[i, :n_early]
            late = e[i, n_early:].T @ pre[i, n_early:]
            n_e.append(np.linalg.norm(early))
            n_l.append(np.linalg.norm(late))
            cos.append(_cos(early, late))
        print(f"layer {k}: per image, mean |dW first {a.early:g} ms| / mean |dW rest| = {np.mean(n_e) / np.mean(n_l):.2f}, "
              f"mean cosine {np.mean(cos):.2f}")
        norm = np.sqrt((e ** 2).sum(-1)).mean(0)
        at = [0.5, 1.0, 2.0, 4.0, 10.0, 20.0, 50.0, per * every_ms - every_ms]
        print(f"  |e_{k}| after the switch: " + ", ".join(f"{t:g} ms {norm[int(round(t / every_ms))]:.4f}" for t in at))
        pre = per_image(r)


if __name__ == "__main__":
    main()
