"""Command line: ``dendrosim run | info | plot | keys | sweep | sweep-report | bench | data``.

Exit codes: 0 success, 1 runtime failure (divergence: the message names time and
layer, the file stays readable; any other error during a run: the file's status is
``failed`` and its last checkpoint can be resumed), 2 bad config, arguments or file
(the message names the key or the file; nothing is written), 130 interrupted by SIGINT,
143 by SIGTERM (the file says ``interrupted`` and can be resumed). Every error is one
line on stderr; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from . import config as config_mod
from .stopping import Terminated, signals_stop_runs

EXIT_OK, EXIT_RUNTIME, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
PROBE_SECONDS = 20.0     # longest wait for HDF5 to read a file's metadata (io.integrity.probe)


def _interrupted_code(e) -> int:
    return EXIT_TERMINATED if isinstance(e, Terminated) else EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dendrosim", description=__doc__.split("\n")[0])
    p.add_argument("--debug", action="store_true",
                   help="show the Python traceback of an error (also accepted after the subcommand)")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run an experiment from a TOML config")
    r.add_argument("config", help="TOML experiment file (or, with --resume, the HDF5 file to continue)")
    r.add_argument("-o", "--output", help="output HDF5 file (default: [record] path, relative to the "
                   "config's folder and inside it, else <config>.h5 here); an existing file is refused "
                   "unless --overwrite is given")
    r.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file (never the config file; the old file stays "
                        "until the new one is set up)")
    r.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable)")
    r.add_argument("--resume", action="store_true",
                   help="continue the stopped run in the given HDF5 file (in place; no -o, --set, --seeds)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    r.add_argument("--seeds", metavar="A:B|S1,S2,...",
                   help="run an ensemble of seeds in one compiled call; writes OUT_seed{S}.h5 per seed")
    i = sub.add_parser("info", help="summarise an output file (works while it is being written)")
    i.add_argument("file")
    i.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    pl = sub.add_parser("plot", help="plot an output file")
    pl.add_argument("file")
    pl.add_argument("--what", default=None, choices=["apical", "soma", "mismatch", "loss", "weights", "alignment"],
                    help="figure (default: apical for a run of the engine, loss for a discrete learner's run)")
    pl.add_argument("--layer", type=int, default=None,
                    help="layer to plot (default: the first hidden layer for apical, the output for soma)")
    pl.add_argument("--neurons", default="0:5", help="neuron indices, e.g. 0:5 or 0,3,7")
    pl.add_argument("--time", default=None, metavar="T0:T1",
                    help="apical and soma: only this time window, ms (e.g. 0:200 or 9800:), default all")
    pl.add_argument("-o", "--output", help="image path; its suffix picks the format, none: .png "
                    "(default: <file>_<what>.png)")
    pl.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    for name, what in (("sweep", "grid x seeds, one run per point, on Dask (docs/sweeps.md)"),
                       ("sweep-report", "mean ± SEM over seeds per grid point: table and figure")):
        sp = sub.add_parser(name, help=what, add_help=False, prefix_chars="\0")
        sp.add_argument("args", nargs=argparse.REMAINDER)   # parsed by dendrosim.sweep
    k = sub.add_parser("keys", help="every config key with its default and meaning")
    k.add_argument("section", nargs="?", help="one section (network, ..., learner), task, or task.KIND")
    b = sub.add_parser("bench", help="engine speed against a plain NumPy step (runs scripts/bench.py of a checkout)")
    b.add_argument("--quick", action="store_true", help="small networks only")
    b.add_argument("--seconds", type=float, help="time per measurement (default 1)")
    b.add_argument("--json", help="write results to this JSON file")
    b.add_argument("--history", metavar="FILE.csv",
                   help="append one row per measured figure to this CSV "
                        "(time,commit,host,workload,quantity,value,unit)")
    b.add_argument("--compare", nargs="+", metavar="FILE",
                   help="measure nothing: print the targets against these history CSV or bench JSON files, "
                        "oldest first")
    d = sub.add_parser("data", help="download a data set into the user data folder, verified")
    d.add_argument("dataset", choices=["mnist"])
    d.add_argument("--to", metavar="DIR", help="folder to put the files in (default: the user data folder)")
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        with signals_stop_runs():
            return _main(argv, debug)
    except SystemExit:
        raise
    except KeyboardInterrupt as e:
        if debug:
            raise
        print(f"dendrosim: {'terminated' if isinstance(e, Terminated) else 'interrupted'}", file=sys.stderr)
        return _interrupted_code(e)
    except BaseException as e:          # noqa: BLE001  (one line, not a traceback)
        if debug:
            raise
        code, line = _describe_error(e)
        print(f"dendrosim: {line}", file=sys.stderr)
        return code


def _describe_error(e) -> tuple[int, str]:
    """(exit code, one line) for an error that reached :func:`main`."""
    from .io import DamagedFileError, FileLockedError, NotDendrosimError
    text = config_mod.shorten(str(e).strip().splitlines()[0] if str(e).strip() else "")
    if isinstance(e, config_mod.ConfigError):
        return EXIT_CONFIG, f"config error: {text}"
    if isinstance(e, (FileLockedError, DamagedFileError, NotDendrosimError, FileExistsError,
                      FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)):
        return EXIT_CONFIG, text
    if isinstance(e, RecursionError):
        return EXIT_CONFIG, "input nested too deeply to read"
    if isinstance(e, MemoryError):
        return EXIT_RUNTIME, "out of memory"
    if isinstance(e, OSError):
        return EXIT_CONFIG, text or type(e).__name__
    return EXIT_RUNTIME, f"{type(e).__name__}: {text} (run with --debug for the traceback)"


def _main(argv, debug=False) -> int:
    args = _parser().parse_args(argv)
    args.debug = debug
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "sweep":
            from .sweep import sweep_main
            return sweep_main(args.args)
        if args.command == "sweep-report":
            from .sweep import report_main
            try:
                return report_main(args.args)
            except ValueError as e:            # a corrupt sweep.json (JSONDecodeError) or index
                if isinstance(e, config_mod.ConfigError):
                    raise
                raise config_mod.ConfigError("sweep", f"cannot read the sweep's files: {e}") from None
        if args.command == "info":
            from .io import info
            print(info(args.file, probe_timeout=PROBE_SECONDS))
            return EXIT_OK
        if args.command == "plot":
            return cmd_plot(args)
        if args.command == "keys":
            from .keys import keys_main
            return keys_main(args.section)
        if args.command == "bench":
            return cmd_bench(args)
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
    return EXIT_OK


def cmd_plot(args) -> int:
    """``dendrosim plot``: the file is checked (dendrosim, whole) and the options against it first."""
    from .io import load
    from .io.layout import open_read, require_dendrosim
    from .plot import plot_file
    with open_read(args.file, probe_timeout=PROBE_SECONDS) as f:
        require_dendrosim(f, args.file)
    out = args.output
    if out is not None:
        out = Path(out)
        if out.is_dir():
            raise config_mod.ConfigError("plot.output", f"-o {out} is a folder; give a file name such as "
                                         f"{out / 'figure.png'}")
        if not out.suffix:
            out = out.with_suffix(".png")
        import matplotlib
        matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
        from matplotlib.figure import Figure
        formats = Figure().canvas.get_supported_filetypes()
        if out.suffix[1:].lower() not in formats:
            raise config_mod.ConfigError("plot.output", f"-o {out}: unknown image format {out.suffix!r}; "
                                         f"use one of {', '.join('.' + k for k in sorted(formats))}")
    if args.layer is not None:
        with load(args.file) as run:
            default = "loss" if run.is_learner else "apical"
            depth = run.depth
        what = args.what or default
        if what not in ("apical", "soma"):
            raise config_mod.ConfigError("plot.layer", f"--layer applies to --what apical or soma, not {what}")
        lo, hi = (1, depth - 1) if what == "apical" else (0, depth)
        if not lo <= args.layer <= hi:
            raise config_mod.ConfigError("plot.layer", f"layer {args.layer} is not in {lo}..{hi} for {what}")
    out = plot_file(args.file, args.what, out, layer=args.layer, neurons=args.neurons, window=args.time)
    print(f"wrote {out}")
    return EXIT_OK


def resolve_output(args, cfg) -> Path:
    """The output file of ``dendrosim run``, checked: not the config itself, not an existing file
    without ``--overwrite``, not a file another process is writing; ``[record] path`` from the
    config file is relative to the config's folder and must stay inside it."""
    config_path = Path(args.config)
    from_cli = any(o.split("=", 1)[0].strip() == "record.path" for o in args.set)
    if args.output:
        out = Path(args.output)
    elif cfg.record.path and from_cli:
        out = Path(cfg.record.path)
    elif cfg.record.path:
        base = config_path.resolve().parent
        out = base / cfg.record.path
        if os.path.commonpath([base, out.resolve()]) != str(base):
            raise config_mod.ConfigError("record.path", f"{cfg.record.path!r} leads outside the config's folder "
                                         f"{base}; give the output file with -o instead")
    else:
        out = Path(config_path.with_suffix(".h5").name)
    check_output(out, config_path, args.overwrite)
    return out


def check_output(out: Path, config_path: Path | None, overwrite: bool) -> None:
    """Refuse to write ``out`` (exit 2) where that would destroy something not asked for."""
    from .io.lock import FileLockedError, holder
    if config_path is not None and config_path.exists() and (
            out.resolve() == config_path.resolve() or (out.exists() and os.path.samefile(out, config_path))):
        raise config_mod.ConfigError("output", f"{out} is the config file itself; choose another output file")
    pid = holder(out)
    if pid is not None:
        raise FileLockedError(f"{out} is being written by another dendrosim process (pid {pid}); wait for it "
                              "to finish or choose another output file")
    if out.exists() or out.is_symlink():
        if not out.is_file():
            raise config_mod.ConfigError("output", f"{out} exists and is not a regular file")
        if not overwrite:
            raise config_mod.ConfigError("output", f"{out} exists; choose another output file (-o) or add "
                                         "--overwrite to replace it")


def cmd_bench(args) -> int:
    """Run the benchmarks, ``scripts/bench.py`` of the source checkout this package is imported
    from, on this package (they are not installed with it)."""
    import subprocess
    root = Path(__file__).resolve().parent.parent
    script = root / "scripts" / "bench.py"
    if not script.is_file():
        print("dendrosim bench: the benchmarks are not installed with the package; run them from a source "
              "checkout of dendrosim: `python scripts/bench.py` (or `dendrosim bench` with that checkout "
              "installed editable, pip install -e .)", file=sys.stderr)
        return EXIT_CONFIG
    cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
    for flag, value in (("--seconds", args.seconds), ("--json", args.json), ("--history", args.history)):
        if value is not None:
            cmd += [flag, str(value)]
    if args.compare:
        cmd += ["--compare", *args.compare]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.call(cmd, env=env)


def cmd_run(args) -> int:
    from .simulation import Diverged, Progress, Simulation

    if args.resume:
        for flag, given in (("--set", args.set), ("-o", args.output), ("--seeds", args.seeds),
                            ("--overwrite", args.overwrite)):
            if given:
                raise config_mod.ConfigError("resume", f"{flag} cannot be used with --resume: a resumed run "
                                             "continues in its own file with its stored config")
        from .resume import resume_simulation
        sim, sink = resume_simulation(args.config, probe_timeout=PROBE_SECONDS)
        out = sink.path
    else:
        cfg = config_mod.load(args.config, args.set)
        learner = cfg.learner.get("rule", "continuous") != "continuous" or cfg.simulation.integrator == "steady"
        if learner and args.seeds:
            raise config_mod.ConfigError("seeds", "--seeds runs the continuous engine; for a discrete "
                                         "learner run one seed at a time (--set init.seed=S) or use a sweep")
        out = resolve_output(args, cfg)
        if learner:
            from .learners import run_learner
            return run_learner(cfg, out, quiet=args.quiet, overwrite=args.overwrite)
        if args.seeds:
            return _run_ensemble(cfg, out, parse_seeds(args.seeds), args.quiet, args.overwrite, Path(args.config))
        sim = Simulation(cfg)          # all validation happens before the file is created
        from .io import HDF5Sink
        sink = HDF5Sink(out, compression=cfg.record.compression, overwrite=args.overwrite)
    show = not args.quiet and sys.stderr.isatty()
    progress = Progress(sim.total_steps, sim.dt) if show else None
    code = EXIT_OK
    try:                  # from here on a Ctrl-C marks the file interrupted (a caller may send it
        print(f"dendrosim: writing {out}", file=sys.stderr)     # as soon as it reads this line)
        echo = _MetricsEcho(sink, len(sim.task), quiet=args.quiet, progress=progress)
        sim.run(echo, progress)
    except Diverged as e:
        print(f"\ndendrosim: {e}; data up to that point kept in {out}", file=sys.stderr)
        code = EXIT_RUNTIME
    except KeyboardInterrupt as e:
        how = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
        if sink._f is None:            # stopped before the file was set up: nothing written
            print(f"\ndendrosim: {how} before {out} was written", file=sys.stderr)
            return _interrupted_code(e)
        _set_status(sink, "interrupted", f"{how} at t = {sim.t:.1f} ms")
        print(f"\ndendrosim: {how} at t = {sim.t:.1f} ms; continue with "
              f"`dendrosim run --resume {out}`", file=sys.stderr)
        code = _interrupted_code(e)
    except Exception as e:       # anything else: the file says what stopped the run, one line here
        kept = _set_status(sink, "failed", f"{type(e).__name__} at t = {sim.t:.1f} ms: {config_mod.shorten(e)} "
                                           f"(the last checkpoint can be resumed with `dendrosim run --resume`)")
        if args.debug:
            raise
        text = config_mod.shorten(str(e).splitlines()[0] if str(e) else "")
        print(f"\ndendrosim: run failed at t = {sim.t:.1f} ms: {type(e).__name__}: {text}; "
              + (f"status 'failed' in {out}, the last checkpoint can be resumed" if kept
                 else f"the status of {out} could not be updated"), file=sys.stderr)
        code = EXIT_RUNTIME
    finally:
        if progress is not None:
            progress.close()
        try:
            sink.close()
        except Exception as e:        # noqa: BLE001  (a full disk: the data written so far stay)
            if code == EXIT_OK:
                print(f"dendrosim: could not finish {out}: {config_mod.shorten(e)}", file=sys.stderr)
                code = EXIT_RUNTIME
    if code != EXIT_OK:
        return code
    if not args.quiet and echo.summary():
        print(echo.summary())
    print(f"dendrosim: done, {sim.t:.1f} ms simulated; results in {Path(out).resolve()}")
    return EXIT_OK


def _set_status(sink, status, message) -> bool:
    """Set the file's status; False if that failed too (a full disk)."""
    try:
        sink.status(status, message)
        return True
    except Exception:                 # noqa: BLE001
        return False


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


def _run_ensemble(cfg, out: Path, seeds, quiet, overwrite=False, config_path=None) -> int:
    from .ensemble import Ensemble
    from .io import HDF5Sink
    from .simulation import Diverged, Progress
    paths = [out.with_name(f"{out.stem}_seed{s}{out.suffix or '.h5'}") for s in seeds]
    for p in paths:
        check_output(p, config_path, overwrite)
    ens = Ensemble(cfg, seeds)
    sinks = [HDF5Sink(p, compression=cfg.record.compression, overwrite=overwrite) for p in paths]
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
    except KeyboardInterrupt as e:
        for s in sinks:
            _set_status(s, "interrupted", "interrupted (ensemble)")
        print("\ndendrosim: interrupted", file=sys.stderr)
        return _interrupted_code(e)
    except Exception as e:
        for s in sinks:
            _set_status(s, "failed", f"{type(e).__name__} at t = {m0.t:.1f} ms (ensemble): {config_mod.shorten(e)}")
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
