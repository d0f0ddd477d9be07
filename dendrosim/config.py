"""TOML experiment files -> validated, immutable parameter objects.

Every error is a :class:`ConfigError` naming the offending key as
``[section] key``; the CLI turns it into exit code 2 before anything is written.
Units: ms for times, dimensionless potentials, conductances in 1/ms.

The switches that settle ambiguities in the paper (research notes, sec. 9) and
their defaults:

=============================  ==============  ========================================
key                            default         meaning
=============================  ==============  ========================================
noise.convention               "per_step_dt"   per-step std sigma*dt as all public
                                               reimplementations; "euler_maruyama":
                                               sigma*sqrt(dt)
noise.interneurons             true            noise also on interneuron somas
plasticity.tau_w               30.0            low-pass trace of eqs. 7-10 (0 = off)
plasticity.lag                 0.0             ms without plasticity after each pattern
                                               switch (R-phll's learning lag; paper: 0)
conductances.nudging           "current"       or "conductance" (rectified at 0)
network.tau_in                 3.0             input low-pass filter (0 = off)
=============================  ==============  ========================================
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model.transfer import TRANSFER_CODES
from .network import VARIABLES


MESSAGE_CHARS = 300     # longest value quoted in an error message


def shorten(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` cut to about ``limit`` characters (a bad value may be megabytes long)."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit // 2]} ... ({len(text) - limit} characters left out) ... {text[-limit // 4:]}"


class ConfigError(ValueError):
    """A bad configuration value; ``key`` is ``section.key``."""

    def __init__(self, key: str, message: str):
        self.key = key
        section, _, name = key.partition(".")
        where = f"[{section}] {name}" if name else f"[{section}]"
        super().__init__(f"{shorten(where, 120)}: {shorten(message, 2 * MESSAGE_CHARS)}")


def _doc(text, **kw):
    return field(metadata={"doc": text}, **kw)


class FrozenDict(Mapping):
    """A read-only mapping: ``[task]`` and ``[learner]`` of a :class:`Config`.

    Unlike :class:`types.MappingProxyType` it can be pickled (process pools, Dask) and it
    owns its data, so nobody holds a mutable view of it. Nested tables are FrozenDicts and
    lists are :class:`FrozenList`; ``dict(m)`` / ``{**m}`` give a (shallow) mutable copy,
    :func:`thaw` a deep one.
    """

    __slots__ = ("_d",)

    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "_d", {k: freeze(v) for k, v in dict(*args, **kwargs).items()})

    def __getitem__(self, key):
        return self._d[key]

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __repr__(self):
        return f"FrozenDict({self._d!r})"

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    __delattr__ = __setattr__

    def __reduce__(self):
        return (type(self), (self._d,))


class FrozenList(list):
    """A list that refuses changes (lists inside ``[task]`` / ``[learner]``).

    A ``list`` subclass so that code written for TOML's lists (``isinstance(v, list)``,
    JSON) keeps working; ``list(v)`` gives a mutable copy.
    """

    __slots__ = ()

    def _read_only(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is read-only; copy it with list(...)")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only

    def __reduce__(self):
        return (type(self), (list(self),))

    def __repr__(self):
        return f"FrozenList({list(self)!r})"


def freeze(v):
    """``v`` with every dict made a :class:`FrozenDict` and every list a :class:`FrozenList`."""
    if isinstance(v, FrozenDict | FrozenList):
        return v
    if isinstance(v, Mapping):
        return FrozenDict(v)
    if isinstance(v, list | tuple) and not hasattr(v, "_fields"):
        items = [freeze(x) for x in v]
        return FrozenList(items) if isinstance(v, list) else tuple(items)
    return v


def thaw(v):
    """The inverse of :func:`freeze`: plain dicts and lists, safe to change."""
    if isinstance(v, Mapping):
        return {k: thaw(x) for k, x in v.items()}
    if isinstance(v, list):
        return [thaw(x) for x in v]
    if isinstance(v, tuple) and not hasattr(v, "_fields"):
        return tuple(thaw(x) for x in v)
    return v


@dataclass(frozen=True)
class NetworkCfg:
    sizes: tuple = _doc("layer sizes [n0, n1, ..., nN], N >= 1", default=(30, 20, 10))
    transfer: Any = _doc("transfer name, or a list for layers 1..N", default="soft_relu")
    gamma: float = _doc("soft_relu gain gamma (paper 0.1)", default=0.1)
    beta: float = _doc("soft_relu slope beta (paper 1)", default=1.0)
    theta: float = _doc("soft_relu threshold theta (paper 3)", default=3.0)
    bias: bool = _doc("learnable thresholds on basal and interneuron dendrites", default=False)
    tau_in: float = _doc("input low-pass filter time constant, ms (0 = none)", default=3.0)
    latent_equilibrium: bool = _doc(
        "prospective rates (Haider et al. 2021): every rate leaving a neuron is phi(u_breve), "
        "u_breve = u + tau_eff du/dt with tau_eff = 1/(total conductance of that soma): hidden "
        "pyramidal g_l+g_B+g_A, output g_l+g_B (+g_som while a target is present), interneuron "
        "g_l+g_D+g_som; du/dt includes the step's noise; one step of delay per layer; eqs. 7, 8, "
        "10 use phi(u + tau_eff du/dt) of the step; euler and expeuler only", default=False)


@dataclass(frozen=True)
class ConductancesCfg:
    g_l: float = _doc("leak, 1/ms", default=0.1)
    g_B: float = _doc("basal -> soma", default=1.0)
    g_A: float = _doc("apical -> soma (hidden layers)", default=0.8)
    g_D: float = _doc("interneuron dendrite -> soma", default=1.0)
    g_som: float = _doc("somatic nudging of output cells and interneurons", default=0.8)
    nudging: str = _doc('"current" or "conductance"', default="current")
    E_exc: float = _doc("excitatory reversal potential (conductance nudging)", default=1.0)
    E_inh: float = _doc("inhibitory reversal potential (conductance nudging)", default=-1.0)


@dataclass(frozen=True)
class PlasticityCfg:
    eta_up: Any = _doc("forward learning rates, layers 1..N (eq. 7)", default=0.0)
    eta_IP: Any = _doc("pyramidal -> interneuron, hidden layers (eq. 8)", default=0.0)
    eta_PI: Any = _doc("interneuron -> pyramidal, hidden layers (eq. 9)", default=0.0)
    eta_down: Any = _doc("top-down, hidden layers (eq. 10; 0 = fixed)", default=0.0)
    tau_w: float = _doc("plasticity low-pass trace, ms (0 = rule applied directly)", default=30.0)
    lag: float = _doc("ms without plasticity after each pattern switch", default=0.0)
    down_rule: str = _doc(
        '"eq10" (the top-down weights learn to predict the rates above, eq. 10) or "pal" (Phaseless '
        "Alignment Learning, Max et al. 2024: Ornstein-Uhlenbeck noise xi in the apical potential of "
        "every hidden pyramidal neuron, dW_down,k/dt = eta_down (xi_k r_HP,k+1^T - pal_alpha W_down,k) "
        "with r_HP the high-passed rate the layer above sends; euler and expeuler, generic kernel)",
        default="eq10")
    pal_sigma: float = _doc(
        "PAL: amplitude of the apical Ornstein-Uhlenbeck noise xi (potential units), defined as its "
        "stationary standard deviation in continuous time: xi += -(dt/pal_tau_xi) xi + "
        "pal_sigma sqrt(2 dt/pal_tau_xi) N(0,1) per step, whose own stationary standard deviation "
        "is pal_sigma/sqrt(1 - dt/(2 pal_tau_xi)); > 0 with down_rule = \"pal\"", default=0.01)
    pal_tau_xi: float = _doc("PAL: time constant of the apical Ornstein-Uhlenbeck noise, ms (>= dt)",
                             default=0.1)
    pal_tau_hp: float = _doc(
        "PAL: time constant of the high-pass filter of the rates above, ms (>= dt): "
        "r_HP += (r(t) - r(t - dt)) - (dt/pal_tau_hp) r_HP", default=0.1)
    pal_alpha: float = _doc("PAL: decay of the top-down weights in dW_down/dt = eta_down (xi r_HP^T - "
                            "pal_alpha W_down), 1 (per unit of eta_down)", default=1e-6)


@dataclass(frozen=True)
class SimulationCfg:
    dt: float = _doc("time step, ms", default=0.1)
    integrator: str = _doc("euler, heun, rk4, expeuler or steady", default="euler")
    dtype: str = _doc("float64 or float32", default="float64")
    check_stability: bool = _doc("reject dt above the explicit stability bound", default=True)


@dataclass(frozen=True)
class NoiseCfg:
    sigma: float = _doc("noise amplitude on every soma", default=0.0)
    convention: str = _doc('"per_step_dt" (std sigma*dt) or "euler_maruyama" (sigma*sqrt(dt))',
                           default="per_step_dt")
    interneurons: bool = _doc("noise also on interneurons", default=True)


@dataclass(frozen=True)
class InitCfg:
    seed: int = _doc("root seed; children for weights, data, noise", default=0)
    self_predicting: bool = _doc("set IP and PI analytically to the self-predicting state", default=False)
    distribution: str = _doc("uniform U(-s, s) or normal N(0, s^2)", default="uniform")
    scale: float = _doc("weight scale s for every group", default=1.0)
    scale_up: float = _doc("override of scale for forward weights (nan = scale)", default=math.nan)
    scale_down: float = _doc("override for top-down weights", default=math.nan)
    scale_IP: float = _doc("override for IP weights", default=math.nan)
    scale_PI: float = _doc("override for PI weights", default=math.nan)
    top_down: str = _doc('"random" or "transpose" (down_k = up_{k+1}^T)', default="random")
    hidden_bias: float = _doc("initial forward threshold b_up of every hidden layer (needs [network] "
                              "bias = true); negative values make logistic hidden rates sparse", default=0.0)


@dataclass(frozen=True)
class RecordCfg:
    path: str = _doc("output HDF5 file (CLI -o overrides)", default="")
    every: int = _doc("record every k steps", default=10)
    mode: str = _doc('"sample" (state every k steps) or "mean" (mean over k steps)', default="sample")
    variables: tuple = _doc("subset of u_P, v_B, v_A, u_I, v_I, r, r_I, input, target, u_breve "
                            "(the prospective potential, with [network] latent_equilibrium), xi, r_hp (the apical "
                            "noise and the high-passed rates of [plasticity] down_rule = \"pal\")",
                            default=("u_P", "v_A", "u_I"))
    layers: tuple = _doc("layers to record (empty = all that have the variable)", default=())
    neurons: tuple = _doc("neuron indices recorded in each layer (empty = all)", default=())
    weights_every: int = _doc("weight snapshot every m steps (0 = initial and final only)", default=0)
    block: int = _doc("max steps per compiled call (a pattern is split into blocks)", default=10000)
    compression: str = _doc('"none" or "gzip" (gzip+shuffle)', default="none")


@dataclass(frozen=True)
class Config:
    network: NetworkCfg
    conductances: ConductancesCfg
    plasticity: PlasticityCfg
    simulation: SimulationCfg
    noise: NoiseCfg
    init: InitCfg
    record: RecordCfg
    task: Mapping       # validated by the task class (tasks/); a read-only FrozenDict
    learner: Mapping    # validated by the learner (learners/); a read-only FrozenDict
    source: str = ""    # path of the TOML file, if any

    def __post_init__(self):
        # every way of making a Config (from_dict, dataclasses.replace(cfg, task={...})) ends here
        for name in FREE_SECTIONS:
            object.__setattr__(self, name, freeze(getattr(self, name)))

    @property
    def depth(self) -> int:
        return len(self.network.sizes) - 1

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "source":
                continue
            v = getattr(self, f.name)
            out[f.name] = thaw(v) if isinstance(v, Mapping) else {
                g.name: getattr(v, g.name) for g in dataclasses.fields(v)}
        return out

    def to_toml(self) -> str:
        """The full resolved configuration as TOML text (stored in every output file)."""
        return dump_toml(self.to_dict())


SECTIONS = {"network": NetworkCfg, "conductances": ConductancesCfg, "plasticity": PlasticityCfg,
            "simulation": SimulationCfg, "noise": NoiseCfg, "init": InitCfg, "record": RecordCfg}
FREE_SECTIONS = ("task", "learner")


# -- loading ----------------------------------------------------------------------------

def load(path: str | Path, overrides: list[str] | tuple = ()) -> Config:
    """Read a TOML file, apply ``section.key=value`` overrides and validate."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file", f"no such config file: {path}") from None
    except IsADirectoryError:
        raise ConfigError("file", f"{path} is a folder, not a TOML config file") from None
    if data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise ConfigError("file", f"{path} is an HDF5 file, not a TOML config; to continue the run "
                                  f"in it use `dendrosim run --resume {path}`")
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("file", f"{path} is not a text (TOML) file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("file", f"{path} is not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError("file", f"{path}: tables or arrays nested too deeply to read") from None
    return from_dict(raw, overrides, source=str(path))


def from_dict(raw: dict, overrides=(), source: str = "") -> Config:
    raw = {k: thaw(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
    raw.pop("sweep", None)      # read by dendrosim.sweep (docs/sweeps.md), not by a run
    for ov in overrides:
        apply_override(raw, ov)
    for sec in raw:
        if sec not in SECTIONS and sec not in FREE_SECTIONS:
            raise ConfigError(sec, f"unknown section; sections are {sorted([*SECTIONS, *FREE_SECTIONS])}")
        if not isinstance(raw[sec], Mapping):
            raise ConfigError(sec, "must be a table")
    parts = {name: _build_section(name, cls, raw.get(name, {})) for name, cls in SECTIONS.items()}
    for name in FREE_SECTIONS:
        parts[name] = raw.get(name, {})           # frozen by Config.__post_init__
    cfg = Config(**parts, source=source)
    return _validate(cfg)


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` -> (section, key, value); value parsed as TOML, else a string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError("set", f"override {text!r} must look like section.key=value")
    lhs, rhs = text.split("=", 1)
    section, key = lhs.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {rhs.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = rhs.strip()
    except RecursionError:
        raise ConfigError(lhs.strip(), "value nested too deeply to read") from None
    return section, key, value


def apply_override(raw: dict, text: str) -> None:
    section, key, value = parse_override(text)
    raw.setdefault(section, {})
    if not isinstance(raw[section], dict):
        raise ConfigError(section, "must be a table")
    raw[section][key] = value


def _build_section(name, cls, values: dict):
    known = {f.name: f for f in dataclasses.fields(cls)}
    kw = {}
    for key, v in values.items():
        if key not in known:
            raise ConfigError(f"{name}.{key}", f"unknown key; keys of [{name}] are {sorted(known)}")
        kw[key] = _coerce(f"{name}.{key}", v, known[key].type, known[key].default)
    return cls(**kw)


def _coerce(key, v, typ, default):
    typ = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    if typ == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(key, f"must be a number, got {v!r}")
        return float(v)
    if typ == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(key, f"must be an integer, got {v!r}")
        return v
    if typ == "bool":
        if not isinstance(v, bool):
            raise ConfigError(key, f"must be true or false, got {v!r}")
        return v
    if typ == "str":
        if not isinstance(v, str):
            raise ConfigError(key, f"must be a string, got {v!r}")
        return v
    if typ == "tuple":
        if not isinstance(v, (list, tuple)):
            raise ConfigError(key, f"must be a list, got {v!r}")
        return tuple(v)
    # Any: scalar or list, checked later
    if isinstance(v, (list, tuple)):
        return tuple(v)
    return v


def _per_layer(key, v, n, kind=float):
    """A scalar (broadcast) or a list of exactly ``n`` values."""
    if isinstance(v, tuple):
        if len(v) != n:
            raise ConfigError(key, f"needs {n} values (one per layer), got {len(v)}")
        vals = v
    else:
        vals = (v,) * n
    out = []
    for x in vals:
        if kind is float:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise ConfigError(key, f"values must be numbers, got {x!r}")
            out.append(float(x))
        else:
            if not isinstance(x, str):
                raise ConfigError(key, f"values must be strings, got {x!r}")
            out.append(x)
    return tuple(out)


def _choice(key, v, choices):
    if v not in choices:
        raise ConfigError(key, f"must be one of {list(choices)}, got {v!r}")


def _positive(key, v, allow_zero=False):
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(key, f"must be {'>= 0' if allow_zero else '> 0'}, got {v!r}")


def _finite(key, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(key, f"must be a finite number, got {v!r}")


def state_bytes(sizes, dtype="float64", tau_w=1.0) -> int:
    """Bytes of the weights in the state vector (twice with plasticity traces, tau_w > 0)."""
    n = sum(a * b for a, b in zip(sizes[1:], sizes[:-1]))                    # forward
    n += sum(3 * sizes[k] * sizes[k + 1] for k in range(1, len(sizes) - 1))  # down, IP, PI
    return n * (2 if tau_w > 0 else 1) * (4 if dtype == "float32" else 8)


def _check_memory(sizes, dtype, tau_w):
    """Refuse a network whose state alone would not fit in this machine's memory."""
    need = state_bytes(sizes, dtype, tau_w)
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):     # pragma: no cover (not POSIX)
        return
    if need > have:
        raise ConfigError("network.sizes", f"{list(sizes)} needs {need / 2**30:.1f} GiB for the weights "
                          f"alone; this machine has {have / 2**30:.1f} GiB of memory")


def stability_bound(cfg: Config) -> float:
    """Largest dt (ms) for which explicit Euler is stable on the linear part.

    dt < 2 / g_max with g_max the largest total somatic conductance (hidden
    g_l + g_B + g_A, output g_l + g_B + g_som, interneuron g_l + g_D + g_som) and the
    input filter rate 1/tau_in (research notes pitfall 11).
    """
    c = cfg.conductances
    rates = [c.g_l + c.g_B + c.g_som]
    if cfg.depth > 1:
        rates += [c.g_l + c.g_B + c.g_A, c.g_l + c.g_D + c.g_som]
    if cfg.network.tau_in > 0:
        rates.append(1.0 / cfg.network.tau_in)
    if cfg.plasticity.tau_w > 0:
        rates.append(1.0 / cfg.plasticity.tau_w)
    return 2.0 / max(rates)


def _check_pal(p, s, N, learner) -> None:
    """Phaseless Alignment Learning needs top-down weights, noise, and a one-stage integrator
    of the continuous engine whose step resolves the noise and the high-pass filter."""
    if N < 2:
        raise ConfigError("plasticity.down_rule", '"pal" needs at least one hidden layer (top-down '
                          f"weights), got network.sizes of length {N + 1}")
    if not p.pal_sigma > 0:
        raise ConfigError("plasticity.pal_sigma", f'must be > 0 with down_rule = "pal" (PAL learns from '
                          f"the noise), got {p.pal_sigma}")
    if s.integrator not in ("euler", "expeuler"):
        raise ConfigError("plasticity.down_rule", f'"pal" needs integrator euler or expeuler, got '
                          f"{s.integrator!r}: the noise and the high-pass filter advance once per step")
    if learner.get("rule", "continuous") != "continuous":
        raise ConfigError("plasticity.down_rule", '"pal" runs in the continuous engine only, not with '
                          f"[learner] rule = {learner.get('rule')!r}")
    for key in ("pal_tau_xi", "pal_tau_hp"):
        if getattr(p, key) < s.dt:
            raise ConfigError(f"plasticity.{key}", f"must be >= simulation.dt ({s.dt} ms), got "
                              f"{getattr(p, key)} ms: the factor 1 - dt/tau of its step would be negative")


def _validate(cfg: Config) -> Config:
    nw = cfg.network
    sizes = nw.sizes
    if len(sizes) < 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ConfigError("network.sizes", f"must be a list of >= 2 positive integers, got {list(sizes)}")
    N = len(sizes) - 1
    transfers = _per_layer("network.transfer", nw.transfer, N, kind=str)
    for t in transfers:
        _choice("network.transfer", t, TRANSFER_CODES)
    _positive("network.tau_in", nw.tau_in, allow_zero=True)
    _positive("network.gamma", nw.gamma)
    _positive("network.beta", nw.beta)
    _finite("network.theta", nw.theta)
    nw = dataclasses.replace(nw, transfer=transfers, sizes=tuple(sizes))

    c = cfg.conductances
    for key in ("g_B", "g_D"):
        _positive(f"conductances.{key}", getattr(c, key))
    for key in ("g_l", "g_A", "g_som"):
        _positive(f"conductances.{key}", getattr(c, key), allow_zero=True)
    _choice("conductances.nudging", c.nudging, ("current", "conductance"))
    _finite("conductances.E_exc", c.E_exc)
    _finite("conductances.E_inh", c.E_inh)
    if c.nudging == "conductance" and not c.E_exc > c.E_inh:
        raise ConfigError("conductances.E_exc", f"must exceed E_inh ({c.E_inh}), got {c.E_exc}")

    p = cfg.plasticity
    hidden = max(N - 1, 0)
    p = dataclasses.replace(
        p,
        eta_up=_per_layer("plasticity.eta_up", p.eta_up, N),
        eta_IP=_per_layer("plasticity.eta_IP", p.eta_IP, hidden),
        eta_PI=_per_layer("plasticity.eta_PI", p.eta_PI, hidden),
        eta_down=_per_layer("plasticity.eta_down", p.eta_down, hidden))
    for key in ("eta_up", "eta_IP", "eta_PI", "eta_down"):
        for v in getattr(p, key):
            _positive(f"plasticity.{key}", v, allow_zero=True)
    _positive("plasticity.tau_w", p.tau_w, allow_zero=True)
    _positive("plasticity.lag", p.lag, allow_zero=True)
    _choice("plasticity.down_rule", p.down_rule, ("eq10", "pal"))
    _positive("plasticity.pal_sigma", p.pal_sigma, allow_zero=True)
    _positive("plasticity.pal_tau_xi", p.pal_tau_xi)
    _positive("plasticity.pal_tau_hp", p.pal_tau_hp)
    _positive("plasticity.pal_alpha", p.pal_alpha, allow_zero=True)

    s = cfg.simulation
    _positive("simulation.dt", s.dt)
    _choice("simulation.integrator", s.integrator, ("euler", "heun", "rk4", "expeuler", "steady"))
    _choice("simulation.dtype", s.dtype, ("float64", "float32"))
    if nw.latent_equilibrium and s.integrator in ("heun", "rk4"):
        raise ConfigError("network.latent_equilibrium",
                          f"needs a one-stage integrator (euler or expeuler), got {s.integrator!r}: "
                          "u_breve is the prospective potential of one step, which a multi-stage "
                          "step has no single value of")

    if p.down_rule == "pal":
        _check_pal(p, s, N, cfg.learner)

    nz = cfg.noise
    _positive("noise.sigma", nz.sigma, allow_zero=True)
    _choice("noise.convention", nz.convention, ("per_step_dt", "euler_maruyama"))

    i = cfg.init
    _choice("init.distribution", i.distribution, ("uniform", "normal"))
    _choice("init.top_down", i.top_down, ("random", "transpose"))
    _positive("init.scale", i.scale, allow_zero=True)
    for g in ("up", "down", "IP", "PI"):
        v = getattr(i, f"scale_{g}")
        if v == v:                             # NaN: use init.scale
            _positive(f"init.scale_{g}", v, allow_zero=True)
    if i.seed < 0:
        raise ConfigError("init.seed", f"must be >= 0, got {i.seed}")
    if i.top_down == "transpose" and N < 2:
        raise ConfigError("init.top_down", "'transpose' needs at least one hidden layer")
    if not math.isfinite(i.hidden_bias):
        raise ConfigError("init.hidden_bias", f"must be a finite number, got {i.hidden_bias!r}")
    if i.hidden_bias != 0.0 and not cfg.network.bias:
        raise ConfigError("init.hidden_bias", "needs [network] bias = true (learnable thresholds)")

    r = cfg.record
    if r.every < 1:
        raise ConfigError("record.every", f"must be >= 1, got {r.every}")
    if r.weights_every < 0:
        raise ConfigError("record.weights_every", f"must be >= 0, got {r.weights_every}")
    if r.block < 1:
        raise ConfigError("record.block", f"must be >= 1, got {r.block}")
    _choice("record.mode", r.mode, ("sample", "mean"))
    _choice("record.compression", r.compression, ("none", "gzip"))
    for v in r.variables:
        _choice("record.variables", v, VARIABLES)
    if "u_breve" in r.variables and not nw.latent_equilibrium:
        raise ConfigError("record.variables", "'u_breve' exists with [network] latent_equilibrium = true only")
    for v in ("xi", "r_hp"):
        if v in r.variables and p.down_rule != "pal":
            raise ConfigError("record.variables", f"{v!r} exists with [plasticity] down_rule = \"pal\" only")
    for k in r.layers:
        if not isinstance(k, int) or not 0 <= k <= N:
            raise ConfigError("record.layers", f"layer {k!r} is not in 0..{N}")
    for j in r.neurons:
        if not isinstance(j, int) or j < 0:
            raise ConfigError("record.neurons", f"indices must be integers >= 0, got {j!r}")

    _check_memory(sizes, s.dtype, p.tau_w)
    cfg = dataclasses.replace(cfg, network=nw, plasticity=p)
    if s.integrator in ("euler", "heun", "rk4") and s.check_stability:
        bound = stability_bound(cfg) * (1.39 if s.integrator == "rk4" else 1.0)
        if s.dt >= bound:
            shown = next((t for t in (f"{bound:.{d}g}" for d in range(4, 18)) if float(t) < s.dt), repr(bound))
            raise ConfigError(
                "simulation.dt",
                f"{s.dt} ms is not below the explicit {s.integrator} stability bound {shown} ms for "
                "these conductances; lower dt, use integrator = \"expeuler\", or set "
                "simulation.check_stability = false")
    return cfg


# -- writing ----------------------------------------------------------------------------

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(v: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped."""
    out = []
    for ch in v:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(k) -> str:
    k = str(k)
    if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k):
        return k
    return toml_string(k)


def dump_toml(d: dict) -> str:
    """Minimal TOML writer for the flat two-level config dictionaries used here."""
    lines = []
    for section, values in d.items():
        lines.append(f"[{_toml_key(section)}]")
        sub = {}
        for k, v in values.items():
            if isinstance(v, dict):
                sub[k] = v
            else:
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in sub.items():
            lines.append(f"[{_toml_key(section)}.{_toml_key(k)}]")
            lines.extend(f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in v.items())
        lines.append("")
    return "\n".join(lines)
