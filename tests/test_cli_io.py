"""The HDF5 file under real process life: SIGKILL, SIGINT, divergence, live readers, resume.

POSIX only (signals); each test starts the CLI in a subprocess.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from dendrosim.io import load

from .helpers import cli

LONG_TOML = """
[network]
sizes = [20, 15, 10]
[plasticity]
eta_up = [0.001, 0.0005]
eta_IP = 0.001
eta_PI = 0.001
eta_down = 0.0005
[noise]
sigma = 0.1
[task]
kind = "self_predicting"
n_patterns = {n}
duration = 20.0
[record]
every = 5
variables = ["u_P", "v_A", "u_I", "r"]
weights_every = 1000
"""
N_LONG = 5000          # 1M steps: a few seconds on this machine

DIVERGING_TOML = """
[network]
sizes = [5, 4, 3]
[simulation]
dt = 2.5
check_stability = false
[task]
kind = "self_predicting"
n_patterns = 50
duration = 100.0
[record]
every = 1
"""


def wait_for_data(path, proc, min_t=200.0, timeout=60.0):
    """Block until the writer has flushed traces up to ``min_t`` ms."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        if path.exists():
            try:
                with load(path) as run:
                    if run.duration >= min_t:
                        return
            except (OSError, KeyError):
                pass
        time.sleep(0.05)
    raise AssertionError("the writer produced no data in time")


def assert_consistent(path):
    """Opens; t strictly increasing; every dataset of a group as long as its t."""
    with load(path) as run:
        f = run.file
        for g in ("traces", "weights", "metrics"):
            t = f[f"{g}/t"][()]
            assert np.all(np.diff(t) > 0), g
            for name in getattr(run, g):
                assert f[f"{g}/{name}"].shape[0] == t.shape[0], f"{g}/{name}"
        return run.status, f["traces/t"].shape[0]


def same_data(a_path, b_path):
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        for g in ("traces", "weights", "metrics"):
            names = []
            a[g].visititems(lambda n, o, names=names: names.append(n) if isinstance(o, h5py.Dataset) else None)
            for n in names:
                x, y = a[g][n][()], b[g][n][()]
                assert x.shape == y.shape, f"{g}/{n}"
                assert np.array_equal(x, y, equal_nan=True), f"{g}/{n}"


@pytest.fixture(scope="module")
def long_cfg(tmp_path_factory):
    d = tmp_path_factory.mktemp("long")
    cfg = d / "cfg.toml"
    cfg.write_text(LONG_TOML.format(n=N_LONG))
    ref = d / "ref.h5"
    p = cli("run", cfg, "-o", ref, "--quiet")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return cfg, ref


def test_sigkill_keeps_a_readable_file_and_resumes(tmp_path, long_cfg):
    cfg, ref = long_cfg
    out = tmp_path / "out.h5"
    p = cli("run", cfg, "-o", out, "--quiet")
    wait_for_data(out, p, min_t=3000.0)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    status, n = assert_consistent(out)
    assert status == "running" and n > 3000.0 / 0.5
    with load(out) as run:
        assert run.checkpoint() is not None
    r = subprocess.run([sys.executable, "-m", "dendrosim.cli", "run", "--resume", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert load(out).status == "completed"
    same_data(ref, out)


def test_sigint_marks_interrupted_and_resume_is_bit_identical(tmp_path, long_cfg):
    cfg, ref = long_cfg
    out = tmp_path / "out.h5"
    # SIGINT back to its default in the child: a pytest started in the background of a
    # non-interactive shell ignores SIGINT, the child would inherit that and never see it
    p = cli("run", cfg, "-o", out, "--quiet", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_data(out, p, min_t=2000.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "--resume" in err
    status, _ = assert_consistent(out)
    assert status == "interrupted"
    with load(out) as run:
        assert "interrupted at t =" in run.message
        assert run.checkpoint()["segment"] > 0
    r = subprocess.run([sys.executable, "-m", "dendrosim.cli", "run", "--resume", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with load(out) as run:
        assert run.status == "completed"
    same_data(ref, out)


def test_divergence_exit_1_status_and_data_kept(tmp_path):
    cfg = tmp_path / "div.toml"
    cfg.write_text(DIVERGING_TOML)
    out = tmp_path / "div.h5"
    r = subprocess.run([sys.executable, "-m", "dendrosim.cli", "run", str(cfg), "-o", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "layer" in r.stderr and "t =" in r.stderr
    status, n = assert_consistent(out)
    assert status == "diverged" and n > 10
    with load(out) as run:
        assert "t =" in run.message and "layer" in run.message
        assert run.metrics["loss"].shape[0] >= 1       # completed patterns are kept
    info = subprocess.run([sys.executable, "-m", "dendrosim.cli", "info", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and "diverged" in info.stdout


def test_live_reader_sees_consistent_prefix(tmp_path, long_cfg):
    cfg, ref = long_cfg
    out = tmp_path / "live.h5"
    p = cli("run", cfg, "-o", out, "--quiet")
    wait_for_data(out, p, min_t=100.0)
    seen = []
    info_out = None
    while p.poll() is None:
        try:
            with load(out) as run:
                if run.status != "running":
                    break
                t, v = run.trace("layer1/v_A")
                mt, loss = run.metric("apical_norm")
                assert t.shape[0] == v.shape[0] and mt.shape[0] == loss.shape[0]
                assert np.all(np.diff(t) > 0)
                seen.append((t, v, mt, loss))
        except OSError:            # the writer is closing the file right now
            continue
        if info_out is None:
            info_out = subprocess.run([sys.executable, "-m", "dendrosim.cli", "info", str(out)],
                                      capture_output=True, text=True, timeout=60)
        time.sleep(0.2)
    p.communicate(timeout=120)
    assert p.returncode == 0
    assert len(seen) >= 3 and seen[-1][0].shape[0] > seen[0][0].shape[0]
    assert info_out.returncode == 0, info_out.stderr
    assert "running" in info_out.stdout and "/traces/layer1/v_A" in info_out.stdout
    with load(out) as run:
        t_all, v_all = run.trace("layer1/v_A")
        mt_all, m_all = run.metric("apical_norm")
        for t, v, _mt, m in seen:
            np.testing.assert_array_equal(t, t_all[:t.shape[0]])
            np.testing.assert_array_equal(v, v_all[:v.shape[0]])
            np.testing.assert_array_equal(m, m_all[:m.shape[0]])
    same_data(ref, out)


def test_info_cli_on_finished_file(long_cfg):
    _, ref = long_cfg
    r = subprocess.run([sys.executable, "-m", "dendrosim.cli", "info", str(ref)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "completed" in r.stdout and f"{N_LONG * 20.0:.1f} ms" in r.stdout


def test_info_piped_into_a_reader_that_stops_early_is_not_an_error(long_cfg):
    """`dendrosim info F | head -1`: the closed pipe ends the command quietly (exit 0, nothing
    on stderr), not with a "Broken pipe" error message."""
    _, ref = long_cfg
    p = subprocess.Popen([sys.executable, "-m", "dendrosim.cli", "info", str(ref)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()                  # the reader goes away after one line
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 0 and "Broken pipe" not in err and "Errno" not in err, err


def test_an_unexpected_error_is_recorded_in_the_file_and_the_run_resumes(tmp_path, monkeypatch):
    """Any exception inside a run (here from the per-pattern metrics) leaves status ``failed``
    with the error and time in the file's message; the checkpoint then resumes to the end."""
    from dendrosim import cli
    from dendrosim.simulation import Simulation
    cfg = tmp_path / "c.toml"
    cfg.write_text(LONG_TOML.format(n=6))
    out = tmp_path / "c.h5"
    real, calls = Simulation.metrics, []

    def failing(self, seg, computed=None):
        calls.append(seg)
        if len(calls) == 3:
            raise RuntimeError("no fixed point for the test set")
        return real(self, seg, computed)

    monkeypatch.setattr(Simulation, "metrics", failing)
    assert cli.main(["run", str(cfg), "-o", str(out), "--quiet"]) == 1      # one line, no traceback
    calls.clear()
    with pytest.raises(RuntimeError, match="no fixed point"):                  # unless --debug
        cli.main(["run", str(cfg), "-o", str(tmp_path / "d.h5"), "--quiet", "--debug"])
    status, _ = assert_consistent(out)
    with load(out) as run:
        assert status == "failed"
        assert "RuntimeError" in run.message and "no fixed point" in run.message and "t = " in run.message
    monkeypatch.setattr(Simulation, "metrics", real)
    assert cli.main(["run", "--resume", str(out), "--quiet"]) == 0
    with load(out) as run:
        assert run.status == "completed" and run.metrics["loss"].shape[0] == 6
