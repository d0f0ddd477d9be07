"""Running a sweep: points -> executor -> one HDF5 file each -> the index.

:func:`run_point` is what a worker executes for one point. It never raises for a
failing point: it returns a record with the point's status and error, so one bad
point does not stop the others. :func:`run_sweep` validates every grid point up
front, skips completed points, resumes interrupted ones and keeps the index
(``sweep.json`` and ``index.csv``) up to date; :func:`sweep_main` is the CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import socket
import sys
import time
import traceback
import uuid
from datetime import datetime, UTC
from pathlib import Path

from .. import config as config_mod
from . import grid as grid_mod
from .executors import ExecutorError, make_executor
from .metrics import TAIL_FRACTION, final_metrics

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
INDEX_JSON, INDEX_CSV, LOCK = "sweep.json", "index.csv", ".sweep.lock"
LOG_CHARS = 4000            # tail of a failed point's output kept in the index
# Point status in the index. completed and diverged come from the file; the others:
# invalid (config rejected, no file), failed (an exception; the message says which),
# interrupted (the sweep stopped while it ran; the next run resumes it), pending.
DONE_STATUSES = ("completed", "diverged")
OK_STATUSES = ("completed",)


# -- one point -------------------------------------------------------------------------

def file_status(path) -> str | None:
    """``status`` attribute of an output file; None if absent, ``"unreadable"`` if broken."""
    path = Path(path)
    if not path.exists():
        return None
    from ..io.layout import open_read, text_attr
    try:
        with open_read(path) as f:
            return text_attr(f.attrs.get("status", "unknown"))
    except (OSError, KeyError):
        return "unreadable"


def _file_message(path) -> str:
    from ..io.layout import open_read, text_attr
    try:
        with open_read(path) as f:
            return text_attr(f.attrs.get("message", ""))
    except (OSError, KeyError):
        return ""


def _is_learner(cfg) -> bool:
    return cfg.learner.get("rule", "continuous") != "continuous"


def _fresh(cfg, out: Path) -> None:
    """Run a point from the start, writing ``out`` exactly as ``dendrosim run`` does."""
    if out.exists():
        out.unlink()
    if _is_learner(cfg):
        from ..learners import run_learner
        code = run_learner(cfg, out, quiet=True)
        if code == 2 and not out.exists():
            raise config_mod.ConfigError("learner", "rejected by the learner (see the worker's log)")
        return
    from ..io import HDF5Sink
    from ..simulation import Simulation
    sim = Simulation(cfg)          # all validation happens before the file is created
    _run_to_end(sim, HDF5Sink(out, compression=cfg.record.compression))


def _run_to_end(sim, sink) -> None:
    try:
        sim.run(sink)
    finally:
        sink.close()


def run_point(task: dict) -> dict:
    """Run (or skip, or resume) one point; returns its index record. Never raises for the point.

    ``task``: ``raw`` (config dict without [sweep]), ``overrides`` (all ``section.key=value``
    of the point), ``out`` (absolute file path), ``force`` (recompute even if done).
    """
    t0 = time.perf_counter()
    out = Path(task["out"])
    rec = {"status": "failed", "file_status": None, "error": "", "action": "", "resumed_from": None,
           "seconds": 0.0, "final": {}, "tail": {}}
    log = io.StringIO()      # what the run prints (warnings, learner messages): kept if it fails
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            cfg = config_mod.from_dict(task["raw"], task["overrides"])
            before = None if task.get("force") else file_status(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            if before in DONE_STATUSES:
                rec["action"] = "skipped"
            elif before in ("running", "interrupted") and not _is_learner(cfg):
                from ..resume import resume_simulation
                try:
                    sim, sink = resume_simulation(out)
                except config_mod.ConfigError:      # no checkpoint yet (killed in its first pattern)
                    rec["action"] = "restarted"
                    _fresh(cfg, out)
                else:
                    rec["action"], rec["resumed_from"] = "resumed", sim.t
                    _run_to_end(sim, sink)
            else:
                rec["action"] = "ran" if before is None else "restarted"
                _fresh(cfg, out)
        except config_mod.ConfigError as e:
            rec["status"], rec["error"] = "invalid", f"config error: {e}"
        except Exception as e:                     # noqa: BLE001  (Diverged, anything else)
            from ..simulation import Diverged
            rec["error"] = str(e) if isinstance(e, Diverged) else \
                f"{type(e).__name__}: {e} ({_where(e)})"
    fs = file_status(out)
    rec["file_status"] = fs
    if fs in ("completed", "diverged"):
        rec["status"] = fs
        if fs == "diverged" and not rec["error"]:
            rec["error"] = _file_message(out)
    elif rec["status"] != "invalid" and not rec["error"]:
        rec["error"] = f"the run ended with file status {fs!r}: {_file_message(out)}" if fs else "no output file"
    if fs not in (None, "unreadable"):
        try:
            rec["final"], rec["tail"] = final_metrics(out, task.get("tail_fraction", TAIL_FRACTION))
        except (OSError, KeyError) as e:     # pragma: no cover
            rec["error"] = rec["error"] or f"cannot read metrics: {e}"
    if rec["status"] != "completed" and log.getvalue().strip():
        rec["log"] = log.getvalue()[-LOG_CHARS:]
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    rec["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    try:
        import numba
        rec["threads"] = int(numba.config.NUMBA_NUM_THREADS)
    except ImportError:     # pragma: no cover
        pass
    return rec


def _where(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    if not tb:
        return "no traceback"
    fr = tb[-1]
    return f"{Path(fr.filename).name}:{fr.lineno} in {fr.name}"


def run_ensemble(tasks: list[dict]) -> list[dict]:
    """Run points that differ only in ``init.seed`` (one :func:`~.grid.ensemble_groups` group).

    Points to be started afresh on the continuous engine run together in one
    :class:`dendrosim.ensemble.Ensemble` (one compiled call per block for all
    seeds; files identical to separate runs); then every point goes through
    :func:`run_point`, which records the finished ones, and resumes (alone) those
    that the ensemble left unfinished, e.g. when one member diverged. Learner
    configs, resumed points and a group of one run point by point.
    """
    t0 = time.perf_counter()
    together = _ensemble_members(tasks)
    if together:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            _run_together(together)
    spent = (time.perf_counter() - t0) / max(len(together), 1)
    out = []
    for t in tasks:
        rec = run_point(t)
        if t in together and rec["action"] == "skipped":
            rec["action"], rec["seconds"] = "ran (ensemble)", round(spent, 3)
        out.append(rec)
    return out


def _ensemble_members(tasks) -> list[dict]:
    """The tasks that can start together: fresh, continuous engine, same config but the seed."""
    import dataclasses
    try:
        from ..ensemble import Ensemble  # noqa: F401
    except ImportError:                 # an engine without ensembles: point by point
        return []
    fresh, base = [], None
    for t in tasks:
        try:
            cfg = config_mod.from_dict(t["raw"], t["overrides"])
        except config_mod.ConfigError:
            continue
        if _is_learner(cfg) or (not t.get("force") and file_status(t["out"]) not in (None, "unreadable")):
            continue
        key = dataclasses.replace(cfg, init=dataclasses.replace(cfg.init, seed=0)).to_toml()
        if base is None:
            base = key
        if key == base:
            fresh.append((t, cfg))
    return [t for t, _ in fresh] if len(fresh) > 1 else []


def _run_together(tasks) -> None:
    import dataclasses

    from ..ensemble import Ensemble
    from ..io import HDF5Sink
    cfgs = [config_mod.from_dict(t["raw"], t["overrides"]) for t in tasks]
    for t in tasks:
        out = Path(t["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            out.unlink()
    cfg0 = dataclasses.replace(cfgs[0], init=dataclasses.replace(cfgs[0].init, seed=0))
    sinks = []
    try:
        ens = Ensemble(cfg0, [c.init.seed for c in cfgs])
        sinks = [HDF5Sink(t["out"], compression=c.record.compression) for t, c in zip(tasks, cfgs)]
        ens.run(sinks)
    except Exception:                   # noqa: BLE001  (a diverged member, ...: run_point takes over)
        pass
    finally:
        for sink in sinks:
            sink.close()


# -- the index -------------------------------------------------------------------------

def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def _parse_value(text: str):
    return config_mod.parse_override(f"x.y={text}")[2]


def point_record(point: grid_mod.Point) -> dict:
    return {"point": point.index, "group": point.group, "group_id": point.group_id, "seed": point.seed,
            "grid": {k: _parse_value(v) for k, v in point.grid},
            "overrides": point.overrides, "file": point.file,
            "status": "pending", "file_status": None, "error": "", "action": "", "resumed_from": None,
            "seconds": None,
            "worker": "", "threads": None, "final": {}, "tail": {}}


def write_index(out_dir: Path, header: dict, records: list[dict]) -> None:
    """``sweep.json`` (everything) and ``index.csv`` (one row per point), replaced atomically."""
    doc = dict(header, updated=datetime.now(UTC).isoformat(timespec="seconds"),
               counts=_counts(records), points=records)
    tmp = out_dir / (INDEX_JSON + ".tmp")
    tmp.write_text(json.dumps(_clean(doc), indent=1))
    os.replace(tmp, out_dir / INDEX_JSON)
    keys = [k for k, _ in header["grid"]]
    metrics = sorted({m for r in records for m in r["final"]})
    tmp = out_dir / (INDEX_CSV + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["point", "group", "seed", *keys, "status", "error", "file",
                    *[f"final:{m}" for m in metrics], *[f"tail:{m}" for m in metrics]])
        for r in records:
            w.writerow([r["point"], r["group"], r["seed"], *[r["grid"].get(k) for k in keys],
                        r["status"], r["error"], r["file"],
                        *[_csv(r["final"].get(m)) for m in metrics],
                        *[_csv(r["tail"].get(m)) for m in metrics]])
    os.replace(tmp, out_dir / INDEX_CSV)


def _csv(v):
    return "" if v is None else repr(v) if isinstance(v, float) else v


def _counts(records) -> dict:
    out = {}
    for r in records:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def read_index(sweep_dir) -> dict:
    """The parsed ``sweep.json`` of a sweep directory."""
    p = Path(sweep_dir) / INDEX_JSON
    if not p.exists():
        raise FileNotFoundError(f"{sweep_dir} is not a sweep directory (no {INDEX_JSON})")
    return json.loads(p.read_text())


class _Lock:
    """An advisory lock on the sweep directory (released by the kernel if the driver dies)."""

    def __init__(self, path: Path):
        self.path, self.fh = path, None

    def __enter__(self):
        self.fh = open(self.path, "a+")
        try:
            import fcntl
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:          # pragma: no cover (Windows)
            pass
        except OSError:
            self.fh.close()
            raise config_mod.ConfigError("sweep.output", f"another sweep is running in {self.path.parent}") \
                from None
        return self

    def __exit__(self, *exc):
        self.fh.close()


# -- the sweep -------------------------------------------------------------------------

class SweepResult:
    def __init__(self, out_dir, records, exit_code, executor=""):
        self.out_dir, self.records, self.exit_code, self.executor = Path(out_dir), records, exit_code, executor

    @property
    def counts(self) -> dict:
        return _counts(self.records)

    def __repr__(self):
        return f"<SweepResult {self.out_dir} {self.counts} exit={self.exit_code}>"


def validate(spec: grid_mod.Spec, points) -> dict[int, str]:
    """Check every grid point's config (once per grid point; seeds checked too).

    Returns ``{group: error}`` for grid points whose values are rejected. Raises
    :class:`ConfigError` when the sweep itself is wrong: a bad ``--set`` or grid key,
    or no grid point valid at all.
    """
    for key, _ in spec.grid:               # a key that does not exist: the sweep is wrong
        _check_key(key)
    for s in spec.sets:
        _check_key(s.split("=", 1)[0].strip())
    errors, first = {}, {}
    for grp in grid_mod.groups(points):
        p = grp[0]
        try:
            cfg = grid_mod.point_config(spec, p)
            _deep_check(cfg)
        except config_mod.ConfigError as e:
            errors[p.group] = f"config error: {e}"
            first.setdefault(p.group, e)
    if errors and len(errors) == len({p.group for p in points}):
        e = next(iter(first.values()))
        raise config_mod.ConfigError(e.key, f"every grid point is invalid: {str(e).split(': ', 1)[-1]}")
    return errors


def _check_key(key: str) -> None:
    section, name = key.split(".", 1)
    cls = config_mod.SECTIONS.get(section)
    if cls is None:
        if section not in config_mod.FREE_SECTIONS:
            raise config_mod.ConfigError(section, "unknown section; sections are "
                                         f"{sorted([*config_mod.SECTIONS, *config_mod.FREE_SECTIONS])}")
        return
    import dataclasses
    known = {f.name for f in dataclasses.fields(cls)}
    if name not in known:
        raise config_mod.ConfigError(key, f"unknown key; keys of [{section}] are {sorted(known)}")


def _deep_check(cfg) -> None:
    """What ``dendrosim run`` checks before writing a file: task, record spec, learner options."""
    if _is_learner(cfg):
        from ..learners.options import options
        options(cfg)
        return
    from ..simulation import Simulation
    Simulation(cfg)


def run_sweep(config_path, grid=(), seeds=None, out_dir=None, sets=(), scheduler=None, workers=None,
              serial=False, force=False, quiet=False, ensemble=0, log=None) -> SweepResult:
    """Run a sweep (the Python form of ``dendrosim sweep``); returns a :class:`SweepResult`.

    ``grid``: ``"section.key=v1,v2,..."`` strings; ``seeds``: ``"0:100"``, a list or None
    (the config's own seed); ``sets``: overrides applied to every point. Raises
    :class:`ConfigError` for a bad sweep (nothing is run) and
    :class:`~.executors.ExecutorError` when the executor cannot start.
    ``ensemble``: hand up to that many seeds of a grid point to one task, run as one
    ensemble (:func:`run_ensemble`); ``True`` or -1: all seeds of a grid point; 0: off.
    """
    say = log or (lambda *a: print(*a, file=sys.stderr, flush=True))
    spec = grid_mod.make_spec(config_path, grid, seeds, sets)
    points = spec.points()
    invalid = validate(spec, points)
    out_dir = Path(out_dir or Path(config_path).with_suffix("").name + "_sweep")
    out_dir.mkdir(parents=True, exist_ok=True)
    header = {"format": "dendrosim-sweep", "format_version": 1,
              "config": str(Path(config_path).resolve()), "set": list(spec.sets),
              "grid": [[k, [_parse_value(v) for v in vals]] for k, vals in spec.grid],
              "grid_text": [[k, vals] for k, vals in spec.grid],
              "seeds": spec.seeds, "tail_fraction": TAIL_FRACTION,
              "dendrosim_version": _version()}
    records = [point_record(p) for p in points]
    with _Lock(out_dir / LOCK):
        # points already done need no worker
        todo = []
        for p, r in zip(points, records):
            if p.group in invalid:
                r.update(status="invalid", error=invalid[p.group], action="rejected")
                continue
            path = out_dir / p.file
            fs = None if force else file_status(path)
            if fs in DONE_STATUSES:
                r.update(status=fs, file_status=fs, action="skipped", seconds=0.0,
                         error="" if fs == "completed" else _file_message(path))
                try:
                    r["final"], r["tail"] = final_metrics(path)
                except (OSError, KeyError):   # pragma: no cover
                    pass
            else:
                todo.append(p)
        n_skip = sum(r["action"] == "skipped" for r in records)
        if not quiet:
            say(f"dendrosim: sweep of {len(points)} points ({len(grid_mod.groups(points))} grid points x "
                f"{len(spec.seeds)} seeds) in {out_dir}: {len(todo)} to run, {n_skip} already done, "
                f"{sum(r['status'] == 'invalid' for r in records)} invalid")
        executor = None
        header["executor"] = "none (nothing to run)"
        write_index(out_dir, header, records)
        interrupted = False
        if todo:
            size = None if ensemble is True or ensemble == -1 else int(ensemble or 0)
            units = grid_mod.ensemble_groups(todo, size) if ensemble else [[p] for p in todo]
            executor = make_executor(scheduler, workers, serial, spec.sweep_section, n_tasks=len(units),
                                     note=say)
            header["executor"] = executor.describe()
            if not quiet:
                say(f"dendrosim: running on {header['executor']}")
            token = uuid.uuid4().hex[:8]     # task keys unique even on a scheduler shared by sweeps
            try:
                futures = {}
                for unit in units:
                    tasks = [_task(spec, p, out_dir, force) for p in unit]
                    for p in unit:
                        records[p.index]["status"] = "running"
                    if ensemble:
                        key = f"dendrosim-{unit[0].group_id}-{token}-{len(futures)}"
                        fut = executor.submit(run_ensemble, tasks, key=key)
                    else:
                        fut = executor.submit(run_point, tasks[0], key=f"dendrosim-{Path(unit[0].file).stem}-{token}")
                    futures[fut] = unit
                done, last_write = 0, time.monotonic()
                for fut in executor.as_completed(list(futures)):
                    unit = futures[fut]
                    try:
                        res = fut.result()
                        res = res if isinstance(res, list) else [res]
                    except Exception as e:       # noqa: BLE001  (worker lost, ...)
                        res = [{"status": "failed", "error": f"{type(e).__name__}: {e}", "action": "lost"}] * len(unit)
                    for p, rec in zip(unit, res):
                        records[p.index].update(rec)
                        done += 1
                        if not quiet:
                            r = records[p.index]
                            msg = f"  [{done}/{len(todo)}] {p.label}, seed {p.seed}: {r['status']}"
                            msg += f" ({r['action']}, {r.get('seconds') or 0:.1f} s)"
                            if r["error"] and r["status"] != "completed":
                                msg += f": {r['error']}"
                            say(msg)
                    if time.monotonic() - last_write > 2.0:
                        write_index(out_dir, header, records)
                        last_write = time.monotonic()
            except KeyboardInterrupt:
                interrupted = True
                executor.cancel(list(futures))
                for r in records:
                    if r["status"] in ("running", "pending"):
                        r["status"] = "interrupted" if r["status"] == "running" else "pending"
            finally:
                executor.close()
            if interrupted:     # points that finished while the sweep was stopping
                for p, r in zip(points, records):
                    fs = file_status(out_dir / p.file) if r["status"] == "interrupted" else None
                    r["file_status"] = fs if r["status"] == "interrupted" else r["file_status"]
                    if fs in DONE_STATUSES:
                        r["status"] = fs
                        try:
                            r["final"], r["tail"] = final_metrics(out_dir / p.file)
                        except (OSError, KeyError):   # pragma: no cover
                            pass
        write_index(out_dir, header, records)
    counts = _counts(records)
    bad = sum(n for s, n in counts.items() if s not in OK_STATUSES)
    code = EXIT_INTERRUPTED if interrupted else (EXIT_FAILED if bad else EXIT_OK)
    if not quiet:
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        say(f"dendrosim: sweep {'interrupted' if interrupted else 'done'}: {summary}; "
            f"index in {out_dir / INDEX_JSON}")
    return SweepResult(out_dir, records, code, header["executor"])


def _task(spec, p, out_dir, force) -> dict:
    return {"raw": spec.raw, "overrides": [*spec.sets, *p.overrides],
            "out": str((out_dir / p.file).resolve()), "force": force, "tail_fraction": TAIL_FRACTION}


def _version() -> str:
    import dendrosim
    return getattr(dendrosim, "__version__", "unknown")


# -- command line ----------------------------------------------------------------------

def sweep_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dendrosim sweep",
        description="Run a config over the cartesian product of --grid values and --seeds, "
                    "one HDF5 file per point, on Dask (a LocalCluster unless --scheduler).",
        epilog="Exit codes: 0 every point completed; 1 some points failed (invalid value, diverged, "
               "error: see the index); 2 bad sweep (unknown key, bad grid or seeds, nothing valid to run, "
               "dask missing for --scheduler); 130 interrupted (re-run to continue).")
    p.add_argument("config", help="TOML experiment file (may hold a [sweep] table)")
    p.add_argument("--grid", action="append", default=[], metavar="SECTION.KEY=V1,V2,...",
                   help="values of one key (TOML values; lists allowed: eta_up=[1,2],[3,4]); repeatable")
    p.add_argument("--seeds", default=None, metavar="A:B|a,b,c",
                   help="seeds for init.seed: A:B (B excluded), A:B:STEP, a list (default: the config's seed)")
    p.add_argument("-o", "--output", default=None, metavar="SWEEP_DIR",
                   help="sweep directory (default: <config name>_sweep)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value at every point (repeatable)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask scheduler address, e.g. tcp://host:8786 (default: a LocalCluster)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="LocalCluster worker processes (default: the cores of this machine)")
    p.add_argument("--serial", action="store_true", help="run in this process, without dask")
    p.add_argument("--ensemble", type=int, default=0, metavar="N",
                   help="run up to N seeds of a grid point together as one ensemble of the engine "
                        "(one task per N seeds; -1: all seeds of a grid point)")
    p.add_argument("--force", action="store_true", help="recompute points that are already done")
    p.add_argument("--dry-run", action="store_true", help="list the points and their files, run nothing")
    p.add_argument("--quiet", action="store_true", help="no per-point lines")
    return p


def sweep_main(args_list=None) -> int:
    """``dendrosim sweep ...``: parse ``args_list`` and run; returns the exit code."""
    try:
        args = sweep_parser().parse_args(args_list)
    except SystemExit as e:
        return EXIT_CONFIG if e.code not in (0, None) else EXIT_OK
    if args.workers is not None and args.workers < 1:
        print("dendrosim: --workers must be >= 1", file=sys.stderr)
        return EXIT_CONFIG
    try:
        if args.dry_run:
            spec = grid_mod.make_spec(args.config, args.grid, args.seeds, args.set)
            points = spec.points()
            invalid = validate(spec, points)
            for p in points:
                extra = f"  INVALID: {invalid[p.group]}" if p.group in invalid else ""
                print(f"{p.index:5d}  {p.label}, seed {p.seed}  ->  {p.file}{extra}")
            return EXIT_OK
        res = run_sweep(args.config, args.grid, args.seeds, args.output, args.set,
                        scheduler=args.scheduler, workers=args.workers, serial=args.serial,
                        force=args.force, quiet=args.quiet, ensemble=args.ensemble)
        return res.exit_code
    except config_mod.ConfigError as e:
        print(f"dendrosim: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except ExecutorError as e:
        print(f"dendrosim: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as e:
        print(f"dendrosim: {e}", file=sys.stderr)
        return EXIT_CONFIG
