"""Continue a stopped run from the checkpoint in its file (``dendrosim run --resume``).

Above both the engine and the file layer: it reads the file (:mod:`dendrosim.io`), builds
the :class:`~dendrosim.simulation.Simulation` its stored config describes, restores the
checkpoint and reopens the file for appending. Everything is checked before the file is
touched: the writer lock (no second writer, no resume of a live run), the file's integrity
(truncated or damaged: refused), the stored config and the checkpoint's shapes.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from . import config as config_mod
from .io import DamagedFileError, HDF5Sink, WriterLock, read_checkpoint
from .io.integrity import check, rows_present
from .io.layout import open_read, require_dendrosim, text_attr
from .simulation import Simulation

PROBE_SECONDS = 20.0      # longest wait for HDF5 to read a file's metadata (integrity.probe)


def resume_simulation(path, probe_timeout: float | None = PROBE_SECONDS, **sink_kw):
    """Rebuild the Simulation stored in ``path`` at its last checkpoint and reopen the file.

    Returns ``(sim, sink)``; ``sim.run(sink)`` continues the run and gives results
    bit-identical to an uninterrupted run; the sink holds the file's writer lock until
    it is closed. Every dataset is first truncated to its length at the checkpoint (in a
    copy that replaces the file when complete); the status goes back to ``running``.

    Raises :class:`~dendrosim.io.FileLockedError` if another process writes the file,
    :class:`~dendrosim.io.DamagedFileError` if it is truncated or damaged, and
    :class:`~dendrosim.config.ConfigError` (key ``resume``) if it cannot be resumed.
    """
    path = Path(path)
    lock = WriterLock(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    lock.acquire()
    try:
        sim, ck, short = _prepare(path, probe_timeout)
        snap, lengths, slot, seq = ck
        sink = HDF5Sink.reopen(path, sim.describe(), lengths, slot, seq, sim.t, lock,
                               compression=sim.cfg.record.compression, allow_truncated=short, **sink_kw)
    except BaseException:
        lock.release()
        raise
    return sim, sink


def _prepare(path: Path, probe_timeout):
    """The restored Simulation and the checkpoint; nothing is written.

    A file shorter than its superblock says (a writer that stopped on a full disk) is
    resumed only if every row before its checkpoint is in the file; else it is refused
    as truncated.
    """
    try:
        check(path)
        short = None
    except DamagedFileError as e:
        if "truncated" not in str(e):
            raise
        short = e
    with open_read(path, probe_timeout, allow_truncated=short is not None) as f:
        require_dendrosim(f, path)
        status = text_attr(f.attrs.get("status", ""))
        learner = text_attr(f.attrs["learner"]) if "learner" in f.attrs else None
        text = text_attr(f.attrs.get("config", ""))
        ck = read_checkpoint(f) if learner is None else None
        if short is not None:
            lost = rows_present(f, ck[1]) if ck is not None else ["the checkpoint"]
            if lost or status == "completed":
                raise DamagedFileError(f"{short}; missing: {', '.join(lost[:3]) or 'the end of the run'}"
                                       + (" ..." if len(lost) > 3 else "")) from None
    if learner is not None:
        raise config_mod.ConfigError("resume", f"{path} is a run of the discrete learner {learner!r}, which "
                                     "keeps no checkpoint; start it again (finished updates are in the file)")
    if status == "completed":
        raise config_mod.ConfigError("resume", f"{path}: the run is already completed")
    if ck is None:
        raise config_mod.ConfigError("resume", f"{path} holds no checkpoint (stopped before the first "
                                     "pattern ended); start the run again")
    try:
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as e:
        raise config_mod.ConfigError("resume", f"{path}: the stored config is not valid TOML: "
                                     f"{config_mod.shorten(str(e))}") from None
    cfg = config_mod.from_dict(raw)
    sim = Simulation(cfg)
    try:
        want = sim.snapshot()
        for k, v in want.items():
            if k not in ck[0] or np.shape(ck[0][k]) != np.shape(v):
                raise ValueError(f"state {k!r} has shape {np.shape(ck[0].get(k))}, the config needs {np.shape(v)}")
        sim.restore(ck[0])
    except (ValueError, TypeError, KeyError) as e:
        raise config_mod.ConfigError("resume", f"{path}: the checkpoint does not fit the stored config "
                                     f"({config_mod.shorten(str(e))})") from None
    return sim, ck, short is not None
