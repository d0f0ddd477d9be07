"""The Latent Equilibrium reproduction scripts (scripts/reproduce_le_bars.py,
scripts/reproduce_le_yinyang.py) end to end with --quick: the table has the expected rows, every
number is a percentage, and the table's accuracies are those of the runs' HDF5 files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dendrosim

ROOT = Path(__file__).resolve().parents[1]


def run_script(name, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / name), *map(str, args)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def file_accuracy(path) -> float:
    """The last evaluated test accuracy of a run, in %, read straight from its file."""
    with dendrosim.load(path) as run:
        _, a = run.metric("test_accuracy")
        assert run.status == "completed"
    return 100 * float(a[~np.isnan(a)][-1])


def percentages(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", cell)]


@pytest.fixture(scope="module")
def bars(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bars")
    out = run_script("reproduce_le_bars.py", "--quick", "--jobs", "2", "--out", tmp / "runs", "--report", tmp / "doc")
    return tmp, out


def test_bars_table_rows_and_numbers(bars):
    tmp, _ = bars
    text = (tmp / "doc" / "le_bars.md").read_text()
    rows = [line.split("|")[1:-1] for line in text.splitlines() if re.match(r"\| \d", line)]
    assert [r[0].strip() for r in rows] == ["1", "10"]
    for r in rows:
        le, orig = percentages(r[1]), percentages(r[3])
        assert len(le) == len(orig) == 1                  # one seed: a mean, no SEM
        assert 0 <= le[0] <= 100 and 0 <= orig[0] <= 100
        for c in (r[2], r[4]):
            end, ever, n = percentages(c)
            assert n == 1 and 0 <= end <= ever <= 1
    assert (tmp / "doc" / "le_bars.png").stat().st_size > 1000
    assert "/tmp" not in text and str(tmp) not in text      # no machine paths in the report


def test_bars_table_is_the_files_accuracy(bars):
    tmp, _ = bars
    text = (tmp / "doc" / "le_bars.md").read_text()
    rows = {r[0].strip(): r for r in (line.split("|")[1:-1] for line in text.splitlines() if re.match(r"\| \d", line))}
    for T in ("1", "10"):
        for mode, col in (("LE", 1), ("original", 3)):
            acc = file_accuracy(tmp / "runs" / f"bars_{mode}_T{T}ms_e20_s12345.h5")
            assert percentages(rows[T][col])[0] == pytest.approx(acc, abs=0.051), (T, mode)
            assert percentages(rows[T][col + 1])[0] == (acc == 100.0)


def test_bars_rerun_skips_finished_runs(bars):
    tmp, _ = bars
    f = tmp / "runs" / "bars_LE_T1ms_e20_s12345.h5"
    before = f.stat().st_mtime_ns
    out = run_script("reproduce_le_bars.py", "--quick", "--out", tmp / "runs", "--report", tmp / "doc")
    assert "4 of 4 runs already complete" in out
    assert f.stat().st_mtime_ns == before


def test_bars_runs_scale_the_rates_with_presentation_time(bars):
    tmp, _ = bars
    for T in (1.0, 10.0):
        with dendrosim.load(tmp / "runs" / f"bars_LE_T{T:g}ms_e20_s12345.h5") as run:
            cfg = run.cfg
        assert cfg.task["duration"] == T and cfg.network.latent_equilibrium
        assert cfg.plasticity.eta_up == pytest.approx((0.5 / T, 0.1 / T))
        assert cfg.plasticity.eta_IP == pytest.approx((0.2 / T,))


def test_yinyang_quick(tmp_path):
    run_script("reproduce_le_yinyang.py", "--quick", "--out", tmp_path / "runs", "--report", tmp_path / "doc")
    text = (tmp_path / "doc" / "le_yinyang.md").read_text()
    rows = {r[0].strip(): r[1].strip() for r in (line.split("|")[1:-1] for line in text.splitlines()
                                                  if line.startswith("| ") and not line.startswith("| network"))}
    anchors = [v for k, v in rows.items() if not k.startswith("dendrosim")]
    assert anchors == ["98.7 ± 0.3", "64.3 ± 0.2", "96.7 ± 0.8", "97.2 ± 1.1"]
    ours = [v for k, v in rows.items() if k.startswith("dendrosim, latent equilibrium")]
    assert len(ours) == 1
    acc = file_accuracy(tmp_path / "runs" / "yinyang_LE_e2_n300_s12345.h5")
    assert 0 <= float(ours[0]) <= 100
    assert float(ours[0]) == pytest.approx(acc, abs=0.051)
    assert (tmp_path / "doc" / "le_yinyang.png").stat().st_size > 1000
