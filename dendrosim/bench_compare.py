"""The performance targets of the project and a side-by-side view of bench JSON files.

``dendrosim bench --compare docs/performance/*.json`` prints one column per target and one
row per file (oldest first), so that a change in speed shows up against earlier runs
of the same machine; ``dendrosim bench`` prints the same rows for the run it just made.

Absolute speeds move with the load of the host (the bench takes the best of three
interleaved rounds); the ratios to NumPy and between ensemble and separate runs are the
figures to trust across runs.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
from pathlib import Path

# column head, how to read it from a bench JSON, target, "min" (at least) or "max" (at most), unit
TARGETS = [
    ("30-20-10", ("workload", "30-20-10 f64", "engine_steps_per_s"), 1e6, "min", "steps/s"),
    ("30-50-10", ("workload", "30-50-10 f64 (Fig 2)", "engine_steps_per_s"), 5e5, "min", "steps/s"),
    ("784-f32-off", ("workload", "784-500-500-10 f32 tau_w off", "engine_steps_per_s"), 6000, "min", "steps/s"),
    ("784-f32-on", ("workload", "784-500-500-10 f32 tau_w on", "engine_steps_per_s"), 3200, "min", "steps/s"),
    ("784-f64-on", ("workload", "784-500-500-10 f64 tau_w on", "engine_steps_per_s"), 1600, "min", "steps/s"),
    ("ensemble", ("key", "ensemble_speedup"), 3.0, "min", "x"),
    ("MNIST/BP", ("mnist", "two_sweep"), 1.5, "max", "x"),
    ("2nd-start", ("key", "second_start_s"), 3.0, "max", "s"),
]
LEGEND = ("30-20-10, 30-50-10 and 784(-500-500-10) with tau_w off / on: Euler steps/s, float64 unless f32; "
          "ensemble: 64 seeds in one call vs 64 separate runs (x faster); MNIST/BP: steady-state epoch "
          "time / NumPy BP epoch; 2nd-start: s to the first step with the JIT cache warm")


def read(d: dict, where) -> float:
    """One target's figure from a loaded bench JSON, NaN if that run did not measure it
    (``--quick`` runs leave out the large nets and MNIST)."""
    kind = where[0]
    if kind == "key":
        v = d.get(where[1])
        return math.nan if v is None else float(v)
    for row in d.get("results", []):
        if kind == "workload" and row.get("workload") == where[1]:
            return float(row[where[2]])
        if kind == "mnist" and "per_batch_ms" in row:
            return float(row["per_batch_ms"][where[1]][0])
    return math.nan


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
    """One row per run (name, loaded JSON) under a row of goals, one column per target; ``*``
    marks a figure that misses its target. Rows, not columns, grow with the number of runs."""
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


def load(paths) -> list[tuple[str, dict]]:
    """Bench JSON files, oldest first (by the time they record)."""
    runs = []
    for p in paths:
        try:
            d = json.loads(Path(p).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"--compare: cannot read bench JSON {p}: {e}") from None
        if not isinstance(d, dict) or "results" not in d:
            raise ValueError(f"--compare: {p} is not a bench JSON (no 'results'); write one with --json")
        runs.append((Path(p).stem.removeprefix("bench_"), d))
    return sorted(runs, key=lambda r: r[1].get("time", ""))


def compare_main(paths) -> int:
    try:
        runs = load(paths)
    except ValueError as e:
        print(f"dendrosim bench: {e}", file=sys.stderr)
        return 2
    print(table(runs))
    return 0
