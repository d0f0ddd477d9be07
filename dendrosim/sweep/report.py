"""Aggregating a finished (or running) sweep: mean ± SEM over seeds per grid point.

:func:`summarize` reads every completed point's file and gives, per grid point, the
metric's last value and its mean over the last 10 % of patterns, each as mean ±
SEM over seeds (SEM = sample standard deviation / sqrt(n), NaN for one seed).
:func:`learning_curves` gives the mean ± SEM curve over seeds; :func:`report` writes
the markdown table and the figure; :func:`report_main` is ``dendrosim sweep-report``.
Points that did not complete (diverged, failed, invalid) are counted, not averaged.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .core import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, read_index
from .metrics import TAIL_FRACTION, read_metrics, resolve_name, summarize_series

DEFAULT_METRICS = ("loss", "test_mse", "interneuron_mismatch", "apical_norm", "correct")


def mean_sem(values) -> tuple[float, float]:
    """(mean, standard error of the mean) of the finite values; SEM uses ddof = 1."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


@dataclass
class GroupSummary:
    group: int
    grid: dict
    label: str
    n_points: int                 # seeds in the sweep
    seeds: list = field(default_factory=list)       # seeds averaged (completed)
    files: list = field(default_factory=list)
    final: list = field(default_factory=list)       # per seed: last value
    tail: list = field(default_factory=list)        # per seed: mean over the last 10 %
    statuses: dict = field(default_factory=dict)    # status -> count
    t: np.ndarray | None = None
    curves: list = field(default_factory=list)      # per seed: values over t

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def final_mean_sem(self):
        return mean_sem(self.final)

    @property
    def tail_mean_sem(self):
        return mean_sem(self.tail)

    def curve(self):
        """(t, mean, sem) over seeds; SEM is NaN where fewer than two seeds are finite."""
        if not self.curves:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        n = min(c.size for c in self.curves)
        a = np.stack([c[:n] for c in self.curves])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(a, axis=0)
            k = np.sum(np.isfinite(a), axis=0)
            sem = np.where(k > 1, np.nanstd(a, axis=0, ddof=1) / np.sqrt(np.maximum(k, 1)), np.nan)
        return self.t[:n], mean, sem


@dataclass
class Summary:
    sweep_dir: Path
    metric: str
    t_units: str
    groups: list
    grid_keys: list

    def markdown(self) -> str:
        return markdown_table(self)


def _label(grid: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in grid.items()) or "(base config)"


def _choose_metric(sweep_dir, records, metric):
    for r in records:
        if r["status"] == "completed":
            _, series, _ = read_metrics(Path(sweep_dir) / r["file"])
            if metric:
                return resolve_name(series, metric)
            for name in DEFAULT_METRICS:
                try:
                    label = resolve_name(series, name)
                except KeyError:
                    continue
                if np.isfinite(series[label]).any():
                    return label
            finite = [k for k, v in series.items() if np.isfinite(v).any()]
            if finite:
                return finite[0]
            raise KeyError("the runs have no finite metric")
    raise LookupError(f"{sweep_dir}: no completed point to report on")


def summarize(sweep_dir, metric: str | None = None, fraction: float = TAIL_FRACTION) -> Summary:
    """Per grid point: the metric's final value and last-10 % mean over seeds (from the files).

    ``metric``: a metric name (``loss``, ``interneuron_mismatch``, ...); a per-layer
    metric is ``name[k]`` (k the hidden layer) or just ``name`` if there is one hidden
    layer. Default: the first of loss, test_mse, interneuron_mismatch, apical_norm,
    correct that has finite values.
    """
    sweep_dir = Path(sweep_dir)
    idx = read_index(sweep_dir)
    records = idx["points"]
    name = _choose_metric(sweep_dir, records, metric)
    keys = [k for k, _ in idx["grid"]]
    groups: dict[int, GroupSummary] = {}
    units = ""
    for r in records:
        g = groups.get(r["group"])
        if g is None:
            g = groups[r["group"]] = GroupSummary(r["group"], r["grid"], _label(r["grid"]), 0)
        g.n_points += 1
        g.statuses[r["status"]] = g.statuses.get(r["status"], 0) + 1
        if r["status"] != "completed":
            continue
        t, series, units = read_metrics(sweep_dir / r["file"])
        if name not in series:
            raise KeyError(f"{r['file']}: no metric {name!r}")
        v = series[name]
        last, tail = summarize_series(v, fraction)
        g.seeds.append(r["seed"])
        g.files.append(r["file"])
        g.final.append(last)
        g.tail.append(tail)
        if g.t is None or t.size < g.t.size:
            if g.t is not None and not np.array_equal(g.t, t[:g.t.size]):
                warnings.warn(f"grid point {g.label}: seeds have different time axes; curves use the shortest",
                              stacklevel=2)
            g.t = t
        g.curves.append(v)
    return Summary(sweep_dir, name, units, [groups[k] for k in sorted(groups)], keys)


def learning_curves(sweep_dir, metric: str | None = None) -> dict:
    """``{grid label: (t, mean, sem)}`` of the metric over seeds, per grid point."""
    s = summarize(sweep_dir, metric)
    return {g.label: g.curve() for g in s.groups if g.curves}


def _pm(ms) -> str:
    m, e = ms
    if not np.isfinite(m):
        return "-"
    return f"{m:.4g} ± {e:.2g}" if np.isfinite(e) else f"{m:.4g}"


def markdown_table(s: Summary) -> str:
    head = [*s.grid_keys, "seeds", f"final {s.metric}", f"last {int(TAIL_FRACTION * 100)} % {s.metric}",
            "not completed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in s.groups:
        other = ", ".join(f"{n} {st}" for st, n in sorted(g.statuses.items()) if st != "completed") or "-"
        row = [*(str(g.grid.get(k)) for k in s.grid_keys), f"{g.n}/{g.n_points}",
               _pm(g.final_mean_sem), _pm(g.tail_mean_sem), other]
        lines.append("| " + " | ".join(row) + " |")
    note = (f"\nmean ± SEM over seeds (SEM = sd/sqrt(n), ddof 1); last {int(TAIL_FRACTION * 100)} %: mean over "
            f"the last max(1, n // 10) patterns of each run. Sweep: {s.sweep_dir}\n")
    return "\n".join(lines) + "\n" + note


def plot_curves(s: Summary, path, logy: bool | None = None):
    """Learning curves, one line (mean) and band (± SEM) per grid point; writes ``path``."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    allpos = True
    for i, g in enumerate(s.groups):
        if not g.curves:
            continue
        t, m, e = g.curve()
        color = f"C{i % 10}"
        ax.plot(t, m, color=color, lw=1.4, label=f"{g.label} (n={g.n})")
        band = np.where(np.isfinite(e), e, 0.0)
        ax.fill_between(t, m - band, m + band, color=color, alpha=0.25, lw=0)
        allpos &= bool(np.all(m[np.isfinite(m)] > 0))
    if logy is None:
        logy = False
    if logy and allpos:
        ax.set_yscale("log")
    ax.set_xlabel(f"t ({s.t_units})" if s.t_units else "t")
    ax.set_ylabel(s.metric)
    ax.set_title(f"{s.metric}: mean ± SEM over seeds")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _safe(name: str) -> str:
    return name.replace("[", "").replace("]", "")


def report(sweep_dir, metric: str | None = None, figure=None, markdown=None, logy=None) -> Summary:
    """Write the markdown table and the learning-curve figure of a sweep; returns the Summary.

    Defaults: ``SWEEP_DIR/report_<metric>.md`` and ``SWEEP_DIR/report_<metric>.png``.
    """
    s = summarize(sweep_dir, metric)
    sweep_dir = Path(sweep_dir)
    md = Path(markdown) if markdown else sweep_dir / f"report_{_safe(s.metric)}.md"
    md.write_text(f"# Sweep report: {s.metric}\n\n" + s.markdown())
    fig = Path(figure) if figure else sweep_dir / f"report_{_safe(s.metric)}.png"
    plot_curves(s, fig, logy)
    s.markdown_path, s.figure_path = md, fig
    return s


def report_main(args_list=None) -> int:
    """``dendrosim sweep-report SWEEP_DIR [--metric NAME] [-o FIG.png] [--md TABLE.md]``."""
    p = argparse.ArgumentParser(prog="dendrosim sweep-report",
                                description="mean ± SEM over seeds of a metric per grid point, "
                                            "as a markdown table and a learning-curve figure",
                                epilog="Exit codes: 0 ok; 1 no completed point; 2 bad directory or metric.")
    p.add_argument("sweep_dir")
    p.add_argument("--metric", default=None,
                   help="metric name, name[k] for hidden layer k (default: loss, else the first with data)")
    p.add_argument("-o", "--output", default=None, help="figure path (default: SWEEP_DIR/report_<metric>.png)")
    p.add_argument("--md", default=None, help="markdown path (default: SWEEP_DIR/report_<metric>.md)")
    p.add_argument("--logy", action="store_true", help="logarithmic y axis")
    try:
        args = p.parse_args(args_list)
    except SystemExit as e:
        return EXIT_CONFIG if e.code not in (0, None) else EXIT_OK
    try:
        s = report(args.sweep_dir, args.metric, args.output, args.md, logy=args.logy)
    except (FileNotFoundError, KeyError) as e:
        print(f"dendrosim: {e.args[0] if e.args else e}", file=sys.stderr)
        return EXIT_CONFIG
    except LookupError as e:
        print(f"dendrosim: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(s.markdown())
    print(f"wrote {s.markdown_path} and {s.figure_path}")
    return EXIT_OK
