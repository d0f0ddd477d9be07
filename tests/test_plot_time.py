"""Figures of part of a run (--time) and of discrete learners' files (trials, not ms)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from dendrosim.cli import main
from dendrosim.config import ConfigError, from_dict
from dendrosim.io import HDF5Sink, load
from dendrosim.plot import parse_window, plot_apical, plot_soma, plot_weights
from dendrosim.simulation import Simulation

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def h5(tmp_path_factory):
    cfg = from_dict({
        "network": {"sizes": [4, 5, 3]},
        "plasticity": {"eta_up": [0.02, 0.01], "eta_IP": 0.02, "eta_PI": 0.01},
        "noise": {"sigma": 0.05},
        "task": {"kind": "single_pattern", "n_repeats": 8, "duration": 25.0, "target_from": 2},
        "record": {"every": 5, "variables": ["u_P", "v_A", "target"]}})
    path = tmp_path_factory.mktemp("plot_time") / "run.h5"
    sink = HDF5Sink(path)
    Simulation(cfg).run(sink)
    sink.close()
    return path


def _lines(ax):
    return [ln for ln in ax.get_lines() if ln.get_gid()]


@pytest.mark.parametrize("plot,name", [(plot_apical, "layer1/v_A"), (plot_soma, "layer2/u_P")])
def test_a_window_draws_exactly_the_samples_inside_it(h5, plot, name):
    """Each drawn line of the window 40:120 ms is the file's trace restricted to
    40 <= t <= 120 (read independently with h5py), and the targets of the soma figure too."""
    fig = plot(h5, window="40:120")
    with h5py.File(h5) as f:
        t = f["traces/t"][()]
        keep = (t >= 40.0) & (t <= 120.0)
        v = f[f"traces/{name}"][()][keep]
        target = f["traces/layer2/target"][()][keep]
    lines = _lines(fig.axes[0])
    assert lines
    for ln in lines:
        kind, i = ln.get_gid().split("/")
        np.testing.assert_array_equal(ln.get_xdata(), t[keep])
        np.testing.assert_array_equal(ln.get_ydata(), (target if kind == "target" else v)[:, int(i)])
    assert fig.axes[0].get_xlabel() == "time (ms)"


def test_window_spec_and_errors(h5, capsys):
    assert parse_window("0:200") == (0.0, 200.0)
    assert parse_window("9800:") == (9800.0, np.inf) and parse_window(":5") == (-np.inf, 5.0)
    for bad in ("abc", "5", "200:100"):
        with pytest.raises(ConfigError, match=r"\[plot\] time"):
            parse_window(bad)
    assert main(["plot", str(h5), "--what", "apical", "--time", "5000:6000"]) == 2
    assert "no samples" in capsys.readouterr().err
    assert main(["plot", str(h5), "--what", "soma", "--time", "0:60", "-o", str(h5.with_suffix(".png"))]) == 0
    assert main(["plot", str(h5)]) == 0 and h5.with_name(f"{h5.stem}_apical.png").exists()   # the default


def test_a_learner_file_is_plotted_in_trials_without_unused_interneurons(tmp_path, capsys):
    """fa (no interneurons in the rule): weights against trials presented, no IP/PI lines, the
    norms equal the file's, and asking for traces says what the file has instead."""
    out = tmp_path / "fa.h5"
    assert main(["run", str(MODELS / "konishi2023" / "fa.toml"), "-o", str(out), "--set", "task.n_trials=200",
                 "--quiet"]) == 0
    capsys.readouterr()
    with load(out) as run:
        assert run.is_learner and run.time_unit == "trial"
        fig = plot_weights(run)
        ax = fig.axes[0]
        drawn = {ln.get_gid().split("/")[1]: ln for ln in _lines(ax)}
        assert set(drawn) == {"up1", "up2", "down1"} and ax.get_xlabel() == "trials presented"
        t, W = run.weight("up1")
        np.testing.assert_allclose(drawn["up1"].get_ydata(), np.sqrt((W.reshape(len(t), -1) ** 2).sum(1)))
    assert main(["plot", str(out), "--what", "apical"]) == 2
    assert "discrete learner's file has no traces" in capsys.readouterr().err
    # without --what a learner's file gets its learning curve: the file's loss against trials
    assert main(["plot", str(out)]) == 0
    png = out.with_name("fa_loss.png")
    assert png.exists() and not out.with_name("fa_apical.png").exists()
