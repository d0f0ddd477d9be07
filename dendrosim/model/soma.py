"""Somatic dynamics (Sacramento et al. 2018, eqs. 1-2) and the input low-pass filter.

Each function returns a time derivative (per ms) of one neuron; the kernels evaluate
them at the state at t for every neuron (all compartments are updated synchronously).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def total_conductance(g_l, g_1, g_2):
    """g_l + g_1 + g_2: the total conductance of a soma in eqs. 1-2 (leak, dendrite, apical
    compartment or teaching), the rate at which u relaxes to its instantaneous fixed point."""
    return g_l + g_1 + g_2


@njit(cache=True, inline="always")
def soma_conductance(kind, g_l, g_B, g_A, g_D, g_som, nudged):
    """Total conductance of a soma, by ``kind``: 0 hidden pyramidal g_l+g_B+g_A (eq. 1),
    1 output pyramidal g_l+g_B, + g_som while ``nudged`` (a target is present), 2 interneuron
    g_l+g_D+g_som (eq. 2, always nudged). Conductance-based nudging counts g_som, the total of
    g_exc and g_inh while the target lies between E_inh and E_exc. 1/ms."""
    if kind == 0:
        return total_conductance(g_l, g_B, g_A)
    if kind == 1:
        return total_conductance(g_l, g_B, g_som if nudged else 0.0 * g_som)
    return total_conductance(g_l, g_D, g_som)


@njit(cache=True, inline="always")
def prospective_potential(u, du, g_tot):
    """u_breve = u + tau_eff du/dt with tau_eff = 1/g_tot (ms): the prospective potential of
    Latent Equilibrium (Haider et al. 2021, the defining relation of LE), whose rate phi(u_breve) a neuron sends
    instead of phi(u). With du/dt = g_tot (u* - u) (no noise) it is u*, the potential the soma
    is relaxing to."""
    return u + du / g_tot


@njit(cache=True, inline="always")
def du_basal(u, v_B, g_l, g_B):
    """du/dt = -g_l u + g_B (v_B - u): eq. 1 of an output-layer pyramidal cell (no apical
    compartment), before its teaching current."""
    return -g_l * u + g_B * (v_B - u)


@njit(cache=True, inline="always")
def du_pyramidal(u, v_B, v_A, g_l, g_B, g_A):
    """du/dt = -g_l u + g_B (v_B - u) + g_A (v_A - u): eq. 1 of a hidden pyramidal cell."""
    return du_basal(u, v_B, g_l, g_B) + g_A * (v_A - u)


@njit(cache=True, inline="always")
def du_interneuron(u, v_I, g_l, g_D):
    """du/dt = -g_l u + g_D (v_I - u): eq. 2 of an interneuron, before its teaching current
    from the pyramidal cells of the layer above (:func:`nudging_current`)."""
    return -g_l * u + g_D * (v_I - u)


@njit(cache=True, inline="always")
def nudging_current(u, u_tgt, g_som, mode, E_exc, E_inh):
    """Somatic teaching current towards ``u_tgt`` (eqs. 1-2, sec. 1.4).

    mode 0, current-based: g_som (u_tgt - u).
    mode 1, conductance-based: g_exc (E_exc - u) + g_inh (E_inh - u) with
    g_exc = g_som (u_tgt - E_inh)/(E_exc - E_inh), g_inh = -g_som (u_tgt - E_exc)/(E_exc - E_inh),
    each rectified at 0 (identical to mode 0 while E_inh <= u_tgt <= E_exc).
    """
    if mode == 0:
        return g_som * (u_tgt - u)
    dE = E_exc - E_inh
    g_exc = g_som * (u_tgt - E_inh) / dE
    g_inh = -g_som * (u_tgt - E_exc) / dE
    if g_exc < 0.0:
        g_exc = 0.0 * g_exc
    if g_inh < 0.0:
        g_inh = 0.0 * g_inh
    return g_exc * (E_exc - u) + g_inh * (E_inh - u)


@njit(cache=True, inline="always")
def dr0_input(x, r0, tau_in):
    """dr_0/dt = (x - r_0)/tau_in: the input rates low-pass filter the pattern x (sec. 1.5;
    tau_in in ms; with tau_in = 0 the kernels use r_0 = x instead)."""
    return (x - r0) / tau_in
