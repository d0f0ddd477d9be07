"""Fused forward-Euler block loop: one pass over each weight matrix per step.

Explicit Euler allows the rank-1 plasticity update of step t and the mat-vec of
step t+1 to share one read of W: for row i,

    W_ij <- W_ij + dt eta e_i(t) pre_j(t)        (eqs. 7-10, or via the tau_w trace)
    v_i(t+1) = sum_j W_ij pre_j(t+1)             (eqs. 3-5)

where pre(t+1) are the rates of the already updated potentials. The result
equals :func:`dendrosim.engine.loop.run_block` with ``integ = 0`` up to rounding
(tested to 1e-12); it is the default Euler path. Same arguments and returns.
"""

from __future__ import annotations

import numpy as np

from numba import njit, prange

from ..model.dendrites import attenuation_basal, attenuation_interneuron, synaptic_term
from ..model.noise import noise_scale
from ..model.plasticity import post_apical, post_rate_error, trace_step, weight_step
from ..model.soma import dr0_input
from .loop import STATUS_DIVERGED, STATUS_OK, _neurons_finite, _noisy_count, record_step
from .params import (F_DT, F_GA, F_GB, F_GD, F_GL, F_SIGMA, F_TAU_IN, F_TAU_W, I_N_W, I_NOISE_CONV,
                     I_TAU_IN_ON, I_TAU_W_ON, I_THREADS, P_ETA_DOWN, P_ETA_IP, P_ETA_PI, P_ETA_UP)
from .rhs import (PW_ARG, PW_BETA, PW_GAMMA, PW_OUT, PW_THETA, THREADED_MIN_NEURONS, derived, input_rates,
                  phi_batch, phi_batch_setup, phi_span, prospective_rates, prospective_update, rates,
                  sent_offset, somatic_derivatives)
from .rng import add_normals


# Reductions (dot products) may be reassociated so that LLVM vectorises them: this
# is what makes the large networks memory-bound instead of add-latency-bound
# (7x on 784-500-500-10). The order of summation is then fixed per machine
# (deterministic, bit-identical on resume) but differs from the strict path by
# rounding only (tests/test_fused.py, 1e-12).
_FAST = {"reassoc", "contract"}


@njit(cache=True, fastmath=_FAST, inline="always")
def _rows(y, wo, do, i0, i1, n_pre, err, eo, old, new, po, out, oo, c1, c2, learn, traces_on, add):
    """Rows i0..i1-1 of one matrix pass (see :func:`_matrix_pass`).

    W is y[wo:], its trace y[do:] (row-major, ``n_pre`` columns); the error of row i is
    err[eo+i], the presynaptic rates old[po+j] (step t) and new[po+j] (step t+1), the
    result goes to out[oo+i]. Offsets are unsigned so that numba emits no negative-index
    wraparound and LLVM vectorises the rows as it does for 2-D views, with no view (and
    no reference counting) made per step. One offset for both rate vectors: a second one
    (tried for the two-thread kernel) cost ~5 % of a 30-20-10 step.
    """
    wo, do, po, eo, oo = np.uint64(wo), np.uint64(do), np.uint64(po), np.uint64(eo), np.uint64(oo)
    m = np.uint64(n_pre)
    zero = c1 - c1                 # 0 in the state dtype
    for ii in range(i0, i1):
        i = np.uint64(ii)
        b = wo + i * m
        acc = zero
        if learn and traces_on:
            e_i = err[eo + i]
            bd = do + i * m
            for jj in range(n_pre):
                j = np.uint64(jj)
                d = y[bd + j]
                w = weight_step(y[b + j], c1, d)
                y[b + j] = w
                y[bd + j] = trace_step(d, e_i * old[po + j], c2)
                acc = synaptic_term(acc, w, new[po + j])
        elif learn:
            ce = c1 * err[eo + i]
            for jj in range(n_pre):
                j = np.uint64(jj)
                w = weight_step(y[b + j], ce, old[po + j])
                y[b + j] = w
                acc = synaptic_term(acc, w, new[po + j])
        else:
            for jj in range(n_pre):
                j = np.uint64(jj)
                acc = synaptic_term(acc, y[b + j], new[po + j])
        out[oo + i] = out[oo + i] + acc if add else acc


@njit(cache=True, fastmath=_FAST, parallel=True)
def _rows_threaded(y, wo, do, n_post, n_pre, n_threads, err, eo, old, new, po, out, oo, c1, c2, learn,
                   traces_on, add):
    for c in prange(n_threads):
        _rows(y, wo, do, c * n_post // n_threads, (c + 1) * n_post // n_threads, n_pre, err, eo, old, new, po,
              out, oo, c1, c2, learn, traces_on, add)


# Matrices at least this large are swept by several threads when ip[I_THREADS] >= 2.
THREADED_MIN_WEIGHTS = 100_000


@njit(cache=True, fastmath=_FAST)
def _matrix_pass_serial(y, wo, n_post, n_pre, err, eo, old, new, po, eta, dt, inv_tau_w, traces_on, n_w,
                        plastic, out, oo, add):
    """out[oo:oo+n_post] (+)= W(t+1) new[po:po+n_pre], updating W (and its trace) with
    eta err old[po:]^T first, on this thread. The kernel's serial specialisation calls this one
    directly: a call that may start threads, even one never taken, costs ~7 % of a 30-20-10
    step (an inlined helper choosing between the two was not pruned and gave it back)."""
    learn = plastic and eta != 0.0
    _rows(y, wo, wo + n_w, 0, n_post, n_pre, err, eo, old, new, po, out, oo, dt * eta, dt * inv_tau_w, learn,
          traces_on, add)


@njit(cache=True, fastmath=_FAST)
def _matrix_pass(y, wo, n_post, n_pre, err, eo, old, new, po, eta, dt, inv_tau_w, traces_on, n_w,
                 plastic, out, oo, add, n_threads):
    """:func:`_matrix_pass_serial`, with large matrices split by rows over ``n_threads``
    threads (rows are independent, so the result does not change)."""
    if n_threads >= 2 and n_post * n_pre >= THREADED_MIN_WEIGHTS:
        _rows_threaded(y, wo, wo + n_w, n_post, n_pre, n_threads, err, eo, old, new, po, out, oo, dt * eta,
                       dt * inv_tau_w, plastic and eta != 0.0, traces_on, add)
    else:
        _matrix_pass_serial(y, wo, n_post, n_pre, err, eo, old, new, po, eta, dt, inv_tau_w, traces_on, n_w,
                            plastic, out, oo, add)


def threads_arg(layout, ip) -> tuple:
    """The trailing ``threads`` argument of :func:`run_block_euler`: (n,) when ``ip`` asks for
    n >= 2 threads and some matrix is large enough to be split, else () (the serial kernel)."""
    n = int(ip[I_THREADS])
    lay, N = layout.lay, layout.depth
    biggest = max(lay[k].n * max(lay[k - 1].n, lay[k + 1].n if k < N else 0) for k in range(1, N + 1))
    return (n,) if n >= 2 and biggest >= THREADED_MIN_WEIGHTS else ()


@njit(cache=True)
def _bias_pass(y, bo, n, err, eo, eta, dt, inv_tau_w, traces_on, n_w, plastic, out, oo):
    """Biases: weights from a presynaptic rate of 1; out[oo+i] += b_i(t+1)."""
    learn = plastic and eta != 0.0
    for i in range(n):
        if learn:
            if traces_on:
                d = y[bo + n_w + i]
                y[bo + i] = weight_step(y[bo + i], dt * eta, d)
                y[bo + n_w + i] = trace_step(d, err[eo + i], dt * inv_tau_w)
            else:
                y[bo + i] = weight_step(y[bo + i], dt * eta, err[eo + i])
        out[oo + i] += y[bo + i]


@njit(cache=True)
def _attenuation(lay, fp, n_pad):
    """The attenuation of eqs. 7-8 per neuron j in ``y`` order: g_B/(g_l+g_B+g_A) for a
    pyramidal cell (g_A = 0 at the output), g_D/(g_l+g_D) for an interneuron, computed in
    the state dtype (the same number for every neuron of a layer, used by the batched and
    the layer-by-layer paths). Padding columns get 0."""
    N = lay.shape[0] - 1
    g_l, g_B, g_A, g_D = fp[F_GL], fp[F_GB], fp[F_GA], fp[F_GD]
    att = np.zeros(n_pad, dtype=np.float64)
    aI = 1.0 * attenuation_interneuron(g_l, g_D)
    for k in range(1, N + 1):
        a = 1.0 * attenuation_basal(g_l, g_B, g_A if k < N else 0.0 * g_A)
        for i in range(lay[k].n):
            att[lay[k].u + i] = a
        if k < N:
            for i in range(lay[k + 1].n):
                att[lay[k].u_I + i] = aI
    return att


@njit(cache=True, inline="always")
def _errors_batched(z, zr, e, p_arg, p_out, p_g, p_b, p_t, code, vb0, r0, att, j0, j1, p0, p1):
    """e = r_k - phi_k(vhat_B,k) at the v_B offsets and r_I,k - phi_k+1(vhat_I,k) at the v_I
    offsets (eqs. 7-8) of the neurons j0 <= j < j1 (all of them: 0, n), with one
    :func:`~.rhs.phi_batch` over the scratch columns p0 <= j < p1 around them (whole vectors:
    no scalar remainder). v_B / v_I and the rates are the blocks z[vb0:vb0+n] and zr[r0:r0+n]
    in y order (network.Layout; zr is z, or with Latent Equilibrium the prospective rates of
    the step); the same operations and roundings per neuron as the layer-by-layer
    :func:`~.rhs.phi_span`."""
    v, r, a = np.uint64(vb0), np.uint64(r0), np.uint64(j0)   # unsigned: no wraparound test, loops vectorise
    n = j1 - j0
    for jj in range(n):
        j = a + np.uint64(jj)
        p_arg[j] = att[j] * z[v + j]
    phi_batch(p_arg, p_out, p_g, p_b, p_t, code, p0, p1)
    for jj in range(n):
        j = a + np.uint64(jj)
        e[v + j] = p_out[j]                      # rounded to the state dtype first
        e[v + j] = post_rate_error(zr[r + j], e[v + j])


@njit(cache=True, inline="always")
def _copy_block(dst, src, o, n):
    """dst[o:o+n] = src[o:o+n] (unsigned offsets, no view)."""
    o = np.uint64(o)
    for jj in range(n):
        j = np.uint64(jj)
        dst[o + j] = src[o + j]


@njit(cache=True, inline="always")
def _rates_batched(y, x, out, p_arg, p_out, p_g, p_b, p_t, code, r0, n, lay, ip):
    """:func:`~.rhs.rates` with one :func:`~.rhs.phi_batch` over all ``n`` neurons (their
    rates are the block out[r0:r0+n] in y order)."""
    input_rates(y, x, out, 0, lay, ip)
    _neuron_rates(y, out, p_arg, p_out, p_g, p_b, p_t, code, r0, 0, n, 0, p_arg.shape[0], lay)


@njit(cache=True, inline="always")
def _neuron_rates(y, out, p_arg, p_out, p_g, p_b, p_t, code, r0, j0, j1, p0, p1, lay):
    """out[r0+j] = phi(y[j]) for the neurons j0 <= j < j1 (somatic potentials come first in y;
    with Latent Equilibrium phi of their u_breve), phi evaluated over the scratch columns
    p0 <= j < p1 around them."""
    a, n, r, sh = np.uint64(j0), j1 - j0, np.uint64(r0), np.uint64(sent_offset(lay))
    for jj in range(n):
        j = a + np.uint64(jj)
        p_arg[j] = y[sh + j]
    phi_batch(p_arg, p_out, p_g, p_b, p_t, code, p0, p1)
    for jj in range(n):
        j = a + np.uint64(jj)
        out[r + j] = p_out[j]


@njit(cache=True)
def run_block_euler(y, x, tgt, has_tgt, n_steps, step0, plastic_from, integ, dt, circuit, rng, rec, ws,
                    threads=None):
    """Fused explicit-Euler version of :func:`dendrosim.engine.loop.run_block` (same arguments).

    ``threads``: None (omitted) compiles the serial kernel; an int >= 2 the one that sweeps
    matrices of at least ``THREADED_MIN_WEIGHTS`` weights on that many threads
    (:func:`threads_arg`). The two give the same results.

    ``zs`` holds the rates of step t+1 while the weights are swept; ``work[0]``
    holds the error signals e (post factors of eqs. 7-10) at the offsets of z, ``work[5]``
    du/dt, ``work[6]`` with Latent Equilibrium the rates of the step's u + du/dt / g_tot.
    On small networks whose layers share one transfer function, phi of every neuron
    is evaluated in one vectorised loop over ``pw`` (:func:`~.rhs.phi_batch`; the
    same operations per neuron, so the same bits as the layer-by-layer loops).
    """
    lay, lp, fp, ip = circuit
    rec_src, rec_every, rec_mean, rec_buf, rec_acc = rec
    z, zs, work, one, pw = ws.z, ws.zs, ws.work, ws.one, ws.pw
    N = lay.shape[0] - 1
    n_y = y.shape[0]
    n_w = ip[I_N_W]
    traces_on = ip[I_TAU_W_ON] == 1
    dtv = fp[F_DT]                           # dt in the state dtype
    inv_tau_w = one[0] / fp[F_TAU_W] if traces_on else one[0] - one[0]
    sigma = fp[F_SIGMA]
    scale = noise_scale(sigma, dt, ip[I_NOISE_CONV])
    n_noisy = _noisy_count(lay, ip)
    n_neurons = lay[0].u
    n0 = lay[0].n
    y0 = lay[0].u
    uy0 = np.uint64(y0)
    tau_in_on = ip[I_TAU_IN_ON] == 1        # read once: the loops' stores could alias ip and fp
    tau_in = fp[F_TAU_IN]
    nth = ip[I_THREADS]
    e_up = work[0]          # error at v_B offsets
    e_ip = work[1]          # error at v_I offsets
    e_pi = work[2]          # error at v_A offsets
    e_dn = work[3]          # top-down error at v_A offsets
    v_td = work[4]          # top-down part of v_A at v_A offsets
    rnew = zs
    du = work[5]            # du/dt at the y offsets of the somata
    le = lay[0].u_breve >= 0
    own = work[6] if le else z   # the rates eqs. 7, 8, 10 compare: phi(u) = z, or with LE phi(u_breve) of t
    code = phi_batch_setup(pw, lay, lp)
    batched = code >= 0 and (nth < 2 or n_neurons < THREADED_MIN_NEURONS)
    p_arg, p_out, p_g, p_b, p_t = pw[PW_ARG], pw[PW_OUT], pw[PW_GAMMA], pw[PW_BETA], pw[PW_THETA]
    att_n = _attenuation(lay, fp, pw.shape[1])
    vb0 = lay[1].v_B - lay[1].u   # blocks of v_B / v_I and of rates in z (network.Layout)
    rb0 = lay[1].r - lay[1].u
    if batched:
        e_ip = e_up          # interneuron errors at the v_I offsets, disjoint from v_B's
    derived(y, z, x, tgt, has_tgt, lay, lp, fp, ip)
    for k in range(1, N):   # top-down part of v_A, for a plastic top-down rule
        nk, nn, vao, rno = lay[k].n, lay[k + 1].n, lay[k].v_A, lay[k + 1].r
        _matrix_pass_serial(y, lay[k].w_down, nk, nn, e_dn, 0, z, z, rno, fp[F_DT], fp[F_DT], fp[F_DT],
                            False, n_w, False, v_td, vao, False)
    n_rec_vars = rec_src.shape[0]
    n_rec = 0
    for step in range(n_steps):
        plastic = step >= plastic_from
        # -- record the state at t ------------------------------------------------------
        if n_rec_vars > 0:
            n_rec = record_step(y, z, n_y, rec_src, rec_src, -1, step0 + step, rec_every, rec_mean, rec_buf, rec_acc,
                                n_rec, 1, 0)
        # -- du/dt at t (eqs. 1-2), and with LE the rates of u + du/dt / g_tot ---------
        somatic_derivatives(y, z, du, tgt, has_tgt, lay, fp, ip)
        if le and plastic:
            prospective_rates(y, du, own, has_tgt, lay, lp, fp, ip)
        # -- error signals at t (eqs. 7-10) -------------------------------------------
        if plastic:
            if batched:          # r_k - phi_k(vhat_B) and r_I,k - phi_k+1(vhat_I), all layers at once
                _errors_batched(z, own, e_up, p_arg, p_out, p_g, p_b, p_t, code, vb0, rb0, att_n, 0, n_neurons, 0,
                                p_arg.shape[0])
            for k in range(1, N + 1):
                nk = lay[k].n
                vbo, ro = lay[k].v_B, lay[k].r
                if lp[k, P_ETA_UP] != 0.0 and not batched:   # r_k - phi_k(vhat_B)
                    phi_span(e_up, vbo, own, ro, True, z, vbo, nk, att_n[lay[k].u], k, lay, lp, nth)
                if k < N:
                    nn = lay[k + 1].n
                    vio, vao = lay[k].v_I, lay[k].v_A
                    if lp[k, P_ETA_IP] != 0.0 and not batched:
                        phi_span(e_ip, vio, own, lay[k].r_I, True, z, vio, nn, att_n[lay[k].u_I], k + 1,
                                 lay, lp, nth)
                    if lp[k, P_ETA_PI] != 0.0:
                        va = np.uint64(vao)
                        for ii in range(nk):
                            i = np.uint64(ii)
                            e_pi[va + i] = post_apical(z[va + i])
                    if lp[k, P_ETA_DOWN] != 0.0:
                        phi_span(e_dn, vao, own, ro, True, v_td, vao, nk, 1.0, k, lay, lp, nth)
        # -- somatic potentials and input filter: Euler step from t (eqs. 1-2) ------------
        if le:                   # u_breve = u + du/dt / g_tot from the state at t
            prospective_update(y, du, 1.0, True, n_neurons, has_tgt, lay, fp)
        for i in range(n_neurons):
            y[i] += dt * du[i]
        if tau_in_on:
            for jj in range(n0):
                j = np.uint64(jj)
                y[uy0 + j] += dt * dr0_input(x[j], y[uy0 + j], tau_in)
        if sigma != 0.0:
            if le:               # the noise is part of du/dt and so of u_breve (as engine.loop)
                for j in range(n_noisy):
                    du[j] = y[j]
            add_normals(y, n_noisy, scale, rng)
            if le:
                for j in range(n_noisy):
                    du[j] = y[j] - du[j]
                prospective_update(y, du, 1.0 / dt, False, n_noisy, has_tgt, lay, fp)
        if not _neurons_finite(y, n_neurons):
            return step + 1, STATUS_DIVERGED, n_rec
        # -- rates at t+1 into rnew (same offsets as z) --------------------------------------
        if batched:
            _rates_batched(y, x, rnew, p_arg, p_out, p_g, p_b, p_t, code, rb0, n_neurons, lay, ip)
        else:
            rates(y, x, rnew, lay, lp, ip)
        # -- one pass per matrix: plasticity at t, dendritic potentials at t+1 ---------
        for k in range(1, N + 1):
            nk, npv = lay[k].n, lay[k - 1].n
            vbo, po = lay[k].v_B, lay[k - 1].r
            if threads is None:      # decided at compile time: this branch is pruned in the threaded kernel
                _matrix_pass_serial(y, lay[k].w_up, nk, npv, e_up, vbo, z, rnew, po, lp[k, P_ETA_UP], dtv,
                                    inv_tau_w, traces_on, n_w, plastic, z, vbo, False)
            else:
                _matrix_pass(y, lay[k].w_up, nk, npv, e_up, vbo, z, rnew, po, lp[k, P_ETA_UP], dtv, inv_tau_w,
                             traces_on, n_w, plastic, z, vbo, False, threads)
            if lay[k].b_up >= 0:
                _bias_pass(y, lay[k].b_up, nk, e_up, vbo, lp[k, P_ETA_UP], dtv, inv_tau_w, traces_on, n_w,
                           plastic, z, vbo)
            if k == N:
                continue
            nn = lay[k + 1].n
            vao, vio, ro, rno, rio = lay[k].v_A, lay[k].v_I, lay[k].r, lay[k + 1].r, lay[k].r_I
            if threads is None:
                _matrix_pass_serial(y, lay[k].w_IP, nn, nk, e_ip, vio, z, rnew, ro, lp[k, P_ETA_IP], dtv,
                                    inv_tau_w, traces_on, n_w, plastic, z, vio, False)
            else:
                _matrix_pass(y, lay[k].w_IP, nn, nk, e_ip, vio, z, rnew, ro, lp[k, P_ETA_IP], dtv, inv_tau_w,
                             traces_on, n_w, plastic, z, vio, False, threads)
            if lay[k].b_IP >= 0:
                _bias_pass(y, lay[k].b_IP, nn, e_ip, vio, lp[k, P_ETA_IP], dtv, inv_tau_w, traces_on, n_w,
                           plastic, z, vio)
            if threads is None:
                _matrix_pass_serial(y, lay[k].w_down, nk, nn, e_dn, vao, z, rnew, rno, lp[k, P_ETA_DOWN], dtv,
                                    inv_tau_w, traces_on, n_w, plastic, v_td, vao, False)
            else:
                _matrix_pass(y, lay[k].w_down, nk, nn, e_dn, vao, z, rnew, rno, lp[k, P_ETA_DOWN], dtv,
                             inv_tau_w, traces_on, n_w, plastic, v_td, vao, False, threads)
            _copy_block(z, v_td, vao, nk)
            if threads is None:
                _matrix_pass_serial(y, lay[k].w_PI, nk, nn, e_pi, vao, z, rnew, rio, lp[k, P_ETA_PI], dtv,
                                    inv_tau_w, traces_on, n_w, plastic, z, vao, True)
            else:
                _matrix_pass(y, lay[k].w_PI, nk, nn, e_pi, vao, z, rnew, rio, lp[k, P_ETA_PI], dtv, inv_tau_w,
                             traces_on, n_w, plastic, z, vao, True, threads)
        # -- rates of t+1 become current -----------------------------------------------------
        _copy_block(z, rnew, lay[0].r, n0)
        _copy_block(z, rnew, rb0, n_neurons)
    return n_steps, STATUS_OK, n_rec
