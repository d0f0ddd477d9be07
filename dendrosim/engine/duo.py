"""Fused forward Euler on two threads for one small network.

On 30-20-10 a step is ~1.2 us of work: too short for a thread launch per step, and
numba's ``prange`` over a matrix of 600 weights costs more than it saves. Here two
threads run the whole block, each owning a contiguous range of neurons in y order
(``split``: thread 0 has neurons [0, split), thread 1 the rest) with everything that
belongs to them: their somatic update and noise, their rates, their error signals
(eqs. 7-9) and the rows of every matrix that ends on them (forward, top-down, PI and
IP weights and biases). Per step:

    1. own errors at t, somatic Euler step (eqs. 1-2) with noise, rates at t+1;
    2. barrier (:func:`.sync.barrier`, ~50 ns): all rates of t+1 are published;
    3. own rows of every matrix: plasticity at t and dendritic potentials at t+1,
       reading the other thread's rates of t and t+1.

Each thread computes the rates of t+1 into its own copy (``rnew``, as the serial kernel)
and publishes its part in a shared ring of three z-sized slots (step s writes slot
s % 3), so that one barrier per step suffices: a thread can be at most one phase ahead
of the other. An
interneuron is nudged by its pyramidal partner's soma at t, so both are kept on one
thread. Noise draws come from the run's single stream in the serial order: thread 0
draws step s+2's normals into a ring of three rows while step s runs. The arithmetic
per neuron and weight is that of :func:`.fused.run_block_euler`, and each row's sum runs
through the same compiled row loop (:func:`.fused._matrix_pass_serial`; an inlined copy
is vectorised its own way and rounds differently), so the result is bit-identical to
the serial kernel's (tests/test_duo.py). On recording steps each thread writes the
variables it owns into the record row.

Whether it pays depends on the machine and its load: on this project's 2-core machine,
quiet, 30-50-10 with the tau_w trace ran 1.3-1.4x and 784-100-10 1.4-2x as fast as the
serial kernel, 30-20-10 0.8-1.25x; with a second busy process the two threads wait for
each other at every barrier (~15x slower). :class:`KernelChoice` therefore times both
kernels during a run and uses the faster, block by block.

If the threading layer does not run the two threads side by side (one numba thread,
or a nested parallel region) the handshake times out after ~40 ms, nothing has been
changed and the call returns ``STATUS_RERUN``: the caller runs the serial kernel.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
from numba import njit, prange

from ..network import (L_B_IP, L_B_UP, L_N, L_R, L_RI, L_UI, L_UP_U, L_VA, L_VB, L_VI, L_W_DOWN, L_W_IP,
                       L_W_PI, L_W_UP)
from . import sync
from .fused import (_attenuation, _bias_pass, _copy_block, _errors_batched, _input_rates,
                    _neuron_rates, _matrix_pass_serial, threads_arg)
from .loop import STATUS_DIVERGED, STATUS_OK, _noisy_count, phi_workspace, record_step
from .params import (F_DT, F_SIGMA, F_TAU_IN, F_TAU_W, I_N_W, I_NOISE_CONV, I_TAU_IN_ON, I_TAU_W_ON,
                     I_THREADS, P_ETA_DOWN, P_ETA_IP, P_ETA_PI, P_ETA_UP)
from .rhs import (PW_ARG, PW_BETA, PW_GAMMA, PW_OUT, PW_THETA, THREADED_MIN_NEURONS, _span, derived,
                  phi_batch_setup, somatic_derivatives_range)
from .rng import _add_normals_strided

STATUS_RERUN = -1            # the two threads did not run side by side; nothing was changed
RES_STRIDE = 16              # result words per thread: n_done, status, n_rec
DUO_MIN_WEIGHTS = 400        # below this a step (< ~0.5 us) is too short to share

# Relative costs for choosing the split (calibrated on 30-20-10 and 30-50-10, this machine):
# per plastic weight (x2 with the tau_w trace), per fixed weight, per neuron (two phi,
# somatic update) and per noise draw (thread 0 draws for both).
_C_PLASTIC, _C_FIXED, _C_NEURON, _C_NOISE = 1.0, 0.5, 12.0, 6.0


def _neuron_costs(layout, lp, traces: bool):
    lay, N = layout.lay, layout.depth
    cw = 2.0 * _C_PLASTIC if traces else _C_PLASTIC      # weight and trace, or the weight alone
    cost = np.zeros(int(lay[0, L_UP_U]))
    for k in range(1, N + 1):
        nk, npv = int(lay[k, L_N]), int(lay[k - 1, L_N])
        c = _C_NEURON + (cw if lp[k, P_ETA_UP] != 0 else _C_FIXED) * (npv + (lay[k, L_B_UP] >= 0))
        if k < N:
            nn = int(lay[k + 1, L_N])
            c += _C_FIXED * nn + (cw if lp[k, P_ETA_PI] != 0 else _C_FIXED) * nn
            ci = _C_NEURON + (cw if lp[k, P_ETA_IP] != 0 else _C_FIXED) * (nk + (lay[k, L_B_IP] >= 0))
            o = int(lay[k, L_UI])
            cost[o:o + nn] = ci
        o = int(lay[k, L_UP_U])
        cost[o:o + nk] = c
    return cost


def split(layout, lp, ip, fp) -> int:
    """The neuron index that divides the work of one step most evenly between the two
    threads, keeping each interneuron with its pyramidal partner; -1 if the network is
    not one for this kernel (see :func:`supported`)."""
    lay, N = layout.lay, layout.depth
    n = int(lay[0, L_UP_U])
    if N < 2 or layout.n_w < DUO_MIN_WEIGHTS:
        return -1
    cost = _neuron_costs(layout, lp, int(ip[I_TAU_W_ON]) == 1)
    extra0 = _C_NOISE * _noisy_count(lay, ip) if fp[F_SIGMA] != 0 else 0.0
    ok = np.ones(n + 1, dtype=bool)           # ok[a]: no interneuron separated from its partner
    for k in range(1, N):
        for i in range(int(lay[k + 1, L_N])):
            p, q = int(lay[k + 1, L_UP_U]) + i, int(lay[k, L_UI]) + i
            ok[min(p, q) + 1:max(p, q) + 1] = False
    c = np.concatenate([[0.0], np.cumsum(cost)])
    best, best_a = np.inf, -1
    for a in range(1, n):
        if ok[a]:
            m = max(c[a] + extra0, c[n] - c[a])
            if m < best:
                best, best_a = m, a
    return best_a


def supported(layout, lp, ip, fp, integ: int) -> bool:
    """Whether a run can use this kernel: forward Euler (``integ`` 0), at least two numba
    threads, one transfer function for all layers, fixed top-down weights, and a network
    too small for the fused kernel's own threading but large enough to share
    (>= DUO_MIN_WEIGHTS weights). Not on Windows (the barrier yields with POSIX sched_yield)."""
    lay, N = layout.lay, layout.depth
    if sys.platform == "win32" or integ != 0 or int(ip[I_THREADS]) < 2 or N < 2 or len(set(layout.transfers)) > 1:
        return False
    if any(lp[k, P_ETA_DOWN] != 0 for k in range(1, N)):
        return False
    if threads_arg(layout, ip) or lay[0, L_UP_U] >= THREADED_MIN_NEURONS:    # the fused kernel's threads
        return False
    return split(layout, lp, ip, fp) > 0


def owner_map(layout, a):
    """Which thread owns each entry of y (first n_y) and z (then n_z) when neurons [0, a)
    are thread 0's: a soma and its v_B / v_I, rate and v_A go with the neuron, every weight
    (and trace) row with its postsynaptic neuron; the input, target and r_0 with thread 0."""
    lay, N, n_y = layout.lay, layout.depth, layout.n_y
    own = np.zeros(n_y + layout.n_z, dtype=np.int8)
    n = int(lay[0, L_UP_U])
    vb0, rb0 = int(lay[1, L_VB] - lay[1, L_UP_U]), int(lay[1, L_R] - lay[1, L_UP_U])
    for j in range(a, n):
        own[j] = own[n_y + vb0 + j] = own[n_y + rb0 + j] = 1
    copies = (0, layout.n_w) if layout.traces else (0,)

    def rows(col, k, i, width):
        if lay[k, col] >= 0:
            for c in copies:
                o = int(lay[k, col]) + c + i * width
                own[o:o + width] = 1

    for k in range(1, N + 1):
        nk, npv = int(lay[k, L_N]), int(lay[k - 1, L_N])
        nn = int(lay[k + 1, L_N]) if k < N else 0
        for i in range(nk):
            if lay[k, L_UP_U] + i >= a:
                rows(L_W_UP, k, i, npv)
                rows(L_B_UP, k, i, 1)
                if k < N:
                    rows(L_W_DOWN, k, i, nn)
                    rows(L_W_PI, k, i, nn)
                    own[n_y + lay[k, L_VA] + i] = 1
        for i in range(nn):
            if lay[k, L_UI] + i >= a:
                rows(L_W_IP, k, i, nk)
                rows(L_B_IP, k, i, 1)
    return own


def buffers(layout, dtype, n_noisy, a, rec_src):
    """Scratch of :func:`run_block_duo` for the split at neuron ``a``: each thread's copies of
    y, z and scratch, who owns what, the rate ring, the noise ring and its generator states,
    the barrier flags and the per-thread results."""
    owner = owner_map(layout, a)
    pw = phi_workspace(layout)
    return dict(ring=np.zeros(3 * layout.n_z, dtype=dtype), rnewp=np.zeros((2, layout.n_z), dtype=dtype),
                noise=np.zeros(3 * max(n_noisy, 1)),         # float64 draws, as add_normals adds them
                rng_ring=np.zeros((3, 4), dtype=np.uint64), rng_save=np.zeros(4, dtype=np.uint64),
                flags=np.zeros(sync.N_FLAG_WORDS, dtype=np.int64), res=np.zeros(2 * RES_STRIDE, dtype=np.int64),
                owner=owner, rec_own=owner[np.asarray(rec_src, dtype=np.int64)],
                yp=np.zeros((2, layout.n_y), dtype=dtype), zp=np.zeros((2, layout.n_z), dtype=dtype),
                dup=np.zeros((2, layout.n_y), dtype=dtype), workp=np.zeros((2, 3, layout.n_z), dtype=dtype),
                pwp=np.zeros((2,) + pw.shape, dtype=pw.dtype))


@njit(cache=True)
def _draw(noise, slot, n_noisy, rng, rng_ring):
    """Standard normals of one step into noise row ``slot``, in add_normals' order; keep the
    generator state after them (a diverging run stops with the state of its last step)."""
    o = slot * n_noisy
    for i in range(n_noisy):
        noise[o + i] = 0.0
    _add_normals_strided(noise, n_noisy, 1.0, rng, o, 1)
    for w in range(4):
        rng_ring[slot, w] = rng[w]


@njit(cache=True)
def _prepare(y, x, tgt, has_tgt, n_steps, lay, lp, fp, ip, rng, z, noise, rng_ring, rng_save, flags,
             yp, zp, pwp):
    """Serial set-up: z of the state, the threads' copies of y and z, noise of steps 0 and 1."""
    derived(y, z, x, tgt, has_tgt, lay, lp, fp, ip)
    for t in range(2):
        yp[t, :] = y
        zp[t, :] = z
        code = phi_batch_setup(pwp[t], lay, lp)
    for w in range(4):
        rng_save[w] = rng[w]
    n_noisy = _noisy_count(lay, ip)
    if fp[F_SIGMA] != 0.0:
        for s in range(min(n_steps, 2)):
            _draw(noise, s, n_noisy, rng, rng_ring)
    sync.reset(flags)
    return code


@njit(cache=True, inline="always")
def _group_rows(y, wo, bo, i0, m, n_pre, err, vo, z, rnew, ro, eta, dt, inv_tau_w, traces_on, n_w, plastic):
    """Rows i0..i0+m-1 of a forward or IP synapse group (weights at ``wo``, biases at ``bo`` if
    >= 0): eq. 7 or 8 at t, then v_B or v_I at t+1 into z[vo:] (``vo`` already at row i0), with
    the presynaptic rates of t and t+1 at z[ro:] and rnew[ro:]. The serial kernel's
    compiled row loop, so that the sums round the same."""
    _matrix_pass_serial(y, wo + i0 * n_pre, m, n_pre, err, vo, z, rnew, ro, eta, dt, inv_tau_w, traces_on,
                        n_w, plastic, z, vo, False)
    if bo >= 0:
        _bias_pass(y, bo + i0, m, err, vo, eta, dt, inv_tau_w, traces_on, n_w, plastic, z, vo)


@njit(cache=True)
def _side(t, lo, hi, y_all, x, tgt, has_tgt, n_steps, step0, plastic_from, dt, lay, lp, fp, ip, rng,
          rec_src, rec_own, rec_every, rec_mean, rec_buf, rec_acc, z_all, owner, yp, zp, dup, workp, one, pwp, code,
          att_n, rnewp, ring, noise, rng_ring, flags, res):
    """The time loop of thread ``t``, which owns neurons lo <= j < hi (see the module doc).

    The thread works on private copies (``yp[t]``, ``zp[t]`` and its scratch), so that the two
    never write to one cache line; at the end it copies what it owns (``owner``) back to
    ``y_all`` and ``z_all``. Only the rate ring and the noise ring are shared."""
    r_out = t * RES_STRIDE
    if not sync.handshake(flags):
        res[r_out], res[r_out + 1], res[r_out + 2] = 0, STATUS_RERUN, 0
        return
    y, z, du, work, pw, rnew = yp[t], zp[t], dup[t], workp[t], pwp[t], rnewp[t]
    n_done, status = n_steps, STATUS_OK
    N = lay.shape[0] - 1
    n_y, n_z = y.shape[0], z.shape[0]
    n_w = ip[I_N_W]
    traces_on = ip[I_TAU_W_ON] == 1
    dtv = fp[F_DT]
    inv_tau_w = one[0] / fp[F_TAU_W] if traces_on else one[0] - one[0]     # as in run_block_euler
    sigma = fp[F_SIGMA]
    scale = sigma * dt if ip[I_NOISE_CONV] == 0 else sigma * math.sqrt(dt)
    n_noisy = _noisy_count(lay, ip)
    n0 = lay[0, L_N]
    uy0 = np.uint64(lay[0, L_UP_U])
    tau_in_on = ip[I_TAU_IN_ON] == 1
    tau_in = fp[F_TAU_IN]
    e_up, e_pi = work[0], work[2]     # errors at the v_B / v_I offsets (shared block), at v_A offsets
    p_arg, p_out, p_g, p_b, p_t = pw[PW_ARG], pw[PW_OUT], pw[PW_GAMMA], pw[PW_BETA], pw[PW_THETA]
    vb0 = lay[1, L_VB] - lay[1, L_UP_U]
    rb0 = lay[1, L_R] - lay[1, L_UP_U]
    r0o = lay[0, L_R]
    me_div, other_div = sync.F_DIVERGED + sync.FLAG_STRIDE * t, sync.F_DIVERGED + sync.FLAG_STRIDE * (1 - t)
    noise_lo, noise_hi = lo, min(hi, n_noisy)
    o_lo, o_hi = (hi, lay[0, L_UP_U]) if t == 0 else (0, lo)      # the other thread's neurons
    p_lo = lo // 8 * 8                 # phi over whole 8-column vectors of the private scratch
    p_hi = min(-(-hi // 8) * 8, pw.shape[1])
    n_rec_vars = rec_src.shape[0]
    n_rec = 0
    nb = 0                    # barriers passed
    ulo, urb0 = np.uint64(lo), np.uint64(rb0)
    cur, prev = 0, 2          # ring slots of steps s and s-1
    for step in range(n_steps):
        plastic = step >= plastic_from
        uco = np.uint64(cur * n_z)
        # -- record the state at t: each thread the variables it owns ---------------------
        if n_rec_vars > 0:
            n_rec = record_step(y, z, n_y, rec_src, rec_own, t, step0 + step, rec_every, rec_mean, rec_buf, rec_acc,
                                n_rec, 1, 0)
        # -- own error signals at t (eqs. 7-9) ---------------------------------------------
        if plastic:
            _errors_batched(z, e_up, p_arg, p_out, p_g, p_b, p_t, code, vb0, rb0, att_n, lo, hi, p_lo, p_hi)
            for k in range(1, N):
                if lp[k, P_ETA_PI] != 0.0:
                    a, m = _span(lo, hi, lay[k, L_UP_U], lay[k, L_N])
                    vao = np.uint64(lay[k, L_VA]) + a
                    for ii in range(m):
                        i = np.uint64(ii)
                        e_pi[vao + i] = -z[vao + i]
        # -- own somata and input filter: Euler step from t (eqs. 1-2), noise ---------------
        somatic_derivatives_range(y, z, du, tgt, has_tgt, lay, fp, ip, lo, hi)
        for ii in range(hi - lo):                      # unsigned indices: the loops vectorise
            i = ulo + np.uint64(ii)
            y[i] += dt * du[i]
        if tau_in_on:                     # both threads: each needs r_0 in its own rnew
            for jj in range(n0):
                j = np.uint64(jj)
                y[uy0 + j] += dt * ((x[j] - y[uy0 + j]) / tau_in)
        if sigma != 0.0:
            no = np.uint64(cur * n_noisy)
            for ii in range(noise_hi - noise_lo):
                i = np.uint64(noise_lo) + np.uint64(ii)
                y[i] += scale * noise[no + i]
        acc = 0.0
        for i in range(lo, hi):
            acc += y[i]
        if not math.isfinite(acc):       # tagged with the step: see the check after the barrier
            sync.store_release(flags, me_div, step + 1)
        # -- rates at t+1: own into rnew and published; then the other's ----------------------
        _input_rates(y, x, rnew, 0, lay, ip)
        _neuron_rates(y, rnew, p_arg, p_out, p_g, p_b, p_t, code, rb0, lo, hi, p_lo, p_hi)
        for jj in range(hi - lo):
            j = ulo + np.uint64(jj)
            ring[uco + urb0 + j] = rnew[urb0 + j]
        nb += 1
        sync.barrier(flags, t, nb)
        for jj in range(o_hi - o_lo):     # one tight loop: the cache-line transfers overlap
            j = np.uint64(o_lo) + np.uint64(jj)
            rnew[urb0 + j] = ring[uco + urb0 + j]
        # Stop on a divergence of this step, not on one the other thread already found in step s+1:
        # it may be past this barrier and the next step's check while this thread is preempted
        # here; stopping now would leave it waiting at barrier s+1 for ever (a 1-vCPU deadlock).
        d_me, d_other = sync.load_acquire(flags, me_div), sync.load_acquire(flags, other_div)
        if 0 < d_me <= step + 1 or 0 < d_other <= step + 1:
            if t == 0:
                for w in range(4):
                    rng[w] = rng_ring[cur, w]
            n_done, status = step + 1, STATUS_DIVERGED
            break
        # -- own rows of every matrix: plasticity at t, dendritic potentials at t+1 ---------
        for k in range(1, N + 1):
            a, m = _span(lo, hi, lay[k, L_UP_U], lay[k, L_N])
            if m > 0:
                i0 = np.int64(a)
                npv, nn = lay[k - 1, L_N], lay[k + 1, L_N] if k < N else 0
                pr = lay[k - 1, L_R]
                _group_rows(y, lay[k, L_W_UP], lay[k, L_B_UP], i0, m, npv, e_up, lay[k, L_VB] + i0, z, rnew, pr,
                            lp[k, P_ETA_UP], dtv, inv_tau_w, traces_on, n_w, plastic)
                if k < N:
                    vao, rn, ri = lay[k, L_VA] + i0, lay[k + 1, L_R], lay[k, L_RI]
                    wo = lay[k, L_W_DOWN] + i0 * nn
                    _matrix_pass_serial(y, wo, m, nn, e_pi, vao, z, rnew, rn, lp[k, P_ETA_DOWN], dtv,
                                        inv_tau_w, traces_on, n_w, plastic, z, vao, False)
                    wo, eta = lay[k, L_W_PI] + i0 * nn, lp[k, P_ETA_PI]
                    _matrix_pass_serial(y, wo, m, nn, e_pi, vao, z, rnew, ri, eta, dtv, inv_tau_w,
                                        traces_on, n_w, plastic, z, vao, True)
            if k < N:
                a, m = _span(lo, hi, lay[k, L_UI], lay[k + 1, L_N])
                if m > 0:
                    i0, rk = np.int64(a), lay[k, L_R]
                    _group_rows(y, lay[k, L_W_IP], lay[k, L_B_IP], i0, m, lay[k, L_N], e_up, lay[k, L_VI] + i0, z,
                                rnew, rk, lp[k, P_ETA_IP], dtv, inv_tau_w, traces_on, n_w, plastic)
        # -- rates of t+1 become current in z; thread 0 draws the noise of step s+2 ----------
        _copy_block(z, rnew, rb0, lay[0, L_UP_U])     # all neurons' rates: own and the other's
        _copy_block(z, rnew, r0o, n0)
        if t == 0:
            if sigma != 0.0 and step + 2 < n_steps:
                _draw(noise, prev, n_noisy, rng, rng_ring)     # slot of s+2 = slot of s-1
        prev, cur = cur, (cur + 1 if cur < 2 else 0)
    _write_back(y, y_all, owner, 0, t)
    _write_back(z, z_all, owner, y.shape[0], t)
    res[r_out], res[r_out + 1], res[r_out + 2] = n_done, status, n_rec


@njit(cache=True)
def _write_back(mine, shared, owner, o, t):
    """shared[i] = mine[i] where owner[o + i] == t."""
    for i in range(mine.shape[0]):
        if owner[o + i] == t:
            shared[i] = mine[i]


@njit(cache=True, parallel=True)
def _run_sides(lo_hi, y, x, tgt, has_tgt, n_steps, step0, plastic_from, dt, lay, lp, fp, ip, rng,
               rec_src, rec_own, rec_every, rec_mean, rec_buf, rec_acc, z, owner, yp, zp, dup, workp, one, pwp,
               code, att_n, rnewp, ring, noise, rng_ring, flags, res):
    for t in prange(2):
        _side(t, lo_hi[t], lo_hi[t + 1], y, x, tgt, has_tgt, n_steps, step0, plastic_from, dt, lay, lp, fp, ip,
              rng, rec_src, rec_own, rec_every, rec_mean, rec_buf, rec_acc, z, owner, yp, zp, dup, workp, one, pwp,
              code, att_n, rnewp, ring, noise, rng_ring, flags, res)


@njit(cache=True)
def _finish(rng, rng_save, res):
    """The outcome as run_block returns it; on STATUS_RERUN the noise stream is put back."""
    if res[1] == STATUS_RERUN or res[RES_STRIDE + 1] == STATUS_RERUN:
        for w in range(4):
            rng[w] = rng_save[w]
        return 0, STATUS_RERUN, 0
    return res[0], res[1], res[2]


def run_block_duo(y, x, tgt, has_tgt, n_steps, step0, plastic_from, integ, dt,
                  lay, lp, fp, ip, rng, rec_src, rec_every, rec_mean, rec_buf, rec_acc,
                  z, zs, work, err, one, h, pw, lo_hi, bufs):
    """:func:`.fused.run_block_euler` on two threads (same arguments and results; ``lo_hi`` =
    [0, split, n_neurons], ``bufs`` from :func:`buffers`). Returns (n_done, status, n_rec);
    status STATUS_RERUN if the threads could not run side by side (nothing changed)."""
    b = bufs
    code = _prepare(y, x, tgt, has_tgt, n_steps, lay, lp, fp, ip, rng, z, b["noise"], b["rng_ring"],
                    b["rng_save"], b["flags"], b["yp"], b["zp"], b["pwp"])
    att_n = _attenuation(lay, fp, pw.shape[1])
    _run_sides(lo_hi, y, x, tgt, has_tgt, n_steps, step0, plastic_from, dt, lay, lp, fp, ip, rng,
               rec_src, b["rec_own"], rec_every, rec_mean, rec_buf, rec_acc, z, b["owner"], b["yp"], b["zp"],
               b["dup"], b["workp"], one, b["pwp"], code, att_n, b["rnewp"], b["ring"], b["noise"], b["rng_ring"],
               b["flags"],
               b["res"])
    return _finish(rng, b["rng_save"], b["res"])


# A first compile of the two-thread kernel takes ~40 s (it is cached on disk after that). A
# run that has not got it compiled tries it only when the rest of the run would take longer
# than this on one thread (at ~1.3x the compile then pays back).
COMPILE_PAYBACK_S = 200.0


def compiled() -> bool:
    """Whether the two-thread kernel is compiled in this process or in numba's on-disk cache:
    the index file of :func:`_run_sides` where numba itself keeps it (beside the source, under
    ``$NUMBA_CACHE_DIR``, or in numba's per-user folder for a read-only install)."""
    if _run_sides.signatures:
        return True
    try:
        index = _run_sides._cache._cache_file._index_path      # numba's own locator (private API)
    except AttributeError:
        from .._jitcache import cache_dir
        d = cache_dir("engine/duo.py")
        return d.is_dir() and any(d.glob("duo._run_sides-*.nbi"))
    return os.path.exists(index)


class KernelChoice:
    """Per block: the two-thread kernel or the serial one, whichever runs faster per step.

    Both give the same bits (tests/test_duo.py), so the choice changes speed only. It matters
    on a shared machine: with another busy process on two cores, the two threads wait for each
    other at every step's barrier and a block takes ~15x longer than serially (measured: two
    30-50-10 runs side by side, 28 k steps/s each on two threads, 400 k serially).

    A kernel's speed is its best time per step over its last ``WINDOW`` timed blocks: a
    host's hiccups only ever slow a block down, so one slow block does not flip the choice
    (with the last block alone, a 30-20-10 run spent 35-50 % of its blocks on the serial
    kernel although the two-thread one was 1.2x faster), while a lasting slowdown does after
    ``WINDOW`` blocks. The kernel not in use is timed again for one block after ``interval``
    blocks, from a cleared window (its old timings may be from another state of the host);
    the interval doubles (up to ``MAX_INTERVAL``) each time that confirms the choice and
    falls back to ``MIN_INTERVAL`` when it changes it. The first block of each kernel is not
    timed (thread-pool start, loading or compiling), nor is the first block of each probe:
    after a long spell on the serial kernel the second core is idle and the first two-thread
    block after it ran ~2x slower than the rest (30-20-10: 1,530 against 760 ns per step),
    which kept runs on the serial kernel for good, each probe confirming the last.

    ``allowed`` (set by the caller) holds the two-thread kernel back until it is compiled or
    the run is long enough to repay compiling it (:data:`COMPILE_PAYBACK_S`); meanwhile the
    serial blocks are timed for that estimate.

    A run made with :meth:`resume` goes on from where the last run of the same network in
    this process left off (timings, warm kernels, probe schedule) instead of timing both
    kernels afresh: 64 short 30-20-10 runs one after another, with another process busy on
    one of the two cores, took 3.7 s when each run spent its first two blocks on the two
    threads (each ~15x slower there) and 1.6 s resumed. If the other kernel was last timed
    over ``STALE_S`` ago, the run times it again within ``MIN_INTERVAL`` blocks: the host may
    have changed in between (a choice made in a busy spell otherwise held the next run, in
    the bench, on the slower kernel for up to ``MAX_INTERVAL`` blocks).
    """

    MIN_INTERVAL, MAX_INTERVAL = 16, 1024
    WINDOW = 4
    STALE_S = 1.0
    REMEMBER = 256            # networks remembered per process
    _last: dict = {}          # network key -> the choice of the latest run of it (this process)

    @classmethod
    def resume(cls, key, allowed: bool = True) -> KernelChoice:
        """A choice for a new run of the network ``key`` (any hashable that identifies its
        shape and settings), starting from a copy of the state the latest run of it left."""
        c = cls(allowed)
        prev = cls._last.get(key)
        if prev is not None:
            c.recent = {k: list(v) for k, v in prev.recent.items()}
            c.warm, c.warm_serial, c.best = prev.warm, prev.warm_serial, prev.best
            c.interval, c.blocks_to_probe, c.checked = prev.interval, prev.blocks_to_probe, prev.checked
            if time.monotonic() - c.checked > cls.STALE_S:
                c.blocks_to_probe = min(c.blocks_to_probe, cls.MIN_INTERVAL)
        cls._last.pop(key, None)
        cls._last[key] = c                   # newest last: the oldest network is forgotten first
        if len(cls._last) > cls.REMEMBER:
            del cls._last[next(iter(cls._last))]
        return c

    def __init__(self, allowed: bool = True):
        self.recent = {True: [], False: []}     # two threads / serial -> s per step, last WINDOW blocks
        self.allowed = allowed
        self.warm = self.warm_serial = False
        self.best = True
        self.interval = self.MIN_INTERVAL
        self.blocks_to_probe = 0
        self.checked = time.monotonic()         # when the kernel not in use was last timed
        self.probe_warm = False                 # the untimed first block of a probe has run
        self.failed_handshakes = 0              # in a row, since the two threads last ran

    @property
    def per_step(self) -> dict:
        """Each timed kernel's speed estimate: s per step, the best of its recent blocks."""
        return {k: min(v) for k, v in self.recent.items() if v}

    def allow_if_worth_it(self, steps_left: int) -> None:
        """Allow the two-thread kernel once ``steps_left`` serial steps would take longer than
        COMPILE_PAYBACK_S at the serial speed timed so far."""
        if not self.allowed and self.recent[False]:
            self.allowed = steps_left * min(self.recent[False]) > COMPILE_PAYBACK_S

    def use_duo(self) -> bool:
        if not self.allowed:
            return False
        if not self.warm or not self.recent[True]:
            return True
        if not self.recent[False]:
            return False
        return self.best if self.blocks_to_probe > 0 else not self.best

    def handshake_failed(self) -> None:
        """The two threads did not start side by side (a busy host, or one numba thread): the
        block runs serially, and so do the next ones until the two threads are tried again,
        MIN_INTERVAL blocks later, twice as many after each failure in a row (a failed try
        costs the handshake's ~40 ms). Until then the two threads count as infinitely slow."""
        self.warm = True
        self.recent[True] = [math.inf]
        self.best = False
        self.probe_warm = False
        self.interval = (self.MIN_INTERVAL if self.failed_handshakes == 0
                         else min(2 * self.interval, self.MAX_INTERVAL))
        self.blocks_to_probe = self.interval
        self.failed_handshakes += 1

    def record(self, used_duo: bool, steps: int, seconds: float) -> None:
        if used_duo:
            self.failed_handshakes = 0
        if used_duo and not self.warm:
            self.warm = True
            return
        if not used_duo and not self.warm_serial:      # the first call may include compiling it
            self.warm_serial = True
            return
        if steps <= 0:
            return
        probe = used_duo != self.best and bool(self.recent[not used_duo])   # a block of the other kernel
        if probe and not self.probe_warm:
            self.probe_warm = True          # not timed; blocks_to_probe stays <= 0: the next block probes
            return
        window = self.recent[used_duo]
        if probe:
            self.probe_warm = False
            window.clear()
            self.checked = time.monotonic()
        window.append(seconds / steps)
        del window[:-self.WINDOW]
        if not (self.recent[True] and self.recent[False]):
            return
        est = self.per_step
        best = est[True] <= est[False]
        if probe:
            self.interval = min(2 * self.interval, self.MAX_INTERVAL) if best == self.best else self.MIN_INTERVAL
            self.blocks_to_probe = self.interval
        elif best != self.best:                     # the kernel in use has slowed down for good
            self.interval = self.MIN_INTERVAL
            self.blocks_to_probe = self.interval
        self.best = best
        self.blocks_to_probe -= 1
