"""Ensembles give, seed by seed, exactly what separate runs give."""

import numpy as np
import pytest

from dendrosim import config
from dendrosim.ensemble import Ensemble
from dendrosim.simulation import MemorySink, Simulation


def _same_metrics(es, ss, rtol=0.0):
    """Every per-pattern metric of the ensemble member's sink equals the single run's."""
    assert len(es.metrics_list) == len(ss.metrics_list) > 1
    for me, ms in zip(es.metrics_list, ss.metrics_list):
        assert me.keys() == ms.keys()
        for k in ms:
            if k == "pattern":
                assert me[k] == ms[k]
            else:
                np.testing.assert_allclose(me[k], ms[k], rtol=rtol, atol=rtol * 1e-2)


def _cfg(integrator="euler", mode="sample"):
    return config.from_dict({
        "network": {"sizes": [6, 5, 3]},
        "plasticity": {"eta_up": [0.01, 0.01], "eta_IP": 0.02, "eta_PI": 0.02},
        "noise": {"sigma": 0.2},
        "init": {"scale": 2.0},
        "simulation": {"integrator": integrator},
        "task": {"kind": "single_pattern", "n_repeats": 3, "duration": 4.0, "target_from": 1},
        "record": {"variables": ["u_P", "v_A", "u_I"], "every": 3, "mode": mode, "block": 7,
                   "weights_every": 25},
    })


@pytest.mark.parametrize("integrator,mode", [("euler", "sample"), ("euler", "mean"), ("heun", "sample")])
def test_ensemble_equals_separate_runs(integrator, mode):
    cfg = _cfg(integrator, mode)
    seeds = [3, 11, 12, 40]
    ens = Ensemble(cfg, seeds)
    sinks = [MemorySink() for _ in seeds]
    ens.run(sinks)
    same = np.testing.assert_array_equal
    for seed, es in zip(seeds, sinks):
        sim = Simulation(config.from_dict({**cfg.to_dict(), "init": {**cfg.to_dict()["init"], "seed": seed}}))
        ss = MemorySink()
        sim.run(ss)
        np.testing.assert_array_equal(np.concatenate(es.t), np.concatenate(ss.t))
        same(np.concatenate(es.rows), np.concatenate(ss.rows))
        assert es.weights_t == ss.weights_t
        for we, ws in zip(es.weights_list, ss.weights_list):
            for k in ws:
                same(we[k], ws[k])
        _same_metrics(es, ss)
        assert es.final_status == "completed"
    # members really differ
    assert not np.array_equal(sinks[0].weights_list[-1]["up1"], sinks[1].weights_list[-1]["up1"])


def test_cli_seeds_writes_one_file_per_seed_equal_to_single_runs(tmp_path):
    from dendrosim import load
    from dendrosim.cli import main
    cfgf = tmp_path / "c.toml"
    cfgf.write_text(_cfg().to_toml())
    assert main(["run", str(cfgf), "-o", str(tmp_path / "ens.h5"), "--seeds", "0:3", "--quiet"]) == 0
    for s in range(3):
        assert main(["run", str(cfgf), "-o", str(tmp_path / f"one{s}.h5"), "--set", f"init.seed={s}",
                     "--quiet"]) == 0
        a, b = load(tmp_path / f"ens_seed{s}.h5"), load(tmp_path / f"one{s}.h5")
        for name in ("layer1/u_P", "layer1/v_A", "layer2/u_P"):
            np.testing.assert_array_equal(a.trace(name)[1], b.trace(name)[1])
        np.testing.assert_array_equal(a.weight("up1")[1], b.weight("up1")[1])
        assert a.status == "completed"
    assert main(["run", str(cfgf), "--seeds", "x:y", "--quiet"]) == 2


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ensemble_with_every_switch(dtype):
    """Ensemble = separate runs, bit for bit, with biases, tau_w traces, plastic top-down,
    input filter, conductance nudging, the Euler-Maruyama noise convention and two transfer
    functions across a depth-3 net, 17 members."""
    cfg = config.from_dict({
        "network": {"sizes": [5, 6, 4, 3], "transfer": ["soft_relu", "logistic", "soft_relu"], "bias": True,
                    "tau_in": 3.0},
        "conductances": {"nudging": "conductance"},
        "plasticity": {"eta_up": [0.02, 0.01, 0.01], "eta_IP": [0.02, 0.02], "eta_PI": [0.01, 0.01],
                       "eta_down": [0.005, 0.005], "tau_w": 5.0},
        "noise": {"sigma": 0.3, "convention": "euler_maruyama"},
        "init": {"scale": 1.5},
        "simulation": {"dtype": dtype},
        "task": {"kind": "single_pattern", "n_repeats": 2, "duration": 6.0, "target_from": 1},
        "record": {"variables": ["u_P", "v_A", "u_I", "v_B", "r"], "every": 2, "block": 25},
    })
    seeds = list(range(17))
    ens = Ensemble(cfg, seeds)
    sinks = [MemorySink() for _ in seeds]
    ens.run(sinks)
    for seed in (0, 8, 9, 16):
        sim = Simulation(config.from_dict({**cfg.to_dict(), "init": {**cfg.to_dict()["init"], "seed": seed}}))
        ss = MemorySink()
        sim.run(ss)
        np.testing.assert_array_equal(np.concatenate(sinks[seed].rows), np.concatenate(ss.rows))
        for k, w in ss.weights_list[-1].items():
            assert sinks[seed].weights_list[-1][k].dtype == np.dtype(dtype)
            np.testing.assert_array_equal(sinks[seed].weights_list[-1][k], w)


def test_a_diverging_member_is_reported_as_in_a_single_run():
    """dt far above the stability bound: the ensemble stops with the same
    divergence (time and layer in the message) as the single run of that seed."""
    from dendrosim.simulation import Diverged
    cfg = config.from_dict({"network": {"sizes": [5, 4, 3]}, "simulation": {"dt": 2.5, "check_stability": False},
                            "task": {"kind": "self_predicting", "n_patterns": 50, "duration": 100.0}})
    ens = Ensemble(cfg, [0])
    sinks = [MemorySink()]
    with pytest.raises(Diverged) as in_ensemble:
        ens.run(sinks)
    with pytest.raises(Diverged) as alone:
        Simulation(config.from_dict({**cfg.to_dict(), "init": {**cfg.to_dict()["init"], "seed": 0}})).run(MemorySink())
    assert str(in_ensemble.value) == str(alone.value)
    assert sinks[0].final_status == "diverged"


def _lanes_cfg(mode="sample", transfer="soft_relu", scale=1.5):
    return config.from_dict({
        "network": {"sizes": [5, 6, 4, 3], "transfer": transfer, "bias": True, "tau_in": 3.0},
        "conductances": {"nudging": "conductance"},
        "plasticity": {"eta_up": [0.02, 0.01, 0.01], "eta_IP": [0.02, 0.02], "eta_PI": [0.01, 0.01],
                       "tau_w": 5.0, "lag": 1.0},
        "noise": {"sigma": 0.3, "convention": "euler_maruyama"},
        "init": {"scale": scale},
        "task": {"kind": "single_pattern", "n_repeats": 3, "duration": 6.0, "target_from": 1},
        "record": {"variables": ["u_P", "v_A", "u_I", "v_B", "r"], "every": 2, "block": 25, "mode": mode,
                   "weights_every": 20},
    })


def _single(cfg, seed):
    sim = Simulation(config.from_dict({**cfg.to_dict(), "init": {**cfg.to_dict()["init"], "seed": seed}}))
    sink = MemorySink()
    sim.run(sink)
    return sink


@pytest.mark.parametrize("mode", ["sample", "mean"])
def test_simd_lanes_equal_separate_runs_to_rounding(mode):
    """Eight members per SIMD group (engine/lanes.py) plus two one by one: every recorded
    trace and weight snapshot equals the member's single run to 1e-12 (only the order of
    each dendritic sum differs), with biases, tau_w traces, input filter, a plasticity lag,
    conductance nudging and Euler-Maruyama noise."""
    cfg = _lanes_cfg(mode)
    seeds = list(range(10))
    ens = Ensemble(cfg, seeds)
    assert ens.n_groups == 1                       # the SIMD kernel really runs members 0-7
    sinks = [MemorySink() for _ in seeds]
    ens.run(sinks)
    for seed in (0, 5, 7, 9):
        ss = _single(cfg, seed)
        es = sinks[seed]
        np.testing.assert_array_equal(np.concatenate(es.t), np.concatenate(ss.t))
        np.testing.assert_allclose(np.concatenate(es.rows), np.concatenate(ss.rows), rtol=1e-12, atol=1e-12)
        assert es.weights_t == ss.weights_t and len(ss.weights_t) > 2
        for we, ws in zip(es.weights_list, ss.weights_list):
            for k in ws:
                np.testing.assert_allclose(we[k], ws[k], rtol=1e-12, atol=1e-12)
        _same_metrics(es, ss, rtol=1e-10)
    # the lanes are independent members, not copies of one
    assert not np.allclose(sinks[0].weights_list[-1]["up1"], sinks[1].weights_list[-1]["up1"])


@pytest.mark.parametrize("transfer", ["logistic", "relu", "linear"])
def test_simd_lanes_equal_separate_runs_for_every_transfer_function(transfer):
    """The lane kernel's transfer-function loops (one per transfer code) against single runs:
    the potentials and weights of two members of a group of eight, to 1e-12."""
    cfg = _lanes_cfg(transfer=transfer, scale=0.5 if transfer == "linear" else 1.5)   # linear: no blow-up
    ens = Ensemble(cfg, range(8))
    assert ens.n_groups == 1
    sinks = [MemorySink() for _ in range(8)]
    ens.run(sinks)
    for seed in (2, 6):
        ss, es = _single(cfg, seed), sinks[seed]
        np.testing.assert_allclose(np.concatenate(es.rows), np.concatenate(ss.rows), rtol=1e-12, atol=1e-12)
        for we, ws in zip(es.weights_list, ss.weights_list):
            for k in ws:
                np.testing.assert_allclose(we[k], ws[k], rtol=1e-12, atol=1e-12)
        _same_metrics(es, ss, rtol=1e-10)


def test_simd_lanes_are_used_only_where_they_apply():
    cfg = _lanes_cfg()
    assert Ensemble(cfg, range(16)).n_groups == 2
    assert Ensemble(cfg, range(7)).n_groups == 0                                # fewer members than lanes
    assert Ensemble(cfg, range(8), lanes=False).n_groups == 0
    d = cfg.to_dict()
    assert Ensemble(config.from_dict({**d, "simulation": {"dtype": "float32"}}), range(8)).n_groups == 0
    assert Ensemble(config.from_dict({**d, "simulation": {"integrator": "heun"}}), range(8)).n_groups == 0
    mixed = {**d, "network": {**d["network"], "transfer": ["soft_relu", "logistic", "soft_relu"]}}
    assert Ensemble(config.from_dict(mixed), range(8)).n_groups == 0
    down = {**d, "plasticity": {**d["plasticity"], "eta_down": [0.01, 0.01]}}
    assert Ensemble(config.from_dict(down), range(8)).n_groups == 0


def test_a_diverging_member_of_a_simd_group_stops_as_in_its_single_run():
    """Member 3 of a SIMD group starts with a non-finite potential: the group goes back to
    its saved noise streams, runs member by member, and member 3 reports the divergence of
    its single run while the others record what their single runs record."""
    from dendrosim.simulation import Diverged
    cfg = _lanes_cfg()
    ens = Ensemble(cfg, range(8))
    assert ens.n_groups == 1
    ens.Y[3, 0] = np.inf
    sinks = [MemorySink() for _ in range(8)]
    with pytest.raises(Diverged) as in_ensemble:
        ens.run(sinks)
    bad = Simulation(config.from_dict({**cfg.to_dict(), "init": {**cfg.to_dict()["init"], "seed": 3}}))
    bad.net.y[0] = np.inf
    with pytest.raises(Diverged) as alone:
        bad.run(MemorySink())
    assert str(in_ensemble.value) == str(alone.value)
    assert sinks[3].final_status == "diverged"
    for m in (0, 2):
        rows = np.concatenate(sinks[m].rows)
        assert len(rows) > 0
        np.testing.assert_array_equal(rows, np.concatenate(_single(cfg, m).rows)[:len(rows)])
