"""Figures: every --what draws a PNG; the apical figure shows exactly the file's data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.collections import LineCollection

from dendrosim.config import ConfigError, from_dict
from dendrosim.io import HDF5Sink, load
from dendrosim.plot import (WHATS, alignment_angle, parse_neurons, plot_apical, plot_file,
                            plot_mismatch, plot_soma, plot_weights)
from dendrosim.simulation import Simulation


@pytest.fixture(scope="module")
def h5(tmp_path_factory):
    cfg = from_dict({
        "network": {"sizes": [5, 6, 3]},
        "plasticity": {"eta_up": [0.02, 0.01], "eta_IP": 0.02, "eta_PI": 0.01, "eta_down": 0.005},
        "noise": {"sigma": 0.05},
        "task": {"kind": "single_pattern", "n_repeats": 6, "duration": 20.0, "target_from": 2},
        "record": {"every": 2, "variables": ["u_P", "v_A", "target"], "neurons": [0, 2, 3, 5],
                   "weights_every": 50}})
    path = tmp_path_factory.mktemp("plot") / "run.h5"
    sim = Simulation(cfg)
    sink = HDF5Sink(path)
    sim.run(sink)
    sink.close()
    return path


@pytest.mark.parametrize("what", WHATS)
def test_cli_plot_writes_png(h5, tmp_path, what):
    out = tmp_path / f"{what}.png"
    r = subprocess.run([sys.executable, "-m", "dendrosim.cli", "plot", str(h5), "--what", what, "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_default_output_name(h5):
    out = plot_file(h5, "loss")
    assert out == h5.with_name("run_loss.png") and out.stat().st_size > 0
    out.unlink()


def test_apical_lines_match_the_file(h5):
    with load(h5) as run:
        fig = plot_apical(run, neurons="0:4")
        ax = fig.axes[0]
        lines = [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("v_A/")]
        # neurons 0, 2, 3 are both asked for and recorded (1 was not recorded)
        assert [ln.get_gid() for ln in lines] == ["v_A/0", "v_A/2", "v_A/3"]
        t, v = run.trace("layer1/v_A")
        for j, ln in enumerate(lines):
            x, y = ln.get_data()
            np.testing.assert_array_equal(x, t)
            np.testing.assert_array_equal(y, v[:, j])
        assert "ms" in ax.get_xlabel() and "dimensionless" in ax.get_ylabel()
        # pattern ends (inside the time range) are marked
        ends = run.pattern_ends()
        marks = [c for c in ax.collections if isinstance(c, LineCollection)]
        assert marks
        xs = sorted(seg[0, 0] for seg in marks[0].get_segments())
        np.testing.assert_allclose(xs, ends[(ends > t[0]) & (ends < t[-1])])


def test_soma_against_target(h5):
    with load(h5) as run:
        fig = plot_soma(run, neurons="all")
        lines = {ln.get_gid(): ln for ln in fig.axes[0].get_lines()}
        assert {"u_P/0", "u_P/2", "target/0", "target/2"} <= set(lines)
        _, tgt = run.trace("layer2/target")
        y = lines["target/2"].get_data()[1]
        np.testing.assert_array_equal(y, tgt[:, 1])
        assert np.isnan(y[0]) and np.isfinite(y[-1])      # no target in the first repeats


def test_mismatch_is_log_and_weights_angle(h5):
    with load(h5) as run:
        fig = plot_mismatch(run)
        assert fig.axes[0].get_yscale() == "log"
        fig = plot_weights(run)
        assert len(fig.axes) == 2
        (ang,) = [ln for ln in fig.axes[1].get_lines() if ln.get_gid() == "angle/1"]
        _, up2 = run.weight("up2")
        _, down1 = run.weight("down1")
        a = up2[-1].ravel()
        b = down1[-1].T.ravel()
        expect = np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
        assert ang.get_data()[1][-1] == pytest.approx(expect)


def test_alignment_angle():
    W = np.arange(6.0).reshape(2, 3) + 1
    assert alignment_angle(W, W.T) == pytest.approx(0.0, abs=1e-6)
    assert alignment_angle(W, -W.T) == pytest.approx(180.0)
    A = np.array([[1.0, 0.0]])
    assert alignment_angle(A, np.array([[0.0], [1.0]])) == pytest.approx(90.0)


def test_neuron_specs_and_errors(h5):
    assert parse_neurons("0:5").tolist() == [0, 1, 2, 3, 4]
    assert parse_neurons("0,3,7").tolist() == [0, 3, 7]
    assert parse_neurons("all") is None
    with pytest.raises(ConfigError):
        parse_neurons("a-b")
    with load(h5) as run:
        with pytest.raises(ConfigError, match="neurons"):
            plot_apical(run, neurons="1")          # recorded: 0, 2, 3, 5
    r = subprocess.run([sys.executable, "-m", "dendrosim.cli", "plot", str(h5), "--what", "apical",
                        "--layer", "2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "layer" in r.stderr


def test_learner_files_read_and_plot_like_engine_files(tmp_path):
    """Discrete-learner output (metrics per update, t in trials) goes through the same reader and plots."""
    from pathlib import Path

    from dendrosim import load
    from dendrosim.cli import main
    from dendrosim.io import info
    model = Path(__file__).resolve().parents[1] / "models" / "konishi2023" / "fa.toml"
    out = tmp_path / "fa.h5"
    assert main(["run", str(model), "-o", str(out), "--set", "task.n_trials=400", "--quiet"]) == 0
    run = load(out)
    t, loss = run.metric("loss")
    assert t.shape == loss.shape and t.size > 0 and np.isfinite(loss).all()
    assert "trial" in info(out)
    assert main(["plot", str(out), "--what", "loss", "-o", str(tmp_path / "l.png")]) == 0
    assert (tmp_path / "l.png").stat().st_size > 1000
