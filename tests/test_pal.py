"""Phaseless Alignment Learning ([plasticity] down_rule = "pal", Max et al. 2024): the right-hand
side against the independent reference, one step of the apical Ornstein-Uhlenbeck noise and of
the high-pass filter against a hand computation with the generator's own draws, the noise's
stationary standard deviation, the kernel it runs on, bad input and a bit-identical resume."""

import itertools
import math

import numpy as np
import pytest

from dendrosim import config
from dendrosim.engine.loop import Scratch, run_block, workspace
from dendrosim.engine.params import INTEGRATOR_CODES, Circuit, Recording, pack
from dendrosim.engine.rng import fill_normal, seed_state
from dendrosim.engine.select import select
from dendrosim.network import Network
from dendrosim.simulation import MemorySink, Simulation

from .helpers import make_cfg, random_state
from .test_latent_equilibrium import breve
from .test_rhs import SIZES, compare, reference_of

SWITCHES = list(itertools.product([False, True], [0.0, 30.0], [0.0, 3.0], ["current", "conductance"], [False, True]))


def pal_cfg(sizes, le=False, **kw):
    extra = kw.pop("extra", {})
    plast = {"down_rule": "pal", "pal_alpha": 0.3, **extra.pop("plasticity", {})}
    net = {"latent_equilibrium": le, **extra.pop("network", {})}
    return make_cfg(sizes, **kw, plasticity=plast, network=net, **extra)


def block(net, field, k):
    o = int(getattr(net.layout.lay[k], field))
    assert o >= 0
    return net.y[o:o + net.sizes[k]]


def reference_pal(cfg, net, x, target):
    N = net.depth
    pal = {"xi": {k: block(net, "xi", k) for k in range(1, N)},
           "r_hp": {k: block(net, "r_hp", k) for k in range(2, N + 1)}, "alpha": cfg.plasticity.pal_alpha}
    prospective = {}
    if cfg.network.latent_equilibrium:
        prospective = dict(uP_breve={k: breve(net, k) for k in range(1, N + 1)},
                           uI_breve={k: breve(net, k, True) for k in range(1, N)})
    return reference_of(cfg, net, x, target, pal=pal, **prospective)


# -- the right-hand side against the reference -----------------------------------------------

@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("bias,tau_w,tau_in,nudging,le", SWITCHES)
def test_rhs_with_pal_matches_reference(depth, bias, tau_w, tau_in, nudging, le):
    """v_A with the apical noise and the PAL rule of the top-down weights (every other rule as
    before) equal reference_numpy's to 1e-12, with every switch and Latent Equilibrium."""
    rng = np.random.default_rng([depth, SWITCHES.index((bias, tau_w, tau_in, nudging, le)), 29])
    cfg = pal_cfg(SIZES[depth], le=le, transfer=["soft_relu", "logistic", "relu", "linear"][:depth],
                  bias=bias, tau_w=tau_w, tau_in=tau_in, nudging=nudging, E=(1.5, -0.5))
    net = random_state(cfg, rng)
    lay = net.layout.lay
    assert lay[depth].r_prev + SIZES[depth][-1] == net.layout.n_y     # the PAL blocks come last
    x = rng.uniform(0, 1, SIZES[depth][0])
    for target in (rng.uniform(-2, 3, SIZES[depth][-1]), None):
        compare(cfg, net, x, target, reference=reference_pal)


def test_the_pal_comparison_can_fail():
    """The same state compared with the eq. 10 reference (no noise in v_A, eq. 10) differs."""
    rng = np.random.default_rng(3)
    cfg = pal_cfg(SIZES[2])
    net = random_state(cfg, rng)
    x = rng.uniform(0, 1, SIZES[2][0])
    with pytest.raises(AssertionError):
        compare(cfg, net, x, None, reference=lambda c, n, x_, t: reference_of(c, n, x_, t))


# -- one step of the filters ---------------------------------------------------------------

def _one_step(cfg, net, x, target, seed):
    fp, lp, ip = pack(cfg, net.layout, net.dtype)
    ws = Scratch(**workspace(net.layout, net.dtype))
    tgt = np.asarray(target, dtype=float)
    rec = Recording(np.zeros(0, np.int64), 1, False, np.zeros((2, 0)), np.zeros(0))
    before = Network(net.layout, net.dtype, net.y.copy())
    run_block(net.y, x, tgt, True, 1, 0, 0, INTEGRATOR_CODES[cfg.simulation.integrator], cfg.simulation.dt,
              Circuit(net.layout.lay, lp, fp, ip), seed_state(np.random.SeedSequence(seed)), rec, ws)
    return before


@pytest.mark.parametrize("integrator,le,sigma", [("euler", False, 0.0), ("expeuler", False, 0.2),
                                                  ("euler", True, 0.2), ("expeuler", True, 0.0)])
def test_one_step_of_the_noise_and_the_high_pass_filter(integrator, le, sigma):
    """xi <- xi - (dt/tau_xi) xi + pal_sigma sqrt(2 dt/tau_xi) n with n the generator's draws that
    follow the somatic noise's, and r_HP <- r_HP + (r(t) - r_prev) - (dt/tau_HP) r_HP,
    r_prev <- r(t), with r(t) the reference's rates of the state at the start of the step."""
    depth = 3
    rng = np.random.default_rng([7, int(le), int(sigma * 10)])
    dt, tau_xi, tau_hp, s_xi = 0.1, 0.4, 0.25, 0.07
    cfg = pal_cfg(SIZES[depth], le=le, extra={
        "simulation": {"integrator": integrator, "dt": dt}, "noise": {"sigma": sigma},
        "plasticity": {"pal_tau_xi": tau_xi, "pal_tau_hp": tau_hp, "pal_sigma": s_xi}})
    net = random_state(cfg, rng, scale=0.5)
    x, t = rng.uniform(0, 1, SIZES[depth][0]), rng.uniform(0, 1, SIZES[depth][-1])
    seed = 5
    start = _one_step(cfg, net, x, t, seed)
    # the draws: the somatic noise's first (pyramidal somata, then interneurons), then xi's
    n_noisy = int(net.layout.lay[0].u) if sigma > 0 else 0
    n_xi = sum(SIZES[depth][1:depth])
    draws = np.zeros(n_noisy + n_xi)
    fill_normal(seed_state(np.random.SeedSequence(seed)), draws)
    n = draws[n_noisy:]
    a = dt / tau_xi
    m = 0
    for k in range(1, depth):
        nk = SIZES[depth][k]
        expected = block(start, "xi", k) * (1 - a) + s_xi * math.sqrt(2 * a) * n[m:m + nk]
        np.testing.assert_allclose(block(net, "xi", k), expected, rtol=1e-13, atol=1e-15)
        m += nk
    ref = reference_pal(cfg, start, x, t)
    b = dt / tau_hp
    for k in range(2, depth + 1):
        r_t = ref["r"][k]
        expected = block(start, "r_hp", k) + (r_t - block(start, "r_prev", k)) - b * block(start, "r_hp", k)
        np.testing.assert_allclose(block(net, "r_hp", k), expected, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(block(net, "r_prev", k), r_t, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("ratio", [1.0, 0.25])
def test_the_noise_has_the_stationary_standard_deviation_of_its_chain(ratio):
    """pal_sigma is the stationary standard deviation of the continuous Ornstein-Uhlenbeck
    process; the Euler-Maruyama chain of the engine (a = dt/tau_xi) has sigma/sqrt(1 - a/2).
    Sampled: 300 hidden neurons, every 10th step of 4000 after 400 (xi's correlation
    (1 - a)^10 <= 0.06 between samples), 108,000 samples: the standard error of the
    standard deviation is about 0.25 %; tolerance 1.5 %, while the two definitions differ by
    41 % (a = 1) and 6.9 % (a = 0.25), and the sample mean is within 5 standard errors of 0."""
    dt, sigma = 0.1, 0.2
    tau_xi = dt / ratio
    cfg = config.from_dict({
        "network": {"sizes": [1, 300, 1], "transfer": "linear"},
        "plasticity": {"down_rule": "pal", "pal_sigma": sigma, "pal_tau_xi": tau_xi, "tau_w": 0.0},
        "simulation": {"dt": dt},
        "task": {"kind": "single_pattern", "n_repeats": 1, "duration": 440.0, "input": [0.5],
                 "target": [0.0], "target_from": 2},
        "record": {"variables": ["xi"], "every": 10}})
    sim = Simulation(cfg)
    sink = MemorySink()
    sim.run(sink)
    xi = np.concatenate(sink.rows)[40:]
    assert xi.shape[1] == 300 and xi.shape[0] >= 360
    expected = sigma / math.sqrt(1 - ratio / 2)
    assert abs(xi.std() / expected - 1) < 0.015, (xi.std(), expected)
    assert abs(xi.mean()) < 5 * expected / math.sqrt(xi.size)


# -- kernels, bad input, recording, resume --------------------------------------------------

def test_pal_runs_on_the_generic_path_only():
    cfg = config.from_dict({"network": {"sizes": [4, 3, 2]}, "plasticity": {"down_rule": "pal"}})
    for kw in ({}, {"members": 16}):
        chosen = select(cfg, **kw)
        assert chosen.kernel == "generic" and "pal" in chosen.reason
    assert Simulation(cfg).kernel == "generic"


@pytest.mark.parametrize("plasticity,key", [
    ({"pal_tau_xi": -1.0}, "pal_tau_xi"), ({"pal_tau_hp": -0.1}, "pal_tau_hp"),
    ({"pal_tau_xi": 0.0}, "pal_tau_xi"), ({"pal_sigma": -0.01}, "pal_sigma"),
    ({"pal_alpha": -1e-6}, "pal_alpha"), ({"down_rule": "pal", "pal_sigma": 0.0}, "pal_sigma"),
    ({"down_rule": "pal", "pal_tau_hp": 0.05}, "pal_tau_hp"), ({"down_rule": "hebb"}, "down_rule")])
def test_bad_pal_values_are_config_errors(plasticity, key):
    with pytest.raises(config.ConfigError, match=rf"\[plasticity\] {key}"):
        config.from_dict({"network": {"sizes": [4, 3, 2]}, "plasticity": plasticity})


def test_pal_needs_top_down_weights_and_a_one_stage_integrator():
    with pytest.raises(config.ConfigError, match=r"\[plasticity\] down_rule.*hidden layer"):
        config.from_dict({"network": {"sizes": [4, 2]}, "plasticity": {"down_rule": "pal"}})
    for integ in ("heun", "rk4", "steady"):
        with pytest.raises(config.ConfigError, match=r"\[plasticity\] down_rule.*euler or expeuler"):
            config.from_dict({"network": {"sizes": [4, 3, 2]}, "plasticity": {"down_rule": "pal"},
                              "simulation": {"integrator": integ}})
    with pytest.raises(config.ConfigError, match=r"\[record\] variables"):
        config.from_dict({"record": {"variables": ["xi"]}})


def test_the_cli_refuses_bad_pal_input_and_writes_nothing(tmp_path, capsys):
    from dendrosim.cli import main
    cfg = tmp_path / "pal.toml"
    cfg.write_text('[network]\nsizes = [4, 2]\n[plasticity]\ndown_rule = "pal"\n')
    assert main(["run", str(cfg), "-o", str(tmp_path / "out.h5"), "--quiet"]) == 2
    assert "[plasticity] down_rule" in capsys.readouterr().err
    assert not (tmp_path / "out.h5").exists()


def test_the_keys_are_documented(capsys):
    from dendrosim.cli import main
    assert main(["keys", "plasticity"]) == 0
    out = capsys.readouterr().out
    for key in ("down_rule", "pal_sigma", "pal_tau_xi", "pal_tau_hp", "pal_alpha"):
        assert key in out


def test_eq10_is_unchanged_by_the_new_keys():
    """The default rule: no PAL blocks in the state, the fused kernel, eq. 10."""
    cfg = make_cfg(SIZES[2])
    assert cfg.plasticity.down_rule == "eq10"
    net = random_state(cfg, np.random.default_rng(0))
    assert net.layout.lay[1].xi == -1 and net.layout.lay[2].r_hp == -1
    assert select(cfg).kernel == "fused"


def test_xi_and_r_hp_are_recorded_and_a_resume_is_bit_identical(tmp_path):
    from dendrosim.io import HDF5Sink, load
    from dendrosim.resume import resume_simulation

    from .test_io import _compare_files, run_to_file, small_cfg
    cfg = small_cfg(n=6, every=2, sigma=0.1, variables=["u_P", "xi", "r_hp", "v_A"],
                    network={"sizes": [5, 4, 3], "latent_equilibrium": True},
                    plasticity={"down_rule": "pal", "pal_sigma": 0.05, "eta_down": 0.5})
    sim = run_to_file(cfg, tmp_path / "one.h5")
    with load(tmp_path / "one.h5") as run:
        assert run.attrs["kernel"] == "generic"
        _, xi = run.trace("layer1/xi")
        _, hp = run.trace("layer2/r_hp")
        assert xi.shape[1] == 4 and hp.shape[1] == 3 and np.all(np.isfinite(xi))
        assert 0.02 < xi.std() < 0.1 and np.abs(hp).max() > 0
    np.testing.assert_array_equal(xi[-1], block(sim.net, "xi", 1))
    sim = Simulation(cfg)
    sink = HDF5Sink(tmp_path / "two.h5", checkpoint_interval=1e9)
    sim.run(sink, until_segment=3)
    sink.close()
    sim2, sink2 = resume_simulation(tmp_path / "two.h5")
    sim2.run(sink2)
    sink2.close()
    _compare_files(tmp_path / "one.h5", tmp_path / "two.h5")
