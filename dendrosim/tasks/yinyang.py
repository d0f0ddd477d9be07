"""The Yin-Yang data set (Kriener, Goeltz & Petrovici 2021, arXiv 2102.08211), written from its
definition.

Points (x, y) uniform in the unit square, kept inside the circle of radius R = 0.5 around
(0.5, 0.5). With the small radius r = 0.1 and the distances d_right to (0.75, 0.5) and d_left to
(0.25, 0.5): label 2 (the dots) if d_right < r or d_left < r; otherwise label 1 if
r < d_left <= R/2, or y > 0.5 and d_right > R/2; otherwise label 0. The point reflection
(x, y) -> (1 - x, 1 - y) swaps labels 0 and 1 and keeps 2 (the symbol's symmetry).

Classes are balanced by rejection sampling: each sample's class is drawn uniformly from
{0, 1, 2}, then points are drawn until one of that class comes. The input vector is
(x, y, 1 - x, 1 - y). The training, validation and test sets are drawn from their own seeds
(defaults 42, 41, 40, as the data set's reference code), independent of ``init.seed``, so every
network seed sees the same data. Reference accuracies (the data set's README, 20 runs):
ANN 4-120-3 98.7 +- 0.3 %, shallow network 64.3 +- 0.2 %.
"""

from __future__ import annotations

import numpy as np

from ..config import ConfigError
from .base import register
from .classify import COMMON_KEYS, ClassificationTask

R_BIG, R_SMALL = 0.5, 0.1


def yin_yang_label(x, y) -> np.ndarray:
    """Labels (0, 1, 2) of points (x, y) inside the unit disk around (0.5, 0.5)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    d_right = np.hypot(x - 1.5 * R_BIG, y - R_BIG)
    d_left = np.hypot(x - 0.5 * R_BIG, y - R_BIG)
    dot = (d_right < R_SMALL) | (d_left < R_SMALL)
    one = (d_right <= R_SMALL) | ((d_left > R_SMALL) & (d_left <= 0.5 * R_BIG)) | (
        (y > R_BIG) & (d_right > 0.5 * R_BIG))
    return np.where(dot, 2, np.where(one, 1, 0)).astype(np.int64)


def yin_yang_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, labels): ``n`` class-balanced samples, X rows (x, y, 1 - x, 1 - y)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    pts = np.empty((n, 2))
    for c in range(3):
        need = np.flatnonzero(labels == c)
        got = []
        n_got = 0
        while n_got < need.size:
            p = rng.uniform(0.0, 2 * R_BIG, size=(max(64, 4 * (need.size - n_got)), 2))
            p = p[np.hypot(p[:, 0] - R_BIG, p[:, 1] - R_BIG) <= R_BIG]
            p = p[yin_yang_label(p[:, 0], p[:, 1]) == c]
            got.append(p)
            n_got += p.shape[0]
        pts[need] = np.concatenate(got)[:need.size]
    X = np.column_stack([pts[:, 0], pts[:, 1], 1.0 - pts[:, 0], 1.0 - pts[:, 1]])
    return X, labels


@register
class YinYang(ClassificationTask):
    kind = "yin_yang"
    n_inputs, n_classes = 4, 3
    KEYS = dict(COMMON_KEYS,
                n_train=(5000, "training samples"),
                n_validation=(1000, "validation samples"),
                n_test=(1000, "test samples"),
                seed_train=(42, "seed of the training set (independent of init.seed)"),
                seed_validation=(41, "seed of the validation set"),
                seed_test=(40, "seed of the test set"),
                eval_every=(1000, "continuous engine: test metrics every this many samples (0 = never)"))

    def make_sets(self):
        sets = {}
        for name, n_key, s_key in (("train", "n_train", "seed_train"), ("validation", "n_validation",
                                   "seed_validation"), ("test", "n_test", "seed_test")):
            n = self.option(n_key, int, positive=True, allow_zero=False)
            seed = self.option(s_key, int)
            if seed < 0:
                raise ConfigError(f"task.{s_key}", f"must be >= 0, got {seed}")
            sets[name] = yin_yang_set(n, seed)
        return sets
