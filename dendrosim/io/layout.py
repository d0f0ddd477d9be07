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

METRIC_UNITS = {"apical_norm": "dimensionless", "interneuron_mismatch": "dimensionless",
                "loss": "dimensionless", "pattern": "index"}
METRIC_LONG_NAMES = {
    "apical_norm": "Euclidean norm of the apical potentials v_A per hidden layer at pattern end",
    "interneuron_mismatch": "sum over cells of (u_P[k+1] - u_I[k])^2 per hidden layer at pattern end",
    "loss": "sum over output cells of (u_P - target)^2 at pattern end (NaN without a target)",
    "pattern": "pattern id or class label of the segment (-1: none)",
}


def swmr_default() -> bool:
    """SWMR is on unless ``DENDROSIM_SWMR=0`` (network file systems: SWMR needs POSIX ordering)."""
    return os.environ.get("DENDROSIM_SWMR", "1").strip().lower() not in ("0", "false", "no", "off")


def open_read(path) -> h5py.File:
    """Open a dendrosim file read-only, whether it is finished, being written or was killed.

    A file written in SWMR mode (the default) is opened as an SWMR reader: this works
    while the writer runs and after a SIGKILL. A file written without SWMR is opened
    with file locking disabled so that a live writer does not block the reader.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        return h5py.File(path, "r", libver="latest", swmr=True)
    except OSError as first:
        try:
            return h5py.File(path, "r", locking=False)
        except OSError:
            raise OSError(f"cannot open {path} as HDF5: {first}") from None


def text_attr(value) -> str:
    """An HDF5 string attribute as ``str`` (h5py may return bytes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
