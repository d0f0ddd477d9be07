"""Plasticity (Sacramento et al. 2018, eqs. 6-10, the tau_w trace of sec. 2.2).

Every rule has the form dW/dt = eta post pre^T (eq. 6): a postsynaptic factor per row,
the presynaptic rates per column. The post factors:

    eq. 7  forward W_up,k:      r_k - phi_k(vhat_B,k),     vhat_B = att_B v_B
    eq. 8  interneuron W_IP,k:  r_I,k - phi_k+1(vhat_I,k), vhat_I = att_I v_I
    eq. 9  W_PI,k:              -v_A,k                     (drives v_A to rest, 0)
    eq. 10 top-down W_down,k:   r_k - phi_k(vhat_TD,k),    vhat_TD = W_down,k r_k+1

With the tau_w trace (tau_w > 0) the weights follow a low-pass trace D of the rule:
tau_w dD/dt = post pre - D, dW/dt = eta D. Biases are weights from a presynaptic rate of 1.

:func:`weight_rate`, :func:`trace_rate` are the rates (the generic right-hand side);
:func:`weight_step`, :func:`trace_step` their Euler steps with the constants folded
(dt eta, dt/tau_w), for the fused kernels.
"""

from __future__ import annotations

from numba import njit

from ..vecmath import madd


@njit(cache=True, inline="always")
def post_rate_error(r, phi_vhat):
    """r - phi(vhat): the post factor of eqs. 7, 8 and 10 (``phi_vhat`` the rate the dendrite
    predicts, ``r`` the neuron's actual rate)."""
    return r - phi_vhat


@njit(cache=True, inline="always")
def post_apical(v_A):
    """-v_A: the post factor of eq. 9 (the interneuron-to-pyramidal rule drives the apical
    potential to rest)."""
    return -v_A


@njit(cache=True, inline="always")
def weight_rate(eta, s):
    """dW/dt = eta s, with s = post pre (eq. 6) or, with the tau_w trace, s = D (sec. 2.2)."""
    return eta * s


@njit(cache=True, inline="always")
def trace_rate(g, d, tau_w):
    """dD/dt = (g - D)/tau_w: the tau_w low-pass trace D of the rule g = post pre (sec. 2.2)."""
    return (g - d) / tau_w


@njit(cache=True, inline="always")
def weight_step(w, c, s):
    """Euler step of :func:`weight_rate`: w + c s, with c = dt eta (s = D) or, without the
    trace, c = dt eta post_i per row and s = pre_j."""
    return madd(c, s, w)


@njit(cache=True, inline="always")
def trace_step(d, g, c2):
    """Euler step of :func:`trace_rate`: D + c2 (g - D) with c2 = dt/tau_w."""
    return madd(c2, g - d, d)
