"""Steady state of the microcircuit: exact fixed point vs long Euler integration of the
same network, the two-sweep approximation's own closed form, and the plasticity terms
at the fixed point vs the engine's right-hand side."""

import numpy as np
import pytest

from dendrosim import config
from dendrosim import steady
from dendrosim.network import Layout, Network, set_self_predicting
from dendrosim.simulation import MemorySink, Simulation

from .helpers import engine_rhs

CASES = [((5, 4, 3), "soft_relu", False, "current"),
         ((4, 6, 5, 3), ["logistic", "soft_relu", "linear"], True, "conductance"),
         ((4, 6, 5, 3), "logistic", True, "current"),
         ((3, 4), "logistic", True, "current")]


def _cfg(sizes, transfer, bias, nudging, x, t, with_target, duration=400.0):
    return config.from_dict({
        "network": {"sizes": list(sizes), "transfer": transfer, "bias": bias},
        "conductances": {"nudging": nudging, "E_exc": 1.5, "E_inh": -1.0},
        "plasticity": {"tau_w": 0.0},
        "noise": {"sigma": 0.0},
        "simulation": {"dt": 0.1, "integrator": "euler"},
        "record": {"variables": []},
        "task": {"kind": "single_pattern", "n_repeats": 1, "duration": duration,
                 "target_from": 0 if with_target else 1, "input": list(x), "target": list(t)}})


@pytest.mark.parametrize("sizes,transfer,bias,nudging", CASES)
@pytest.mark.parametrize("with_target", [True, False])
def test_exact_equals_long_euler_integration(sizes, transfer, bias, nudging, with_target):
    rng = np.random.default_rng(len(sizes) * 7 + bias)
    x, t = rng.uniform(0, 1, sizes[0]), rng.uniform(-1, 1.4, sizes[-1])
    cfg = _cfg(sizes, transfer, bias, nudging, x, t, with_target)
    sim = Simulation(cfg)
    if bias:
        for name in sim.net.layout.weight_names():
            if name.startswith("b_"):
                sim.net.w(name)[:] = rng.uniform(-1, 1, sim.net.w(name).shape)
    net0 = sim.net.copy()
    sim.run(MemorySink())
    st = steady.solve(net0, steady.Circuit(cfg), x, t if with_target else None, tol=1e-14)
    N = len(sizes) - 1
    for k in range(1, N + 1):
        np.testing.assert_allclose(st.u[k][0], sim.net.u_P(k), rtol=0, atol=1e-8)
        if k < N:
            np.testing.assert_allclose(st.uI[k][0], sim.net.u_I(k), rtol=0, atol=1e-8)
    # and the solver converged far below that tolerance (the Euler fixed point is exact too)
    for k in range(1, N + 1):
        np.testing.assert_allclose(st.u[k][0], sim.net.u_P(k), rtol=0, atol=1e-12)


def test_batch_rows_are_independent_solves():
    rng = np.random.default_rng(3)
    sizes = (4, 6, 5, 3)
    cfg = _cfg(sizes, "logistic", True, "current", np.zeros(4), np.zeros(3), True)
    net = Simulation(cfg).net
    circ = steady.Circuit(cfg)
    X, T = rng.uniform(0, 1, (7, 4)), rng.uniform(-1, 1, (7, 3))
    for method in ("exact", "two_sweep"):
        st = steady.solve(net, circ, X, T, method=method, tol=1e-14)
        for i in (0, 4, 6):
            one = steady.solve(net, circ, X[i], T[i], method=method, tol=1e-14)
            for k in (1, 2, 3):
                np.testing.assert_allclose(st.u[k][i], one.u[k][0], atol=1e-12)


def _depth2(rng, s=1.0):
    sizes = (5, 4, 3)
    cfg = config.from_dict({"network": {"sizes": list(sizes), "transfer": ["soft_relu", "logistic"],
                                        "bias": True},
                            "conductances": {"g_A": 0.8 * s, "g_som": 0.8 * s}})
    net = Network(Layout.build(sizes, cfg.network.transfer, True, traces=False))
    for name in net.layout.weight_names():
        net.w(name)[...] = rng.uniform(-1, 1, net.w(name).shape)
    return cfg, net


def test_two_sweep_matches_its_closed_form_and_differs_from_exact():
    rng = np.random.default_rng(11)
    cfg, net = _depth2(rng)
    circ = steady.Circuit(cfg)
    x, t = rng.uniform(0, 1, 5), rng.uniform(-1, 1, 3)
    gl, gB, gA, gD, gs = 0.1, 1.0, 0.8, 1.0, 0.8
    W = net.weights()
    sr = lambda u: 0.1 * np.log1p(np.exp(u - 3.0))          # noqa: E731  layer 1
    lg = lambda u: 1 / (1 + np.exp(-u))                       # noqa: E731  layer 2 and interneurons
    # step 1: upward sweep with no-apical values
    vB1 = W["up1"] @ x + W["b_up1"]
    u1 = gB / (gl + gB + gA) * vB1
    vI = W["IP1"] @ sr(u1) + W["b_IP1"]
    vB2 = W["up2"] @ sr(u1) + W["b_up2"]
    # step 2: nudged output
    u2 = (gB * vB2 + gs * t) / (gl + gB + gs)
    # step 3: interneuron, apical, hidden soma
    uI = (gD * vI + gs * u2) / (gl + gD + gs)
    vA = W["down1"] @ lg(u2) + W["PI1"] @ lg(uI)
    u1d = (gB * vB1 + gA * vA) / (gl + gB + gA)
    ts = steady.two_sweep(net, circ, x, t)
    np.testing.assert_allclose(ts.u[2][0], u2, rtol=1e-13)
    np.testing.assert_allclose(ts.uI[1][0], uI, rtol=1e-13)
    np.testing.assert_allclose(ts.u[1][0], u1d, rtol=1e-13)
    # v-hat of the plasticity = the scheme's own no-apical values (caveat ii)
    np.testing.assert_allclose(ts.vhat[1][0], u1, rtol=1e-13)
    np.testing.assert_allclose(ts.vhat[2][0], gB / (gl + gB) * vB2, rtol=1e-13)
    np.testing.assert_allclose(ts.vhat_I[1][0], gD / (gl + gD) * vI, rtol=1e-13)
    ex = steady.exact(net, circ, x, t, tol=1e-14)
    assert np.max(np.abs(ex.u[1] - ts.u[1])) > 1e-4
    assert np.max(np.abs(ex.u[2] - ts.u[2])) > 1e-4


def test_self_predicting_no_target_has_no_error_in_both_schemes():
    """Caveat (ii): in the self-predicting state without target both schemes give the
    feedforward net and eq. 7-8 errors vanish (a convex scheme would leave g_l/g_tot v_B)."""
    rng = np.random.default_rng(12)
    cfg, net = _depth2(rng)
    c = cfg.conductances
    set_self_predicting(net, c.g_l, c.g_B, c.g_A, c.g_D)
    circ = steady.Circuit(cfg)
    x = rng.uniform(0, 1, (3, 5))
    u_ff, _ = steady.feedforward(net, circ, x)
    for method in ("exact", "two_sweep"):
        st = steady.solve(net, circ, x, None, method=method, tol=1e-14)
        for k in (1, 2):
            np.testing.assert_allclose(st.u[k], u_ff[k], atol=1e-13)
        G = steady.plasticity(st, net, circ, groups=("up", "IP", "PI"))   # eq. 10 reconstructs
        assert len(G) == 7
        for name, g in G.items():
            assert np.max(np.abs(g)) < 1e-12, (method, name)


@pytest.mark.parametrize("sizes,transfer,bias,nudging", CASES)
def test_plasticity_terms_equal_engine_rhs_at_the_fixed_point(sizes, transfer, bias, nudging):
    """eqs. 7-10 at the steady state == the engine's dW/dt / eta with the state set there."""
    rng = np.random.default_rng(21)
    N = len(sizes) - 1
    d = {"network": {"sizes": list(sizes), "transfer": transfer, "bias": bias, "tau_in": 3.0},
         "conductances": {"nudging": nudging, "E_exc": 1.5, "E_inh": -1.0},
         "plasticity": {"tau_w": 0.0, "eta_up": [1.0] * N, "eta_IP": [1.0] * (N - 1),
                        "eta_PI": [1.0] * (N - 1), "eta_down": [1.0] * (N - 1)}}
    cfg = config.from_dict(d)
    net = Simulation(_cfg(sizes, transfer, bias, nudging, np.zeros(sizes[0]), np.zeros(sizes[-1]),
                          True)).net
    for name in net.layout.weight_names():
        net.w(name)[...] = rng.uniform(-1, 1, net.w(name).shape)
    circ = steady.Circuit(cfg)
    x, t = rng.uniform(0, 1, sizes[0]), rng.uniform(-1, 1, sizes[-1])
    st = steady.exact(net, circ, x, t, tol=1e-14)
    for k in range(1, N + 1):
        net.u_P(k)[:] = st.u[k][0]
        if k < N:
            net.u_I(k)[:] = st.uI[k][0]
    net.r0[:] = x
    dy, _ = engine_rhs(cfg, net, x, t)
    d = Network(net.layout, net.dtype, dy)
    # the state is stationary ...
    for k in range(1, N + 1):
        assert np.max(np.abs(d.u_P(k))) < 1e-12
    # ... and the weight derivatives are the plasticity terms
    G = steady.plasticity(st, net, circ)
    assert set(G) == set(net.layout.weight_names())
    for name, g in G.items():
        np.testing.assert_allclose(d.w(name), g, rtol=1e-9, atol=1e-12, err_msg=name)


def test_no_fixed_point_is_reported():
    """A strong positive loop (linear transfer, large top-down, no cancellation) diverges."""
    sizes = (2, 3, 3)
    cfg = config.from_dict({"network": {"sizes": list(sizes), "transfer": "linear"},
                            "conductances": {"g_A": 5.0, "g_som": 0.0}})
    net = Simulation(_cfg(sizes, "linear", False, "current", [0, 0], [0, 0, 0], False)).net
    for name in net.layout.weight_names():
        net.w(name)[...] = 0.0
    net.w("up1")[...] = 1.0
    net.w("up2")[...] = 3.0 * np.eye(3)
    net.w("down1")[...] = 3.0 * np.eye(3)
    with pytest.raises(steady.NoFixedPoint):
        steady.exact(net, steady.Circuit(cfg), np.ones(2), None, max_iter=300)


def test_fused_apical_matmul_when_pi_is_minus_down():
    rng = np.random.default_rng(13)
    cfg, net = _depth2(rng)
    c = cfg.conductances
    set_self_predicting(net, c.g_l, c.g_B, c.g_A, c.g_D)
    circ = steady.Circuit(cfg)
    x, t = rng.uniform(0, 1, (4, 5)), rng.uniform(-1, 1, (4, 3))
    W = steady.Weights(net)
    plain = steady.exact(net, circ, x, t, tol=1e-14, W=W)
    W.detect_pi_minus_down()
    assert W.pi_is_minus_down[1]
    fused = steady.exact(net, circ, x, t, tol=1e-14, W=W)
    for k in (1, 2):
        np.testing.assert_allclose(fused.u[k], plain.u[k], atol=1e-13)
    net.w("PI1")[0, 0] += 1e-3
    W.detect_pi_minus_down()
    assert not W.pi_is_minus_down[1]


def test_exact_in_float32_stops_at_the_dtype_resolution():
    """A float32 network cannot resolve the default tol = 1e-10: the solver stops at
    8 eps(float32) |u| instead of reporting no fixed point, within float32 rounding of the
    float64 fixed point; float64 still goes to the requested tolerance."""
    rng = np.random.default_rng(4)
    sizes = (4, 6, 5, 3)
    cfg = _cfg(sizes, "logistic", True, "current", np.zeros(4), np.zeros(3), True)
    net64 = Simulation(cfg).net
    lay = net64.layout
    net32 = Network(lay, dtype=np.float32, y=net64.y.astype(np.float32))
    circ = steady.Circuit(cfg)
    X, T = rng.uniform(0, 1, (5, 4)), rng.uniform(-1, 1, (5, 3))
    s64 = steady.solve(net64, circ, X, T, method="exact", tol=1e-10)
    s32 = steady.solve(net32, circ, X.astype(np.float32), T.astype(np.float32), method="exact", tol=1e-10)
    assert s32.u[1].dtype == np.float32
    assert s64.change < 1e-8 < s32.change and s64.iterations > s32.iterations
    for k in (1, 2, 3):
        np.testing.assert_allclose(s32.u[k], s64.u[k], rtol=1e-5, atol=1e-5)


def test_convex_two_sweep_is_the_paper_printed_scheme():
    """[learner] steady = "convex": research notes sec. 4(c) steps 1-4 as printed, with the
    conductance ratios as lambdas, written out here independently; the free prediction is
    the plain feedforward net; with v-hat the downward mixture's no-apical value (caveat
    ii), its self-predicting state has no error without a target, for depth 2 and 3."""
    rng = np.random.default_rng(21)
    cfg, net = _depth2(rng)
    cfg = config.from_dict({**cfg.to_dict(), "learner": {"rule": "dendritic", "steady": "convex"}})
    circ = steady.Circuit(cfg)
    x, t = rng.uniform(0, 1, 5), rng.uniform(-1, 1, 3)
    gB, gA, gD, gs = 1.0, 0.8, 1.0, 0.8
    lam_N, lam_I, lam_1 = gs / (gB + gs), gs / (gD + gs), gA / (gB + gA)
    W = net.weights()
    sr = lambda u: 0.1 * np.log1p(np.exp(u - 3.0))          # noqa: E731  layer 1
    lg = lambda u: 1 / (1 + np.exp(-u))                       # noqa: E731  layer 2 and interneurons
    vB1 = W["up1"] @ x + W["b_up1"]                          # step 1: u = v_B
    vI = W["IP1"] @ sr(vB1) + W["b_IP1"]
    vB2 = W["up2"] @ sr(vB1) + W["b_up2"]
    u2 = (1 - lam_N) * vB2 + lam_N * t                        # step 2
    uI = (1 - lam_I) * vI + lam_I * u2                        # step 3
    vA = W["down1"] @ lg(u2) + W["PI1"] @ lg(uI)
    u1 = (1 - lam_1) * vB1 + lam_1 * vA
    st = steady.solve(net, circ, x, t, method="convex")
    np.testing.assert_allclose(st.u[2][0], u2, rtol=1e-13)
    np.testing.assert_allclose(st.uI[1][0], uI, rtol=1e-13)
    np.testing.assert_allclose(st.u[1][0], u1, rtol=1e-13)
    np.testing.assert_allclose(st.vhat[1][0], (1 - lam_1) * vB1, rtol=1e-13)   # the mixture's no-apical value
    np.testing.assert_allclose(st.out_ff[0], vB2, rtol=1e-13)            # plain feedforward output
    np.testing.assert_allclose(steady.feedforward(net, circ, x)[0][1][0], vB1, rtol=1e-13)
    with pytest.raises(ValueError, match="convex"):
        steady.solve(net, steady.Circuit(_depth2(rng)[0]), x, t, method="convex")
    # its self-predicting state, as the network initialisation sets it for this scheme
    for sizes in ((5, 4, 3), (5, 4, 4, 3)):
        d = cfg.to_dict()
        sim_cfg = config.from_dict({**d, "network": {**d["network"], "sizes": list(sizes),
                                                     "transfer": "logistic"},
                                    "init": {"self_predicting": True, "seed": 3}, "plasticity": {"tau_w": 0.0}})
        sim, c = Simulation(sim_cfg), steady.Circuit(sim_cfg)
        xs = rng.uniform(0, 1, (4, 5))
        free = steady.solve(sim.net, c, xs, None, method="convex")
        G = steady.plasticity(free, sim.net, c, groups=("up", "IP", "PI"))
        assert max(np.max(np.abs(g)) for g in G.values()) < 1e-12, sizes
        nudged = steady.solve(sim.net, c, xs, rng.uniform(-1, 1, (4, 3)), method="convex")
        G = steady.plasticity(nudged, sim.net, c, groups=("up",))
        assert np.max(np.abs(G["up1"])) > 1e-5, sizes        # a target reaches the lowest layer
