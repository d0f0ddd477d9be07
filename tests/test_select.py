"""Kernel selection (engine.select): the documented choice is the kernel that runs, and the
output file and ``dendrosim info`` name it."""

import h5py
import pytest

from dendrosim import config
from dendrosim.engine.fused import run_block_euler
from dendrosim.engine.loop import run_block
from dendrosim.engine.select import KERNEL_NAMES, select
from dendrosim.engine.simd import LANES
from dendrosim.ensemble import Ensemble
from dendrosim.io import HDF5Sink, info
from dendrosim.learners import run_learner
from dendrosim.simulation import Simulation


def _cfg(integrator="euler", eta_down=0.0, dtype="float64", transfer="soft_relu"):
    return config.from_dict({
        "network": {"sizes": [4, 3, 2], "transfer": transfer},
        "plasticity": {"eta_up": [0.01, 0.01], "eta_IP": 0.02, "eta_PI": 0.02, "eta_down": eta_down},
        "noise": {"sigma": 0.1},
        "simulation": {"integrator": integrator, "dtype": dtype},
        "task": {"kind": "single_pattern", "n_repeats": 2, "duration": 1.0, "target_from": 1},
        "record": {"variables": ["u_P"]},
    })


def _run_to_file(sim, path):
    sink = HDF5Sink(path)
    sim.run(sink)
    sink.close()
    with h5py.File(path, "r") as f:
        return f.attrs["kernel"]


def test_forward_euler_runs_the_fused_kernel_and_the_file_says_so(tmp_path):
    sim = Simulation(_cfg())
    assert sim.kernel == "fused" and sim._kernel is run_block_euler
    out = tmp_path / "fused.h5"
    assert _run_to_file(sim, out) == "fused"
    assert "kernel    fused" in info(out).splitlines()


@pytest.mark.parametrize("integrator", ["heun", "rk4", "expeuler"])
def test_other_integrators_run_the_generic_path(tmp_path, integrator):
    sim = Simulation(_cfg(integrator))
    assert sim.kernel == "generic" and sim._kernel is run_block
    assert integrator in sim.kernel_reason
    assert _run_to_file(sim, tmp_path / "g.h5") == "generic"


def test_fused_false_asks_for_the_generic_path(tmp_path):
    sim = Simulation(_cfg(), fused=False)
    assert sim.kernel == "generic" and sim._kernel is run_block
    assert _run_to_file(sim, tmp_path / "g.h5") == "generic"


def test_ensemble_runs_full_lane_groups_in_lanes_and_the_rest_fused(tmp_path):
    seeds = range(LANES + 1)
    ens = Ensemble(_cfg(), seeds)
    assert ens.kernel == "lanes" and ens.n_groups == 1
    assert "the other 1 in the fused kernel" in ens.kernel_reason
    sinks = [HDF5Sink(tmp_path / f"m{s}.h5") for s in seeds]
    ens.run(sinks)
    for s in sinks:
        s.close()
    kinds = []
    for s in seeds:
        with h5py.File(tmp_path / f"m{s}.h5", "r") as f:
            kinds.append(f.attrs["kernel"])
    assert kinds == ["lanes"] * LANES + ["fused"]


@pytest.mark.parametrize("change,why", [({"eta_down": 0.01}, "plastic top-down"),
                                        ({"dtype": "float32"}, "float64 only"),
                                        ({"transfer": ["soft_relu", "linear"]}, "transfer function per layer")])
def test_ensemble_outside_the_lanes_table_runs_member_by_member(change, why):
    cfg = _cfg(**change)
    choice = select(cfg, members=LANES)
    assert choice.kernel == "fused" and why in choice.reason
    ens = Ensemble(cfg, range(LANES))
    assert ens.kernel == "fused" and ens.n_groups == 0
    assert {m.kernel for m in ens.members} == {"fused"}


def test_small_ensembles_and_generic_ensembles():
    assert select(_cfg(), members=LANES - 1).kernel == "fused"
    assert select(_cfg(), members=LANES, lanes=False).kernel == "fused"
    assert select(_cfg("heun"), members=2 * LANES).kernel == "generic"
    assert select(_cfg(), members=2 * LANES, fused=False).kernel == "generic"
    assert select(_cfg(), members=2 * LANES).reason.startswith(f"an ensemble of {2 * LANES} members")


def test_learner_configs_select_steady_and_every_choice_is_in_the_table(tmp_path):
    learner = config.from_dict({**_cfg().to_dict(), "simulation": {"integrator": "steady"},
                                "plasticity": {"eta_up": [0.1, 0.1], "eta_IP": 0.1, "tau_w": 0.0}})
    assert select(learner).kernel == "steady"
    bp = config.from_dict({"network": {"sizes": [5, 4, 1], "transfer": ["relu", "linear"], "bias": True},
                           "task": {"kind": "reward", "n_trials": 4, "n_distractors": 3}, "learner": {"rule": "bp"}})
    assert run_learner(bp, tmp_path / "bp.h5", quiet=True) == 0
    with h5py.File(tmp_path / "bp.h5", "r") as f:
        assert f.attrs["kernel"] == "steady" and f.attrs["learner"] == "bp"
    with pytest.raises(config.ConfigError):
        Simulation(learner)
    for cfg, kw in [(_cfg(), {}), (_cfg("rk4"), {}), (_cfg(), {"members": LANES}), (learner, {})]:
        assert select(cfg, **kw).kernel in KERNEL_NAMES


def test_pal_runs_the_generic_path_with_a_reason():
    """down_rule = "pal" is routed around the fused and lanes kernels (their schedules have no
    apical noise or high-pass filter), for single runs and ensembles alike."""
    cfg = config.from_dict({**_cfg().to_dict(), "plasticity": {"down_rule": "pal", "eta_down": 0.01}})
    for kw in ({}, {"members": LANES}, {"members": 2 * LANES, "lanes": False}):
        chosen = select(cfg, **kw)
        assert chosen.kernel == "generic" and '"pal"' in chosen.reason
    sim = Simulation(cfg)
    assert sim.kernel == "generic" and sim._kernel is run_block
    ens = Ensemble(cfg, range(LANES))
    assert ens.kernel == "generic" and {m.kernel for m in ens.members} == {"generic"}
