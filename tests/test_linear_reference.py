"""scripts/mnist_linear_reference.py: the two linear classifiers the shallow MNIST row is read against."""

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "mnist_linear_reference", Path(__file__).resolve().parents[1] / "scripts" / "mnist_linear_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def _data(n=200, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, d)), rng.integers(0, 10, n)


def test_least_squares_is_the_ridge_solution():
    X, y = _data()
    ridge = 0.1
    A = np.hstack([X, np.ones((len(X), 1))])
    T = -np.ones((len(y), 10))
    T[np.arange(len(y)), y] = 1.0
    # the ridge problem as one ordinary least-squares problem on stacked rows
    A_aug = np.vstack([A, np.sqrt(ridge) * np.eye(A.shape[1])])
    T_aug = np.vstack([T, np.zeros((A.shape[1], 10))])
    W_ref = np.linalg.lstsq(A_aug, T_aug, rcond=None)[0]
    np.testing.assert_allclose(ref.least_squares(X, y, ridge=ridge), W_ref, rtol=1e-9, atol=1e-12)


def test_softmax_regression_first_full_batch_step_is_the_cross_entropy_gradient():
    """From W = 0 every class has probability 1/10, so one full-batch step of rate r is
    W = r A^T (Y - 1/10) / n (Y one-hot): a wrong sign or normalisation fails this."""
    X, y = _data()
    r = 0.7
    A = np.hstack([X, np.ones((len(X), 1))])
    Y = np.zeros((len(y), 10))
    Y[np.arange(len(y)), y] = 1.0
    W = ref.softmax_regression(X, y, epochs=1, batch=len(y), rate=r)
    np.testing.assert_allclose(W, r * A.T @ (Y - 0.1) / len(y), rtol=1e-12, atol=1e-15)


def test_softmax_regression_separates_separable_classes():
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 5, (10, 4))
    y = rng.integers(0, 10, 500)
    X = centres[y] + rng.normal(0, 0.3, (500, 4))
    W = ref.softmax_regression(X, y, epochs=30, batch=50, rate=0.5)
    assert ref.error_percent(W, X, y) == 0.0
    assert ref.error_percent(ref.least_squares(X, y), X, y) < 50.0    # a weaker but real fit
