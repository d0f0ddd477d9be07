"""Dendritic potentials (Sacramento et al. 2018, eqs. 3-5) and their attenuated somatic
predictions (the vhat of eqs. 7-8).

The dendrites are weighted sums of presynaptic rates:

    v_B,k = W_up,k r_{k-1} (+ b_up,k)                 (eq. 3, basal)
    v_A,k = W_down,k r_{k+1} + W_PI,k r_I,k           (eq. 4, apical)
    v_I,k = W_IP,k r_k (+ b_IP,k)                     (eq. 5, interneuron dendrite)

Which matrix and which rates feed which dendrite is fixed by the state layout
(:mod:`dendrosim.network`); every kernel accumulates the sums with :func:`synaptic_term`,
in the order of summation its schedule chooses.
"""

from __future__ import annotations

from numba import njit

from ..vecmath import madd
from .soma import total_conductance


@njit(cache=True, inline="always")
def synaptic_term(acc, w, r):
    """acc + w r: one term of the sums of eqs. 3-5 (``acc`` the partial sum)."""
    return madd(w, r, acc)


@njit(cache=True, inline="always")
def attenuation_basal(g_l, g_B, g_A):
    """g_B/(g_l + g_B + g_A): the somatic potential a basal potential v_B predicts in the
    absence of apical input and teaching, vhat_B = g_B/(g_l+g_B+g_A) v_B (eq. 7). The output
    layer has no apical compartment: pass g_A = 0 there."""
    return g_B / total_conductance(g_l, g_B, g_A)


@njit(cache=True, inline="always")
def attenuation_interneuron(g_l, g_D):
    """g_D/(g_l + g_D): vhat_I = g_D/(g_l+g_D) v_I, the interneuron's prediction from its
    dendrite (eq. 8)."""
    return g_D / (g_l + g_D)
