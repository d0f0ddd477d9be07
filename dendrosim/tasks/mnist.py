"""MNIST classification (Sacramento et al. 2018, Fig. 3, sec. 3.4; research notes sec. 4(c)).

Data: the paper's split of :func:`dendrosim.datasets.mnist_splits`: the first
55,000 official training images for training, the last 5,000 for validation,
the official 10,000 for testing. Pixels are rates in [0, 1] (pixel / 255), fed
to the input layer as they are (no transfer function on the input, pitfall 4).

Targets: one-hot *rates* ``rate_high`` (the label) / ``rate_low`` (the rest),
paper {0.8, 0.1}, turned into output *voltage* targets (pitfall 5; caveat iii
of sec. 4(c)) by ``targets``:

- ``"phi_inv"`` (default): u_trgt = phi_N^{-1}(r_trgt) with the output layer's
  transfer ``transfer`` (logistic: 0.8 -> +1.386, 0.1 -> -2.197);
- ``"rate"``: the rates used as voltages directly (R-ern's convention; only
  for comparison).

``transfer`` must be the output layer's ``[network] transfer`` (the task is
built without the network; :meth:`MNIST.evaluate` checks it against the
running simulation).

Order: ``epochs`` passes over the training images (the first ``subset`` of
them if ``subset > 0``), each pass in a fresh random order drawn from the
task's rng (``shuffle = true``) or in file order. Segment / trial ``i`` is
image ``perm[i // n][i % n]`` of epoch ``i // n``.

Both engines use the same object:

- continuous engine (``dendrosim run`` with ``[learner] rule = "continuous"``):
  each image is one segment held ``duration`` ms; :meth:`evaluate` reports the
  test error (fraction misclassified, argmax of the output) at the noise-free
  steady state *without* target (the network's own prediction,
  :func:`dendrosim.steady.solve`, ``exact``) every ``eval_every``
  images, after the first and after the last image (NaN otherwise);
- discrete learners (:mod:`dendrosim.learners.runner`): :meth:`batch`,
  :meth:`test_batch` (``test_set`` = "test" or "validation", its first
  ``n_test`` images), ``test_size`` and :meth:`correct` (argmax).
"""

from __future__ import annotations

import numpy as np

from ..config import ConfigError
from ..model.transfer import TRANSFER_CODES, phi_inv_np
from .base import register, steady_or_nan
from .classify import LabelledSamples, steady_error_rate

TEST_SETS = ("test", "validation")
TARGET_MODES = ("phi_inv", "rate")


def one_hot_targets(labels, n_classes=10, low=0.1, high=0.8, transfer="logistic", mode="phi_inv"):
    """(n, n_classes) output voltage targets for integer ``labels``.

    Rates ``high`` for the label and ``low`` elsewhere, turned into voltages with
    phi^{-1} of ``transfer`` (``mode = "phi_inv"``) or used as they are (``"rate"``).
    """
    if mode not in TARGET_MODES:
        raise ValueError(f"mode must be one of {list(TARGET_MODES)}, got {mode!r}")
    labels = np.asarray(labels, dtype=np.int64)
    rates = np.full((labels.shape[0], n_classes), float(low))
    rates[np.arange(labels.shape[0]), labels] = float(high)
    if mode == "rate":
        return rates
    return phi_inv_np(rates, transfer)


def error_rate(y, labels) -> float:
    """Fraction of rows of ``y`` whose argmax is not the label."""
    return float(np.mean(np.argmax(y, axis=1) != np.asarray(labels)))


@register
class MNIST(LabelledSamples):
    kind = "mnist"
    KEYS = {
        "epochs": (1, "passes over the training images"),
        "subset": (0, "use only the first n training images (0 = all 55,000; for CI)"),
        "shuffle": (True, "fresh random order every epoch (task rng), else file order"),
        "duration": (100.0, "continuous engine: presentation time per image, ms"),
        "rate_low": (0.1, "target rate of the wrong classes (paper 0.1)"),
        "rate_high": (0.8, "target rate of the correct class (paper 0.8)"),
        "targets": ("phi_inv", '"phi_inv": u_trgt = phi^-1(rate) of `transfer`; "rate": rates used as voltages'),
        "transfer": ("logistic", "output layer transfer function (must match [network] transfer of layer N)"),
        "test_set": ("test", '"test" (official 10,000) or "validation" (the 5,000 held out of training)'),
        "n_test": (0, "evaluate on the first n images of the test set (0 = all)"),
        "eval_every": (1000, "continuous engine: test error every this many images (0 = never)"),
        "n_validation": (5000, "training images held out for validation (paper 5,000)"),
        "data_dir": ("", "folder with the IDX files (empty = search, see dendrosim.datasets.find_mnist_dir)"),
    }

    def __init__(self, options, sizes, dt, rng):
        super().__init__(options, sizes, dt, rng)
        from .. import datasets

        if sizes[0] != 784:
            raise ConfigError("network.sizes", f"MNIST needs 784 inputs, got {sizes[0]}")
        if sizes[-1] != 10:
            raise ConfigError("network.sizes", f"MNIST needs 10 outputs, got {sizes[-1]}")
        self.epochs = self.option("epochs", int, positive=True, allow_zero=False)
        subset = self.option("subset", int, positive=True)
        self.steps = self.steps_of("duration")
        self.eval_every = self.option("eval_every", int, positive=True)
        n_test = self.option("n_test", int, positive=True)
        n_val = self.option("n_validation", int, positive=True, allow_zero=False)
        lo, hi = self.option("rate_low"), self.option("rate_high")
        for key in ("shuffle",):
            if not isinstance(self.options[key], bool):
                raise ConfigError(f"task.{key}", f"must be true or false, got {self.options[key]!r}")
        for key, choices in (("targets", TARGET_MODES), ("test_set", TEST_SETS),
                             ("transfer", tuple(TRANSFER_CODES))):
            if self.options[key] not in choices:
                raise ConfigError(f"task.{key}", f"must be one of {list(choices)}, got {self.options[key]!r}")
        self.transfer, self.mode = self.options["transfer"], self.options["targets"]
        if self.mode == "phi_inv":
            if self.transfer == "logistic" and not (0 < lo < 1 and 0 < hi < 1):
                raise ConfigError("task.rate_low", f"logistic phi^-1 needs rates in (0, 1), got {lo}, {hi}")
            if self.transfer == "soft_relu" and not (lo > 0 and hi > 0):
                raise ConfigError("task.rate_low", f"soft_relu phi^-1 needs rates > 0, got {lo}, {hi}")
        data_dir = self.options["data_dir"]
        if not isinstance(data_dir, str):
            raise ConfigError("task.data_dir", f"must be a string, got {data_dir!r}")
        try:
            sp = datasets.mnist_splits(data_dir or None, n_validation=n_val, dtype=np.float32)
        except FileNotFoundError as e:
            raise ConfigError("task.data_dir", str(e)) from None
        X, y = sp["train"]
        if subset:
            if subset > X.shape[0]:
                raise ConfigError("task.subset", f"only {X.shape[0]} training images, got {subset}")
            X, y = X[:subset], y[:subset]
        self.X, self.labels = X, y
        self.T = self.targets(y)
        self.n_train = X.shape[0]
        Xt, yt = sp[self.options["test_set"]]
        if n_test:
            if n_test > Xt.shape[0]:
                raise ConfigError("task.n_test", f"the {self.options['test_set']} set has {Xt.shape[0]} "
                                  f"images, got {n_test}")
            Xt, yt = Xt[:n_test], yt[:n_test]
        self.X_test, self.labels_test = Xt, yt
        self.T_test = self.targets(yt)
        self.test_size = Xt.shape[0]
        self.shuffle = self.options["shuffle"]
        self.draw_epoch_seeds()

    # -- data --------------------------------------------------------------------------
    def targets(self, labels):
        """Voltage targets (n, 10) of the configured conversion for ``labels``."""
        return one_hot_targets(labels, self.sizes[-1], self.option("rate_low"), self.option("rate_high"),
                               self.transfer, self.mode)

    # -- continuous engine ---------------------------------------------------------------
    def evaluate(self, sim, segment):
        last = segment == len(self) - 1
        if not self.eval_every or not (segment == 0 or (segment + 1) % self.eval_every == 0 or last):
            return {"test_error": np.nan}
        self._check_transfer(sim.cfg)
        return {"test_error": steady_or_nan(lambda: test_error(sim.net, sim.cfg, self.X_test, self.labels_test))}

    def _check_transfer(self, cfg):
        tr = cfg.network.transfer
        out = tr if isinstance(tr, str) else tr[-1]
        if out != self.transfer:
            raise ConfigError("task.transfer", f"{self.transfer!r} differs from the output layer's "
                              f"[network] transfer {out!r}")


# Fraction misclassified at the noise-free steady state without target (argmax of u_N).
test_error = steady_error_rate

