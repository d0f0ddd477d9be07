"""The fused Euler kernel for LANES ensemble members at once, one member per SIMD lane.

A member's network is too small to fill the vector units (a 30-20-10 row is 20-30
weights), but LANES members of the same shape side by side are not: their states
are interleaved (value i of member l at ``i*LANES + l``) and every weight pass
handles the LANES members' copies of a weight in one instruction
(:mod:`~dendrosim.engine.simd`). Per member the arithmetic is that of
:func:`~dendrosim.engine.fused.run_block_euler`, step by step and operation by
operation (eqs. 1-10), except that each dendritic sum runs over j in order instead
of in the partial sums of a vectorised reduction: results agree to rounding
(tests/test_ensemble.py, 1e-12). Each member keeps its own noise stream, input and
target.

:func:`run_lanes` takes the stacked per-member arrays of
:class:`dendrosim.ensemble.Ensemble`, interleaves the state of members
m0..m0+LANES-1, integrates, and writes the state back. It handles the
configurations that :func:`dendrosim.engine.select.select` gives it; a member that diverges sends the whole group
back to the member-by-member kernel from the group's saved state (ensemble.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..model.dendrites import synaptic_term
from ..model.noise import noise_scale
from ..model.plasticity import post_apical, post_rate_error, trace_step, weight_step
from ..model.soma import dr0_input, nudging_current
from ..model.transfer import phi_block
from .fused import _attenuation, _copy_block, _matrix_pass_serial
from .loop import _noisy_count, record_step
from .params import (F_DT, F_EEXC, F_EINH, F_GSOM, F_SIGMA, F_TAU_IN, F_TAU_W,
                     I_N_W, I_NOISE_CONV, I_NUDGING, I_TAU_IN_ON, I_TAU_W_ON, P_ETA_IP, P_ETA_PI,
                     P_ETA_UP)
from .rhs import PW_BETA, PW_GAMMA, PW_THETA, derived, input_rates, phi_batch_setup, somatic_derivatives
from .rng import add_normals_lanes
from .simd import LANES, vadd, vlane, vload, vsplat, vstore, vzero

L = LANES


# -- moving members in and out of lanes ---------------------------------------------------------

@njit(cache=True, inline="always")
def _interleave(A, m0, out):
    """out[i*LANES+l] = A[m0+l, i]: written in order (eight rows read side by side), not
    lane by lane, whose stride-LANES writes touched a new cache line each (~50 us a call of
    30-20-10 with the trace, ~15 % of a 100-step block)."""
    n = A.shape[1]
    for i in range(n):
        for l in range(L):
            out[i * L + l] = A[m0 + l, i]


@njit(cache=True, inline="always")
def _deinterleave(src, A, m0):
    """A[m0+l, i] = src[i*LANES+l], read in order."""
    n = A.shape[1]
    for i in range(n):
        for l in range(L):
            A[m0 + l, i] = src[i * L + l]


@njit(cache=True, inline="always")
def _widen(row, out):
    """out[i*L+l] = row[i] for every lane (per-neuron constants)."""
    for i in range(row.shape[0]):
        for l in range(L):
            out[i * L + l] = row[i]


# -- one pass over a weight matrix of all lanes (fused.py's _rows) ---------------------------------

@njit(cache=True, inline="always")
def _weight(y, b, bd, mode, C1, C2, e, ce, old, new, acc):
    """One weight of every lane (at y[b:b+LANES], its trace at y[bd:]): the update of eqs. 7-10
    (``mode`` 2: via the tau_w trace, 1: directly, 0: none), then its term of eqs. 3-5."""
    if mode == 2:
        d = vload(y, bd)
        w = weight_step(vload(y, b), C1, d)
        vstore(y, b, w)
        vstore(y, bd, trace_step(d, e * old, C2))
    elif mode == 1:
        w = weight_step(vload(y, b), ce, old)
        vstore(y, b, w)
    else:
        w = vload(y, b)
    return synaptic_term(acc, w, new)


@njit(cache=True)
def _lane_pass(y, wo, do, n_post, n_pre, err, eo, old, new, po, out, oo, c1, c2, learn, traces_on, add):
    """out[oo+i] (+)= sum_j W_ij(t+1) new[po+j] per lane, updating W_ij (and its trace D_ij at
    ``do``) with dt eta err[eo+i] old[po+j] first; offsets count values (x LANES inside).

    Four rows at a time: each row's sum still runs over j in order, but four independent
    sums keep the FMA units busy instead of waiting on one chain's latency."""
    mode = (2 if traces_on else 1) if learn else 0
    C1, C2 = vsplat(c1), vsplat(c2)
    R = L * n_pre                        # one row of lane vectors
    x0 = po * L
    n4 = n_post - n_post % 4
    for i in range(0, n4, 4):
        b, bd = (wo + i * n_pre) * L, (do + i * n_pre) * L
        e0, e1 = vload(err, (eo + i) * L), vload(err, (eo + i + 1) * L)
        e2, e3 = vload(err, (eo + i + 2) * L), vload(err, (eo + i + 3) * L)
        c0, c_1, c_2, c_3 = C1 * e0, C1 * e1, C1 * e2, C1 * e3
        a0, a1, a2, a3 = vzero(), vzero(), vzero(), vzero()
        for j in range(n_pre):
            o = j * L
            xo, xn = vload(old, x0 + o), vload(new, x0 + o)
            a0 = _weight(y, b + o, bd + o, mode, C1, C2, e0, c0, xo, xn, a0)
            a1 = _weight(y, b + R + o, bd + R + o, mode, C1, C2, e1, c_1, xo, xn, a1)
            a2 = _weight(y, b + 2 * R + o, bd + 2 * R + o, mode, C1, C2, e2, c_2, xo, xn, a2)
            a3 = _weight(y, b + 3 * R + o, bd + 3 * R + o, mode, C1, C2, e3, c_3, xo, xn, a3)
        _store_sum(out, (oo + i) * L, a0, add)
        _store_sum(out, (oo + i + 1) * L, a1, add)
        _store_sum(out, (oo + i + 2) * L, a2, add)
        _store_sum(out, (oo + i + 3) * L, a3, add)
    for i in range(n4, n_post):
        b, bd = (wo + i * n_pre) * L, (do + i * n_pre) * L
        e0 = vload(err, (eo + i) * L)
        c0 = C1 * e0
        a0 = vzero()
        for j in range(n_pre):
            o = j * L
            a0 = _weight(y, b + o, bd + o, mode, C1, C2, e0, c0, vload(old, x0 + o), vload(new, x0 + o), a0)
        _store_sum(out, (oo + i) * L, a0, add)


@njit(cache=True, inline="always")
def _store_sum(out, o, acc, add):
    vstore(out, o, vload(out, o) + acc if add else acc)


@njit(cache=True)
def _lane_bias(y, bo, n, err, eo, eta, dt, inv_tau_w, traces_on, n_w, plastic, out, oo):
    """fused.py's _bias_pass for every lane."""
    learn = plastic and eta != 0.0
    for ii in range(n * L):
        i = np.uint64(ii)
        b, t = np.uint64(bo * L) + i, np.uint64((bo + n_w) * L) + i
        if learn:
            if traces_on:
                d = y[t]
                y[b] = weight_step(y[b], dt * eta, d)
                y[t] = trace_step(d, err[np.uint64(eo * L) + i], dt * inv_tau_w)
            else:
                y[b] = weight_step(y[b], dt * eta, err[np.uint64(eo * L) + i])
        out[np.uint64(oo * L) + i] += y[b]


@njit(cache=True, inline="always")
def _forward_pass(y, wo, bo, n_post, n_pre, err, vo, z, rnew, po, eta, dt, inv_tau_w, traces_on, n_w, plastic):
    """Weights and bias (at ``bo``, if >= 0) into the dendrites z[vo:] of a forward or IP
    synapse group: eq. 7 or 8 at t, then v_B or v_I at t+1."""
    _lane_pass(y, wo, wo + n_w, n_post, n_pre, err, vo, z, rnew, po, z, vo, dt * eta, dt * inv_tau_w,
               plastic and eta != 0.0, traces_on, False)
    if bo >= 0:
        _lane_bias(y, bo, n_post, err, vo, eta, dt, inv_tau_w, traces_on, n_w, plastic, z, vo)


# -- the rest of the step: the fused kernel's own loops on the lane layout ----------------------------

@njit(cache=True)
def _lane_layout(lay):
    """``lay`` with every offset and size x LANES: the neuron blocks of a lane-interleaved state
    are the single-network blocks LANES times longer, so rhs.somatic_derivatives and
    fused._rates_batched run on it unchanged."""
    out = lay.copy()
    for k in range(lay.shape[0]):
        o, a = out[k], lay[k]
        o.n, o.u, o.u_I, o.v_B, o.v_A, o.r, o.v_I, o.r_I = a.n * L, a.u * L, a.u_I * L, a.v_B * L, a.v_A * L, \
            a.r * L, a.v_I * L, a.r_I * L
        o.w_up, o.b_up, o.w_down, o.w_IP, o.b_IP, o.w_PI = a.w_up * L, a.b_up * L, a.w_down * L, a.w_IP * L, \
            a.b_IP * L, a.w_PI * L
        o.z_input, o.z_target = a.z_input * L, a.z_target * L
    return out


@njit(cache=True)
def _somatic_lanes(y, z, out, tgt, has, lay, lay_l, fp, ip):
    """du/dt of every soma (eqs. 1-2) for every lane: rhs.somatic_derivatives on the lane layout
    without target, then the teaching current of the output layer in the lanes that have one
    (the same sum, du + I_nudge, as the single run's)."""
    somatic_derivatives(y, z, out, tgt, False, lay_l, fp, ip)
    N = lay.shape[0] - 1
    uo = lay_l[N].u
    for i in range(lay[N].n):
        for l in range(L):
            if has[l]:
                o = uo + i * L + l
                out[o] += nudging_current(y[o], tgt[i * L + l], fp[F_GSOM], ip[I_NUDGING], fp[F_EEXC], fp[F_EINH])


@njit(cache=True, inline="always")
def _phi_errors(z, e, g, b, t, code, vb0, r0, att, n):
    """fused._errors_batched without the scratch rows: e = r - phi(att * v) (eqs. 7-8) straight
    from the v_B / v_I and rate blocks of z (n values from offsets vb0 and r0; n is a multiple of
    LANES, so the loops have no scalar remainder). The same operations and roundings per value."""
    phi_block(e, vb0, z, vb0, 0, n, att, g, b, t, code)
    v, r = np.uint64(vb0), np.uint64(r0)
    for jj in range(n):
        j = np.uint64(jj)
        e[v + j] = post_rate_error(z[r + j], e[v + j])


@njit(cache=True)
def _lanes_finite(y, n):
    """loop.py's _neurons_finite for every lane: each lane's sum of y[0:n] (in order) is finite."""
    acc = vzero()
    for i in range(n):
        acc = vadd(acc, vload(y, i * L))
    for l in range(L):
        if not np.isfinite(vlane(acc, l)):
            return False
    return True


@njit(cache=True)
def run_lanes(Y, X, T, HAS, m0, n_steps, step0, plastic_from, dt, circuit, RNG, rec, ws):
    """Members m0..m0+LANES-1 of the stacked ensemble arrays for ``n_steps`` Euler steps.

    Y, X, T, HAS, RNG: one row per member (state, input, target, has-target, noise state);
    ``rec`` a :class:`~.params.Recording` whose ``buf`` and ``acc`` and ``ws`` a
    :class:`~.loop.Scratch` whose arrays have one row per member (``ws.one`` shared).

    Returns the number of rows recorded per member, or -1 if a member diverged: the
    members' state (written back only at the end), noise streams and mean-recording sums
    are then as they were at the call, for the caller to rerun them one by one (so that
    the diverging member stops where its single run stops)."""
    lay, lp, fp, ip = circuit
    rec_src, rec_every, rec_mean, BUF, ACC = rec
    Z, WORK, PW = ws.z, ws.work, ws.pw
    N = lay.shape[0] - 1
    n_y, n_z = Y.shape[1], Z.shape[1]
    n_w = ip[I_N_W]
    traces_on = ip[I_TAU_W_ON] == 1
    dtv = fp[F_DT]
    inv_tau_w = 1.0 / fp[F_TAU_W] if traces_on else 0.0
    sigma = fp[F_SIGMA]
    scale = noise_scale(sigma, dt, ip[I_NOISE_CONV])
    n_noisy = _noisy_count(lay, ip)
    n_neurons = lay[0].u
    n0 = lay[0].n
    uy0 = np.uint64(lay[0].u * L)
    lay_l = _lane_layout(lay)
    tau_in_on = ip[I_TAU_IN_ON] == 1
    tau_in = fp[F_TAU_IN]
    saved_acc = ACC[m0:m0 + L].copy()     # Y and RNG are written back only at the end
    st, st_tmp = np.empty(4 * L, dtype=np.uint64), np.empty(4, dtype=np.uint64)   # the lanes' noise generators
    _interleave(RNG, m0, st)
    # per member: derived values and the top-down part of v_A at the start, as run_block_euler
    for l in range(L):
        m = m0 + l
        derived(Y[m], Z[m], X[m], T[m], HAS[m], lay, lp, fp, ip)
        for k in range(1, N):
            nk, nn, vao, rno = lay[k].n, lay[k + 1].n, lay[k].v_A, lay[k + 1].r
            _matrix_pass_serial(Y[m], lay[k].w_down, nk, nn, WORK[m, 3], 0, Z[m], Z[m], rno, fp[F_DT],
                                fp[F_DT], fp[F_DT], False, n_w, False, WORK[m, 4], vao, False)
    y, z = np.empty(n_y * L), np.empty(n_z * L)
    rnew, e_up, e_pi, v_td = np.empty(n_z * L), np.zeros(n_z * L), np.zeros(n_z * L), np.empty(n_z * L)
    x, tgt = np.empty(X.shape[1] * L), np.empty(T.shape[1] * L)
    _interleave(Y, m0, y)
    _interleave(Z, m0, z)
    _interleave(X, m0, x)
    _interleave(T, m0, tgt)
    for l in range(L):
        for i in range(n_z):
            v_td[i * L + l] = WORK[m0 + l, 4, i]
    has = HAS[m0:m0 + L].copy()
    code = phi_batch_setup(PW[m0], lay, lp)
    n_pad = PW.shape[2]
    p_g, p_b, p_t, att = np.empty(n_pad * L), np.empty(n_pad * L), np.empty(n_pad * L), np.empty(n_pad * L)
    _widen(PW[m0, PW_GAMMA], p_g)
    _widen(PW[m0, PW_BETA], p_b)
    _widen(PW[m0, PW_THETA], p_t)
    _widen(_attenuation(lay, fp, n_pad), att)
    vb0 = lay[1].v_B - lay[1].u
    rb0 = lay[1].r - lay[1].u
    n_rec_vars = rec_src.shape[0]
    n_rec = 0
    for step in range(n_steps):
        plastic = step >= plastic_from
        if n_rec_vars > 0:
            n_new = n_rec
            for l in range(L):
                n_new = record_step(y, z, n_y, rec_src, rec_src, -1, step0 + step, rec_every, rec_mean, BUF[m0 + l],
                                    ACC[m0 + l], n_rec, L, l)
            n_rec = n_new
        # -- error signals at t (eqs. 7-8; the batched phi of run_block_euler) ---------------------
        if plastic:
            _phi_errors(z, e_up, p_g, p_b, p_t, code, vb0 * L, rb0 * L, att, n_neurons * L)
            for k in range(1, N):
                if lp[k, P_ETA_PI] != 0.0:
                    vao = np.uint64(lay[k].v_A * L)
                    for ii in range(lay[k].n * L):
                        i = np.uint64(ii)
                        e_pi[vao + i] = post_apical(z[vao + i])
        # -- somatic potentials and input filter (eqs. 1-2) ------------------------------------------
        _somatic_lanes(y, z, rnew, tgt, has, lay, lay_l, fp, ip)
        for ii in range(n_neurons * L):
            i = np.uint64(ii)
            y[i] += dt * rnew[i]
        if tau_in_on:
            for jj in range(n0 * L):
                j = np.uint64(jj)
                y[uy0 + j] += dt * dr0_input(x[j], y[uy0 + j], tau_in)
        if sigma != 0.0:
            add_normals_lanes(y, n_noisy, scale, st, st_tmp)
        if not _lanes_finite(y, n_neurons):
            ACC[m0:m0 + L] = saved_acc
            return -1
        input_rates(y, x, rnew, 0, lay_l, ip)
        phi_block(rnew, rb0 * L, y, 0, 0, n_neurons * L, 1.0, p_g, p_b, p_t, code)   # rates at t+1
        # -- one pass per matrix: plasticity at t, dendritic potentials at t+1 ---------------------
        for k in range(1, N + 1):
            nk, npv = lay[k].n, lay[k - 1].n
            vbo, po = lay[k].v_B, lay[k - 1].r
            _forward_pass(y, lay[k].w_up, lay[k].b_up, nk, npv, e_up, vbo, z, rnew, po, lp[k, P_ETA_UP], dtv,
                          inv_tau_w, traces_on, n_w, plastic)
            if k == N:
                continue
            nn = lay[k + 1].n
            vao, vio, ro, rno, rio = lay[k].v_A, lay[k].v_I, lay[k].r, lay[k + 1].r, lay[k].r_I
            _forward_pass(y, lay[k].w_IP, lay[k].b_IP, nn, nk, e_up, vio, z, rnew, ro, lp[k, P_ETA_IP], dtv,
                          inv_tau_w, traces_on, n_w, plastic)
            wo = lay[k].w_down
            _lane_pass(y, wo, wo + n_w, nk, nn, e_pi, vao, z, rnew, rno, v_td, vao, 0.0, 0.0, False, False,
                       False)
            _copy_block(z, v_td, vao * L, nk * L)
            eta = lp[k, P_ETA_PI]
            wo = lay[k].w_PI
            _lane_pass(y, wo, wo + n_w, nk, nn, e_pi, vao, z, rnew, rio, z, vao, dtv * eta, dtv * inv_tau_w,
                       plastic and eta != 0.0, traces_on, True)
        # -- rates of t+1 become current ---------------------------------------------------------------
        _copy_block(z, rnew, lay[0].r * L, n0 * L)     # unsigned offsets: vectorised copies
        _copy_block(z, rnew, rb0 * L, n_neurons * L)
    _deinterleave(y, Y, m0)
    _deinterleave(z, Z, m0)
    _deinterleave(st, RNG, m0)
    return n_rec
