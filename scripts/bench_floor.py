"""A hand-written compiled Euler loop for one two-layer network: the speed floor of the bench.

This is what one numba function written for a single N = 2 network (n0-n1-n2 with n2
interneurons) does per step, with the same equations, building blocks and work as the
engine's fused Euler step in the bench's setting: soft-rectifier rates, eqs. 1-5 for the
potentials, eqs. 7-9 plasticity of the forward, IP and PI weights (top-down fixed) with
or without the tau_w trace, the input filter (tau_in = 3 ms) and Gaussian noise on every
soma (:func:`~dendrosim.engine.rng.add_normals`, phi from :mod:`dendrosim.vecmath`).
It has none of the engine's generality (any depth, transfer, switches, recording,
divergence checks), so the engine's speed over it says what that generality costs.

Used by ``bench.py`` beside it for the small networks; not used for simulation. Compiled
afresh in each process (no on-disk cache): it inlines the package's noise generator and
softplus, whose cached copies here would not follow edits of the package.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from dendrosim.engine.rng import add_normals
from dendrosim.vecmath import softplus

_FAST = {"reassoc", "contract"}
GAMMA, BETA, THETA = 0.1, 1.0, 3.0        # soft_relu of the bench config (transfer.phi_np defaults)


@njit(fastmath=_FAST)
def _pass(W, D, e, old, new, out, c1, c2, traces):
    """W <- W + c1 D (D <- D + c2 (e old^T - D)), or W <- W + c1 e old^T; out = W new.
    With c1 = 0 (fixed weights) only out = W new."""
    for i in range(W.shape[0]):
        ei, acc = e[i], 0.0
        if c1 == 0.0:
            for j in range(W.shape[1]):
                acc += W[i, j] * new[j]
            out[i] = acc
            continue
        if traces:
            for j in range(W.shape[1]):
                d = D[i, j]
                w = W[i, j] + c1 * d
                D[i, j] = d + c2 * (ei * old[j] - d)
                W[i, j] = w
                acc += w * new[j]
        else:
            for j in range(W.shape[1]):
                w = W[i, j] + c1 * ei * old[j]
                W[i, j] = w
                acc += w * new[j]
        out[i] = acc


@njit(fastmath=_FAST)
def _phi(a, o):
    for i in range(a.shape[0]):
        o[i] = GAMMA * softplus(BETA * (a[i] - THETA))


@njit(fastmath=_FAST)
def run_floor(n_steps, W1, D1, W2, D2, Wd, WIP, DIP, WPI, DPI, x, rng, dt, eta, tau_w, sigma):
    """``n_steps`` Euler steps of the n0-n1-n2 microcircuit from rest (u = 0, input rates 0)
    under input ``x``; returns the somatic potentials (hidden, output, interneurons).
    The weights (and traces D) are updated in place."""
    n0, n1, n2 = W1.shape[1], W1.shape[0], W2.shape[0]
    gl, gB, gA, gD, gs = 0.1, 1.0, 0.8, 1.0, 0.8
    traces = tau_w > 0.0
    c1, c2 = dt * eta, (dt / tau_w if traces else 0.0)
    n = n1 + 2 * n2                              # somata: hidden, output, interneurons
    u, a, o = np.zeros(n), np.zeros(n), np.zeros(n)
    r1, r2, rI = np.zeros(n1), np.zeros(n2), np.zeros(n2)     # rates at t
    q1, q2, qI = np.zeros(n1), np.zeros(n2), np.zeros(n2)     # rates at t+1
    e1, e2, eI, eP = np.zeros(n1), np.zeros(n2), np.zeros(n2), np.zeros(n1)     # eqs. 7, 7, 8, 9
    vB1, vA1, vB2, vI, vtd = np.zeros(n1), np.zeros(n1), np.zeros(n2), np.zeros(n2), np.zeros(n1)
    r0, q0 = np.zeros(n0), np.zeros(n0)
    att1, att2, attI = gB / (gl + gB + gA), gB / (gl + gB), gD / (gl + gD)
    _phi(u, o)                                   # rates and dendrites of the state at rest (eqs. 3-5)
    for i in range(n1):
        r1[i] = o[i]
    for i in range(n2):
        r2[i] = o[n1 + i]
        rI[i] = o[n1 + n2 + i]
    _pass(W2, W2, e2, r1, r1, vB2, 0.0, 0.0, False)
    _pass(WIP, WIP, eI, r1, r1, vI, 0.0, 0.0, False)
    _pass(Wd, Wd, eP, r2, r2, vtd, 0.0, 0.0, False)
    _pass(WPI, WPI, eP, rI, rI, vA1, 0.0, 0.0, False)
    for i in range(n1):
        vA1[i] += vtd[i]
    for _ in range(n_steps):
        for i in range(n1):                      # eqs. 7-9 at t
            a[i] = att1 * vB1[i]
        for i in range(n2):
            a[n1 + i] = att2 * vB2[i]
            a[n1 + n2 + i] = attI * vI[i]
        _phi(a, o)
        for i in range(n1):
            e1[i] = r1[i] - o[i]
            eP[i] = -vA1[i]
        for i in range(n2):
            e2[i] = r2[i] - o[n1 + i]
            eI[i] = rI[i] - o[n1 + n2 + i]
        for i in range(n1):                      # eqs. 1-2, Euler from t
            u[i] += dt * (-gl * u[i] + gB * (vB1[i] - u[i]) + gA * (vA1[i] - u[i]))
        for i in range(n2):
            uo, ui = u[n1 + i], u[n1 + n2 + i]
            u[n1 + i] += dt * (-gl * uo + gB * (vB2[i] - uo))
            u[n1 + n2 + i] += dt * (-gl * ui + gD * (vI[i] - ui) + gs * (uo - ui))
        add_normals(u, n, sigma * dt, rng)
        for j in range(n0):
            q0[j] = r0[j] + (dt / 3.0) * (x[j] - r0[j])
        _phi(u, o)                               # rates at t+1
        for i in range(n1):
            q1[i] = o[i]
        for i in range(n2):
            q2[i] = o[n1 + i]
            qI[i] = o[n1 + n2 + i]
        _pass(W1, D1, e1, r0, q0, vB1, c1, c2, traces)            # eq. 3
        _pass(W2, D2, e2, r1, q1, vB2, c1, c2, traces)
        _pass(WIP, DIP, eI, r1, q1, vI, c1, c2, traces)           # eq. 5
        _pass(Wd, Wd, eP, r2, q2, vtd, 0.0, 0.0, False)           # eq. 4
        _pass(WPI, DPI, eP, rI, qI, vA1, c1, c2, traces)
        for i in range(n1):
            vA1[i] += vtd[i]
        for j in range(n0):
            r0[j] = q0[j]
        for i in range(n1):
            r1[i] = q1[i]
        for i in range(n2):
            r2[i] = q2[i]
            rI[i] = qI[i]
    return u


def floor_steps_per_second(sizes, tau_w, seconds=1.0, eta=1e-4, sigma=0.1):
    """Euler steps per second of :func:`run_floor` on ``sizes`` = (n0, n1, n2), float64."""
    n0, n1, n2 = sizes
    rng = np.random.default_rng(0)
    f = lambda *s: rng.uniform(-0.1, 0.1, s)
    W1, W2, Wd, WIP, WPI = f(n1, n0), f(n2, n1), f(n1, n2), f(n2, n1), f(n1, n2)
    D1, D2, DIP, DPI = [np.zeros_like(w) for w in (W1, W2, WIP, WPI)]
    args = (W1, D1, W2, D2, Wd, WIP, DIP, WPI, DPI, rng.uniform(0, 1, n0),
            np.array([1, 2, 3, 4], dtype=np.uint64), 0.1, eta, float(tau_w), sigma)
    run_floor(10, *args)                         # compile
    n = 1000
    while True:
        t = time.perf_counter()
        run_floor(n, *args)
        el = time.perf_counter() - t
        if el > seconds * 0.5 or n > 5e7:
            return n / el
        n = int(n * max(2.0, seconds / max(el, 1e-3)))
