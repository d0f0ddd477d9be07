"""Discrete-step learners at the microcircuit's fixed point (Konishi et al. 2023 rules,
and eqs. 7-10 at the steady state): the limiting case of the continuous engine.

- :mod:`dendrosim.steady` (below the learners and the tasks) exact fixed point and the two-sweep
  approximation; plasticity terms there
- :mod:`.rules`   bp, fa, fa_ex, elm, wp, dendritic on the same Network object
- :mod:`.options` the ``[learner]`` config section
- :mod:`.runner`  run a learner over a task (in memory, or to HDF5 via :func:`run_learner`)
"""
from ..steady import Circuit, NoFixedPoint, State, feedforward, plasticity, solve, two_sweep
from ..tasks import reward as _reward  # noqa: F401  (registers task kind "reward")
from .rules import RULES, make_learner
from .runner import Result, run, run_learner, setup

__all__ = ["Circuit", "NoFixedPoint", "RULES", "Result", "State", "feedforward", "make_learner",
           "plasticity", "run", "run_learner", "setup", "solve", "two_sweep"]
