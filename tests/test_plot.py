"""Figures: every --what draws exactly the file's data, with units on the axes, to a PNG of the
documented size, dpi and default name."""

from __future__ import annotations

import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from PIL import Image

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


def _file(path) -> dict:
    """Every dataset of an output file, read with plain h5py (not through dendrosim.io)."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _lines(fig) -> dict:
    """{gid: (x, y)} of the visible data lines of every axes (reference lines have no gid)."""
    return {ln.get_gid(): tuple(np.asarray(a, dtype=float) for a in ln.get_data())
            for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() and ln.get_visible()}


def _expected_lines(d: dict, what: str) -> dict:
    """{gid: (x, y)} that figure ``what`` must draw, with the default layer and neurons 0:5."""
    def cols(layer):                                            # (neuron id, column) of ids 0..4
        return [(int(i), j) for j, i in enumerate(d[f"traces/layer{layer}/neurons"]) if i < 5]

    t = d["traces/t"]
    if what == "apical":                                        # first hidden layer
        return {f"v_A/{i}": (t, d["traces/layer1/v_A"][:, j]) for i, j in cols(1)}
    if what == "soma":                                          # output layer, with its target
        out = {f"u_P/{i}": (t, d["traces/layer2/u_P"][:, j]) for i, j in cols(2)}
        out.update({f"target/{i}": (t, d["traces/layer2/target"][:, j]) for i, j in cols(2)})
        return out
    tm = d["metrics/t"]
    if what == "mismatch":                                      # non-positive values are not drawn (log axis)
        return {f"{k}/1": (tm, np.where(d[f"metrics/{k}"][:, 0] > 0, d[f"metrics/{k}"][:, 0], np.nan))
                for k in ("apical_norm", "interneuron_mismatch")}
    if what == "loss":
        return {"loss": (tm, d["metrics/loss"])}
    if what == "alignment":                                     # the per-pattern metric, layer 1
        return {"top_down_angle/1": (tm, d["metrics/top_down_angle"][:, 0])}
    tw = d["weights/t"]
    out = {f"norm/{n}": (tw, np.array([np.linalg.norm(W, "fro") for W in d[f"weights/{n}"]]))
           for n in ("up1", "up2", "down1", "IP1", "PI1")}
    up, down = d["weights/up2"], d["weights/down1"]
    cos = [a.ravel() @ b.T.ravel() / np.linalg.norm(a) / np.linalg.norm(b) for a, b in zip(up, down)]
    out["angle/1"] = (tw, np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return out


@pytest.fixture
def saved_figures(monkeypatch):
    """Figures passed to Figure.savefig (which still writes the file)."""
    figs = []
    real = Figure.savefig

    def keep(fig, *args, **kwargs):
        figs.append(fig)
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figs


@pytest.mark.parametrize("what", WHATS)
def test_every_figure_draws_exactly_the_files_data(h5, tmp_path, what, saved_figures):
    """``plot --what X`` (through plot_file, as the CLI calls it) draws one line per expected
    series, each with the file's own arrays (read with h5py) as x and y; no series is missing
    or extra; time axes say ms and value axes carry their units."""
    d = _file(h5)
    plot_file(h5, what, out=tmp_path / "f.png")
    (fig,) = saved_figures
    got, want = _lines(fig), _expected_lines(d, what)
    assert sorted(got) == sorted(want)
    for gid, (x, y) in want.items():
        np.testing.assert_array_equal(got[gid][0], x, err_msg=gid)
        np.testing.assert_allclose(got[gid][1], y, rtol=1e-12, atol=0, err_msg=gid)
    for ax in fig.axes:
        assert "ms" in ax.get_xlabel()
        assert "dimensionless" in ax.get_ylabel() or "degrees" in ax.get_ylabel()
    assert len(fig.axes) == (2 if what == "weights" else 1)


# Figures are 7 x 3.6 in (weights: two panels, 7 x 5.76 in), saved at 110 dpi.
PNG_SIZE = {w: (770, 633 if w == "weights" else 396) for w in WHATS}


def _check_png(path, what):
    """A complete PNG (every chunk's CRC checked) of the documented pixel size and dpi, not blank."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.size == PNG_SIZE[what]
        assert im.info["dpi"] == pytest.approx((110, 110), abs=0.01)
        px = np.asarray(im.convert("L"))
    assert (px < 128).mean() > 0.002                  # dark pixels: lines, ticks and text were drawn


@pytest.mark.parametrize("what", WHATS)
def test_cli_plot_writes_png_under_the_default_name(h5, tmp_path, what):
    """Without -o, ``dendrosim plot DIR/my.run.h5 --what X`` writes DIR/my.run_X.png (file stem,
    not the name up to the first dot), a valid PNG of the documented size and dpi."""
    src = tmp_path / "my.run.h5"
    shutil.copyfile(h5, src)
    r = subprocess.run([sys.executable, "-m", "dendrosim.cli", "plot", str(src), "--what", what],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / f"my.run_{what}.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["my.run.h5", out.name])
    assert r.stdout.strip() == f"wrote {out}"
    _check_png(out, what)


def test_cli_plot_honours_the_output_option(h5, tmp_path):
    """With -o the PNG goes exactly there and nothing is written under the default name."""
    out = tmp_path / "sub" / "fig.png"
    out.parent.mkdir()
    r = subprocess.run([sys.executable, "-m", "dendrosim.cli", "plot", str(h5), "--what", "soma", "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not h5.with_name(f"{h5.stem}_soma.png").exists()
    _check_png(out, "soma")


def test_default_output_name(h5, tmp_path):
    """plot_file without ``out``: ``<file stem>_<what>.png`` next to the file, returned."""
    src = tmp_path / "a.b.h5"
    shutil.copyfile(h5, src)
    out = plot_file(src, "loss")
    assert out == tmp_path / "a.b_loss.png"
    _check_png(out, "loss")


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


def test_learner_files_read_and_plot_like_engine_files(tmp_path, saved_figures):
    """Discrete-learner output (metrics per update, t in trials) goes through the same reader,
    and ``plot --what loss`` draws the file's metrics/loss against metrics/t, labelled in trials."""
    from pathlib import Path

    from dendrosim import load
    from dendrosim.cli import main
    from dendrosim.io import info
    model = Path(__file__).resolve().parents[1] / "models" / "konishi2023" / "fa.toml"
    out = tmp_path / "fa.h5"
    assert main(["run", str(model), "-o", str(out), "--set", "task.n_trials=400", "--quiet"]) == 0
    d = _file(out)
    with h5py.File(out, "r") as f:
        assert f["metrics/t"].attrs["units"] in ("trial", b"trial")
    assert d["metrics/loss"].size > 1 and np.isfinite(d["metrics/loss"]).all()
    with load(out) as run:
        t, loss = run.metric("loss")
    np.testing.assert_array_equal(t, d["metrics/t"])
    np.testing.assert_array_equal(loss, d["metrics/loss"])
    assert "trial" in info(out)
    assert main(["plot", str(out), "--what", "loss", "-o", str(tmp_path / "l.png")]) == 0
    (fig,) = saved_figures
    got = _lines(fig)
    assert list(got) == ["loss"]
    np.testing.assert_array_equal(got["loss"][0], d["metrics/t"])
    np.testing.assert_array_equal(got["loss"][1], d["metrics/loss"])
    ax = fig.axes[0]
    assert "trial" in ax.get_xlabel() and "ms" not in ax.get_xlabel()     # the file's unit, not ms
    assert "dimensionless" in ax.get_ylabel()
    _check_png(tmp_path / "l.png", "loss")


def test_the_alignment_figure_draws_the_angle_of_the_weights(h5):
    """The last point of ``--what alignment`` is the angle between the final down1 and up2^T,
    computed here from the weight snapshot (independent of the metric's compiled code)."""
    d = _file(h5)
    a, b = d["weights/up2"][-1], d["weights/down1"][-1].T
    want = np.degrees(np.arccos(a.ravel() @ b.ravel() / np.linalg.norm(a) / np.linalg.norm(b)))
    assert d["weights/t"][-1] == d["metrics/t"][-1]
    np.testing.assert_allclose(d["metrics/top_down_angle"][-1, 0], want, rtol=1e-9)

