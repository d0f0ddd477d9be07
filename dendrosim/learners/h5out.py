"""A small HDF5 writer for learner runs, with the continuous engine's file layout.

Stand-in until :mod:`dendrosim.io` (HDF5Sink) is finished; the layout is the
contract of DESIGN.md sec. 5:

- root attributes ``dendrosim_version``, ``config`` (resolved TOML), ``seed``,
  ``dt``, ``status`` (running, completed, diverged, interrupted), ``message``,
  and ``learner`` (the rule);
- ``/metrics/t`` (attribute ``units = "trial"``: trials presented before the
  update) and one dataset per scalar metric (``loss``, ``correct``, ``test_mse``, ...);
- ``/weights/t`` (``units = "trial"``) and ``/weights/{group}{k}`` snapshots
  (time, post, pre); the first snapshot is the initial state;
- ``/trials/{y, target, correct, label, sq_error}``: one row per trial (sample),
  scored before the update on it; ``[learner] trials = "scores"`` keeps only
  ``correct``, ``label`` and ``sq_error`` (long runs: 8x less memory and disk).
"""

from __future__ import annotations

import h5py
import numpy as np

from .. import __version__


class H5Writer:
    def __init__(self, path, cfg, rule):
        self.f = h5py.File(path, "w")
        a = self.f.attrs
        a["dendrosim_version"] = __version__
        a["config"] = cfg.to_toml()
        a["seed"] = cfg.init.seed
        a["dt"] = cfg.simulation.dt
        a["learner"] = rule
        a["status"] = "running"
        a["message"] = ""
        self.wg = self.f.create_group("weights")
        self.f.flush()

    def weights(self, t, w: dict):
        g = self.wg
        if "t" not in g:
            g.create_dataset("t", shape=(0,), maxshape=(None,), dtype="f8").attrs["units"] = "trial"
            for name, arr in w.items():
                g.create_dataset(name, shape=(0, *arr.shape), maxshape=(None, *arr.shape),
                                 dtype=arr.dtype, chunks=(1, *arr.shape))
        n = g["t"].shape[0]
        g["t"].resize((n + 1,))
        g["t"][n] = t
        for name, arr in w.items():
            d = g[name]
            d.resize((n + 1, *arr.shape))
            d[n] = arr
        self.f.flush()

    def metrics(self, t, m: dict):
        g = self.f.require_group("metrics")
        g.create_dataset("t", data=np.asarray(t, dtype="f8")).attrs["units"] = "trial"
        for name, v in m.items():
            g.create_dataset(name, data=np.asarray(v))
        self.f.flush()

    def trials(self, d: dict):
        g = self.f.require_group("trials")
        for name, v in d.items():
            g.create_dataset(name, data=np.asarray(v))
        self.f.flush()

    def status(self, status, message=""):
        self.f.attrs["status"] = status
        self.f.attrs["message"] = message
        self.f.flush()

    def close(self):
        if self.f.id.valid:
            self.f.close()
