"""HDF5 streaming output, reading and resume (layout: docs/hdf5_layout.md).

* :class:`HDF5Sink` -- the recorder driven by :meth:`dendrosim.simulation.Simulation.run`.
* :func:`load` -> :class:`Run` -- lazy reader; works on files still being written.
* :func:`info` -- text summary (``dendrosim info``).
* :func:`resume_simulation` -- continue a stopped run bit-identically (``dendrosim run --resume``).
"""

from .hdf5 import HDF5Sink, read_checkpoint, resume_simulation
from .reader import Run, info, load

__all__ = ["HDF5Sink", "Run", "info", "load", "read_checkpoint", "resume_simulation"]
