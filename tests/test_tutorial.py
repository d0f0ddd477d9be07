"""docs/tutorial.md runs as written: every ```bash block (through ``bash -e``, with a
``dendrosim`` command that runs this tree's code) and every ```python block (in one
namespace), in order, in a temporary folder; then the key facts the text states are checked
against the outputs (files exist, the apical error falls, the sweep report has two grid points
and the faster rates end with the lower loss). The sweep also runs once with dask hidden, the
serial fallback the text promises."""

import csv
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)


def blocks():
    """The tutorial's code blocks in order, as (language, source)."""
    return BLOCK.findall(TUTORIAL.read_text())


def environment(tmp_path, hide_dask=False):
    """PATH with a ``dendrosim`` shim for this tree's code; optionally a ``dask`` and a
    ``distributed`` that fail to import, as when they are not installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "dendrosim"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dendrosim.cli "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    paths = [str(ROOT)]
    if hide_dask:
        for name in ("dask", "distributed"):
            pkg = tmp_path / "nodask" / name
            pkg.mkdir(parents=True)
            (pkg / "__init__.py").write_text(f"raise ImportError('{name} hidden by the test')\n")
        paths.insert(0, str(tmp_path / "nodask"))
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def workdir(tmp_path):
    """A fresh folder with the repository's model files, as the reader's checkout has them."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "models").symlink_to(ROOT / "models")
    return work


def run_bash(source, cwd, env):
    p = subprocess.run(["bash", "-e", "-c", source], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, f"block failed ({p.returncode}):\n{source}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p.stdout


def sweep_report(work):
    """Grid-point rows of the sweep report's markdown table: {eta_up: mean final loss}."""
    rows = [line for line in (work / "fig1_sweep" / "report_loss.md").read_text().splitlines()
            if line.startswith("| [")]
    return {row.split("|")[1].strip(): float(row.split("|")[3].split("±")[0]) for row in rows}


def check_sweep(work):
    with open(work / "fig1_sweep" / "index.csv") as f:
        index = list(csv.DictReader(f))
    assert len(index) == 4 and {r["status"] for r in index} == {"completed"}
    assert all((work / "fig1_sweep" / r["file"]).exists() or Path(r["file"]).exists() for r in index)
    losses = sweep_report(work)
    assert set(losses) == {"[0.02375, 0.01]", "[0.006, 0.0025]"}           # two grid points
    assert losses["[0.02375, 0.01]"] < 0.1 < 1.0 < losses["[0.006, 0.0025]"]  # as the text says
    assert (work / "fig1_sweep" / "report_loss.png").exists()


def test_the_tutorial_runs_as_written(tmp_path, monkeypatch):
    import h5py
    code = blocks()
    assert [lang for lang, _ in code].count("bash") >= 4 and any(lang == "python" for lang, _ in code)
    work = workdir(tmp_path)
    env = environment(tmp_path)
    monkeypatch.chdir(work)
    namespace = {"__name__": "tutorial"}
    outputs = []
    for lang, source in code:
        if lang == "bash":
            outputs.append(run_bash(source, work, env))
        else:
            exec(compile(source, str(TUTORIAL), "exec"), namespace)

    with h5py.File(work / "fig1.h5", "r") as f:
        assert f.attrs["status"] == "completed" and f["metrics/apical_norm"].shape == (30, 1)
    assert "completed" in outputs[1] and "/traces/layer1/v_A" in outputs[1]   # dendrosim info
    for png in ("fig1_apical.png", "fig1_output.png", "apical_onset.png"):
        assert (work / png).stat().st_size > 10_000, png
    apical, loss = namespace["apical"], namespace["loss"]
    assert np.isnan(loss[0])                                   # no target in the first presentation
    assert apical[1] > 0.15 and apical[1] > 3 * apical[-10:].mean()   # the error appears, then falls
    assert apical[-10:].mean() < 0.06                          # to the noise floor (~0.04)
    assert loss[-1] < 1e-2 * loss[1]
    check_sweep(work)


def test_the_tutorial_sweep_runs_without_dask(tmp_path):
    work = workdir(tmp_path)
    env = environment(tmp_path, hide_dask=True)
    sweep = [source for lang, source in blocks() if lang == "bash" and "dendrosim sweep" in source]
    assert len(sweep) == 2
    outputs = [run_bash(source, work, env) for source in sweep]
    check_sweep(work)
    assert "| [0.02375, 0.01] |" in outputs[1]

