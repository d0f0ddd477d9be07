"""Shared by the Latent Equilibrium reproductions (reproduce_le_bars.py, reproduce_le_yinyang.py):
run model files through the CLI, one child process per run, skip finished runs, read results.

Each run is ``dendrosim run MODEL -o FILE --set ...`` in its own process with one numba thread
(NUMBA_NUM_THREADS=1), at most ``jobs`` at a time. A run whose file exists with status
"completed" is not run again, so an interrupted reproduction resumes where it stopped; an
unfinished file is run again from the start.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models" / "haider2021"
CLI = "from dendrosim.cli import main; main()"


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    for v in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = "1"
    return env


def is_complete(path: Path) -> bool:
    """True if ``path`` is a dendrosim file whose run finished."""
    if not path.exists():
        return False
    import dendrosim
    try:
        with dendrosim.load(path) as run:
            return run.status == "completed"
    except Exception:          # damaged or foreign file: run again
        return False


def run_one(model: Path, out: Path, overrides) -> float:
    """Run ``model`` with ``overrides`` into ``out``; returns the wall time (s)."""
    cmd = [sys.executable, "-c", CLI, "run", str(model), "-o", str(out), "--quiet", "--overwrite"]
    for ov in overrides:
        cmd += ["--set", ov]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=child_env(), capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{out.name}: dendrosim run exited {res.returncode}\n{res.stderr[-2000:]}")
    return time.perf_counter() - t0


def run_all(runs, jobs: int) -> dict:
    """``runs``: list of (model, out, overrides). Runs the unfinished ones, ``jobs`` at a time;
    returns {out: wall seconds} of those run now."""
    todo = [r for r in runs if not is_complete(r[1])]
    print(f"{len(runs) - len(todo)} of {len(runs)} runs already complete; running {len(todo)} "
          f"with {jobs} job(s)", flush=True)
    walls = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futs = {pool.submit(run_one, m, o, ov): o for m, o, ov in todo}
        for i, (f, o) in enumerate(futs.items()):
            walls[o] = f.result()
            print(f"  [{i + 1}/{len(todo)}] {o.name}: {walls[o]:.1f} s", flush=True)
    return walls


def accuracy_curve(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(patterns presented, test accuracy in %) at every evaluation of the run in ``path``."""
    import dendrosim
    with dendrosim.load(path) as run:
        _, acc = run.metric("test_accuracy")
    i = np.flatnonzero(~np.isnan(acc))
    return i + 1, 100.0 * acc[i]


def run_wall(path: Path) -> float:
    """Wall time (s) a finished run took: from the file's creation stamp to its last write."""
    import dendrosim
    from datetime import datetime
    with dendrosim.load(path) as run:
        created = datetime.fromisoformat(str(run.attrs["created"])).timestamp()
    return os.path.getmtime(path) - created


def final_accuracy(path: Path) -> float:
    """Test accuracy (%) at the end of the run: the task's last evaluation (after the last pattern)."""
    return float(accuracy_curve(path)[1][-1])


def mean_sem(values) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN for a single value)."""
    v = np.asarray(values, dtype=float)
    sem = float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return float(np.mean(v)), sem


def fmt_mean_sem(values) -> str:
    m, s = mean_sem(values)
    return f"{m:.1f}" if math.isnan(s) else f"{m:.1f} ± {s:.1f}"


def rel(path: Path) -> str:
    """``path`` relative to the repository when inside it (no machine paths in the reports)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return Path(path).name
