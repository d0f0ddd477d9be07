"""Konishi, Igarashi & Miura (2023) reward-prediction task (research notes konishi2023.md sec. 1.3-1.4).

XOR with distractors, the best available reconstruction of the mouse odour-reward
task of Lee et al. (2021): every input has ``2 + n_distractors`` components, each
+-1 plus Gaussian jitter of s.d. ``jitter``. Only the first two are informative;
the four odours sit on the corners of that square,

    A = (+, +) -> +1,  B = (+, -) -> -1,  odour 1 = (-, -) -> +1,  odour 2 = (-, +) -> -1,

so the reward is x1 x2 (targets +-1, or 1/0 with ``targets = "01"``). With
``pretrain_trials > 0`` the first trials show only A and B (the "AB session",
a linear problem) and the rest A, B, 1, 2 at random ("AB12", XOR);
``pretrain_trials = 0`` is the reference code (all four from the start).
Distractors are fresh +-1 every trial (code) or one fixed pattern per odour.

One trial = one sample = one segment (held ``duration`` ms for the continuous
engine). A trial is scored *before* the update on it: correct if
sign(y) = target (+-1) or |y - target| < 0.5 (1/0). Learners may also draw a
fresh test batch of ``test_size`` samples of all four odours after each update
(:meth:`test_batch`), as the reference code does.
"""

from __future__ import annotations

import numpy as np

from ..config import ConfigError
from .base import Segment, Task, register

ODOURS = ("A", "B", "1", "2")
CORNERS = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])
REWARD = np.array([1.0, -1.0, 1.0, -1.0])


@register
class Reward(Task):
    kind = "reward"
    KEYS = {
        "n_trials": (8000, "training trials (samples) in total"),
        "pretrain_trials": (0, "first trials with odours A and B only (AB), then A, B, 1, 2 (AB12)"),
        "n_distractors": (100, "uninformative +-1 input components"),
        "jitter": (0.01, "s.d. of Gaussian jitter on every input component"),
        "distractors": ("fresh", '"fresh" (+-1 drawn every trial) or "fixed" (one pattern per odour)'),
        "targets": ("pm1", '"pm1" (+1 rewarded, -1 not) or "01" (reward amount 1 / 0)'),
        "test_size": (8, "fresh test samples of all four odours per evaluation (0 = none)"),
        "duration": (100.0, "presentation time per trial for the continuous engine, ms"),
    }

    def __init__(self, options, sizes, dt, rng):
        super().__init__(options, sizes, dt, rng)
        self.n = self.option("n_trials", int, positive=True, allow_zero=False)
        self.pretrain = self.option("pretrain_trials", int, positive=True)
        self.n_dis = self.option("n_distractors", int, positive=True)
        self.jitter = self.option("jitter", float, positive=True)
        self.test_size = self.option("test_size", int, positive=True)
        for key, choices in (("distractors", ("fresh", "fixed")), ("targets", ("pm1", "01"))):
            if self.options[key] not in choices:
                raise ConfigError(f"task.{key}", f"must be one of {list(choices)}, got {self.options[key]!r}")
        self.mode, self.tmode = self.options["distractors"], self.options["targets"]
        if sizes[0] != 2 + self.n_dis:
            raise ConfigError("task.n_distractors",
                              f"input size {sizes[0]} != 2 informative + {self.n_dis} distractors")
        if sizes[-1] != 1:
            raise ConfigError("network.sizes", f"the reward task needs one output neuron, got {sizes[-1]}")
        self.steps = self.steps_of("duration")
        self.fixed_patterns = rng.choice([-1.0, 1.0], size=(4, self.n_dis))
        odours = np.where(np.arange(self.n) < self.pretrain, rng.integers(0, 2, self.n),
                          rng.integers(0, 4, self.n))
        self.labels = odours
        self.X, self.T = self._make(odours, rng)
        self.test_rng = np.random.default_rng(rng.integers(2**63))

    def _make(self, odours, rng):
        n = odours.shape[0]
        X = np.empty((n, 2 + self.n_dis))
        X[:, :2] = CORNERS[odours]
        if self.mode == "fresh":
            X[:, 2:] = rng.choice([-1.0, 1.0], size=(n, self.n_dis))
        else:
            X[:, 2:] = self.fixed_patterns[odours]
        X += self.jitter * rng.standard_normal(X.shape)
        T = REWARD[odours] if self.tmode == "pm1" else (REWARD[odours] > 0).astype(float)
        return X, T[:, None].copy()

    def __len__(self):
        return self.n

    def segment(self, i):
        return Segment(self.X[i], self.T[i], self.steps, int(self.labels[i]))

    # -- for the discrete learners ---------------------------------------------------------
    def batch(self, i0, i1):
        """Inputs, targets and odour labels of trials i0 .. i1-1."""
        return self.X[i0:i1], self.T[i0:i1], self.labels[i0:i1]

    def test_batch(self):
        """A fresh batch of ``test_size`` samples of all four odours (None if test_size = 0)."""
        if self.test_size == 0:
            return None
        od = self.test_rng.integers(0, 4, self.test_size)
        X, T = self._make(od, self.test_rng)
        return X, T, od

    def correct(self, y, target):
        """Per-sample correctness of outputs y (batch, 1) against targets."""
        if self.tmode == "pm1":
            return (np.sign(y[:, 0]) == target[:, 0])
        return np.abs(y[:, 0] - target[:, 0]) < 0.5

    @staticmethod
    def is_new(labels):
        """Trials of the newly learned odours 1 and 2."""
        return labels >= 2
