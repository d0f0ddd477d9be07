"""HDF5 streaming output and reading (layout: docs/hdf5_layout.md).

* :mod:`.sink` -- the sink protocol: :class:`RunDescription` and what a sink receives when.
* :class:`HDF5Sink` -- the recorder driven by :meth:`dendrosim.simulation.Simulation.run`.
* :func:`load` -> :class:`Run` -- lazy reader; works on files still being written.
* :func:`info` -- text summary (``dendrosim info``).
* :mod:`.lock`, :mod:`.integrity` -- one writer per file; truncated and damaged files found.

Continuing a stopped run (``dendrosim run --resume``) is :func:`dendrosim.resume.resume_simulation`.
"""

from .hdf5 import HDF5Sink, read_checkpoint
from .integrity import DamagedFileError
from .layout import NotDendrosimError
from .lock import FileLockedError, WriterLock
from .reader import Run, info, load
from .sink import Channel, RunDescription

__all__ = ["Channel", "DamagedFileError", "FileLockedError", "HDF5Sink", "NotDendrosimError", "Run",
           "RunDescription", "WriterLock", "info", "load", "read_checkpoint"]
