"""Configuration: every bad value is an error naming its key; the CLI exits 2 and writes nothing."""

import dataclasses
import pickle
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
    """No part of a Config can be changed in place: attribute assignment on the Config and on
    every section raises FrozenInstanceError; item assignment, deletion and list changes inside
    [task] and [learner] (nested tables too) raise TypeError. That also holds for the config a
    Simulation keeps (rebuilt with dataclasses.replace), after pickling (sweeps, process pools),
    and for the dicts the Config was built from, which it must not share."""
    raw = {"network": {"sizes": [4, 3, 2]},
           "task": {"kind": "single_pattern", "duration": 2.0, "input": [0.1, 0.2, 0.3, 0.4]},
           "learner": {"eta": [0.1, 0.2], "extra": {"a": [1]}}}
    cfg = config.from_dict(raw)
    text = cfg.to_toml()
    raw["task"]["duration"] = 99.0                       # the caller's dicts are not shared
    raw["task"]["input"].append(0.5)
    raw["learner"]["extra"]["a"].append(2)
    assert cfg.to_toml() == text
    sim_cfg = Simulation(config.from_dict({"network": {"sizes": [4, 3, 2]},
                                           "task": {"kind": "single_pattern", "duration": 2.0}})).cfg
    for c in (cfg, pickle.loads(pickle.dumps(cfg)), sim_cfg):
        with pytest.raises(dataclasses.FrozenInstanceError):
            c.task = {}
        for f in dataclasses.fields(c):
            section = getattr(c, f.name)
            if dataclasses.is_dataclass(section):
                with pytest.raises(dataclasses.FrozenInstanceError):
                    setattr(section, dataclasses.fields(section)[0].name, 1)
        before = c.to_toml()
        for sec in (c.task, c.learner):
            with pytest.raises(TypeError):
                sec["duration"] = 5
            with pytest.raises(TypeError):
                del sec[next(iter(sec), "kind")]
            with pytest.raises((TypeError, AttributeError)):
                sec.update(duration=5)
            with pytest.raises((TypeError, AttributeError)):
                sec.setdefault("new", 1)
        with pytest.raises(TypeError):
            c.task["input"].append(1.0)
        with pytest.raises(TypeError):
            c.task["input"][0:0] = [1.0]
        assert c.task["duration"] == 2.0
        assert c.to_toml() == before
    for c in (cfg, pickle.loads(pickle.dumps(cfg))):
        with pytest.raises(TypeError):
            c.learner["extra"]["a"] = 1
        with pytest.raises(TypeError):
            c.learner["extra"]["a"] += [2]
        assert c.to_toml() == text


def test_config_copies_are_plain_and_changeable():
    """What the code builds new configs from is an ordinary, independent copy: to_dict() gives
    plain dicts and lists, dict(cfg.task) / {**cfg.task} are dicts, and changing them (then
    from_dict) makes a new config without touching the old one."""
    cfg = config.from_dict({"task": {"kind": "single_pattern", "duration": 2.0, "input": [0.1, 0.2]},
                            "learner": {"eta": [0.1, 0.2]}, "network": {"sizes": [2, 3, 2]}})
    d = cfg.to_dict()
    assert type(d["task"]) is dict and type(d["task"]["input"]) is list and type(d["learner"]["eta"]) is list
    d["task"]["duration"] = 4.0
    d["task"]["input"].append(0.3)
    assert type(dict(cfg.task)) is dict and {**cfg.task, "duration": 3.0}["duration"] == 3.0
    new = config.from_dict({**d, "learner": {**cfg.learner, "anneal": 0.5}})
    assert new.task["duration"] == 4.0 and list(new.task["input"]) == [0.1, 0.2, 0.3]
    assert new.learner["anneal"] == 0.5 and new.learner["eta"] == [0.1, 0.2]
    assert cfg.task["duration"] == 2.0 and list(cfg.task["input"]) == [0.1, 0.2] and "anneal" not in cfg.learner
    assert config.from_dict(tomllib.loads(cfg.to_toml())).to_toml() == cfg.to_toml()
    assert pickle.loads(pickle.dumps(cfg)).to_toml() == cfg.to_toml()


def test_steady_integrator_needs_a_learner():
    cfg = config.from_dict({"simulation": {"integrator": "steady"}})
    with pytest.raises(config.ConfigError, match=r"\[simulation\] integrator"):
        Simulation(cfg)
