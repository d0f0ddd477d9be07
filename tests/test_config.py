"""Configuration: every bad value is an error naming its key; the CLI exits 2 and writes nothing."""

import tomllib

import pytest

from dendrosim import config
from dendrosim.cli import main
from dendrosim.simulation import Simulation

BASE = """
[network]
sizes = [4, 3, 2]
[task]
kind = "self_predicting"
n_patterns = 1
duration = 1.0
"""

BAD = [
    # (override, key named in the message)
    ("network.size=[3, 2]", "[network] size"),
    ("bogus.key=1", "[bogus]"),
    ("network.sizes=[4]", "[network] sizes"),
    ("network.sizes=[4, 0, 2]", "[network] sizes"),
    ("network.sizes=\"30-20-10\"", "[network] sizes"),
    ("network.transfer=[\"logistic\"]", "[network] transfer"),
    ("network.transfer=\"tanh\"", "[network] transfer"),
    ("network.tau_in=-1.0", "[network] tau_in"),
    ("simulation.dt=0.0", "[simulation] dt"),
    ("simulation.dt=-0.1", "[simulation] dt"),
    ("simulation.dt=\"fast\"", "[simulation] dt"),
    ("simulation.dt=1.2", "[simulation] dt"),            # above the Euler bound 2/1.9 ms
    ("simulation.integrator=\"rk45\"", "[simulation] integrator"),
    ("simulation.dtype=\"float16\"", "[simulation] dtype"),
    ("plasticity.tau_w=-3.0", "[plasticity] tau_w"),
    ("plasticity.eta_up=[0.1]", "[plasticity] eta_up"),
    ("plasticity.eta_IP=[0.1, 0.2]", "[plasticity] eta_IP"),
    ("plasticity.eta_PI=true", "[plasticity] eta_PI"),
    ("conductances.g_B=0.0", "[conductances] g_B"),
    ("conductances.g_l=-0.1", "[conductances] g_l"),
    ("conductances.nudging=\"voltage\"", "[conductances] nudging"),
    ("noise.sigma=-1.0", "[noise] sigma"),
    ("noise.convention=\"ito\"", "[noise] convention"),
    ("init.distribution=\"cauchy\"", "[init] distribution"),
    ("init.seed=1.5", "[init] seed"),
    ("init.hidden_bias=-2.0", "[init] hidden_bias"),        # the default network has no biases
    ("init.hidden_bias=\"low\"", "[init] hidden_bias"),
    ("record.every=0", "[record] every"),
    ("record.variables=[\"u_X\"]", "[record] variables"),
    ("record.layers=[7]", "[record] layers"),
    ("task.kind=\"nope\"", "[task] kind"),
    ("task.n_patterns=0", "[task] n_patterns"),
    ("task.duration=0.15", "[task] duration"),             # not a whole number of 0.1 ms steps
    ("task.colour=1", "[task] colour"),
]


@pytest.mark.parametrize("override,key", BAD)
def test_bad_value_names_key(tmp_path, override, key, capsys):
    path = tmp_path / "c.toml"
    path.write_text(BASE)
    out = tmp_path / "out.h5"
    code = main(["run", str(path), "-o", str(out), "--set", override, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert key in err, err
    assert not out.exists()


def test_errors_are_raised_by_the_loader_too():
    with pytest.raises(config.ConfigError, match=r"\[simulation\] dt"):
        config.from_dict({"simulation": {"dt": 5.0}})
    with pytest.raises(config.ConfigError, match="stability bound"):
        config.from_dict({"simulation": {"dt": 1.1}})
    # expeuler has no such bound; the switch turns the check off
    config.from_dict({"simulation": {"dt": 5.0, "integrator": "expeuler"}})
    config.from_dict({"simulation": {"dt": 1.5, "check_stability": False}})


def test_stability_bound_follows_the_conductances():
    cfg = config.from_dict({})
    assert config.stability_bound(cfg) == pytest.approx(2 / 1.9)
    cfg = config.from_dict({"conductances": {"g_A": 0.08, "g_som": 0.08}, "network": {"tau_in": 0.0},
                            "plasticity": {"tau_w": 0.0}})
    assert config.stability_bound(cfg) == pytest.approx(2 / 1.18)


def test_missing_and_invalid_files(tmp_path, capsys):
    assert main(["run", str(tmp_path / "none.toml"), "--quiet"]) == 2
    assert "no such config file" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[network\nsizes = 3")
    assert main(["run", str(bad), "--quiet"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_overrides_and_round_trip():
    cfg = config.from_dict({}, ["network.sizes=[5, 4, 3]", "plasticity.eta_up=0.5", "task.kind=\"single_pattern\"",
                                "record.path=out/run.h5"])
    assert cfg.network.sizes == (5, 4, 3)
    assert cfg.plasticity.eta_up == (0.5, 0.5)          # scalars broadcast to every layer
    assert cfg.record.path == "out/run.h5"              # bare strings are accepted
    again = config.from_dict(tomllib.loads(cfg.to_toml()))
    assert again.to_toml() == cfg.to_toml()


def test_config_is_immutable():
    cfg = config.from_dict({})
    with pytest.raises(Exception):
        cfg.simulation.dt = 1.0


def test_steady_integrator_needs_a_learner():
    cfg = config.from_dict({"simulation": {"integrator": "steady"}})
    with pytest.raises(config.ConfigError, match=r"\[simulation\] integrator"):
        Simulation(cfg)
