"""Transfer functions phi (rate from somatic potential, r = phi(u)) and their derivatives.

:func:`phi` and :func:`dphi` are scalar ``@njit`` blocks selected by an integer code, so
the engine can mix transfer functions across layers with one compiled signature;
:func:`phi_block` is the one loop over a block of neurons that every kernel uses, with
the code tested once outside the loop so that the loop vectorises.

=========  ====  =====================================================
name       code  phi(u)
=========  ====  =====================================================
linear     0     u
relu       1     max(u, 0)
logistic   2     1 / (1 + exp(-u))                (MNIST, paper sec. 3.4)
soft_relu  3     gamma * log(1 + exp(beta (u - theta)))   (Figs. 1-2, sec. 3.3;
                 paper values gamma = 0.1, beta = 1, theta = 3)
=========  ====  =====================================================
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .. import vecmath

TRANSFER_CODES = {"linear": 0, "relu": 1, "logistic": 2, "soft_relu": 3}


@njit(cache=True, inline="always")
def phi(u, code, gamma, beta, theta):
    """Rate phi(u) for transfer ``code``; gamma, beta, theta used by soft_relu only.

    exp and log1p come from :mod:`dendrosim.vecmath` (vectorisable, within 3 ulp of libm).
    """
    if code == 3:
        return gamma * vecmath.softplus(beta * (u - theta))
    if code == 2:
        return vecmath.logistic(u)
    if code == 1:
        return u if u > 0.0 else 0.0 * u
    return u


@njit(cache=True, inline="always")
def dphi(u, code, gamma, beta, theta):
    """Derivative phi'(u) for transfer ``code``."""
    if code == 3:
        return gamma * beta * vecmath.logistic(beta * (u - theta))
    if code == 2:
        s = vecmath.logistic(u)
        return s * (1.0 - s)
    if code == 1:
        return 1.0 if u > 0.0 else 0.0
    return 1.0


def param_at(p, j):
    """p[j] if ``p`` is an array (one value per neuron), else ``p`` (one value for the block)."""
    return p[j] if isinstance(p, np.ndarray) else p


@overload(param_at, inline="always")
def _param_at(p, j):
    if isinstance(p, types.Array):
        return lambda p, j: p[j]
    return lambda p, j: p


@njit(cache=True, inline="always")
def phi_block(out, oo, src, so, j0, j1, scale, gamma, beta, theta, code):
    """out[oo+j] = phi(scale_j src[so+j]) for j0 <= j < j1, with transfer ``code``.

    ``scale`` (an attenuation, eqs. 7-8, or 1), ``gamma``, ``beta``, ``theta``: one number
    for the block (a layer) or arrays indexed by j (per neuron). The code is tested once,
    outside the loops, so that each loop is straight-line arithmetic that LLVM vectorises
    (:mod:`dendrosim.vecmath`); offsets are unsigned (no wraparound test in the loop).
    """
    o, s, a, n = np.uint64(oo), np.uint64(so), np.uint64(j0), j1 - j0
    if code == 3:
        for jj in range(n):
            j = a + np.uint64(jj)
            out[o + j] = phi(param_at(scale, j) * src[s + j], 3, param_at(gamma, j), param_at(beta, j),
                             param_at(theta, j))
    elif code == 2:
        for jj in range(n):
            j = a + np.uint64(jj)
            out[o + j] = phi(param_at(scale, j) * src[s + j], 2, param_at(gamma, j), param_at(beta, j),
                             param_at(theta, j))
    elif code == 1:
        for jj in range(n):
            j = a + np.uint64(jj)
            out[o + j] = phi(param_at(scale, j) * src[s + j], 1, param_at(gamma, j), param_at(beta, j),
                             param_at(theta, j))
    else:
        for jj in range(n):
            j = a + np.uint64(jj)
            out[o + j] = phi(param_at(scale, j) * src[s + j], 0, param_at(gamma, j), param_at(beta, j),
                             param_at(theta, j))


def phi_np(u: np.ndarray, name: str, gamma=0.1, beta=1.0, theta=3.0) -> np.ndarray:
    """Vectorised NumPy phi, for analysis code and learners (not the engine)."""
    u = np.asarray(u)
    if name == "soft_relu":
        return gamma * np.logaddexp(0.0, beta * (u - theta))
    if name == "logistic":
        return 0.5 * (1.0 + np.tanh(0.5 * u))
    if name == "relu":
        return np.maximum(u, 0.0)
    if name == "linear":
        return u.copy()
    raise ValueError(f"unknown transfer function {name!r}; choose one of {sorted(TRANSFER_CODES)}")


def dphi_np(u: np.ndarray, name: str, gamma=0.1, beta=1.0, theta=3.0) -> np.ndarray:
    """Vectorised NumPy phi'(u)."""
    u = np.asarray(u)
    if name == "soft_relu":
        return gamma * beta * 0.5 * (1.0 + np.tanh(0.5 * beta * (u - theta)))
    if name == "logistic":
        s = 0.5 * (1.0 + np.tanh(0.5 * u))
        return s * (1.0 - s)
    if name == "relu":
        return (u > 0).astype(u.dtype)
    if name == "linear":
        return np.ones_like(u)
    raise ValueError(f"unknown transfer function {name!r}; choose one of {sorted(TRANSFER_CODES)}")


def phi_inv_np(r: np.ndarray, name: str, gamma=0.1, beta=1.0, theta=3.0) -> np.ndarray:
    """Inverse transfer, to turn rate targets into voltage targets (pitfall 5)."""
    r = np.asarray(r, dtype=float)
    if name == "logistic":
        return np.log(r) - np.log1p(-r)
    if name == "soft_relu":
        return theta + np.log(np.expm1(r / gamma)) / beta
    if name in ("linear", "relu"):
        return r.copy()
    raise ValueError(f"unknown transfer function {name!r}")
