"""Independent, deliberately slow NumPy reference for the dendritic microcircuit ODEs.

This module is *not* part of the simulator.  It is a plain, readable re-statement
of the noise-free right-hand side of the microcircuit of Sacramento, Costa,
Bengio & Senn (NeurIPS 2018), paper eqs. 1-10, written directly from the spec
``docs/research/sacramento2018.md`` (project notes) (sections 1, 2 and 6) without looking
at the fast numba engine.  Tests call :func:`reference_derivatives` on random
states and compare its output with the engine's to ~1e-12.

Everything is float64, layers are visited in explicit Python loops, weight
updates use ``np.outer``, and every computational line cites the paper equation
or spec section it implements.  Speed is irrelevant here; clarity is the point.

Index conventions (spec sec. 1.1):
  * layers k = 0..N; layer 0 is the input (rates only, no soma), 1..N-1 hidden,
    N the output;
  * hidden layer k has n_{k+1} interneurons, paired one-to-one with the
    pyramidal cells of layer k+1, and they use layer k+1's transfer function;
  * W['up{k}']   = W^PP_{k,k-1}  (n_k, n_{k-1}), k = 1..N      (basal, bottom-up)
    W['down{k}'] = W^PP_{k,k+1}  (n_k, n_{k+1}), k = 1..N-1    (apical, top-down)
    W['IP{k}']   = W^IP_{k,k}    (n_{k+1}, n_k), k = 1..N-1    (pyr -> interneuron)
    W['PI{k}']   = W^PI_{k,k}    (n_k, n_{k+1}), k = 1..N-1    (interneuron -> pyr apical)
    W['b_up{k}'] (n_k,), W['b_IP{k}'] (n_{k+1},): optional biases (learnable
    thresholds, paper sec. 3.4), i.e. weights from a presynaptic unit fixed at 1.
"""

import numpy as np


# ---------------------------------------------------------------------------
# Transfer functions (spec sec. 1.6)
# ---------------------------------------------------------------------------

def phi(u, name, tparams):
    """Rate r = phi(u), componentwise (spec sec. 1.1, 1.6)."""
    u = np.asarray(u, dtype=np.float64)  # float64 throughout
    if name == 'linear':
        return u.copy()  # phi(u) = u
    if name == 'relu':
        return np.maximum(u, 0.0)  # phi(u) = max(u, 0)
    if name == 'logistic':
        with np.errstate(over='ignore'):  # exp(-u) -> inf gives the correct limit 0
            return 1.0 / (1.0 + np.exp(-u))  # phi(u) = 1/(1+e^-u), MNIST (paper sec. 3.4)
    if name == 'soft_relu':
        gamma, beta, theta = tparams['gamma'], tparams['beta'], tparams['theta']  # spec 1.6
        # phi(u) = gamma*log(1+exp(beta*(u-theta))) (paper sec. 3.3); logaddexp(0, z) = log(1+e^z)
        # evaluated without overflow for large z.
        return gamma * np.logaddexp(0.0, beta * (u - theta))
    raise ValueError('unknown transfer function %r' % (name,))


def dphi(u, name, tparams):
    """Derivative phi'(u), componentwise (not used by the ODE right-hand side)."""
    u = np.asarray(u, dtype=np.float64)  # float64 throughout
    if name == 'linear':
        return np.ones_like(u)  # d/du u = 1
    if name == 'relu':
        return (u > 0.0).astype(np.float64)  # Heaviside step, convention phi'(0) = 0
    if name == 'logistic':
        s = phi(u, 'logistic', tparams)  # s = sigma(u)
        return s * (1.0 - s)  # sigma' = sigma (1 - sigma)
    if name == 'soft_relu':
        gamma, beta, theta = tparams['gamma'], tparams['beta'], tparams['theta']  # spec 1.6
        z = beta * (u - theta)  # argument of the softplus
        with np.errstate(over='ignore'):  # exp(-z) -> inf gives the correct limit 0
            return gamma * beta / (1.0 + np.exp(-z))  # d/du gamma*log(1+e^z) = gamma*beta*sigma(z)
    raise ValueError('unknown transfer function %r' % (name,))


# ---------------------------------------------------------------------------
# Nudging current (spec sec. 1.4)
# ---------------------------------------------------------------------------

def _nudging_current(u, u_tgt, cond):
    """Somatic teaching current i towards the voltage target u_tgt (spec sec. 1.4)."""
    g_som = cond['g_som']  # somatic nudging conductance
    if cond['nudging'] == 'current':
        return g_som * (u_tgt - u)  # current-based: i = g_som (u_tgt - u)
    if cond['nudging'] == 'conductance':
        E_exc, E_inh = cond['E_exc'], cond['E_inh']  # reversal potentials
        g_exc = g_som * (u_tgt - E_inh) / (E_exc - E_inh)  # g_exc = g_som (u_tgt - E_inh)/(E_exc - E_inh)
        g_inh = -g_som * (u_tgt - E_exc) / (E_exc - E_inh)  # g_inh = -g_som (u_tgt - E_exc)/(E_exc - E_inh)
        g_exc = np.maximum(g_exc, 0.0)  # conductances cannot be negative (spec 1.4, pitfall 6)
        g_inh = np.maximum(g_inh, 0.0)  # idem
        return g_exc * (E_exc - u) + g_inh * (E_inh - u)  # i = g_exc (E_exc - u) + g_inh (E_inh - u)
    raise ValueError('unknown nudging mode %r' % (cond['nudging'],))


# ---------------------------------------------------------------------------
# Right-hand side of the microcircuit ODEs (paper eqs. 1-10)
# ---------------------------------------------------------------------------

def reference_derivatives(sizes, transfers, tparams, cond, plast, tau_in, W, traces,
                          uP, uI, r0, x, target, uP_breve=None, uI_breve=None, pal=None):
    """
    Noise-free time derivatives of every state variable of the microcircuit.

    sizes: list [n0, ..., nN], N >= 1.
    transfers: list of N names for layers 1..N: 'linear', 'relu', 'logistic', 'soft_relu'.
    tparams: dict gamma, beta, theta (soft_relu: phi(u) = gamma*log(1+exp(beta*(u-theta)))).
    cond: dict g_l, g_B, g_A, g_D, g_som, nudging ('current' or 'conductance'), E_exc, E_inh.
    plast: dict eta_up (list, index 0 -> layer 1, length N), eta_IP, eta_PI, eta_down
        (lists length N-1, index 0 -> hidden layer 1), tau_w (ms; 0 means no trace filter).
    tau_in: input low-pass time constant (ms); 0 means no filter (r0 is ignored and the
        input rates are x itself).
    W: dict name -> array. Names 'up{k}' (n_k, n_{k-1}), k = 1..N; 'down{k}' (n_k, n_{k+1}),
        'IP{k}' (n_{k+1}, n_k), 'PI{k}' (n_k, n_{k+1}), k = 1..N-1; optional biases
        'b_up{k}' (n_k,), k=1..N and 'b_IP{k}' (n_{k+1},), k = 1..N-1 (present iff the
        network has biases).
    traces: None (when tau_w == 0) or a dict with the same keys and shapes as W (the
        low-pass plasticity traces Delta).
    uP: dict k -> array (n_k,) for k = 1..N (somatic potentials). uI: dict k -> array
        (n_{k+1},) for k = 1..N-1.
    r0: array (n0,), filtered input rates (state variable). x: array (n0,), the input
        pattern presented now.
    target: None (no teacher) or array (n_N,), the output VOLTAGE target u^trgt.
    uP_breve, uI_breve: None (the original dynamics) or, for Latent Equilibrium (Haider et
        al. 2021), the prospective potentials u_breve stored by the previous step, shaped like
        uP and uI: every rate a neuron sends is then phi(u_breve), an interneuron is nudged
        towards the u_breve of its partner, and the rules of eqs. 7, 8, 10 compare the
        dendritic prediction with phi(u + tau_eff du/dt) of this step.
    pal: None (the top-down rule of eq. 10) or, for Phaseless Alignment Learning (Max et al.
        2024), a dict with 'xi' (dict k -> apical noise (n_k,), k = 1..N-1), 'r_hp' (dict
        k -> high-passed rates (n_k,), k = 2..N) and 'alpha' (decay): the noise adds to the
        apical potential and the top-down rule is dB_k/dt = eta_down (xi_k r_HP,k+1^T - alpha B_k).
    Returns dict with keys 'uP' (dict k -> du/dt), 'uI', 'r0' (dr0/dt, zeros if
    tau_in == 0), 'W' (dict name -> dW/dt), 'traces' (dict or None), and the
    instantaneous quantities 'vB', 'vA', 'vI' (dicts by k) and 'r' (dict k -> rates,
    k = 0..N).
    """
    f8 = np.float64  # every array is float64

    # ---- network shape (spec 1.1) -------------------------------------------------
    N = len(sizes) - 1  # number of layers with a soma; layer N is the output
    assert N >= 1, 'need at least one layer above the input'  # spec 1.1
    assert len(transfers) == N, 'one transfer function per layer 1..N'  # spec 1.6

    # ---- conductances (paper eqs. 1-2, spec 1.3; capacitance 1, rest 0) ------------
    g_l = f8(cond['g_l'])  # leak conductance g_lk
    g_B = f8(cond['g_B'])  # basal -> soma coupling
    g_A = f8(cond['g_A'])  # apical -> soma coupling (hidden layers only)
    g_D = f8(cond['g_D'])  # interneuron dendrite -> soma coupling

    # ---- state as float64 copies ----------------------------------------------------
    uP = {k: np.asarray(uP[k], dtype=f8) for k in range(1, N + 1)}  # pyramidal somas, k = 1..N
    uI = {k: np.asarray(uI[k], dtype=f8) for k in range(1, N)}  # interneuron somas, k = 1..N-1
    x = np.asarray(x, dtype=f8)  # input pattern currently presented (spec 1.5)
    r0 = x if tau_in == 0 else np.asarray(r0, dtype=f8)  # filtered input state (spec 1.5)
    tgt = None if target is None else np.asarray(target, dtype=f8)  # output voltage target (pitfall 5)

    # ---- transfer function of each layer ---------------------------------------------
    def phi_k(k, u):
        """phi of pyramidal layer k (k = 1..N); interneurons of layer k use phi_{k+1}."""
        return phi(u, transfers[k - 1], tparams)  # transfers[0] belongs to layer 1

    # ---- the potential each neuron sends: u, or with LE its stored u_breve ------------
    le = uP_breve is not None  # Latent Equilibrium (Haider et al. 2021)
    sentP = {k: np.asarray(uP_breve[k], dtype=f8) for k in uP} if le else uP  # LE: u_breve
    sentI = {k: np.asarray(uI_breve[k], dtype=f8) for k in uI} if le else uI  # LE: u_breve

    # ---- rates (spec 1.1; pitfall 4: phi is NOT applied to the input) ----------------
    r = {0: r0}  # r_0: input rates used directly (paper, R-phll; spec 1.2)
    for k in range(1, N + 1):
        r[k] = phi_k(k, sentP[k])  # r_k = phi_k(u^P_k) (LE: phi_k(u_breve^P_k))
    rI = {}  # interneuron rates
    for k in range(1, N):
        rI[k] = phi_k(k + 1, sentI[k])  # r^I_k = phi_{k+1}(u^I_k): interneurons mimic layer k+1

    # ---- dendritic potentials, instantaneous (paper eqs. 3-5, spec 1.2) -------------
    vB, vA, vI = {}, {}, {}
    for k in range(1, N + 1):
        vB[k] = W['up%d' % k] @ r[k - 1]  # eq. 3: v^P_{B,k} = W^PP_{k,k-1} r_{k-1}
        if 'b_up%d' % k in W:
            vB[k] = vB[k] + W['b_up%d' % k]  # learnable threshold: bias input fixed at 1 (sec. 3.4)
    for k in range(1, N):
        # eq. 4: v^P_{A,k} = W^PP_{k,k+1} r_{k+1} + W^PI_{k,k} r^I_k
        vA[k] = W['down%d' % k] @ r[k + 1] + W['PI%d' % k] @ rI[k]
        if pal is not None:
            vA[k] = vA[k] + np.asarray(pal['xi'][k], dtype=f8)  # PAL: apical OU noise xi_k joins eq. 4
        vI[k] = W['IP%d' % k] @ r[k]  # eq. 5: v^I_k = W^IP_{k,k} r_k
        if 'b_IP%d' % k in W:
            vI[k] = vI[k] + W['b_IP%d' % k]  # interneuron bias (spec 2.3, "bias column of W^IP")

    # ---- somatic ODEs, all from the same state (paper eqs. 1-2, spec 1.3, pitfall 8) -
    d_uP, d_uI = {}, {}
    for k in range(1, N):  # hidden pyramidal cells
        d_uP[k] = (-g_l * uP[k]  # leak: -g_lk u^P_k
                   + g_B * (vB[k] - uP[k])  # basal coupling: g_B (v_B - u)
                   + g_A * (vA[k] - uP[k]))  # apical coupling: g_A (v_A - u)
    if tgt is None:
        i_out = np.zeros(sizes[N], dtype=f8)  # no teacher: no nudging current (spec 1.4)
    else:
        i_out = _nudging_current(uP[N], tgt, cond)  # i^P_N towards u^trgt_N (spec 1.4)
    d_uP[N] = (-g_l * uP[N]  # output leak: -g_lk u^P_N
               + g_B * (vB[N] - uP[N])  # basal coupling: g_B (v_B - u); no apical (g_A = 0)
               + i_out)  # somatic teaching current
    for k in range(1, N):  # interneurons of hidden layer k
        i_I = _nudging_current(uI[k], sentP[k + 1], cond)  # i^I_k, target u^P_{k+1} (LE: its u_breve), always on
        d_uI[k] = (-g_l * uI[k]  # leak: -g_lk u^I_k
                   + g_D * (vI[k] - uI[k])  # dendritic coupling: g_D (v^I - u^I)
                   + i_I)  # one-to-one nudging by layer k+1

    # ---- input low-pass filter (spec 1.5) -------------------------------------------
    if tau_in == 0:
        d_r0 = np.zeros(sizes[0], dtype=f8)  # no filter: r_0 = x, nothing to integrate
    else:
        d_r0 = (x - r0) / f8(tau_in)  # tau_in dr_0/dt = -r_0 + r_pattern

    # ---- the neuron's own potential in eqs. 7, 8, 10: u, or with LE u + tau_eff du/dt --
    g_som = f8(cond['g_som'])  # nudging conductance, counted in tau_eff where nudging acts
    own_P, own_I, next_P, next_I = uP, uI, {}, {}
    for k in range(1, N + 1):
        if k < N:
            tau_eff = 1.0 / (g_l + g_B + g_A)  # hidden pyramidal: leak, basal, apical
        else:
            tau_eff = 1.0 / (g_l + g_B + (g_som if tgt is not None else 0.0))  # output, nudged or not
        next_P[k] = uP[k] + tau_eff * d_uP[k]  # u_breve = u + tau_eff du/dt (noise-free)
    for k in range(1, N):
        next_I[k] = uI[k] + d_uI[k] / (g_l + g_D + g_som)  # interneuron: leak, dendrite, nudging
    if le:
        own_P, own_I = next_P, next_I

    # ---- raw plasticity induction terms G (paper eqs. 6-10, spec 2.1) ---------------
    G = {}
    for k in range(1, N + 1):  # forward (bottom-up) weights, eq. 6/7
        if k < N:
            a_B = g_B / (g_l + g_B + g_A)  # hidden attenuation g_B/(g_lk+g_B+g_A) (spec 1.7)
        else:
            a_B = g_B / (g_l + g_B)  # output: g_A = 0, g_som not included (spec 2.1, pitfall 2)
        vhat_B = a_B * vB[k]  # predicted somatic potential v^_{B,k}
        err_up = phi_k(k, own_P[k]) - phi_k(k, vhat_B)  # phi(u^P_k) - phi(v^_{B,k})
        G['up%d' % k] = np.outer(err_up, r[k - 1])  # (phi(u) - phi(v^)) r_{k-1}^T
        if 'b_up%d' % k in W:
            G['b_up%d' % k] = err_up * 1.0  # bias: presynaptic rate fixed at 1
    for k in range(1, N):  # lateral and top-down weights of hidden layer k
        a_I = g_D / (g_l + g_D)  # interneuron attenuation g_D/(g_lk+g_D) (spec 1.7, pitfall 3)
        vhat_I = a_I * vI[k]  # predicted interneuron potential v^I_k
        err_IP = phi_k(k + 1, own_I[k]) - phi_k(k + 1, vhat_I)  # phi(u^I_k) - phi(v^I_k)
        G['IP%d' % k] = np.outer(err_IP, r[k])  # eq. 8: (phi(u^I) - phi(v^I)) (r^P_k)^T
        if 'b_IP%d' % k in W:
            G['b_IP%d' % k] = err_IP * 1.0  # bias: presynaptic rate fixed at 1
        v_rest = 0.0  # resting potential (spec 2.1)
        G['PI%d' % k] = np.outer(v_rest - vA[k], rI[k])  # eq. 9: (v_rest - v^P_{A,k}) (r^I_k)^T
        v_TD = W['down%d' % k] @ r[k + 1]  # top-down prediction, no attenuation (spec 2.1)
        err_down = phi_k(k, own_P[k]) - phi_k(k, v_TD)  # phi(u^P_k) - phi(v^_{TD,k})
        G['down%d' % k] = np.outer(err_down, r[k + 1])  # eq. 10: (...) (r^P_{k+1})^T
        if pal is not None:  # PAL replaces eq. 10: xi_k r_HP,k+1^T - alpha B_k (Max et al. 2024)
            G['down%d' % k] = (np.outer(np.asarray(pal['xi'][k], dtype=f8), np.asarray(pal['r_hp'][k + 1], dtype=f8))
                               - f8(pal['alpha']) * W['down%d' % k])

    # ---- learning rate for each matrix (spec 3.2) -----------------------------------
    def eta_of(name):
        """Learning rate of weight `name`; list index 0 is layer 1."""
        if name.startswith('b_up'):
            return f8(plast['eta_up'][int(name[4:]) - 1])  # biases share eta of up_k
        if name.startswith('b_IP'):
            return f8(plast['eta_IP'][int(name[4:]) - 1])  # biases share eta of IP_k
        if name.startswith('up'):
            return f8(plast['eta_up'][int(name[2:]) - 1])  # eta^PP_{k,k-1}
        if name.startswith('IP'):
            return f8(plast['eta_IP'][int(name[2:]) - 1])  # eta^IP_k
        if name.startswith('PI'):
            return f8(plast['eta_PI'][int(name[2:]) - 1])  # eta^PI_k
        if name.startswith('down'):
            return f8(plast['eta_down'][int(name[4:]) - 1])  # eta^PP_{k,k+1}
        raise KeyError(name)

    # ---- weight and trace derivatives (spec 2.1 and 2.2, pitfall 1) -----------------
    tau_w = f8(plast['tau_w'])  # plasticity low-pass time constant
    dW = {}
    if tau_w == 0:
        d_traces = None  # no filter: the induction term is applied directly
        for name in W:
            dW[name] = eta_of(name) * G[name]  # dW/dt = eta G
    else:
        d_traces = {}
        for name in W:
            Delta = np.asarray(traces[name], dtype=f8)  # current trace Delta
            d_traces[name] = (G[name] - Delta) / tau_w  # tau_w dDelta/dt = -Delta + G
            dW[name] = eta_of(name) * Delta  # dW/dt = eta Delta (consolidation)

    return {
        'uP': d_uP,  # du^P_k/dt, k = 1..N
        'uI': d_uI,  # du^I_k/dt, k = 1..N-1
        'r0': d_r0,  # dr_0/dt
        'W': dW,  # dW/dt for every weight/bias
        'traces': d_traces,  # dDelta/dt or None
        'vB': vB,  # basal potentials, k = 1..N
        'vA': vA,  # apical potentials, k = 1..N-1
        'vI': vI,  # interneuron dendritic potentials, k = 1..N-1
        'r': r,  # rates, k = 0..N
        'uP_breve': next_P,  # LE: u_breve the step stores, u + tau_eff du/dt (noise-free)
        'uI_breve': next_I,
    }
