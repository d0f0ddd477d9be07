"""Run a discrete learner on a task: config -> network + task -> updates -> metrics.

:func:`run` keeps everything in memory and returns a :class:`Result` (used by the
reproduction scripts, which run thousands of short runs); :func:`run_learner` is
the CLI entry point that writes the HDF5 layout of :mod:`.h5out` (the engine's
layout plus ``/trials``; ``t`` counts trials, not ms).

Seeds: ``SeedSequence([init] seed).spawn(4)`` gives the same first three
children as the continuous engine (weights, data, noise), so a learner run
starts from exactly the network and task :class:`~dendrosim.simulation.Simulation`
would build; the fourth child draws the learner's own initial quantities (FA
feedback, FA_Ex signs, biases), the noise child its per-update noise (WP
perturbations, post-factor and error noise).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from .. import steady, stopping
from ..config import ConfigError
from ..network import Layout, build_network
from ..tasks import make_task
from .options import options
from .rules import make_learner


class LearnerDiverged(RuntimeError):
    pass


@dataclass
class Result:
    rule: str
    batch_size: int
    metrics: dict                      # per update, incl. "t" (trials before the update), see h5out.METRICS
    trials: dict                       # per trial: y, target, correct, label
    weights_t: list = field(default_factory=list)
    weights: list = field(default_factory=list)
    status: str = "completed"
    message: str = ""
    seconds: float = 0.0


def setup(cfg, net=None):
    """(options, network, task, learner) for a config; ``net`` overrides the built network."""
    opts = options(cfg)
    nw = cfg.network
    dtype = np.dtype(cfg.simulation.dtype)
    layout = Layout.build(nw.sizes, nw.transfer, nw.bias, traces=False)
    ch = np.random.SeedSequence(cfg.init.seed).spawn(4)
    task = make_task(cfg.task, nw.sizes, cfg.simulation.dt, np.random.default_rng(ch[1]))
    if net is None:
        net = build_network(cfg, layout, dtype, np.random.default_rng(ch[0]))
    init_rng = np.random.default_rng(ch[3])
    if opts["bias_scale"] > 0:
        if not nw.bias:
            raise ConfigError("learner.bias_scale", "needs [network] bias = true")
        for k in range(1, net.depth + 1):
            b = net.w(f"b_up{k}")
            b[...] = init_rng.uniform(-opts["bias_scale"], opts["bias_scale"], size=b.shape)
    learner = make_learner(opts["rule"], net, steady.Circuit(cfg), opts, init_rng, cfg.plasticity)
    learner.rng = np.random.default_rng(ch[2])
    return opts, net, task, learner


def _batch(task, i0, i1):
    if hasattr(task, "batch"):
        return task.batch(i0, i1)
    segs = [task.segment(i) for i in range(i0, i1)]
    X = np.stack([s.x for s in segs])
    has = [s.target is not None for s in segs]
    if any(has) and not all(has):
        raise ConfigError("learner.batch_size", f"trials {i0}..{i1 - 1} mix samples with and without target")
    T = np.stack([s.target for s in segs]) if all(has) else None
    return X, T, np.array([s.label for s in segs])


def _correct(task, y, T):
    if T is None:
        return np.full(y.shape[0], np.nan)
    if hasattr(task, "correct"):
        return task.correct(y, T).astype(float)
    if y.shape[1] > 1:     # classification by the largest output
        return (np.argmax(y, axis=1) == np.argmax(T, axis=1)).astype(float)
    return np.full(y.shape[0], np.nan)


FLUSH_SECONDS = 1.0     # on_rows receives the finished updates at most this often (and at the end)


def run(cfg, net=None, progress=None, on_weights=None, on_start=None, on_rows=None) -> Result:
    """Run the configured learner over the whole task, in memory.

    Callbacks: ``on_start(n_updates, n_trials)`` once the task is built,
    ``on_weights(t, weights)`` per snapshot (t: trials presented so far),
    ``progress(updates_done, n_updates)``, ``on_rows(metrics, trials)`` with the rows of
    the updates finished since its last call (``metrics``: "t", "update" and the metrics of
    h5out.METRICS; ``trials``: their trials), about every FLUSH_SECONDS and once more when
    the run ends, also when it ends by an exception (interrupt, no fixed point): a writer
    that appends them keeps everything finished.

    BLAS runs single-threaded here: the mini-batch products are small, and
    OpenBLAS threads made a steady-state MNIST batch up to 7x slower (measured:
    20.6 ms vs 2.95 ms per batch of 10 on 784-500-500-10 on a busy 2-core machine).
    Parallelism comes from running seeds side by side instead.
    """
    with threadpool_limits(limits=1):
        return _run(cfg, net, progress, on_weights, on_start, on_rows)


def _run(cfg, net=None, progress=None, on_weights=None, on_start=None, on_rows=None) -> Result:
    t0 = time.perf_counter()
    opts, net, task, learner = setup(cfg, net)
    bs, n = opts["batch_size"], len(task)
    n_upd = -(-n // bs)
    if on_start is not None:
        on_start(n_upd, n)
    n_out = net.sizes[-1]
    has_test = hasattr(task, "test_batch") and getattr(task, "test_size", 0) > 0
    M = {k: np.full(n_upd, np.nan) for k in ("loss", "correct", "correct_new", "test_mse", "test_correct")}
    M_t, M_update = np.arange(n_upd, dtype=float) * bs, np.arange(n_upd)
    keep_all = opts["trials"] == "all"
    tr = {"correct": np.full(n, np.nan),          # scores of the pre-update output, per trial
          "label": np.full(n, -1, dtype=np.int64),
          "sq_error": np.full(n, np.nan)}         # squared error of the pre-update output
    if keep_all:
        tr = {"y": np.full((n, n_out), np.nan), "target": np.full((n, n_out), np.nan), **tr}
    has_tgt = np.zeros(n, dtype=bool)
    is_new = getattr(task, "is_new", None)
    res = Result(opts["rule"], bs, {}, {})
    w_every = opts["weights_every"]
    flushed, last_flush = 0, time.perf_counter()

    def snap(trial):
        w = {k: v.copy() for k, v in net.weights().items()}
        res.weights_t.append(float(trial))
        res.weights.append(w)
        if on_weights is not None:
            on_weights(float(trial), w)

    def flush(upto):
        """Per-update means of the per-trial scores of updates flushed..upto-1, then on_rows."""
        nonlocal flushed, last_flush
        if upto <= flushed:
            return
        lo, hi = flushed * bs, min(n, upto * bs)
        starts = np.arange(0, hi - lo, bs)
        new = is_new(tr["label"][lo:hi]) if is_new is not None else np.zeros(hi - lo, dtype=bool)

        def per_update(values, mask):
            tot = np.add.reduceat(np.where(mask, values[lo:hi], 0.0), starts)
            cnt = np.add.reduceat(mask.astype(float), starts)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)

        tgt = has_tgt[lo:hi]
        M["loss"][flushed:upto] = per_update(tr["sq_error"], tgt)
        M["correct"][flushed:upto] = per_update(tr["correct"], tgt)
        M["correct_new"][flushed:upto] = per_update(tr["correct"], tgt & new)
        if on_rows is not None:
            on_rows({"t": M_t[flushed:upto], "update": M_update[flushed:upto],
                     **{k: v[flushed:upto] for k, v in M.items()}},
                    {k: v[lo:hi] for k, v in tr.items()})
        flushed, last_flush = upto, time.perf_counter()

    snap(0)
    done_updates = 0                    # updates whose trials are scored and whose test is run
    with stopping.deferred():
        try:
            for u in range(n_upd):
                stopping.check()         # Ctrl-C / SIGTERM take effect between updates
                i0, i1 = u * bs, min(n, (u + 1) * bs)
                X, T, L = _batch(task, i0, i1)
                learner.rate_scale = 1.0 - opts["anneal"] * u / n_upd
                y = learner.step(X, T)
                if not np.isfinite(y).all():     # non-finite weights show up in the next output
                    bad = next((k for k in range(1, net.depth + 1) if not np.all(np.isfinite(learner.W.up[k]))),
                               net.depth)
                    res.status = "diverged"
                    res.message = f"diverged at update {u} (trial {i0}): non-finite weights or output in layer {bad}"
                    break
                tr["label"][i0:i1] = L
                if keep_all:
                    tr["y"][i0:i1] = y
                if T is not None:
                    if keep_all:
                        tr["target"][i0:i1] = T
                    has_tgt[i0:i1] = True
                    tr["sq_error"][i0:i1] = np.sum((T - y) ** 2, axis=1)
                    tr["correct"][i0:i1] = _correct(task, y, T)
                if has_test and (u % opts["test_every"] == 0 or u == n_upd - 1):   # and after the last update
                    tb = task.test_batch()
                    Xt, Tt = tb[0], tb[1]
                    yt = learner.forward(Xt)[0][-1]
                    M["test_mse"][u] = float(np.mean(np.sum((Tt - yt) ** 2, axis=1)))
                    M["test_correct"][u] = float(np.mean(_correct(task, yt, Tt)))
                done_updates = u + 1
                if w_every and done_updates % w_every == 0 and done_updates < n_upd:
                    snap(i1)
                if progress is not None:
                    progress(done_updates, n_upd)
                if on_rows is not None and time.perf_counter() - last_flush > FLUSH_SECONDS:
                    flush(done_updates)
        finally:
            flush(done_updates)         # what is finished reaches on_rows, however the loop ended
    snap(min(n, done_updates * bs))
    res.metrics = {"t": M_t, "update": M_update, **M}
    res.trials = tr
    res.seconds = time.perf_counter() - t0
    return res


def run_learner(cfg, out_path, quiet=False, overwrite=True) -> int:
    """CLI entry: run the ``[learner] rule`` and write ``out_path`` (HDF5). Exit code 0/1/2/130.

    The file is created only once the network and the task are built (every value checked),
    under the file's writer lock (a second writer is refused:
    :class:`~dendrosim.io.FileLockedError`); ``overwrite=False`` refuses an existing file.
    """
    from ..io.lock import WriterLock
    from .h5out import H5Writer
    try:
        rule = options(cfg)["rule"]
    except ConfigError as e:
        print(f"dendrosim: config error: {e}", file=sys.stderr)
        return 2
    out_path = Path(out_path)
    lock = WriterLock(out_path).acquire()
    w = None
    try:
        if out_path.exists() and not overwrite:
            raise FileExistsError(f"{out_path} exists; choose another output file (-o) or add --overwrite")
        show = not quiet and sys.stderr.isatty()
        last = [0.0]

        def progress(i, n):
            now = time.perf_counter()
            if show and (now - last[0] > 0.5 or i == n):
                last[0] = now
                sys.stderr.write(f"\r{rule}: update {i}/{n}")
                sys.stderr.flush()

        def on_start(n_updates, n_trials):      # the task is built and valid: now the file
            nonlocal w
            w = H5Writer(out_path, cfg, rule)
            w.plan(n_updates, n_trials)
            if not quiet:
                print(f"dendrosim: {rule} learner, writing {out_path}", file=sys.stderr)

        try:
            res = run(cfg, progress=progress, on_weights=lambda t, ws: w.weights(t, ws), on_start=on_start,
                      on_rows=lambda m, tr: w.rows(m, tr))
        except ConfigError as e:
            if w is not None:
                w.status("failed", str(e))
            print(f"\ndendrosim: config error: {e}" + ("" if w is not None else "; nothing written"),
                  file=sys.stderr)
            return 2
        except steady.NoFixedPoint as e:
            if w is not None:
                w.status("diverged", str(e))
            print(f"\ndendrosim: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as e:
            if w is not None:
                w.status("interrupted", "interrupted")
            print("\ndendrosim: interrupted" + (f"; finished updates kept in {out_path}" if w is not None else ""),
                  file=sys.stderr)
            return 143 if isinstance(e, stopping.Terminated) else 130
        except Exception as e:
            if w is not None:
                w.status("failed", f"{type(e).__name__}: {e}"[:2000])
            raise
        if show:
            sys.stderr.write("\n")
        m = res.metrics
        w.status(res.status, res.message)
        if res.status != "completed":
            print(f"dendrosim: {res.message}; data up to that point kept in {out_path}", file=sys.stderr)
            return 1
        if not quiet:
            c = m["correct"]
            tail = c[-max(1, len(c) // 10):]
            print(f"dendrosim: {len(c)} updates in {res.seconds:.2f} s; correct over the last 10 %: "
                  f"{np.nanmean(tail) if np.isfinite(tail).any() else float('nan'):.3f}; "
                  f"results in {out_path.resolve()}", file=sys.stderr)
        return 0
    finally:
        try:
            if w is not None:
                w.close()
        finally:
            lock.release()
