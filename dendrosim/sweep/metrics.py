"""Scalar metric series of one output file (continuous engine or learner layout).

Every float dataset under ``/metrics`` with one row per pattern (or update) is a
metric. A per-hidden-layer metric of shape (time, n) becomes n series named
``name[k]`` with k the hidden layer (``apical_norm[1]``); integer series
(``pattern``, ``update``) are labels, not metrics.
"""

from __future__ import annotations

import math
import warnings

import h5py
import numpy as np

from ..io.layout import open_read, text_attr

TAIL_FRACTION = 0.1


def tail_rows(n: int, fraction: float = TAIL_FRACTION) -> int:
    """Rows averaged for "the last 10 % of patterns": max(1, floor(fraction * n))."""
    return max(1, int(math.floor(fraction * n + 1e-9)))


def read_metrics(path) -> tuple[np.ndarray, dict, str]:
    """``(t, {name: values}, t_units)`` of every scalar metric series in the file."""
    with open_read(path) as f:
        if "metrics/t" not in f:
            return np.zeros(0), {}, ""
        g = f["metrics"]
        t = g["t"][()]
        units = text_attr(g["t"].attrs.get("units", "ms"))
        layers = g["hidden_layer"][()] if "hidden_layer" in g else None
        out = {}
        for name in sorted(g):
            d = g[name]
            if name in ("t", "hidden_layer") or not isinstance(d, h5py.Dataset) or d.dtype.kind != "f":
                continue
            if d.ndim == 0 or d.ndim > 2:
                continue
            n = min(d.shape[0], t.shape[0])
            v = d[:n]
            if d.ndim == 1:
                out[name] = v.astype(np.float64)
            else:
                ids = layers if layers is not None and len(layers) == d.shape[1] else np.arange(d.shape[1])
                for j, k in enumerate(ids):
                    out[f"{name}[{int(k)}]"] = v[:, j].astype(np.float64)
        n = min([t.shape[0], *(v.shape[0] for v in out.values())])
        return t[:n], {k: v[:n] for k, v in out.items()}, units


def summarize_series(values: np.ndarray, fraction: float = TAIL_FRACTION) -> tuple[float, float]:
    """(last value, NaN-mean over the last ``tail_rows`` rows); NaN when empty."""
    if values.size == 0:
        return math.nan, math.nan
    k = tail_rows(values.size, fraction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tail = float(np.nanmean(values[-k:]))
    return float(values[-1]), tail


def final_metrics(path, fraction: float = TAIL_FRACTION) -> tuple[dict, dict]:
    """({metric: last value}, {metric: mean over the last 10 % of patterns})."""
    _, series, _ = read_metrics(path)
    last, tail = {}, {}
    for k, v in series.items():
        last[k], tail[k] = summarize_series(v, fraction)
    return last, tail


def select(series: dict, name: str) -> np.ndarray:
    """Series ``name``; a per-layer metric given without ``[k]`` is accepted when it has one layer."""
    if name in series:
        return series[name]
    cols = [k for k in series if k.startswith(name + "[")]
    if len(cols) == 1:
        return series[cols[0]]
    if cols:
        raise KeyError(f"metric {name!r} has one series per hidden layer: use one of {cols}")
    raise KeyError(f"no metric {name!r}; metrics: {', '.join(series) or 'none'}")


def resolve_name(names, name: str) -> str:
    """The series label that :func:`select` would pick for ``name``."""
    if name in names:
        return name
    cols = [k for k in names if k.startswith(name + "[")]
    if len(cols) == 1:
        return cols[0]
    if cols:
        raise KeyError(f"metric {name!r} has one series per hidden layer: use one of {cols}")
    raise KeyError(f"no metric {name!r}; metrics: {', '.join(sorted(names)) or 'none'}")
