"""Latent Equilibrium ([network] latent_equilibrium): prospective rates phi(u + tau_eff du/dt)
(Haider et al. 2021) against the independent reference, the defining property (no lag), the
fixed point the discrete learners assume, the integrators it runs with, and bad input."""

import itertools

import numpy as np
import pytest

from dendrosim import config, steady
from dendrosim.engine.loop import Scratch, run_block, workspace
from dendrosim.engine.params import INTEGRATOR_CODES, Circuit, Recording, pack
from dendrosim.engine.rng import seed_state
from dendrosim.engine.select import select
from dendrosim.network import Network
from dendrosim.simulation import MemorySink, Simulation

from .helpers import make_cfg, random_state
from .test_rhs import SIZES, compare, reference_of

SWITCHES = list(itertools.product([False, True], [0.0, 30.0], [0.0, 3.0], ["current", "conductance"]))


def le_cfg(sizes, **kw):
    extra = kw.pop("extra", {})
    net = {"latent_equilibrium": True, **extra.pop("network", {})}
    return make_cfg(sizes, **kw, network=net, **extra)


def breve(net, k, interneuron=False):
    """The u_breve block of layer k's pyramidal cells (or interneurons), from the layout."""
    lay = net.layout.lay
    o = lay[0].u_breve + (lay[k].u_I if interneuron else lay[k].u)
    n = net.sizes[k + 1] if interneuron else net.sizes[k]
    return net.y[o:o + n]


def reference_le(cfg, net, x, target):
    N = net.depth
    return reference_of(cfg, net, x, target,
                        uP_breve={k: breve(net, k) for k in range(1, N + 1)},
                        uI_breve={k: breve(net, k, True) for k in range(1, N)})


# -- the right-hand side and the stored u_breve against the reference ----------------------

@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("bias,tau_w,tau_in,nudging", SWITCHES)
def test_rhs_with_prospective_rates_matches_reference(depth, bias, tau_w, tau_in, nudging):
    rng = np.random.default_rng([depth, SWITCHES.index((bias, tau_w, tau_in, nudging)), 28])
    cfg = le_cfg(SIZES[depth], transfer=["soft_relu", "logistic", "relu", "linear"][:depth],
                 bias=bias, tau_w=tau_w, tau_in=tau_in, nudging=nudging, E=(1.5, -0.5))
    net = random_state(cfg, rng)
    assert net.layout.lay[0].u_breve == net.layout.n_y - net.layout.lay[0].u
    x = rng.uniform(0, 1, SIZES[depth][0])
    for target in (rng.uniform(-2, 3, SIZES[depth][-1]), None):
        compare(cfg, net, x, target, reference=reference_le)


def test_prospective_rates_differ_from_the_original_ones():
    """The comparison above can fail: the same state without LE gives other rates and rules."""
    rng = np.random.default_rng(3)
    cfg = le_cfg(SIZES[2])
    net = random_state(cfg, rng)
    x = rng.uniform(0, 1, SIZES[2][0])
    with pytest.raises(AssertionError):
        compare(cfg, net, x, None, reference=lambda c, n, x_, t: reference_of(c, n, x_, t))


def _one_step(cfg, net, x, target, seed=1):
    """One step of the generic loop (integrator and noise as ``cfg`` says); returns the state
    before it."""
    fp, lp, ip = pack(cfg, net.layout, net.dtype)
    ws = Scratch(**workspace(net.layout, net.dtype))
    tgt = np.asarray(target, dtype=float)
    rec = Recording(np.zeros(0, np.int64), 1, False, np.zeros((2, 0)), np.zeros(0))
    before = net.y.copy()
    run_block(net.y, x, tgt, True, 1, 0, 0, INTEGRATOR_CODES[cfg.simulation.integrator], cfg.simulation.dt,
              Circuit(net.layout.lay, lp, fp, ip), seed_state(np.random.SeedSequence(seed)), rec, ws)
    return before


@pytest.mark.parametrize("integrator", ["euler", "expeuler"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_a_step_stores_u_plus_tau_eff_du_dt(integrator, depth):
    """Without noise the step stores u_breve = u + tau_eff du/dt of the state at its start (the
    reference's value), for forward and exponential Euler alike."""
    rng = np.random.default_rng(depth)
    cfg = le_cfg(SIZES[depth], extra={"simulation": {"integrator": integrator}})
    net = random_state(cfg, rng, scale=0.5)
    x = rng.uniform(0, 1, SIZES[depth][0])
    t = rng.uniform(0, 1, SIZES[depth][-1])
    start = Network(net.layout, net.dtype, net.y.copy())
    ref = reference_le(cfg, start, x, t)
    _one_step(cfg, net, x, t)
    for k in range(1, depth + 1):
        np.testing.assert_allclose(breve(net, k), ref["uP_breve"][k], rtol=1e-12, atol=1e-12)
        if k < depth:
            np.testing.assert_allclose(breve(net, k, True), ref["uI_breve"][k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("convention", ["per_step_dt", "euler_maruyama"])
def test_the_noise_of_a_step_is_part_of_du_dt(convention):
    """With noise, forward Euler stores u_breve = u + tau_eff (u(t+dt) - u(t))/dt: the full
    derivative of the step, noise included (checked against the step's own increment)."""
    rng = np.random.default_rng(11)
    cfg = le_cfg(SIZES[2], extra={"noise": {"sigma": 0.3, "convention": convention}})
    net = random_state(cfg, rng, scale=0.5)
    x, t = rng.uniform(0, 1, 5), rng.uniform(0, 1, 3)
    before = _one_step(cfg, net, x, t)
    c, dt = cfg.conductances, 0.1
    u0, u1 = Network(net.layout, net.dtype, before), net
    for k, g in ((1, c.g_l + c.g_B + c.g_A), (2, c.g_l + c.g_B + c.g_som)):
        expected = u0.u_P(k) + (u1.u_P(k) - u0.u_P(k)) / dt / g
        np.testing.assert_allclose(breve(net, k), expected, rtol=1e-11, atol=1e-11)
    expected = u0.u_I(1) + (u1.u_I(1) - u0.u_I(1)) / dt / (c.g_l + c.g_D + c.g_som)
    np.testing.assert_allclose(breve(net, 1, True), expected, rtol=1e-11, atol=1e-11)
    # and the noise did move it: without the noise's share it would be the noise-free value
    ref = reference_le(cfg, u0, x, t)
    assert np.max(np.abs(breve(net, 1) - ref["uP_breve"][1])) > 1e-3


# -- the defining property: no lag --------------------------------------------------------

def _feedforward_cfg(le):
    return config.from_dict({
        "network": {"sizes": [4, 6, 3], "transfer": "logistic", "tau_in": 0.0, "latent_equilibrium": le},
        "plasticity": {"eta_up": 0.0, "tau_w": 0.0}, "noise": {"sigma": 0.0},
        "init": {"seed": 3, "scale": 1.0},
        "record": {"variables": ["r"], "layers": [2], "every": 1},
        "task": {"kind": "single_pattern", "n_repeats": 1, "duration": 6.0, "target_from": 1,
                 "input": [0.9, 0.1, 0.7, 0.3], "target": [0.0, 0.0, 0.0]}})


def _output_rate_trace(le):
    sim = Simulation(_feedforward_cfg(le))
    for name in ("down1", "PI1"):            # no top-down input: a feedforward network
        sim.net.w(name)[:] = 0.0
    sink = MemorySink()
    sim.run(sink)
    W1, W2, c = sim.net.w("up1"), sim.net.w("up2"), sim.cfg.conductances
    x = np.array(sim.cfg.task["input"])
    u1 = c.g_B / (c.g_l + c.g_B + c.g_A) * (W1 @ x)        # v_A = 0: closed-form fixed point
    u2 = c.g_B / (c.g_l + c.g_B) * (W2 @ (1 / (1 + np.exp(-u1))))
    return np.concatenate(sink.rows), 1 / (1 + np.exp(-u2))


def test_le_output_reaches_its_steady_rate_within_a_step_per_layer():
    rows_le, r_star = _output_rate_trace(True)
    rows_orig, _ = _output_rate_trace(False)
    err_le = np.max(np.abs(rows_le - r_star), axis=1)
    err_orig = np.max(np.abs(rows_orig - r_star), axis=1)
    # rows are the rates at the start of steps 0, 1, 2, ...: with two layers the output rate
    # is exact from step N + 1 = 3 on (one step to store each layer's u_breve, one to read it)
    assert err_le[0] > 1e-2
    assert np.all(err_le[3:] < 1e-12), err_le[:6]
    # the original dynamics need several tau_eff = 1/(g_l + g_B) ~ 0.9 ms, i.e. tens of steps
    first = int(np.argmax(err_orig < 1e-3))
    assert err_orig[first] < 1e-3 and first * 0.1 > 3 * (1 / (0.1 + 1.0 + 0.8)), first


# -- the fixed point, which the discrete learners assume ------------------------------------

def test_at_the_fixed_point_u_breve_is_u_and_the_steady_state_is_unchanged():
    """Held input, no noise, no plasticity: LE settles where the original dynamics do (the
    fixed point of eqs. 1-5 that the steady-state learners solve for), with u_breve = u."""
    rng = np.random.default_rng(4)
    x, t = rng.uniform(0, 1, 4), rng.uniform(0.1, 0.9, 2)
    cfg = config.from_dict({
        "network": {"sizes": [4, 6, 5, 2], "transfer": "logistic", "bias": True, "latent_equilibrium": True},
        "plasticity": {"tau_w": 0.0}, "noise": {"sigma": 0.0}, "record": {"variables": []},
        "task": {"kind": "single_pattern", "n_repeats": 1, "duration": 300.0, "target_from": 0,
                 "input": list(x), "target": list(t)}})
    sim = Simulation(cfg)
    net0 = sim.net.copy()
    sim.run(MemorySink())
    st = steady.solve(net0, steady.Circuit(cfg), x, t, tol=1e-14)
    for k in range(1, 4):
        np.testing.assert_allclose(sim.net.u_P(k), st.u[k][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(breve(sim.net, k), sim.net.u_P(k), rtol=0, atol=1e-12)
        if k < 3:
            np.testing.assert_allclose(breve(sim.net, k, True), sim.net.u_I(k), rtol=0, atol=1e-12)


def test_the_discrete_learners_are_the_same_with_the_switch():
    """The steady-state learners work at the fixed point, where u_breve = u: the switch
    changes nothing there (same weights, bit for bit, for the dendritic rule)."""
    from dendrosim.learners import run as run_learner
    outs = []
    for le in (False, True):
        outs.append(run_learner(config.from_dict({
            "network": {"sizes": [4, 5, 3], "transfer": "logistic", "latent_equilibrium": le},
            "plasticity": {"eta_up": [0.1, 0.05], "eta_IP": 0.05},
            "learner": {"rule": "dendritic", "batch_size": 5},
            "task": {"kind": "yin_yang", "n_train": 50, "n_test": 20, "n_validation": 20}})))
    assert outs[0].status == outs[1].status == "completed"
    assert outs[0].weights[-1]["up1"].std() > 0
    for name, w in outs[0].weights[-1].items():
        np.testing.assert_array_equal(w, outs[1].weights[-1][name], err_msg=name)


# -- bad input, kernels, recording, resume -----------------------------------------------

@pytest.mark.parametrize("value", ["yes", 1, 0.5])
def test_a_non_boolean_switch_is_a_config_error(value):
    with pytest.raises(config.ConfigError, match=r"\[network\] latent_equilibrium"):
        config.from_dict({"network": {"latent_equilibrium": value}})


@pytest.mark.parametrize("integrator", ["heun", "rk4"])
def test_multi_stage_integrators_are_refused(integrator):
    with pytest.raises(config.ConfigError, match=r"\[network\] latent_equilibrium.*euler or expeuler"):
        config.from_dict({"network": {"latent_equilibrium": True}, "simulation": {"integrator": integrator}})


def test_the_cli_refuses_bad_input_and_writes_nothing(tmp_path, capsys):
    from dendrosim.cli import main
    cfg = tmp_path / "le.toml"
    cfg.write_text('[network]\nlatent_equilibrium = "true"\n')
    assert main(["run", str(cfg), "-o", str(tmp_path / "out.h5"), "--quiet"]) == 2
    assert "[network] latent_equilibrium" in capsys.readouterr().err
    assert not (tmp_path / "out.h5").exists()


def test_u_breve_without_the_switch_is_a_config_error():
    with pytest.raises(config.ConfigError, match=r"\[record\] variables"):
        config.from_dict({"record": {"variables": ["u_breve"]}})


def test_le_runs_fused_or_generic_never_in_lanes():
    cfg = config.from_dict({"network": {"latent_equilibrium": True}})
    assert select(cfg).kernel == "fused"
    chosen = select(cfg, members=16)
    assert chosen.kernel == "fused" and "Latent Equilibrium" in chosen.reason
    exp = config.from_dict({"network": {"latent_equilibrium": True}, "simulation": {"integrator": "expeuler"}})
    assert select(exp).kernel == "generic"


def test_u_breve_is_recorded_and_a_resume_is_bit_identical(tmp_path):
    from dendrosim.io import HDF5Sink, load
    from dendrosim.resume import resume_simulation

    from .test_io import _compare_files, run_to_file, small_cfg
    cfg = small_cfg(n=6, every=2, sigma=0.1, variables=["u_P", "u_breve", "r"],
                    network={"sizes": [5, 4, 3], "latent_equilibrium": True})
    sim = run_to_file(cfg, tmp_path / "one.h5")
    with load(tmp_path / "one.h5") as run:
        assert run.attrs["kernel"] == "fused"
        _, ub = run.trace("layer1/u_breve")
        _, u = run.trace("layer1/u_P")
        assert ub.shape == u.shape and ub.shape[1] == 4 and np.all(np.isfinite(ub))
        assert np.max(np.abs(ub - u)) > 1e-3               # noisy: the prospective value differs
    np.testing.assert_array_equal(ub[-1], breve(sim.net, 1))   # the last sample: the final state
    sim = Simulation(cfg)
    sink = HDF5Sink(tmp_path / "two.h5", checkpoint_interval=1e9)
    sim.run(sink, until_segment=3)
    sink.close()
    sim2, sink2 = resume_simulation(tmp_path / "two.h5")
    sim2.run(sink2)
    sink2.close()
    _compare_files(tmp_path / "one.h5", tmp_path / "two.h5")
