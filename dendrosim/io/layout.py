"""Names, units and file-opening rules shared by the HDF5 writer and reader.

The layout itself is documented in ``docs/hdf5_layout.md`` (a contract: add, do
not rename). This module knows nothing about the engine.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py

FORMAT = "dendrosim-trajectory"
FORMAT_VERSION = 1
STATUSES = ("running", "completed", "interrupted", "diverged")

# Units of recordable variables (potentials and rates are dimensionless in the model).
VARIABLE_UNITS = {v: "dimensionless" for v in
                  ("u_P", "v_B", "v_A", "u_I", "v_I", "r", "r_I", "input", "target")}
VARIABLE_LONG_NAMES = {
    "u_P": "somatic potential of pyramidal cells",
    "v_B": "basal dendritic potential",
    "v_A": "apical dendritic potential",
    "u_I": "somatic potential of interneurons",
    "v_I": "dendritic potential of interneurons",
    "r": "rate phi(u_P) (layer 0: low-pass-filtered input rates)",
    "r_I": "interneuron rate phi(u_I)",
    "input": "input pattern presented",
    "target": "output voltage target (NaN: no target)",
}
# Variables indexed by interneuron number (n_{k+1} cells in layer k) rather than pyramidal.
INTERNEURON_VARIABLES = ("u_I", "v_I", "r_I")

METRIC_UNITS = {"apical_norm": "dimensionless", "interneuron_mismatch": "dimensionless", "top_down_angle": "degree",
                "loss": "dimensionless", "pattern": "index"}
METRIC_LONG_NAMES = {
    "apical_norm": "Euclidean norm of the apical potentials v_A per hidden layer at pattern end",
    "interneuron_mismatch": "sum over cells of (u_P[k+1] - u_I[k])^2 per hidden layer at pattern end",
    "top_down_angle": "angle between the top-down weights W_down,k and the transposed forward weights "
                      "W_up,k+1^T per hidden layer at pattern end (NaN if either is zero)",
    "loss": "sum over output cells of (u_P - target)^2 at pattern end (NaN without a target)",
    "pattern": "pattern id or class label of the segment (-1: none)",
}


def swmr_default() -> bool:
    """SWMR is on unless ``DENDROSIM_SWMR=0`` (network file systems: SWMR needs POSIX ordering)."""
    return os.environ.get("DENDROSIM_SWMR", "1").strip().lower() not in ("0", "false", "no", "off")


class NotDendrosimError(OSError):
    """An HDF5 file that no dendrosim writer made (no ``format`` root attribute)."""


def open_read(path, probe_timeout: float | None = None, allow_truncated: bool = False) -> h5py.File:
    """Open a dendrosim file read-only, whether it is finished, being written or was killed.

    First the file's size is checked against its HDF5 superblock
    (:func:`~dendrosim.io.integrity.check`): a truncated or non-HDF5 file raises
    :class:`~dendrosim.io.integrity.DamagedFileError` instead of reading back as zeros.
    A file whose writer is alive (it holds the writer lock) or was killed while writing in
    SWMR mode is opened as an SWMR reader; any other file normally, with HDF5's own checks.
    ``probe_timeout``: first open it and read all its metadata in a child process for at
    most this many seconds (:func:`~dendrosim.io.integrity.probe`), so that a damaged file
    cannot make HDF5 retry for ever. ``allow_truncated``: open a file shorter than its
    superblock says anyway, as an SWMR reader (:func:`dendrosim.resume.resume_simulation` then
    checks that every row before the checkpoint is in the file).
    """
    from .integrity import FLAG_SWMR_WRITE, FLAG_WRITE, DamagedFileError, check, probe
    from .lock import holder

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise IsADirectoryError(f"{path} is not a regular file")
    live = holder(path) is not None
    sb = check(path, live=live or allow_truncated)
    if not live and sb.flags & FLAG_WRITE and not sb.flags & FLAG_SWMR_WRITE:
        raise DamagedFileError(f"{path} is damaged: its writer stopped while creating it (no data to read)")
    swmr = bool(sb.flags & FLAG_SWMR_WRITE) or (allow_truncated and path.stat().st_size < sb.end)
    if probe_timeout:
        probe(path, swmr, probe_timeout)
    # a live writer without SWMR: no locking (HDF5's would block); but within one process HDF5
    # wants the locking flags of the file's other handle, whichever they are
    ways = ([{"libver": "latest", "swmr": True}] if swmr else
            [{"locking": False}, {}] if live else [{}, {"locking": False}])
    for i, kw in enumerate(ways):
        try:
            return h5py.File(path, "r", **kw)
        except OSError as e:
            if i == len(ways) - 1:
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise DamagedFileError(f"{path} is damaged: HDF5 cannot open it ({first})") from None


def require_dendrosim(f: h5py.File, path) -> None:
    """Raise :class:`NotDendrosimError` unless ``f`` was written by dendrosim."""
    if text_attr(f.attrs.get("format", "")) != FORMAT:
        raise NotDendrosimError(f"{path} is an HDF5 file but not a dendrosim output file "
                                "(no format = \"dendrosim-trajectory\" attribute)")


def text_attr(value) -> str:
    """An HDF5 string attribute as ``str`` (h5py may return bytes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
