"""Packing of model parameters into the small arrays the compiled kernels take.

Kernels receive three arrays instead of many scalars, so there is one compiled
signature per dtype, and take them, with the layout records, as one :class:`Circuit`:

- ``fp`` (state dtype): global conductances and time constants, indices ``F_*``.
- ``lp`` (state dtype, shape (N+1, P_COLS)): per-layer learning rates and
  transfer-function parameters, columns ``P_*``.
- ``ip`` (int64): switches, indices ``I_*``.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

F_GL, F_GB, F_GA, F_GD, F_GSOM, F_EEXC, F_EINH, F_TAU_IN, F_TAU_W, F_SIGMA, F_DT = range(11)
F_PAL_SIGMA, F_PAL_TAU_XI, F_PAL_TAU_HP, F_PAL_ALPHA = range(11, 15)
F_LEN = 15

P_ETA_UP, P_ETA_IP, P_ETA_PI, P_ETA_DOWN, P_GAMMA, P_BETA, P_THETA = range(7)
P_COLS = 7

I_NUDGING, I_NOISE_CONV, I_NOISE_INTERNEURONS, I_TAU_IN_ON, I_TAU_W_ON, I_W_START, I_N_W, I_THREADS = range(8)
I_DOWN_RULE = 8
I_LEN = 9

Circuit = namedtuple("Circuit", "lay lp fp ip")
Circuit.__doc__ = """What a kernel knows of a network besides its state: the layout records ``lay``
(:data:`dendrosim.network.LAYER`), the per-layer parameters ``lp`` and the global ones ``fp``
(state dtype) and the switches ``ip`` (int64)."""

Recording = namedtuple("Recording", "src every mean buf acc")
Recording.__doc__ = """What a kernel records: the values at indices ``src`` into the concatenation [y, z],
every ``every`` steps, as samples of the state at the start of the step (``mean`` False) or as
means over each window of ``every`` steps (``mean`` True, the running sums in ``acc`` carried
across blocks), as rows of ``buf`` (rows >= ceil(steps / every), len(src) columns)."""

NUDGING_CODES = {"current": 0, "conductance": 1}
NOISE_CODES = {"per_step_dt": 0, "euler_maruyama": 1}
INTEGRATOR_CODES = {"euler": 0, "heun": 1, "rk4": 2, "expeuler": 3}
DOWN_RULE_CODES = {"eq10": 0, "pal": 1}


def pack(cfg, layout, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build (fp, lp, ip) from a resolved :class:`dendrosim.config.Config`."""
    c, pl, nw, nz = cfg.conductances, cfg.plasticity, cfg.network, cfg.noise
    N = layout.depth
    fp = np.zeros(F_LEN, dtype=dtype)
    fp[F_GL], fp[F_GB], fp[F_GA], fp[F_GD], fp[F_GSOM] = c.g_l, c.g_B, c.g_A, c.g_D, c.g_som
    fp[F_EEXC], fp[F_EINH] = c.E_exc, c.E_inh
    fp[F_TAU_IN], fp[F_TAU_W], fp[F_SIGMA] = nw.tau_in, pl.tau_w, nz.sigma
    fp[F_DT] = cfg.simulation.dt
    fp[F_PAL_SIGMA], fp[F_PAL_TAU_XI] = pl.pal_sigma, pl.pal_tau_xi
    fp[F_PAL_TAU_HP], fp[F_PAL_ALPHA] = pl.pal_tau_hp, pl.pal_alpha
    lp = np.zeros((N + 1, P_COLS), dtype=dtype)
    lp[1:, P_ETA_UP] = pl.eta_up
    if N > 1:
        lp[1:N, P_ETA_IP] = pl.eta_IP
        lp[1:N, P_ETA_PI] = pl.eta_PI
        lp[1:N, P_ETA_DOWN] = pl.eta_down
    lp[:, P_GAMMA], lp[:, P_BETA], lp[:, P_THETA] = nw.gamma, nw.beta, nw.theta
    ip = np.zeros(I_LEN, dtype=np.int64)
    ip[I_NUDGING] = NUDGING_CODES[c.nudging]
    ip[I_NOISE_CONV] = NOISE_CODES[nz.convention]
    ip[I_NOISE_INTERNEURONS] = int(nz.interneurons)
    ip[I_TAU_IN_ON] = int(nw.tau_in > 0)
    ip[I_TAU_W_ON] = int(pl.tau_w > 0)
    ip[I_W_START] = layout.w_start
    ip[I_N_W] = layout.n_w
    ip[I_THREADS] = 0      # >= 2: sweep large matrices with that many threads (set by the driver)
    ip[I_DOWN_RULE] = DOWN_RULE_CODES[pl.down_rule]
    return fp, lp, ip
