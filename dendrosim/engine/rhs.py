"""Right-hand side of the microcircuit ODEs (Sacramento et al. 2018, eqs. 1-10): the
generic, readable composition of the equations of :mod:`dendrosim.model`, against which
the fused kernels are tested.

:func:`derived` computes the instantaneous quantities of the state ``y`` at time t
(rates, dendritic potentials, paper eqs. 3-5) into ``z``; :func:`rhs` then writes
dy/dt (somatic eqs. 1-2, input filter, plasticity eqs. 6-10 with the optional
tau_w trace). Everything is computed from the state at t, so all compartments are
updated synchronously (pitfall 8). Noise is added by the integrators, not here.

Conventions fixed here (documented switches live in :mod:`dendrosim.config`):

- interneurons of hidden layer k use the transfer function of layer k+1, which
  they learn to imitate;
- the input rates r_0 are the low-pass-filtered pattern, never passed through phi
  (pitfall 4); with ``tau_in = 0`` they are the pattern itself;
- biases are weights from a presynaptic rate fixed at 1.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..model.dendrites import attenuation_basal, attenuation_interneuron, synaptic_term
from ..model.pal import high_pass_step, ou_gains, ou_step, pal_rule
from ..model.plasticity import post_apical, post_rate_error, trace_rate, weight_rate
from ..model.soma import (dr0_input, du_basal, du_interneuron, du_pyramidal, nudging_current,
                          prospective_potential, soma_conductance)
from ..model.transfer import phi, phi_block
from .params import (F_EEXC, F_EINH, F_GA, F_GB, F_GD, F_GL, F_GSOM, F_PAL_ALPHA, F_PAL_SIGMA, F_PAL_TAU_HP,
                     F_PAL_TAU_XI, F_TAU_IN, F_TAU_W, I_DOWN_RULE, I_N_W, I_NUDGING, I_TAU_IN_ON, I_TAU_W_ON,
                     I_THREADS, P_BETA, P_ETA_DOWN, P_ETA_IP, P_ETA_PI, P_ETA_UP, P_GAMMA, P_THETA)


@njit(cache=True, inline="always")
def _phi_l(u, k, lay, lp):
    """phi of layer k."""
    return phi(u, lay[k].transfer, lp[k, P_GAMMA], lp[k, P_BETA], lp[k, P_THETA])


@njit(cache=True)
def matvec_add(y, wo, n_post, n_pre, pre, out, zero_first):
    """out (+)= W @ pre with W stored row-major at y[wo:wo + n_post*n_pre]."""
    for i in range(n_post):
        base = wo + i * n_pre
        acc = y[base] * pre[0]  # starting from a product keeps the state dtype
        for j in range(1, n_pre):
            acc = synaptic_term(acc, y[base + j], pre[j])
        if zero_first:
            out[i] = acc
        else:
            out[i] += acc


@njit(cache=True)   # not inlined: one compiled copy of the four vectorised loops, not one per call site
def _phi_rows(out, oo, base, bo, minus, src, so, scale, k, lay, lp, i0, i1):
    """out[oo+i] = phi_k(scale src[so+i]), or the post factor base[bo+i] minus it (eqs. 7-8,
    10) if ``minus``, for i0 <= i < i1."""
    phi_block(out, oo, src, so, i0, i1, scale, lp[k, P_GAMMA], lp[k, P_BETA], lp[k, P_THETA], lay[k].transfer)
    if minus:
        for i in range(i0, i1):
            out[oo + i] = post_rate_error(base[bo + i], out[oo + i])


@njit(cache=True, parallel=True)
def _phi_rows_threaded(out, oo, base, bo, minus, src, so, n, scale, k, lay, lp, nth):
    for c in prange(nth):
        _phi_rows(out, oo, base, bo, minus, src, so, scale, k, lay, lp, c * n // nth, (c + 1) * n // nth)


# Layers at least this large evaluate phi on several threads when ip[I_THREADS] >= 2.
THREADED_MIN_NEURONS = 256


@njit(cache=True, inline="always")   # called several times per step on 10-30 neurons: no call overhead
def phi_span(out, oo, base, bo, minus, src, so, n, scale, k, lay, lp, nth):
    """out[oo+i] = phi_k(scale src[so+i]), or base[bo+i] minus that if ``minus``, i < n."""
    if nth >= 2 and n >= THREADED_MIN_NEURONS:
        _phi_rows_threaded(out, oo, base, bo, minus, src, so, n, scale, k, lay, lp, nth)
    else:
        _phi_rows(out, oo, base, bo, minus, src, so, scale, k, lay, lp, 0, n)


# Rows of the batched-phi scratch ``pw`` (float64, one column per neuron in y order):
# arguments, results, and the neuron's gamma, beta, theta (those of the layer whose
# transfer function it uses; interneurons of layer k use layer k+1's).
PW_ARG, PW_OUT, PW_GAMMA, PW_BETA, PW_THETA = range(5)
PW_ROWS = 5


@njit(cache=True)
def phi_batch_setup(pw, lay, lp):
    """Fill the parameter rows of ``pw``; return the common transfer code of all layers,
    or -1 if layers differ (then phi must be evaluated layer by layer)."""
    N = lay.shape[0] - 1
    code = lay[1].transfer
    for k in range(2, N + 1):
        if lay[k].transfer != code:
            return -1
    for c in range(pw.shape[1]):          # padding: harmless finite values
        pw[PW_ARG, c] = 0.0
        pw[PW_GAMMA, c], pw[PW_BETA, c], pw[PW_THETA, c] = lp[1, P_GAMMA], lp[1, P_BETA], lp[1, P_THETA]
    for k in range(1, N + 1):
        for kk, o, n in ((k, lay[k].u, lay[k].n), (k + 1, lay[k].u_I, lay[k + 1].n if k < N else 0)):
            for i in range(o, o + n):
                pw[PW_GAMMA, i], pw[PW_BETA, i], pw[PW_THETA, i] = lp[kk, P_GAMMA], lp[kk, P_BETA], lp[kk, P_THETA]
    return code


@njit(cache=True)
def phi_batch(a, o, g, b, t, code, i0, i1):
    """o = phi(a) over the columns i0 <= i < i1 of the ``pw`` scratch (a, o, g, b, t = its rows
    PW_ARG, PW_OUT, PW_GAMMA, PW_BETA, PW_THETA): one straight loop that LLVM vectorises, instead
    of one short loop (mostly its scalar remainder) per layer."""
    phi_block(o, 0, a, 0, i0, i1, 1.0, g, b, t, code)


@njit(cache=True, inline="always")
def input_rates(y, x, out, oo, lay, ip):
    """The input rates r_0 at out[oo + z offset]: the low-pass filtered pattern (the state
    y[r_0 block], sec. 1.5), or the pattern x itself without the filter (tau_in = 0); never
    passed through phi (pitfall 4)."""
    r0o, y0 = np.uint64(oo + lay[0].r), np.uint64(lay[0].u)
    if ip[I_TAU_IN_ON] == 1:              # tested once: stores to out could alias ip
        for jj in range(lay[0].n):
            j = np.uint64(jj)
            out[r0o + j] = y[y0 + j]
    else:
        for jj in range(lay[0].n):
            j = np.uint64(jj)
            out[r0o + j] = x[j]


@njit(cache=True, inline="always")
def sent_offset(lay):
    """Where the potential a neuron sends lies relative to its soma in ``y``: 0 (u itself) or,
    with Latent Equilibrium, the offset of the u_breve block (y[sent_offset + i] for the soma
    at y[i]): rates, and the interneurons' teaching potentials, are read from there."""
    ub = lay[0].u_breve
    return ub if ub >= 0 else 0


@njit(cache=True, inline="always")
def rates(y, x, out, lay, lp, ip):
    """Rates at the z offsets of ``out``: r_0 (filtered input, or x without filter),
    r_k = phi_k(u_k) and interneuron rates r_I,k = phi_{k+1}(u_I,k); with Latent Equilibrium
    phi of the u_breve stored by the previous step instead of u (one step of delay per layer)."""
    N = lay.shape[0] - 1
    nth = ip[I_THREADS]
    sh = sent_offset(lay)
    input_rates(y, x, out, 0, lay, ip)
    for k in range(1, N + 1):
        phi_span(out, lay[k].r, out, 0, False, y, sh + lay[k].u, lay[k].n, 1.0, k, lay, lp, nth)
        if k < N:
            phi_span(out, lay[k].r_I, out, 0, False, y, sh + lay[k].u_I, lay[k + 1].n, 1.0, k + 1,
                     lay, lp, nth)


@njit(cache=True, inline="always")
def _span(lo, hi, o, n):
    """The part [a, b) of the index block [o, o+n) that lies in [lo, hi), relative to o."""
    a = lo - o if lo > o else 0
    b = hi - o if hi < o + n else n
    return np.uint64(a), (b - a if b > a else 0)


@njit(cache=True)
def somatic_derivatives_range(y, z, out, tgt, has_tgt, lay, fp, ip, lo, hi):
    """du/dt of the pyramidal somata and interneurons whose y index is in [lo, hi) (eqs. 1-2)
    into ``out`` at the y offsets, from the state ``y`` and its dendritic potentials ``z``. An
    interneuron reads the soma of its pyramidal partner, which may lie outside the range.

    Offsets are read into locals before each loop and used unsigned: numba tells LLVM
    nothing about aliasing, so a ``lay[...]`` read inside a loop that stores to ``out``
    is repeated every iteration, and signed offsets carry a wraparound test; either keeps
    the loop from vectorising."""
    N = lay.shape[0] - 1
    g_l, g_B, g_A, g_D, g_som = fp[F_GL], fp[F_GB], fp[F_GA], fp[F_GD], fp[F_GSOM]
    E_exc, E_inh = fp[F_EEXC], fp[F_EINH]
    mode = ip[I_NUDGING]
    for k in range(1, N + 1):
        uo, vbo = np.uint64(lay[k].u), np.uint64(lay[k].v_B)
        a, nk = _span(lo, hi, lay[k].u, lay[k].n)
        if k < N:
            vao = np.uint64(lay[k].v_A)
            for ii in range(nk):
                i = a + np.uint64(ii)
                out[uo + i] = du_pyramidal(y[uo + i], z[vbo + i], z[vao + i], g_l, g_B, g_A)
            # interneurons, nudged by the pyramidal cells of layer k+1
            io, vio = np.uint64(lay[k].u_I), np.uint64(lay[k].v_I)
            a, nn = _span(lo, hi, lay[k].u_I, lay[k + 1].n)
            un = np.uint64(sent_offset(lay) + lay[k + 1].u)    # LE: the partner's u_breve
            for ii in range(nn):
                i = a + np.uint64(ii)
                u = y[io + i]
                out[io + i] = (du_interneuron(u, z[vio + i], g_l, g_D)
                               + nudging_current(u, y[un + i], g_som, mode, E_exc, E_inh))
        else:
            for ii in range(nk):
                i = a + np.uint64(ii)
                u = y[uo + i]
                du = du_basal(u, z[vbo + i], g_l, g_B)
                if has_tgt:
                    du += nudging_current(u, tgt[i], g_som, mode, E_exc, E_inh)
                out[uo + i] = du


@njit(cache=True)
def somatic_derivatives(y, z, out, tgt, has_tgt, lay, fp, ip):
    """du/dt of every pyramidal soma and interneuron (eqs. 1-2) into ``out`` at the y offsets,
    from the state ``y`` and its dendritic potentials ``z`` (the somata are y[0:lay[0].u])."""
    somatic_derivatives_range(y, z, out, tgt, has_tgt, lay, fp, ip, 0, lay[0].u)


@njit(cache=True)
def derived(y, z, x, tgt, has_tgt, lay, lp, fp, ip):
    """Rates and dendritic potentials of the state ``y`` (eqs. 3-5), written into ``z``."""
    N = lay.shape[0] - 1
    n0 = lay[0].n
    # input pattern, target (NaN when absent), input rates r_0
    xo = lay[0].z_input
    for j in range(n0):
        z[xo + j] = x[j]
    to = lay[0].z_target
    for j in range(lay[N].n):
        z[to + j] = tgt[j] if has_tgt else np.nan
    rates(y, x, z, lay, lp, ip)
    # dendritic potentials
    for k in range(1, N + 1):
        nk, nprev = lay[k].n, lay[k - 1].n
        vb = z[lay[k].v_B:lay[k].v_B + nk]
        rprev = z[lay[k - 1].r:lay[k - 1].r + nprev]
        matvec_add(y, lay[k].w_up, nk, nprev, rprev, vb, True)       # eq. 3
        if lay[k].b_up >= 0:
            for i in range(nk):
                vb[i] += y[lay[k].b_up + i]
        if k < N:
            nn = lay[k + 1].n
            va = z[lay[k].v_A:lay[k].v_A + nk]
            rk = z[lay[k].r:lay[k].r + nk]
            rnext = z[lay[k + 1].r:lay[k + 1].r + nn]
            ri = z[lay[k].r_I:lay[k].r_I + nn]
            matvec_add(y, lay[k].w_down, nk, nn, rnext, va, True)    # eq. 4, top-down
            matvec_add(y, lay[k].w_PI, nk, nn, ri, va, False)        # eq. 4, interneurons
            xo = lay[k].xi
            if xo >= 0:                                              # PAL: eq. 4 plus xi_k
                for i in range(nk):
                    va[i] += y[xo + i]
            vi = z[lay[k].v_I:lay[k].v_I + nn]
            matvec_add(y, lay[k].w_IP, nn, nk, rk, vi, True)         # eq. 5
            if lay[k].b_IP >= 0:
                for i in range(nn):
                    vi[i] += y[lay[k].b_IP + i]


@njit(cache=True, inline="always")
def _rate_of_step(y, dy, z, yo, zo, phi_k, kind, has_tgt, le, lay, lp, fp):
    """The neuron's own rate that eqs. 7, 8 and 10 compare with its dendritic prediction: its
    rate z[zo] = phi(u) or, with Latent Equilibrium, phi(u_breve) of this step, u + du/dt /
    g_tot from the soma y[yo] and its derivative dy[yo] (``kind`` as in soma_conductance)."""
    if not le:
        return z[zo]
    g = soma_conductance(kind, fp[F_GL], fp[F_GB], fp[F_GA], fp[F_GD], fp[F_GSOM], has_tgt)
    return _phi_l(prospective_potential(y[yo], dy[yo], g), phi_k, lay, lp)


@njit(cache=True)
def prospective_rates(y, du, out, has_tgt, lay, lp, fp, ip):
    """out[r_k + i] = phi_k(u + du/dt / g_tot) and out[r_I,k + i] likewise (z offsets): the
    rates of Latent Equilibrium's prospective potentials of this step, which eqs. 7, 8 and 10
    compare with the dendritic predictions (the per-neuron :func:`_rate_of_step` of
    :func:`rhs`, for a whole network at once). ``du``: du/dt at the y offsets."""
    N = lay.shape[0] - 1
    nth = ip[I_THREADS]
    g_l, g_B, g_A, g_D, g_som = fp[F_GL], fp[F_GB], fp[F_GA], fp[F_GD], fp[F_GSOM]
    for k in range(1, N + 1):
        for kind, o, ro, m, kk in ((0 if k < N else 1, lay[k].u, lay[k].r, lay[k].n, k),
                                   (2, lay[k].u_I, lay[k].r_I, lay[k + 1].n if k < N else 0, k + 1)):
            g = soma_conductance(kind, g_l, g_B, g_A, g_D, g_som, has_tgt)
            for i in range(m):
                out[ro + i] = prospective_potential(y[o + i], du[o + i], g)
            if m > 0:
                phi_span(out, ro, out, 0, False, out, ro, m, 1.0, kk, lay, lp, nth)


@njit(cache=True)
def prospective_update(y, d, c, from_soma, n, has_tgt, lay, fp):
    """The u_breve block of Latent Equilibrium for the first ``n`` somata (pyramidal cells, then
    interneurons, in y order): u_breve = u + c d / g_tot if ``from_soma`` (d = du/dt, c = 1:
    the prospective potential of the step), else u_breve += c d / g_tot (d the noise increments
    of the step, c = 1/dt: their share of du/dt). g_tot per soma from soma_conductance."""
    N = lay.shape[0] - 1
    ub = lay[0].u_breve
    g_l, g_B, g_A, g_D, g_som = fp[F_GL], fp[F_GB], fp[F_GA], fp[F_GD], fp[F_GSOM]
    for k in range(1, N + 1):
        for kind, o, m in ((0 if k < N else 1, lay[k].u, lay[k].n), (2, lay[k].u_I, lay[k + 1].n if k < N else 0)):
            g = soma_conductance(kind, g_l, g_B, g_A, g_D, g_som, has_tgt)
            for i in range(o, min(o + m, n)):
                base = y[i] if from_soma else y[ub + i]
                y[ub + i] = prospective_potential(base, c * d[i], g)


@njit(cache=True)
def _outer_rule(y, dy, wo, n_post, n_pre, post, pre, eta, to, tau_w, traces_on):
    """dW/dt for W += eta * post pre^T (eqs. 7-10), with the tau_w trace (sec. 2.2).

    Without trace: dW/dt = eta G.  With trace Delta at y[to:]:
    dDelta/dt = (G - Delta)/tau_w, dW/dt = eta Delta.  ``pre`` None-equivalent:
    n_pre = 1 with pre = [1] for a bias.
    """
    for i in range(n_post):
        base = i * n_pre
        for j in range(n_pre):
            _rule_entry(y, dy, wo + base + j, to + base + j, post[i] * pre[j], eta, tau_w, traces_on)


@njit(cache=True, inline="always")
def _rule_entry(y, dy, w, t, g, eta, tau_w, traces_on):
    """dW/dt of the weight y[w] for the induction term g (eq. 6): eta g, or with the tau_w
    trace at y[t] dDelta/dt = (g - Delta)/tau_w and dW/dt = eta Delta (sec. 2.2)."""
    if traces_on:
        d = y[t]
        dy[t] = trace_rate(g, d, tau_w)
        dy[w] = weight_rate(eta, d)
    else:
        dy[w] = weight_rate(eta, g)


@njit(cache=True)
def _pal_rule(y, dy, wo, n_post, n_pre, xo, ho, alpha, eta, to, tau_w, traces_on):
    """dW/dt of the top-down weights W_down,k at y[wo:] under PAL: eta (xi_k r_HP,k+1^T - alpha W)
    (Max et al. 2024) with xi_k at y[xo:], r_HP,k+1 at y[ho:], and the tau_w trace as in
    :func:`_outer_rule`."""
    for i in range(n_post):
        base = i * n_pre
        for j in range(n_pre):
            g = pal_rule(y[xo + i], y[ho + j], alpha, y[wo + base + j])
            _rule_entry(y, dy, wo + base + j, to + base + j, g, eta, tau_w, traces_on)


@njit(cache=True)
def pal_update(y, z, normals, dt, lay, fp):
    """The filters of PAL, one step after the deterministic update: the apical noise
    xi_k <- ou_step(xi_k, dt/tau_xi, sigma sqrt(2 dt/tau_xi), n) with ``normals`` n (one per
    hidden pyramidal neuron, layer by layer), and r_HP,k <- high_pass_step(r_HP,k, r_k(t),
    r_k(t - dt), dt/tau_HP), r_prev,k <- r_k(t) for k = 2..N, with r_k(t) the rates the step
    sent (z of the state at its start: phi(u), or phi(u_breve) with Latent Equilibrium)."""
    N = lay.shape[0] - 1
    a, c = ou_gains(dt, fp[F_PAL_TAU_XI], fp[F_PAL_SIGMA])
    m = 0
    for k in range(1, N):
        xo = lay[k].xi
        for i in range(lay[k].n):
            y[xo + i] = ou_step(y[xo + i], a, c, normals[m])
            m += 1
    b = dt / fp[F_PAL_TAU_HP]
    for k in range(2, N + 1):
        ho, po, ro = lay[k].r_hp, lay[k].r_prev, lay[k].r
        for i in range(lay[k].n):
            r = z[ro + i]
            y[ho + i] = high_pass_step(y[ho + i], r, y[po + i], b)
            y[po + i] = r


@njit(cache=True)
def _zero_range(dy, start, n):
    for i in range(start, start + n):
        dy[i] = 0.0


@njit(cache=True)
def rhs(y, z, dy, x, tgt, has_tgt, plastic, lay, lp, fp, ip, err, one):
    """dy/dt of the noise-free microcircuit; also fills ``z`` (see :func:`derived`).

    ``err`` is scratch of length >= max layer size; ``one`` = [1.0] in the state dtype.
    Weights of groups with a zero learning rate get no entry in ``dy``: callers
    pass a ``dy`` whose fixed-weight entries are zero (they are never written).
    With ``plastic`` False every weight and trace derivative is set to zero.
    """
    derived(y, z, x, tgt, has_tgt, lay, lp, fp, ip)
    N = lay.shape[0] - 1
    g_l, g_B, g_A, g_D = fp[F_GL], fp[F_GB], fp[F_GA], fp[F_GD]
    le = lay[0].u_breve >= 0
    # input low-pass filter: tau_in dr0/dt = -r0 + x  (sec. 1.5)
    y0, n0 = lay[0].u, lay[0].n
    for j in range(n0):
        if ip[I_TAU_IN_ON] == 1:
            dy[y0 + j] = dr0_input(x[j], y[y0 + j], fp[F_TAU_IN])
        else:
            dy[y0 + j] = 0.0
    somatic_derivatives(y, z, dy, tgt, has_tgt, lay, fp, ip)      # eqs. 1-2
    # plasticity (eqs. 6-10)
    traces_on = ip[I_TAU_W_ON] == 1
    n_w = ip[I_N_W]
    tau_w = fp[F_TAU_W]
    if not plastic:
        _zero_range(dy, lay[0].u + n0, n_w * (2 if traces_on else 1))
        return
    for k in range(1, N + 1):
        nk, nprev = lay[k].n, lay[k - 1].n
        vbo, ro = lay[k].v_B, lay[k].r
        rprev = z[lay[k - 1].r:lay[k - 1].r + nprev]
        eta = lp[k, P_ETA_UP]
        if eta != 0.0:  # eq. 7: forward weights, vhat_B = g_B/(g_l+g_B+g_A) v_B (g_A = 0 at output)
            att = attenuation_basal(g_l, g_B, g_A if k < N else 0.0 * g_A)
            for i in range(nk):
                r = _rate_of_step(y, dy, z, lay[k].u + i, ro + i, k, 1 if k == N else 0, has_tgt, le, lay, lp, fp)
                err[i] = post_rate_error(r, _phi_l(att * z[vbo + i], k, lay, lp))
            wo = lay[k].w_up
            _outer_rule(y, dy, wo, nk, nprev, err, rprev, eta, wo + n_w, tau_w, traces_on)
            bo = lay[k].b_up
            if bo >= 0:
                _outer_rule(y, dy, bo, nk, 1, err, one, eta, bo + n_w, tau_w, traces_on)
        if k == N:
            continue
        nn = lay[k + 1].n
        rk = z[ro:ro + nk]
        rnext = z[lay[k + 1].r:lay[k + 1].r + nn]
        ri = z[lay[k].r_I:lay[k].r_I + nn]
        eta = lp[k, P_ETA_IP]
        if eta != 0.0:  # eq. 8: vhat_I = g_D/(g_l+g_D) v_I
            att = attenuation_interneuron(g_l, g_D)
            io, vio = lay[k].u_I, lay[k].v_I
            for i in range(nn):
                r = (_rate_of_step(y, dy, z, io + i, -1, k + 1, 2, has_tgt, le, lay, lp, fp) if le
                     else _phi_l(y[io + i], k + 1, lay, lp))
                err[i] = post_rate_error(r, _phi_l(att * z[vio + i], k + 1, lay, lp))
            wo = lay[k].w_IP
            _outer_rule(y, dy, wo, nn, nk, err, rk, eta, wo + n_w, tau_w, traces_on)
            bo = lay[k].b_IP
            if bo >= 0:
                _outer_rule(y, dy, bo, nn, 1, err, one, eta, bo + n_w, tau_w, traces_on)
        eta = lp[k, P_ETA_PI]
        if eta != 0.0:  # eq. 9: drives v_A to rest (0)
            vao = lay[k].v_A
            for i in range(nk):
                err[i] = post_apical(z[vao + i])
            wo = lay[k].w_PI
            _outer_rule(y, dy, wo, nk, nn, err, ri, eta, wo + n_w, tau_w, traces_on)
        eta = lp[k, P_ETA_DOWN]
        if eta != 0.0 and ip[I_DOWN_RULE] == 1:   # PAL (Max et al. 2024) instead of eq. 10
            wo = lay[k].w_down
            _pal_rule(y, dy, wo, nk, nn, lay[k].xi, lay[k + 1].r_hp, fp[F_PAL_ALPHA], eta, wo + n_w,
                      tau_w, traces_on)
        elif eta != 0.0:  # eq. 10: vhat_TD = W_down r_{k+1}, no attenuation
            wo = lay[k].w_down
            for i in range(nk):
                acc = y[wo + i * nn] * rnext[0]
                for j in range(1, nn):
                    acc = synaptic_term(acc, y[wo + i * nn + j], rnext[j])
                r = _rate_of_step(y, dy, z, lay[k].u + i, ro + i, k, 0, has_tgt, le, lay, lp, fp)
                err[i] = post_rate_error(r, _phi_l(acc, k, lay, lp))
            _outer_rule(y, dy, wo, nk, nn, err, rnext, eta, wo + n_w, tau_w, traces_on)
