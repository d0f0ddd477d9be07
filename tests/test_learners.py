"""Discrete learners on the network object: BP gradient, FA/FA_Ex/ELM/WP identities,
options, HDF5 output."""

import h5py
import numpy as np
import pytest

from dendrosim import config, steady
from dendrosim.config import ConfigError
from dendrosim.learners import options as opt_mod
from dendrosim.learners import run_learner, setup
from dendrosim.learners.rules import ex_signs, make_learner
from dendrosim.network import Layout, Network


def _cfg(sizes=(5, 4, 3, 2), transfer=("logistic", "soft_relu", "linear"), learner=None, g_l=0.1,
         g_A=0.8, task=None, bias=True):
    d = {"network": {"sizes": list(sizes), "transfer": list(transfer), "bias": bias, "theta": 0.5},
         "conductances": {"g_l": g_l, "g_A": g_A},
         "learner": {"rule": "bp", **(learner or {})}}
    if task:
        d["task"] = task
    return config.from_dict(d)


def _net(cfg, rng, scale=1.0):
    nw = cfg.network
    net = Network(Layout.build(nw.sizes, nw.transfer, nw.bias, traces=False))
    for name in net.layout.weight_names():
        net.w(name)[...] = rng.uniform(-scale, scale, net.w(name).shape)
    return net


def _learner(cfg, net, rule, rng=None, **o):
    opts = opt_mod.options(cfg)
    opts.update(rule=rule, **o)
    return make_learner(rule, net, steady.Circuit(cfg), opts, rng or np.random.default_rng(0), cfg.plasticity)


def _updates(lrn, x, t):
    before = {k: v.copy() for k, v in lrn.net.weights().items()}
    lrn.step(x, t)
    return {k: lrn.net.w(k) - before[k] for k in before}


def _fd_grad(net, loss, names, h=1e-6):
    g = {}
    for name in names:
        W = net.w(name)
        gr = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            w0 = W[idx]
            W[idx] = w0 + h
            lp = loss()
            W[idx] = w0 - h
            lm = loss()
            W[idx] = w0
            gr[idx] = (lp - lm) / (2 * h)
        g[name] = gr
    return g


FWD = ["up1", "b_up1", "up2", "b_up2", "up3", "b_up3"]


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_bp_is_minus_the_gradient_of_the_loss(reduce):
    """Attenuation a_k != 1 (g_l, g_A > 0), three layers, biases, batch of 3: finite differences."""
    rng = np.random.default_rng(1)
    cfg = _cfg(learner={"eta": 1.0, "reduce": reduce, "output_dphi": False})
    net = _net(cfg, rng)
    X, T = rng.uniform(0, 1, (3, 5)), rng.uniform(-1, 1, (3, 2))
    lrn = _learner(cfg, net.copy(), "bp")
    fd = _fd_grad(net, lambda: _learner(cfg, net, "bp").loss(X, T), FWD)
    dW = _updates(lrn, X, T)
    for name in FWD:
        np.testing.assert_allclose(dW[name], -fd[name], rtol=1e-6, atol=1e-9, err_msg=name)
    for name in ("down1", "IP1", "PI1", "down2"):
        assert not dW[name].any()


def test_bp_with_output_derivative_is_the_matching_loss_gradient():
    """delta_N = phi'(u_N)(t - u_N) is -dL/du of the Bregman loss of phi (logistic output:
    L = softplus(t) - softplus(u) - sigmoid(u)(t - u))."""
    rng = np.random.default_rng(2)
    cfg = _cfg(transfer=("soft_relu", "logistic", "logistic"), learner={"eta": 1.0, "output_dphi": True})
    net = _net(cfg, rng)
    X, T = rng.uniform(0, 1, (2, 5)), rng.uniform(-1, 1, (2, 2))
    circ = steady.Circuit(cfg)

    def loss():
        u = steady.feedforward(net, circ, X)[0][-1]
        sig = 1 / (1 + np.exp(-u))
        return float(np.mean(np.sum(np.logaddexp(0, T) - np.logaddexp(0, u) - sig * (T - u), axis=1)))
    fd = _fd_grad(net, loss, FWD)
    dW = _updates(_learner(cfg, net.copy(), "bp"), X, T)
    for name in FWD:
        np.testing.assert_allclose(dW[name], -fd[name], rtol=1e-6, atol=1e-9, err_msg=name)


def test_fa_with_b_equal_w_transpose_is_bp():
    rng = np.random.default_rng(3)
    cfg = _cfg(learner={"eta": 0.3})
    net = _net(cfg, rng)
    net.w("down1")[...] = net.w("up2").T
    net.w("down2")[...] = net.w("up3").T
    X, T = rng.uniform(0, 1, (4, 5)), rng.uniform(-1, 1, (4, 2))
    a = _updates(_learner(cfg, net.copy(), "fa", feedback="network"), X, T)
    b = _updates(_learner(cfg, net.copy(), "bp"), X, T)
    for name in FWD:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-14, atol=1e-15)
    # and with a random B it is not
    net.w("down1")[...] = rng.uniform(-1, 1, (4, 3))
    c = _updates(_learner(cfg, net.copy(), "fa", feedback="network"), X, T)
    assert not np.allclose(c["up1"], b["up1"])


def test_top_down_order_backpropagates_through_the_updated_weights():
    """Konishi's code order: W_N is updated first and the hidden delta uses the new W_N."""
    rng = np.random.default_rng(4)
    cfg = _cfg(learner={"eta": 0.3, "output_dphi": False})
    net = _net(cfg, rng)
    X, T = rng.uniform(0, 1, (4, 5)), rng.uniform(-1, 1, (4, 2))
    sim = _updates(_learner(cfg, net.copy(), "bp"), X, T)
    td = _updates(_learner(cfg, net.copy(), "bp", update_order="top_down"), X, T)
    np.testing.assert_allclose(td["up3"], sim["up3"], rtol=1e-14)
    assert not np.allclose(td["up2"], sim["up2"])
    # = simultaneous BP on a network whose W_3 has already taken its step
    net2 = net.copy()
    lrn = _learner(cfg, net2, "bp")
    u, r = lrn.forward(X)                 # forward pass with the old W_3, deltas through the new
    net2.w("up3")[...] += sim["up3"]
    d = lrn.deltas(u, T)
    np.testing.assert_allclose(td["up2"], 0.3 * lrn.a[2] * d[2].T @ r[1] / 4, rtol=1e-12)


def _konishi_cfg(rule="fa_ex", **learner):
    return config.from_dict({
        "network": {"sizes": [102, 20, 1], "transfer": ["relu", "linear"], "bias": True, "tau_in": 0.0},
        "conductances": {"g_l": 0.0, "g_A": 0.0, "g_som": 0.0},
        "init": {"scale": 0.3},
        "task": {"kind": "reward", "n_trials": 16},
        "learner": {"rule": rule, **learner}})


@pytest.mark.parametrize("batch", [1, 8])
def test_fa_ex_100_is_the_three_factor_rule(batch):
    """Delta W1_ij = -eta b x_j theta(I_i) e with Konishi's e = y2 - y (summed over the batch)."""
    eta, b = 0.01, 1.0
    cfg = _konishi_cfg(eta=eta, ex_b=b, ex_percent=100.0, batch_size=batch, reduce="sum")
    opts, net, task, lrn = setup(cfg)
    assert np.all(net.w("down1") == b)
    X, T, _ = task.batch(0, batch)
    W1, b1, W2, b2 = (net.w(n).copy() for n in ("up1", "b_up1", "up2", "b_up2"))
    I = X @ W1.T + b1
    y1 = np.maximum(I, 0)
    e = (y1 @ W2.T + b2) - T                      # (batch, 1)
    dW = _updates(lrn, X, T)
    expect = np.zeros_like(W1)
    for n in range(batch):
        for i in range(20):
            for j in range(102):
                expect[i, j] += -eta * X[n, j] * (1.0 if I[n, i] > 0 else 0.0) * e[n, 0] * b
    np.testing.assert_allclose(dW["up1"], expect, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dW["b_up1"], -eta * b * ((I > 0) * e).sum(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dW["up2"], -eta * (e * y1).sum(0)[None], rtol=1e-12, atol=1e-15)
    assert not dW["down1"].any()


@pytest.mark.parametrize("percent,n_pos", [(100, 20), (80, 16), (50, 10), (20, 4), (0, 0), (33, 7)])
def test_fa_ex_percentage_is_exact(percent, n_pos):
    s = ex_signs(20, percent, np.random.default_rng(percent))
    assert (s == 1).sum() == n_pos and (s == -1).sum() == 20 - n_pos
    cfg = _konishi_cfg(ex_percent=float(percent), ex_b=0.1)
    B = setup(cfg)[1].w("down1")
    assert (B == 0.1).sum() == n_pos and (B == -0.1).sum() == 20 - n_pos


def test_elm_leaves_hidden_weights_untouched():
    cfg = _konishi_cfg("elm", eta=0.005, batch_size=8, reduce="sum")
    cfg = config.from_dict({**cfg.to_dict(), "task": {"kind": "reward", "n_trials": 800}})
    from dendrosim.learners import run
    res = run(cfg)
    w0, w1 = res.weights[0], res.weights[-1]
    np.testing.assert_array_equal(w0["up1"], w1["up1"])
    np.testing.assert_array_equal(w0["b_up1"], w1["b_up1"])
    assert np.abs(w1["up2"] - w0["up2"]).max() > 1e-3


def test_wp_estimator_is_unbiased():
    """The mean of (J(theta+xi) - J(theta)) xi / sigma^2 over many xi is the gradient
    (reference: central finite differences of the BP learner's loss), and ``estimate()``
    leaves every parameter of the network (all weights and biases) bit-identical.

    21 parameters, M = 40000 perturbations: the estimator's per-component s.d. is about
    |grad|, so the mean is off by about |grad| sqrt(21 / M) = 0.023 |grad|; tolerance 0.08 |grad|.
    """
    rng = np.random.default_rng(5)
    cfg = _cfg(sizes=(3, 4, 1), transfer=("logistic", "linear"),
               learner={"wp_sigma": 1e-4, "reduce": "mean", "output_dphi": False})
    net = _net(cfg, rng)
    X, T = rng.uniform(0, 1, (2, 3)), rng.uniform(-1, 1, (2, 1))
    names = ["up1", "b_up1", "up2", "b_up2"]
    true = _fd_grad(net, lambda: _learner(cfg, net, "bp").loss(X, T), names)
    g_true = np.concatenate([true[n].ravel() for n in names])
    # an independent copy of every parameter, taken before any estimate() call
    before = {k: v.copy() for k, v in net.weights().items()}
    assert set(names) <= set(before)
    for anti in (False, True):
        lrn = _learner(cfg, net, "wp", np.random.default_rng(7), antithetic=anti)
        lrn.rng = np.random.default_rng(8 + anti)
        acc = np.zeros_like(g_true)
        M = 40000
        for _ in range(M):
            g, _y = lrn.estimate(X, T)
            acc += np.concatenate([a.ravel() for a in g])
        est = acc / M
        err = np.linalg.norm(est - g_true) / np.linalg.norm(g_true)
        assert err < 0.08, (anti, err)
        # estimate() restored every parameter exactly (not merely to within rounding)
        after = net.weights()
        assert set(after) == set(before)
        for k, w in before.items():
            np.testing.assert_array_equal(after[k], w, err_msg=f"{k} changed by estimate() (antithetic={anti})")


def _np_feedforward(cfg, W, X):
    """The attenuated feedforward net written out in NumPy from the research notes (sec. 5.1):
    u_k = a_k (W_k r_{k-1} + b_k), a_k = g_B / (g_l + g_B + g_A) (g_A = 0 at the output),
    r_k = phi_k(u_k); returns u_N."""
    c, nw = cfg.conductances, cfg.network
    N = len(nw.sizes) - 1
    r = X
    for k in range(1, N + 1):
        a = c.g_B / (c.g_l + c.g_B + (c.g_A if k < N else 0.0))
        u = a * (r @ W[f"up{k}"].T + W[f"b_up{k}"])
        tr = nw.transfer[k - 1]
        if tr == "logistic":
            r = 1.0 / (1.0 + np.exp(-u))
        elif tr == "soft_relu":
            r = nw.gamma * np.log1p(np.exp(nw.beta * (u - nw.theta)))
        else:
            assert tr == "linear"
            r = u
    return u


@pytest.mark.parametrize("antithetic", [False, True])
def test_wp_step_is_minus_eta_times_the_perturbation_estimate(antithetic):
    """One WP update (Konishi notes sec. 3.6): xi ~ N(0, sigma^2) on every forward parameter,
    g_hat = (J(theta + xi) - J(theta)) xi / sigma^2 (antithetic: (J(theta + xi) - J(theta - xi))
    xi / (2 sigma^2)) and Delta theta = -eta_k g_hat, with J = 1/2 |t - u_N|^2 averaged over the
    batch. Reference: xi redrawn by hand from the same seed (sigma * standard normal, parameter
    by parameter in the order up1, b_up1, up2, ...), J from a NumPy forward pass written from the
    notes, per-layer eta; the top-down and interneuron weights must not move."""
    rng = np.random.default_rng(21)
    sig, eta = 1e-2, [0.3, 0.5, 0.7]
    cfg = _cfg(learner={"wp_sigma": sig, "eta": eta, "reduce": "mean", "antithetic": antithetic})
    net = _net(cfg, rng)
    X, T = rng.uniform(0, 1, (3, 5)), rng.uniform(-1, 1, (3, 2))
    w0 = {k: v.copy() for k, v in net.weights().items()}
    lrn = _learner(cfg, net, "wp", np.random.default_rng(0), antithetic=antithetic)
    lrn.rng = np.random.default_rng(123)
    y = lrn.step(X, T)

    order = ["up1", "b_up1", "up2", "b_up2", "up3", "b_up3"]
    draw = np.random.default_rng(123)
    xi = {k: sig * draw.standard_normal(w0[k].shape) for k in order}

    def J(sign):
        W = {k: w0[k] + sign * xi[k] for k in order}
        return float(np.mean(0.5 * np.sum((T - _np_feedforward(cfg, W, X)) ** 2, axis=1)))

    if antithetic:
        coef = (J(+1) - J(-1)) / (2 * sig ** 2)
    else:
        coef = (J(+1) - J(0)) / sig ** 2
    assert abs(coef) > 1e-3                          # the update is not trivially zero
    np.testing.assert_allclose(y, _np_feedforward(cfg, w0, X), rtol=1e-12, atol=1e-14)
    after = net.weights()
    for k in order:
        layer = int(k[-1])
        expect = -eta[layer - 1] * coef * xi[k]
        np.testing.assert_allclose(after[k] - w0[k], expect, rtol=1e-9, atol=1e-15, err_msg=k)
    for k in set(w0) - set(order):
        np.testing.assert_array_equal(after[k], w0[k], err_msg=k)


def test_dendritic_step_is_eta_duration_G():
    rng = np.random.default_rng(9)
    cfg = config.from_dict({"network": {"sizes": [4, 5, 3], "transfer": "logistic"},
                            "plasticity": {"eta_up": [0.3, 0.2], "eta_IP": 0.1, "eta_PI": 0.05,
                                           "tau_w": 0.0},
                            "simulation": {"integrator": "steady"},
                            "learner": {"steady": "two_sweep", "duration": 2.0}})
    net = _net(cfg, rng)
    opts = opt_mod.options(cfg)
    assert opts["rule"] == "dendritic"            # integrator = "steady" implies eqs. 7-10
    lrn = make_learner("dendritic", net, steady.Circuit(cfg), opts, rng, cfg.plasticity)
    X, T = rng.uniform(0, 1, (3, 4)), rng.uniform(-1, 1, (3, 3))
    G = steady.plasticity(steady.two_sweep(net, steady.Circuit(cfg), X, T), net, steady.Circuit(cfg))
    dW = _updates(lrn, X, T)
    for name, eta in (("up1", 0.3), ("up2", 0.2), ("IP1", 0.1), ("PI1", 0.05)):
        np.testing.assert_allclose(dW[name], 2.0 * eta * G[name], rtol=1e-12, atol=1e-16)
    assert not dW["down1"].any()


def test_dendritic_bias_rate_scales_only_the_thresholds():
    """``bias_rate`` f: the threshold updates (b_up, b_IP) are f times eta G, the weights' eta G."""
    rng = np.random.default_rng(11)
    cfg = config.from_dict({"network": {"sizes": [4, 5, 3], "transfer": "logistic", "bias": True},
                            "plasticity": {"eta_up": [0.3, 0.2], "eta_IP": 0.1, "tau_w": 0.0},
                            "simulation": {"integrator": "steady"},
                            "learner": {"steady": "two_sweep", "bias_rate": 0.25}})
    net = _net(cfg, rng)
    circ = steady.Circuit(cfg)
    lrn = make_learner("dendritic", net, circ, opt_mod.options(cfg), rng, cfg.plasticity)
    X, T = rng.uniform(0, 1, (3, 4)), rng.uniform(-1, 1, (3, 3))
    G = steady.plasticity(steady.two_sweep(net, circ, X, T), net, circ)
    dW = _updates(lrn, X, T)
    for name, eta in (("up1", 0.3), ("up2", 0.2), ("IP1", 0.1)):
        np.testing.assert_allclose(dW[name], eta * G[name], rtol=1e-12, atol=1e-16)
        assert np.abs(G["b_" + name]).max() > 1e-6
        np.testing.assert_allclose(dW["b_" + name], 0.25 * eta * G["b_" + name], rtol=1e-12, atol=1e-16)


def test_dendritic_exposures_re_solve_the_steady_state_between_updates():
    """``exposures`` n: n updates of eta G / n, each G taken at the steady state of the weights
    the previous update left (replayed here by hand), scored on the output before the first."""
    rng = np.random.default_rng(12)
    cfg = config.from_dict({"network": {"sizes": [4, 5, 3], "transfer": "logistic", "bias": True},
                            "plasticity": {"eta_up": [0.6, 0.4], "eta_IP": 0.3, "eta_PI": 0.1, "tau_w": 0.0},
                            "simulation": {"integrator": "steady"},
                            "learner": {"steady": "two_sweep", "exposures": 3}})
    net = _net(cfg, rng)
    circ = steady.Circuit(cfg)
    init, ref = net.copy(), net.copy()
    lrn = make_learner("dendritic", net, circ, opt_mod.options(cfg), rng, cfg.plasticity)
    X, T = rng.uniform(0, 1, (3, 4)), rng.uniform(-1, 1, (3, 3))
    y = lrn.step(X, T)
    rates = {"up1": 0.6, "up2": 0.4, "IP1": 0.3, "PI1": 0.1}
    for i in range(3):
        st = steady.two_sweep(ref, circ, X, T)
        if i == 0:
            np.testing.assert_allclose(y, st.out_ff, rtol=1e-14)
        G = steady.plasticity(st, ref, circ)
        for name, eta in rates.items():
            ref.w(name)[...] += eta / 3 * G[name]
            if "b_" + name in G:
                ref.w("b_" + name)[...] += eta / 3 * G["b_" + name]
    for name in rates:
        np.testing.assert_allclose(net.w(name), ref.w(name), rtol=1e-12, atol=1e-15)
    # not a no-op: one update at the full rate (G at the initial weights only) ends elsewhere
    G0 = steady.plasticity(steady.two_sweep(init, circ, X, T), init, circ)
    assert np.abs(init.w("up1") + 0.6 * G0["up1"] - net.w("up1")).max() > 1e-3 * np.abs(0.6 * G0["up1"]).max()


def _linear_interneuron_case(gain):
    """A 3-4-2 net whose interneurons are linear, with g_A = 0, one pattern and target, and the IP
    rate at which one explicit update multiplies the IP error by 1 - ``gain``:
    gain = eta a_I lambda_I (|r_1|^2 + 1) (bias included). Returns (cfg, circ, rng, x, t, net, eta)."""
    cfg = config.from_dict({"network": {"sizes": [3, 4, 2], "transfer": ["logistic", "linear"], "bias": True},
                            "conductances": {"g_A": 0.0},
                            "plasticity": {"eta_up": 0.0, "eta_IP": 1.0, "eta_PI": 0.0, "eta_down": 0.0,
                                           "tau_w": 0.0},
                            "simulation": {"integrator": "steady"},
                            "learner": {"steady": "two_sweep"}})
    circ = steady.Circuit(cfg)
    rng = np.random.default_rng(5)
    x, t = rng.uniform(0, 1, (1, 3)), rng.uniform(-1, 1, (1, 2))
    net = _net(cfg, rng)
    r1 = steady.two_sweep(net, circ, x, t).r[1]
    g_D, g_l, g_som = circ.g_D, circ.g_l, circ.g_som
    lam_aI = g_D / (g_l + g_D) - g_D / (g_l + g_D + g_som)          # a_I lambda_I
    return cfg, circ, rng, x, t, net, gain / (lam_aI * (float(np.sum(r1 ** 2)) + 1.0))


def test_exposures_lift_the_step_size_limit_of_the_interneuron_rule():
    """The IP rule (eq. 8) is a delta rule: with a linear interneuron transfer and no apical input
    (g_A = 0) its error e = u_I - a_I v_I obeys e <- (1 - g) e per update exactly, with
    g = eta a_I lambda_I (|r_1|^2 + 1) (bias included). A rate with g = 3 overshoots (e -> -2 e);
    4 exposures of eta/4 each contract (e -> (1 - 3/4)^4 e): the closed forms, to rounding."""
    cfg, circ, rng, x, t, net0, eta = _linear_interneuron_case(gain=3.0)

    def error_after(n_exposures, n_steps):
        net = net0.copy()
        c = config.from_dict({**cfg.to_dict(), "plasticity": {**cfg.to_dict()["plasticity"], "eta_IP": eta},
                              "learner": {"steady": "two_sweep", "exposures": n_exposures}})
        lrn = make_learner("dendritic", net, circ, opt_mod.options(c), rng, c.plasticity)
        errs = []
        for _ in range(n_steps + 1):
            st = steady.two_sweep(net, circ, x, t)
            errs.append(st.uI[1] - circ.att_I * st.vI[1])
            lrn.step(x, t)
        return errs

    e1, e4 = error_after(1, 5), error_after(4, 5)
    assert np.abs(e1[0]).min() > 1e-3
    for s in range(6):
        np.testing.assert_allclose(e1[s], (-2.0) ** s * e1[0], rtol=1e-9)
        np.testing.assert_allclose(e4[s], 0.25 ** (4 * s) * e4[0], rtol=1e-6, atol=1e-15)


def test_anneal_scales_update_u_of_U_by_one_minus_anneal_u_over_U():
    """With ``anneal`` each update is the constant-rate update scaled by 1 - anneal u / U:
    replaying the recorded batches with a constant-rate learner and that factor applied to
    its update by hand gives the same weights."""
    from dendrosim.learners import run
    from dendrosim.learners.runner import _batch
    cfg = _konishi_cfg("bp", eta=0.05, batch_size=16, anneal=0.75)
    cfg = config.from_dict({**cfg.to_dict(), "task": {"kind": "reward", "n_trials": 64}})
    res = run(cfg)
    opts, net, task, lrn = setup(cfg)
    U = 4
    for u in range(U):
        X, T, _ = _batch(task, 16 * u, 16 * u + 16)
        before = {k: v.copy() for k, v in net.weights().items()}
        lrn.step(X, T)
        f = 1.0 - 0.75 * u / U
        for k, w in net.weights().items():
            w[...] = before[k] + f * (w - before[k])
    for k, w in net.weights().items():
        np.testing.assert_allclose(res.weights[-1][k], w, rtol=1e-12, atol=1e-14)
    assert not np.allclose(res.weights[-1]["up2"], run(config.from_dict(
        {**cfg.to_dict(), "learner": {**cfg.learner, "anneal": 0.0}})).weights[-1]["up2"])


@pytest.mark.parametrize("key,value", [("rule", "sgd"), ("eta", -1.0), ("eta", [0.1]), ("batch_size", 0),
                                       ("post_factor", "tanh"), ("ex_percent", 120.0), ("wp_sigma", 0.0),
                                       ("steady", "three_sweep"), ("antithetic", 1), ("bogus", 1),
                                       ("tol", "small"), ("anneal", 1.5), ("anneal", -0.1),
                                       ("bias_rate", -1.0), ("exposures", 0)])
def test_bad_learner_keys_name_the_key(key, value):
    cfg = config.from_dict({"network": {"sizes": [4, 5, 3]}, "learner": {"rule": "bp", key: value}})
    with pytest.raises(ConfigError) as e:
        opt_mod.options(cfg)
    assert e.value.key == f"learner.{key}"


def test_run_learner_writes_the_engine_layout(tmp_path):
    """The HDF5 file of :func:`run_learner`: the engine's attributes and layout
    (docs/hdf5_layout.md), and its metrics, weight snapshots and per-trial scores bit-equal to the in-memory
    :func:`~dendrosim.learners.runner.run` of the same config (the reference)."""
    import dendrosim
    from dendrosim.learners import run
    cfg = config.load("models/konishi2023/fa.toml", ["task.n_trials=80", "learner.weights_every=5"])
    out = tmp_path / "fa.h5"
    assert run_learner(cfg, out, quiet=True) == 0
    with h5py.File(out, "r") as f:
        a = f.attrs
        assert a["status"] == "completed" and a["dendrosim_version"] == dendrosim.__version__
        assert a["seed"] == 10 and "rule = \"fa\"" in a["config"]
        assert config.from_dict(__import__("tomllib").loads(a["config"])).learner["rule"] == "fa"
        assert f["metrics/t"].attrs["units"] == "trial"
        assert f["metrics/t"].shape == f["metrics/loss"].shape == f["metrics/test_mse"].shape == (10,)
        assert list(f["metrics/t"][:3]) == [0, 8, 16]
        assert f["weights/t"].shape[0] == 3 and f["weights/up1"].shape == (3, 20, 102)
        assert f["trials/correct"].shape == (80,)
        # the file holds exactly the in-memory run of the same config (runner.run, no file)
        mem = run(cfg)
        np.testing.assert_array_equal(f["metrics/t"][:], mem.metrics["t"])
        for k in ("loss", "correct", "test_mse", "test_correct"):
            np.testing.assert_array_equal(f[f"metrics/{k}"][:], mem.metrics[k], err_msg=k)
        np.testing.assert_array_equal(f["weights/t"][:], mem.weights_t)
        for k in ("up1", "b_up1", "up2", "down1"):
            np.testing.assert_array_equal(f[f"weights/{k}"][:], np.stack([w[k] for w in mem.weights]), err_msg=k)
        for k in ("correct", "label", "y", "target", "sq_error"):
            np.testing.assert_array_equal(f[f"trials/{k}"][:], mem.trials[k], err_msg=k)
    # ... and that run learned something: the compared arrays are not constant
    assert not np.array_equal(mem.weights[0]["up1"], mem.weights[-1]["up1"])
    assert np.isfinite(mem.metrics["loss"]).all() and np.ptp(mem.metrics["loss"]) > 0
    assert 0 < np.nansum(mem.trials["correct"]) < 80


def test_learner_file_has_the_engine_root_attributes_and_units(tmp_path):
    """docs/hdf5_layout.md "Discrete learners": a learner file carries every root attribute of
    an engine file (reference: the key set of a real engine file written here) plus ``learner``,
    with values that fit (plan in updates and trials, time_unit "trial"); every dataset has a
    ``units`` attribute, every ``t`` is in trials, and ``Run.time_unit`` says so."""
    import datetime
    import dendrosim
    from dendrosim.io import HDF5Sink, info, load
    from dendrosim.io.layout import FORMAT, FORMAT_VERSION
    from dendrosim.simulation import Simulation

    eng = config.from_dict({"network": {"sizes": [3, 2, 1]},
                            "task": {"kind": "self_predicting", "n_patterns": 2, "duration": 1.0}})
    sim, sink = Simulation(eng), HDF5Sink(tmp_path / "eng.h5")
    sim.run(sink)
    sink.close()
    cfg = config.load("models/konishi2023/fa.toml", ["task.n_trials=20"])     # 3 updates of <= 8
    out = tmp_path / "fa.h5"
    assert run_learner(cfg, out, quiet=True) == 0
    with h5py.File(tmp_path / "eng.h5", "r") as fe, h5py.File(out, "r") as f:
        engine_keys = set(fe.attrs)
        assert fe.attrs["time_unit"] == "ms"
        a = f.attrs
        assert set(a) == engine_keys | {"learner"}, set(a) ^ engine_keys
        assert a["learner"] == "fa" and a["status"] == "completed" and a["time_unit"] == "trial"
        assert a["format"] == FORMAT and a["format_version"] == FORMAT_VERSION
        assert a["dendrosim_version"] == dendrosim.__version__ and a["seed"] == 10
        assert list(a["sizes"]) == [102, 20, 1] and a["dtype"] == "float64"
        assert a["total_steps"] == 3 and a["n_patterns"] == 20          # updates, trials
        assert a["dt"] == 0.1 and a["dt_units"] == "ms" and a["t0"] == 0.0 and not a["swmr"]
        assert "numpy=" in a["versions"] and "h5py=" in a["versions"]
        datetime.datetime.fromisoformat(a["created"])
        # every dataset has units; the t datasets count trials
        units = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                units[name] = obj.attrs.get("units")
        f.visititems(visit)
        assert {"trials/y", "trials/target", "trials/label", "metrics/update", "weights/b_up1"} <= set(units)
        assert all(u is not None for u in units.values()), [n for n, u in units.items() if u is None]
        assert units["metrics/t"] == units["weights/t"] == "trial"
        assert units["metrics/update"] == "update" and units["trials/label"] == "index"
        assert units["metrics/loss"] == units["weights/up1"] == units["trials/y"] == "dimensionless"
        assert list(f["metrics/t"][:]) == [0, 8, 16] and list(f["weights/t"][:]) == [0, 20]
        assert "long_name" in f["metrics/test_mse"].attrs and f["metrics/loss"].dims[0][0] == f["metrics/t"]
    with load(out) as run, load(tmp_path / "eng.h5") as run_e:
        assert run.time_unit == "trial" and run_e.time_unit == "ms"
        assert "t=20.0 trial" in repr(run)
        assert run.metric("loss")[0].tolist() == [0, 8, 16]
    text = info(out)
    assert "progress  20 of 20 trials, learner fa" in text
    assert "learner   fa, eta" in text and "noise sigma" not in text and "dt " not in text   # no time step
    # files written before the attribute existed: Run.time_unit falls back to /metrics/t's units
    with h5py.File(out, "r+") as f:
        del f.attrs["time_unit"]
    with load(out) as run:
        assert run.time_unit == "trial"


def test_run_learner_bad_config_exit_2(tmp_path):
    cfg = config.load("models/konishi2023/fa.toml", ["learner.eta=-1.0"])
    assert run_learner(cfg, tmp_path / "x.h5", quiet=True) == 2


def test_dendritic_scores_the_free_feedforward_output():
    rng = np.random.default_rng(10)
    cfg = config.from_dict({"network": {"sizes": [4, 5, 3], "transfer": "logistic"},
                            "plasticity": {"eta_up": 0.1, "tau_w": 0.0},
                            "learner": {"rule": "dendritic"}})
    net = _net(cfg, rng)
    lrn = _learner(cfg, net, "dendritic")
    X, T = rng.uniform(0, 1, (2, 4)), rng.uniform(-1, 1, (2, 3))
    expect = lrn.forward(X)[0][-1]
    np.testing.assert_allclose(lrn.step(X, T), expect, rtol=1e-14)


def test_implicit_ip_update_is_the_backward_euler_step_of_the_delta_rule():
    """``ip_update = "implicit"``: with a linear interneuron transfer and g_A = 0 the IP error obeys
    e <- e / (1 + g) per update (g = eta a_I lambda_I (|r_1|^2 + 1), bias included) where the
    explicit step gives (1 - g) e: at g = 3 it contracts by 1/4 instead of overshooting to -2 e."""
    cfg, circ, rng, x, t, net, eta = _linear_interneuron_case(gain=3.0)
    c = config.from_dict({**cfg.to_dict(), "plasticity": {**cfg.to_dict()["plasticity"], "eta_IP": eta},
                          "learner": {"steady": "two_sweep", "ip_update": "implicit"}})
    lrn = make_learner("dendritic", net, circ, opt_mod.options(c), rng, c.plasticity)
    errs = []
    for _ in range(5):
        st = steady.two_sweep(net, circ, x, t)
        errs.append(st.uI[1] - circ.att_I * st.vI[1])
        lrn.step(x, t)
    assert np.abs(errs[0]).min() > 1e-3
    for s, e in enumerate(errs):
        np.testing.assert_allclose(e, 0.25 ** s * errs[0], rtol=1e-9)


@pytest.mark.parametrize("nudging", ["current", "conductance"])
def test_implicit_ip_error_solves_the_primal_system(nudging):
    """The Woodbury (B x B) form of :func:`steady.implicit_ip_error` against the primal system
    written straight from its definition, one (n_k + 1)-sized solve per interneuron, with a
    logistic transfer, a batch, a bias at its own rate and both nudging modes; and the implicit
    update tends to the explicit one as the rate goes to 0 (first order)."""
    cfg = config.from_dict({"network": {"sizes": [6, 5, 3], "transfer": "logistic", "bias": True},
                            "conductances": {"nudging": nudging},
                            "simulation": {"integrator": "steady"}})
    circ = steady.Circuit(cfg)
    rng = np.random.default_rng(8)
    net = _net(cfg, rng)
    st = steady.two_sweep(net, circ, rng.uniform(0, 1, (4, 6)), rng.uniform(-2, 2, (4, 3)))
    e = st.rI[1] - circ.phi(2, st.vhat_I[1])
    h = 1e-6                                   # s = -de/dv_I by central differences through the sweep
    net_p, net_m = net.copy(), net.copy()
    net_p.w("b_IP1")[...] += h
    net_m.w("b_IP1")[...] -= h
    def err_of(n):
        s2 = steady.two_sweep(n, circ, st.r[0], st.target)
        return s2.rI[1] - circ.phi(2, s2.vhat_I[1])
    s = -(err_of(net_p) - err_of(net_m)) / (2 * h)
    R1 = np.hstack([st.r[1], np.ones((4, 1))])
    for rate, rate_b in [(0.7, 0.3), (5.0, 5.0)]:
        got = steady.implicit_ip_error(st, circ, 1, rate, rate_b)
        A = np.diag([rate] * 5 + [rate_b])
        for i in range(3):       # dw = A R1^T e', e' = e - s (R1 dw)  ->  (I + A R1^T S R1) dw = A R1^T e
            S = np.diag(s[:, i])
            dw = np.linalg.solve(np.eye(6) + A @ R1.T @ S @ R1, A @ R1.T @ e[:, i])
            np.testing.assert_allclose(got[:, i], e[:, i] - s[:, i] * (R1 @ dw), rtol=1e-6, atol=1e-9)
    small = steady.implicit_ip_error(st, circ, 1, 1e-7, 1e-7)
    np.testing.assert_allclose(small, e, rtol=1e-5, atol=1e-9)
    assert np.abs(steady.implicit_ip_error(st, circ, 1, 5.0, 5.0) - e).max() > 0.1 * np.abs(e).max()


def test_learner_file_written_in_chunks_equals_the_in_memory_run(tmp_path, monkeypatch):
    """Rows appended after every update (FLUSH_SECONDS = 0) make the same file as one write."""
    from dendrosim.learners import run, runner
    monkeypatch.setattr(runner, "FLUSH_SECONDS", 0.0)
    cfg = config.load("models/konishi2023/fa.toml", ["task.n_trials=80"])
    out = tmp_path / "fa.h5"
    assert run_learner(cfg, out, quiet=True) == 0
    mem = run(cfg)
    with h5py.File(out, "r") as f:
        for k in ("t", "update", "loss", "correct", "test_mse", "test_correct"):
            np.testing.assert_array_equal(f[f"metrics/{k}"][:], mem.metrics[k], err_msg=k)
        for k in ("correct", "label", "y", "target", "sq_error"):
            np.testing.assert_array_equal(f[f"trials/{k}"][:], mem.trials[k], err_msg=k)


def test_interrupted_learner_keeps_every_finished_update(tmp_path, monkeypatch):
    """Ctrl-C during update 6 of 10: exit 130, status "interrupted", and the file holds updates
    0-5 and their 48 trials, equal to the first rows of the uninterrupted run."""
    from dendrosim.learners import run, runner
    cfg = config.load("models/konishi2023/fa.toml", ["task.n_trials=80"])
    full = run(cfg)
    make = runner.make_learner

    def interrupting(*a, **kw):
        learner = make(*a, **kw)
        step, calls = learner.step, [0]

        def step_or_interrupt(X, T):
            calls[0] += 1
            if calls[0] == 7:
                raise KeyboardInterrupt
            return step(X, T)
        learner.step = step_or_interrupt
        return learner

    monkeypatch.setattr(runner, "make_learner", interrupting)
    out = tmp_path / "fa.h5"
    assert run_learner(cfg, out, quiet=True) == 130
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "interrupted"
        assert f["metrics/t"].shape == (6,) and f["trials/correct"].shape == (48,)
        for k in ("t", "loss", "correct", "test_correct"):
            np.testing.assert_array_equal(f[f"metrics/{k}"][:], full.metrics[k][:6], err_msg=k)
        np.testing.assert_array_equal(f["trials/sq_error"][:], full.trials["sq_error"][:48])


def test_ip_update_sps_keeps_the_self_predicting_state_while_forward_weights_learn():
    """[learner] ip_update = "sps" (diagnostic): after updates that move every forward weight,
    the interneurons still predict the layer above exactly, so without a target the apical
    potentials of the exact steady state vanish; with the paper's eq. 8 at the same (small)
    IP rate they do not. IP equals c W_up of the layer above (network.sps_ip_factor)."""
    from dendrosim.learners.runner import _batch
    from dendrosim.network import sps_ip_factor
    base = {"network": {"sizes": [6, 5, 4, 3], "transfer": "logistic", "bias": True},
            "plasticity": {"eta_up": [0.5, 0.5, 0.5], "eta_IP": [0.01, 0.01], "eta_PI": [0.0, 0.0],
                           "eta_down": [0.0, 0.0]},
            "init": {"self_predicting": True, "scale": 0.5, "seed": 3},
            "task": {"kind": "teacher_student", "n_patterns": 40, "teacher_sizes": [6, 4, 3]},
            "learner": {"rule": "dendritic", "batch_size": 4, "steady": "exact"}}
    apical = {}
    for ip in ("sps", "explicit"):
        cfg = config.from_dict({**base, "learner": {**base["learner"], "ip_update": ip}})
        opts, net, task, learner = setup(cfg)
        up0 = net.w("up2").copy()
        for u in range(10):
            X, T, _ = _batch(task, 4 * u, 4 * u + 4)
            learner.step(X, T)
        assert not np.allclose(net.w("up2"), up0)
        st = steady.solve(net, learner.circ, X, None, "exact", 1e-12, 2000)
        apical[ip] = max(float(np.abs(st.vA[k]).max()) for k in (1, 2))
        if ip == "sps":
            c = learner.circ
            for k in (1, 2):
                f = sps_ip_factor(c.g_l, c.g_B, c.g_D, c.g_A if k + 1 < 3 else 0.0)
                np.testing.assert_allclose(net.w(f"IP{k}"), f * net.w(f"up{k + 1}"), rtol=1e-15)
    assert apical["sps"] < 1e-9 < 1e-4 < apical["explicit"], apical
