"""Streaming HDF5 writer (:class:`HDF5Sink`), a sink of :mod:`dendrosim.io.sink`.

The sink is driven by :meth:`dendrosim.simulation.Simulation.run`: ``begin(desc)`` creates
every dataset from the run's :class:`~dendrosim.io.sink.RunDescription`,
``traces``/``weights``/``metrics`` append to fixed-size RAM buffers that are written in
large blocks (one h5py call costs about 100 us, a block of a small network lasts a few
ms), ``checkpoint(t, state)`` is called at every pattern boundary and
``status``/``close`` finish the file. Memory does not grow with run length.

Robustness
----------
* One writer per file: the sink holds a :class:`~dendrosim.io.lock.WriterLock` from
  ``begin`` (or the reopen of a resume) to ``close``; a second writer is refused.
* The file is built whole in a temporary file beside the target and renamed into place,
  then reopened directly in SWMR-write mode: a kill during the set-up leaves the previous
  file (if any) untouched and never a half-made one. A resume copies the file up to its
  checkpoint and replaces the original only when the copy is complete.
* The file is written in SWMR mode (``libver="latest"``; set ``DENDROSIM_SWMR=0`` or
  ``swmr=False`` on network file systems): readers in other processes see a consistent
  prefix while it runs, and a SIGKILL loses at most what was not yet flushed. Buffers
  are flushed when full and at least every ``flush_interval`` seconds of wall time.
* Checkpoints: every pattern boundary is kept in RAM (one copy of the state vector);
  it is written to the file at most every ``checkpoint_interval`` seconds, and always
  at ``status``/``close``. Two slots are used alternately and a slot is marked valid
  (``seq``) only after all of it is written, so a kill during a checkpoint leaves the
  previous one intact. Each checkpoint stores the length of every appendable dataset;
  :func:`dendrosim.resume.resume_simulation` truncates to them, so a resumed run is bit-identical to an
  uninterrupted one.

The layout is documented in ``docs/hdf5_layout.md``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from datetime import datetime, UTC
from pathlib import Path

import h5py
import numpy as np

from .layout import (FORMAT, FORMAT_VERSION, INTERNEURON_VARIABLES, METRIC_LONG_NAMES,
                     METRIC_UNITS, VARIABLE_LONG_NAMES, VARIABLE_UNITS, open_read, swmr_default,
                     text_attr)
from .lock import WriterLock

_MiB = 1 << 20
# No raw-data chunk cache in the writer: HDF5 2.0 caches 8 MiB per dataset by default,
# so memory would grow with the number of datasets up to that size; writes are whole
# blocks aligned with the chunks (one buffer = one chunk), so a cache buys nothing.
_WRITER_CACHE = {"rdcc_nbytes": 0, "rdcc_nslots": 1}
_METRIC_ROWS = 256


def _pow2_rows(target_bytes, row_bytes, lo, hi):
    """Largest power of two of rows whose size stays below ``target_bytes``, within [lo, hi]."""
    rows = max(1, int(target_bytes // max(row_bytes, 1)))
    rows = 1 << (rows.bit_length() - 1)
    return int(min(max(rows, lo), hi))


def write_root_attrs(f: h5py.File, cfg, *, dt: float, dtype, total_steps: int, n_patterns: int,
                     swmr: bool, time_unit: str = "ms", kernel: str = "") -> None:
    """Write the root attributes every dendrosim file has (docs/hdf5_layout.md), status ``running``.

    Shared by :class:`HDF5Sink` and the discrete learners' writer
    (:mod:`dendrosim.learners.h5out`).

    dt : integration time step, ms.
    dtype : dtype of the state and weights (``float64``/``float32``).
    total_steps, n_patterns : planned length of the run: integration steps and patterns
        (learners: updates and trials).
    time_unit : what every ``t`` dataset counts: ``"ms"`` (simulated time, the engine) or
        ``"trial"`` (trials presented, the learners); also the ``units`` of those datasets.
    """
    versions = {"numpy": np.__version__, "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version}
    try:
        import numba
        versions["numba"] = numba.__version__
    except ImportError:     # pragma: no cover
        pass
    f.attrs.update({
        # the package is loaded whenever this module is: read its version without importing it
        "dendrosim_version": getattr(sys.modules.get("dendrosim"), "__version__", "unknown"),
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": cfg.to_toml(),
        "seed": int(cfg.init.seed),
        "dt": float(dt),
        "dt_units": "ms",
        "t0": 0.0,
        "time_unit": time_unit,
        "sizes": np.asarray(cfg.network.sizes, dtype=np.int64),
        "dtype": np.dtype(dtype).name,
        "total_steps": int(total_steps),
        "n_patterns": int(n_patterns),
        "status": "running",
        "message": "",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "swmr": bool(swmr),
        "versions": " ".join(f"{k}={v}" for k, v in versions.items()),
    })
    if kernel:
        f.attrs["kernel"] = kernel


def temporary_path(path: Path) -> Path:
    """A file beside ``path`` to build it in (same folder: the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def open_writer(path: Path, swmr: bool) -> h5py.File:
    """Reopen a complete file for appending; with ``swmr`` directly in SWMR-write mode (no
    moment in which it is open for writing without SWMR, which no reader could open)."""
    if not swmr:
        return h5py.File(path, "r+", **_WRITER_CACHE)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    mdc, _, _, w0 = fapl.get_cache()
    fapl.set_cache(mdc, _WRITER_CACHE["rdcc_nslots"], _WRITER_CACHE["rdcc_nbytes"], w0)
    fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDWR | h5py.h5f.ACC_SWMR_WRITE, fapl=fapl)
    return h5py.File(fid)


class HDF5Sink:
    """Stream a run to one HDF5 file (the sink protocol of :mod:`dendrosim.io.sink`).

    Parameters
    ----------
    path : output file, replaced by :meth:`begin` once the new one is complete.
    overwrite : if False, :meth:`begin` refuses (FileExistsError) when ``path`` exists.
    compression : ``"none"`` (default) or ``"gzip"`` (gzip level 4 + shuffle).
    swmr : write in SWMR mode (default: on unless the environment sets DENDROSIM_SWMR=0).
    buffer_bytes : RAM for buffered trace rows (at most 4096 rows); also the chunk size.
    flush_interval : seconds of wall time between forced flushes (live readers, SIGKILL).
    checkpoint_interval : seconds of wall time between checkpoints written to the file.
    """

    def __init__(self, path, compression: str = "none", swmr: bool | None = None,
                 buffer_bytes: int = 4 * _MiB, flush_interval: float = 1.0,
                 checkpoint_interval: float = 30.0, overwrite: bool = True):
        if compression not in ("none", "gzip", None):
            raise ValueError(f"compression must be 'none' or 'gzip', got {compression!r}")
        self.path = Path(path)
        self.compression = compression or "none"
        self.swmr = swmr_default() if swmr is None else bool(swmr)
        self.buffer_bytes = int(buffer_bytes)
        self.flush_interval = float(flush_interval)
        self.checkpoint_interval = float(checkpoint_interval)
        self._f: h5py.File | None = None
        self._closed = False
        self._status = None
        self._pending = None          # (snapshot, lengths, t) of the last pattern boundary
        self._pending_written = True
        self._ckpt_slot = -1          # slot holding the newest valid checkpoint
        self._ckpt_seq = 0
        self._last_ckpt = -np.inf
        self._last_flush = time.monotonic()
        self._first_metrics = self._last_metrics = None
        self.overwrite = bool(overwrite)
        self._lock = WriterLock(self.path)

    # -- dataset creation --------------------------------------------------------
    def _filters(self):
        if self.compression == "gzip":
            return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
        return {}

    def _appendable(self, group, name, inner_shape, dtype, rows, units, long_name=None):
        d = group.create_dataset(name, shape=(0, *inner_shape), maxshape=(None, *inner_shape),
                                 chunks=(rows, *inner_shape), dtype=dtype, **self._filters())
        d.attrs["units"] = units
        if long_name:
            d.attrs["long_name"] = long_name
        return d

    def begin(self, desc) -> None:
        """Take the writer lock, build the file (every dataset and the root attributes, status
        ``running``) beside ``path``, rename it into place and reopen it for appending."""
        self.dtype = np.dtype(desc.dtype)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        tmp = temporary_path(self.path)
        try:
            if self.path.exists() and not self.path.is_file():
                raise FileExistsError(f"{self.path} exists and is not a regular file")
            if self.path.exists() and not self.overwrite:
                raise FileExistsError(f"{self.path} exists; choose another output file or allow overwriting")
            with h5py.File(tmp, "w", libver="latest" if self.swmr else None, **_WRITER_CACHE) as f:
                self._f = f
                write_root_attrs(f, desc.config, dt=desc.dt, dtype=self.dtype, total_steps=desc.total_steps,
                                 n_patterns=desc.n_patterns, swmr=self.swmr, time_unit=desc.time_unit,
                                 kernel=desc.kernel)
                self._create_traces(desc)
                self._create_weights(desc)
                self._create_metrics(desc)
                self._create_checkpoint(desc)
            self._f = None
            os.replace(tmp, self.path)
            self._f = open_writer(self.path, self.swmr)
            self._bind()
        except BaseException:
            self._f = None
            tmp.unlink(missing_ok=True)
            self._lock.release()
            raise

    def _create_traces(self, desc):
        f, item = self._f, self.dtype.itemsize
        g = f.create_group("traces")
        rc = desc.config.record
        g.attrs["every"] = int(rc.every)
        g.attrs["mode"] = rc.mode
        g.attrs["t_convention"] = ("t is the time of the recorded state" if rc.mode == "sample"
                                   else "t is the start of the averaging window of `every` steps")
        channels = [c for c in desc.channels if len(c.neurons) > 0]
        n_cols = int(desc.n_columns)
        row_bytes = max(n_cols * item, 1)
        self._trows = _pow2_rows(self.buffer_bytes, row_bytes, 16, 4096)
        t = self._appendable(g, "t", (), np.float64, self._trows, "ms", "simulated time")
        t.make_scale("time")
        self._channels = []
        for ch in channels:
            lg = g.require_group(f"layer{ch.layer}")
            inter = ch.variable in INTERNEURON_VARIABLES
            sname = "interneurons" if inter else "neurons"
            if sname not in lg:
                s = lg.create_dataset(sname, data=np.asarray(ch.neurons, dtype=np.int64))
                s.attrs["units"] = "index"
                s.attrs["long_name"] = ("interneuron" if inter else "neuron") + f" index in layer {ch.layer}"
                s.make_scale(sname[:-1])
            scale = lg[sname]
            if not np.array_equal(scale[()], ch.neurons):    # pragma: no cover (record_channels)
                raise ValueError(f"{ch.name}: neuron indices differ from {scale.name}")
            n = len(ch.neurons)
            d = self._appendable(lg, ch.variable, (n,), self.dtype, self._trows,
                                 VARIABLE_UNITS.get(ch.variable, "dimensionless"),
                                 VARIABLE_LONG_NAMES.get(ch.variable))
            d.dims[0].attach_scale(t)
            d.dims[0].label = "time"
            d.dims[1].attach_scale(scale)
            d.dims[1].label = sname[:-1]
            self._channels.append((d.name, ch.columns))

    def _create_weights(self, desc):
        f = self._f
        g = f.create_group("weights")
        w = {k: np.zeros(shape, dtype) for k, (shape, dtype) in desc.weight_shapes.items()}
        snap_bytes = sum(v.nbytes for v in w.values())
        self._wrows = _pow2_rows(4 * _MiB, snap_bytes, 1, 256)
        t = self._appendable(g, "t", (), np.float64, self._wrows, "ms", "time of the weight snapshot")
        t.make_scale("time")
        self._wshapes = {}
        for name, W in w.items():
            d = self._appendable(g, name, W.shape, W.dtype, self._wrows, "dimensionless",
                                 "weights (post, pre)" if W.ndim == 2 else "thresholds (post)")
            d.dims[0].attach_scale(t)
            d.dims[0].label = "time"
            for i, lab in enumerate(("post", "pre")[:W.ndim], start=1):
                d.dims[i].label = lab
            self._wshapes[name] = (W.shape, W.dtype)

    @staticmethod
    def _metrics_schema(desc) -> dict:
        return {k: (tuple(shape), np.int64 if np.dtype(dt).kind in "iub" else np.float64)
                for k, (shape, dt) in desc.metric_shapes.items() if int(np.prod(shape)) > 0 or shape == ()}

    def _create_metrics(self, desc):
        f = self._f
        g = f.create_group("metrics")
        g.attrs["t_convention"] = "t is the end of the pattern (segment)"
        t = self._appendable(g, "t", (), np.float64, _METRIC_ROWS, "ms", "end time of the pattern")
        t.make_scale("time")
        n_hidden = int(desc.n_hidden)
        if n_hidden:
            h = g.create_dataset("hidden_layer", data=np.arange(1, n_hidden + 1, dtype=np.int64))
            h.attrs["units"] = "index"
            h.attrs["long_name"] = "hidden layer k"
            h.make_scale("hidden_layer")
        for key, (shape, dtype) in self._metrics_schema(desc).items():
            d = self._appendable(g, key, shape, dtype, _METRIC_ROWS, METRIC_UNITS.get(key, "dimensionless"),
                                 METRIC_LONG_NAMES.get(key))
            d.dims[0].attach_scale(t)
            d.dims[0].label = "time"
            if len(shape) == 1 and shape[0] == n_hidden and n_hidden:
                d.dims[1].attach_scale(g["hidden_layer"])
                d.dims[1].label = "hidden_layer"

    def _create_checkpoint(self, desc):
        f = self._f
        g = f.create_group("checkpoint")
        g.attrs["description"] = ("state at a pattern boundary; the valid slot with the largest seq "
                                  "is the newest; lengths[i] is the length of datasets[i] then")
        names = self._appendable_names()
        g.create_dataset("datasets", data=np.array(names, dtype=h5py.string_dtype()))
        for s in ("slot0", "slot1"):
            sg = g.create_group(s)
            sg.create_dataset("seq", data=np.int64(-1))
            sg.create_dataset("t", data=np.float64(np.nan)).attrs["units"] = "ms"
            sg.create_dataset("lengths", data=np.zeros(len(names), dtype=np.int64))
            st = sg.create_group("state")
            for k, (shape, dtype) in desc.state_shapes.items():
                st.create_dataset(k, data=np.zeros(shape, dtype=dtype))

    def _appendable_names(self) -> list[str]:
        out = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.maxshape and obj.maxshape[0] is None:
                out.append("/" + name)
        for top in ("traces", "weights", "metrics"):
            if top in self._f:
                self._f[top].visititems(lambda n, o, top=top: visit(f"{top}/{n}", o))
        return sorted(out)

    # -- buffers ---------------------------------------------------------------------
    def _bind(self, lengths: dict | None = None) -> None:
        """Open dataset handles and allocate the RAM buffers (after begin or reopen)."""
        f = self._f
        lengths = lengths or {}
        self._names = [text_attr(s) for s in f["checkpoint/datasets"][()]]
        self.dtype = np.dtype(text_attr(f.attrs["dtype"]))
        # traces
        self._tt = f["traces/t"]
        self._tds = [(f[name], cols) for name, cols in self._channels]
        self._tn = int(lengths.get("/traces/t", self._tt.shape[0]))
        n_cols = max((cols.stop for _, cols in self._channels), default=0)
        self._tbuf = np.zeros((self._trows, n_cols), dtype=self.dtype)
        self._tbuf_t = np.zeros(self._trows, dtype=np.float64)
        self._tfill = 0
        # weights
        self._wt = f["weights/t"]
        self._wds = {name: f["weights/" + name] for name in self._wshapes}
        self._wn = int(lengths.get("/weights/t", self._wt.shape[0]))
        self._wbuf = {name: np.zeros((self._wrows, *shape), dtype=dt) for name, (shape, dt) in self._wshapes.items()}
        self._wbuf_t = np.zeros(self._wrows)
        self._wfill = 0
        # metrics
        g = f["metrics"]
        self._mt = g["t"]
        self._mds = {k: g[k] for k in g if k not in ("t", "hidden_layer")}
        self._mn = int(lengths.get("/metrics/t", self._mt.shape[0]))
        self._mrows = _METRIC_ROWS
        self._mbuf = {k: np.zeros((self._mrows, *d.shape[1:]), dtype=d.dtype) for k, d in self._mds.items()}
        self._mbuf_t = np.zeros(self._mrows)
        self._mfill = 0
        self._warned = set()

    def _lengths(self) -> np.ndarray:
        """Logical length (written + buffered) of every appendable dataset, in ``_names`` order."""
        n = {"traces": self._tn + self._tfill, "weights": self._wn + self._wfill,
             "metrics": self._mn + self._mfill}
        return np.array([n[name.split("/")[1]] for name in self._names], dtype=np.int64)

    @staticmethod
    def _append(ds, n, block):
        k = block.shape[0]
        if ds.shape[0] != n + k:
            ds.resize(n + k, axis=0)
        ds[n:n + k] = block

    def _flush_traces(self):
        k = self._tfill
        if not k:
            return
        n = self._tn
        for d, cols in self._tds:               # data first, time last: t never runs ahead
            if d.shape[0] != n + k:
                d.resize(n + k, axis=0)
            # HDF5 gathers the columns from the buffer itself (no intermediate copy)
            d.write_direct(self._tbuf, np.s_[:k, cols], np.s_[n:n + k])
        self._append(self._tt, n, self._tbuf_t[:k])
        self._tn += k
        self._tfill = 0

    def _flush_weights(self):
        k = self._wfill
        if not k:
            return
        for name, d in self._wds.items():
            self._append(d, self._wn, self._wbuf[name][:k])
        self._append(self._wt, self._wn, self._wbuf_t[:k])
        self._wn += k
        self._wfill = 0

    def _flush_metrics(self):
        k = self._mfill
        if not k:
            return
        for key, d in self._mds.items():
            self._append(d, self._mn, self._mbuf[key][:k])
        self._append(self._mt, self._mn, self._mbuf_t[:k])
        self._mn += k
        self._mfill = 0

    def flush(self) -> None:
        """Write every buffered row and make it visible to readers."""
        if self._f is None:
            return
        self._flush_traces()
        self._flush_weights()
        self._flush_metrics()
        self._f.flush()
        self._last_flush = time.monotonic()

    def _maybe_flush(self):
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    # -- the sink interface ------------------------------------------------------------
    def traces(self, t, rows) -> None:
        """Append recorded rows (n_rows, n_cols) sampled at times ``t`` (ms)."""
        t = np.asarray(t, dtype=np.float64)
        rows = np.asarray(rows)
        i, n = 0, t.shape[0]
        while i < n:
            cap = self._trows - self._tn % self._trows    # flush on chunk boundaries
            k = min(n - i, cap - self._tfill)
            self._tbuf[self._tfill:self._tfill + k] = rows[i:i + k]
            self._tbuf_t[self._tfill:self._tfill + k] = t[i:i + k]
            self._tfill += k
            i += k
            if self._tfill == cap:
                self._flush_traces()
                self._f.flush()
                self._last_flush = time.monotonic()
        self._maybe_flush()

    def weights(self, t, w: dict) -> None:
        """Append one snapshot of every weight array."""
        j = self._wfill
        for name, buf in self._wbuf.items():
            buf[j] = w[name]
        self._wbuf_t[j] = t
        self._wfill += 1
        if self._wfill == self._wrows - self._wn % self._wrows:
            self._flush_weights()
        self._maybe_flush()

    def metrics(self, t, m: dict) -> None:
        """Append one row of per-pattern metrics (arrays become (time, n) datasets)."""
        j = self._mfill
        for key, buf in self._mbuf.items():
            buf[j] = m.get(key, np.nan) if buf.dtype.kind == "f" else m.get(key, -1)
        for key in m.keys() - self._mbuf.keys():
            if key not in self._warned and np.asarray(m[key]).size:
                warnings.warn(f"metric {key!r} was not known when the file was created; not stored",
                              stacklevel=2)
                self._warned.add(key)
        self._mbuf_t[j] = t
        self._mfill += 1
        if self._first_metrics is None:
            self._first_metrics = (t, dict(m))
        self._last_metrics = (t, dict(m))
        if self._mfill == self._mrows - self._mn % self._mrows:
            self._flush_metrics()
        self._maybe_flush()

    def checkpoint(self, t, state: dict) -> None:
        """Remember the state at this pattern boundary (t in ms); write it if the interval has passed."""
        self._pending = (state, self._lengths(), float(t))
        self._pending_written = False
        if self._ckpt_slot < 0 or time.monotonic() - self._last_ckpt >= self.checkpoint_interval:
            self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        if self._pending is None or self._pending_written or self._f is None:
            return
        snap, lengths, t = self._pending
        self.flush()                       # lengths refer to rows that are now in the file
        slot = self._f[f"checkpoint/slot{0 if self._ckpt_slot < 0 else 1 - self._ckpt_slot}"]
        slot["seq"][()] = -1               # invalid while being written
        self._f.flush()
        for k, v in snap.items():
            slot["state/" + k][()] = v
        slot["lengths"][:] = lengths
        slot["t"][()] = t
        self._f.flush()
        self._ckpt_seq += 1
        slot["seq"][()] = self._ckpt_seq
        self._f.flush()
        self._ckpt_slot = int(slot.name[-1])
        self._pending_written = True
        self._last_ckpt = time.monotonic()

    def status(self, status: str, message: str = "") -> None:
        """Set the root ``status`` (running, completed, interrupted, diverged, failed) and ``message``."""
        if self._f is None:
            return
        self.flush()
        self._write_checkpoint()
        self._status = status
        self._set_attrs(status=status, message=message)

    def _set_attrs(self, **kw) -> None:
        try:
            for k, v in kw.items():
                self._f.attrs[k] = v
            self._f.flush()
        except (OSError, RuntimeError, KeyError):   # an HDF5 that refuses attribute writes in SWMR
            names = [d.name for d, _ in self._tds]
            self._f.close()
            self._f = h5py.File(self.path, "r+", libver="latest", locking=False, **_WRITER_CACHE)
            for k, v in kw.items():
                self._f.attrs[k] = v
            self._f.flush()
            self._rebind_handles(names)

    def _rebind_handles(self, names):
        f = self._f
        self._tt, self._wt, self._mt = f["traces/t"], f["weights/t"], f["metrics/t"]
        self._tds = [(f[n], cols) for n, (_, cols) in zip(names, self._tds)]
        self._wds = {k: f["weights/" + k] for k in self._wds}
        self._mds = {k: f["metrics/" + k] for k in self._mds}

    def close(self) -> None:
        """Flush, write the last checkpoint; a run stopped early is marked ``interrupted``.
        Releases the writer lock, also when the file could not be finished (disk full)."""
        if self._f is None:
            self._lock.release()
            return
        try:
            self.flush()
            self._write_checkpoint()
            if self._status is None:
                self.status("interrupted", "stopped before the end of the task"
                            + (f" (checkpoint at t = {self._pending[2]:.1f} ms)" if self._pending else ""))
        finally:
            try:
                self._f.close()
            finally:
                self._f = None
                self._closed = True
                self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def metrics_summary(self) -> str:
        """First and last per-pattern metrics, for the end-of-run message."""
        if self._first_metrics is None:
            return ""
        def fmt(tm):
            t, m = tm
            parts = []
            for k, v in m.items():
                a = np.asarray(v)
                parts.append(f"{k}={np.array2string(a, precision=4) if a.ndim else format(a.item(), '.4g')}")
            return f"t = {t:.1f} ms: " + ", ".join(parts)
        return f"first pattern {fmt(self._first_metrics)}\nlast pattern  {fmt(self._last_metrics)}"

    # -- reopening for resume -----------------------------------------------------------
    @classmethod
    def reopen(cls, path, desc, lengths: dict, slot: int, seq: int, t: float, lock: WriterLock,
               compression="none", swmr=None, allow_truncated=False, **kw):
        """Continue writing ``path`` from a checkpoint (``lengths``: rows of every appendable
        dataset then; ``t`` its time, ms). ``lock`` is the writer lock, already held; the sink
        releases it on :meth:`close`. The file is first copied with every dataset cut to its
        checkpoint length, and the copy replaces the original only once it is complete.
        ``allow_truncated``: the file is shorter than its superblock says, and the caller has
        checked that every row up to ``lengths`` is in it (:func:`~.integrity.rows_present`)."""
        if not lock.held:
            raise ValueError("reopen needs the file's writer lock")
        self = cls(path, compression=compression, swmr=swmr, **kw)
        self._lock = lock
        try:
            self.dtype = np.dtype(desc.dtype)
            want = {name: int(n) for name, n in lengths.items()}
            self._channels = [(f"/traces/layer{c.layer}/{c.variable}", c.columns)
                              for c in desc.channels if len(c.neurons) > 0]
            with open_read(self.path, allow_truncated=allow_truncated) as f0:   # checked before writing
                for name in [n for n, _ in self._channels] + list(want):
                    if name not in f0:
                        raise ValueError(f"{path}: dataset {name} is missing; the file does not match its config")
            _rebuild(self.path, want, allow_truncated)
            f = self._f = open_writer(self.path, self.swmr)
            self._trows = f["traces/t"].chunks[0]            # one buffer = one chunk, as written
            self._wrows = f["weights/t"].chunks[0]
            self._wshapes = {k: (tuple(shape), np.dtype(dt)) for k, (shape, dt) in desc.weight_shapes.items()}
            self._set_attrs(status="running", message=f"resumed from the checkpoint at t = {t:.1f} ms",
                            swmr=self.swmr)
            self._bind(want)
        except BaseException:
            if self._f is not None:
                self._f.close()
                self._f = None
            lock.release()
            raise
        self._ckpt_slot, self._ckpt_seq = slot, seq
        self._last_ckpt = time.monotonic()
        return self


def _rebuild(path: Path, lengths: dict, allow_truncated: bool = False) -> None:
    """Copy ``path`` into a fresh file, truncating appendable datasets to ``lengths``; the copy
    replaces ``path`` only when it is complete (a failure leaves the original untouched)."""
    tmp = temporary_path(path)
    try:
        _copy(path, tmp, lengths, allow_truncated)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _copy(path: Path, tmp: Path, lengths: dict, allow_truncated: bool = False) -> None:
    scales, attached = {}, []
    with open_read(path, allow_truncated=allow_truncated) as src, h5py.File(tmp, "w", libver="latest") as dst:
        _copy_attrs(src, dst)

        def visit(name, obj):
            full = "/" + name
            if isinstance(obj, h5py.Group):
                _copy_attrs(obj, dst.require_group(full))
                return
            if obj.maxshape and obj.maxshape[0] is None:
                n = lengths.get(full, obj.shape[0])
                d = dst.create_dataset(full, shape=(n, *obj.shape[1:]), maxshape=obj.maxshape,
                                       chunks=obj.chunks, dtype=obj.dtype, compression=obj.compression,
                                       compression_opts=obj.compression_opts, shuffle=obj.shuffle)
                step = max(obj.chunks[0] * 16, 1)
                for i in range(0, n, step):
                    d[i:min(i + step, n)] = obj[i:min(i + step, n)]
            else:
                d = dst.create_dataset(full, data=obj[()], dtype=obj.dtype)
            _copy_attrs(obj, d)
            if text_attr(obj.attrs.get("CLASS", b"")) == "DIMENSION_SCALE":
                scales[full] = text_attr(obj.attrs.get("NAME", b""))
            for i, dim in enumerate(obj.dims):
                for s in dim.values():
                    attached.append((full, i, s.name, dim.label))
        src.visititems(visit)
        for name, label in scales.items():
            dst[name].make_scale(label)
        for full, i, sname, label in attached:
            dst[full].dims[i].attach_scale(dst[sname])
            if label:
                dst[full].dims[i].label = label


_SCALE_ATTRS = {"CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST", "DIMENSION_LABELS"}


def _copy_attrs(src, dst):
    for k, v in src.attrs.items():
        if k not in _SCALE_ATTRS:
            dst.attrs[k] = v


def read_checkpoint(f: h5py.File):
    """The newest valid checkpoint: (snapshot dict, {dataset: length}, slot, seq) or None."""
    if "checkpoint" not in f:
        return None
    g = f["checkpoint"]
    best = None
    for i in (0, 1):
        s = g[f"slot{i}"]
        seq = int(s["seq"][()])
        if seq >= 0 and (best is None or seq > best[1]):
            best = (i, seq)
    if best is None:
        return None
    slot = g[f"slot{best[0]}"]
    snap = {k: d[()] for k, d in slot["state"].items()}
    names = [text_attr(s) for s in g["datasets"][()]]
    lengths = dict(zip(names, (int(n) for n in slot["lengths"][()])))
    return snap, lengths, best[0], best[1]
