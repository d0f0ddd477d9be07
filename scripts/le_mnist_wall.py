"""MNIST with the continuous engine under a wall-clock budget: Latent Equilibrium against the
original dynamics, test error against wall time and against images seen.

    python scripts/le_mnist_wall.py --out DIR [--minutes 60] [--jobs 2] [--quick]

Runs ``models/haider2021/mnist_le.toml`` (LE, 1 ms per image) and
``models/sacramento2018/mnist_continuous_lag.toml`` (the original dynamics at their best known
setting, 100 ms per image with a 20 ms learning lag), each in its own process on one thread,
until its task ends or the budget is spent (the file then says ``interrupted``: budget). Every
evaluation of the test set is logged with the wall time since the run started (compilation and
the evaluations included). Writes ``DIR/<run>.h5`` and ``DIR/<run>.csv``, then
``docs/reproduction/le_mnist.md`` (table) and ``docs/reproduction/le_mnist.png`` (curves), or
into ``--report`` if given. ``--quick``: 0.5 minutes per run, 1,000 test images, report into DIR.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"LE, 1 ms per image": ROOT / "models" / "haider2021" / "mnist_le.toml",
        "original, 100 ms per image, 20 ms lag": ROOT / "models" / "sacramento2018" / "mnist_continuous_lag.toml"}


class BudgetReached(Exception):
    """The wall-clock budget of the run is spent."""


class WallClockSink:
    """Passes everything to ``sink``; logs (wall s, images, test error) at every evaluation and
    stops the run at the first pattern end after ``budget_s``."""

    def __init__(self, sink, budget_s):
        self.sink, self.budget_s, self.t0, self.rows = sink, budget_s, time.perf_counter(), []

    def metrics(self, t, m):
        self.sink.metrics(t, m)
        wall = time.perf_counter() - self.t0
        self.images += 1
        err = m.get("test_error")
        if err is not None and err == err:
            self.rows.append((wall, self.images, float(err)))
            if wall > self.budget_s:         # stop at the first evaluation after the budget
                raise BudgetReached(f"wall budget of {self.budget_s / 60:.1f} min reached")

    images = 0

    def __getattr__(self, name):
        return getattr(self.sink, name)


def run_one(config_path, out_h5, out_csv, minutes, n_test=None):
    """Run one config in this process under the budget; write its CSV of evaluations."""
    from dendrosim import config
    from dendrosim.io import HDF5Sink
    from dendrosim.simulation import Simulation
    sets = [f"task.n_test={n_test}"] if n_test else []
    cfg = config.load(config_path, sets)
    sink = WallClockSink(None, minutes * 60.0)        # the clock starts before the set-up
    sim = Simulation(cfg)
    sink.sink = HDF5Sink(out_h5, overwrite=True)
    try:
        sim.run(sink)
    except BudgetReached as e:
        sink.sink.status("interrupted", f"{e} at t = {sim.t:.1f} ms")
    finally:
        sink.sink.close()
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["wall_s", "images", "test_error"])
        w.writerows(sink.rows)


def read_csv(path):
    with open(path) as f:
        return [(float(a), int(b), float(c)) for a, b, c in list(csv.reader(f))[1:]]


def report(out_dir, report_dir, minutes):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    report_dir.mkdir(parents=True, exist_ok=True)
    fig, (ax_w, ax_i) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    lines = ["# MNIST with the continuous engine in a wall-clock budget",
             "",
             f"Budget {minutes:g} min per run, one thread each; test error on the test set at the "
             "steady state without target, wall time from the start of the run (compilation and "
             "evaluations included). Command: `python scripts/le_mnist_wall.py --out DIR "
             f"--minutes {minutes:g}`.",
             "",
             "| run | model file | images seen | wall time | final test error | best test error |",
             "|---|---|---|---|---|---|"]
    for label, cfg_path in RUNS.items():
        csv_path = out_dir / f"{cfg_path.stem}.csv"
        if not csv_path.exists():
            continue
        rows = read_csv(csv_path)
        if not rows:
            continue
        wall, images, err = zip(*rows)
        ax_w.plot([w / 60 for w in wall], [100 * e for e in err], "o-", ms=3, label=label)
        ax_i.plot(images, [100 * e for e in err], "o-", ms=3, label=label)
        lines.append(f"| {label} | `{cfg_path.relative_to(ROOT)}` | {images[-1]:,} | {wall[-1] / 60:.1f} min | "
                     f"{100 * err[-1]:.2f} % | {100 * min(err):.2f} % |")
    for ax, xl in ((ax_w, "wall time (min)"), (ax_i, "images seen")):
        ax.set_xlabel(xl)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    ax_i.set_xscale("log")
    ax_w.set_ylabel("test error (%)")
    ax_w.axhline(2.5, color="gray", ls=":", lw=1)
    ax_i.axhline(2.5, color="gray", ls=":", lw=1)
    ax_w.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(report_dir / "le_mnist.png", dpi=120)
    (report_dir / "le_mnist.md").write_text("\n".join(lines) + "\n\n![test error](le_mnist.png)\n")
    print("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for the runs' HDF5 and CSV files")
    p.add_argument("--minutes", type=float, default=60.0, help="wall budget per run (default 60)")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    p.add_argument("--report", help="folder for le_mnist.md/.png (default docs/reproduction; DIR with --quick)")
    p.add_argument("--quick", action="store_true", help="0.5 min per run, 1,000 test images")
    p.add_argument("--one", nargs=3, metavar=("CONFIG", "H5", "CSV"), help=argparse.SUPPRESS)
    p.add_argument("--n-test", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        run_one(a.one[0], a.one[1], a.one[2], a.minutes, a.n_test)
        return 0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    minutes = 0.5 if a.quick else a.minutes
    extra = ["--n-test", "1000"] if a.quick else []
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    procs, pending = [], list(RUNS.values())
    while pending or procs:
        while pending and len(procs) < a.jobs:
            cfg = pending.pop(0)
            cmd = [sys.executable, __file__, "--out", str(out), "--minutes", str(minutes), *extra,
                   "--one", str(cfg), str(out / f"{cfg.stem}.h5"), str(out / f"{cfg.stem}.csv")]
            procs.append(subprocess.Popen(cmd, env=env))
        time.sleep(1.0)
        for q in [q for q in procs if q.poll() is not None]:
            procs.remove(q)
            if q.returncode != 0:
                print(f"a run failed (exit {q.returncode}): {q.args}", file=sys.stderr)
    report_dir = Path(a.report) if a.report else (out if a.quick else ROOT / "docs" / "reproduction")
    report(out, report_dir, minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
