"""Reproduce the MNIST results of Sacramento et al. (2018), Fig. 3 / sec. 3.4.

    python scripts/reproduce_mnist.py [--quick] [--out docs/reproduction] [--runs DIR] [--jobs 2]
    python scripts/reproduce_sacramento2018.py mnist [--quick]        (calls main())

Rows (one model file each, models/sacramento2018/):

=================  ===============================  ==========================================
row                model                            paper test error
=================  ===============================  ==========================================
microcircuit       fig3_mnist.toml                  1.96 %  (784-500-500-10, dendritic, FA)
backprop           fig3_mnist_bp.toml               1.53 %
shallow            fig3_mnist_shallow.toml          8.4 %   (only the output layer learns)
frozen h1->h2      fig3_mnist_frozen.toml           2.11 %
784-1000-10        fig3_mnist_1000_topdown.toml     2.48 %  (top-down learned with eq. 10)
continuous engine  mnist_continuous.toml            -       (full dynamics, subset)
=================  ===============================  ==========================================

Steps: (1) time 100 updates of every discrete row with the two-sweep and the exact steady
state and extrapolate to an epoch; (2) train every row in its own process (one BLAS thread
each, ``--jobs`` at a time, longest first); the discrete rows evaluate the test set once per
epoch, the continuous row every ``eval_every`` images; (3) write ``table_mnist.md`` and
``mnist.png`` (learning curves) into ``--out``. ``--quick``: 5,000 training images, one epoch,
2,000 test images, 300 continuous-engine images (a few minutes).

Per row, ``--row NAME --json FILE`` trains one row and writes its result (used by step 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models" / "sacramento2018"

# name: (model file, paper test error %, description)
ROWS = {
    "microcircuit": ("fig3_mnist", 1.96, "784-500-500-10 microcircuit, dendritic rule at the steady state (two-sweep), FA"),
    "backprop": ("fig3_mnist_bp", 1.53, "784-500-500-10 backprop on the same (attenuated) net"),
    "shallow": ("fig3_mnist_shallow", 8.4, "784-500-500-10, only hidden2 -> output learns (dendritic)"),
    "frozen": ("fig3_mnist_frozen", 2.11, "784-500-500-10 microcircuit, hidden1 -> hidden2 frozen"),
    "topdown": ("fig3_mnist_1000_topdown", 2.48, "784-1000-10 microcircuit, top-down learned (eq. 10), PI and IP plastic"),
    "continuous": ("mnist_continuous", None, "continuous engine, full dynamics, 100 ms per image"),
}
DISCRETE = [r for r in ROWS if r != "continuous"]
ORDER = ["microcircuit", "continuous", "frozen", "topdown", "shallow", "backprop"]   # longest first
QUICK = ["task.subset=5000", "task.epochs=1", "task.n_test=2000"]
QUICK_CONT = ["task.subset=300", "task.epochs=1", "task.eval_every=100", "task.n_test=1000"]


def _cfg(name, overrides=()):
    from dendrosim import config
    return config.load(MODELS / f"{ROWS[name][0]}.toml", list(overrides))


# -- step 1: time per epoch -----------------------------------------------------------------

def time_per_epoch(name, n_updates=100, warmup=200) -> dict:
    """Seconds per 55,000-image epoch, extrapolated from ``n_updates`` updates with the
    two-sweep and with the exact steady state (dendritic rows) or of the rule itself,
    after ``warmup`` two-sweep updates (weights that have started to learn: the exact
    solver needs more sweeps than on the initial network)."""
    from dendrosim.learners import runner
    out = {}
    cfg = _cfg(name, ["task.subset=5000"])
    opts, net, task, lrn = runner.setup(cfg)
    bs = opts["batch_size"]
    for u in range(warmup):
        X, T, _ = task.batch(u * bs, (u + 1) * bs)
        lrn.step(X, T)
    methods = ("two_sweep", "exact") if opts["rule"] == "dendritic" else (opts["rule"],)
    for m in methods:
        if opts["rule"] == "dendritic":
            lrn.o = dict(lrn.o, steady=m)
        w0 = {k: v.copy() for k, v in net.weights().items()}
        t0 = time.perf_counter()
        for u in range(warmup, warmup + n_updates):
            X, T, _ = task.batch(u * bs, (u + 1) * bs)
            lrn.step(X, T)
        dt = (time.perf_counter() - t0) / n_updates
        for k, v in w0.items():
            net.w(k)[...] = v
        out[m] = round(dt * 55000 / bs, 1)
    return out


# -- step 2: one row --------------------------------------------------------------------------

def train_discrete(name, overrides=()) -> dict:
    import numpy as np
    from dendrosim.learners import runner
    from dendrosim.learners.steady import Circuit, feedforward
    from dendrosim.tasks.mnist import test_error
    cfg = _cfg(name, overrides)
    opts, net, task, _ = runner.setup(cfg)
    per_epoch = max(1, task.n_train // opts["batch_size"])
    cfg = _cfg(name, list(overrides) + [f"learner.test_every={per_epoch}"])
    t0 = time.perf_counter()
    res = runner.run(cfg, net=net)
    wall = time.perf_counter() - t0
    tc = res.metrics["test_correct"]
    upd = np.flatnonzero(~np.isnan(tc))
    curve = [[float((u + 1) * opts["batch_size"] / task.n_train), float(100 * (1 - tc[u]))] for u in upd]
    circ = Circuit(cfg)
    X, _, L = task.test_batch()
    err_ff = 100 * float(np.mean(np.argmax(feedforward(net, circ, X)[0][-1], axis=1) != L))
    epochs = len(task) / task.n_train
    curve.append([epochs, err_ff])
    out = dict(row=name, status=res.status, message=res.message, epochs=epochs, wall=wall,
               s_per_epoch=wall / epochs, test_error=err_ff, curve=curve, n_test=int(task.test_size),
               n_train=int(task.n_train))
    if opts["rule"] == "dendritic":
        # the network's own prediction: exact steady state without target (the
        # discrete runner scores the upward sweep, equal to it in the self-predicting state)
        out["test_error_exact"] = 100 * test_error(net, cfg, X, L)
    n = task.n_train
    c = res.trials["correct"][-n:]
    out["train_error_last_epoch"] = 100 * float(1 - np.nanmean(c))
    return out


def train_continuous(runs: Path, overrides=()) -> dict:
    import numpy as np
    import dendrosim
    from dendrosim.io import HDF5Sink
    from dendrosim.simulation import Simulation
    cfg = _cfg("continuous", list(overrides))
    out_h5 = runs / "mnist_continuous.h5"
    sim = Simulation(cfg)
    t0 = time.perf_counter()
    sink = HDF5Sink(out_h5)
    try:
        sim.run(sink)
    finally:
        sink.close()
    wall = time.perf_counter() - t0
    run = dendrosim.load(out_h5)
    _, te = run.metric("test_error")
    run.close()
    ok = np.flatnonzero(~np.isnan(te))
    n = len(sim.task)
    curve = [[float(i + 1), 100 * float(te[i])] for i in ok]
    return dict(row="continuous", status="completed", epochs=n / sim.task.n_train, patterns=n,
                wall=wall, patterns_per_s=n / wall, test_error=curve[-1][1], curve=curve,
                n_test=int(sim.task.test_size), sizes=list(cfg.network.sizes),
                duration_ms=float(sim.task.steps * cfg.simulation.dt))


def _one(name, runs, quick, json_path):
    if name == "continuous":
        r = train_continuous(runs, QUICK_CONT if quick else [])
    else:
        r = train_discrete(name, QUICK if quick else [])
    Path(json_path).write_text(json.dumps(r))
    return r


# -- step 3: table and figure ----------------------------------------------------------------

def _wall(s):
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def write_outputs(out: Path, results: dict, timing: dict, quick: bool, total_wall: float) -> list:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = []
    lines = ["# MNIST (Sacramento et al. 2018, Fig. 3 / sec. 3.4)", "",
             "Test error on the official 10,000 test images" + (" (quick run: first 2,000)" if quick else "")
             + "; hyperparameters chosen on the 5,000 validation images (see the model files). "
             "Discrete rows: steady-state learners, mini-batches of 10, one process each with one BLAS thread, "
             "two processes at a time on a 2-core machine shared with other work.", "",
             "| row | model | paper | dendrosim | epochs | wall time | s / epoch (two-sweep / exact, timed) | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for name in ORDER:
        if name not in results:
            continue
        r = results[name]
        model, paper, desc = ROWS[name]
        if name == "continuous":
            ep = f"{r['patterns']} images ({r['epochs']:.2f} ep.)"
            tim = f"{r['patterns_per_s']:.1f} images/s"
            note = (f"{'-'.join(map(str, r['sizes']))}, {r['duration_ms']:.0f} ms per image, dt 0.1 ms; "
                    f"test error at the steady state without target on {r['n_test']} test images")
        else:
            ep = f"{r['epochs']:g}"
            t = timing.get(name, {})
            tim = " / ".join(_fmt(t.get(m), 0) for m in (("two_sweep", "exact") if "exact" in t else (next(iter(t), None),))
                             ) if t else "-"
            note = desc
            if "test_error_exact" in r:
                note += f"; exact steady state without target: {r['test_error_exact']:.2f} %"
            note += f"; train error last epoch {r['train_error_last_epoch']:.2f} %"
            if r["status"] != "completed":
                note += f"; {r['status']}: {r['message']}"
        val = f"{r['test_error']:.2f} %"
        lines.append(f"| {name} | {model}.toml | {_fmt(paper)}{' %' if paper else ''} | {val} | {ep} | "
                     f"{_wall(r['wall'])} | {tim} | {note} |")
        rows.append((name, paper, r["test_error"], r.get("epochs"), r["wall"]))
    lines += ["", f"Total wall time {total_wall / 60:.1f} min.", ""]
    (out / "table_mnist.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, name in enumerate(n for n in ORDER if n in results and n != "continuous"):
        c = results[name]["curve"]
        ax[0].semilogy([p[0] for p in c], [p[1] for p in c], ".-", color=f"C{i}", label=name)
        if ROWS[name][1]:
            ax[0].axhline(ROWS[name][1], color=f"C{i}", ls=":", lw=0.8)
    ax[0].set(title="test error, steady-state learners (dotted: paper)", xlabel="epoch", ylabel="test error (%)")
    ax[0].legend(fontsize=8)
    if "continuous" in results:
        c = results["continuous"]["curve"]
        ax[1].plot([p[0] for p in c], [p[1] for p in c], ".-", color="k")
        ax[1].set(title=f"continuous engine {'-'.join(map(str, results['continuous']['sizes']))}",
                  xlabel="training image", ylabel="test error (%)")
    fig.tight_layout()
    fig.savefig(out / "mnist.png", dpi=80)
    return rows


def main(out: Path, runs: Path, quick: bool = False, jobs: int = 2, rows=None) -> list:
    out, runs = Path(out), Path(runs)
    out.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    names = [n for n in ORDER if rows is None or n in rows]
    t_start = time.perf_counter()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    # step 1: timing, in a child with one BLAS thread
    tfile = runs / "mnist_timing.json"
    subprocess.run([sys.executable, __file__, "--timing", str(tfile)] + ["--rows", *[n for n in names if n in DISCRETE]],
                   env=env, check=True)
    timing = json.loads(tfile.read_text())
    print("time per epoch (s):", timing, flush=True)
    # step 2: train, --jobs processes at a time
    pending, running, results = list(names), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            name = pending.pop(0)
            jp = runs / f"mnist_{name}.json"
            log = open(runs / f"mnist_{name}.log", "w")
            cmd = [sys.executable, __file__, "--row", name, "--json", str(jp), "--runs", str(runs)]
            if quick:
                cmd.append("--quick")
            running[name] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), jp, log,
                             time.perf_counter())
            print(f"started {name}", flush=True)
        time.sleep(2)
        for name, (p, jp, log, t0) in list(running.items()):
            if p.poll() is None:
                continue
            log.close()
            del running[name]
            if p.returncode == 0 and jp.exists():
                results[name] = json.loads(jp.read_text())
                print(f"{name}: {results[name]['test_error']:.2f} % in {(time.perf_counter() - t0) / 60:.1f} min",
                      flush=True)
            else:
                print(f"{name}: failed (exit {p.returncode}), see {runs / f'mnist_{name}.log'}", flush=True)
    return write_outputs(out, results, timing, quick, time.perf_counter() - t_start)


def _cli(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=str(ROOT / "docs" / "reproduction"))
    p.add_argument("--runs", default=None)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--rows", nargs="*", default=None, choices=list(ROWS))
    p.add_argument("--row", choices=list(ROWS), help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    p.add_argument("--timing", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    runs = Path(a.runs) if a.runs else Path(tempfile.mkdtemp(prefix="dendrosim_mnist_"))
    if a.timing:
        names = a.rows or DISCRETE
        res = {n: time_per_epoch(n) for n in names}
        Path(a.timing).write_text(json.dumps(res))
        return
    if a.row:
        _one(a.row, runs, a.quick, a.json)
        return
    main(Path(a.out), runs, a.quick, a.jobs, a.rows)


if __name__ == "__main__":
    _cli()
