"""A run's file is never lost or silently wrong; every bad input gets one line and an exit code.

One test (or more) per numbered case of docs/reliability.md; the table there says which.
POSIX only (signals, flock, rlimits). Tests that need a second process start the CLI in a
subprocess; the others call :func:`dendrosim.cli.main` in this process.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
import tomllib
import weakref
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dendrosim import config, stopping
from dendrosim.cli import main
from dendrosim.io import load

from .helpers import cli

TINY = """
[network]
sizes = [30, 20, 10]
transfer = "logistic"
[plasticity]
eta_up = [0.0, 0.0]
eta_IP = [0.0002375]
eta_PI = [0.0005]
[noise]
sigma = 0.1
[init]
seed = 1
[task]
kind = "self_predicting"
n_patterns = {n}
duration = 100.0
[record]
every = 100
"""

# a run to interrupt: 20000 patterns of `duration` ms; at 200 ms about a minute alone on one core
LONG = """
[network]
sizes = [20, 15, 10]
[plasticity]
eta_up = [0.001, 0.0005]
eta_IP = 0.001
eta_PI = 0.001
[noise]
sigma = 0.1
[task]
kind = "self_predicting"
n_patterns = {n}
duration = {duration}
[record]
every = {every}
weights_every = 1000
"""

LEARNER = Path(__file__).resolve().parents[1] / "models" / "konishi2023" / "fa.toml"


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_cli(*args, timeout=300, **kw):
    """(exit code, stderr) of the CLI in a subprocess."""
    p = cli(*args, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError(f"dendrosim {' '.join(map(str, args))} did not finish in {timeout} s") from None
    return p.returncode, err


def main_no_interrupt(args) -> int:
    """:func:`main`, failing the test (not stopping the session) if a KeyboardInterrupt escapes."""
    try:
        return main(args)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped dendrosim.cli.main")


def one_line(err: str) -> str:
    """The error output is one line and no traceback."""
    assert "Traceback" not in err, err
    lines = [x for x in err.strip().splitlines() if x.strip() and not x.startswith("dendrosim: writing")]
    assert len(lines) == 1, err
    return lines[0]


def wait_until(cond, proc=None, timeout=120.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.communicate()}")
        try:
            if cond():
                return
        except (OSError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def has_checkpoint(path) -> bool:
    with load(path) as run:
        return run.checkpoint() is not None and run.duration > 200.0


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY.format(n=20))
    return p


@pytest.fixture
def long_cfg(tmp_path):
    p = tmp_path / "long.toml"
    # 40 M steps, about a minute: every test interrupts it long before the end, on any machine
    p.write_text(LONG.format(n=20000, duration=200.0, every=5))
    return p


@pytest.fixture
def done(tiny, tmp_path):
    """A completed run's file."""
    out = tmp_path / "done.h5"
    assert main(["run", str(tiny), "-o", str(out), "--quiet"]) == 0
    return out


def killed_file(cfg, out):
    """A run killed (SIGKILL) after its first checkpoint."""
    p = cli("run", cfg, "-o", out, "--quiet")
    wait_until(lambda: has_checkpoint(out), p, what="a checkpoint")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    return out


# -- 1, 2: one writer per file --------------------------------------------------------------

def test_1_a_second_writer_is_refused_naming_the_first(long_cfg, tmp_path):
    out = tmp_path / "same.h5"
    first = cli("run", long_cfg, "-o", out, "--quiet")
    wait_until(lambda: has_checkpoint(out), first, what="the first run's data")
    try:
        code, err = run_cli("run", long_cfg, "-o", out, "--quiet", "--set", "init.seed=99", "--overwrite")
        assert code == 2 and f"pid {first.pid}" in one_line(err), err
        code, err = run_cli("run", "--resume", out)             # nor a resume of a live file
        assert code == 2 and f"pid {first.pid}" in one_line(err), err
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130
    with load(out) as run:                 # the first run's file: whole, its own config
        assert run.status == "interrupted"
        assert run.config["init"]["seed"] == 0
        assert run.metrics["loss"].shape[0] == run.pattern_ends().shape[0] > 0


def test_2_two_resumes_at_once_one_is_refused_and_the_file_resumes(long_cfg, tmp_path):
    out = killed_file(long_cfg, tmp_path / "k.h5")
    r1 = cli("run", "--resume", out, "--quiet")
    wait_until(lambda: "writing" in r1.stderr.readline(), r1, what="the first resume to start")
    try:
        code, err = run_cli("run", "--resume", out, "--quiet")
        assert code == 2 and f"pid {r1.pid}" in one_line(err), err
    finally:
        r1.send_signal(signal.SIGINT)
        r1.communicate(timeout=120)
    assert r1.returncode == 130
    with load(out) as run:
        assert run.status == "interrupted" and run.checkpoint() is not None
    with h5py.File(out, "r") as f:
        for slot in ("slot0", "slot1"):
            if f[f"checkpoint/{slot}/seq"][()] >= 0:
                assert f[f"checkpoint/{slot}/state/rng"][()].any()     # a valid noise state


# -- 3: no silent overwrite ---------------------------------------------------------------

def test_3_an_existing_output_is_refused_unless_overwrite(tiny, done, tmp_path, capsys):
    before = digest(done)
    assert main(["run", str(tiny), "-o", str(done), "--quiet"]) == 2
    assert "--overwrite" in one_line(capsys.readouterr().err)
    assert digest(done) == before
    text = tmp_path / "notes.txt"
    text.write_text("keep me")
    assert main(["run", str(tiny), "-o", str(text), "--quiet"]) == 2
    assert text.read_text() == "keep me"
    assert main(["run", str(tiny), "-o", str(done), "--quiet", "--overwrite", "--set", "init.seed=5"]) == 0
    with load(done) as run:
        assert run.status == "completed" and run.config["init"]["seed"] == 5


def test_3_the_config_itself_is_never_the_output(tiny, capsys):
    before = tiny.read_text()
    for extra in ([], ["--overwrite"]):
        assert main(["run", str(tiny), "-o", str(tiny), "--quiet", *extra]) == 2
        assert "config file itself" in one_line(capsys.readouterr().err)
    assert tiny.read_text() == before


def test_3_record_path_stays_in_the_configs_folder(tmp_path, capsys, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    cfg = sub / "c.toml"
    cfg.write_text(TINY.format(n=2) + '\npath = "../../victim.txt"\n')
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--overwrite"]):
        assert main(["run", str(cfg), "--quiet", *extra]) == 2
        assert "record" in one_line(capsys.readouterr().err)
    assert victim.read_text() == "precious"
    cfg.write_text(TINY.format(n=2) + '\npath = "out/r.h5"\n')      # inside: relative to the config
    assert main(["run", str(cfg), "--quiet"]) == 0
    assert (sub / "out" / "r.h5").is_file()


# -- 4: validation before any file is touched ---------------------------------------------

def test_4_a_bad_learner_task_leaves_the_existing_file_alone(tmp_path):
    from dendrosim.learners import run_learner
    out = tmp_path / "fa.h5"
    good = config.load(LEARNER, ["task.n_trials=64"])
    assert run_learner(good, out, quiet=True) == 0
    before = digest(out)
    bad = config.load(LEARNER, ["task.n_trials=0"])
    assert run_learner(bad, out, quiet=True) == 2
    assert digest(out) == before
    with load(out) as run:
        assert run.status == "completed"


# -- 5, 6: truncated and damaged files -----------------------------------------------------

def interrupted_file(cfg, out, monkeypatch, at=8):
    """A run stopped by Ctrl-C after ``at`` patterns (in this process)."""
    from dendrosim.simulation import Simulation
    real = Simulation.metrics
    calls = []

    def metrics(self, seg, computed=None):
        calls.append(1)
        if len(calls) == at:
            raise KeyboardInterrupt
        return real(self, seg, computed)
    monkeypatch.setattr(Simulation, "metrics", metrics)
    assert main_no_interrupt(["run", str(cfg), "-o", str(out), "--quiet"]) == 130
    monkeypatch.setattr(Simulation, "metrics", real)
    return out


def test_5_a_truncated_file_is_refused_not_read_as_zeros(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "t.toml"
    cfg.write_text(TINY.format(n=60).replace("every = 100", "every = 1"))
    out = interrupted_file(cfg, tmp_path / "i.h5", monkeypatch, at=30)
    with open(out, "r+b") as fh:
        fh.truncate(out.stat().st_size - 4096)
    before = digest(out)
    capsys.readouterr()
    assert main(["info", str(out)]) == 2
    assert "truncated" in one_line(capsys.readouterr().err)
    code = main(["run", "--resume", str(out), "--quiet"])
    if code == 2:             # rows before the checkpoint were cut: refused, the file untouched
        assert "truncated" in one_line(capsys.readouterr().err)
        assert digest(out) == before
        return
    assert code == 0          # only rows after the checkpoint were cut: resumed, bit for bit
    ref = tmp_path / "ref.h5"
    assert main(["run", str(cfg), "-o", str(ref), "--quiet"]) == 0
    same_data(ref, out)


def test_5_rows_before_the_checkpoint_cut_away_refuse_the_resume(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "t.toml"
    cfg.write_text(TINY.format(n=60).replace("every = 100", "every = 1"))
    out = interrupted_file(cfg, tmp_path / "i.h5", monkeypatch, at=40)
    with open(out, "r+b") as fh:
        fh.truncate(out.stat().st_size * 2 // 3)
    before = digest(out)
    capsys.readouterr()
    assert main(["run", "--resume", str(out), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "truncated" in line or "damaged" in line
    assert digest(out) == before


def same_data(a_path, b_path):
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        for g in ("traces", "weights", "metrics"):
            names = []
            a[g].visititems(lambda n, o, names=names: names.append(n) if isinstance(o, h5py.Dataset) else None)
            for n in names:
                assert np.array_equal(a[g][n][()], b[g][n][()], equal_nan=True), f"{g}/{n}"


def test_5_info_on_a_completed_file_cut_by_4_kib(done, capsys):
    with open(done, "r+b") as fh:
        fh.truncate(done.stat().st_size - 4096)
    assert main(["info", str(done)]) == 2
    assert "truncated" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("cut", ["100 bytes", "half"])
def test_6_no_command_hangs_on_a_cut_file(done, cut):
    size = done.stat().st_size
    with open(done, "r+b") as fh:
        fh.truncate(100 if cut == "100 bytes" else size // 2)
    for args in (["info", done], ["plot", done], ["run", "--resume", done]):
        code, err = run_cli(*args, timeout=90)
        line = one_line(err)
        assert code == 2 and ("truncated" in line or "damaged" in line), err


def test_6_a_file_hdf5_cannot_read_is_reported_within_the_time_limit(done):
    from dendrosim.io import DamagedFileError
    from dendrosim.io.integrity import probe
    data = bytearray(done.read_bytes())
    data[48:4096] = bytes(len(data[48:4096]))          # the root object header and more zeroed
    done.write_bytes(bytes(data))
    t = time.monotonic()
    with pytest.raises(DamagedFileError, match="damaged"):
        probe(done, swmr=False, timeout=20)
    assert time.monotonic() - t < 25


# -- 7: the stored config always round-trips ----------------------------------------------

def test_7_a_newline_in_a_string_value_round_trips(tiny, tmp_path, capsys):
    out = tmp_path / "nl.h5"
    assert main(["run", str(tiny), "-o", str(out), "--quiet", "--set", 'record.path="a\\nb.h5"']) == 0
    with load(out) as run:
        assert run.config["record"]["path"] == "a\nb.h5"
    assert main(["info", str(out)]) == 0


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_7_any_string_survives_toml_and_hdf5(tmp_path_factory, s):
    cfg = config.from_dict({"record": {"path": s}, "task": {"kind": "self_predicting", "n_patterns": 1}})
    text = cfg.to_toml()
    assert tomllib.loads(text)["record"]["path"] == s
    path = tmp_path_factory.getbasetemp() / "attr.h5"
    with h5py.File(path, "w") as f:
        f.attrs["config"] = text
    with h5py.File(path, "r") as f:
        back = f.attrs["config"]
    back = back.decode() if isinstance(back, bytes) else back
    assert config.from_dict(tomllib.loads(back)).record.path == s


# -- 8: a kill while the file is set up -----------------------------------------------------

KILL_IN_SETUP = """
import os, signal, sys
from dendrosim import config
from dendrosim.io import HDF5Sink
from dendrosim.simulation import Simulation
real = HDF5Sink._create_checkpoint
def killed(self, *a):
    real(self, *a)
    os.kill(os.getpid(), signal.SIGKILL)
HDF5Sink._create_checkpoint = killed
Simulation(config.load(sys.argv[1])).run(HDF5Sink(sys.argv[2]))
"""


def test_8_a_kill_during_set_up_leaves_the_previous_file_readable(tiny, done, tmp_path, capsys):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.run([sys.executable, "-c", KILL_IN_SETUP, str(tiny), str(done)], env=env, timeout=300)
    assert p.returncode == -signal.SIGKILL
    assert main(["info", str(done)]) == 0
    assert "completed" in capsys.readouterr().out
    fresh = tmp_path / "fresh.h5"
    subprocess.run([sys.executable, "-c", KILL_IN_SETUP, str(tiny), str(fresh)], env=env, timeout=300)
    assert not fresh.exists()                    # nothing half-made where the output goes
    assert main(["run", str(tiny), "-o", str(fresh), "--quiet"]) == 0


# -- 9, 10: interruptions and failures at any moment ----------------------------------------

def test_9_ctrl_c_while_the_file_is_set_up(tiny, tmp_path, monkeypatch, capsys):
    from dendrosim.io import HDF5Sink

    def interrupted(self, *a):
        raise KeyboardInterrupt
    monkeypatch.setattr(HDF5Sink, "_create_weights", interrupted)
    out = tmp_path / "x.h5"
    assert main_no_interrupt(["run", str(tiny), "-o", str(out), "--quiet"]) == 130
    one_line(capsys.readouterr().err)
    assert not out.exists()


def test_9_ctrl_c_before_the_file_exists(tiny, tmp_path, monkeypatch, capsys):
    from dendrosim import simulation

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(simulation.Simulation, "__init__", interrupted)
    assert main_no_interrupt(["run", str(tiny), "-o", str(tmp_path / "x.h5"), "--quiet"]) == 130
    assert "interrupted" in one_line(capsys.readouterr().err)


def test_9_output_to_a_device_is_refused(tiny, capsys):
    assert main(["run", str(tiny), "-o", os.devnull, "--quiet", "--overwrite"]) == 2
    assert "not a regular file" in one_line(capsys.readouterr().err)


def test_9_sigterm_is_an_interruption_with_exit_143(long_cfg, tmp_path):
    out = tmp_path / "term.h5"
    p = cli("run", long_cfg, "-o", out, "--quiet")
    wait_until(lambda: has_checkpoint(out), p, what="data")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert "Traceback" not in err
    with load(out) as run:
        assert run.status == "interrupted" and run.checkpoint() is not None


class _SignalInCallbackSink:
    """A MemorySink whose first traces() call raises SIGINT from inside a weakref callback, the
    spot where h5py closes objects and where Python drops an exception raised by a handler."""

    def __init__(self, sink):
        self.sink, self.fired = sink, False

    def traces(self, times, rows):
        self.sink.traces(times, rows)
        if not self.fired:
            self.fired = True
            obj = type("Obj", (), {})()
            ref = weakref.ref(obj, lambda _: signal.raise_signal(signal.SIGINT))  # noqa: F841
            del obj                               # the callback runs, the handler runs inside it

    def __getattr__(self, name):
        return getattr(self.sink, name)


def _short_run(tiny):
    from dendrosim.simulation import MemorySink, Simulation
    sim = Simulation(config.load(tiny))
    return sim, _SignalInCallbackSink(MemorySink())


def test_9_a_signal_landing_in_a_weakref_callback_is_not_lost(tiny):
    sim, sink = _short_run(tiny)
    with pytest.raises(KeyboardInterrupt):
        with stopping.signals_stop_runs():
            sim.run(sink)
    assert sink.fired and 0 < sim.state.step < sim.total_steps     # stopped after that block


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_9_python_s_own_handler_loses_that_signal(tiny):
    """Why the run loops check between blocks: with Python's default handler, the same signal
    is printed as "Exception ignored" and the run goes on to its end (it did, exit 0)."""
    sim, sink = _short_run(tiny)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sim.run(sink)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sink.fired and sim.state.step == sim.total_steps


def test_10_a_full_disk_gives_one_line_status_failed_exit_1(tmp_path):
    cfg = tmp_path / "big.toml"
    cfg.write_text(LONG.format(n=20000, duration=20.0, every=1))
    out = tmp_path / "full.h5"
    limit = 24 << 20

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    code, err = run_cli("run", cfg, "-o", out, "--quiet", preexec_fn=small_files)
    assert code == 1, err
    assert "failed" in one_line(err)
    code, err = run_cli("info", out)           # the status could not be written: the size says it
    assert code == 2 and "truncated" in one_line(err)
    code, err = run_cli("run", "--resume", out, "--quiet", "--set", "x.y=1")
    assert code == 2
    p = cli("run", "--resume", out, "--quiet")  # the rows before the checkpoint are all there
    wait_until(lambda: "writing" in p.stderr.readline(), p, what="the resume to start")
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=120)
    assert p.returncode == 130
    with load(out) as run:
        assert run.status == "interrupted" and run.checkpoint()["segment"] > 0


# -- 11, 12: bad input: exit 2 and one line naming the key -----------------------------------

@pytest.mark.parametrize("override,key", [
    ("init.scale_up=-1.0", "scale_up"), ("init.scale_PI=inf", "scale_PI"), ("init.scale=inf", "scale"),
    ("task.input_low=2.0", "input_low"),
    ("network.sizes=[100000, 100000, 10]", "GiB"),
    ("plasticity.eta_IP=nan", "eta_IP"), ("plasticity.eta_PI=inf", "eta_PI"), ("plasticity.eta_up=-0.1", "eta_up"),
    ("network.theta=nan", "theta"), ("network.theta=inf", "theta"),
    ("conductances.E_exc=inf", "E_exc"),
])
def test_11_12_bad_values_exit_2_naming_the_key(tiny, tmp_path, capsys, override, key):
    out = tmp_path / "x.h5"
    extra = ["--set", "conductances.nudging=\"conductance\""] if "E_exc" in override else []
    assert main(["run", str(tiny), "-o", str(out), "--quiet", "--set", override, *extra]) == 2
    assert key in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_11_files_that_are_not_configs(tmp_path, done, capsys):
    binary = tmp_path / "b.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100000 + "]" * 100000)
    for cfg, word in ((binary, "text"), (done, "HDF5"), (deep, "deep")):
        assert main(["run", str(cfg), "-o", str(tmp_path / "x.h5"), "--quiet"]) == 2
        assert word in one_line(capsys.readouterr().err)


def test_11_a_config_attribute_edited_to_another_shape(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.format(n=20))
    out = interrupted_file(cfg, tmp_path / "e.h5", monkeypatch)
    with h5py.File(out, "r+") as f:
        f.attrs["config"] = f.attrs["config"].replace("sizes = [30, 20, 10]", "sizes = [30, 25, 10]")
    before = digest(out)
    capsys.readouterr()
    assert main(["run", "--resume", str(out), "--quiet"]) == 2
    assert "checkpoint" in one_line(capsys.readouterr().err)
    assert digest(out) == before


def test_11_plot_to_an_unknown_format_and_a_corrupt_sweep_index(done, tmp_path, capsys):
    assert main(["plot", str(done), "-o", str(tmp_path / "x.xyz")]) == 2
    assert "format" in one_line(capsys.readouterr().err)
    d = tmp_path / "sweep"
    d.mkdir()
    (d / "sweep.json").write_text("{ not json")
    assert main(["sweep-report", str(d)]) == 2
    one_line(capsys.readouterr().err)


# -- 13: an overflow is called an overflow ---------------------------------------------------

def test_13_an_overflow_of_finite_values_is_not_blamed_on_the_input(tiny, tmp_path, capsys):
    out = tmp_path / "d.h5"
    code = main(["run", str(tiny), "-o", str(out), "--quiet", "--set", "simulation.dt=5.0", "--set",
                 "simulation.check_stability=false", "--set", "init.seed=1", "--set", "task.n_patterns=60"])
    assert code == 1
    err = one_line(capsys.readouterr().err)
    assert "diverged" in err and "input in layer 0" not in err


# -- 14: options that do not apply are refused ----------------------------------------------

def test_14_options_that_would_be_ignored_exit_2(tiny, done, tmp_path, capsys):
    assert main(["run", str(LEARNER), "-o", str(tmp_path / "l.h5"), "--seeds", "0:2", "--quiet"]) == 2
    assert "seeds" in one_line(capsys.readouterr().err)
    assert main(["run", "--resume", str(done), "-o", str(tmp_path / "other.h5")]) == 2
    assert "-o" in one_line(capsys.readouterr().err)
    assert main(["plot", str(done), "--what", "weights", "--layer", "7"]) == 2
    assert "layer" in one_line(capsys.readouterr().err)


# -- 15: messages say what happened ----------------------------------------------------------

def test_15_plot_reports_the_file_it_wrote(done, tmp_path, capsys):
    target = tmp_path / "figure"
    assert main(["plot", str(done), "-o", str(target)]) == 0
    wrote = capsys.readouterr().out.strip().removeprefix("wrote ")
    assert Path(wrote).is_file()


def test_15_resuming_a_learner_file_says_so(tmp_path, capsys):
    from dendrosim.learners import run_learner
    out = tmp_path / "fa.h5"
    assert run_learner(config.load(LEARNER, ["task.n_trials=16"]), out,
                       quiet=True) == 0
    with h5py.File(out, "r+") as f:
        f.attrs["status"] = "interrupted"
    assert main(["run", "--resume", str(out), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "learner" in line and "killed" not in line


def test_15_a_foreign_hdf5_file_is_not_a_dendrosim_file(tmp_path, capsys):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    for args in (["info", str(other)], ["plot", str(other)], ["run", "--resume", str(other)]):
        assert main(args) == 2
        assert "not a dendrosim" in one_line(capsys.readouterr().err)


def test_15_a_huge_bad_value_is_not_echoed_whole(tiny, tmp_path, capsys):
    big = "x" * 5_000_000
    assert main(["run", str(tiny), "-o", str(tmp_path / "x.h5"), "--set", f'network.transfer="{big}"']) == 2
    assert len(capsys.readouterr().err) < 2000


def test_15_the_stability_bound_is_printed_below_the_refused_dt(tiny, tmp_path, capsys):
    assert main(["run", str(tiny), "-o", str(tmp_path / "x.h5"), "--set", "simulation.dt=1.0527"]) == 2
    line = one_line(capsys.readouterr().err)
    shown = float(line.split("bound ")[1].split(" ms")[0])
    assert shown < 1.0527
