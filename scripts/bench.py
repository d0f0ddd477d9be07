"""Benchmarks: the compiled engine against a plain NumPy Euler step of the same equations,
measured in the same run.

    python scripts/bench.py [--quick] [--seconds S] [--json out.json] [--history history.csv]
    python scripts/bench.py --compare docs/performance/history.csv   # targets against earlier runs

(``dendrosim bench`` runs this script from a source checkout.)

Ratios hold on a noisy machine; absolute numbers do not. Every workload runs
with noise on (sigma 0.1), the tau_w trace as stated, forward (up), IP and PI
weights plastic and top-down fixed (the paper's setting), no recording.

Small float64 networks are also timed against a hand-written compiled loop for that one
network (``bench_floor.py`` beside this script): the fastest this step gets without the
engine's generality, in the same run.

``--history FILE.csv`` appends one row per measured figure in long format, header
``time,commit,host,workload,quantity,value,unit`` (:data:`HISTORY_COLUMNS`, :func:`long_rows`);
``--compare`` prints the targets against such a history or bench JSON files.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_compare import compare_main, long_rows, table
from bench_floor import floor_steps_per_second
from bench_io import bench_recording

from dendrosim import config
from dendrosim.engine.params import I_THREADS
from dendrosim.simulation import MemorySink, Simulation
from dendrosim.model.transfer import phi_np

WORKLOADS = [
    # name, sizes, dtype, tau_w, quick
    ("30-20-10 f64", (30, 20, 10), "float64", 30.0, True),
    ("30-20-10 f64 tau_w off", (30, 20, 10), "float64", 0.0, True),
    ("30-50-10 f64 (Fig 2)", (30, 50, 10), "float64", 30.0, True),
    ("30-50-10 f64 tau_w off", (30, 50, 10), "float64", 0.0, True),
    ("30-50-10 f32", (30, 50, 10), "float32", 30.0, True),
    ("784-500-500-10 f32 tau_w off", (784, 500, 500, 10), "float32", 0.0, False),
    ("784-500-500-10 f32 tau_w on", (784, 500, 500, 10), "float32", 30.0, False),
    ("784-500-500-10 f64 tau_w on", (784, 500, 500, 10), "float64", 30.0, False),
]


# Rounds per measurement: each row takes the best of ROUNDS interleaved engine / NumPy runs.
ROUNDS = 3


def bench_config(sizes, dtype, tau_w, n_steps, pattern_steps=1000):
    N = len(sizes) - 1
    n_pat = max(1, n_steps // pattern_steps)
    return config.from_dict({
        "network": {"sizes": list(sizes), "transfer": "soft_relu"},
        "plasticity": {"eta_up": [1e-4] * N, "eta_IP": [1e-4] * (N - 1), "eta_PI": [1e-4] * (N - 1),
                       "tau_w": tau_w},
        "simulation": {"dtype": dtype},
        "noise": {"sigma": 0.1},
        "init": {"scale": 0.1},
        "task": {"kind": "self_predicting", "n_patterns": n_pat, "duration": pattern_steps * 0.1},
        "record": {"variables": [], "block": pattern_steps},
    })


def engine_steps_per_second(sizes, dtype, tau_w, seconds=1.0, threads=None):
    """Euler steps per second of the compiled engine (compile excluded). ``threads``: the
    engine's thread count (default: numba's, which sweeps large matrices on several threads;
    small networks run the serial kernel either way); 1 gives the serial kernel."""
    def make(n):
        sim = Simulation(bench_config(sizes, dtype, tau_w, n))
        if threads is not None:
            sim.ip[I_THREADS] = threads
        return sim

    make(2000).run(MemorySink())   # warm up / compile
    n = 1000
    while True:
        sim = make(n)
        t = time.perf_counter()
        sim.run(MemorySink())
        el = time.perf_counter() - t
        if el > seconds * 0.5 or n > 5e7:
            return sim.state.step / el
        n = int(n * max(2.0, seconds / max(el, 1e-3)))


class NumpyStep:
    """A plain, vectorised NumPy Euler step of eqs. 1-10 (what a careful peer writes)."""

    def __init__(self, sizes, dtype, tau_w, rng):
        self.dt, self.tau_w, self.dtype = 0.1, tau_w, np.dtype(dtype)
        f = lambda *s: rng.uniform(-0.1, 0.1, s).astype(dtype)
        N = len(sizes) - 1
        self.N, self.sizes = N, sizes
        self.Wup = [f(sizes[k], sizes[k - 1]) for k in range(1, N + 1)]
        self.Wdown = [f(sizes[k], sizes[k + 1]) for k in range(1, N)]
        self.WIP = [f(sizes[k + 1], sizes[k]) for k in range(1, N)]
        self.WPI = [f(sizes[k], sizes[k + 1]) for k in range(1, N)]
        z = lambda W: np.zeros_like(W)
        self.Dup, self.DIP, self.DPI = [z(W) for W in self.Wup], [z(W) for W in self.WIP], [z(W) for W in self.WPI]
        self.u = [np.zeros(s, dtype) for s in sizes[1:]]
        self.uI = [np.zeros(sizes[k + 1], dtype) for k in range(1, N)]
        self.r0 = np.zeros(sizes[0], dtype)
        self.x = rng.uniform(0, 1, sizes[0]).astype(dtype)
        self.rng = np.random.default_rng(1)
        c = lambda v: self.dtype.type(v)
        self.g = dict(l=c(0.1), B=c(1.0), A=c(0.8), D=c(1.0), som=c(0.8))
        self.eta = c(1e-4)

    def step(self):
        g, dt, N, dtype = self.g, self.dtype.type(self.dt), self.N, self.dtype
        phi = lambda u: phi_np(u, "soft_relu").astype(dtype, copy=False)
        r = [self.r0] + [phi(u) for u in self.u]
        rI = [phi(u) for u in self.uI]
        vB = [self.Wup[k] @ r[k] for k in range(N)]
        vA = [self.Wdown[k] @ r[k + 2] + self.WPI[k] @ rI[k] for k in range(N - 1)]
        vI = [self.WIP[k] @ r[k + 1] for k in range(N - 1)]
        du = []
        for k in range(N):
            u = self.u[k]
            d = -g["l"] * u + g["B"] * (vB[k] - u)
            if k < N - 1:
                d += g["A"] * (vA[k] - u)
            du.append(d)
        duI = [-g["l"] * self.uI[k] + g["D"] * (vI[k] - self.uI[k]) + g["som"] * (self.u[k + 1] - self.uI[k])
               for k in range(N - 1)]
        grads = []
        for k in range(N):
            att = g["B"] / (g["l"] + g["B"] + (g["A"] if k < N - 1 else 0))
            grads.append((self.Wup, self.Dup, k, np.outer(r[k + 1] - phi(att * vB[k]), r[k])))
        for k in range(N - 1):
            aI = g["D"] / (g["l"] + g["D"])
            grads.append((self.WIP, self.DIP, k, np.outer(rI[k] - phi(aI * vI[k]), r[k + 1])))
            grads.append((self.WPI, self.DPI, k, np.outer(-vA[k], rI[k])))
        for Ws, Ds, k, G in grads:
            if self.tau_w > 0:
                Ds[k] += (dt / dtype.type(self.tau_w)) * (G - Ds[k])
                Ws[k] += (dt * self.eta) * Ds[k]
            else:
                Ws[k] += (dt * self.eta) * G
        s = dtype.type(0.1 * self.dt)
        for k in range(N):
            self.u[k] += dt * du[k] + s * self.rng.standard_normal(self.u[k].shape, dtype=dtype)
        for k in range(N - 1):
            self.uI[k] += dt * duI[k] + s * self.rng.standard_normal(self.uI[k].shape, dtype=dtype)
        self.r0 += (dt / dtype.type(3.0)) * (self.x - self.r0)


def numpy_steps_per_second(sizes, dtype, tau_w, seconds=1.0):
    st = NumpyStep(sizes, dtype, tau_w, np.random.default_rng(0))
    for _ in range(3):
        st.step()
    n, el = 0, 0.0
    t = time.perf_counter()
    while el < seconds:
        for _ in range(20):
            st.step()
        n += 20
        el = time.perf_counter() - t
    return n / el


def copy_bandwidth_gbs(nbytes=16 * 2**20):
    """Read+write bandwidth of a cache-sized array copy, GB/s (the large net's working set)."""
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    best = 0.0
    for _ in range(20):
        t = time.perf_counter()
        np.copyto(b, a)
        best = max(best, 2 * nbytes / (time.perf_counter() - t) / 1e9)
    return best


def bytes_per_step(sizes, dtype, tau_w):
    """Minimum memory traffic of one step: read every weight, read+write every plastic one."""
    N = len(sizes) - 1
    item = np.dtype(dtype).itemsize
    up = sum(sizes[k] * sizes[k - 1] for k in range(1, N + 1))
    lat = sum(sizes[k] * sizes[k + 1] for k in range(1, N))
    plastic = up + 2 * lat                 # up, IP, PI
    fixed = lat                            # down
    traffic = fixed + 2 * plastic
    if tau_w > 0:
        traffic += 2 * plastic
    return traffic * item


def ensemble_speedup(n_seeds=64, n_patterns=20, sizes=(30, 20, 10)):
    """Wall time of 64 separate runs (one after another, same process) with the engine's
    default threads and with one thread each, and of one ensemble call; each the best of
    ROUNDS interleaved measurements. Returns (separate, separate on one thread, together) in seconds."""
    from dendrosim.ensemble import Ensemble
    cfg = bench_config(sizes, "float64", 30.0, n_patterns * 1000)
    Ensemble(bench_config(sizes, "float64", 30.0, 1000), range(2)).run([MemorySink(), MemorySink()])
    best = [float("inf")] * 3

    def separate(threads):
        t = time.perf_counter()
        for s in range(n_seeds):
            sim = Simulation(config.from_dict({**cfg.to_dict(), "init": {**cfg.to_dict()["init"], "seed": s}}))
            if threads is not None:
                sim.ip[I_THREADS] = threads
            sim.run(MemorySink())
        return time.perf_counter() - t

    for _ in range(ROUNDS):
        best[0] = min(best[0], separate(None))
        best[1] = min(best[1], separate(1))
        t = time.perf_counter()
        Ensemble(cfg, range(n_seeds)).run([MemorySink() for _ in range(n_seeds)])
        best[2] = min(best[2], time.perf_counter() - t)
    return tuple(best)


def mnist_steady_ratio(n_images=5000, batch=10, methods=("two_sweep", "exact")):
    """Time of a steady-state dendritic training pass over ``n_images`` (784-500-500-10,
    mini-batches of 10, float64) over a plain NumPy BP pass of the same net and data.

    Real MNIST if it can be found, else random images of the same shape (the ratio
    hardly depends on the data). Returns {method: (ratio, ms per batch, BP ms per batch)}.
    """
    from dendrosim.learners import setup
    rng = np.random.default_rng(0)
    try:
        from dendrosim.datasets import load_mnist
        X, y = load_mnist(split="train")
        X, y = np.asarray(X[:n_images], dtype=np.float64), np.asarray(y[:n_images])
    except (FileNotFoundError, ValueError):
        X, y = rng.uniform(0, 1, (n_images, 784)), rng.integers(0, 10, n_images)
    T = np.full((len(y), 10), np.log(0.1 / 0.9))
    T[np.arange(len(y)), y] = np.log(0.8 / 0.2)
    nb = len(X) // batch

    def cfg_for(method):
        return config.from_dict({
            "network": {"sizes": [784, 500, 500, 10], "transfer": "logistic", "bias": True},
            "plasticity": {"eta_up": [0.1] * 3, "eta_IP": [0.1] * 2, "tau_w": 0.0},
            "simulation": {"integrator": "steady"},
            "init": {"scale": 0.05, "self_predicting": True, "seed": 1},
            "learner": {"rule": "dendritic", "steady": method, "batch_size": batch, "tol": 1e-8}})

    def bp_pass(ws):
        W1, b1, W2, b2, W3, b3 = [w.copy() for w in ws]
        sig = lambda u: 0.5 * (1 + np.tanh(0.5 * u))
        t0 = time.perf_counter()
        for i in range(nb):
            x, t = X[i * batch:(i + 1) * batch], T[i * batch:(i + 1) * batch]
            r1 = sig(x @ W1.T + b1)
            r2 = sig(r1 @ W2.T + b2)
            u3 = r2 @ W3.T + b3
            r3 = sig(u3)
            d3 = r3 * (1 - r3) * (t - u3)
            d2 = r2 * (1 - r2) * (d3 @ W3)
            d1 = r1 * (1 - r1) * (d2 @ W2)
            eta = 0.1 / batch
            W3 += eta * d3.T @ r2
            b3 += eta * d3.sum(0)
            W2 += eta * d2.T @ r1
            b2 += eta * d2.sum(0)
            W1 += eta * d1.T @ x
            b1 += eta * d1.sum(0)
        return time.perf_counter() - t0

    from threadpoolctl import threadpool_limits
    out = {}
    with threadpool_limits(limits=1):      # both sides single-threaded BLAS, as the runner does
        for method in methods:
            _one(method, cfg_for, setup, bp_pass, X, T, nb, batch, out)
    return out


def _one(method, cfg_for, setup, bp_pass, X, T, nb, batch, out):
    """Time one steady-state method against BP on the same initial weights (best of ROUNDS
    passes each, interleaved, so that a busy spell of the host hits both sides)."""
    t_bp, t_d = [], []
    for _ in range(ROUNDS):
        _, net, _, lrn = setup(cfg_for(method))
        t_bp.append(bp_pass([net.w(n) for n in ("up1", "b_up1", "up2", "b_up2", "up3", "b_up3")]))
        t0 = time.perf_counter()
        for i in range(nb):
            lrn.step(X[i * batch:(i + 1) * batch], T[i * batch:(i + 1) * batch])
        t_d.append(time.perf_counter() - t0)
    out[method] = (min(t_d) / min(t_bp), min(t_d) / nb * 1e3, min(t_bp) / nb * 1e3)


def second_start_seconds():
    """Wall time of ``dendrosim run`` on a one-step config in a fresh process (JIT cache warm)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        cfgf = Path(d) / "tiny.toml"
        cfgf.write_text('[network]\nsizes = [30, 20, 10]\n[noise]\nsigma = 0.1\n[plasticity]\n'
                        'eta_up = 0.001\neta_IP = 0.001\neta_PI = 0.001\n'
                        '[task]\nkind = "self_predicting"\nn_patterns = 1\nduration = 0.1\n')
        cmd = [sys.executable, "-m", "dendrosim.cli", "run", str(cfgf), "-o", str(Path(d) / "o.h5"), "--quiet", "--overwrite"]
        subprocess.run(cmd, check=True, capture_output=True)          # fills the cache
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            best = min(best, time.perf_counter() - t)
    return best


def host() -> str:
    """A short description of the machine: cores and CPU model (Linux), else the platform's."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        model = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        if " avx512f" in info:
            model += " (AVX-512)"
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()}-core {model}"


def commit() -> str:
    """``git rev-parse --short HEAD`` of the checkout the measured dendrosim comes from, or ""."""
    import dendrosim
    try:
        out = subprocess.run(["git", "-C", str(Path(dendrosim.__file__).parent), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


HISTORY_COLUMNS = ("time", "commit", "host", "workload", "quantity", "value", "unit")


def append_history(path, run: dict, commit_id: str, host_name: str) -> int:
    """Append the figures of ``run`` (a bench result as :func:`main` builds it) to the long-format
    CSV ``path``, writing the header first if the file is new or empty. Returns the rows written."""
    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    rows = long_rows(run)
    with open(path, "a", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if new:
            w.writerow(HISTORY_COLUMNS)
        for workload, quantity, value, unit in rows:
            w.writerow([run["time"], commit_id, host_name, workload, quantity, f"{value:.10g}", unit])
    return len(rows)


def main(quick=False, json_path=None, seconds=1.0, history_path=None) -> int:
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    bw = copy_bandwidth_gbs()
    print(f"dendrosim bench: {host()}, copy bandwidth {bw:.1f} GB/s")
    print(f"{'workload':<32}{'engine steps/s':>16}{'numpy steps/s':>16}{'ratio':>9}{'GB/s':>8}"
          f"{'hand loop':>12}{'engine/loop':>12}{'1 thread':>12}")
    results = []
    for name, sizes, dtype, tau_w, is_quick in WORKLOADS:
        if quick and not is_quick:
            continue
        small = len(sizes) == 3 and dtype == "float64"
        eng, ref, loop, one = 0.0, 0.0, 0.0, 0.0
        for _ in range(ROUNDS):     # interleaved, best of each: a busy spell of the host hits both sides
            eng = max(eng, engine_steps_per_second(sizes, dtype, tau_w, seconds))
            ref = max(ref, numpy_steps_per_second(sizes, dtype, tau_w, seconds))
            if small:
                loop = max(loop, floor_steps_per_second(sizes, tau_w, seconds))
                one = max(one, engine_steps_per_second(sizes, dtype, tau_w, seconds, threads=1))
        gbs = eng * bytes_per_step(sizes, dtype, tau_w) / 1e9
        cmp = f"{loop:>12,.0f}{eng / loop:>12.2f}{one:>12,.0f}" if small else ""
        print(f"{name:<32}{eng:>16,.0f}{ref:>16,.0f}{eng / ref:>9.1f}{gbs:>8.1f}{cmp}", flush=True)
        results.append(dict(workload=name, sizes=sizes, dtype=dtype, tau_w=tau_w, engine_steps_per_s=eng,
                            numpy_steps_per_s=ref, ratio=eng / ref, effective_GBps=gbs,
                            hand_loop_steps_per_s=loop if small else None,
                            engine_one_thread_steps_per_s=one if small else None))
    rec = bench_recording(n_patterns=100 if quick else 500)
    ovh = 100 * rec["overhead"]
    print(f"\n30-50-10 recording u_P, v_A, u_I to HDF5 every 10 steps: {rec['steps_per_s_hdf5']:,.0f} steps/s "
          f"against {rec['steps_per_s_none']:,.0f} without recording (overhead {ovh:.1f} %"
          f"{', i.e. within the noise of the host' if ovh < 0 else ''}; {rec['mb_per_sim_s']:.2f} MB per simulated s)",
          flush=True)
    sep, sep1, tog = ensemble_speedup(n_patterns=5 if quick else 20)
    print(f"64 seeds of 30-20-10, {'5' if quick else '20'} patterns each: one ensemble call {tog:.2f} s, 64 separate "
          f"runs {sep:.2f} s ({sep / tog:.1f}x faster; separate runs on one thread each {sep1:.2f} s, "
          f"{sep1 / tog:.1f}x)", flush=True)
    if not quick:
        mn = mnist_steady_ratio()
        for method in ("two_sweep", "exact"):
            ratio, ms, bp_ms = mn[method]
            print(f"MNIST steady-state epoch, {method}: {ms:.2f} ms per batch of 10 against {bp_ms:.2f} ms for "
                  f"NumPy BP ({ratio:.2f}x BP's time)", flush=True)
        results.append(dict(workload="MNIST steady-state epoch 784-500-500-10", per_batch_ms=mn))
    start = second_start_seconds()
    print(f"second start of dendrosim run: {start:.2f} s to the end of a one-step run (fresh process, cache warm)")
    extra = dict(recording=rec, ensemble_separate_s=sep, ensemble_together_s=tog, ensemble_speedup=sep / tog,
                 ensemble_separate_one_thread_s=sep1, ensemble_speedup_one_thread=sep1 / tog,
                 second_start_s=start)
    run = dict(copy_bandwidth_GBps=bw, time=started, results=results, **extra)
    print("\nTargets:\n" + table([("this run", run)]))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(run, f, indent=1)
        print(f"wrote {json_path}")
    if history_path:
        n = append_history(history_path, run, commit(), host())
        print(f"appended {n} rows to {history_path}")
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small networks only")
    p.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1)")
    p.add_argument("--json", help="write the results to this JSON file")
    p.add_argument("--history", metavar="FILE.csv",
                   help="append one row per measured figure to this long-format CSV "
                        "(time,commit,host,workload,quantity,value,unit)")
    p.add_argument("--compare", nargs="+", metavar="FILE",
                   help="measure nothing: print the targets against these history CSV or bench JSON files")
    return p.parse_args(argv)


if __name__ == "__main__":
    a = parse_args()
    if a.compare:
        sys.exit(compare_main(a.compare))
    if a.seconds <= 0:
        print("bench: --seconds must be positive", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(quick=a.quick, json_path=a.json, seconds=a.seconds, history_path=a.history))
