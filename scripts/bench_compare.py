"""The performance targets of the project and a side-by-side view of earlier bench runs.

``python scripts/bench.py --compare docs/performance/history.csv`` (or ``dendrosim bench
--compare ...``) prints one column per target and one row per run (oldest first), so that a
change in speed shows up against earlier runs of the same machine; every bench run prints
the same rows for itself. It reads the long-format history CSV (header
``time,commit,host,workload,quantity,value,unit``; one run per ``time`` and ``commit``) and
bench JSON files written with ``--json``.

Absolute speeds move with the load of the host (the bench takes the best of three
interleaved rounds); the ratios to NumPy and between ensemble and separate runs are the
figures to trust across runs.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import textwrap
from pathlib import Path

ENSEMBLE = "64 seeds of 30-20-10"
MNIST = "MNIST steady-state batch of 10 784-500-500-10"
RECORDING = "30-50-10 f64 recording u_P v_A u_I to HDF5 every 10 steps"

# column head, (workload, quantity) of the history, target, "min" (at least) or "max" (at most), unit
TARGETS = [
    ("30-20-10", ("30-20-10 f64", "engine_steps_per_s"), 1e6, "min", "steps/s"),
    ("30-50-10", ("30-50-10 f64 (Fig 2)", "engine_steps_per_s"), 5e5, "min", "steps/s"),
    ("784-f32-off", ("784-500-500-10 f32 tau_w off", "engine_steps_per_s"), 6000, "min", "steps/s"),
    ("784-f32-on", ("784-500-500-10 f32 tau_w on", "engine_steps_per_s"), 3200, "min", "steps/s"),
    ("784-f64-on", ("784-500-500-10 f64 tau_w on", "engine_steps_per_s"), 1600, "min", "steps/s"),
    ("ensemble", (f"{ENSEMBLE} separate runs one thread", "ratio"), 3.0, "min", "x"),
    ("MNIST/BP", (f"{MNIST} two_sweep", "ratio"), 1.5, "max", "x"),
    ("2nd-start", ("second start of dendrosim run", "seconds"), 3.0, "max", "s"),
]
LEGEND = ("30-20-10, 30-50-10 and 784(-500-500-10) with tau_w off / on: Euler steps/s, float64 unless f32; "
          "ensemble: 64 seeds in one call vs 64 separate runs on one thread each (x faster); MNIST/BP: "
          "steady-state epoch time / NumPy BP epoch; 2nd-start: s to the first step with the JIT cache warm")


def long_rows(run: dict) -> list[tuple[str, str, float, str]]:
    """(workload, quantity, value, unit) of every figure of a bench run (the dict that
    ``scripts/bench.py`` builds and ``--json`` writes); figures a run did not measure are left out."""
    out = []

    def add(workload, quantity, value, unit):
        if value is not None:
            out.append((workload, quantity, float(value), unit))

    add("memory copy 16 MiB", "copy_bandwidth_GBps", run.get("copy_bandwidth_GBps"), "GB/s")
    for r in run.get("results", []):
        if "per_batch_ms" in r:
            for method, (ratio, ms, bp_ms) in r["per_batch_ms"].items():
                w = f"{MNIST} {method}"
                add(w, "ms_per_batch", ms, "ms")
                add(w, "numpy_bp_ms_per_batch", bp_ms, "ms")
                add(w, "ratio", ratio, "x")
            continue
        w = r["workload"]
        add(w, "engine_steps_per_s", r.get("engine_steps_per_s"), "steps/s")
        add(w, "numpy_steps_per_s", r.get("numpy_steps_per_s"), "steps/s")
        add(w, "ratio", r.get("ratio"), "x")
        add(w, "effective_GBps", r.get("effective_GBps"), "GB/s")
        add(w, "hand_loop_steps_per_s", r.get("hand_loop_steps_per_s"), "steps/s")
        add(w, "one_thread_steps_per_s", r.get("engine_one_thread_steps_per_s"), "steps/s")
    rec = run.get("recording")
    if rec:
        add(RECORDING, "engine_steps_per_s", rec.get("steps_per_s_hdf5"), "steps/s")
        add(RECORDING, "unrecorded_steps_per_s", rec.get("steps_per_s_none"), "steps/s")
        add(RECORDING, "overhead", rec.get("overhead"), "fraction")
        add(RECORDING, "file_MB_per_simulated_s", rec.get("mb_per_sim_s"), "MB")
    add(f"{ENSEMBLE} one ensemble call", "seconds", run.get("ensemble_together_s"), "s")
    add(f"{ENSEMBLE} separate runs", "seconds", run.get("ensemble_separate_s"), "s")
    add(f"{ENSEMBLE} separate runs", "ratio", run.get("ensemble_speedup"), "x")
    add(f"{ENSEMBLE} separate runs one thread", "seconds", run.get("ensemble_separate_one_thread_s"), "s")
    add(f"{ENSEMBLE} separate runs one thread", "ratio", run.get("ensemble_speedup_one_thread"), "x")
    add("second start of dendrosim run", "seconds", run.get("second_start_s"), "s")
    return out


def figures(run: dict) -> dict:
    """{(workload, quantity): value} of a bench run dict, or the same dict if it is one already."""
    if "results" not in run:
        return run
    return {(w, q): v for w, q, v, _ in long_rows(run)}


def read(run: dict, where) -> float:
    """One target's figure of a run, NaN if that run did not measure it (``--quick`` runs
    leave out the large nets and MNIST)."""
    return float(figures(run).get(tuple(where), math.nan))


def met(value: float, target: float, sense: str) -> bool | None:
    """True / False, or None where nothing was measured."""
    if math.isnan(value):
        return None
    return value >= target if sense == "min" else value <= target


def _fmt(v: float, unit: str) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:,.0f}" if unit == "steps/s" else f"{v:.2f}"


def table(runs: list[tuple[str, dict]]) -> str:
    """One row per run (name, bench run dict or figures) under a row of goals, one column per
    target; ``*`` marks a figure that misses its target. Rows, not columns, grow with the runs."""
    w = 14
    head = f"{'run':<16}" + "".join(f"{t[0]:>{w}}" for t in TARGETS)
    goals = f"{'goal':<16}" + "".join(
        f"{('>=' if sense == 'min' else '<=') + _fmt(target, unit) + ('' if unit == 'steps/s' else unit):>{w}}"
        for _, _, target, sense, unit in TARGETS)
    lines = [head, goals, "-" * len(head)]
    for name, d in runs:
        cells = ""
        for _, where, target, sense, unit in TARGETS:
            v = read(d, where)
            cells += f"{_fmt(v, unit) + ('*' if met(v, target, sense) is False else ' '):>{w}}"
        lines.append(f"{name[-16:]:<16}{cells}")
    lines.append("(* misses its target; - not measured in that run)")
    lines += textwrap.wrap(LEGEND, len(head))
    return "\n".join(lines)


def _load_history(p) -> list[tuple[str, str, dict]]:
    """(time, name, figures) per run of a history CSV; a run is one (time, commit)."""
    runs: dict = {}
    with open(p, newline="") as f:
        rd = csv.DictReader(f)
        missing = {"time", "commit", "workload", "quantity", "value"} - set(rd.fieldnames or ())
        if missing:
            raise ValueError(f"--compare: {p} is not a bench history (no column {', '.join(sorted(missing))})")
        for row in rd:
            key = (row["time"], row["commit"])
            try:
                runs.setdefault(key, {})[(row["workload"], row["quantity"])] = float(row["value"])
            except ValueError:
                raise ValueError(f"--compare: {p}: value {row['value']!r} is not a number") from None
    return [(t, (c or t[:16]), d) for (t, c), d in runs.items()]


def load(paths) -> list[tuple[str, dict]]:
    """Runs of history CSV files and bench JSON files, oldest first (by the time they record)."""
    runs = []
    for p in paths:
        try:
            if str(p).endswith(".csv"):
                runs += _load_history(p)
                continue
            d = json.loads(Path(p).read_text())
        except (OSError, ValueError, UnicodeDecodeError) as e:
            if isinstance(e, ValueError) and str(e).startswith("--compare"):
                raise
            raise ValueError(f"--compare: cannot read {p}: {e}") from None
        if not isinstance(d, dict) or "results" not in d:
            raise ValueError(f"--compare: {p} is not a bench JSON (no 'results'); write one with --json")
        runs.append((d.get("time", ""), Path(p).stem.removeprefix("bench_"), figures(d)))
    return [(name, d) for _, name, d in sorted(runs, key=lambda r: r[0])]


def compare_main(paths) -> int:
    try:
        runs = load(paths)
    except ValueError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    print(table(runs))
    return 0
