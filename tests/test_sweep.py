"""dendrosim sweep / sweep-report: Dask and serial executors, skip/resume, failures, aggregation."""

from __future__ import annotations

import builtins
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from dendrosim import cli
from dendrosim.sweep import core, grid, report_main, summarize, sweep_main
from dendrosim.sweep.executors import WORKER_ENV, dask_available, slurm_cluster_kwargs

TINY = """
[network]
sizes = [5, 4, 3]
[plasticity]
eta_up = [0.001, 0.0005]
eta_IP = 0.002
eta_PI = 0.001
[noise]
sigma = 0.1
[task]
kind = "self_predicting"
n_patterns = 20
duration = 5.0
[record]
every = 5
weights_every = 250
"""
GRID = "plasticity.eta_PI=0.001,0.01"
VALUES = ("0.001", "0.01")
SEEDS = (0, 1, 2)

needs_dask = pytest.mark.skipif(not dask_available(),
                                reason="dask.distributed is not installed (pip install -e '.[sweep]')")


def same_data(a_path, b_path):
    """Every dataset of traces, weights and metrics is equal (NaN == NaN) and the status too."""
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        assert a.attrs["status"] == b.attrs["status"] == "completed"
        assert a.attrs["config"] == b.attrs["config"]
        for g in ("traces", "weights", "metrics"):
            names = []
            a[g].visititems(lambda n, o, names=names: names.append(n) if isinstance(o, h5py.Dataset) else None)
            other = []
            b[g].visititems(lambda n, o, other=other: other.append(n) if isinstance(o, h5py.Dataset) else None)
            assert sorted(names) == sorted(other), g
            assert names, g
            for n in names:
                x, y = a[g][n][()], b[g][n][()]
                assert x.shape == y.shape, f"{g}/{n}"
                assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f"{g}/{n}"


def points_of(sweep_dir):
    return json.loads((Path(sweep_dir) / "sweep.json").read_text())["points"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    cfg = d / "tiny.toml"
    cfg.write_text(TINY)
    return cfg


@pytest.fixture(scope="module")
def refs(tiny):
    """One `dendrosim run` per point (in-process CLI), keyed by (value, seed)."""
    out = {}
    for v in VALUES:
        for s in SEEDS:
            path = tiny.parent / f"ref_{v}_{s}.h5"
            rc = cli.main(["run", str(tiny), "-o", str(path), "--quiet",
                           "--set", f"plasticity.eta_PI={v}", "--set", f"init.seed={s}"])
            assert rc == 0
            out[v, s] = path
    return out


@pytest.fixture(scope="module")
def dask_sweep(tiny):
    """2 values x 3 seeds on a LocalCluster of 2 workers (serially when dask is missing)."""
    d = tiny.parent / "dask_sweep"
    how = ["--workers", "2"] if dask_available() else ["--serial"]
    rc = sweep_main([str(tiny), "--grid", GRID, "--seeds", "0:3", "-o", str(d), "--quiet", *how])
    assert rc == 0
    return d


def check_against_refs(sweep_dir, refs):
    pts = points_of(sweep_dir)
    assert len(pts) == 6
    seen = set()
    for p in pts:
        v = str(p["grid"]["plasticity.eta_PI"])
        assert p["status"] == "completed", p
        same_data(Path(sweep_dir) / p["file"], refs[v, p["seed"]])
        seen.add((v, p["seed"]))
    assert seen == set(refs)
    return pts


# -- the sweep itself ------------------------------------------------------------------

@needs_dask
def test_dask_sweep_equals_single_runs(dask_sweep, refs):
    pts = check_against_refs(dask_sweep, refs)
    assert all(p["worker"].split(":")[-1] != str(os.getpid()) for p in pts)   # ran in workers
    assert all(p["threads"] == 1 for p in pts)                                # NUMBA_NUM_THREADS=1
    # index: final value and mean over the last 10 % (20 patterns -> last 2) of every metric
    for p in pts:
        with h5py.File(dask_sweep / p["file"], "r") as f:
            m = f["metrics/interneuron_mismatch"][:, 0]
            a = f["metrics/apical_norm"][:, 0]
        assert p["final"]["interneuron_mismatch[1]"] == m[-1]
        assert p["tail"]["interneuron_mismatch[1]"] == pytest.approx(m[-2:].mean(), rel=1e-14)
        assert p["final"]["apical_norm[1]"] == a[-1]
        assert p["final"]["loss"] is None            # no target in this task: NaN -> null
    rows = (dask_sweep / "index.csv").read_text().splitlines()
    assert len(rows) == 7 and rows[0].startswith("point,group,seed,plasticity.eta_PI,status")
    # re-running a finished sweep recomputes nothing and needs no cluster
    before = {p["file"]: os.stat(dask_sweep / p["file"]).st_mtime_ns for p in pts}
    res = core.run_sweep(dask_sweep.parent / "tiny.toml", [GRID], "0:3", dask_sweep, quiet=True)
    assert res.exit_code == 0 and res.executor.startswith("none")
    assert {p["file"]: os.stat(dask_sweep / p["file"]).st_mtime_ns for p in pts} == before
    assert all(r["action"] == "skipped" for r in res.records)


def test_serial_without_dask_gives_the_same_files(tiny, refs, tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_dask(name, *a, **kw):
        if name.split(".")[0] in ("dask", "distributed", "dask_jobqueue"):
            raise ImportError(f"No module named {name!r} (test)")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    d = tmp_path / "serial"
    assert sweep_main([str(tiny), "--grid", GRID, "--seeds", "0:3", "-o", str(d)]) == 0
    err = capsys.readouterr().err
    assert "dask.distributed is not installed" in err and "serially" in err
    pts = check_against_refs(d, refs)
    assert all(p["worker"].endswith(f":{os.getpid()}") for p in pts)
    # a scheduler cannot be used without dask: a bad-arguments exit, nothing run
    d2 = tmp_path / "sched"
    assert sweep_main([str(tiny), "--grid", GRID, "-o", str(d2), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert not list(d2.glob("runs/*.h5"))


def test_ensemble_hook_groups_by_everything_but_the_seed(tiny, refs, tmp_path):
    spec = grid.make_spec(tiny, [GRID, "plasticity.eta_IP=0.002,0.003"], "0:3")
    pts = spec.points()
    groups = grid.ensemble_groups(pts)
    assert len(pts) == 12 and len(groups) == 4
    for g in groups:
        assert [p.seed for p in g] == [0, 1, 2]
        assert len({p.grid for p in g}) == 1 and len({p.group_id for p in g}) == 1
    assert len({g[0].grid for g in groups}) == 4
    assert [len(g) for g in grid.ensemble_groups(pts, max_size=2)] == [2, 1] * 4
    # --ensemble hands a group to one task (run_ensemble, the engine's Ensemble): same files
    d = tmp_path / "ens"
    assert sweep_main([str(tiny), "--grid", GRID, "--seeds", "0:3", "-o", str(d), "--serial", "--quiet",
                       "--ensemble", "-1"]) == 0
    pts = check_against_refs(d, refs)
    assert {p["action"] for p in pts} == {"ran (ensemble)"}


# -- kill and resume ---------------------------------------------------------------------

KILL_SETS = ["--set", "task.n_patterns=3000", "--set", "record.every=50", "--set", "record.weights_every=0"]


def sweep_process(args):
    """``sweep_main(args)`` in a new process group (so that a kill reaches its dask workers)."""
    code = f"import sys; from dendrosim.sweep import sweep_main; sys.exit(sweep_main({args!r}))"
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_group(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)      # the driver and its dask workers
    proc.wait(timeout=30)


@needs_dask
def test_killed_sweep_resumes_and_skips_completed(tiny, tmp_path):
    d = tmp_path / "killed"
    args = [str(tiny), "--grid", GRID, "--seeds", "0:3", "-o", str(d), "--workers", "2", "--quiet", *KILL_SETS]
    proc = sweep_process(args)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sweep made no progress"
            status = {f: core.file_status(f) for f in sorted(d.glob("runs/*.h5"))}
            done = [f for f, s in status.items() if s == "completed"]
            live = [f for f, s in status.items() if s == "running" and _has_checkpoint(f)]
            if len(done) >= 2 and live:
                break
            time.sleep(0.02)
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    status = {f.name: core.file_status(f) for f in d.glob("runs/*.h5")}
    done = {n for n, s in status.items() if s == "completed"}
    assert done and len(done) < 6 and "running" in status.values()
    stamp = {n: (os.stat(d / "runs" / n).st_ino, os.stat(d / "runs" / n).st_mtime_ns) for n in done}
    ckpt = {f.name: _checkpoint_t(f) for f in d.glob("runs/*.h5") if status[f.name] == "running"}

    # the re-run, in a process too: a resume that never ends must fail the test, not hang it
    proc = sweep_process(args)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        pytest.fail("the resumed sweep did not finish in 120 s")
    assert proc.returncode == 0, err
    pts = points_of(d)
    actions = {Path(p["file"]).name: p["action"] for p in pts}
    assert {n for n, a in actions.items() if a == "skipped"} == done
    assert "resumed" in actions.values()
    for p in pts:                # resumed from the checkpoint each file had, not started again
        name = Path(p["file"]).name
        if p["action"] == "resumed":
            assert ckpt[name] is not None and ckpt[name] > 0
            assert p["resumed_from"] == pytest.approx(ckpt[name])
        else:
            assert p["resumed_from"] is None and (name in done or ckpt.get(name) is None)
    assert all(p["status"] == "completed" for p in pts)
    assert {n: (os.stat(d / "runs" / n).st_ino, os.stat(d / "runs" / n).st_mtime_ns) for n in done} == stamp

    clean = tmp_path / "clean"
    ref = core.run_sweep(tiny, [GRID], "0:3", clean, sets=KILL_SETS[1::2], serial=True, quiet=True)
    assert ref.exit_code == 0
    for r in ref.records:
        same_data(d / r["file"], clean / r["file"])


def _checkpoint_t(path):
    from dendrosim.io import load
    try:
        with load(path) as run:
            ck = run.checkpoint()
            return None if ck is None else ck["t"]
    except (OSError, KeyError):
        return None


def _has_checkpoint(path):
    return _checkpoint_t(path) is not None


# -- failures ------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_failing_points_are_recorded_and_do_not_stop_the_others(tiny, tmp_path, monkeypatch, capsys):
    d = tmp_path / "fail"
    args = [str(tiny), "--grid", "simulation.dt=0.1,-1.0,2.5", "--seeds", "0:2", "-o", str(d),
            "--set", "simulation.check_stability=false", "--set", "task.duration=50.0", "--serial"]
    assert sweep_main(args) == 1
    pts = points_of(d)
    by = {(p["grid"]["simulation.dt"], p["seed"]): p for p in pts}
    for s in (0, 1):
        assert by[0.1, s]["status"] == "completed" and by[0.1, s]["error"] == ""
        assert by[-1.0, s]["status"] == "invalid" and "[simulation] dt" in by[-1.0, s]["error"]
        assert not (d / by[-1.0, s]["file"]).exists()
        assert by[2.5, s]["status"] == "diverged" and "diverged at t =" in by[2.5, s]["error"]
        assert core.file_status(d / by[2.5, s]["file"]) == "diverged"
    assert json.loads((d / "sweep.json").read_text())["counts"] == {"completed": 2, "invalid": 2, "diverged": 2}
    # a re-run recomputes neither the completed nor the diverged points, and still says 1
    capsys.readouterr()
    assert sweep_main(args) == 1
    assert {p["action"] for p in points_of(d) if p["status"] != "invalid"} == {"skipped"}
    # as ensembles: the first member to diverge stops the call; the others go on alone (resumed)
    ens = tmp_path / "fail_ens"
    assert sweep_main([*args, "-o", str(ens), "--ensemble", "-1"]) == 1
    for p, q in zip(points_of(d), points_of(ens)):
        assert (p["status"], p["error"], p["final"]) == (q["status"], q["error"], q["final"])
        if p["status"] == "completed":
            same_data(d / p["file"], ens / q["file"])

    # any exception in a run: recorded with its error; the other points complete
    from dendrosim.simulation import Simulation
    real_run = Simulation.run

    def flaky(self, sink, *a, **kw):
        if self.cfg.init.seed == 1:
            raise RuntimeError("disk on fire")
        return real_run(self, sink, *a, **kw)

    monkeypatch.setattr(Simulation, "run", flaky)
    d2 = tmp_path / "exc"
    assert sweep_main([str(tiny), "--grid", GRID, "--seeds", "0:3", "-o", str(d2), "--serial"]) == 1
    st = {(str(p["grid"]["plasticity.eta_PI"]), p["seed"]): p for p in points_of(d2)}
    for v in VALUES:
        assert st[v, 1]["status"] == "failed" and "RuntimeError: disk on fire" in st[v, 1]["error"]
        assert st[v, 0]["status"] == st[v, 2]["status"] == "completed"


@pytest.mark.parametrize("extra,key", [
    (["--grid", "plasticity.eta_XX=1,2"], "[plasticity] eta_XX"),
    (["--grid", "plasticity.eta_PI=0.001", "--set", "noise.sigmaa=0.2"], "[noise] sigmaa"),
    (["--grid", "bogus.key=1,2"], "[bogus]"),
    (["--grid", "simulation.dt=-1,-2"], "[simulation] dt"),          # no valid grid point at all
    (["--grid", "plasticity.eta_PI"], "[sweep] grid"),
    (["--grid", "init.seed=1,2"], "[sweep] grid"),
    (["--seeds", "a:b"], "[sweep] seeds"),
    (["--seeds", "3:1"], "[sweep] seeds"),
])
def test_a_bad_sweep_is_exit_2_before_anything_runs(tiny, tmp_path, capsys, extra, key):
    d = tmp_path / "bad"
    assert sweep_main([str(tiny), "-o", str(d), "--serial", *extra]) == 2
    assert key in capsys.readouterr().err
    assert not d.exists()


# -- aggregation ---------------------------------------------------------------------------

def test_sweep_report_mean_and_sem(dask_sweep, tmp_path, capsys):
    png, md = tmp_path / "fig.png", tmp_path / "table.md"
    assert report_main([str(dask_sweep), "--metric", "interneuron_mismatch", "-o", str(png), "--md", str(md)]) == 0
    assert png.stat().st_size > 5000
    printed = capsys.readouterr().out
    s = summarize(dask_sweep, "interneuron_mismatch")
    assert s.metric == "interneuron_mismatch[1]" and len(s.groups) == 2
    for g in s.groups:
        finals, tails, curves = [], [], []
        for p in points_of(dask_sweep):
            if p["group"] != g.group:
                continue
            with h5py.File(dask_sweep / p["file"], "r") as f:
                m = f["metrics/interneuron_mismatch"][:, 0]
            finals.append(m[-1])
            tails.append(m[-2:].mean())                      # last 10 % of 20 patterns
            curves.append(m)
        n = len(finals)
        assert n == 3 and g.n == 3
        mean, sem = np.mean(finals), np.std(finals, ddof=1) / math.sqrt(n)
        assert g.final_mean_sem == pytest.approx((mean, sem), rel=1e-12)
        tmean, tsem = np.mean(tails), np.std(tails, ddof=1) / math.sqrt(n)
        assert g.tail_mean_sem == pytest.approx((tmean, tsem), rel=1e-12)
        t, cm, cs = g.curve()
        assert t.shape == (20,) and t[-1] == pytest.approx(100.0)
        np.testing.assert_allclose(cm, np.mean(curves, axis=0), rtol=1e-12)
        np.testing.assert_allclose(cs, np.std(curves, axis=0, ddof=1) / math.sqrt(n), rtol=1e-12)
        row = f"| {g.grid['plasticity.eta_PI']} | 3/3 | {mean:.4g} ± {sem:.2g} | {tmean:.4g} ± {tsem:.2g} | - |"
        assert row in md.read_text() and row in printed
    # the default metric skips the all-NaN loss of a task without target
    assert summarize(dask_sweep).metric == "interneuron_mismatch[1]"
    assert report_main([str(dask_sweep), "--metric", "nope"]) == 2
    assert report_main([str(tmp_path / "nothing")]) == 2


# -- small parts -----------------------------------------------------------------------------

def test_grid_and_seed_parsing(tiny):
    assert grid.split_values("[1,2],[3, 4],'a,b',5") == ["[1,2]", "[3, 4]", "'a,b'", "5"]
    assert grid.parse_grid("plasticity.eta_up=[0.1,0.2],[0.3,0.4]") == \
        ("plasticity.eta_up", ["[0.1,0.2]", "[0.3,0.4]"])
    assert grid.parse_seeds("0:3") == [0, 1, 2]
    assert grid.parse_seeds("0:10:4,20") == [0, 4, 8, 20]
    assert grid.parse_seeds("7") == [7] and grid.parse_seeds([1, 2]) == [1, 2]
    for bad in ("1,1", "-1", "x"):
        with pytest.raises(Exception, match="seeds"):
            grid.parse_seeds(bad)
    # file names: stable, and they change with anything but the seed
    a = grid.make_spec(tiny, [GRID], "0:2").points()
    b = grid.make_spec(tiny, [GRID], "0:5").points()
    c = grid.make_spec(tiny, [GRID], "0:2", sets=["noise.sigma=0.2"]).points()
    assert [p.file for p in a] == [p.file for p in b[:2]] + [p.file for p in b[5:7]]
    assert not {p.file for p in a} & {p.file for p in c}
    # the config's own seed when --seeds is absent; [sweep] grid and seeds in the TOML
    assert [p.seed for p in grid.make_spec(tiny, [GRID]).points()] == [0, 0]
    cfg = tiny.parent / "with_sweep.toml"
    cfg.write_text(TINY + '\n[sweep]\nseeds = "0:2"\nworkers = 2\n[sweep.grid]\n"noise.sigma" = [0.1, 0.2]\n')
    spec = grid.make_spec(cfg)
    assert spec.grid == [("noise.sigma", ["0.1", "0.2"])] and spec.seeds == [0, 1]
    assert "sweep" not in spec.raw and len(spec.points()) == 4


def test_slurm_settings_become_jobqueue_arguments():
    kw, scale = slurm_cluster_kwargs({"cores": 8, "memory": "16GB", "walltime": "04:00:00",
                                      "queue": "normal", "jobs": 5})
    assert scale == {"jobs": 5}
    assert kw["processes"] == 8 and kw["queue"] == "normal" and "jobs" not in kw
    for k, v in WORKER_ENV.items():
        assert f"export {k}={v}" in kw["job_script_prologue"]
    kw, scale = slurm_cluster_kwargs({"cores": 2, "memory": "4GB", "maximum_jobs": 10})
    assert scale == {"maximum_jobs": 10}
    with pytest.raises(Exception, match="memory"):
        slurm_cluster_kwargs({"cores": 2})


def test_learner_configs_sweep_like_dendrosim_run(tmp_path):
    """[learner] rule != "continuous": each point is what `dendrosim run` writes (run_learner)."""
    model = Path(__file__).resolve().parents[1] / "models" / "konishi2023" / "bp.toml"
    sets = ["task.n_trials=160"]
    d = tmp_path / "learn"
    assert sweep_main([str(model), "--grid", "learner.eta=0.002,0.005", "--seeds", "0:2", "-o", str(d),
                       "--serial", "--quiet", "--set", sets[0]]) == 0
    for p in points_of(d):
        ref = tmp_path / f"ref_{p['point']}.h5"
        assert cli.main(["run", str(model), "-o", str(ref), "--quiet", "--set", sets[0],
                         *[x for o in p["overrides"] for x in ("--set", o)]]) == 0
        with h5py.File(d / p["file"], "r") as a, h5py.File(ref, "r") as b:
            assert a.attrs["config"] == b.attrs["config"] and a.attrs["status"] == "completed"
            for g in ("metrics", "weights", "trials"):
                assert sorted(a[g]) == sorted(b[g]) and len(a[g])
                for n in a[g]:
                    assert np.array_equal(a[g][n][()], b[g][n][()], equal_nan=True), f"{g}/{n}"
            assert p["final"]["loss"] == a["metrics/loss"][-1]
    s = summarize(d, "loss")
    assert s.t_units == "trial" and [g.n for g in s.groups] == [2, 2]
