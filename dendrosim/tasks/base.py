"""The task interface: what the network sees, pattern by pattern.

A task is a deterministic, indexable sequence of *segments*: an input pattern
held for a number of steps, with an optional output voltage target. Indexable
(not just iterable) so a resumed run restarts at segment ``i`` exactly.

To add a task: subclass :class:`Task`, declare ``kind`` and ``KEYS`` (name ->
(default, doc)), implement ``__len__`` and ``segment(i)``, and register it with
:func:`register`. Keys are validated by :meth:`Task.option`, which names the key
in every error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..config import ConfigError
from ..steady import NoFixedPoint

TASKS: dict[str, type[Task]] = {}


def register(cls):
    TASKS[cls.kind] = cls
    return cls


@dataclass(frozen=True)
class Segment:
    """Input ``x`` (n0 rates) and ``target`` (nN voltages or None) held for ``steps`` steps."""

    x: np.ndarray
    target: np.ndarray | None
    steps: int
    label: int = -1            # class label or pattern id, for metrics (-1 = none)


class Task:
    kind = "base"
    KEYS: dict[str, tuple] = {}

    def __init__(self, options: dict, sizes: tuple, dt: float, rng: np.random.Generator):
        unknown = set(options) - set(self.KEYS) - {"kind"}
        if unknown:
            k = sorted(unknown)[0]
            raise ConfigError(f"task.{k}", f"unknown key for task kind {self.kind!r}; keys are {sorted(self.KEYS)}")
        self.options = {k: options.get(k, d[0]) for k, d in self.KEYS.items()}
        self.sizes, self.dt, self.rng = tuple(sizes), dt, rng
        if "input_low" in self.KEYS and "input_high" in self.KEYS:     # a range of drawn inputs
            lo, hi = self.option("input_low"), self.option("input_high")
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                raise ConfigError("task.input_low", f"input_low = {lo!r} and input_high = {hi!r} must be finite "
                                                    "numbers with input_low <= input_high")

    def option(self, key, kind=float, positive=False, allow_zero=True):
        v = self.options[key]
        name = f"task.{key}"
        if kind is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(name, f"must be a number, got {v!r}")
            v = float(v)
        elif kind is int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(name, f"must be an integer, got {v!r}")
        if positive and not (v > 0 or (allow_zero and v == 0)):
            raise ConfigError(name, f"must be {'>= 0' if allow_zero else '> 0'}, got {v!r}")
        return v

    def steps_of(self, key) -> int:
        """A duration option in ms converted to a whole number of steps."""
        ms = self.option(key, float, positive=True, allow_zero=False)
        n = int(round(ms / self.dt))
        if n < 1 or abs(n * self.dt - ms) > 1e-9 * max(1.0, ms):
            raise ConfigError(f"task.{key}", f"{ms} ms is not a whole number of steps of dt = {self.dt} ms")
        return n

    def vector(self, key, n, lo_key, hi_key):
        """An explicit list option of length n, or a U(lo, hi) draw if the list is empty."""
        v = self.options[key]
        if v:
            if len(v) != n:
                raise ConfigError(f"task.{key}", f"needs {n} values, got {len(v)}")
            return np.asarray(v, dtype=float)
        return self.rng.uniform(self.option(lo_key), self.option(hi_key), size=n)

    def __len__(self) -> int:
        raise NotImplementedError

    def segment(self, i: int) -> Segment:
        raise NotImplementedError

    def evaluate(self, sim, segment: int) -> dict:
        """Extra per-pattern metrics after ``segment`` (same keys every call; NaN when
        not evaluated). Override for test-set evaluation."""
        return {}

    @property
    def total_steps(self) -> int:
        return sum(self.segment(i).steps for i in range(len(self)))


NO_STEADY_STATE = ("the test set's steady state without target was not found (the circuit has no fixed "
                   "point the solver reaches); test_error is NaN at those evaluations and the run goes on")


def steady_or_nan(evaluate) -> float:
    """``evaluate()``, a test-set metric at the steady state (:func:`dendrosim.steady.solve`); NaN, with
    one RuntimeWarning, when that steady state is not found. A long run whose circuit has
    drifted to the edge of stability then keeps running (and stops with its own divergence
    check if the dynamics blow up) instead of failing in its metrics."""
    try:
        return float(evaluate())
    except NoFixedPoint:
        warnings.warn(NO_STEADY_STATE, RuntimeWarning, stacklevel=3)
        return float("nan")


def make_task(options: dict, sizes, dt, rng) -> Task:
    kind = options.get("kind", "self_predicting")
    if kind not in TASKS:
        raise ConfigError("task.kind", f"unknown task kind {kind!r}; kinds are {sorted(TASKS)}")
    return TASKS[kind](options, sizes, dt, rng)
