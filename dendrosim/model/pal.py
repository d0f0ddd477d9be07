"""Phaseless Alignment Learning of the top-down weights (Max et al., "Learning efficient
backprojections across cortical hierarchies in real time", Nature Machine Intelligence 2024).

Each hidden pyramidal neuron of layer k carries Ornstein-Uhlenbeck noise xi_k in its apical
potential (eq. 4 plus xi_k), which reaches its soma through g_A and so the layer above; the
pyramidal neurons of layer k+1 keep a high-pass filtered copy r_HP,k+1 of the rate they send.
The top-down weights W_down,k = B_k then follow

    dB_k/dt = eta_down (xi_k r_HP,k+1^T - alpha B_k),

a correlation of the local noise with the response it causes above, with a weak decay: B_k
aligns with the transpose of the forward weights W_up,k+1.

The two filters advance once per time step after the deterministic update (operator
splitting, like the somatic noise): :func:`ou_step`, :func:`high_pass_step`. The rule
enters the right-hand side as the generic weight_rate of :mod:`.plasticity` applied to
:func:`pal_rule`. Times in ms, potentials dimensionless, rates per ms.
"""

from __future__ import annotations

import math

from numba import njit

from ..vecmath import madd


@njit(cache=True, inline="always")
def ou_gains(dt, tau_xi, sigma):
    """(a, c) of :func:`ou_step`: a = dt/tau_xi, c = sigma sqrt(2 dt/tau_xi), so that sigma is
    the stationary standard deviation of the continuous process dxi = -xi/tau_xi dt +
    sigma sqrt(2/tau_xi) dW (the step's own one is sigma/sqrt(1 - a/2))."""
    a = dt / tau_xi
    return a, sigma * math.sqrt(2.0 * a)


@njit(cache=True, inline="always")
def ou_step(xi, a, c, n):
    """One Euler-Maruyama step of the Ornstein-Uhlenbeck noise: xi + a (-xi) + c n, with
    n ~ N(0, 1) and (a, c) from :func:`ou_gains`."""
    return madd(c, n, xi - a * xi)


@njit(cache=True, inline="always")
def high_pass_step(r_hp, r, r_prev, b):
    """One step of the high-pass filter of a rate: r_HP + (r(t) - r(t - dt)) - b r_HP with
    b = dt/tau_HP; r the rate the neuron sends at t, r_prev that of the step before."""
    return (r - r_prev) + (r_hp - b * r_hp)


@njit(cache=True, inline="always")
def pal_rule(xi, r_hp, alpha, w):
    """xi_i r_HP,j - alpha W_ij: the PAL rule's term of top-down weight W_ij (the rate is
    weight_rate(eta_down, .) of it, or its tau_w trace follows it like the other rules')."""
    return xi * r_hp - alpha * w
