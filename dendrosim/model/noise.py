"""Noise on the somatic potentials (sec. 1.5; the per-step conventions of config ``noise``).

After each deterministic step every noisy potential gets scale * N(0, 1), one draw per
neuron and step (operator splitting): all pyramidal somata, and the interneurons if
``noise.interneurons``.
"""

from __future__ import annotations

import math

from numba import njit

PER_STEP_DT, EULER_MARUYAMA = 0, 1


@njit(cache=True, inline="always")
def noise_scale(sigma, dt, convention):
    """sigma dt for the convention ``per_step_dt`` (0: a per-step amplitude that scales with
    dt, as the paper's simulations), sigma sqrt(dt) for ``euler_maruyama`` (1: a Wiener
    process of intensity sigma); dt in ms."""
    return sigma * dt if convention == PER_STEP_DT else sigma * math.sqrt(dt)
