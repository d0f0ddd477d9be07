"""The bars and Yin-Yang classification tasks: data against their definitions, bad keys, and
both engines learning them."""

from __future__ import annotations

import numpy as np
import pytest

from dendrosim import config
from dendrosim.cli import main as cli_main
from dendrosim.config import ConfigError
from dendrosim.learners.runner import run as run_learner
from dendrosim.simulation import MemorySink, Simulation
from dendrosim.tasks import make_task
from dendrosim.tasks.bars import bars_patterns
from dendrosim.tasks.classify import steady_error_rate
from dendrosim.tasks.yinyang import yin_yang_label, yin_yang_set


# -- bars ---------------------------------------------------------------------------------
def test_bars_are_the_eight_bars_of_a_3x3_grid():
    X, y = bars_patterns()
    assert X.shape == (8, 9) and list(np.bincount(y)) == [3, 3, 2]
    assert len({tuple(r) for r in X}) == 8                       # all distinct
    for x, label in zip(X, y):
        g = x.reshape(3, 3)
        assert set(np.unique(g)) == {0.0, 1.0} and g.sum() == 3
        rows, cols = g.sum(axis=1), g.sum(axis=0)
        if label == 0:
            assert sorted(rows) == [0, 0, 3]                      # one full row
        elif label == 1:
            assert sorted(cols) == [0, 0, 3]                      # one full column
        else:
            assert np.array_equal(g, np.eye(3)) or np.array_equal(g, np.fliplr(np.eye(3)))


# -- Yin-Yang geometry --------------------------------------------------------------------
def _disk_points(n, seed):
    p = np.random.default_rng(seed).uniform(0, 1, (n, 2))
    return p[np.hypot(p[:, 0] - 0.5, p[:, 1] - 0.5) <= 0.5]


def test_yin_yang_labels_at_points_read_off_the_symbol():
    pts = {(0.75, 0.5): 2, (0.25, 0.5): 2,       # centres of the dots
           (0.5, 0.9): 1, (0.5, 0.1): 0,         # top and bottom of the disk
           (0.25, 0.3): 1,                       # lower half, inside the left head: yang
           (0.75, 0.7): 0}                       # upper half, inside the right head: yin
    for (x, y), lab in pts.items():
        assert yin_yang_label(x, y) == lab, (x, y)


def test_yin_yang_point_reflection_swaps_the_two_halves():
    p = _disk_points(20000, 1)
    a = yin_yang_label(p[:, 0], p[:, 1])
    b = yin_yang_label(1 - p[:, 0], 1 - p[:, 1])
    assert np.array_equal(b, np.array([1, 0, 2])[a])


def test_yin_yang_areas():
    # dots: 2 pi r^2 / (pi R^2) = 0.08 of the disk; the two halves share the rest equally
    p = _disk_points(400000, 2)
    frac = np.bincount(yin_yang_label(p[:, 0], p[:, 1]), minlength=3) / p.shape[0]
    assert abs(frac[2] - 0.08) < 0.003
    assert abs(frac[0] - 0.46) < 0.004 and abs(frac[1] - 0.46) < 0.004


def test_yin_yang_set_is_balanced_reproducible_and_consistent():
    X, y = yin_yang_set(3000, 42)
    assert X.shape == (3000, 4)
    assert np.allclose(X[:, 2], 1 - X[:, 0]) and np.allclose(X[:, 3], 1 - X[:, 1])
    assert np.all(np.hypot(X[:, 0] - 0.5, X[:, 1] - 0.5) <= 0.5)
    assert np.array_equal(yin_yang_label(X[:, 0], X[:, 1]), y)
    assert np.all(np.abs(np.bincount(y) / 3000 - 1 / 3) < 0.03)
    X2, y2 = yin_yang_set(3000, 42)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X3, _ = yin_yang_set(3000, 41)
    assert not np.allclose(X, X3)


def test_yin_yang_sets_use_their_own_seeds_and_sizes():
    t = make_task({"kind": "yin_yang", "n_train": 50, "n_validation": 20, "n_test": 30, "test_set": "validation"},
                  (4, 10, 3), 0.1, np.random.default_rng(0))
    assert t.X.shape == (50, 4) and t.X_test.shape == (20, 4) and len(t) == 50
    assert np.array_equal(t.X, yin_yang_set(50, 42)[0]) and np.array_equal(t.X_test, yin_yang_set(20, 41)[0])
    T = t.targets(t.labels)
    assert np.all(T[np.arange(50), t.labels] == 1.0) and np.sum(T == 0.1) == 100


@pytest.mark.parametrize("opts, key", [
    ({"n_train": 0}, "task.n_train"),
    ({"n_test": -3}, "task.n_test"),
    ({"seed_test": -1}, "task.seed_test"),
    ({"test_set": "holdout"}, "task.test_set"),
    ({"colour": 1}, "task.colour"),
    ({"duration": 0.05}, "task.duration"),
])
def test_yin_yang_bad_keys_name_the_key(opts, key):
    with pytest.raises(ConfigError) as e:
        make_task({"kind": "yin_yang", **opts}, (4, 10, 3), 0.1, np.random.default_rng(0))
    assert e.value.key == key


def test_wrong_network_size_names_sizes():
    with pytest.raises(ConfigError) as e:
        make_task({"kind": "bars"}, (4, 10, 3), 0.1, np.random.default_rng(0))
    assert e.value.key == "network.sizes"


def test_cli_bad_task_key_exits_2_and_writes_nothing(tmp_path):
    cfg = tmp_path / "yy.toml"
    cfg.write_text('[network]\nsizes = [4, 10, 3]\n[task]\nkind = "yin_yang"\nn_train = 0\n')
    out = tmp_path / "yy.h5"
    assert cli_main(["run", str(cfg), "-o", str(out), "--quiet"]) == 2
    assert not out.exists()


# -- learning ------------------------------------------------------------------------------
def _learner_cfg(task, sizes, transfer=("logistic", "linear"), scale=0.5, **learner):
    return config.from_dict({
        "network": {"sizes": sizes, "transfer": list(transfer), "bias": True, "tau_in": 0.0},
        "conductances": {"g_l": 0.0, "g_A": 0.0, "g_som": 0.0},
        "plasticity": {"tau_w": 0.0},
        "simulation": {"integrator": "steady"},
        "init": {"seed": 3, "scale": scale},
        "task": task,
        "learner": {"rule": "bp", "batch_size": 8, "test_every": 10, "bias_scale": 0.1, **learner},
    })


def test_bp_learns_bars_and_reports_accuracy():
    res = run_learner(_learner_cfg({"kind": "bars", "epochs": 1000, "shuffle": False}, [9, 20, 3], eta=0.5))
    acc = res.metrics["test_correct"]
    acc = acc[~np.isnan(acc)]                                    # evaluated every 10 updates
    assert acc[0] < 1.0 and np.all(acc[-10:] == 1.0)


def test_yin_yang_needs_the_hidden_layer():
    # the data set's reference: a shallow network reaches 64 %, a 4-120-3 ANN 98.7 %. Plain SGD on
    # 1,000 samples takes a 4-30-3 net well past the shallow one; a linear read-out of the four
    # inputs, trained alike, stays near the shallow figure
    task = {"kind": "yin_yang", "n_train": 1000, "n_test": 500, "epochs": 100}
    deep = run_learner(_learner_cfg(task, [4, 30, 3], scale=2.0, eta=0.3, batch_size=10, test_every=1000))
    shallow = run_learner(_learner_cfg(task, [4, 3], transfer=("linear",), scale=2.0, eta=0.3, batch_size=10,
                                       test_every=1000))
    a, b = deep.metrics["test_correct"][-1], shallow.metrics["test_correct"][-1]
    assert a > 0.75 and b < 0.7, (a, b)


def test_continuous_engine_reports_steady_state_accuracy():
    cfg = config.from_dict({
        "network": {"sizes": [4, 6, 3]},
        "init": {"seed": 2},
        "task": {"kind": "yin_yang", "n_train": 12, "n_test": 40, "duration": 2.0, "eval_every": 5},
    })
    sim = Simulation(cfg)
    sink = MemorySink()
    sim.run(sink)
    acc, err = sink.metric("test_accuracy"), sink.metric("test_error")
    done = ~np.isnan(acc)
    assert list(np.flatnonzero(done)) == [0, 4, 9, 11]            # first, every 5th, last
    assert np.allclose(acc[done] + err[done], 1.0)
    t = sim.task
    assert err[-1] == pytest.approx(steady_error_rate(sim.net, cfg, t.X_test, t.labels_test))
