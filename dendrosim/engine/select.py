"""Which kernel runs a configuration: the table of kernels and one :func:`select`.

Every kernel computes the same circuit (eqs. 1-10 of Sacramento et al. 2018); they differ
in how a time step is scheduled. The generic path is the readable specification the
others are tested against (tests/test_fused.py, tests/test_ensemble.py, tests/test_rhs.py).

======== ============================================ ==============================================
kernel   module                                       runs
======== ============================================ ==============================================
generic  engine/loop.py + rhs.py + integrators.py     every configuration of the continuous engine;
                                                      the only one for heun, rk4 and expeuler and for
                                                      the top-down rule "pal"
fused    engine/fused.py                              integrator = "euler", every switch and dtype but
                                                      down_rule = "pal"; matrices of >= 100,000
                                                      weights on all threads
lanes    engine/lanes.py + simd.py                    ensembles of >= LANES members: forward Euler,
                                                      float64, one transfer function for all layers,
                                                      fixed top-down weights, no Latent Equilibrium,
                                                      no PAL
steady   learners/rules.py + steady.py                integrator = "steady" or a [learner] rule other
                                                      than "continuous": the discrete learners, each
                                                      trial at its steady state, then one update
======== ============================================ ==============================================

A run records its kernel as the root attribute ``kernel`` of its HDF5 file
(``dendrosim info`` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass

from .simd import LANES


@dataclass(frozen=True)
class Kernel:
    """One row of the kernel table."""

    name: str
    module: str       # where its schedule lives (relative to dendrosim/)
    supports: str     # which configurations it runs


KERNELS = (
    Kernel("generic", "engine/loop.py + engine/rhs.py + engine/integrators.py",
           "every configuration of the continuous engine; the only one for heun, rk4 and expeuler and for "
           'the top-down rule "pal"'),
    Kernel("fused", "engine/fused.py",
           'integrator = "euler", every switch and dtype but down_rule = "pal"; matrices of at least 100,000 '
           "weights on all threads"),
    Kernel("lanes", "engine/lanes.py + engine/simd.py",
           f"ensembles of at least {LANES} members: forward Euler, float64, one transfer function for all "
           "layers, fixed top-down weights, no Latent Equilibrium, no PAL"),
    Kernel("steady", "learners/rules.py + steady.py",
           'integrator = "steady" or a [learner] rule other than "continuous": the discrete learners, each trial '
           "at its steady state (a feedforward pass, or the fixed point with feedback for rule dendritic), then "
           "one update"),
)
KERNEL_NAMES = tuple(k.name for k in KERNELS)


@dataclass(frozen=True)
class Selection:
    """The kernel :func:`select` chose and why (one sentence, for logs and ``dendrosim info``)."""

    kernel: str
    reason: str


def lanes_unsupported(cfg) -> str:
    """Why the lanes kernel cannot run ``cfg`` (a resolved config), or "" if it can."""
    if cfg.simulation.integrator != "euler":
        return f"integrator {cfg.simulation.integrator!r} (lanes: forward Euler only)"
    if cfg.network.latent_equilibrium:
        return "Latent Equilibrium (lanes: the original rates only)"
    if cfg.plasticity.down_rule == "pal":
        return 'down_rule "pal" (lanes: eq. 10 only)'
    if cfg.simulation.dtype != "float64":
        return f"dtype {cfg.simulation.dtype} (lanes: float64 only)"
    if len(set(cfg.network.transfer)) != 1:
        return "a transfer function per layer (lanes: one for all layers)"
    if any(e != 0.0 for e in cfg.plasticity.eta_down):
        return "plastic top-down weights (lanes: fixed ones only)"
    return ""


def is_learner(cfg) -> bool:
    """Whether ``cfg`` runs through the discrete learners rather than the continuous engine."""
    return cfg.learner.get("rule", "continuous") != "continuous" or cfg.simulation.integrator == "steady"


def select(cfg, *, members: int = 1, fused: bool = True, lanes: bool = True) -> Selection:
    """The kernel that runs ``cfg`` (a resolved :class:`~dendrosim.config.Config`).

    members : ensemble size (1: a single run). An ensemble picks ``lanes`` where the table
        allows it; its members outside the groups of LANES run the kernel of a single run.
    fused, lanes : False forbids that kernel (tests and comparisons against the generic path).
    """
    if is_learner(cfg):
        rule = cfg.learner.get("rule", "continuous")
        return Selection("steady", f"discrete learner rule {rule!r}" if rule != "continuous"
                         else 'integrator = "steady"')
    integ = cfg.simulation.integrator
    if integ != "euler":
        return Selection("generic", f"integrator {integ!r}: only the generic path integrates it")
    if not fused:
        return Selection("generic", "the generic path was asked for (fused = False)")
    if cfg.plasticity.down_rule == "pal":
        return Selection("generic", 'down_rule "pal": its apical noise and high-pass filter run on the '
                         "generic path only (the fused kernel's schedule has no place for them yet)")
    if members >= LANES and lanes:
        why_not = lanes_unsupported(cfg)
        if not why_not:
            rest = members % LANES
            return Selection("lanes", f"an ensemble of {members} members in groups of {LANES}"
                             + (f"; the other {rest} in the fused kernel" if rest else ""))
        return Selection("fused", f"forward Euler; not the lanes kernel: {why_not}")
    if members > 1:
        return Selection("fused", f"forward Euler; an ensemble of {members} < {LANES} members, one by one"
                         if lanes else "forward Euler; lanes were not asked for")
    return Selection("fused", "forward Euler")
