#!/usr/bin/env python
"""Reproduce Haider et al. (NeurIPS 2021, Latent Equilibrium), Fig. 3: the bars task learned with
and without prospective rates, as a function of the presentation time per pattern.

    python scripts/reproduce_le_bars.py --out DIR [--times 0.3 1 3 10 30 100 500] [--seeds 10]
                                        [--jobs 1] [--quick] [--report docs/reproduction]

For every presentation time T (ms), mode (models/haider2021/bars_le.toml, bars_original.toml) and
seed (the model's init.seed upward) one run of 1000 epochs over the 8 patterns, with every
learning rate scaled by 1 ms / T (the model files hold the rates for 1 ms, as the authors' files
do: the same weight change per pattern at every T). Each run writes DIR/bars_{mode}_T{T}ms_e{epochs}_s{seed}.h5;
finished files are skipped, so the command resumes (runs go seed by seed: an interrupted sweep is
reported with --seeds set to the seeds it finished). Then it writes le_bars.md (test accuracy
after training, mean ± SEM over seeds) and le_bars.png into --report.
``--quick``: T = 1 and 10 ms, one seed, 20 epochs (a smoke test).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from le_runs import MODELS, accuracy_curve, final_accuracy, fmt_mean_sem, is_complete, mean_sem, rel, run_all, run_wall

MODES = {"LE": "bars_le.toml", "original": "bars_original.toml"}
TIMES = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 500.0]
RATES_AT = 1.0          # ms: the presentation time the model files' learning rates are for


def plan(times, n_seeds, epochs, out: Path):
    """{(mode, T, seed): (model, file, overrides)} of every run."""
    from dendrosim import config
    runs = {}
    for mode, fname in MODES.items():
        model = MODELS / fname
        cfg = config.load(model)
        pl = cfg.plasticity
        for T in times:
            f = RATES_AT / T
            ov = [f"task.duration={T}", f"task.epochs={epochs}",
                  f"plasticity.eta_up={[x * f for x in pl.eta_up]}",
                  f"plasticity.eta_IP={[x * f for x in pl.eta_IP]}"]
            for seed in range(cfg.init.seed, cfg.init.seed + n_seeds):
                path = out / f"bars_{mode}_T{T:g}ms_e{epochs}_s{seed}.h5"
                runs[mode, T, seed] = (model, path, ov + [f"init.seed={seed}"])
    return runs


def report(runs, times, epochs, n_seeds, command, report_dir: Path):
    runs = {k: v for k, v in runs.items() if is_complete(v[1])}       # an interrupted sweep: what finished
    acc = {k: final_accuracy(v[1]) for k, v in runs.items()}
    ever = {k: bool(np.any(accuracy_curve(v[1])[1] == 100.0)) for k, v in runs.items()}
    wall = {k: run_wall(v[1]) for k, v in runs.items()}
    seeds = sorted({k[2] for k in runs})
    have = {(mode, T): [s for s in seeds if (mode, T, s) in runs] for mode in MODES for T in times}
    complete = all(len(v) == n_seeds for v in have.values())
    lines = [
        "# Latent Equilibrium: the bars task vs presentation time",
        "",
        "Haider et al. (NeurIPS 2021), Fig. 3: a 9-30-3 microcircuit learns the 8 bars patterns",
        "(horizontal / vertical / diagonal) from the self-predicting state, with prospective rates",
        "(LE, `models/haider2021/bars_le.toml`) and with the original dynamics",
        "(`models/haider2021/bars_original.toml`). The neurons' effective time constant is",
        "1/(g_l + g_B + g_A) = 5.3 ms. Every learning rate is scaled by 1 ms / T, as in the authors'",
        "configuration files (the same weight change per pattern at every presentation time T).",
        "The paper's claim: the original circuit needs long presentations to learn; the LE circuit",
        "learns at presentation times far below its neurons' time constant.",
        "",
        f"Test accuracy (%) on the 8 patterns after {epochs} epochs, mean ± SEM over "
        + (f"{n_seeds} seed(s) ({seeds[0]}-{seeds[-1]})" if complete else
           f"the seeds finished of {n_seeds} planned (the count columns give n per cell)") + ";",
        "the accuracy is the task's `test_accuracy` at the end of the run:",
        "argmax of the output potentials at the noise-free steady state without target (the",
        "authors average the output over the presentation instead, which also charges the original",
        "circuit for slow inference; see the model files' deviations). Chance is 37.5 % (3 of 8 patterns",
        "in the largest class).",
        "",
        "| T (ms) | LE | LE runs at 100 %: at the end / at any epoch | original | original runs at 100 %: at the end / at any epoch |",
        "|---:|---:|---:|---:|---:|",
    ]
    for T in times:
        row = [f"{T:g}"]
        for mode in MODES:
            a = [acc[mode, T, s] for s in have[mode, T]]
            if not a:
                row += ["–", "none finished"]
                continue
            row += [fmt_mean_sem(a), f"{sum(x == 100.0 for x in a)} / {sum(ever[mode, T, s] for s in have[mode, T])} of {len(a)}"]
        lines.append("| " + " | ".join(row) + " |")
    per_mode = ", ".join(f"{mode} {sum(w for k, w in wall.items() if k[0] == mode) / 60:.1f} min"
                         for mode in MODES)
    lines += ["", "What the short presentations do over training, and two deviations tested as their cause: "
              "[docs/experiments/le-bars-short-presentations.md](../experiments/le-bars-short-presentations.md).",
              "", f"Command: `{command}`", "",
              f"Wall time: {sum(wall.values()) / 60:.1f} min of run time in all ({per_mode}; one process per run, "
              "one numba thread each, on a shared machine); per run at the longest T: "
              f"{max([wall[k] for k in wall if k[1] == max(times)] or [0]):.0f} s."]
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "le_bars.md").write_text("\n".join(lines) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax = axes[0]
    for mode, color in (("LE", "tab:orange"), ("original", "tab:blue")):
        ts = [T for T in times if have[mode, T]]
        ms = [mean_sem([acc[mode, T, s] for s in have[mode, T]]) for T in ts]
        ax.errorbar(ts, [m for m, _ in ms], yerr=[0 if s != s else s for _, s in ms], marker="o",
                    capsize=3, color=color, label=mode)
    ax.axvline(1 / 0.19, color="0.6", ls=":", lw=1)
    ax.text(1 / 0.19, 5, " τ_eff", color="0.4", fontsize=8)
    ax.set(xscale="log", xlabel="presentation time T (ms)", ylabel="test accuracy (%)", ylim=(0, 105),
           title=f"bars, {epochs} epochs, " + (f"{n_seeds} seed(s)" if complete else "seeds finished"))
    ax.legend(loc="lower right")
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(times)))
    for ax, mode in zip(axes[1:], MODES):
        for T, c in zip(times, colors):
            curves = [accuracy_curve(runs[mode, T, s][1]) for s in have[mode, T]]
            if curves:
                ax.plot(curves[0][0] / 8, np.mean([a for _, a in curves], axis=0), color=c, lw=1,
                        label=f"{T:g} ms (n = {len(curves)})")
        ax.set(xlabel="epoch", ylabel="test accuracy (%), mean over seeds", ylim=(0, 105), title=mode)
    for ax in axes[1:]:
        if ax.lines:
            ax.legend(fontsize=7, loc="lower right", title="T", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(report_dir / "le_bars.png", dpi=90)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the runs' HDF5 files (outside the repository)")
    p.add_argument("--times", type=float, nargs="+", default=TIMES, help="presentation times, ms")
    p.add_argument("--seeds", type=int, default=10, help="seeds per point, from the model's init.seed upward")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (one process each)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the model's 1000)")
    p.add_argument("--quick", action="store_true", help="smoke test: T = 1 and 10 ms, 1 seed, 20 epochs")
    p.add_argument("--report-only", action="store_true", help="run nothing: report the runs already finished in --out")
    p.add_argument("--report", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "reproduction",
                   help="folder for le_bars.md and le_bars.png")
    a = p.parse_args(argv)
    if a.quick:
        a.times, a.seeds, a.epochs = [1.0, 10.0], 1, a.epochs or 20
    if a.seeds < 1 or (a.epochs is not None and a.epochs < 1) or any(T <= 0 for T in a.times):
        p.error("--seeds, --epochs and --times must be positive")
    from dendrosim import config
    epochs = a.epochs or config.load(MODELS / MODES["LE"]).task["epochs"]
    a.out.mkdir(parents=True, exist_ok=True)
    runs = plan(a.times, a.seeds, epochs, a.out)
    # seed by seed, so that an interrupted sweep leaves whole seeds (report them with --seeds)
    if not a.report_only:
        run_all([runs[k] for k in sorted(runs, key=lambda k: (k[2], -k[1], k[0]))], a.jobs)
    cmd = "python scripts/reproduce_le_bars.py --out RUNS" + (" --quick" if a.quick else
                                                              f" --times {' '.join(f'{T:g}' for T in a.times)}"
                                                              f" --seeds {a.seeds} --jobs {a.jobs}")
    if a.epochs and not a.quick:
        cmd += f" --epochs {a.epochs}"
    report(runs, a.times, epochs, a.seeds, cmd, a.report)
    print(f"wrote {rel(a.report / 'le_bars.md')} and le_bars.png")


if __name__ == "__main__":
    main()
