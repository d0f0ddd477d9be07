"""Command line: ``dendrosim run | info | plot | keys | sweep | sweep-report | bench | data``.

Exit codes: 0 success, 1 runtime failure (divergence: the message names time and
layer, the file stays readable), 2 bad config or arguments (the message names
the key), 130 interrupted (SIGINT; the file says ``interrupted`` and can be resumed).
Any other error is re-raised after the file's status is set to ``failed`` with the
error and the time in its message (the last checkpoint can be resumed).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from . import config as config_mod

EXIT_OK, EXIT_RUNTIME, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dendrosim", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run an experiment from a TOML config")
    r.add_argument("config", help="TOML experiment file (or, with --resume, the HDF5 file to continue)")
    r.add_argument("-o", "--output", help="output HDF5 file (default: [record] path, else <config>.h5)")
    r.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable)")
    r.add_argument("--resume", action="store_true", help="continue the stopped run in the given HDF5 file")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--seeds", metavar="A:B|S1,S2,...",
                   help="run an ensemble of seeds in one compiled call; writes OUT_seed{S}.h5 per seed")
    i = sub.add_parser("info", help="summarise an output file (works while it is being written)")
    i.add_argument("file")
    pl = sub.add_parser("plot", help="plot an output file")
    pl.add_argument("file")
    pl.add_argument("--what", default=None, choices=["apical", "soma", "mismatch", "loss", "weights"],
                    help="figure (default: apical for a run of the engine, loss for a discrete learner's run)")
    pl.add_argument("--layer", type=int, default=None,
                    help="layer to plot (default: the first hidden layer for apical, the output for soma)")
    pl.add_argument("--neurons", default="0:5", help="neuron indices, e.g. 0:5 or 0,3,7")
    pl.add_argument("--time", default=None, metavar="T0:T1",
                    help="apical and soma: only this time window, ms (e.g. 0:200 or 9800:), default all")
    pl.add_argument("-o", "--output", help="PNG path (default: <file>_<what>.png)")
    for name, what in (("sweep", "grid x seeds, one run per point, on Dask (docs/sweeps.md)"),
                       ("sweep-report", "mean ± SEM over seeds per grid point: table and figure")):
        sp = sub.add_parser(name, help=what, add_help=False, prefix_chars="\0")
        sp.add_argument("args", nargs=argparse.REMAINDER)   # parsed by dendrosim.sweep
    k = sub.add_parser("keys", help="every config key with its default and meaning")
    k.add_argument("section", nargs="?", help="one section (network, ..., learner), task, or task.KIND")
    b = sub.add_parser("bench", help="engine speed against a plain NumPy step")
    b.add_argument("--quick", action="store_true", help="small networks only")
    b.add_argument("--json", help="write results to this JSON file")
    b.add_argument("--compare", nargs="+", metavar="JSON",
                   help="measure nothing: print the targets against these bench JSON files, oldest first")
    d = sub.add_parser("data", help="download a data set into the user data folder, verified")
    d.add_argument("dataset", choices=["mnist"])
    d.add_argument("--to", metavar="DIR", help="folder to put the files in (default: the user data folder)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "sweep":
            from .sweep import sweep_main
            return sweep_main(args.args)
        if args.command == "sweep-report":
            from .sweep import report_main
            return report_main(args.args)
        if args.command == "info":
            from .io import info
            print(info(args.file))
            return EXIT_OK
        if args.command == "plot":
            from .plot import plot_file
            out = plot_file(args.file, args.what, args.output, layer=args.layer, neurons=args.neurons,
                            window=args.time)
            print(f"wrote {out}")
            return EXIT_OK
        if args.command == "keys":
            from .keys import keys_main
            return keys_main(args.section)
        if args.command == "bench":
            if args.compare:
                from .bench_compare import compare_main
                return compare_main(args.compare)
            from .bench import main as bench_main
            return bench_main(quick=args.quick, json_path=args.json)
        if args.command == "data":
            from .data_fetch import data_main
            return data_main(args.dataset, args.to)
    except config_mod.ConfigError as e:
        what = "cannot plot" if args.command == "plot" else "config error"
        print(f"dendrosim: {what}: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:          # output piped into `head` and cut short: not an error
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except (FileNotFoundError, OSError) as e:
        print(f"dendrosim: {e}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def cmd_run(args) -> int:
    from .simulation import Diverged, Progress, Simulation

    if args.resume:
        if args.set:
            raise config_mod.ConfigError("set", "--set cannot change the config of a resumed run")
        from .io import resume_simulation
        sim, sink = resume_simulation(args.config)
        out = sink.path
    else:
        cfg = config_mod.load(args.config, args.set)
        out = Path(args.output or cfg.record.path or Path(args.config).with_suffix(".h5").name)
        if cfg.learner.get("rule", "continuous") != "continuous" or cfg.simulation.integrator == "steady":
            from .learners import run_learner
            return run_learner(cfg, out, quiet=args.quiet)
        if args.seeds:
            return _run_ensemble(cfg, out, parse_seeds(args.seeds), args.quiet)
        sim = Simulation(cfg)          # all validation happens before the file is created
        from .io import HDF5Sink
        sink = HDF5Sink(out, compression=cfg.record.compression)
    show = not args.quiet and sys.stderr.isatty()
    progress = Progress(sim.total_steps, sim.dt) if show else None
    print(f"dendrosim: writing {out}", file=sys.stderr)
    echo = _MetricsEcho(sink, len(sim.task), quiet=args.quiet, progress=progress)
    try:
        sim.run(echo, progress)
    except Diverged as e:
        print(f"\ndendrosim: {e}; data up to that point kept in {out}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        sink.status("interrupted", f"interrupted at t = {sim.t:.1f} ms")
        print(f"\ndendrosim: interrupted at t = {sim.t:.1f} ms; continue with "
              f"`dendrosim run --resume {out}`", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:       # anything else: the file says what stopped the run, then re-raise
        sink.status("failed", f"{type(e).__name__} at t = {sim.t:.1f} ms: {e} "
                              f"(the last checkpoint can be resumed with `dendrosim run --resume`)")
        raise
    finally:
        if progress is not None:
            progress.close()
        sink.close()
    if not args.quiet and echo.summary():
        print(echo.summary())
    print(f"dendrosim: done, {sim.t:.1f} ms simulated; results in {Path(out).resolve()}")
    return EXIT_OK


def parse_seeds(text: str) -> list[int]:
    """'0:64' -> 0..63; '1,5,9' -> [1, 5, 9]."""
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            seeds = list(range(int(a), int(b)))
        else:
            seeds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise config_mod.ConfigError("seeds", f"--seeds {text!r}: use A:B or a comma-separated list") from None
    if not seeds or min(seeds) < 0:
        raise config_mod.ConfigError("seeds", f"--seeds {text!r} gives no valid (non-negative) seeds")
    return seeds


def _run_ensemble(cfg, out: Path, seeds, quiet) -> int:
    from .ensemble import Ensemble
    from .io import HDF5Sink
    from .simulation import Diverged, Progress
    ens = Ensemble(cfg, seeds)
    paths = [out.with_name(f"{out.stem}_seed{s}{out.suffix or '.h5'}") for s in seeds]
    sinks = [HDF5Sink(p, compression=cfg.record.compression) for p in paths]
    m0 = ens.members[0]
    progress = Progress(m0.total_steps, m0.dt) if (not quiet and sys.stderr.isatty()) else None
    from .engine.simd import LANES
    how = (f"{ens.n_groups * LANES} in SIMD groups of {LANES}, results equal to single runs to rounding"
           if ens.n_groups else "one by one, bit for bit as single runs")
    print(f"dendrosim: ensemble of {len(seeds)} seeds ({how}) -> {paths[0].parent / (out.stem + '_seed*.h5')}",
          file=sys.stderr)
    try:
        ens.run(sinks, progress)
    except Diverged as e:
        print(f"\ndendrosim: {e}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        for s in sinks:
            s.status("interrupted", "interrupted (ensemble)")
        return EXIT_INTERRUPTED
    except Exception as e:
        for s in sinks:
            s.status("failed", f"{type(e).__name__} at t = {m0.t:.1f} ms (ensemble): {e}")
        raise
    finally:
        if progress is not None:
            progress.close()
        for s in sinks:
            s.close()
    print(f"dendrosim: done, {len(seeds)} runs of {m0.t:.1f} ms")
    return EXIT_OK


class _MetricsEcho:
    """Forwards everything to a sink and prints per-pattern metrics about 12 times a run."""

    def __init__(self, sink, n_patterns, quiet=False, progress=None):
        self.sink, self.quiet, self.progress = sink, quiet, progress
        self.every = max(1, n_patterns // 12)
        self.count = 0
        self.header = False
        self.history = {}

    def summary(self) -> str:
        """First pattern vs the mean of the last 10 % of patterns, per hidden layer."""
        lines = []
        for key, rows in self.history.items():
            a = np.array(rows)
            tail = a[-max(1, len(a) // 10):].mean(axis=0)
            pairs = ", ".join(f"{f:.3g} -> {e:.3g}" for f, e in zip(a[0], tail))
            lines.append(f"dendrosim: {key} (first pattern -> mean of last 10 %): {pairs}")
        return "\n".join(lines)

    def __getattr__(self, name):
        return getattr(self.sink, name)

    def metrics(self, t, m):
        self.sink.metrics(t, m)
        self.count += 1
        for key in ("apical_norm", "interneuron_mismatch"):
            v = np.atleast_1d(np.asarray(m[key], dtype=float))
            if v.size:
                self.history.setdefault(key, []).append(v)
        if self.quiet or (self.count - 1) % self.every:
            return
        if not self.header:
            print(f"{'t (ms)':>10}  {'pattern':>7}  {'|v_A| per hidden layer':<28}  "
                  f"{'mismatch per hidden layer':<28}  loss")
            self.header = True
        fmt = lambda a: " ".join(f"{v:.3e}" for v in a) or "-"
        loss = f"{m['loss']:.3e}" if np.isfinite(m["loss"]) else "- (no target)"
        line = (f"{t:10.1f}  {self.count - 1:7d}  {fmt(m['apical_norm']):<28}  "
                f"{fmt(m['interneuron_mismatch']):<28}  {loss}")
        if self.progress is not None:
            line = "\r" + line + " " * 20
        print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
