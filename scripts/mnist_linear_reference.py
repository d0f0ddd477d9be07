#!/usr/bin/env python
"""Standard linear classifiers on the paper's MNIST split, to read the shallow row against.

The paper's shallow learner reaches 8.4 % test error (Sacramento et al. 2018, sec. 3.4);
fig3_mnist_shallow.toml (784-10, the dendritic rule at the steady state) reaches ~11 %.
This script gives the two textbook endpoints on the same 55,000 / 5,000 / 10,000 split
and pixels in [0, 1]: least squares onto one-hot +-1 targets (ridge 0.1, closed form) and
softmax regression (cross-entropy, mini-batches of 100, 15 epochs, rate 0.5). The dendritic
rule, a squared error on voltages seen through the logistic, lies between them.

    python scripts/mnist_linear_reference.py        (a few seconds; needs MNIST, see README)

On this machine (2026-11-25): least squares 14.41 / 11.78 / 13.92 %, softmax regression
7.61 / 6.34 / 8.32 % (train / validation / test).
"""

from __future__ import annotations

import numpy as np

from dendrosim.datasets import mnist_splits


def with_bias(X):
    return np.hstack([X, np.ones((len(X), 1))])


def least_squares(X, y, ridge=0.1):
    """W minimising |with_bias(X) W - T|^2 + ridge |W|^2, T one-hot with -1 / +1."""
    A = with_bias(X)
    T = -np.ones((len(y), 10))
    T[np.arange(len(y)), y] = 1.0
    return np.linalg.solve(A.T @ A + ridge * np.eye(A.shape[1]), A.T @ T)


def softmax_regression(X, y, epochs=15, batch=100, rate=0.5, seed=0):
    """Plain mini-batch gradient descent on the cross-entropy of a softmax over 10 classes."""
    A = with_bias(X)
    W = np.zeros((A.shape[1], 10))
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for i in range(0, len(order), batch):
            b = order[i:i + batch]
            Z = A[b] @ W
            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            P /= P.sum(axis=1, keepdims=True)
            P[np.arange(len(b)), y[b]] -= 1.0
            W -= rate * A[b].T @ P / len(b)
    return W


def error_percent(W, X, y):
    return 100.0 * np.mean(np.argmax(with_bias(X) @ W, axis=1) != y)


def main():
    d = mnist_splits()
    print("classifier          train    validation  test   (% error)")
    for name, fit in (("least squares", least_squares), ("softmax regression", softmax_regression)):
        W = fit(*d["train"])
        e = [error_percent(W, *d[s]) for s in ("train", "validation", "test")]
        print(f"{name:<18} {e[0]:6.2f}  {e[1]:8.2f}  {e[2]:8.2f}")


if __name__ == "__main__":
    main()
