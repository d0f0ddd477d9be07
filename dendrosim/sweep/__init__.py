"""Parameter and seed sweeps (``dendrosim sweep``, ``dendrosim sweep-report``); docs/sweeps.md.

* :func:`run_sweep` / :func:`sweep_main` -- the cartesian product of grid values and
  seeds, one HDF5 file per point (the layout of ``dendrosim run``), an index
  (``sweep.json``, ``index.csv``); completed points are skipped and interrupted ones
  resumed on a re-run.
* :mod:`.executors` -- Dask (LocalCluster, scheduler address, dask-jobqueue SLURM) or
  serial, behind ``submit``/``as_completed``/``close``.
* :func:`summarize`, :func:`report` / :func:`report_main` -- mean ± SEM over seeds per
  grid point, markdown table and learning-curve figure.
* :func:`ensemble_groups`, :func:`run_ensemble` -- the hook for an ensemble engine.

Dask is optional (``pip install 'dendrosim[sweep]'``); without it the sweep runs serially.
"""

from .core import (EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, SweepResult, read_index,
                   run_ensemble, run_point, run_sweep, sweep_main)
from .executors import DaskExecutor, ExecutorError, SerialExecutor, make_executor
from .grid import Point, ensemble_groups, expand, make_spec, parse_grid, parse_seeds
from .metrics import final_metrics, read_metrics
from .report import learning_curves, mean_sem, report, report_main, summarize

__all__ = ["DaskExecutor", "EXIT_CONFIG", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "ExecutorError",
           "Point", "SerialExecutor", "SweepResult", "ensemble_groups", "expand", "final_metrics",
           "learning_curves", "make_executor", "make_spec", "mean_sem", "parse_grid", "parse_seeds",
           "read_index", "read_metrics", "report", "report_main", "run_ensemble", "run_point", "run_sweep",
           "summarize", "sweep_main"]
