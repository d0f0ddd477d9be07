#!/usr/bin/env python
"""Yin-Yang with latent equilibrium: models/haider2021/yinyang_le.toml over seeds, against the
published anchors; optionally a short cost measurement of the original dynamics
(yinyang_original.toml, 100 ms per sample).

    python scripts/reproduce_le_yinyang.py --out DIR [--seeds 10] [--jobs 1] [--epochs N]
                                           [--probe-original SAMPLES] [--quick] [--report docs/reproduction]

One run per seed (the model's init.seed upward) into DIR/yinyang_LE_e{epochs}_n{n_train}_s{seed}.h5
(finished files are skipped, so the command resumes). ``--probe-original SAMPLES``: one seed of the
original dynamics on the first SAMPLES training samples, one pass, to measure its cost (a full run is
not made here). Then writes le_yinyang.md (final test accuracy, mean ± SEM, next to the anchors)
and le_yinyang.png (test accuracy over training) into --report.
``--quick``: one seed, 300 training samples, 2 epochs, 200 test samples (a smoke test).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from le_runs import MODELS, accuracy_curve, final_accuracy, fmt_mean_sem, mean_sem, rel, run_all, run_wall

LE, ORIGINAL = MODELS / "yinyang_le.toml", MODELS / "yinyang_original.toml"
ANCHORS = [
    ("ANN 4-120-3 (the data set's README, 20 runs)", "98.7 ± 0.3"),
    ("shallow network (the data set's README, 20 runs)", "64.3 ± 0.2"),
    ("microcircuit, original dynamics, 100 ms per sample, 20 ms learning lag, self-predicting start "
     "(published, 10 seeds)", "96.7 ± 0.8"),
    ("the same from random weights, PI plastic (published, 10 seeds)", "97.2 ± 1.1"),
]
QUICK = ["task.n_train=300", "task.epochs=2", "task.eval_every=300", "task.n_test=200"]


def le_runs(n_seeds, overrides, out: Path):
    from dendrosim import config
    cfg = config.load(LE, overrides)
    e, n = cfg.task["epochs"], cfg.task.get("n_train", 5000)
    return {seed: (LE, out / f"yinyang_LE_e{e}_n{n}_s{seed}.h5", list(overrides) + [f"init.seed={seed}"])
            for seed in range(cfg.init.seed, cfg.init.seed + n_seeds)}, cfg


def probe_run(samples, out: Path):
    ov = [f"task.n_train={samples}", "task.epochs=1", f"task.eval_every={samples}"]
    return ORIGINAL, out / f"yinyang_original_probe_n{samples}.h5", ov


def report(runs, cfg, probe, command, report_dir: Path):
    from dendrosim import config
    acc = {s: final_accuracy(r[1]) for s, r in runs.items()}
    wall = {s: run_wall(r[1]) for s, r in runs.items()}
    t = cfg.task
    n_train, epochs, T = t.get("n_train", 5000), t["epochs"], t["duration"]
    seeds = sorted(runs)
    m, s = mean_sem(list(acc.values()))
    lines = [
        "# Latent Equilibrium on Yin-Yang",
        "",
        "A 4-120-3 microcircuit with prospective rates (`models/haider2021/yinyang_le.toml`: latent",
        f"equilibrium, {T:g} ms per sample against the neurons' effective time constant of 5.3 ms, no",
        "learning lag) on the Yin-Yang data set, next to the data set's references and the published",
        "full-dynamics microcircuit (`models/haider2021/yinyang_original.toml`). The model file says",
        "where each setting comes from; the LE paper itself has no Yin-Yang experiment.",
        "",
        "| network | test accuracy (%) |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {v} |" for name, v in ANCHORS]
    lines.append(f"| dendrosim, latent equilibrium, {T:g} ms per sample, {epochs} epochs of {n_train} "
                 f"(this run, {len(seeds)} seed(s)) | {fmt_mean_sem(list(acc.values()))} |")
    lines += [
        "",
        f"Accuracy: the task's `test_accuracy` after the last sample ({t.get('n_test', 1000)} test samples, argmax",
        "of the output potentials at the noise-free steady state without target). Per seed: "
        + ", ".join(f"{acc[k]:.1f}" for k in seeds) + ".",
        f"Seeds {seeds[0]}-{seeds[-1]}; mean {m:.2f} %" + ("" if s != s else f", SEM {s:.2f} %") + ". "
        "Online learning at constant rates makes the accuracy move from one evaluation to the next: the mean "
        f"over the last 5 evaluations is {fmt_mean_sem([np.mean(accuracy_curve(runs[k][1])[1][-5:]) for k in seeds])} %, "
        f"the best evaluation {fmt_mean_sem([np.max(accuracy_curve(runs[k][1])[1]) for k in seeds])} %.",
        "",
        f"Command: `{command}`",
        "",
        f"Wall time per seed: median {np.median(list(wall.values())):.0f} s, range {min(wall.values()):.0f}-"
        f"{max(wall.values()):.0f} s "
        f"({epochs * n_train * T / cfg.simulation.dt / 1e6:.1f} M steps of dt = {cfg.simulation.dt:g} ms, "
        "one numba thread, niced on a shared machine: the slow ones waited for a core).",
    ]
    if probe is not None:
        pc = config.load(probe[0], probe[2])
        n = pc.task["n_train"]
        w = run_wall(probe[1])
        full = config.load(probe[0])
        n_full = full.task["n_train"] * full.task["epochs"]
        lines += [
            "",
            "## Cost of the original dynamics",
            "",
            f"`yinyang_original.toml` (100 ms per sample) was run for one seed on {n} samples only: "
            f"{w:.0f} s, {w / n * 1000:.0f} ms per sample "
            f"(test accuracy after them {final_accuracy(probe[1]):.1f} %). The published protocol "
            f"({full.task['epochs']} epochs of {full.task['n_train']} samples) would take "
            f"{w / n * n_full / 3600:.1f} h per seed, {10 * w / n * n_full / 3600:.0f} h for 10 seeds on one core; "
            "it was not run here.",
        ]
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "le_yinyang.md").write_text("\n".join(lines) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    curves = [accuracy_curve(runs[k][1]) for k in seeds]
    for x, a in curves:
        ax.plot(x / n_train, a, color="tab:orange", lw=0.6, alpha=0.5)
    x0 = curves[0][0]
    if all(len(c[0]) == len(x0) for c in curves):
        ax.plot(x0 / n_train, np.mean([c[1] for c in curves], axis=0), color="tab:orange", lw=2,
                label=f"LE, {T:g} ms per sample, mean of {len(seeds)}")
    for y, lab, c in ((98.7, "ANN", "0.3"), (96.7, "original dynamics, 100 ms (published)", "tab:blue"),
                      (64.3, "shallow", "0.6")):
        ax.axhline(y, color=c, ls="--", lw=1, label=lab)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(30, 100), title="Yin-Yang, 4-120-3")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(report_dir / "le_yinyang.png", dpi=90)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the runs' HDF5 files (outside the repository)")
    p.add_argument("--seeds", type=int, default=10, help="seeds, from the model's init.seed upward")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (one process each)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the model's)")
    p.add_argument("--probe-original", type=int, default=0, metavar="SAMPLES",
                   help="also run the original dynamics on this many samples, once, to measure its cost")
    p.add_argument("--quick", action="store_true", help="smoke test: 1 seed, 300 samples, 2 epochs")
    p.add_argument("--report", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "reproduction",
                   help="folder for le_yinyang.md and le_yinyang.png")
    a = p.parse_args(argv)
    if a.seeds < 1 or (a.epochs is not None and a.epochs < 1) or a.probe_original < 0:
        p.error("--seeds and --epochs must be positive, --probe-original >= 0")
    ov = list(QUICK) if a.quick else []
    if a.quick:
        a.seeds = 1
    if a.epochs:
        ov = [o for o in ov if not o.startswith("task.epochs=")] + [f"task.epochs={a.epochs}"]
    a.out.mkdir(parents=True, exist_ok=True)
    runs, cfg = le_runs(a.seeds, ov, a.out)
    probe = probe_run(a.probe_original, a.out) if a.probe_original else None
    todo = ([probe] if probe else []) + list(runs.values())
    run_all(todo, a.jobs)
    cmd = "python scripts/reproduce_le_yinyang.py --out RUNS" + (" --quick" if a.quick else f" --seeds {a.seeds} --jobs {a.jobs}")
    if a.epochs:
        cmd += f" --epochs {a.epochs}"
    if a.probe_original:
        cmd += f" --probe-original {a.probe_original}"
    report(runs, cfg, probe, cmd, a.report)
    print(f"wrote {rel(a.report / 'le_yinyang.md')} and le_yinyang.png")


if __name__ == "__main__":
    main()
