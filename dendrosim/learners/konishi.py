"""Seed sweeps and summary statistics for the Konishi et al. (2023) reproduction.

A *condition* is a model file of ``models/konishi2023`` plus ``--set``-style
overrides; :func:`sweep` runs it for many seeds in parallel processes (one
numba/BLAS thread each) and returns the learning curves as arrays.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[2] / "models" / "konishi2023"


def load(rule_file: str, overrides=(), seed=None):
    from .. import config
    ov = list(overrides) + ([f"init.seed={seed}"] if seed is not None else [])
    return config.load(MODELS / f"{rule_file}.toml", ov)


def _one(args):
    rule_file, overrides, seed = args
    from .runner import run
    res = run(load(rule_file, overrides, seed))
    m = res.metrics
    return (seed, m["test_correct"], m["test_mse"], res.trials["correct"], res.trials["label"],
            res.status, res.seconds)


def _init_worker():
    for v in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = "1"


def sweep(rule_file, seeds, overrides=(), workers=2, executor=None):
    """Run ``seeds`` (iterable of ints) of a condition; dict of stacked arrays (seed, ...)."""
    jobs = [(rule_file, tuple(overrides), int(s)) for s in seeds]
    if executor is not None:
        out = list(executor.map(_one, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    elif workers > 1:
        with ProcessPoolExecutor(workers, initializer=_init_worker) as ex:
            out = list(ex.map(_one, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        out = [_one(j) for j in jobs]
    return {"seed": np.array([o[0] for o in out]),
            "test_correct": np.stack([o[1] for o in out]),
            "test_mse": np.stack([o[2] for o in out]),
            "trial_correct": np.stack([o[3] for o in out]),
            "label": np.stack([o[4] for o in out]),
            "diverged": np.array([o[5] != "completed" for o in out]),
            "seconds": np.array([o[6] for o in out])}


def moving_average(a, window):
    """Trailing moving average along the last axis (NaN-aware; first window-1 entries partial)."""
    a = np.asarray(a, dtype=float)
    ok = np.isfinite(a)
    c = np.cumsum(np.where(ok, a, 0.0), axis=-1)
    n = np.cumsum(ok, axis=-1)
    c[..., window:] = c[..., window:] - c[..., :-window]
    n[..., window:] = n[..., window:] - n[..., :-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return c / n


def first_crossing(curve, level=0.8, window=50):
    """First index (0-based count of updates/trials done) at which the trailing ``window``
    average reaches ``level``, per row; NaN if never. Needs a full window."""
    ma = moving_average(curve, window)
    ma[..., : window - 1] = np.nan
    hit = ma >= level
    idx = np.where(hit.any(axis=-1), hit.argmax(axis=-1) + 1, -1).astype(float)
    idx[idx < 0] = np.nan
    return idx


def mean_sem(a, axis=0):
    """NaN-aware mean and standard error of the mean (NaN where no or one value)."""
    a = np.asarray(a, dtype=float)
    n = np.sum(np.isfinite(a), axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(a, axis=axis)
        s = np.nanstd(a, axis=axis, ddof=1) / np.sqrt(np.maximum(n, 1))
    return m, s


def summary(res, window=50, level=0.8, late=50, unit=1):
    """Trials to ``level`` on the seed-mean curve and per seed, late correct rate (mean, SEM).

    ``unit`` converts the curve's index (updates) to trials (batch size).
    """
    tc = res["test_correct"]
    per_seed = first_crossing(tc, level, window) * unit
    mean_curve = np.nanmean(tc, axis=0)
    on_mean = first_crossing(mean_curve, level, window) * unit
    late_rate = np.nanmean(tc[:, -late:], axis=1)
    lm, ls = mean_sem(late_rate)
    reached = np.isfinite(per_seed)
    med = float(np.nanmedian(per_seed)) if reached.any() else np.nan
    return {"to_level_mean_curve": float(on_mean), "to_level_median": med,
            "fraction_reached": float(reached.mean()), "late": float(lm), "late_sem": float(ls),
            "mse_end": float(np.nanmean(res["test_mse"][:, -late:]))}
