"""The benchmarks (scripts/bench.py): their reference implementations integrate the engine's
equations (else its ratios would compare different work), the history they append and the
targets they print."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dendrosim import config
from dendrosim.simulation import MemorySink, Simulation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench import HISTORY_COLUMNS, append_history, bench_config  # noqa: E402
from bench_compare import TARGETS, compare_main, long_rows, met, read  # noqa: E402
from bench_floor import run_floor  # noqa: E402


def test_hand_loop_follows_the_engine():
    """Noise off, strong plasticity: the hand-written loop and the engine give the same
    potentials and weights after 300 steps of one pattern, with and without the tau_w trace."""
    for tau_w in (30.0, 0.0):
        d = bench_config((7, 5, 3), "float64", tau_w, 300, pattern_steps=300).to_dict()
        d["noise"]["sigma"] = 0.0
        d["plasticity"].update(eta_up=[20.0, 20.0], eta_IP=[20.0], eta_PI=[20.0])
        d["task"]["input_high"] = 5.0
        sim = Simulation(config.from_dict(d))
        W = {n: sim.net.w(n).copy() for n in ("up1", "up2", "down1", "IP1", "PI1")}
        x = sim._xt(sim.task.segment(0))[0].astype(np.float64)
        sim.run(MemorySink())
        D = {n: np.zeros_like(W[n]) for n in W}
        u = run_floor(300, W["up1"], D["up1"], W["up2"], D["up2"], W["down1"], W["IP1"], D["IP1"],
                      W["PI1"], D["PI1"], x, np.array([1, 2, 3, 4], dtype=np.uint64), 0.1, 20.0, tau_w, 0.0)
        np.testing.assert_allclose(u, sim.net.y[:11], rtol=1e-9, atol=1e-12)
        for n in ("up1", "up2", "IP1", "PI1"):
            # learned: >1000x the tolerance below
            assert np.abs(W[n] - Simulation(config.from_dict(d)).net.w(n)).max() > 1e-7
            np.testing.assert_allclose(W[n], sim.net.w(n), rtol=1e-9, atol=1e-12)


def _run(time, small, ens, mnist=None):
    """A bench run as scripts/bench.py builds it (only some of the fields)."""
    results = [dict(workload="30-20-10 f64", engine_steps_per_s=small, numpy_steps_per_s=small / 40,
                    ratio=40.0, engine_one_thread_steps_per_s=small)]
    if mnist is not None:
        results.append(dict(workload="MNIST steady-state epoch 784-500-500-10",
                            per_batch_ms={"two_sweep": [mnist, 1.0, 1.0], "exact": [9.0, 1.0, 1.0]}))
    return dict(time=time, results=results, ensemble_speedup=ens - 0.5, ensemble_speedup_one_thread=ens,
                ensemble_separate_one_thread_s=ens, ensemble_together_s=1.0, second_start_s=0.9)


def _compare_rows(capsys, paths):
    assert compare_main([str(p) for p in paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    heads = lines[0].split()[1:]
    n = next(i for i, line in enumerate(lines) if line.startswith("(*"))
    rows = {line.split()[0]: dict(zip(heads, line.split()[1:])) for line in lines[3:n]}
    assert len(heads) == len(TARGETS) and all(len(line) <= len(lines[0]) for line in lines)
    return rows


def test_compare_marks_each_missed_target(tmp_path, capsys):
    """Rows oldest first whatever the argument order; '*' on exactly the cells below an
    at-least target or above an at-most one; '-' where a run did not measure the row."""
    new, old = tmp_path / "bench_new.json", tmp_path / "bench_old.json"
    new.write_text(json.dumps(_run("2026-02-01T00:00:00", 1.2e6, 2.9, mnist=1.6)))
    old.write_text(json.dumps(_run("2026-01-01T00:00:00", 0.9e6, 3.1)))
    rows = _compare_rows(capsys, [new, old])
    assert list(rows) == ["old", "new"]
    assert rows["old"]["30-20-10"] == "900,000*" and rows["new"]["30-20-10"] == "1,200,000"
    assert rows["old"]["ensemble"] == "3.10" and rows["new"]["ensemble"] == "2.90*"   # one thread each: >= 3x
    assert rows["old"]["MNIST/BP"] == "-" and rows["new"]["MNIST/BP"] == "1.60*"   # two_sweep's ratio, at most 1.5
    assert rows["new"]["2nd-start"] == "0.90" and rows["new"]["784-f64-on"] == "-"
    assert met(1.5, 1.5, "max") and met(3.0, 3.0, "min") and met(math.nan, 1.0, "min") is None
    assert math.isnan(read({"results": []}, ("30-20-10 f64", "engine_steps_per_s")))


def test_history_appends_long_rows_under_one_header_and_compare_reads_them(tmp_path, capsys):
    hist = tmp_path / "history.csv"
    assert append_history(hist, _run("2026-01-01T00:00:00", 0.9e6, 3.1), "", "2-core test") == 9
    assert append_history(hist, _run("2026-02-01T00:00:00", 1.2e6, 2.9, mnist=1.6), "abc1234", "2-core test") == 15
    with open(hist, newline="") as f:
        lines = list(csv.reader(f))
    assert tuple(lines[0]) == HISTORY_COLUMNS == ("time", "commit", "host", "workload", "quantity", "value", "unit")
    assert len(lines) == 1 + 9 + 15 and lines.count(list(HISTORY_COLUMNS)) == 1
    rows = [dict(zip(HISTORY_COLUMNS, r)) for r in lines[1:]]
    first = [r for r in rows if r["workload"] == "30-20-10 f64" and r["commit"] == ""]
    assert {(r["quantity"], float(r["value"]), r["unit"]) for r in first} == {
        ("engine_steps_per_s", 0.9e6, "steps/s"), ("numpy_steps_per_s", 0.9e6 / 40, "steps/s"),
        ("ratio", 40.0, "x"), ("one_thread_steps_per_s", 0.9e6, "steps/s")}
    assert {r["time"] for r in rows} == {"2026-01-01T00:00:00", "2026-02-01T00:00:00"}
    one = [r for r in rows if r["workload"] == "64 seeds of 30-20-10 separate runs one thread"
           and r["quantity"] == "ratio"]
    assert [float(r["value"]) for r in one] == [3.1, 2.9]
    table = _compare_rows(capsys, [hist])
    assert list(table) == ["2026-01-01T00:00", "abc1234"]          # a run without a commit is named by its time
    assert table["abc1234"]["ensemble"] == "2.90*" and table["abc1234"]["MNIST/BP"] == "1.60*"
    assert table["2026-01-01T00:00"]["30-20-10"] == "900,000*"
    assert len(long_rows(_run("t", 1.0, 3.0))) == 9


def test_compare_names_a_file_that_is_not_a_bench_json(tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"a": 1}')
    p = subprocess.run([sys.executable, "-m", "dendrosim.cli", "bench", "--compare", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "notes.json" in p.stderr and "not a bench JSON" in p.stderr
    csv_bad = tmp_path / "notes.csv"
    csv_bad.write_text("a,b\n1,2\n")
    p = subprocess.run([sys.executable, "-m", "dendrosim.cli", "bench", "--compare", str(csv_bad)],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "notes.csv" in p.stderr and "not a bench history" in p.stderr


@pytest.mark.parametrize("bad", ["--seconds=0"])
def test_bench_script_refuses_bad_arguments(bad):
    script = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    p = subprocess.run([sys.executable, str(script), bad], capture_output=True, text=True)
    assert p.returncode == 2 and "--seconds" in p.stderr
