"""The bars data set of Haider et al. (2021, Latent Equilibrium, Fig. 3).

A 3x3 grid of 0/1 input rates, 8 patterns in 3 classes: class 0 "horizontal" (one full row on,
3 patterns), class 1 "vertical" (one full column on, 3 patterns), class 2 "diagonal" (the main
or the anti-diagonal on, 2 patterns). The same 8 patterns serve for training and testing.
Network: 9 inputs, 3 outputs. Pixels are numbered row by row (pixel (row, col) is input
3 row + col).
"""

from __future__ import annotations

import numpy as np

from .base import register
from .classify import COMMON_KEYS, ClassificationTask


def bars_patterns() -> tuple[np.ndarray, np.ndarray]:
    """(X, labels): the 8 bars patterns (8, 9) in class order and their labels (8,)."""
    grids, labels = [], []
    for r in range(3):                      # class 0: horizontal bars
        g = np.zeros((3, 3))
        g[r, :] = 1.0
        grids.append(g)
        labels.append(0)
    for c in range(3):                      # class 1: vertical bars
        g = np.zeros((3, 3))
        g[:, c] = 1.0
        grids.append(g)
        labels.append(1)
    grids.append(np.eye(3))                 # class 2: the two diagonals
    grids.append(np.fliplr(np.eye(3)))
    labels += [2, 2]
    return np.stack([g.ravel() for g in grids]), np.array(labels, dtype=np.int64)


@register
class Bars(ClassificationTask):
    kind = "bars"
    n_inputs, n_classes = 9, 3
    KEYS = dict(COMMON_KEYS, epochs=(1000, "passes over the 8 patterns (Haider et al.: 1000)"),
                eval_every=(8, "continuous engine: test metrics every this many patterns (0 = never)"))

    def make_sets(self):
        X, y = bars_patterns()
        return {"train": (X, y), "validation": (X, y), "test": (X, y)}
