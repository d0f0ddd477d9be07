"""HDF5 writer for learner runs: the continuous engine's layout, counted in trials.

The layout is documented in ``docs/hdf5_layout.md`` ("Discrete learners"):

- the engine's root attributes (:func:`dendrosim.io.hdf5.write_root_attrs`) with
  ``time_unit = "trial"``, ``total_steps`` = planned updates, ``n_patterns`` =
  planned trials, plus ``learner`` (the rule);
- ``/weights/t`` (``units = "trial"``: trials presented before the snapshot) and
  ``/weights/{group}{k}`` snapshots (time, post, pre); the first is the initial state;
- ``/metrics/t`` (``units = "trial"``: trials presented before the update) and one
  dataset per update for each metric of :data:`METRICS`;
- ``/trials/{y, target, correct, label, sq_error}``: one row per trial (sample),
  scored before the update on it; ``[learner] trials = "scores"`` keeps only
  ``correct``, ``label`` and ``sq_error`` (long runs: 8x less memory and disk).

Every dataset has ``units`` and ``long_name`` attributes. Metrics and trials are appended as
the updates finish (about once a second, runner.FLUSH_SECONDS) and once more when the run
stops, however it stops: an interrupted or failed run keeps every finished update. The file
is not written in SWMR mode (``swmr = False``).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from ..engine.select import select
from ..io.hdf5 import temporary_path, write_root_attrs

TIME_UNIT = "trial"

# name: (units, long_name); "dimensionless" as in the engine's files
METRICS = {
    "update": ("update", "index of the update (number of updates before it)"),
    "loss": ("dimensionless", "mean over the update's trials of sum over outputs of (target - y)^2, "
                              "y the output before the update (NaN: no target)"),
    "correct": ("dimensionless", "fraction of the update's trials answered correctly before the update "
                                 "(NaN: no score)"),
    "correct_new": ("dimensionless", "as correct, over the trials of new patterns only "
                                     "(tasks with is_new, e.g. reward; NaN otherwise)"),
    "test_mse": ("dimensionless", "mean over the test set of sum over outputs of (target - y)^2 after "
                                  "the update (NaN: not evaluated at this update or no test set)"),
    "test_correct": ("dimensionless", "fraction of the test set answered correctly after the update "
                                      "(NaN: not evaluated at this update or no test set)"),
}
TRIALS = {
    "y": ("dimensionless", "output u_N before the update on the trial"),
    "target": ("dimensionless", "output target of the trial (NaN: none)"),
    "correct": ("dimensionless", "1 if the output before the update was correct, 0 if not (NaN: no score)"),
    "label": ("index", "class label or pattern id of the trial (-1: none)"),
    "sq_error": ("dimensionless", "sum over outputs of (target - y)^2 before the update (NaN: no target)"),
}


def _growing(group, name, values, units, long_name=None):
    """A dataset holding ``values`` that later rows are appended to (axis 0)."""
    v = np.asarray(values)
    d = group.create_dataset(name, data=v, maxshape=(None, *v.shape[1:]), chunks=(4096, *v.shape[1:]))
    return _describe(d, units, long_name)


def _describe(d, units, long_name=None):
    d.attrs["units"] = units
    if long_name:
        d.attrs["long_name"] = long_name
    return d


class H5Writer:
    """Write one learner run to ``path``: :meth:`plan` once the task is built, :meth:`weights`
    per snapshot, :meth:`rows` as updates finish, then :meth:`status` and :meth:`close`."""

    def __init__(self, path, cfg, rule):
        """Create ``path`` (replacing it): built beside it and renamed into place, so that a
        stop during the set-up leaves the previous file, not a half-made one. The caller holds
        the file's :class:`~dendrosim.io.lock.WriterLock`."""
        path = Path(path)
        tmp = temporary_path(path)
        try:
            with h5py.File(tmp, "w") as f:
                # total_steps / n_patterns are -1 until plan() (they need the built task)
                write_root_attrs(f, cfg, dt=cfg.simulation.dt, dtype=cfg.simulation.dtype, total_steps=-1,
                                 n_patterns=-1, swmr=False, time_unit=TIME_UNIT, kernel=select(cfg).kernel)
                f.attrs["learner"] = rule
                f.create_group("weights").attrs["t_convention"] = \
                    "t is the number of trials presented before the snapshot"
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.f = h5py.File(path, "r+")
        self.wg = self.f["weights"]

    def plan(self, n_updates: int, n_trials: int):
        """Planned length of the run: ``total_steps`` (updates) and ``n_patterns`` (trials)."""
        self.f.attrs["total_steps"] = int(n_updates)
        self.f.attrs["n_patterns"] = int(n_trials)
        self.f.flush()

    def weights(self, t, w: dict):
        """Append one snapshot of every weight array; ``t`` = trials presented so far."""
        g = self.wg
        if "t" not in g:
            ts = _describe(g.create_dataset("t", shape=(0,), maxshape=(None,), dtype="f8"),
                           TIME_UNIT, "trials presented before the weight snapshot")
            ts.make_scale("time")
            for name, arr in w.items():
                d = _describe(g.create_dataset(name, shape=(0, *arr.shape), maxshape=(None, *arr.shape),
                                               dtype=arr.dtype, chunks=(1, *arr.shape)),
                              "dimensionless", "weights (post, pre)" if arr.ndim == 2 else "thresholds (post)")
                d.dims[0].attach_scale(ts)
                d.dims[0].label = "time"
        n = g["t"].shape[0]
        g["t"].resize((n + 1,))
        g["t"][n] = t
        for name, arr in w.items():
            d = g[name]
            d.resize((n + 1, *arr.shape))
            d[n] = arr
        self.f.flush()

    def rows(self, metrics: dict, trials: dict):
        """Append the rows of the updates finished since the last call (runner.run's on_rows):
        ``metrics`` one row per update ("t": trials presented before it, and the metrics of
        :data:`METRICS`), ``trials`` one row per trial (sample) of those updates."""
        g = self.f.require_group("metrics")
        if "t" not in g:
            g.attrs["t_convention"] = "t is the number of trials presented before the update"
            _growing(g, "t", metrics["t"], TIME_UNIT, "trials presented before the update").make_scale("time")
            for name, v in metrics.items():
                if name != "t":
                    d = _growing(g, name, v, *METRICS.get(name, ("dimensionless",)))
                    d.dims[0].attach_scale(g["t"])
                    d.dims[0].label = "time"
            gt = self.f.require_group("trials")
            gt.attrs["description"] = "row i is trial i, scored on the output before the update it is part of"
            for name, v in trials.items():
                _growing(gt, name, v, *TRIALS.get(name, ("dimensionless",)))
        else:
            for group, values in (("metrics", metrics), ("trials", trials)):
                for name, v in values.items():
                    d = self.f[f"{group}/{name}"]
                    n = d.shape[0]
                    d.resize((n + len(v), *d.shape[1:]))
                    d[n:] = v
        self.f.flush()

    def status(self, status, message=""):
        self.f.attrs["status"] = status
        self.f.attrs["message"] = message
        self.f.flush()

    def close(self):
        if self.f.id.valid:
            self.f.close()
