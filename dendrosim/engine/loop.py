"""The compiled time loop: a whole block of steps (at least one pattern) per call.

Python hands :func:`run_block` the state, the held input and target, and
preallocated buffers; the loop integrates, adds noise, records decimated
samples and checks for divergence without returning to Python.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from ..model.noise import noise_scale
from .integrators import expeuler_gains, step
from .params import F_SIGMA, I_NOISE_CONV, I_NOISE_INTERNEURONS
from .rng import add_normals, fill_normal
from .rhs import PW_ROWS, derived, pal_update, prospective_update

STATUS_OK, STATUS_DIVERGED = 0, 1


@njit(cache=True)
def _noisy_count(lay, ip):
    """Noise goes to the first n entries of y: all pyramidal somas, then interneurons."""
    N = lay.shape[0] - 1
    n = 0
    for k in range(1, N + 1):
        n += lay[k].n
    if ip[I_NOISE_INTERNEURONS] == 1:
        for k in range(1, N):
            n += lay[k + 1].n
    return n


@njit(cache=True)
def _record(y, z, n_y, rec_src, out):
    for j in range(rec_src.shape[0]):
        s = rec_src[j]
        out[j] = y[s] if s < n_y else z[s - n_y]


@njit(cache=True, inline="always")
def record_step(y, z, n_y, rec_src, rec_own, t, s, every, mean, buf, acc, n_rec, stride, lane):
    """The recording of step ``s`` (the state at t, before the step) in the fused kernels:
    every ``every`` steps the values as row ``n_rec`` of ``buf``, or with ``mean`` their sum in
    ``acc`` each step and every ``every`` steps its mean as that row. Returns the new row count.

    Variable j is y[i] or z[i - n_y] with i = rec_src[j] * stride + lane (``stride`` LANES and
    a lane for the lane-interleaved states of engine.lanes, else 1 and 0). Only the variables
    with rec_own[j] == t are touched (a kernel whose threads record their own); t < 0: all."""
    if not mean:
        if s % every != 0:
            return n_rec
        for j in range(rec_src.shape[0]):
            if t < 0 or rec_own[j] == t:
                src = rec_src[j]
                buf[n_rec, j] = y[src * stride + lane] if src < n_y else z[(src - n_y) * stride + lane]
        return n_rec + 1
    for j in range(rec_src.shape[0]):
        if t < 0 or rec_own[j] == t:
            src = rec_src[j]
            acc[j] += y[src * stride + lane] if src < n_y else z[(src - n_y) * stride + lane]
    if (s + 1) % every != 0:
        return n_rec
    for j in range(rec_src.shape[0]):
        if t < 0 or rec_own[j] == t:
            buf[n_rec, j] = acc[j] / every
            acc[j] = 0.0
    return n_rec + 1


@njit(cache=True)
def _record_part(y, z, n_y, rec_src, out, acc, mean, from_y):
    """Record (or, with ``mean``, accumulate) the values held in y or those in z."""
    for j in range(rec_src.shape[0]):
        src = rec_src[j]
        if (src < n_y) != from_y:
            continue
        v = y[src] if from_y else z[src - n_y]
        if mean:
            acc[j] += v
        else:
            out[j] = v


@njit(cache=True)
def _neurons_finite(y, n_neurons):
    acc = 0.0
    for i in range(n_neurons):
        acc += y[i]
    return math.isfinite(acc)


@njit(cache=True)
def run_block(y, x, tgt, has_tgt, n_steps, step0, plastic_from, integ, dt, circuit, rng, rec, ws):
    """Integrate ``n_steps`` steps of ``dt`` ms with input ``x`` and target ``tgt`` held.

    Parameters
    ----------
    step0 : global index of the first step (drives the recording grid).
    plastic_from : plasticity is off for block steps i < plastic_from (learning lag).
    integ : integrator code (engine.params.INTEGRATOR_CODES).
    circuit : :class:`~.params.Circuit` (layout and parameters).
    rng : the noise generator's state (engine.rng), advanced in place.
    rec : :class:`~.params.Recording`.
    ws : :class:`Scratch` from :func:`workspace` (``pw`` is used by the fused Euler kernel only).

    Returns (steps done, status, rows recorded); status 1 = non-finite potential.
    """
    lay, lp, fp, ip = circuit
    rec_src, rec_every, rec_mean, rec_buf, rec_acc = rec
    z, zs, work, err, one, h = ws.z, ws.zs, ws.work, ws.err, ws.one, ws.h
    n_y = y.shape[0]
    sigma = fp[F_SIGMA]
    scale = noise_scale(sigma, dt, ip[I_NOISE_CONV])
    n_noisy = _noisy_count(lay, ip)
    n_neurons = lay[0].u
    h_trace = expeuler_gains(h, dt, has_tgt, lay, fp, ip) if integ == 3 else dt
    n_rec_vars = rec_src.shape[0]
    n_rec = 0
    le = lay[0].u_breve >= 0
    before = work[1]            # LE: the potentials before the noise of a step
    pal = lay[1].xi >= 0        # PAL: the apical noise and the high-pass filter
    n_xi = 0
    for k in range(1, lay.shape[0] - 1 if pal else 1):   # one draw per hidden pyramidal neuron
        n_xi += lay[k].n
    normals = work[2][:n_xi]    # its draws of a step (the generic path's workspace has 7 rows)
    for i in range(n_steps):
        plastic = i >= plastic_from
        s = step0 + i
        take = n_rec_vars > 0 and (rec_mean or s % rec_every == 0)
        if take:   # values held in y, before the step moves them to t + dt
            _record_part(y, z, n_y, rec_src, rec_buf[n_rec], rec_acc, rec_mean, True)
        step(integ, y, z, zs, work, dt, x, tgt, has_tgt, plastic, lay, lp, fp, ip, err, one, h, h_trace)
        if take:   # derived values: z holds those of the state at t after the first stage
            _record_part(y, z, n_y, rec_src, rec_buf[n_rec], rec_acc, rec_mean, False)
            if not rec_mean:
                n_rec += 1
            elif (s + 1) % rec_every == 0:
                for j in range(n_rec_vars):
                    rec_buf[n_rec, j] = rec_acc[j] / rec_every
                    rec_acc[j] = 0.0
                n_rec += 1
        if sigma != 0.0:
            if le:      # the noise is part of du/dt (per step: increment / dt) and so of u_breve
                for j in range(n_noisy):
                    before[j] = y[j]
            add_normals(y, n_noisy, scale, rng)
            if le:
                for j in range(n_noisy):
                    before[j] = y[j] - before[j]
                prospective_update(y, before, 1.0 / dt, False, n_noisy, has_tgt, lay, fp)
        if pal:     # after the somatic noise: its draws come next from the same generator
            fill_normal(rng, normals)
            pal_update(y, z, normals, dt, lay, fp)
        if not _neurons_finite(y, n_neurons):
            return i + 1, STATUS_DIVERGED, n_rec
    return n_steps, STATUS_OK, n_rec


def phi_workspace(layout):
    """Scratch of the fused kernel's batched transfer function (float64, PW_ROWS rows):
    one column per neuron in ``y`` order, padded to a multiple of 8 (one AVX-512
    vector) so that the vectorised loop over it has no scalar remainder. (Padding to
    16, two vectors, costs more phi evaluations than it saves: 48 columns for the 40
    neurons of 30-20-10 took 187 ns a call against 165 for 40.)"""
    n_neurons = int(layout.lay[0].u)
    return np.zeros((PW_ROWS, -(-n_neurons // 8) * 8), dtype=np.float64)


@njit(cache=True)
def sample_now(y, x, tgt, has_tgt, lay, lp, fp, ip, rec_src, z, out):
    """Record the current state once (used for the last sample of a run)."""
    derived(y, z, x, tgt, has_tgt, lay, lp, fp, ip)
    _record(y, z, y.shape[0], rec_src, out)


@njit(cache=True)
def top_down_angle(y, lay, k):
    """The angle in degrees between vec(W_down,k) and vec(W_up,k+1^T) (0: the top-down weights
    are the transposed forward ones, 90: unrelated), summed in float64; NaN if either is zero."""
    nk, nn = lay[k].n, lay[k + 1].n
    do, uo = lay[k].w_down, lay[k + 1].w_up
    dot, dd, uu = 0.0, 0.0, 0.0
    for i in range(nk):
        for j in range(nn):
            d = np.float64(y[do + i * nn + j])     # W_down,k[i, j]
            u = np.float64(y[uo + j * nk + i])     # W_up,k+1[j, i]
            dot += d * u
            dd += d * d
            uu += u * u
    if dd == 0.0 or uu == 0.0:
        return np.nan
    c = dot / math.sqrt(dd * uu)
    return math.degrees(math.acos(min(1.0, max(-1.0, c))))


@njit(cache=True)
def pattern_metrics(y, x, tgt, has_tgt, lay, lp, fp, ip, z, apical, mismatch, angle):
    """The per-pattern metrics of the state ``y`` in one compiled call (no per-layer NumPy):
    apical[k-1] = |v_A,k| and mismatch[k-1] = |u_P,k+1 - u_I,k|^2 for k < N (Fig. 1C, S1),
    angle[k-1] the :func:`top_down_angle` of hidden layer k, summed in float64; returns
    |u_P,N - u_trgt|^2 (NaN without a target). ``z`` is scratch."""
    derived(y, z, x, tgt, has_tgt, lay, lp, fp, ip)
    N = lay.shape[0] - 1
    for k in range(1, N):
        vao, uo, io, nk, nn = lay[k].v_A, lay[k + 1].u, lay[k].u_I, lay[k].n, lay[k + 1].n
        a = 0.0
        for i in range(nk):
            a += np.float64(z[vao + i]) ** 2
        apical[k - 1] = math.sqrt(a)
        m = 0.0
        for i in range(nn):
            m += (np.float64(y[uo + i]) - np.float64(y[io + i])) ** 2
        mismatch[k - 1] = m
        angle[k - 1] = top_down_angle(y, lay, k)
    if not has_tgt:
        return np.nan
    uo, loss = lay[N].u, 0.0
    for i in range(lay[N].n):
        loss += (np.float64(y[uo + i]) - np.float64(tgt[i])) ** 2
    return loss


@njit(cache=True)
def pattern_metrics_stacked(Y, X, T, HAS, lay, lp, fp, ip, Z, APICAL, MISMATCH, ANGLE, LOSS):
    """:func:`pattern_metrics` of every row m of the stacked member arrays (ensembles): one
    compiled call per pattern instead of one per member."""
    for m in range(Y.shape[0]):
        LOSS[m] = pattern_metrics(Y[m], X[m], T[m], HAS[m], lay, lp, fp, ip, Z[m], APICAL[m], MISMATCH[m],
                                  ANGLE[m])


Scratch = namedtuple("Scratch", "z zs work err one h pw")
Scratch.__doc__ = """A kernel's scratch (:func:`workspace`): ``z``, ``zs`` derived values (two copies),
``work`` rows of y-sized scratch, ``err`` one layer's post factors, ``one`` = [1] in the state
dtype, ``h`` exponential-Euler gains, ``pw`` the batched transfer function's rows."""


def workspace(layout, dtype, with_rk=True):
    """Scratch arrays for :func:`run_block` (allocated once per run, never per step), by the
    field names of :class:`Scratch`."""
    rows = 7 if with_rk else 1     # RK stages, or the fused kernel's error, du/dt and LE rate rows
    return dict(
        z=np.zeros(layout.n_z, dtype=dtype),
        zs=np.zeros(layout.n_z, dtype=dtype),
        work=np.zeros((rows, max(layout.n_y, layout.n_z)), dtype=dtype),
        err=np.zeros(max(layout.sizes), dtype=dtype),
        one=np.ones(1, dtype=dtype),
        h=np.zeros(layout.n_y, dtype=dtype),
        pw=phi_workspace(layout),
    )
