"""Sweep points: the cartesian product of ``--grid`` values and ``--seeds``.

A *point* is one run: the base config plus the ``--set`` overrides, one value of
every grid key, and ``init.seed``. Points that differ only in the seed form a
*group* (a grid point); :func:`ensemble_groups` is the hook for running a group
as one ensemble on one worker.

File names are stable across re-runs and growing sweeps: a group's id hashes
everything the user gave except the seed (the config without ``[sweep]``, the
``--set`` overrides and the grid values), so adding seeds or grid values reuses
the files that exist, and editing the config or an override gives new files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .. import config as config_mod

SEED_KEY = "init.seed"


@dataclass(frozen=True)
class Point:
    """One run of a sweep."""

    index: int                 # position in the sweep (group-major, then seed)
    group: int                 # index of the grid point
    group_id: str              # hash of everything but the seed
    seed: int
    grid: tuple                # ((key, value_text), ...) of this grid point, in --grid order
    file: str                  # path relative to the sweep directory

    @property
    def overrides(self) -> list[str]:
        """``section.key=value`` overrides of this point (grid values, then the seed)."""
        return [f"{k}={v}" for k, v in self.grid] + [f"{SEED_KEY}={self.seed}"]

    @property
    def label(self) -> str:
        return grid_label(self.grid)


@dataclass
class Spec:
    """A parsed sweep: base config (raw TOML dict without ``[sweep]``), overrides, grid, seeds."""

    raw: dict
    sets: list[str]
    grid: list[tuple[str, list[str]]]      # [(key, [value texts])]
    seeds: list[int]
    sweep_section: dict = field(default_factory=dict)
    source: str = ""

    def points(self) -> list[Point]:
        return expand(self)


# -- parsing ---------------------------------------------------------------------------

def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at top-level commas (not inside [...], {...} or quotes)."""
    out, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


def parse_grid(text: str) -> tuple[str, list[str]]:
    """``section.key=v1,v2,...`` -> (key, [value texts]); values are TOML (lists allowed)."""
    if "=" not in text:
        raise config_mod.ConfigError("sweep.grid", f"{text!r} must look like section.key=v1,v2,...")
    key, rhs = text.split("=", 1)
    key = key.strip()
    if "." not in key or not all(key.split(".", 1)):
        raise config_mod.ConfigError("sweep.grid", f"{key!r} must be section.key")
    values = split_values(rhs)
    if not rhs.strip() or any(v == "" for v in values):
        raise config_mod.ConfigError("sweep.grid", f"{text!r}: empty value")
    for v in values:
        config_mod.parse_override(f"{key}={v}")      # syntax check only
    if len(set(values)) != len(values):
        raise config_mod.ConfigError("sweep.grid", f"{key}: repeated value in {values}")
    return key, values


def parse_seeds(spec) -> list[int]:
    """Seeds from ``"0:100"`` (range), ``"0:100:10"``, ``"1,5,9"``, ``"3"`` (the seed 3),
    combinations such as ``"0:5,10"``, an int or a list of ints."""
    if isinstance(spec, bool):
        raise config_mod.ConfigError("sweep.seeds", f"bad seeds {spec!r}")
    if isinstance(spec, int):
        parts = [str(spec)]
    elif isinstance(spec, (list, tuple)):
        parts = [str(s) for s in spec]
    else:
        parts = [p.strip() for p in str(spec).split(",")]
    seeds = []
    try:
        for p in parts:
            if ":" in p:
                nums = [int(x) for x in p.split(":")]
                if len(nums) not in (2, 3):
                    raise ValueError(p)
                seeds.extend(range(*nums))
            else:
                seeds.append(int(p))
    except ValueError:
        raise config_mod.ConfigError("sweep.seeds", f"bad seeds {spec!r}: use A:B, A:B:STEP or a,b,c") from None
    if not seeds:
        raise config_mod.ConfigError("sweep.seeds", f"{spec!r} gives no seed")
    if min(seeds) < 0:
        raise config_mod.ConfigError("sweep.seeds", f"seeds must be >= 0, got {min(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise config_mod.ConfigError("sweep.seeds", f"repeated seeds in {spec!r}")
    return seeds


def read_config(path) -> tuple[dict, dict]:
    """(raw config without ``[sweep]``, the ``[sweep]`` table) of a TOML file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise config_mod.ConfigError("file", f"no such config file: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise config_mod.ConfigError("file", f"{path} is not valid TOML: {e}") from None
    sweep = raw.pop("sweep", {})
    if not isinstance(sweep, dict):
        raise config_mod.ConfigError("sweep", "must be a table")
    return raw, sweep


SWEEP_KEYS = ("grid", "seeds", "workers", "scheduler", "cluster", "slurm", "dashboard")


def make_spec(config_path, grid_args=(), seeds=None, sets=()) -> Spec:
    """Parse a sweep: ``[sweep] grid``/``seeds`` of the config are defaults for the CLI's."""
    raw, sweep = read_config(config_path)
    for k in sweep:
        if k not in SWEEP_KEYS:
            raise config_mod.ConfigError(f"sweep.{k}", f"unknown key; keys of [sweep] are {sorted(SWEEP_KEYS)}")
    grid: dict[str, list[str]] = {}
    file_grid = sweep.get("grid", {})
    if not isinstance(file_grid, dict):
        raise config_mod.ConfigError("sweep.grid", "must be a table of section.key = [values]")
    for key, values in file_grid.items():
        if not isinstance(values, list) or not values:
            raise config_mod.ConfigError("sweep.grid", f"{key!r} needs a non-empty list of values")
        k, vals = parse_grid(f"{key}=" + ",".join(config_mod._toml_value(v) for v in values))
        grid[k] = vals
    for text in grid_args:
        k, vals = parse_grid(text)
        if k in grid and k not in file_grid:
            raise config_mod.ConfigError("sweep.grid", f"{k} is given twice")
        grid[k] = vals                                     # the command line wins over [sweep]
    if SEED_KEY in grid:
        raise config_mod.ConfigError("sweep.grid", f"sweep seeds with --seeds, not --grid {SEED_KEY}=...")
    for s in sets:
        config_mod.parse_override(s)
    if seeds is None:
        seeds = sweep.get("seeds")
    if seeds is None:       # one run per grid point, with the config's own seed
        tmp = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
        for s in sets:
            config_mod.apply_override(tmp, s)
        seed = tmp.get("init", {}).get("seed", 0)
        seed_list = parse_seeds(seed if isinstance(seed, int) else str(seed))
    else:
        seed_list = parse_seeds(seeds)
    return Spec(raw=raw, sets=list(sets), grid=list(grid.items()), seeds=seed_list,
                sweep_section=sweep, source=str(config_path))


# -- expansion -------------------------------------------------------------------------

def grid_label(grid) -> str:
    return ", ".join(f"{k}={v}" for k, v in grid) or "(base config)"


def _slug(grid) -> str:
    s = "_".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in grid) or "run"
    s = re.sub(r"[^A-Za-z0-9._=+-]+", "", s.replace(",", "+").replace(" ", ""))
    return s[:60] or "run"


def group_id(raw: dict, sets, grid) -> str:
    """Hash of everything that defines a grid point (not the seed)."""
    payload = json.dumps({"config": raw, "set": list(sets), "grid": [list(g) for g in grid]},
                         sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:8]


def expand(spec: Spec) -> list[Point]:
    keys = [k for k, _ in spec.grid]
    combos = list(itertools.product(*[vals for _, vals in spec.grid])) if keys else [()]
    points = []
    for g, combo in enumerate(combos):
        grid = tuple(zip(keys, combo))
        gid = group_id(spec.raw, spec.sets, grid)
        for seed in spec.seeds:
            name = f"runs/{_slug(grid)}-{gid}_seed{seed}.h5"
            points.append(Point(len(points), g, gid, seed, grid, name))
    return points


def point_config(spec: Spec, point: Point) -> config_mod.Config:
    """The validated config of one point (raises ConfigError)."""
    return config_mod.from_dict(spec.raw, [*spec.sets, *point.overrides], source=spec.source)


def groups(points) -> list[list[Point]]:
    """Points grouped by grid point (everything but the seed), in sweep order."""
    out: dict[str, list[Point]] = {}
    for p in points:
        out.setdefault(p.group_id, []).append(p)
    return list(out.values())


def ensemble_groups(points, max_size: int | None = None) -> list[list[Point]]:
    """Hook for an ensemble engine: points that share everything but ``init.seed``.

    Such points have the same network shape, task and parameters, so an engine
    that integrates several seeds in one compiled call (not available yet) can
    take a whole group on one worker; see :func:`dendrosim.sweep.run_ensemble`.
    ``max_size`` splits large groups into chunks of at most that many seeds.
    """
    out = []
    for grp in groups(points):
        step = max_size or len(grp)
        out.extend(grp[i:i + step] for i in range(0, len(grp), step))
    return out
