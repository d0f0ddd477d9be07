"""The compiled right-hand side against the independent NumPy reference (eqs. 1-10)."""

import itertools

import numpy as np
import pytest

from dendrosim.network import Network

from .helpers import engine_rhs, make_cfg, random_state
from .reference_numpy import reference_derivatives

SIZES = {1: (4, 3), 2: (5, 4, 3), 3: (4, 5, 3, 2), 4: (3, 4, 5, 3, 2)}
TRANSFERS = ("soft_relu", "logistic", "relu", "linear")


def reference_of(cfg, net: Network, x, target, **prospective):
    nw, c, p = cfg.network, cfg.conductances, cfg.plasticity
    N = net.depth
    W = net.weights()
    traces = {k: net.trace(k) for k in W} if p.tau_w > 0 else None
    return reference_derivatives(
        list(nw.sizes), list(nw.transfer), dict(gamma=nw.gamma, beta=nw.beta, theta=nw.theta),
        dict(g_l=c.g_l, g_B=c.g_B, g_A=c.g_A, g_D=c.g_D, g_som=c.g_som, nudging=c.nudging,
             E_exc=c.E_exc, E_inh=c.E_inh),
        dict(eta_up=list(p.eta_up), eta_IP=list(p.eta_IP), eta_PI=list(p.eta_PI),
             eta_down=list(p.eta_down), tau_w=p.tau_w),
        nw.tau_in, W, traces, {k: net.u_P(k) for k in range(1, N + 1)},
        {k: net.u_I(k) for k in range(1, N)}, net.r0.copy(), x, target, **prospective)


def compare(cfg, net, x, target, reference=reference_of):
    dy, z = engine_rhs(cfg, net, x, target)
    ref = reference(cfg, net, x, target)
    d = Network(net.layout, net.dtype, dy)
    lay = net.layout
    tol = dict(rtol=1e-12, atol=1e-12)
    for k in range(1, net.depth + 1):
        np.testing.assert_allclose(d.u_P(k), ref["uP"][k], **tol, err_msg=f"du_P layer {k}")
        np.testing.assert_allclose(z[lay.variable_slice("v_B", k)[1]], ref["vB"][k], **tol)
        np.testing.assert_allclose(z[lay.variable_slice("r", k)[1]], ref["r"][k], **tol)
        if k < net.depth:
            np.testing.assert_allclose(d.u_I(k), ref["uI"][k], **tol, err_msg=f"du_I layer {k}")
            np.testing.assert_allclose(z[lay.variable_slice("v_A", k)[1]], ref["vA"][k], **tol)
            np.testing.assert_allclose(z[lay.variable_slice("v_I", k)[1]], ref["vI"][k], **tol)
    if cfg.network.tau_in > 0:
        np.testing.assert_allclose(d.r0, ref["r0"], **tol)
    for name in lay.weight_names():
        np.testing.assert_allclose(d.w(name), ref["W"][name], **tol, err_msg=f"dW {name}")
        if cfg.plasticity.tau_w > 0:
            # traces of fixed weights (eta = 0) are not integrated by the engine: they act on nothing
            if np.any(ref["W"][name] != 0):
                np.testing.assert_allclose(d.trace(name), ref["traces"][name], **tol,
                                           err_msg=f"dDelta {name}")


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("transfer", TRANSFERS)
def test_rhs_matches_reference_all_transfers(depth, transfer):
    rng = np.random.default_rng(depth * 10 + TRANSFERS.index(transfer))
    cfg = make_cfg(SIZES[depth], transfer=transfer)
    net = random_state(cfg, rng)
    x = rng.uniform(0, 1, SIZES[depth][0])
    compare(cfg, net, x, rng.uniform(-1, 2, SIZES[depth][-1]))
    compare(cfg, net, x, None)


SWITCHES = list(itertools.product([False, True], [0.0, 30.0], [0.0, 3.0], ["current", "conductance"]))


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("bias,tau_w,tau_in,nudging", SWITCHES)
def test_rhs_matches_reference_all_switches(depth, bias, tau_w, tau_in, nudging):
    """Every derivative and instantaneous potential of the compiled rhs equals reference_numpy's
    (eqs. 1-10) to 1e-12 with biases, trace filter, input filter and conductance nudging on/off;
    the random state is seeded by the switch combination's index, so a failure reproduces."""
    # a seed that is the same in every process (hash() of a str is salted per process)
    rng = np.random.default_rng([depth, SWITCHES.index((bias, tau_w, tau_in, nudging))])
    # E = (1.5, -0.5): potentials and targets fall on both sides, so rectification is exercised
    cfg = make_cfg(SIZES[depth], transfer=["soft_relu", "logistic", "relu", "linear"][:depth],
                   bias=bias, tau_w=tau_w, tau_in=tau_in, nudging=nudging, E=(1.5, -0.5))
    net = random_state(cfg, rng)
    x = rng.uniform(0, 1, SIZES[depth][0])
    compare(cfg, net, x, rng.uniform(-2, 3, SIZES[depth][-1]))
    compare(cfg, net, x, None)


def test_rhs_fixed_top_down_has_no_derivative():
    rng = np.random.default_rng(5)
    cfg = make_cfg(SIZES[2], eta_down=0.0)
    net = random_state(cfg, rng)
    dy, _ = engine_rhs(cfg, net, rng.uniform(0, 1, 5), None)
    d = Network(net.layout, net.dtype, dy)
    assert not d.w("down1").any()
    assert d.w("up1").any() and d.w("PI1").any()


def test_plasticity_off_zeroes_weight_derivatives():
    rng = np.random.default_rng(6)
    cfg = make_cfg(SIZES[3])
    net = random_state(cfg, rng)
    x = rng.uniform(0, 1, 4)
    dy_on, _ = engine_rhs(cfg, net, x, None)
    dy, _ = engine_rhs(cfg, net, x, None, plastic=False)
    ws = net.layout.w_start
    assert not dy[ws:].any()
    np.testing.assert_array_equal(dy[:ws], dy_on[:ws])
