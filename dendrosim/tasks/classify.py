"""Classification on a small fixed data set: the common part of the bars and Yin-Yang tasks.

A subclass declares ``n_inputs``, ``n_classes`` and its data keys, and builds the sets in
:meth:`ClassificationTask.make_sets` as ``{"train": (X, labels), "validation": ..., "test": ...}``.
This class then provides, for both engines:

- training order: ``epochs`` passes over the training set, each in a fresh random order drawn
  from the task's rng (``shuffle = true``) or in set order; trial ``i`` is sample
  ``order(i // n)[i % n]``;
- output *voltage* targets: ``target_high`` for the label's output neuron, ``target_low`` for
  the others (the Latent Equilibrium code's somatic targets 1.0 / 0.1);
- continuous engine: each sample is one segment held ``duration`` ms; :meth:`evaluate` reports
  ``test_accuracy`` and ``test_error`` (fraction correct / wrong, argmax of u_N) on the chosen
  ``test_set`` at the noise-free steady state without target, every ``eval_every`` samples,
  after the first and after the last one (NaN otherwise);
- discrete learners: :meth:`batch`, :meth:`test_batch`, ``test_size`` and :meth:`correct`
  (the learner records ``test_correct``, the accuracy, after every ``test_every`` updates).
"""

from __future__ import annotations

import numpy as np

from ..config import ConfigError
from ..steady import Circuit, solve
from .base import Segment, Task, steady_or_nan

TEST_SETS = ("test", "validation", "train")

COMMON_KEYS = {
    "epochs": (1, "passes over the training set"),
    "shuffle": (True, "fresh random order every epoch (task rng), else set order"),
    "duration": (100.0, "continuous engine: presentation time per sample, ms"),
    "target_high": (1.0, "output voltage target of the label's neuron"),
    "target_low": (0.1, "output voltage target of the other output neurons"),
    "test_set": ("test", '"test", "validation" or "train": the set the test metrics use'),
    "eval_every": (100, "continuous engine: test metrics every this many samples (0 = never)"),
}


class LabelledSamples(Task):
    """What every classification task shares: the training order over epochs, the segments of
    the continuous engine and the batches of the discrete learners. A subclass's ``__init__``
    sets ``X``, ``T`` (voltage targets), ``labels``, ``n_train``, ``X_test``, ``T_test``,
    ``labels_test``, ``test_size``, ``epochs``, ``steps`` and ``shuffle``, and calls
    :meth:`draw_epoch_seeds`."""

    def draw_epoch_seeds(self):
        # one seed per epoch drawn up front: the order of epoch e never depends on how many
        # others were generated (a resumed run sees the same sequence)
        self._epoch_seeds = self.rng.integers(0, 2**63, size=self.epochs)
        self._perm_cache: dict[int, np.ndarray] = {}

    # -- data ----------------------------------------------------------------------------
    def order(self, epoch: int) -> np.ndarray:
        """Training-sample indices in the order of ``epoch`` (0-based)."""
        if not 0 <= epoch < self.epochs:
            raise IndexError(f"epoch {epoch} out of range 0..{self.epochs - 1}")
        if not self.shuffle:
            return np.arange(self.n_train)
        p = self._perm_cache.get(epoch)
        if p is None:
            if len(self._perm_cache) > 4:
                self._perm_cache.clear()
            p = np.random.default_rng(self._epoch_seeds[epoch]).permutation(self.n_train)
            self._perm_cache[epoch] = p
        return p

    def indices(self, i0: int, i1: int) -> np.ndarray:
        """Training-sample indices of trials i0 .. i1-1 (may span epochs)."""
        if not 0 <= i0 <= i1 <= len(self):
            raise IndexError(f"trials {i0}..{i1} out of range 0..{len(self)}")
        i = np.arange(i0, i1)
        ep, pos = np.divmod(i, self.n_train)
        out = np.empty(i.shape[0], dtype=np.int64)
        for e in np.unique(ep):
            m = ep == e
            out[m] = self.order(int(e))[pos[m]]
        return out

    def __len__(self):
        return self.epochs * self.n_train

    @property
    def total_steps(self) -> int:
        return len(self) * self.steps

    def segment(self, i):
        j = int(self.indices(i, i + 1)[0])
        return Segment(self.X[j], self.T[j], self.steps, int(self.labels[j]))

    # -- discrete learners -----------------------------------------------------------------
    def batch(self, i0, i1):
        """Inputs, voltage targets and labels of trials i0 .. i1-1."""
        j = self.indices(i0, i1)
        return self.X[j], self.T[j], self.labels[j]

    def test_batch(self):
        """The whole test set: (X, voltage targets, labels)."""
        return self.X_test, self.T_test, self.labels_test

    def correct(self, y, target):
        """Per-sample correctness: argmax of the output = argmax of the target."""
        return np.argmax(y, axis=1) == np.argmax(target, axis=1)


class ClassificationTask(LabelledSamples):
    n_inputs = 0
    n_classes = 0

    def __init__(self, options, sizes, dt, rng):
        super().__init__(options, sizes, dt, rng)
        if sizes[0] != self.n_inputs:
            raise ConfigError("network.sizes", f"task {self.kind!r} needs {self.n_inputs} inputs, got {sizes[0]}")
        if sizes[-1] != self.n_classes:
            raise ConfigError("network.sizes", f"task {self.kind!r} needs {self.n_classes} outputs, got {sizes[-1]}")
        self.epochs = self.option("epochs", int, positive=True, allow_zero=False)
        self.steps = self.steps_of("duration")
        self.eval_every = self.option("eval_every", int, positive=True)
        self.high, self.low = self.option("target_high"), self.option("target_low")
        if not np.isfinite(self.high) or not np.isfinite(self.low):
            raise ConfigError("task.target_high", f"targets must be finite, got {self.high}, {self.low}")
        if not isinstance(self.options["shuffle"], bool):
            raise ConfigError("task.shuffle", f"must be true or false, got {self.options['shuffle']!r}")
        self.shuffle = self.options["shuffle"]
        if self.options["test_set"] not in TEST_SETS:
            raise ConfigError("task.test_set", f"must be one of {list(TEST_SETS)}, got {self.options['test_set']!r}")
        sets = self.make_sets()
        self.X, self.labels = sets["train"]
        self.T = self.targets(self.labels)
        self.n_train = self.X.shape[0]
        self.X_test, self.labels_test = sets[self.options["test_set"]]
        self.T_test = self.targets(self.labels_test)
        self.test_size = self.X_test.shape[0]
        self.draw_epoch_seeds()

    def make_sets(self) -> dict:
        raise NotImplementedError

    def targets(self, labels) -> np.ndarray:
        """Output voltage targets (n, n_classes): target_high at the label, target_low elsewhere."""
        labels = np.asarray(labels, dtype=np.int64)
        T = np.full((labels.shape[0], self.n_classes), self.low)
        T[np.arange(labels.shape[0]), labels] = self.high
        return T

    # -- continuous engine -----------------------------------------------------------------
    def evaluate(self, sim, segment):
        last = segment == len(self) - 1
        if not self.eval_every or not (segment == 0 or (segment + 1) % self.eval_every == 0 or last):
            return {"test_accuracy": np.nan, "test_error": np.nan}
        err = steady_or_nan(lambda: steady_error_rate(sim.net, sim.cfg, self.X_test, self.labels_test))
        return {"test_accuracy": 1.0 - err, "test_error": err}


def steady_error_rate(net, cfg, X, labels, method="exact", chunk=2000) -> float:
    """Fraction misclassified at the noise-free steady state without target (argmax of u_N)."""
    circ = Circuit(cfg)
    wrong = 0
    for i in range(0, X.shape[0], chunk):
        st = solve(net, circ, X[i:i + chunk], None, method=method)
        wrong += int(np.sum(np.argmax(st.u[-1], axis=1) != labels[i:i + chunk]))
    return wrong / X.shape[0]


steady_error_rate.__test__ = False
