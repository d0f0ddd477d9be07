"""Reading dendrosim HDF5 files: :func:`load` -> :class:`Run`, and :func:`info`.

Works on finished files and on files still being written (SWMR readers; see
:func:`~dendrosim.io.layout.open_read`). Datasets are read lazily. On a live file a
:class:`Run` shows what was flushed when it was opened or last :meth:`Run.refresh`-ed;
every accessor returns a consistent prefix (time and values of equal length).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from .layout import open_read, require_dendrosim, text_attr


class ConfigText(dict):
    """The run's resolved configuration: a dict parsed from TOML, with ``.text`` the TOML."""

    def __init__(self, text: str):
        super().__init__(tomllib.loads(text) if text else {})
        self.text = text


class _Group(Mapping):
    """Lazy read-only mapping ``name -> h5py.Dataset`` of one top-level group."""

    def __init__(self, run, group, skip):
        self._run, self._group, self._skip = run, group, skip

    def _names(self):
        f = self._run._f
        if self._group not in f:
            return []
        out = []
        t = f[self._group].get("t")
        n_t = t.shape[0] if isinstance(t, h5py.Dataset) else -1

        def visit(name, obj):
            # time-first data: resizable (streamed) or as long as the group's t (written whole,
            # e.g. by the discrete learners); never a dimension scale such as a neuron index
            if (isinstance(obj, h5py.Dataset) and obj.ndim >= 1 and name.rsplit("/", 1)[-1] not in self._skip
                    and not h5py.h5ds.is_scale(obj.id)
                    and ((obj.maxshape and obj.maxshape[0] is None) or obj.shape[0] == n_t)):
                out.append(name)
        f[self._group].visititems(visit)
        return out

    def __getitem__(self, name):
        if name not in self._names():
            raise KeyError(f"{self._run.path}: no dataset {self._group}/{name}; "
                           f"available: {', '.join(self._names()) or 'none'}")
        return self._run._f[f"{self._group}/{name}"]

    def __iter__(self):
        return iter(self._names())

    def __len__(self):
        return len(self._names())

    def __repr__(self):
        return f"<{self._group}: {', '.join(self._names())}>"


class Run:
    """One simulation's output file (lazy). Use :func:`load`.

    Attributes
    ----------
    attrs : dict of root attributes; ``status``, ``message``: run state.
    time_unit : what every ``t`` counts: ``"ms"`` (continuous engine) or ``"trial"``
        (discrete learners: trials presented), for axis labels.
    config : :class:`ConfigText` (dict parsed from the stored TOML; ``.text``).
    traces, weights, metrics : lazy mappings ``name -> h5py.Dataset`` (time first),
        e.g. ``run.traces["layer1/v_A"]``; use :meth:`trace`, :meth:`weight`,
        :meth:`metric` for ``(t, values)`` numpy pairs of a consistent length.
    """

    def __init__(self, path, probe_timeout: float | None = None):
        """``probe_timeout``: see :func:`~dendrosim.io.layout.open_read` (the CLI sets it)."""
        self.path = Path(path)
        self._f = open_read(self.path, probe_timeout)
        self.traces = _Group(self, "traces", ("t",))
        self.weights = _Group(self, "weights", ("t",))
        self.metrics = _Group(self, "metrics", ("t",))

    # -- lifecycle ------------------------------------------------------------------
    def refresh(self) -> Run:
        """Reopen the file to see what a running writer has flushed since."""
        self._f.close()
        self._f = open_read(self.path)
        return self

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<Run {self.path} status={self.status!r} t={self.duration:.1f} {self.time_unit}>"

    # -- metadata -------------------------------------------------------------------
    @property
    def file(self) -> h5py.File:
        return self._f

    @property
    def attrs(self) -> dict:
        return {k: (text_attr(v) if isinstance(v, (bytes, str)) else v) for k, v in self._f.attrs.items()}

    @property
    def status(self) -> str:
        return text_attr(self._f.attrs.get("status", "unknown"))

    @property
    def message(self) -> str:
        return text_attr(self._f.attrs.get("message", ""))

    @property
    def config(self) -> ConfigText:
        return ConfigText(text_attr(self._f.attrs.get("config", "")))

    @property
    def cfg(self):
        """The configuration as a validated :class:`dendrosim.config.Config`."""
        from ..config import from_dict
        return from_dict(dict(self.config))

    @property
    def time_unit(self) -> str:
        """Unit of every ``t`` in the file: ``"ms"`` (simulated time) or ``"trial"`` (learners).

        From the root attribute ``time_unit``; files written before it existed fall back
        to the ``units`` of ``/metrics/t`` (learner files said ``"trial"`` there), else ms.
        """
        f = self._f
        if "time_unit" in f.attrs:
            return text_attr(f.attrs["time_unit"])
        if "metrics/t" in f:
            return text_attr(f["metrics/t"].attrs.get("units", "ms"))
        return "ms"

    @property
    def is_learner(self) -> bool:
        """True for a discrete learner's file (root attribute ``learner``)."""
        return "learner" in self._f.attrs

    @property
    def dt(self) -> float:
        return float(self._f.attrs["dt"])

    @property
    def sizes(self) -> tuple:
        return tuple(int(n) for n in self._f.attrs.get("sizes", self.config.get("network", {}).get("sizes", ())))

    @property
    def depth(self) -> int:
        return len(self.sizes) - 1

    # -- data -----------------------------------------------------------------------
    def _pair(self, group, name, index=None, window=None):
        f = self._f
        t = f[f"{group}/t"]
        d = _Group(self, group, ("t",))[name]
        n = min(t.shape[0], d.shape[0])
        tv = t[:n]
        lo, hi = 0, n
        if window is not None:         # only the rows inside [t0, t1] are read from the file
            lo, hi = np.searchsorted(tv, window[0], "left"), np.searchsorted(tv, window[1], "right")
            tv = tv[lo:hi]
        if index is None:
            return tv, d[lo:hi]
        return tv, d[lo:hi, index]

    def trace(self, name: str, neurons=None, window=None) -> tuple[np.ndarray, np.ndarray]:
        """``(t, values)`` of trace ``"layer{k}/{variable}"``: t (ms) and values (time, neurons).

        ``neurons``: neuron indices of the network (not columns); default all recorded.
        ``window``: (t0, t1) in ms, only the samples with t0 <= t <= t1 (read from the file
        alone: a window of a long run costs its own size, not the run's).
        """
        if neurons is None:
            return self._pair("traces", name, window=window)
        cols = self.columns(name, neurons)
        t, v = self._pair("traces", name, window=window)
        return t, v[:, cols]

    def neurons(self, name: str) -> np.ndarray:
        """Network indices of the recorded columns of trace ``name``."""
        d = self.traces[name]
        scale = d.dims[1]
        if len(scale):
            return scale[0][()]
        return np.arange(d.shape[1])

    def columns(self, name: str, neurons) -> np.ndarray:
        """Columns of trace ``name`` holding network neurons ``neurons`` (KeyError if not recorded)."""
        ids = self.neurons(name)
        where = {int(n): i for i, n in enumerate(ids)}
        missing = [int(n) for n in np.atleast_1d(neurons) if int(n) not in where]
        if missing:
            raise KeyError(f"{name}: neurons {missing} were not recorded (recorded: {ids.tolist()})")
        return np.array([where[int(n)] for n in np.atleast_1d(neurons)], dtype=np.int64)

    def weight(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(t, W)`` snapshots of weight ``name`` (``up1``, ``PI1``...): W (time, post, pre)."""
        return self._pair("weights", name)

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(t, values)`` of metric ``name``: one row per pattern, t its end (ms), or for
        a learner one row per update, t the trials presented before it (:attr:`time_unit`)."""
        return self._pair("metrics", name)

    @property
    def t(self) -> np.ndarray:
        """Sample times of the traces (ms)."""
        return self._f["traces/t"][()] if "traces/t" in self._f else np.zeros(0)

    @property
    def duration(self) -> float:
        """Time covered by the file so far, in :attr:`time_unit` (ms, or trials for a learner)."""
        last = 0.0
        for g in ("traces", "weights", "metrics"):
            p = f"{g}/t"
            if p in self._f and self._f[p].shape[0]:
                last = max(last, float(self._f[p][-1]))
        return last

    def checkpoint(self) -> dict | None:
        """The newest valid checkpoint: ``{"t", "segment", "step", "lengths"}`` or None."""
        from .hdf5 import read_checkpoint
        ck = read_checkpoint(self._f)
        if ck is None:
            return None
        snap, lengths, slot, _ = ck
        return {"t": float(self._f[f"checkpoint/slot{slot}/t"][()]), "segment": int(snap["segment"]),
                "step": int(snap["step"]), "lengths": lengths}

    def pattern_ends(self) -> np.ndarray:
        """``/metrics/t``: end times of the patterns (ms); for a learner, trials before each update."""
        return self._f["metrics/t"][()] if "metrics/t" in self._f else np.zeros(0)


def load(path) -> Run:
    """Open a dendrosim output file (finished or still running) as a lazy :class:`Run`."""
    return Run(path)


def _fmt(v) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        x = a.item()
        return format(x, ".4g") if isinstance(x, float) else str(x)
    return np.array2string(a, precision=4, separator=", ")


def info(path, probe_timeout: float | None = None) -> str:
    """A text summary of an output file; works while the file is being written.

    Raises :class:`~dendrosim.io.layout.NotDendrosimError` for an HDF5 file dendrosim did
    not write, :class:`~dendrosim.io.integrity.DamagedFileError` for a truncated or damaged one.
    """
    with Run(path, probe_timeout) as run:
        require_dendrosim(run.file, run.path)
        cfg = run.config
        net, sim, task = cfg.get("network", {}), cfg.get("simulation", {}), cfg.get("task", {})
        lines = [f"file      {run.path}",
                 f"status    {run.status}" + (f" ({run.message})" if run.message else ""),
                 f"version   dendrosim {run.attrs.get('dendrosim_version', '?')}, seed {run.attrs.get('seed', '?')}"]
        lines.append(f"network   sizes {list(net.get('sizes', []))}, transfer {net.get('transfer', '?')}")
        if run.is_learner:            # a discrete learner: no time step, no noise
            lrn = cfg.get("learner", {})
            lines.append(f"learner   {lrn.get('rule', '?')}, eta {lrn.get('eta', '?')}, batch_size "
                         f"{lrn.get('batch_size', 1)}, dtype {sim.get('dtype', 'float64')}")
        else:
            lines.append(f"sim       dt {sim.get('dt', '?')} ms, integrator {sim.get('integrator', '?')}, "
                         f"dtype {sim.get('dtype', '?')}; noise sigma {cfg.get('noise', {}).get('sigma', '?')}")
        opts = ", ".join(f"{k} = {v}" for k, v in task.items() if k != "kind")
        lines.append(f"task      {task.get('kind', '?')}" + (f" ({opts})" if opts else ""))
        if "kernel" in run.attrs:
            lines.append(f"kernel    {run.attrs['kernel']}")
        a = run.attrs
        planned = float(a["total_steps"]) * run.dt if "total_steps" in a else None
        done = run.duration
        frac = f" of {planned:.1f} ms ({100 * done / planned:.1f} %)" if planned else ""
        n_done = run.pattern_ends().shape[0]
        pats = f", {n_done} of {int(a['n_patterns'])} patterns" if "n_patterns" in a else ""
        f = run.file
        t_units = run.time_unit
        if t_units == "ms":
            lines.append(f"simulated {done:.1f} ms{frac}{pats}")
        else:      # discrete learners count trials; total_steps = updates, n_patterns = trials
            plan = f" of {int(a['n_patterns'])}" if int(a.get("n_patterns", -1)) >= 0 else ""
            lines.append(f"progress  {done:.0f}{plan} {t_units}s, learner {a.get('learner', '?')}")
        ck = run.checkpoint()
        if ck:
            lines.append(f"checkpoint t = {ck['t']:.1f} ms (pattern {ck['segment']}, step {ck['step']})")
        lines.append("datasets")

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("checkpoint/"):
                units = obj.attrs.get("units", "")
                lines.append(f"  /{name:<32} {str(obj.shape):<16} {obj.dtype}"
                             + (f"  [{text_attr(units)}]" if len(units) else ""))
        f.visititems(visit)
        if "metrics/t" in f and f["metrics/t"].shape[0]:
            n = f["metrics/t"].shape[0] - 1
            what = "pattern" if t_units == "ms" else "update"
            lines.append(f"last metrics ({what} {n}, t = {float(f['metrics/t'][n]):.1f} {t_units})")
            for k in run.metrics:
                d = run.metrics[k]
                if d.shape[0] > n:
                    v = d[n]
                    lines.append(f"  {k:<22} {_fmt(v)}")
        else:
            lines.append("no metrics yet")
        return "\n".join(lines)
