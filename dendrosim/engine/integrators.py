"""One time step of each integrator over the same right-hand side (:mod:`.rhs`).

All steppers advance ``y`` in place by ``dt`` (ms) and leave the derived
quantities of the state at the *start* of the step in ``z`` (for recording).

==========  ====  ==========================================================
integrator  code  scheme
==========  ====  ==========================================================
euler       0     y += dt f(y)                          (order 1; the paper's)
heun        1     explicit trapezoid                    (order 2)
rk4         2     classical Runge-Kutta                 (order 4)
expeuler    3     exponential Euler: each potential relaxes exactly towards
                  its instantaneous fixed point, u += (1 - e^{-g dt})/g * f,
                  with g the compartment's total conductance; stable for any
                  dt. Weights take an Euler step, traces an exact decay.
==========  ====  ==========================================================

Noise is added after the deterministic update (operator splitting), see :mod:`.loop`.

With Latent Equilibrium ([network] latent_equilibrium) euler and expeuler also write the
u_breve block: u_breve = u + du/dt / g_tot from the state at the start of the step and its
derivative (the same for both schemes), the noise's share added by the loop. The multi-stage
schemes have no single du/dt of a step; the config refuses them with LE.
"""

from __future__ import annotations

import math

from numba import njit

from ..model.soma import soma_conductance
from .params import F_GA, F_GB, F_GD, F_GL, F_GSOM, F_TAU_IN, F_TAU_W, I_N_W, I_TAU_IN_ON, I_TAU_W_ON
from .rhs import prospective_update, rhs


@njit(cache=True)
def expeuler_gains(h, dt, has_tgt, lay, fp, ip):
    """Per-variable step gains (1 - e^{-g dt})/g for the potentials and r_0 (into ``h``).

    Returns the gain of the plasticity traces, tau_w (1 - e^{-dt/tau_w}).
    """
    N = lay.shape[0] - 1
    g_l, g_B, g_A, g_D, g_som = fp[F_GL], fp[F_GB], fp[F_GA], fp[F_GD], fp[F_GSOM]
    for k in range(1, N + 1):
        g = soma_conductance(0 if k < N else 1, g_l, g_B, g_A, g_D, g_som, has_tgt)
        gain = -math.expm1(-g * dt) / g
        for i in range(lay[k].n):
            h[lay[k].u + i] = gain
        if k < N:
            g = soma_conductance(2, g_l, g_B, g_A, g_D, g_som, has_tgt)
            gain = -math.expm1(-g * dt) / g
            for i in range(lay[k + 1].n):
                h[lay[k].u_I + i] = gain
    gain = dt
    if ip[I_TAU_IN_ON] == 1:
        gain = -math.expm1(-dt / fp[F_TAU_IN]) * fp[F_TAU_IN]
    for j in range(lay[0].n):
        h[lay[0].u + j] = gain
    if ip[I_TAU_W_ON] == 1:
        return -math.expm1(-dt / fp[F_TAU_W]) * fp[F_TAU_W]
    return dt


@njit(cache=True)
def step(integ, y, z, zs, work, dt, x, tgt, has_tgt, plastic, lay, lp, fp, ip, err, one, h, h_trace):
    """Advance ``y`` by one deterministic step of integrator ``integ`` (codes above).

    ``zs`` is scratch like ``z`` for the intermediate stages; ``work`` is scratch of
    shape (5, len(y)) whose weight entries start at zero.
    ``h``, ``h_trace``: exponential-Euler gains from :func:`expeuler_gains`.
    """
    n = y.shape[0]
    k1 = work[0]
    rhs(y, z, k1, x, tgt, has_tgt, plastic, lay, lp, fp, ip, err, one)
    if lay[0].u_breve >= 0:     # Latent Equilibrium (euler, expeuler): u_breve = u + du/dt / g_tot
        prospective_update(y, k1, 1.0, True, lay[0].u, has_tgt, lay, fp)
    if integ == 0:
        for i in range(n):
            y[i] += dt * k1[i]
    elif integ == 1:
        k2, yt = work[1], work[4]
        for i in range(n):
            yt[i] = y[i] + dt * k1[i]
        rhs(yt, zs, k2, x, tgt, has_tgt, plastic, lay, lp, fp, ip, err, one)
        half = 0.5 * dt
        for i in range(n):
            y[i] += half * (k1[i] + k2[i])
    elif integ == 2:
        k2, k3, k4, yt = work[1], work[2], work[3], work[4]
        half = 0.5 * dt
        for i in range(n):
            yt[i] = y[i] + half * k1[i]
        rhs(yt, zs, k2, x, tgt, has_tgt, plastic, lay, lp, fp, ip, err, one)
        for i in range(n):
            yt[i] = y[i] + half * k2[i]
        rhs(yt, zs, k3, x, tgt, has_tgt, plastic, lay, lp, fp, ip, err, one)
        for i in range(n):
            yt[i] = y[i] + dt * k3[i]
        rhs(yt, zs, k4, x, tgt, has_tgt, plastic, lay, lp, fp, ip, err, one)
        sixth = dt / 6.0
        for i in range(n):
            y[i] += sixth * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])
    else:
        n_state = lay[0].u + lay[0].n      # potentials and r_0
        n_w = ip[I_N_W]
        for i in range(n_state):
            y[i] += h[i] * k1[i]
        for i in range(n_state, n_state + n_w):
            y[i] += dt * k1[i]
        for i in range(n_state + n_w, n):
            y[i] += h_trace * k1[i]
