"""The bench's reference implementations integrate the engine's equations (else its ratios
would compare different work)."""

import numpy as np

from dendrosim import config
from dendrosim.bench import bench_config
from dendrosim.bench_floor import run_floor
from dendrosim.simulation import MemorySink, Simulation


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
    """A bench JSON as dendrosim.bench.main writes it (only the fields the targets read)."""
    results = [dict(workload="30-20-10 f64", engine_steps_per_s=small)]
    if mnist is not None:
        results.append(dict(workload="MNIST steady-state epoch 784-500-500-10",
                            per_batch_ms={"two_sweep": [mnist, 1.0, 1.0], "exact": [9.0, 1.0, 1.0]}))
    return dict(time=time, results=results, ensemble_speedup=ens, second_start_s=0.9)


def test_compare_marks_each_missed_target(tmp_path, capsys):
    """Columns oldest first whatever the argument order; '*' on exactly the cells below an
    at-least target or above an at-most one; '-' where a run did not measure the row."""
    import json
    import math

    from dendrosim.bench_compare import TARGETS, compare_main, met, read
    new, old = tmp_path / "bench_new.json", tmp_path / "bench_old.json"
    new.write_text(json.dumps(_run("2026-02-01T00:00:00", 1.2e6, 2.9, mnist=1.6)))
    old.write_text(json.dumps(_run("2026-01-01T00:00:00", 0.9e6, 3.1)))
    assert compare_main([str(new), str(old)]) == 0
    lines = capsys.readouterr().out.splitlines()
    heads = lines[0].split()[1:]
    rows = {line.split()[0]: dict(zip(heads, line.split()[1:])) for line in lines[3:5]}
    assert list(rows) == ["old", "new"]
    assert rows["old"]["30-20-10"] == "900,000*" and rows["new"]["30-20-10"] == "1,200,000"
    assert rows["old"]["ensemble"] == "3.10" and rows["new"]["ensemble"] == "2.90*"
    assert rows["old"]["MNIST/BP"] == "-" and rows["new"]["MNIST/BP"] == "1.60*"   # two_sweep's ratio, at most 1.5
    assert rows["new"]["2nd-start"] == "0.90" and rows["new"]["784-f64-on"] == "-"
    assert len(heads) == len(TARGETS) and all(len(line) <= len(lines[0]) for line in lines)
    assert met(1.5, 1.5, "max") and met(3.0, 3.0, "min") and met(math.nan, 1.0, "min") is None
    assert math.isnan(read({"results": []}, ("workload", "30-20-10 f64", "engine_steps_per_s")))


def test_compare_names_a_file_that_is_not_a_bench_json(tmp_path):
    import subprocess
    import sys
    bad = tmp_path / "notes.json"
    bad.write_text('{"a": 1}')
    p = subprocess.run([sys.executable, "-m", "dendrosim.cli", "bench", "--compare", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "notes.json" in p.stderr and "not a bench JSON" in p.stderr
