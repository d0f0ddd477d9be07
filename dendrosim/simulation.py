"""The driver: config -> network + task -> compiled blocks -> sink.

Python loops over task segments (patterns) and hands each one, in blocks of at
most ``record.block`` steps, to the compiled :func:`~dendrosim.engine.loop.run_block`.
Between blocks it flushes recorded samples to a sink, snapshots weights, computes
per-pattern metrics and reports progress. Memory does not grow with run length.

Sinks follow the protocol of :mod:`dendrosim.io.sink`: ``begin(desc)`` with the run's
:class:`~dendrosim.io.sink.RunDescription` (:meth:`Simulation.describe`), then
``traces``, ``weights``, ``metrics``, ``checkpoint(t, state)``, ``status`` and ``close``;
:class:`MemorySink` keeps everything in lists (tests, small runs),
:class:`dendrosim.io.HDF5Sink` streams to a file.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field

import numba
import numpy as np

from . import config as config_mod
from . import stopping
from .engine.fused import run_block_euler, threads_arg
from .engine.loop import STATUS_DIVERGED, Scratch, pattern_metrics, run_block, sample_now, workspace
from .engine.params import I_THREADS, INTEGRATOR_CODES, Circuit, Recording, pack
from .engine.rng import seed_state
from .engine.rhs import derived
from .engine.select import select
from .io.sink import Channel, RunDescription, shapes
from .network import Layout, Network, build_network
from .tasks import make_task


class Diverged(RuntimeError):
    """A potential became NaN or infinite; ``t`` in ms, ``layer`` the first bad layer."""

    def __init__(self, t, layer, what):
        self.t, self.layer = t, layer
        super().__init__(f"diverged at t = {t:.4g} ms: non-finite {what} in layer {layer}")


def record_channels(cfg, layout) -> tuple[list[Channel], np.ndarray]:
    """Resolve the ``[record]`` spec into channels and indices into [y, z]."""
    rc = cfg.record
    layers = rc.layers or tuple(range(layout.depth + 1))
    chans, src = [], []
    col = 0
    for var in rc.variables:
        for k in layers:
            try:
                where, sl = layout.variable_slice(var, k)
            except KeyError:
                if rc.layers:      # asked for explicitly: an error
                    raise config_mod.ConfigError("record.layers", f"layer {k} has no variable {var!r}") from None
                continue
            n = sl.stop - sl.start
            idx = np.asarray(rc.neurons, dtype=np.int64) if rc.neurons else np.arange(n)
            idx = idx[idx < n] if rc.neurons else idx
            base = sl.start + (layout.n_y if where == "z" else 0)
            src.append(base + idx)
            chans.append(Channel(var, k, idx, slice(col, col + idx.size)))
            col += idx.size
    src = np.concatenate(src) if src else np.zeros(0, dtype=np.int64)
    return chans, np.ascontiguousarray(src, dtype=np.int64)


@dataclass
class RunState:
    """Everything needed to continue a run bit-identically (checkpointed by sinks)."""

    segment: int = 0           # next segment to run
    step: int = 0              # global step counter (steps done)
    rng: np.ndarray = field(default_factory=lambda: np.zeros(4, np.uint64))
    rec_acc: np.ndarray = field(default_factory=lambda: np.zeros(0))


class Simulation:
    """One run of the continuous-time engine on a config.

    >>> sim = Simulation(dendrosim.config.load("models/sacramento2018/fig_s1_self_predicting.toml"))
    >>> sim.run(MemorySink())
    """

    def __init__(self, cfg: config_mod.Config, net: Network | None = None, fused: bool = True):
        """``fused``: use the one-pass Euler kernel (:mod:`.engine.fused`) for
        ``integrator = "euler"``; False runs the generic rhs-based path (reference). The
        kernel is chosen by :func:`~.engine.select.select`: ``kernel`` names it, ``kernel_reason``
        says why."""
        self.cfg = cfg
        s = cfg.simulation
        if s.integrator == "steady":
            raise config_mod.ConfigError("simulation.integrator",
                                         "'steady' runs through the discrete learners ([learner] rule)")
        self.dtype = np.dtype(s.dtype)
        self.dt = s.dt
        self.layout = Layout.build(cfg.network.sizes, cfg.network.transfer, cfg.network.bias,
                                   traces=cfg.plasticity.tau_w > 0,
                                   prospective=cfg.network.latent_equilibrium,
                                   pal=cfg.plasticity.down_rule == "pal")
        ss = np.random.SeedSequence(cfg.init.seed)
        self.seeds = dict(zip(("weights", "data", "noise"), ss.spawn(3)))
        self.task = make_task(cfg.task, cfg.network.sizes, s.dt, np.random.default_rng(self.seeds["data"]))
        # store the task's resolved options (defaults included) so output files describe themselves
        self.cfg = cfg = dataclasses.replace(cfg, task={"kind": self.task.kind, **self.task.options})
        if net is None:
            net = build_network(cfg, self.layout, self.dtype, np.random.default_rng(self.seeds["weights"]))
        self.net = net
        self.fp, self.lp, self.ip = pack(cfg, self.layout, self.dtype)
        self.circuit = Circuit(self.layout.lay, self.lp, self.fp, self.ip)   # the same arrays, for the kernels
        # large matrices are swept by all of numba's threads (NUMBA_NUM_THREADS); results are unchanged
        self.ip[I_THREADS] = numba.get_num_threads()
        self.channels, self.rec_src = record_channels(cfg, self.layout)
        self.ws = workspace(self.layout, self.dtype, with_rk=True)
        self.state = RunState(rng=seed_state(self.seeds["noise"]),
                              rec_acc=np.zeros(self.rec_src.size, dtype=self.dtype))
        self.integ = INTEGRATOR_CODES[s.integrator]
        chosen = select(cfg, fused=fused)
        self.kernel, self.kernel_reason = chosen.kernel, chosen.reason
        self._kernel = run_block_euler if self.kernel == "fused" else run_block
        self._threads_for = None       # (ip[I_THREADS], threads_arg) of the last block
        self.lag_steps = int(round(cfg.plasticity.lag / s.dt))
        self.total_steps = self.task.total_steps
        self._target_buf = np.zeros(self.layout.sizes[-1], dtype=self.dtype)

    # -- helpers -------------------------------------------------------------------
    @property
    def t(self) -> float:
        """Simulated time, ms."""
        return self.state.step * self.dt

    def _xt(self, seg):
        x = np.ascontiguousarray(seg.x, dtype=self.dtype)
        if seg.target is None:
            return x, self._target_buf, False
        return x, np.ascontiguousarray(seg.target, dtype=self.dtype), True

    def observe(self, seg) -> np.ndarray:
        """Derived quantities z (rates, dendritic potentials) of the current state."""
        x, tgt, has = self._xt(seg)
        z = np.zeros(self.layout.n_z, dtype=self.dtype)
        derived(self.net.y, z, x, tgt, has, self.layout.lay, self.lp, self.fp, self.ip)
        return z

    def metrics(self, seg, computed=None) -> dict:
        """Per-pattern metrics at the current state (end of a pattern): |v_A,k|,
        |u_P,k+1 - u_I,k|^2, the angle between W_down,k and W_up,k+1^T and the output loss
        |u_P,N - u_trgt|^2 (:func:`~.engine.loop.pattern_metrics`).
        ``computed``: (apical, mismatch, angle, loss) already evaluated for this state (an ensemble
        evaluates all its members in one call, :func:`~.engine.loop.pattern_metrics_stacked`)."""
        if computed is None:
            x, tgt, has = self._xt(seg)
            n = self.layout.depth - 1
            apical, mismatch, angle = np.zeros(n), np.zeros(n), np.zeros(n)
            loss = pattern_metrics(self.net.y, x, tgt, has, self.layout.lay, self.lp, self.fp, self.ip,
                                   self.ws["zs"], apical, mismatch, angle)
        else:
            apical, mismatch, angle, loss = computed
        out = {"apical_norm": apical, "interneuron_mismatch": mismatch, "top_down_angle": angle,
               "loss": float(loss),
               "pattern": seg.label}
        out.update(self.task.evaluate(self, self.state.segment))
        return out

    def _diverged_layer(self):
        for k in range(1, self.layout.depth + 1):
            if not np.all(np.isfinite(self.net.u_P(k))):
                return k, "somatic potential u_P"
            if k < self.layout.depth and not np.all(np.isfinite(self.net.u_I(k))):
                return k, "interneuron potential u_I"
        if not np.all(np.isfinite(self.net.y)):
            bad = int(np.flatnonzero(~np.isfinite(self.net.y))[0])
            return 0, f"state (a weight, the input filter or a plasticity trace: index {bad} of y)"
        # every stored value is finite: a sum of them overflowed (e.g. a weighted input)
        peak = [(float(np.max(np.abs(self.net.u_P(k)), initial=0.0)), k) for k in range(1, self.layout.depth + 1)]
        size, k = max(peak)
        return k, f"sum of finite values (an overflow: largest |u_P| = {size:.3g} in layer {k})"

    def describe(self) -> RunDescription:
        """What a sink needs before the first sample (:mod:`dendrosim.io.sink`)."""
        seg = self.task.segment(min(self.state.segment, len(self.task) - 1))
        return RunDescription(
            config=self.cfg, dt=float(self.dt), dtype=self.dtype, total_steps=int(self.total_steps),
            n_patterns=len(self.task), channels=tuple(self.channels), n_columns=int(self.rec_src.size),
            weight_shapes=shapes(self.net.weights()), metric_shapes=shapes(self.metrics(seg)),
            state_shapes=shapes(self.snapshot()), n_hidden=max(self.layout.depth - 1, 0), time_unit="ms",
            kernel=self.kernel)

    # -- checkpoints -------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Arrays that continue this run bit-identically (state, noise stream, counters)."""
        st = self.state
        return {"y": self.net.y.copy(), "rng": st.rng.copy(), "rec_acc": st.rec_acc.copy(),
                "segment": st.segment, "step": st.step}

    def restore(self, snap: dict) -> None:
        """Continue from :meth:`snapshot` output (same config)."""
        y = np.asarray(snap["y"])
        if y.shape != self.net.y.shape or y.dtype != self.net.y.dtype:
            raise ValueError(f"checkpoint state has shape {y.shape} {y.dtype}, "
                             f"this config needs {self.net.y.shape} {self.net.y.dtype}")
        rng = np.array(snap["rng"], dtype=np.uint64)
        if rng.shape != (4,) or not rng.any():
            raise ValueError("checkpoint noise-generator state is invalid (must be 4 words, not all zero)")
        self.net.y[:] = y
        self.state = RunState(segment=int(snap["segment"]), step=int(snap["step"]),
                              rng=rng,
                              rec_acc=np.array(snap["rec_acc"], dtype=self.dtype))

    # -- the loop --------------------------------------------------------------------
    def run(self, sink, progress=None, until_segment: int | None = None) -> RunState:
        """Run (or continue) to the end of the task, or up to segment ``until_segment``.

        Raises :class:`Diverged` after telling the sink; everything before stays written.
        """
        st = self.state
        block, buf = self._prepare(sink)
        end = len(self.task) if until_segment is None else min(until_segment, len(self.task))
        with stopping.deferred():         # Ctrl-C / SIGTERM take effect between blocks
            while st.segment < end:
                seg = self.task.segment(st.segment)
                x, tgt, has = self._xt(seg)
                done_in_seg = 0
                while done_in_seg < seg.steps:
                    n = self._next_block(block, seg.steps - done_in_seg)
                    step0 = st.step
                    n_done, status, n_rec = self._run_kernel(self._kernel_args(x, tgt, has, n, done_in_seg, buf))
                    done_in_seg += n_done
                    self._after_block(sink, step0, n_done, status, n_rec, buf, progress)
                    stopping.check()
                self._end_segment(sink, seg)
        self._finish(sink)
        return st

    # The steps of :meth:`run`, shared with :class:`dendrosim.ensemble.Ensemble`.
    def _prepare(self, sink):
        """Block length and recording buffer; begin the sink on a fresh run."""
        rc = self.cfg.record
        block = min(rc.block, rc.weights_every) if rc.weights_every else rc.block
        buf = np.zeros((-(-block // rc.every) + 1, self.rec_src.size), dtype=self.dtype)
        if self.state.step == 0:
            sink.begin(self.describe())
            sink.weights(0.0, self.net.weights())     # the t = 0 trace sample is the first block's
        return block, buf

    def _next_block(self, block, left_in_segment):
        n = min(block, left_in_segment)
        w_every = self.cfg.record.weights_every
        if w_every:   # stop on the weight-snapshot grid
            n = min(n, w_every - self.state.step % w_every)
        return n

    def _threads(self) -> tuple:
        """The fused kernel's ``threads`` argument (fused.threads_arg); none for the generic one.
        Kept between blocks while ``ip[I_THREADS]`` does not change."""
        if self._kernel is not run_block_euler:
            return ()
        n = int(self.ip[I_THREADS])
        if self._threads_for is None or self._threads_for[0] != n:
            self._threads_for = (n, threads_arg(self.layout, self.ip))
        return self._threads_for[1]

    def _run_kernel(self, args):
        """One block of the chosen kernel; returns (steps done, status, recorded rows)."""
        return self._kernel(*args, *self._threads())

    def _kernel_args(self, x, tgt, has, n, done_in_seg, buf):
        st, ws, rc = self.state, self.ws, self.cfg.record
        return (self.net.y, x, tgt, has, n, st.step, self.lag_steps - done_in_seg, self.integ, self.dt,
                self.circuit, st.rng, Recording(self.rec_src, rc.every, rc.mode == "mean", buf, st.rec_acc),
                Scratch(**ws))

    def _after_block(self, sink, step0, n_done, status, n_rec, buf, progress):
        """Flush recorded rows, advance the clock, snapshot weights, check for divergence."""
        st, rc = self.state, self.cfg.record
        every = rc.every
        if n_rec:
            if rc.mode == "mean":
                last = (step0 + n_done) // every
                times = np.arange(last - n_rec, last) * every * self.dt
            else:
                times = (step0 + (-step0 % every) + every * np.arange(n_rec)) * self.dt
            sink.traces(times, buf[:n_rec])
        st.step += n_done
        if status == STATUS_DIVERGED:
            layer, what = self._diverged_layer()
            err = Diverged(self.t, layer, what)
            sink.status("diverged", str(err))
            raise err
        if rc.weights_every and st.step % rc.weights_every == 0:
            sink.weights(self.t, self.net.weights())
        if progress is not None:
            progress.update(st.step)

    def _end_segment(self, sink, seg, computed=None):
        sink.metrics(self.t, self.metrics(seg, computed))
        self.state.segment += 1
        sink.checkpoint(self.t, self.snapshot())

    def _finish(self, sink):
        """At the end of the task: the final sample and weights, status completed."""
        st, rc = self.state, self.cfg.record
        if st.segment < len(self.task):
            return
        n_cols = self.rec_src.size
        if n_cols and rc.mode != "mean" and st.step % rc.every == 0:
            row = np.zeros(n_cols, dtype=self.dtype)
            x, tgt, has = self._xt(self.task.segment(len(self.task) - 1))
            sample_now(self.net.y, x, tgt, has, self.layout.lay, self.lp, self.fp, self.ip, self.rec_src,
                       self.ws["z"], row)
            sink.traces(np.array([self.t]), row[None])
        if not rc.weights_every or st.step % rc.weights_every:
            sink.weights(self.t, self.net.weights())
        sink.status("completed", "")


class MemorySink:
    """Keeps traces, weights and metrics in memory (tests and short runs)."""

    def __init__(self):
        self.t, self.rows, self.weights_t, self.weights_list = [], [], [], []
        self.metrics_t, self.metrics_list = [], []
        self.final_status = None
        self.message = ""

    def begin(self, desc):
        self.channels = desc.channels

    def traces(self, t, rows):
        self.t.append(np.array(t))
        self.rows.append(np.array(rows))

    def weights(self, t, w):
        self.weights_t.append(t)
        self.weights_list.append({k: v.copy() for k, v in w.items()})

    def metrics(self, t, m):
        self.metrics_t.append(t)
        self.metrics_list.append(m)

    def checkpoint(self, t, state):
        pass

    def status(self, status, message):
        self.final_status, self.message = status, message

    def close(self):
        pass

    # convenience accessors
    def trace(self, name):
        """(t, values) of dataset ``layer{k}/{var}``."""
        ch = next(c for c in self.channels if c.name == name)
        t = np.concatenate(self.t) if self.t else np.zeros(0)
        rows = np.concatenate(self.rows) if self.rows else np.zeros((0, 0))
        return t, rows[:, ch.columns]

    def metric(self, name):
        return np.array([m[name] for m in self.metrics_list])


class Progress:
    """A one-line progress report on stderr: simulated time, steps/s, ETA."""

    def __init__(self, total_steps, dt, stream=None, min_interval=0.5):
        self.total, self.dt = total_steps, dt
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.min_interval = min_interval
        self.start_step = None

    def update(self, step):
        now = time.perf_counter()
        if self.start_step is None:
            self.start_step = step
        if now - self.last < self.min_interval and step < self.total:
            return
        self.last = now
        rate = (step - self.start_step) / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        frac = step / max(self.total, 1)
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        self.stream.write(f"\r[{bar}] {step * self.dt:9.1f}/{self.total * self.dt:.1f} ms "
                          f"{rate:10.0f} steps/s  ETA {eta:6.1f} s ")
        self.stream.flush()

    def close(self):
        self.stream.write("\n")
        self.stream.flush()
