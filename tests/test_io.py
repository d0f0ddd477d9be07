"""HDF5 output: what is in the file is what the engine computed; layout; memory; resume."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import h5py
import numpy as np
import pytest

from dendrosim.config import from_dict
from dendrosim.io import HDF5Sink, load, read_checkpoint
from dendrosim.resume import resume_simulation
from dendrosim.simulation import MemorySink, Simulation

ALL_VARIABLES = ["u_P", "v_B", "v_A", "u_I", "v_I", "r", "r_I", "input", "target"]


def test_trace_window_is_the_slice_of_the_whole_trace(tmp_path):
    """trace(name, window=(t0, t1)) returns exactly the samples with t0 <= t <= t1 of the whole
    trace, ends included, with and without a neuron subset; an empty window gives no rows."""
    run_to_file(small_cfg(), tmp_path / "w.h5")
    with load(tmp_path / "w.h5") as run:
        t, v = run.trace("layer1/v_A")
        t0, t1 = t[4], t[11]                              # sample times: both ends are in
        tw, vw = run.trace("layer1/v_A", window=(t0, t1))
        keep = (t >= t0) & (t <= t1)
        assert keep.sum() == 8
        np.testing.assert_array_equal(tw, t[keep])
        np.testing.assert_array_equal(vw, v[keep])
        _, vs = run.trace("layer1/v_A", neurons=[1, 3], window=(t0 + 1e-9, t1))
        np.testing.assert_array_equal(vs, v[(t > t0) & (t <= t1)][:, [1, 3]])
        assert run.trace("layer1/v_A", window=(t[-1] + 1.0, t[-1] + 2.0))[1].shape[0] == 0


def small_cfg(n=5, duration=10.0, every=3, mode="sample", variables=ALL_VARIABLES, neurons=(),
              sigma=0.1, weights_every=40, task="single_pattern", **extra):
    task_d = ({"kind": "single_pattern", "n_repeats": n, "duration": duration, "target_from": 2}
              if task == "single_pattern" else
              {"kind": "self_predicting", "n_patterns": n, "duration": duration})
    d = {"network": {"sizes": [5, 4, 3]},
         "plasticity": {"eta_up": [0.02, 0.01], "eta_IP": 0.02, "eta_PI": 0.01, "eta_down": 0.005},
         "noise": {"sigma": sigma},
         "task": task_d,
         "record": {"every": every, "mode": mode, "variables": list(variables),
                    "neurons": list(neurons), "weights_every": weights_every}}
    for sec, vals in extra.items():
        d.setdefault(sec, {}).update(vals)
    return from_dict(d)


def run_to_file(cfg, path, **kw):
    sim = Simulation(cfg)
    sink = HDF5Sink(path, **kw)
    try:
        sim.run(sink)
    finally:
        sink.close()
    return sim


def run_in_memory(cfg):
    sim = Simulation(cfg)
    sink = MemorySink()
    sim.run(sink)
    return sim, sink


@pytest.mark.parametrize("mode", ["sample", "mean"])
def test_file_equals_engine_state(tmp_path, mode):
    """Every recorded variable, weight snapshot and metric equals an in-memory run's."""
    cfg = small_cfg(mode=mode)
    sim, mem = run_in_memory(cfg)
    run_to_file(cfg, tmp_path / "a.h5")
    with load(tmp_path / "a.h5") as run:
        assert run.status == "completed"
        names = sorted(c.name for c in sim.channels)
        assert names == sorted(run.traces)
        # every variable of the spec made it into at least one layer
        assert {n.split("/")[1] for n in names} == set(ALL_VARIABLES)
        for name in names:
            t_mem, v_mem = mem.trace(name)
            t, v = run.trace(name)
            assert v.shape == v_mem.shape, name
            np.testing.assert_array_equal(t, t_mem, err_msg=name)
            np.testing.assert_array_equal(v, v_mem, err_msg=name)
            np.testing.assert_array_equal(run.neurons(name), np.arange(v.shape[1]))
        assert np.all(np.diff(run.t) > 0)
        # the target is NaN while no teacher is on (first two repeats), finite after
        t, tgt = run.trace("layer2/target")
        assert np.all(np.isnan(tgt[t < 2 * 10.0 - 1e-9]))
        assert np.all(np.isfinite(tgt[t >= 2 * 10.0]))
        # weights
        wt, _ = run.weight("up1")
        np.testing.assert_array_equal(wt, mem.weights_t)
        assert wt[0] == 0.0
        for name in sim.net.weights():
            _, W = run.weight(name)
            np.testing.assert_array_equal(W, np.stack([w[name] for w in mem.weights_list]), err_msg=name)
        # metrics
        mt, loss = run.metric("loss")
        np.testing.assert_array_equal(mt, mem.metrics_t)
        np.testing.assert_array_equal(loss, mem.metric("loss"))
        assert np.isnan(loss[0]) and np.isfinite(loss[-1])
        for key in ("apical_norm", "interneuron_mismatch", "pattern"):
            _, m = run.metric(key)
            np.testing.assert_array_equal(m, mem.metric(key), err_msg=key)
        assert run.metrics["apical_norm"].shape == (5, 1)


def test_first_sample_is_the_initial_state(tmp_path):
    """Contract: the first sample is the state at t = 0 (u_P starts at 0, r_0 too)."""
    cfg = small_cfg(every=1, sigma=0.0)
    fresh = Simulation(cfg)
    z0 = fresh.observe(fresh.task.segment(0))
    run_to_file(cfg, tmp_path / "a.h5")
    with load(tmp_path / "a.h5") as run:
        assert run.t[0] == 0.0
        for k in (1, 2):
            t, u = run.trace(f"layer{k}/u_P")
            np.testing.assert_array_equal(u[0], np.zeros(u.shape[1]), err_msg=f"layer{k}/u_P at t = 0")
        t, u_i = run.trace("layer1/u_I")
        np.testing.assert_array_equal(u_i[0], fresh.net.u_I(1))
        for k in (1, 2):
            _, v_b = run.trace(f"layer{k}/v_B")
            np.testing.assert_array_equal(v_b[0], z0[fresh.layout.variable_slice("v_B", k)[1]])
        _, v_a = run.trace("layer1/v_A")
        np.testing.assert_array_equal(v_a[0], z0[fresh.layout.variable_slice("v_A", 1)[1]])


def test_neuron_subsets(tmp_path):
    full = small_cfg(variables=["u_P", "u_I", "r"])
    sub = small_cfg(variables=["u_P", "u_I", "r"], neurons=[0, 2, 7])
    run_to_file(full, tmp_path / "full.h5")
    run_to_file(sub, tmp_path / "sub.h5")
    with load(tmp_path / "full.h5") as a, load(tmp_path / "sub.h5") as b:
        for name in b.traces:
            ids = b.neurons(name)
            assert ids.tolist() == [i for i in (0, 2, 7) if i < a.traces[name].shape[1]], name
            _, vb = b.trace(name)
            _, va = a.trace(name, neurons=ids)
            np.testing.assert_array_equal(vb, va, err_msg=name)
        assert b.neurons("layer1/u_I").tolist() == [0, 2]        # 3 interneurons in layer 1
        assert b.file["traces/layer1/interneurons"][()].tolist() == [0, 2]
        _, v = b.trace("layer0/r", neurons=[2])
        assert v.shape[1] == 1
        with pytest.raises(KeyError, match="not recorded"):
            b.trace("layer0/r", neurons=[1])


def test_layout_attributes_and_scales(tmp_path):
    cfg = small_cfg(n=3)
    run_to_file(cfg, tmp_path / "a.h5", compression="gzip")
    with h5py.File(tmp_path / "a.h5", "r") as f:
        a = f.attrs
        for key in ("dendrosim_version", "config", "seed", "dt", "status", "message"):
            assert key in a, key
        assert a["status"] == "completed" and a["dt"] == 0.1 and a["seed"] == 0
        stored = from_dict(tomllib.loads(a["config"]))
        assert stored.to_toml() == Simulation(cfg).cfg.to_toml()      # resolved, task defaults included
        assert stored.task["duration"] == cfg.task["duration"] and "input_low" in stored.task
        assert f["traces/t"].attrs["units"] == "ms"
        assert f["weights/t"].attrs["units"] == "ms"
        assert f["metrics/t"].attrs["units"] == "ms"
        assert a["time_unit"] == "ms"
        # every dataset outside /checkpoint has units (docs/hdf5_layout.md)
        no_units = []
        f.visititems(lambda n, o: no_units.append(n) if isinstance(o, h5py.Dataset)
                     and not n.startswith("checkpoint/") and "units" not in o.attrs else None)
        assert no_units == []
        u = f["traces/layer1/u_P"]
        assert u.attrs["units"] == "dimensionless"
        assert u.maxshape == (None, 4) and u.chunks is not None
        assert u.compression == "gzip" and u.shuffle
        assert u.dims[0][0] == f["traces/t"] and u.dims[0].label == "time"
        assert u.dims[1][0] == f["traces/layer1/neurons"]
        assert f["traces/layer1/u_I"].dims[1][0] == f["traces/layer1/interneurons"]
        assert f["weights/up1"].shape[1:] == (4, 5) and f["weights/up1"].dims[0][0] == f["weights/t"]
        assert f["metrics/apical_norm"].dims[0][0] == f["metrics/t"]
    run_to_file(cfg, tmp_path / "b.h5")
    with h5py.File(tmp_path / "b.h5", "r") as f:
        assert f["traces/layer1/u_P"].compression is None
    with load(tmp_path / "a.h5") as run:
        assert run.time_unit == "ms" and repr(run).endswith(" ms>")


_MEM_SCRIPT = """
import resource, sys
from dendrosim.config import from_dict
from dendrosim.simulation import Simulation
from dendrosim.io import HDF5Sink
n = int(sys.argv[1])
cfg = from_dict({"network": {"sizes": [5, 4, 3]}, "noise": {"sigma": 0.1},
                 "plasticity": {"eta_up": 0.01, "eta_IP": 0.01, "eta_PI": 0.01},
                 "task": {"kind": "self_predicting", "n_patterns": n, "duration": 10.0},
                 "record": {"every": 1, "variables": %r, "weights_every": 100}})
sim = Simulation(cfg)
sink = HDF5Sink(sys.argv[2])
sim.run(sink)
sink.close()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""" % (ALL_VARIABLES,)


def test_memory_does_not_grow_with_run_length(tmp_path):
    """A run 10x longer (about 100 MB of traces) has the same peak memory."""
    def peak(n):
        out = subprocess.run([sys.executable, "-c", _MEM_SCRIPT, str(n), str(tmp_path / f"m{n}.h5")],
                             capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])
    short, long_ = peak(300), peak(3000)
    with h5py.File(tmp_path / "m3000.h5", "r") as f:
        assert f["traces/t"].shape[0] == 300001
    assert long_ < 1.1 * short, (short, long_)


def _compare_files(a_path, b_path):
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset)
                     and not n.startswith("checkpoint") else None)
        assert len(names) > 10
        for n in names:
            x, y = a[n][()], b[n][()]
            assert x.shape == y.shape, n
            assert np.array_equal(x, y, equal_nan=True), n
        return names


@pytest.mark.parametrize("mode", ["sample", "mean"])
def test_resume_is_bit_identical(tmp_path, mode):
    """Run 8 patterns in one go vs 3 + (interrupt) + resume: identical arrays, noise on."""
    cfg = small_cfg(n=8, every=3, mode=mode, sigma=0.1, weights_every=25,
                    variables=["u_P", "v_A", "u_I", "r", "target"])
    run_to_file(cfg, tmp_path / "one.h5")
    sim = Simulation(cfg)
    sink = HDF5Sink(tmp_path / "two.h5", checkpoint_interval=1e9)
    sim.run(sink, until_segment=3)
    # the engine went on for a while after the checkpoint (as when Ctrl-C arrives mid-pattern)
    sink.traces(np.array([1e6, 2e6]), np.ones((2, sim.rec_src.size)))
    sink.weights(1e6, sim.net.weights())
    sink.close()
    with load(tmp_path / "two.h5") as run:
        assert run.status == "interrupted"
        assert run.checkpoint()["segment"] == 3
        assert run.t[-1] == 2e6
    sim2, sink2 = resume_simulation(tmp_path / "two.h5")
    assert sim2.state.segment == 3 and sim2.t == pytest.approx(30.0)
    with load(tmp_path / "two.h5") as run:
        assert run.status == "running"
        assert run.t[-1] < 30.0 + 1e-9           # truncated to the checkpoint
    sim2.run(sink2)
    sink2.close()
    with load(tmp_path / "two.h5") as run:
        assert run.status == "completed"
    _compare_files(tmp_path / "one.h5", tmp_path / "two.h5")


def test_resume_refuses_completed_run(tmp_path):
    from dendrosim.config import ConfigError
    run_to_file(small_cfg(n=2), tmp_path / "a.h5")
    with pytest.raises(ConfigError, match="already completed"):
        resume_simulation(tmp_path / "a.h5")


def test_checkpoint_slots_alternate_and_torn_slot_is_ignored(tmp_path):
    cfg = small_cfg(n=6)
    sim = Simulation(cfg)
    sink = HDF5Sink(tmp_path / "a.h5", checkpoint_interval=0.0)   # write at every pattern
    sim.run(sink, until_segment=5)
    sink.close()
    with h5py.File(tmp_path / "a.h5", "r+") as f:
        snap, lengths, slot, seq = read_checkpoint(f)
        assert int(snap["segment"]) == 5 and lengths["/metrics/t"] == 5
        other = f[f"checkpoint/slot{1 - slot}"]
        assert int(other["state/segment"][()]) == 4 and int(other["seq"][()]) == seq - 1
        f[f"checkpoint/slot{slot}/seq"][()] = -1         # as if killed while writing it
    sim2, sink2 = resume_simulation(tmp_path / "a.h5")
    assert sim2.state.segment == 4
    sim2.run(sink2)
    sink2.close()
    run_to_file(cfg, tmp_path / "b.h5")
    _compare_files(tmp_path / "a.h5", tmp_path / "b.h5")


def test_written_checkpoint_refers_to_rows_in_the_file(tmp_path):
    """A checkpoint in the file never counts rows still in RAM (a SIGKILL would lose them)."""
    cfg = small_cfg(n=6, every=1)
    sim = Simulation(cfg)
    sink = HDF5Sink(tmp_path / "a.h5", checkpoint_interval=0.0, flush_interval=1e9)
    sim.run(sink, until_segment=3)
    with h5py.File(tmp_path / "a.h5", "r", libver="latest", swmr=True) as f:   # writer still open
        snap, lengths, _, _ = read_checkpoint(f)
        assert int(snap["segment"]) == 3 and lengths["/traces/t"] == 300
        for name, n in lengths.items():
            assert f[name].shape[0] >= n, name
        np.testing.assert_array_equal(f["traces/t"][:300], np.arange(300) * 0.1)
    sink.close()


def test_reader_sees_consistent_prefix_in_process(tmp_path):
    """A second handle opened between flushes sees equal-length, increasing data."""
    cfg = small_cfg(n=10, every=1, variables=["u_P", "v_A"])
    sim = Simulation(cfg)
    sink = HDF5Sink(tmp_path / "a.h5", flush_interval=0.0)
    sim.run(sink, until_segment=4)
    with load(tmp_path / "a.h5") as run:
        assert run.status == "running"
        t, v = run.trace("layer1/v_A")
        assert len(t) == 4 * 100 and v.shape == (400, 4)
        assert np.all(np.diff(t) > 0)
    sim.run(sink)
    sink.close()
    with load(tmp_path / "a.h5") as run:
        t2, v2 = run.trace("layer1/v_A")
        np.testing.assert_array_equal(v2[:400], v)


def test_info_summarises(tmp_path):
    from dendrosim.io import info
    run_to_file(small_cfg(n=3), tmp_path / "a.h5")
    text = info(tmp_path / "a.h5")
    for needle in ("completed", "sizes [5, 4, 3]", "/traces/layer1/v_A", "(101, 4)",
                   "simulated 30.0 ms of 30.0 ms (100.0 %), 3 of 3 patterns", "apical_norm", "loss"):
        assert needle in text, needle


def test_non_swmr_mode_live_and_finished(tmp_path):
    cfg = small_cfg(n=3, variables=["u_P"])
    sim = Simulation(cfg)
    sink = HDF5Sink(tmp_path / "live.h5", swmr=False, flush_interval=0.0)
    sim.run(sink, until_segment=2)
    with load(tmp_path / "live.h5") as run:                 # while the writer has it open
        assert run.status == "running" and run.trace("layer1/u_P")[0].shape[0] == 2 * 100 // 3 + 1
    sink.close()
    run_to_file(cfg, tmp_path / "a.h5", swmr=False)
    sim, mem = run_in_memory(cfg)
    with load(tmp_path / "a.h5") as run:
        assert run.status == "completed" and run.attrs["swmr"] == 0
        np.testing.assert_array_equal(run.trace("layer1/u_P")[1], mem.trace("layer1/u_P")[1])


def test_small_buffers_flush_in_many_blocks(tmp_path):
    """Tiny buffers (many partial flushes, rows split across blocks) give the same file."""
    cfg = small_cfg(n=4, every=1, weights_every=7)
    run_to_file(cfg, tmp_path / "a.h5")
    run_to_file(cfg, tmp_path / "b.h5", buffer_bytes=100, flush_interval=0.0)
    _compare_files(tmp_path / "a.h5", tmp_path / "b.h5")


def test_status_fallback_when_hdf5_refuses_attributes_in_swmr(tmp_path, monkeypatch):
    """Older HDF5 forbid attribute writes in SWMR mode: the sink reopens the file instead."""
    cfg = small_cfg(n=3, every=1, variables=["u_P"])
    orig = h5py.AttributeManager.__setitem__
    calls = {"n": 0}

    def refuse_once(self, name, value):
        if name == "status" and calls["n"] == 0 and value != "running":
            calls["n"] += 1
            raise OSError("attribute write refused in SWMR mode (simulated)")
        return orig(self, name, value)
    monkeypatch.setattr(h5py.AttributeManager, "__setitem__", refuse_once)
    sim = Simulation(cfg)
    sink = HDF5Sink(tmp_path / "a.h5", buffer_bytes=200)
    sim.run(sink)
    sink.traces(np.array([1e6]), np.zeros((1, sim.rec_src.size)))   # writes after the reopen
    sink.close()
    assert calls["n"] == 1
    _, mem = run_in_memory(cfg)
    with load(tmp_path / "a.h5") as run:
        assert run.status == "completed"
        t, u = run.trace("layer1/u_P")
        np.testing.assert_array_equal(u[:-1], mem.trace("layer1/u_P")[1])
        assert t[-1] == 1e6
