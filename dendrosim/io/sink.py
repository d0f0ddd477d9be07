"""The sink protocol: what a recorder receives from the driver, and when.

A driver (:meth:`dendrosim.simulation.Simulation.run`, :class:`dendrosim.ensemble.Ensemble`)
describes its run once in a :class:`RunDescription` and then only pushes arrays; a sink
never sees the simulation object. The calls, in order:

``begin(desc)``
    Once, before the first step of a fresh run (not on a resume: a resumed sink was
    reopened from its file). ``desc`` is a :class:`RunDescription`: everything needed to
    create the storage (config, dt, dtype, planned length, recorded columns, weight,
    metric and state shapes, time unit, kernel name).
``weights(t, w)``
    A snapshot of every weight array: ``w`` maps a name (``up1``, ``PI1``...) to an array
    of the shape in ``desc.weight_shapes``; ``t`` in ``desc.time_unit``. The first call is
    the initial state (t = 0), the last the final state.
``traces(t, rows)``
    Recorded samples: ``t`` (n,) times, ``rows`` (n, desc.n_columns); channel ``c`` of
    ``desc.channels`` owns the columns ``c.columns``. Called after every compiled block.
``metrics(t, m)``
    Once per pattern, at its end: ``m`` maps the names of ``desc.metric_shapes`` to
    scalars or arrays of those shapes.
``checkpoint(t, state)``
    At every pattern boundary, after ``metrics``: ``state`` (arrays named as in
    ``desc.state_shapes``) continues the run bit-identically. A sink may keep only the
    newest and write it when it likes; what it stores must agree with the rows stored
    before it.
``status(status, message)``
    ``completed``, ``diverged``, ``interrupted`` or ``failed``, with a one-line message.
``close()``
    Last; also after an error. Must not raise if ``begin`` never ran or failed half way.

:class:`dendrosim.io.HDF5Sink` writes all of this to one file;
:class:`dendrosim.simulation.MemorySink` keeps it in lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass
class Channel:
    """One recorded dataset: ``variable`` of ``layer`` for ``neurons``; its columns in a row."""

    variable: str
    layer: int
    neurons: np.ndarray
    columns: slice

    @property
    def name(self) -> str:
        return f"layer{self.layer}/{self.variable}"


@dataclass(frozen=True)
class RunDescription:
    """Everything a sink needs to know about a run before its first sample.

    config : the resolved :class:`dendrosim.config.Config` (stored as TOML).
    dt : integration time step, ms.
    dtype : dtype of the state, the recorded rows and the weights.
    total_steps, n_patterns : planned length: integration steps and patterns.
    channels : recorded datasets (:class:`Channel`); ``n_columns`` columns per row in all.
    weight_shapes, metric_shapes, state_shapes : ``{name: (shape, dtype)}`` of each weight
        array, each per-pattern metric and each array of a checkpoint.
    n_hidden : number of hidden layers (the axis of per-hidden-layer metrics).
    time_unit : what every ``t`` counts: ``"ms"`` (simulated time).
    kernel : name of the compiled kernel that integrates the run.
    """

    config: Any
    dt: float
    dtype: np.dtype
    total_steps: int
    n_patterns: int
    channels: tuple
    n_columns: int
    weight_shapes: Mapping
    metric_shapes: Mapping
    state_shapes: Mapping
    n_hidden: int
    time_unit: str = "ms"
    kernel: str = ""


class Sink(Protocol):
    """The methods a driver calls (module docstring: what, and when)."""

    def begin(self, desc: RunDescription) -> None: ...
    def traces(self, t, rows) -> None: ...
    def weights(self, t, w: dict) -> None: ...
    def metrics(self, t, m: dict) -> None: ...
    def checkpoint(self, t: float, state: dict) -> None: ...
    def status(self, status: str, message: str = "") -> None: ...
    def close(self) -> None: ...


def shapes(arrays: Mapping) -> dict:
    """``{name: (shape, dtype)}`` of a dict of arrays or scalars (as ``np.asarray`` sees them)."""
    out = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        out[k] = (a.shape, a.dtype)
    return out
