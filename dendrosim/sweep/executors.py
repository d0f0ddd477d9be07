"""Where sweep points run: a small executor interface and its implementations.

An executor has three methods::

    fut = ex.submit(fn, *args, key="...")   # a future: fut.result() returns or raises
    for fut in ex.as_completed(futures): ...
    ex.close()

:class:`SerialExecutor` runs points one after another in this process (no
dependency); :class:`DaskExecutor` uses ``dask.distributed``: a ``LocalCluster``
with one single-threaded worker process per core (default), an existing scheduler
(``--scheduler ADDRESS``), or a SLURM cluster from ``dask-jobqueue``
(``[sweep] cluster = "slurm"`` and a ``[sweep.slurm]`` table). Another engine
(joblib, submitit, ...) only has to provide the same three methods.
"""

from __future__ import annotations

import logging
import os

# Every worker runs one single-threaded simulation: no hidden thread pools.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}


class ExecutorError(RuntimeError):
    """The executor could not be set up (missing package, unreachable scheduler, bad settings)."""


class _SerialFuture:
    def __init__(self, fn, args):
        self._fn, self._args = fn, args
        self._done = False
        self._value = self._error = None

    def _run(self):
        try:
            self._value = self._fn(*self._args)
        except Exception as e:           # noqa: BLE001  (handed to .result(), like a real future)
            self._error = e
        self._done = True

    def result(self):
        if not self._done:
            self._run()
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self):
        self._done = True
        self._error = RuntimeError("cancelled")


class SerialExecutor:
    """Runs each submitted call in this process, lazily, when :meth:`as_completed` reaches it."""

    name = "serial"
    n_workers = 1

    def submit(self, fn, *args, key=None):
        return _SerialFuture(fn, args)

    def as_completed(self, futures):
        for f in futures:
            if not f._done:
                f._run()
            yield f

    def cancel(self, futures):
        for f in futures:
            if not f._done:
                f.cancel()

    def close(self):
        pass

    def describe(self) -> str:
        return "serial (this process)"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # pragma: no cover (macOS, Windows)
        return os.cpu_count() or 1


def slurm_cluster_kwargs(settings: dict) -> tuple[dict, dict]:
    """``[sweep.slurm]`` -> (SLURMCluster keyword arguments, scaling arguments).

    Every key except ``jobs``, ``minimum_jobs`` and ``maximum_jobs`` goes to
    ``dask_jobqueue.SLURMCluster`` (``cores``, ``memory``, ``walltime``, ``queue``,
    ``account``, ``job_extra_directives``, ...). ``processes`` defaults to ``cores``
    (one single-threaded worker per core) and the thread caps of :data:`WORKER_ENV`
    are exported in the job script. ``jobs = N`` asks for N jobs; ``minimum_jobs`` /
    ``maximum_jobs`` make the cluster adaptive instead.
    """
    kw = dict(settings)
    scale = {k: kw.pop(k) for k in ("jobs", "minimum_jobs", "maximum_jobs") if k in kw}
    for need in ("cores", "memory"):
        if need not in kw:
            from ..config import ConfigError
            raise ConfigError("sweep.slurm", f"needs {need!r} (e.g. cores = 1, memory = \"2GB\")")
    kw.setdefault("processes", kw["cores"])
    prologue = list(kw.pop("job_script_prologue", []))
    prologue += [f"export {k}={v}" for k, v in WORKER_ENV.items()
                 if not any(line.startswith(f"export {k}=") for line in prologue)]
    kw["job_script_prologue"] = prologue
    if not scale:
        scale = {"jobs": 1}
    return kw, scale


class DaskExecutor:
    """``dask.distributed`` client on a LocalCluster, a scheduler address or a SLURM cluster."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 cluster: str | None = None, slurm: dict | None = None, dashboard: bool = False):
        try:
            import distributed
        except ImportError as e:
            raise ExecutorError("dask.distributed is not installed (pip install 'dendrosim[sweep]')") from e
        self._distributed = distributed
        self.cluster = None
        try:
            if scheduler:
                self.client = distributed.Client(scheduler, timeout="20s")
                self.kind = f"dask scheduler at {scheduler}"
            elif cluster == "slurm":
                try:
                    from dask_jobqueue import SLURMCluster
                except ImportError as e:
                    raise ExecutorError("[sweep] cluster = \"slurm\" needs dask-jobqueue "
                                        "(pip install dask-jobqueue)") from e
                kw, scale = slurm_cluster_kwargs(slurm or {})
                self.cluster = SLURMCluster(**kw)
                if "jobs" in scale:
                    self.cluster.scale(jobs=scale["jobs"])
                else:
                    self.cluster.adapt(minimum_jobs=scale.get("minimum_jobs", 0),
                                       maximum_jobs=scale.get("maximum_jobs", 1))
                self.client = distributed.Client(self.cluster)
                self.kind = f"dask SLURMCluster ({scale})"
            elif cluster not in (None, "local"):
                raise ExecutorError(f"[sweep] cluster must be \"local\" or \"slurm\", got {cluster!r}")
            else:
                n = workers or usable_cores()
                self.cluster = distributed.LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, env=dict(WORKER_ENV),
                    dashboard_address=":8787" if dashboard else None, silence_logs=logging.ERROR)
                self.client = distributed.Client(self.cluster)
                self.kind = f"dask LocalCluster ({n} worker processes, 1 thread each)"
        except ExecutorError:
            self.close()
            raise
        except Exception as e:      # noqa: BLE001  (unreachable scheduler, bad SLURM settings, ...)
            self.close()
            raise ExecutorError(f"could not start dask: {type(e).__name__}: {e}") from e

    @property
    def n_workers(self) -> int:
        try:
            return max(1, len(self.client.scheduler_info()["workers"]))
        except Exception:           # noqa: BLE001
            return 1

    def submit(self, fn, *args, key=None):
        return self.client.submit(fn, *args, key=key, pure=False)

    def as_completed(self, futures):
        return self._distributed.as_completed(futures)

    def cancel(self, futures):
        try:
            self.client.cancel(list(futures))
        except Exception:           # noqa: BLE001
            pass

    def close(self):
        client = getattr(self, "client", None)
        if client is not None:
            try:
                client.close()
            except Exception:       # noqa: BLE001
                pass
        if self.cluster is not None:
            try:
                self.cluster.close()
            except Exception:       # noqa: BLE001
                pass
            self.cluster = None

    def describe(self) -> str:
        return self.kind


def dask_available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def make_executor(scheduler=None, workers=None, serial=False, settings: dict | None = None,
                  n_tasks: int | None = None, note=print):
    """The executor for a sweep: serial if asked or if dask is missing (with a printed note).

    ``settings`` is the ``[sweep]`` table (``scheduler``, ``workers``, ``cluster``,
    ``slurm``, ``dashboard``); arguments given here win. A LocalCluster gets at most
    ``n_tasks`` workers. Raises :class:`ExecutorError` when a scheduler or cluster is
    asked for explicitly and dask is not there.
    """
    settings = settings or {}
    scheduler = scheduler or settings.get("scheduler")
    workers = workers or settings.get("workers")
    cluster = settings.get("cluster")
    if serial:
        return SerialExecutor()
    if not dask_available():
        if scheduler or cluster not in (None, "local"):
            raise ExecutorError("a scheduler or cluster needs dask.distributed "
                                "(pip install 'dendrosim[sweep]')")
        note("dendrosim: dask.distributed is not installed; running the sweep serially in this process "
             "(pip install 'dendrosim[sweep]' to use every core)")
        return SerialExecutor()
    if not scheduler and cluster in (None, "local"):
        n = workers or usable_cores()
        if n_tasks is not None:
            n = max(1, min(n, n_tasks))
        workers = n
    return DaskExecutor(scheduler=scheduler, workers=workers, cluster=cluster,
                        slurm=settings.get("slurm"), dashboard=bool(settings.get("dashboard", False)))
