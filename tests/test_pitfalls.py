"""The public reimplementations' bugs (research notes sec. 6), each pinned by a test
that fails had dendrosim made the same mistake."""

import numpy as np
import pytest

from dendrosim import config
from dendrosim.network import Network, sps_ip_factor
from dendrosim.simulation import MemorySink, Simulation
from dendrosim.model.transfer import phi_inv_np, phi_np

from .helpers import engine_rhs, make_cfg, random_state
from .reference_numpy import phi as reference_phi
from .test_rhs import reference_of

G = dict(g_l=0.1, g_B=1.0, g_A=0.8, g_D=1.0, g_som=0.8)


def test_1_tau_w_is_a_filter_not_weight_decay():
    """R-ern: W += eta dt G - dt/tau W (decay); R-git: W += dt/tau eta G (rescaled eta).
    Ours: tau_w dDelta/dt = G - Delta, dW/dt = eta Delta."""
    rng = np.random.default_rng(1)
    cfg = make_cfg((4, 3, 2), tau_w=30.0, eta=0.01)
    net = random_state(cfg, rng)
    for name in net.layout.weight_names():
        net.trace(name)[:] = 0.0           # no induction yet
    dy, _ = engine_rhs(cfg, net, rng.uniform(0, 1, 4), None)
    d = Network(net.layout, net.dtype, dy)
    for name in net.layout.weight_names():
        assert not d.w(name).any(), f"{name} changes although its trace is 0 (weight decay?)"
    # a trace equal to G gives dW/dt = eta G exactly, not eta G / tau_w
    ref = reference_of(cfg, net, np.full(4, 0.5), None)   # with Delta = 0: dDelta/dt = G / tau_w
    for name in net.layout.weight_names():
        net.trace(name)[:] = 30.0 * ref["traces"][name]     # Delta := G
    dy, _ = engine_rhs(cfg, net, np.full(4, 0.5), None)
    d = Network(net.layout, net.dtype, dy)
    eta = {"up1": 0.01, "up2": 0.02}
    for name, e in eta.items():
        np.testing.assert_allclose(d.w(name), e * net.trace(name), rtol=1e-12)
        np.testing.assert_allclose(d.trace(name), 0.0, atol=1e-12)     # Delta = G is the trace's fixed point


def test_2_output_attenuation_and_sps_factor_use_gA_zero():
    assert sps_ip_factor(**{k: G[k] for k in ("g_l", "g_B", "g_D")}, g_A_next=0.0) == pytest.approx(1.0)
    assert sps_ip_factor(0.1, 1.0, 1.0, 0.8) == pytest.approx(1.1 / 1.9)
    # output learning stops exactly when g_B/(g_l+g_B) v_B = u_tgt (no g_A, no g_som in the factor)
    cfg = make_cfg((3, 2), tau_w=0.0, tau_in=0.0)
    rng = np.random.default_rng(2)
    net = random_state(cfg, rng)
    x = rng.uniform(0, 1, 3)
    vB = net.w("up1") @ x
    target = vB * 1.0 / 1.1
    net.u_P(1)[:] = target                       # the nudged fixed point equals the target
    dy, _ = engine_rhs(cfg, net, x, target)
    d = Network(net.layout, net.dtype, dy)
    np.testing.assert_allclose(d.w("up1"), 0.0, atol=1e-14)
    np.testing.assert_allclose(d.u_P(1), 0.0, atol=1e-14)


def test_2_ernoult_sps_factor_leaves_apical_error():
    """With R-ern's factor (g_B+g_l)/(g_B+g_l+g_A) the apical potential is not silenced."""
    d = {"network": {"sizes": [30, 20, 10]}, "init": {"self_predicting": True},
         "simulation": {"integrator": "expeuler", "dt": 0.5},
         "task": {"kind": "single_pattern", "n_repeats": 1, "duration": 200.0, "target_from": 1,
                  "input_high": 5.0}, "record": {"variables": []}}
    norms = []
    for factor in (None, 1.1 / 1.9):
        sim = Simulation(config.from_dict(d))
        if factor is not None:
            sim.net.w("IP1")[:] = factor * sim.net.w("up2")
        sim.run(MemorySink())
        norms.append(sim.metrics(sim.task.segment(0))["apical_norm"][0])
    assert norms[0] < 1e-10 < 1e-3 < norms[1]


def test_3_interneuron_attenuation_is_gD_over_gl_plus_gD():
    """R-miy computed g_D/g_l + g_D = 11 instead of g_D/(g_l+g_D) = 0.909."""
    cfg = make_cfg((3, 4, 2), tau_w=0.0, tau_in=0.0)
    rng = np.random.default_rng(3)
    net = random_state(cfg, rng)
    x = rng.uniform(0, 1, 3)
    _, z = engine_rhs(cfg, net, x, None)
    vI = z[net.layout.variable_slice("v_I", 1)[1]]
    net.u_I(1)[:] = 1.0 / 1.1 * vI               # u_I = vhat_I: no IP error
    dy, _ = engine_rhs(cfg, net, x, None)
    np.testing.assert_allclose(Network(net.layout, net.dtype, dy).w("IP1"), 0.0, atol=1e-14)


def test_4_input_rates_are_not_passed_through_phi():
    cfg = make_cfg((3, 4, 2), tau_in=0.0)
    rng = np.random.default_rng(4)
    net = random_state(cfg, rng)
    x = np.array([0.2, 0.5, 0.9])
    _, z = engine_rhs(cfg, net, x, None)
    np.testing.assert_allclose(z[net.layout.variable_slice("v_B", 1)[1]], net.w("up1") @ x, rtol=1e-14)


@pytest.mark.parametrize("name,tp", [("logistic", {}),
                                     ("soft_relu", {}),
                                     ("soft_relu", dict(gamma=0.25, beta=2.0, theta=1.5))])
def test_5_rate_targets_become_voltage_targets(name, tp):
    """phi_np equals reference_numpy's phi (paper sec. 3.3/3.4) on a grid of potentials, and
    phi_inv_np equals the closed-form inverses: logistic log(r/(1-r)); soft rectifier
    theta + log(exp(r/gamma) - 1)/beta (non-default gamma, beta, theta so each one counts)."""
    tparams = {**dict(gamma=0.1, beta=1.0, theta=3.0), **tp} if name == "soft_relu" else {}
    u = np.linspace(-8.0, 8.0, 161)
    np.testing.assert_allclose(phi_np(u, name, **tp), reference_phi(u, name, tparams), rtol=1e-13)
    if name == "logistic":
        r = np.array([0.01, 0.1, 0.3, 0.5, 0.8, 0.99])
        expected = np.log(r / (1.0 - r))
    else:
        g, b, th = tparams["gamma"], tparams["beta"], tparams["theta"]
        r = np.array([0.005, 0.05, 0.3, 1.0, 2.0]) * g / 0.1
        expected = th + np.log(np.exp(r / g) - 1.0) / b
    got = phi_inv_np(r, name, **tp)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # and the reference phi maps the voltage target back onto the rate
    np.testing.assert_allclose(reference_phi(got, name, tparams), r, rtol=1e-12)


def test_5_output_is_nudged_towards_a_voltage():
    """The output soma settles at the fixed point of its ODE (notes sec. 1.3/1.8) with u_trgt the
    given VOLTAGE: u* = (g_B W r_0 + g_som u_trgt)/(g_l + g_B + g_som), to 1e-8 (plasticity off,
    200 ms = 66 tau_in and ~380 somatic time constants). It is far (> 1e-2) from the
    un-nudged u = g_B W r_0/(g_l + g_B) and from the value phi(u_trgt) used as a voltage."""
    g_l, g_B, g_som = 0.1, 1.0, 0.8
    x, tgt = np.array([0.2, 0.7, 0.4]), np.array([1.4, -2.2])
    d = {"network": {"sizes": [3, 2], "transfer": "logistic", "tau_in": 3.0},
         "conductances": {"g_l": g_l, "g_B": g_B, "g_som": g_som},
         "plasticity": {"eta_up": 0.0, "tau_w": 0.0}, "noise": {"sigma": 0.0},
         "simulation": {"integrator": "expeuler", "dt": 0.2},
         "task": {"kind": "single_pattern", "n_repeats": 1, "duration": 200.0, "input": list(x),
                  "target": list(tgt)},
         "record": {"variables": []}}
    sim = Simulation(config.from_dict(d))
    W = sim.net.w("up1").copy()
    sim.run(MemorySink())
    np.testing.assert_array_equal(sim.net.w("up1"), W)            # plasticity really off
    vB = W @ x
    expected = (g_B * vB + g_som * tgt) / (g_l + g_B + g_som)
    np.testing.assert_allclose(sim.net.u_P(1), expected, rtol=0, atol=1e-8)
    free = g_B * vB / (g_l + g_B)
    rate_as_voltage = (g_B * vB + g_som * reference_phi(tgt, "logistic", {})) / (g_l + g_B + g_som)
    assert np.abs(expected - free).min() > 1e-2
    assert np.abs(expected - rate_as_voltage).min() > 1e-2


def test_8_update_is_synchronous():
    """One Euler step equals y + dt f(y) with every term taken from the state at t."""
    cfg = make_cfg((4, 5, 3, 2), tau_w=20.0, **{"simulation": {"dt": 0.1}})
    rng = np.random.default_rng(8)
    net = random_state(cfg, rng)
    x = rng.uniform(0, 1, 4)
    tgt = rng.uniform(0, 3, 2)
    ref = reference_of(cfg, net, x, tgt)
    expected = net.copy()
    for k in range(1, 4):
        expected.u_P(k)[:] += 0.1 * ref["uP"][k]
        if k < 3:
            expected.u_I(k)[:] += 0.1 * ref["uI"][k]
    expected.r0[:] += 0.1 * ref["r0"]
    for name in net.layout.weight_names():
        expected.w(name)[:] += 0.1 * ref["W"][name]
        expected.trace(name)[:] += 0.1 * ref["traces"][name]
    d = cfg.to_dict()
    d["task"] = {"kind": "single_pattern", "n_repeats": 1, "duration": 0.1, "input": list(x), "target": list(tgt)}
    d["record"]["variables"] = []
    sim = Simulation(config.from_dict(d), net=net.copy())
    sim.run(MemorySink())
    np.testing.assert_allclose(sim.net.y, expected.y, rtol=1e-12, atol=1e-14)
