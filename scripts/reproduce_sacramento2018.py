"""Reproduce Sacramento et al. (2018): Fig. 1, Fig. 2 and MNIST, one command each.

    python scripts/reproduce_sacramento2018.py fig1|fig2|mnist|all [--quick] [--out docs/reproduction]
                                              [--patterns N] [--seeds N] (fig2)

Writes figures (small PNGs) and ``table_<part>.md`` (paper value vs dendrosim
value, wall time) into the output folder; HDF5 run files go to ``--runs``
(default: a temporary folder, not committed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import dendrosim  # noqa: E402
from dendrosim import config  # noqa: E402
from dendrosim.io import HDF5Sink  # noqa: E402
from dendrosim.plot import alignment_angle  # noqa: E402
from dendrosim.steady import NoFixedPoint  # noqa: E402
from dendrosim.simulation import Diverged, Simulation  # noqa: E402
from dendrosim.tasks.teacher import error_signal_angles  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models" / "sacramento2018"


def run_model(name, runs: Path, overrides=(), tag=None):
    """Run models/sacramento2018/<name>.toml into runs/<tag>.h5; return (Run, wall seconds).

    A run that diverges, or whose test-set steady state stops converging, ends there: its
    file says so (status ``diverged`` or ``failed``) and keeps the data up to that point."""
    cfg = config.load(MODELS / f"{name}.toml", list(overrides))
    out = runs / f"{tag or name}.h5"
    sim = Simulation(cfg)
    t0 = time.perf_counter()
    sink = HDF5Sink(out)
    try:
        sim.run(sink)
    except Diverged as e:
        print(f"{tag or name}: {e}", file=sys.stderr)
    except NoFixedPoint as e:
        sink.status("failed", f"NoFixedPoint at t = {sim.t:.1f} ms: {e}")
        print(f"{tag or name}: {e}", file=sys.stderr)
    finally:
        sink.close()
    return dendrosim.load(out), time.perf_counter() - t0


def write_table(out: Path, part: str, header: str, rows: list[tuple]) -> None:
    lines = [f"# {header}", "", "| quantity | paper | dendrosim | notes |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    (out / f"table_{part}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


# -- Fig. 1 ---------------------------------------------------------------------------------

def fig1(out: Path, runs: Path, quick=False):
    ov = ["task.n_repeats=10"] if quick else []
    run, wall = run_model("fig1_target", runs, ov)
    t, vA = run.trace("layer1/v_A")
    _, uN = run.trace(f"layer{run.depth}/u_P")
    _, tgt = run.trace(f"layer{run.depth}/target")
    mt, apical = run.metric("apical_norm")
    apical = apical[:, 0]
    _, loss = run.metric("loss")
    fig, ax = plt.subplots(2, 2, figsize=(10, 6))
    w = t <= 300
    for i in range(3):
        ax[0, 0].plot(t[w], vA[w, i], lw=1)
    ax[0, 0].axvline(100, color="k", ls=":", lw=0.8)
    ax[0, 0].set(title="apical potential v_A, hidden neurons 0-2", xlabel="t (ms)", ylabel="v_A")
    for i in range(2):
        ax[0, 1].plot(t[w], uN[w, i], lw=1, color=f"C{i}")
        ax[0, 1].plot(t[w], tgt[w, i], lw=1, ls="--", color=f"C{i}")
    ax[0, 1].axvline(100, color="k", ls=":", lw=0.8)
    ax[0, 1].set(title="output soma (solid) and target (dashed)", xlabel="t (ms)", ylabel="u")
    ax[1, 0].semilogy(mt, apical, ".-")
    ax[1, 0].set(title="|v_A| at the end of each presentation", xlabel="t (ms)")
    ax[1, 1].semilogy(mt, loss, ".-")
    ax[1, 1].set(title="|u_N - u_trgt|^2", xlabel="t (ms)")
    fig.suptitle("Fig. 1: a new target; apical error appears and is learned away")
    fig.tight_layout()
    fig.savefig(out / "fig1.png", dpi=80)
    first = int(np.argmax(~np.isnan(loss)))
    rows = [
        ("apical error at target onset -> end", "appears, then vanishes (Fig. 1B)",
         f"{apical[first]:.3f} -> {apical[-1]:.3f}", "end of each 100 ms presentation, sigma = 0.1"),
        ("output loss ‖u_N − u_trgt‖²", "target predicted", f"{loss[first]:.3f} -> {loss[-1]:.4f}", ""),
        ("wall time", "-", f"{wall:.1f} s", f"{len(mt)} x 100 ms, 30-20-10"),
    ]
    write_table(out, "fig1", "Fig. 1: single input-target association", rows)
    run.close()
    return rows


# -- Fig. 2 ---------------------------------------------------------------------------------

def _patterns(run):
    """Patterns presented before the run ended (all of them unless it diverged)."""
    return int(round(run.duration / run.cfg.task["duration"]))


def _signal_angles(run):
    """Per weight snapshot of a Fig. 2 run: the mean over the test patterns of the angle between
    the hidden layer's top-down error signal and backprop's (tasks.teacher.error_signal_angles)."""
    sim = Simulation(run.cfg)
    snaps = {n: run.weight(n)[1] for n in sim.net.weights() if n in run.file["weights"]}
    X, R = sim.task.test_set
    out = []
    for i in range(len(snaps["up2"])):
        for n, W in snaps.items():
            sim.net.w(n)[...] = W[i]
        out.append(float(np.mean(error_signal_angles(sim, X, R))))
    return np.array(out)


def fig2(out: Path, runs: Path, quick=False, n_patterns=None, n_seeds=None):
    """Microcircuit vs shallow learner on the same teacher and data, for several seeds
    (each seed draws its own teacher, student and patterns)."""
    n = n_patterns or (2000 if quick else 20000)
    seeds = range(n_seeds or (1 if quick else 4))
    ov = [f"task.n_patterns={n}", f"task.eval_every={n // 20}", "record.variables=[]",
          f"record.weights_every={n * 1000 // 20}"]
    res, wall = {}, 0.0
    for s in seeds:
        for name, extra in (("microcircuit", []), ("shallow", ["plasticity.eta_up=[0.0,0.125]"])):
            run, w = run_model("fig2_teacher_student", runs, ov + [f"init.seed={s}"] + extra,
                               tag=f"fig2_{name}_seed{s}")
            wall += w
            mt, te = run.metric("test_error")
            ok = ~np.isnan(te)
            r = dict(t=mt[ok], test=te[ok], status=run.status, n=_patterns(run),
                     apical=run.metric("apical_norm")[1][:, 0], mismatch=run.metric("interneuron_mismatch")[1][:, 0],
                     mt=mt)
            if name == "microcircuit":
                wt, up2 = run.weight("up2")
                r["wt"], r["angle"] = wt, alignment_angle(up2, run.weight("down1")[1])
                r["signal_angle"] = _signal_angles(run)
            res[name, s] = r
            run.close()
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    for s in seeds:
        c = f"C{s}"
        for name, ls in (("microcircuit", "-"), ("shallow", "--")):
            r = res[name, s]
            ax[0].plot(r["t"] / 100.0, r["test"], ls, color=c, label=f"{name}, seed {s}" if s == 0 else None)
            if r["status"] != "completed":
                ax[0].plot(r["t"][-1] / 100.0, r["test"][-1], "x", color=c, ms=9)
        ax[2].plot(res["microcircuit", s]["wt"] / 100.0, res["microcircuit", s]["angle"], ".-", color=c,
                   label=f"seed {s}")
        ax[2].plot(res["microcircuit", s]["wt"] / 100.0, res["microcircuit", s]["signal_angle"], "--", color=c)
    ax[0].set(title="test error, unseen patterns (x: diverged)", xlabel="training pattern",
              ylabel="|r - r_trgt|^2")
    ax[0].legend(fontsize=8)
    r = res["microcircuit", seeds[0]]
    w = max(1, len(r["apical"]) // 100)           # running mean over 1 % of the run
    smooth = lambda a: np.convolve(a, np.ones(w) / w, mode="valid")
    tt = r["mt"][w - 1:] / 100
    ax[1].semilogy(tt, smooth(r["apical"]), label="|v_A|")
    ax[1].semilogy(tt, smooth(r["mismatch"]), label="|u_P2 - u_I|^2")
    ax[1].set(title=f"seed {seeds[0]}: apical norm, mismatch ({w}-pattern mean)", xlabel="training pattern")
    ax[1].legend()
    ax[2].axhline(90, color="k", ls=":", lw=0.8)
    ax[2].set(title="microcircuit: W_up2 vs W_down1^T (dots),\nhidden error signal vs backprop's (dashed)",
              xlabel="training pattern", ylabel="degrees")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fig2.png", dpi=80)

    def end(r):
        return f"{r['test'][-1]:.4f}" + ("" if r["status"] == "completed" else f" ({r['status']} at {r['n']:,})")

    both = [s for s in seeds if res["microcircuit", s]["status"] == res["shallow", s]["status"] == "completed"]
    better = sum(res["microcircuit", s]["test"][-1] < res["shallow", s]["test"][-1] for s in both)
    rows = [("test error at the end, microcircuit vs shallow, seed " + str(s), "microcircuit considerably better",
             f"{end(res['microcircuit', s])} vs {end(res['shallow', s])}",
             f"from {res['microcircuit', s]['test'][0]:.4f}") for s in seeds]
    rows += [
        ("seeds where the microcircuit ends below the shallow learner", "-", f"{better} of {len(both)}",
         f"{len(seeds) - len(both)} of {len(seeds)} seeds did not complete (diverged or failed)"
         if len(both) < len(seeds) else f"{n:,} patterns of 100 ms each"),
        (f"apical norm, start -> end (seed {seeds[0]})", "decays (Fig. S1)",
         f"{r['apical'][0]:.3f} -> {np.mean(r['apical'][-50:]):.3f}", "mean of last 50 patterns"),
        ("interneuron mismatch, start -> end", "decays", f"{r['mismatch'][0]:.3f} -> {np.mean(r['mismatch'][-50:]):.4f}",
         ""),
        ("angle W_up2 vs W_down1^T, start -> end", "about 45 deg",
         ", ".join(f"{res['microcircuit', s]['angle'][0]:.0f} -> {res['microcircuit', s]['angle'][-1]:.0f}"
                   for s in seeds) + " deg", "per seed; fixed random top-down"),
        ("angle of the hidden error signal to backprop's, start -> end", "-",
         ", ".join(f"{res['microcircuit', s]['signal_angle'][0]:.0f} -> {res['microcircuit', s]['signal_angle'][-1]:.0f}"
                   for s in seeds) + " deg", "per seed, mean over the test patterns (Lillicrap et al. 2016's measure)"),
        ("wall time", "-", f"{wall:.0f} s", f"{len(seeds)} seeds x (microcircuit + shallow), 30-50-10"),
    ]
    write_table(out, "fig2", "Fig. 2: teacher-student nonlinear regression", rows)
    return rows


def mnist(out: Path, runs: Path, quick=False):
    from importlib import import_module
    try:
        mod = import_module("reproduce_mnist")
    except ImportError:
        sys.path.insert(0, str(Path(__file__).parent))
        mod = import_module("reproduce_mnist")
    return mod.main(out, runs, quick)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=["fig1", "fig2", "mnist", "all"])
    p.add_argument("--quick", action="store_true", help="reduced budget (minutes)")
    p.add_argument("--out", default=str(ROOT / "docs" / "reproduction"))
    p.add_argument("--runs", default=None, help="folder for the HDF5 run files (default: temporary)")
    p.add_argument("--patterns", type=int, default=None,
                   help="fig2: training patterns of 100 ms (default 20,000; --quick 2,000)")
    p.add_argument("--seeds", type=int, default=None, help="fig2: seeds 0..N-1 (default 4; --quick 1)")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(a.runs) if a.runs else Path(tempfile.mkdtemp(prefix="dendrosim_repro_"))
    runs.mkdir(parents=True, exist_ok=True)
    parts = ["fig1", "fig2", "mnist"] if a.part == "all" else [a.part]
    for part in parts:
        t0 = time.perf_counter()
        if part == "fig2":
            fig2(out, runs, a.quick, a.patterns, a.seeds)
        else:
            {"fig1": fig1, "mnist": mnist}[part](out, runs, a.quick)
        print(f"{part}: {time.perf_counter() - t0:.0f} s wall, runs in {runs}")


if __name__ == "__main__":
    main()
