#!/usr/bin/env python
"""Reproduce Konishi, Igarashi & Miura (2023) on the reconstructed reward-prediction task.

Three experiments, each over many seeds in parallel processes (2 workers by default):

1. rules, batch protocol (the reference code: batches of 8 fresh samples, gradients
   summed, eta = 0.005, 1000 updates; models/konishi2023/*.toml): learning curves of
   test correct rate (8 fresh samples per update), updates to 80 % (50-update trailing
   mean), late correct rate;
2. rules, online protocol (one sample = one trial, scored before the update):
   the code's task from the start, and AB -> AB12 (500 A/B trials, then the four odours:
   trials to 80 % on the new odours 1/2);
3. robustness of FA_Ex-100 % (batch protocol): shifted / ramped / sigmoid / rate / constant
   post factor, post-factor noise fixed and redrawn, noise on the error signal.

Writes docs/reproduction/konishi2023/{README.md, curves.png, online.png, robustness.png,
summary.json}.

    python scripts/reproduce_konishi2023.py [--seeds 100] [--quick] [--workers 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for _v in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

from dendrosim.learners import konishi  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

RULES = [("BP", "bp", []), ("FA", "fa", []), ("FA_Ex-100%", "fa_ex100", []),
         ("FA_Ex-80%", "fa_ex80", []), ("FA_Ex-50%", "fa_ex50", []), ("FA_Ex-0%", "fa_ex0", []),
         ("ELM", "elm", []), ("WP", "wp", []),
         ("Dendritic (eqs. 7-10 at the exact fixed point)", "dendritic", [])]
OWN = {"BP": "599; 1.00", "FA": "222; 1.00", "FA_Ex-100%": "229; 1.00", "FA_Ex-80%": "226; 1.00",
       "FA_Ex-50%": "230; 1.00", "FA_Ex-0%": "229; 1.00", "ELM": "never; 0.50", "WP": "never; 0.50"}

ONLINE = [("BP", "bp", ["learner.eta=0.03"]), ("FA", "fa", ["learner.eta=0.01"]),
          ("FA_Ex-100%", "fa_ex100", ["learner.eta=0.01"]),
          ("FA_Ex-50%", "fa_ex50", ["learner.eta=0.01"]),
          ("ELM", "elm", ["learner.eta=0.01"]), ("WP", "wp", ["learner.eta=5e-5"])]
OWN_ONLINE = {"BP": "≈ 1,550", "FA": "≈ 1,500", "FA_Ex-100%": "≈ 1,570", "ELM": "never"}

ROBUST = [
    ("none", []),
    ("θ(I + 0.01)", ["learner.post_factor=shifted", "learner.post_shift=0.01"]),
    ("θ(I + 0.05)", ["learner.post_factor=shifted", "learner.post_shift=0.05"]),
    ("θ(I − 0.05)", ["learner.post_factor=shifted", "learner.post_shift=-0.05"]),
    ("θ(I + 0.2)", ["learner.post_factor=shifted", "learner.post_shift=0.2"]),
    ("θ(I + 0.5)", ["learner.post_factor=shifted", "learner.post_shift=0.5"]),
    ("θ(I − 0.5)", ["learner.post_factor=shifted", "learner.post_shift=-0.5"]),
    ("θ(I) + 0.1 offset", ["learner.post_factor=shifted", "learner.post_offset=0.1"]),
    ("ramp over ±0.05 (Relu*)", ["learner.post_factor=ramp", "learner.ramp_width=0.1"]),
    ("sigmoid(50 I)", ["learner.post_factor=sigmoid", "learner.sigmoid_gain=50.0"]),
    ("sigmoid(10 I)", ["learner.post_factor=sigmoid", "learner.sigmoid_gain=10.0"]),
    ("sigmoid(I)", ["learner.post_factor=sigmoid", "learner.sigmoid_gain=1.0"]),
    ("post factor = rate y1", ["learner.post_factor=rate"]),
    ("post factor = 1", ["learner.post_factor=one"]),
    ("θ + N(0, 1.5²), fixed", ["learner.post_noise=1.5", "learner.post_noise_mode=fixed"]),
    ("θ + N(0, 1.5²), redrawn", ["learner.post_noise=1.5", "learner.post_noise_mode=vary"]),
    ("θ + N(0, 0.5²), redrawn", ["learner.post_noise=0.5", "learner.post_noise_mode=vary"]),
    ("error to hidden + N(0, 0.3²)", ["learner.error_noise=0.3"]),
    ("error to hidden + N(0, 1²)", ["learner.error_noise=1.0"]),
    ("error to hidden + N(0, 3²)", ["learner.error_noise=3.0"]),
    ("error to both + N(0, 1²)", ["learner.error_noise=1.0", "learner.error_noise_to=both"]),
    ("error to both + N(0, 3²)", ["learner.error_noise=3.0", "learner.error_noise_to=both"]),
]
OWN_ROBUST = {"none": "1.00 / 230", "θ(I + 0.01)": "1.00 / 237", "θ(I + 0.05)": "1.00 / 308",
              "θ(I − 0.05)": "1.00 / 228", "θ(I + 0.2)": "0.92 / 855", "θ(I + 0.5)": "0.50 / never",
              "θ(I − 0.5)": "0.50 / never", "sigmoid(50 I)": "1.00 / 235", "sigmoid(10 I)": "1.00 / 459",
              "sigmoid(I)": "0.50 / never", "post factor = rate y1": "0.58 / never",
              "post factor = 1": "0.50 / never", "θ + N(0, 1.5²), fixed": "1.00 / 492",
              "θ + N(0, 1.5²), redrawn": "0.99 / 625", "error to hidden + N(0, 1²)": "1.00 / 363",
              "error to hidden + N(0, 3²)": "0.63 / never", "error to both + N(0, 1²)": "1.00 / 368",
              "error to both + N(0, 3²)": "0.57 / never"}


NOTES = """## Notes

- Batch protocol: the ordering FA ≈ FA_Ex-x% > BP ≫ ELM, WP of docs/research/konishi2023.md sec. 4.3 is
  reproduced. Updates to 80 % are 45-60 updates (10-25 %) above the independent [OWN] baseline for every
  rule; about half of that is the criterion (a trailing 50-update window lags a centred one by 25
  updates; the notes do not say which [OWN] used). BP is slower than FA from the ±0.01 init because
  W2 ≈ 0 starts BP's hidden deltas near zero.
- FA_Ex-100% tolerates shifts of θ up to ±0.05, soft steps (ramp, sigmoid(50 I), sigmoid(10 I)) and
  post-factor noise of s.d. 1.5 (fixed or redrawn) with the same final accuracy and at most a 2.5-fold
  slowdown; it fails when the gating is lost (sigmoid(I), factor 1, the rate) and when the error to the
  middle layer carries noise of s.d. 3 (|e| ≈ 1): "robust as long as the error signal is accurate".
- AB → AB12 (online) is a new observation of this reconstruction, not a claim of the paper: after 500
  A/B trials the network applies the A/B rule (sign of x2), so the new odours start at 0 % correct. BP
  relearns in ~600 AB12 trials, FA slowly (~3,400), and FA_Ex-x% (and ELM, WP) settle at exactly 50 % on
  odours 1/2: the output for the new odours takes one sign. Not analysed further here; one suspect is
  that the units the A/B phase left active for x1 = -1 inputs are too few for the sign-broadcast error
  (gated by θ(I)) to build the x1 x2 feature. The code task (no A/B phase) is learned by all of them.
"""


def fmt(x, nd=0):
    return "never" if not np.isfinite(x) else f"{x:.{nd}f}"


def run_batch_rules(seeds, ex, n_updates):
    out, stats = {}, {"runs": 0, "trials": 0, "seconds": 0.0}
    for name, f, ov in RULES:
        t0 = time.perf_counter()
        r = konishi.sweep(f, seeds, [*ov, f"task.n_trials={8 * n_updates}"], executor=ex)
        dt = time.perf_counter() - t0
        stats["runs"] += len(seeds)
        stats["trials"] += len(seeds) * 8 * n_updates
        stats["seconds"] += dt
        out[name] = r
        if f == "dendritic":      # not a Konishi rule: keep it out of the throughput figure
            stats["runs"] -= len(seeds)
            stats["trials"] -= len(seeds) * 8 * n_updates
            stats["seconds"] -= dt
        print(f"  {name:12s} {len(seeds)} seeds in {dt:5.1f} s", flush=True)
    return out, stats


def online_curves(r, window=40, new_only=False):
    c = r["trial_correct"].astype(float)
    if new_only:
        c = np.where(r["label"] >= 2, c, np.nan)
    return c


def run_online(seeds, ex, n_trials, pretrain):
    out = {}
    for name, f, ov in ONLINE:
        base = [*ov, "learner.batch_size=1", "task.test_size=0"]
        code = konishi.sweep(f, seeds, [*base, f"task.n_trials={n_trials}"], executor=ex)
        ab = konishi.sweep(f, seeds, [*base, f"task.n_trials={n_trials + pretrain}",
                                      f"task.pretrain_trials={pretrain}"], executor=ex)
        out[name] = (code, ab)
        print(f"  online {name:12s} done", flush=True)
    return out


def run_robust(seeds, ex, n_updates, quick):
    conds = ROBUST if not quick else [c for c in ROBUST if c[0] in
                                      ("none", "θ(I + 0.2)", "sigmoid(10 I)", "θ + N(0, 1.5²), fixed",
                                       "θ + N(0, 1.5²), redrawn", "error to hidden + N(0, 1²)",
                                       "error to hidden + N(0, 3²)")]
    out = {}
    for name, ov in conds:
        out[name] = konishi.sweep("fa_ex100", seeds, [*ov, f"task.n_trials={8 * n_updates}"], executor=ex)
        print(f"  robustness {name:28s} done", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="10 seeds, shorter online runs, fewer conditions")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "docs" / "reproduction" / "konishi2023"))
    a = ap.parse_args()
    n_seeds = 10 if a.quick and a.seeds == 100 else a.seeds
    seeds = list(range(n_seeds))
    n_updates = 1000
    n_online, pretrain = (2000, 300) if a.quick else (4000, 500)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    with ProcessPoolExecutor(a.workers, initializer=konishi._init_worker) as ex:
        print(f"rules, batch protocol ({n_seeds} seeds x {n_updates} updates of 8)", flush=True)
        batch, st = run_batch_rules(seeds, ex, n_updates)
        rate = st["trials"] / st["seconds"]
        print(f"  throughput: {st['runs']} runs, {st['trials']:,} trials in {st['seconds']:.1f} s = "
              f"{rate:,.0f} trials/s ({st['runs'] * n_updates / st['seconds']:,.0f} updates/s) on "
              f"{a.workers} workers", flush=True)
        print("rules, online protocol", flush=True)
        online = run_online(seeds, ex, n_online, pretrain)
        print("robustness of FA_Ex-100%", flush=True)
        robust = run_robust(seeds, ex, n_updates, a.quick)
    total = time.perf_counter() - t_all

    summ = {"seeds": n_seeds, "throughput_trials_per_s": rate, "seconds_total": total}
    lines = ["# Konishi, Igarashi & Miura (2023): reproduction with dendrosim", "",
             f"Generated by `scripts/reproduce_konishi2023.py --seeds {n_seeds}"
             f"{' --quick' if a.quick else ''}` ({total:.0f} s on {a.workers} workers). "
             "Task: XOR with 100 distractors (docs/research/konishi2023.md sec. 1.3), 102-20-1 ReLU/linear, "
             "U(±0.01) init, rules as in models/konishi2023/*.toml. Mean ± SEM over seeds. "
             "The paper's own numbers were not retrievable; the [OWN] column is the research notes' "
             "independent NumPy baseline (50 seeds, sec. 4.3-4.4).", "",
             "## 1. Rules, batch protocol (reference code: 8 fresh samples per update, 1000 updates)", "",
             "Updates to 80 %: first update at which the 50-update trailing mean of the test correct "
             "rate (8 fresh samples after every update) reaches 0.8, on the seed-mean curve and the "
             "median over seeds (× 8 = trials). Late: mean test correct rate over the last 50 updates.", "",
             "| rule | updates to 80 % (mean curve) | median over seeds | seeds reaching 80 % | "
             "late correct rate | test MSE, last 50 | [OWN]: updates to 80 %; late |",
             "|---|---|---|---|---|---|---|"]
    summ["batch"] = {}
    for name, _, _ in RULES:
        s = konishi.summary(batch[name])
        summ["batch"][name] = s
        lines.append(f"| {name} | {fmt(s['to_level_mean_curve'])} | {fmt(s['to_level_median'])} | "
                     f"{100 * s['fraction_reached']:.0f} % | {s['late']:.3f} ± {s['late_sem']:.3f} | "
                     f"{s['mse_end']:.3g} | {OWN.get(name, '-')} |")
    lines += ["", "![learning curves](curves.png)", "",
              "## 2. Rules, online protocol (one sample = one trial, scored before its update)", "",
              f"Trials to 80 %: 40-trial trailing mean of the per-trial correct rate. Code task: all four "
              f"odours from trial 0 ({n_online} trials). AB → AB12: {pretrain} trials with odours A and B, "
              f"then A, B, 1, 2; trials counted from the AB12 start, correct rate on odours 1 and 2 "
              f"only (40-trial window of those trials). Mice learn the new odours within ~120-160 "
              f"AB12 trials (Lee et al. 2021).", "",
              "| rule | η | trials to 80 % (code task, mean curve) | late correct rate | "
              "AB12 trials to 80 % on odours 1/2 | AB12 late correct, odours 1/2 | [OWN] online |",
              "|---|---|---|---|---|---|---|"]
    summ["online"] = {}
    for name, _, ov in ONLINE:
        code, ab = online[name]
        c = code["trial_correct"]
        t80 = konishi.first_crossing(konishi.mean_sem(c)[0], 0.8, 40)
        late = konishi.mean_sem(c[:, -200:], axis=1)[0]
        lm, ls = konishi.mean_sem(late)
        nc = online_curves(ab, new_only=True)[:, pretrain:]
        # per seed: compact the new-odour trials, then the mean curve over seeds in AB12 trial units
        ab_curve = konishi.mean_sem(nc)[0]
        ab80 = _first_crossing_sparse(ab_curve, 0.8, 40)
        ab_late = konishi.mean_sem(nc[:, -400:], axis=1)[0]
        am, asem = konishi.mean_sem(ab_late)
        eta = [o.split("=")[1] for o in ov if o.startswith("learner.eta")][0]
        summ["online"][name] = {"to80_code": t80, "late": lm, "to80_ab12_new": ab80, "ab12_late_new": am}
        lines.append(f"| {name} | {eta} | {fmt(t80)} | {lm:.3f} ± {ls:.3f} | {fmt(ab80)} | "
                     f"{am:.3f} ± {asem:.3f} | {OWN_ONLINE.get(name, '-')} |")
    lines += ["", "![online learning curves](online.png)", "",
              "## 3. Robustness of FA_Ex-100 % (batch protocol)", "",
              "Perturbations of the hidden post-synaptic factor θ(I) and of the error delivered to "
              "the middle layer (docs/research/konishi2023.md sec. 4.2 and 6).", "",
              "| condition | test correct, updates 450-500 | late correct rate | updates to 80 % "
              "(mean curve) | seeds reaching 80 % | [OWN]: late / updates to 80 % |",
              "|---|---|---|---|---|---|"]
    summ["robustness"] = {}
    for name, r in robust.items():
        s = konishi.summary(r)
        mid = np.nanmean(r["test_correct"][:, 450:500], axis=1)
        mm, msem = konishi.mean_sem(mid)
        s["mid"] = mm
        summ["robustness"][name] = s
        lines.append(f"| {name} | {mm:.2f} ± {msem:.2f} | {s['late']:.3f} ± {s['late_sem']:.3f} | "
                     f"{fmt(s['to_level_mean_curve'])} | {100 * s['fraction_reached']:.0f} % | "
                     f"{OWN_ROBUST.get(name, '-')} |")
    lines += ["", "![robustness](robustness.png)", "", NOTES,
              f"Throughput of the batch-protocol sweep: {rate:,.0f} trials/s "
              f"(seeds × rules × trials / wall time, {a.workers} worker processes).", ""]
    (out / "README.md").write_text("\n".join(lines))
    (out / "summary.json").write_text(json.dumps(summ, indent=1, default=float))
    plots(out, batch, online, robust, pretrain)
    print("\n".join(lines))
    print(f"\nwrote {out}/README.md, summary.json and figures; total {total:.0f} s")


def _first_crossing_sparse(curve, level, window):
    """Like konishi.first_crossing, but on a curve with NaN gaps (trials of other odours):
    the window counts only finite entries; returns the trial index (in the full curve)."""
    idx = np.flatnonzero(np.isfinite(curve))
    c = curve[idx]
    k = konishi.first_crossing(c, level, window)
    if not np.isfinite(k):
        return np.nan
    return float(idx[int(k) - 1] + 1)


def plots(out, batch, online, robust, pretrain):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, _, _ in RULES:
        tc = konishi.moving_average(batch[name]["test_correct"], 20)
        m, s = konishi.mean_sem(tc)
        x = np.arange(1, m.size + 1)
        ax[0].plot(x, m, label=name, lw=1.2)
        ax[0].fill_between(x, m - s, m + s, alpha=0.25)
        mse = batch[name]["test_mse"]
        mm, ms = konishi.mean_sem(konishi.moving_average(mse, 20))
        ax[1].plot(x, mm, lw=1.2)
        ax[1].fill_between(x, np.maximum(mm - ms, 1e-4), mm + ms, alpha=0.25)
    ax[0].axhline(0.8, color="k", ls=":", lw=0.8)
    ax[0].set(xlabel="update (8 trials)", ylabel="test correct rate (20-update mean)", ylim=(0.4, 1.02))
    ax[0].legend(fontsize=7, ncol=2)
    ax[1].set(xlabel="update (8 trials)", ylabel="test MSE", yscale="log", ylim=(1e-4, 10))
    ax[1].axvline(500, color="k", ls=":", lw=0.8)
    ax[1].axhline(0.1, color="k", ls=":", lw=0.8)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, _, _ in ONLINE:
        code, ab = online[name]
        m, s = konishi.mean_sem(konishi.moving_average(code["trial_correct"], 40))
        x = np.arange(1, m.size + 1)
        ax[0].plot(x, m, label=name, lw=1.2)
        ax[0].fill_between(x, m - s, m + s, alpha=0.25)
        nc = online_curves(ab, new_only=True)
        curve = konishi.moving_average(nc, 80)       # ~40 new-odour trials per window
        m2, s2 = konishi.mean_sem(curve)
        x2 = np.arange(m2.size) - pretrain
        ax[1].plot(x2, m2, lw=1.2)
        ax[1].fill_between(x2, m2 - s2, m2 + s2, alpha=0.25)
    ax[0].axhline(0.8, color="k", ls=":", lw=0.8)
    ax[0].set(xlabel="trial", ylabel="correct (40-trial mean)", ylim=(0.4, 1.02), title="code task, online")
    ax[0].legend(fontsize=7)
    ax[1].axhline(0.8, color="k", ls=":", lw=0.8)
    ax[1].axvspan(120, 160, color="grey", alpha=0.3, lw=0)
    ax[1].set(xlabel="AB12 trial", ylabel="correct on odours 1/2", ylim=(0.0, 1.02),
              xlim=(0, None), title="AB → AB12 (grey: mice, Lee et al. 2021)")
    fig.tight_layout()
    fig.savefig(out / "online.png", dpi=90)
    plt.close(fig)

    names = list(robust)
    fig, ax = plt.subplots(1, 2, figsize=(11, 0.28 * len(names) + 1.5))
    for i, name in enumerate(names):
        s = konishi.summary(robust[name])
        ax[0].barh(i, s["late"], xerr=s["late_sem"], color="C0")
        v = s["to_level_mean_curve"]
        ax[1].barh(i, v if np.isfinite(v) else 1000, color="C1" if np.isfinite(v) else "lightgrey")
    for a_ in ax:
        a_.set_yticks(range(len(names)))
        a_.invert_yaxis()
    ax[0].set_yticklabels(names, fontsize=7)
    ax[1].set_yticklabels([])
    ax[0].set(xlabel="late test correct rate", xlim=(0.4, 1.02))
    ax[1].set(xlabel="updates to 80 % (grey: never within 1000)")
    fig.tight_layout()
    fig.savefig(out / "robustness.png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
