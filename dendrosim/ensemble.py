"""Ensembles: many independent networks of one shape in one compiled call per block.

Each member is a full :class:`~dendrosim.simulation.Simulation` of the same
config with its own ``init.seed`` (own weights, own task data, own noise
stream) and its own sink; their states are stacked into one 2-D array and a
``prange`` loop over members advances all of them per block, on all cores.
Results equal running the members one by one (tests/test_ensemble.py): bit for
bit member by member (``lanes=False``), to rounding (1e-12) in the default SIMD
kernel, which advances LANES members per instruction
(:mod:`~dendrosim.engine.lanes`) when the network allows it.

>>> ens = Ensemble(cfg, seeds=range(64))
>>> ens.run([MemorySink() for _ in range(64)])
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit, prange

from . import stopping
from .engine.fused import run_block_euler
from .engine.lanes import run_lanes
from .engine.loop import STATUS_OK, Scratch, pattern_metrics_stacked, run_block
from .engine.params import I_THREADS, Recording
from .engine.select import select
from .engine.simd import LANES
from .simulation import Simulation


@njit(cache=True, inline="always")
def _member_rec(rec, m):
    """The recording of member m (row m of the stacked buffers)."""
    return Recording(rec.src, rec.every, rec.mean, rec.buf[m], rec.acc[m])


@njit(cache=True, inline="always")
def _member_ws(ws, m):
    """The scratch of member m (row m of each stacked array; ``one`` is shared)."""
    return Scratch(ws.z[m], ws.zs[m], ws.work[m], ws.err[m], ws.one, ws.h[m], ws.pw[m])


@njit(cache=True, parallel=True)
def run_block_ensemble(fused, m_start, Y, X, T, HAS, n_steps, step0, plastic_from, integ, dt, circuit, RNG, rec, ws,
                       out):
    """:func:`~dendrosim.engine.loop.run_block` for every member m >= ``m_start`` (row m of
    each array, of ``rec.buf``, ``rec.acc`` and the scratch ``ws``), one by one.
    ``out[m]`` = (steps done, status, rows recorded)."""
    for m in prange(m_start, Y.shape[0]):
        if fused:
            nd, st, nr = run_block_euler(Y[m], X[m], T[m], HAS[m], n_steps, step0, plastic_from, integ, dt,
                                         circuit, RNG[m], _member_rec(rec, m), _member_ws(ws, m))
        else:
            nd, st, nr = run_block(Y[m], X[m], T[m], HAS[m], n_steps, step0, plastic_from, integ, dt,
                                   circuit, RNG[m], _member_rec(rec, m), _member_ws(ws, m))
        out[m, 0] = nd
        out[m, 1] = st
        out[m, 2] = nr


STATUS_RERUN = -1     # a member of the group diverged: rerun the group member by member


@njit(cache=True, parallel=True)
def run_block_lanes(n_groups, Y, X, T, HAS, n_steps, step0, plastic_from, integ, dt, circuit, RNG, rec, ws, out):
    """The first ``n_groups`` x LANES members in the SIMD kernel, LANES at a time
    (:func:`~dendrosim.engine.lanes.run_lanes`); a group with a diverging member is left
    as it was, with status STATUS_RERUN."""
    for g in prange(n_groups):
        m0 = g * LANES
        nr = run_lanes(Y, X, T, HAS, m0, n_steps, step0, plastic_from, dt, circuit, RNG, rec, ws)
        for m in range(m0, m0 + LANES):
            out[m, 0] = n_steps if nr >= 0 else 0
            out[m, 1] = STATUS_OK if nr >= 0 else STATUS_RERUN
            out[m, 2] = nr if nr >= 0 else 0


class Ensemble:
    """Independent members of one config, differing only in ``init.seed``.

    ``lanes``: advance groups of LANES members in the SIMD kernel where
    :func:`~dendrosim.engine.select.select` allows it (float64, one transfer function, fixed
    top-down weights, forward Euler); the remaining members go one by one in the kernel of a
    single run. Each member's ``kernel`` names the kernel that runs it.
    """

    def __init__(self, cfg, seeds, fused: bool = True, lanes: bool = True):
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("an ensemble needs at least one seed")
        self.seeds = seeds
        self.members = [Simulation(dataclasses.replace(cfg, init=dataclasses.replace(cfg.init, seed=s)),
                                   fused=fused) for s in seeds]
        m0 = self.members[0]
        m0.ip[I_THREADS] = 0           # parallel over members, not inside a member (no nesting)
        self.fused = m0.kernel == "fused"
        chosen = select(m0.cfg, members=len(seeds), fused=fused, lanes=lanes)
        self.kernel, self.kernel_reason = chosen.kernel, chosen.reason
        self.n_groups = len(seeds) // LANES if self.kernel == "lanes" else 0
        for m in self.members[:self.n_groups * LANES]:
            m.kernel, m.kernel_reason = "lanes", chosen.reason
        lengths = {len(m.task) for m in self.members}
        if len(lengths) != 1:
            raise ValueError("ensemble members must have the same number of patterns")
        # stack the per-member arrays and make every member's arrays views of the stacks
        self.Y = np.stack([m.net.y for m in self.members])
        self.RNG = np.stack([m.state.rng for m in self.members])
        self.ACC = np.stack([m.state.rec_acc for m in self.members])
        self.WS = {k: np.stack([m.ws[k] for m in self.members]) for k in ("z", "zs", "work", "err", "h", "pw")}
        for i, m in enumerate(self.members):
            m.net.y = self.Y[i]
            m.state.rng = self.RNG[i]
            m.state.rec_acc = self.ACC[i]
            for k in self.WS:
                m.ws[k] = self.WS[k][i]
        self._out = np.zeros((len(seeds), 3), dtype=np.int64)

    def _run_member(self, m, args):
        """Member m alone in the fused kernel (the rerun of a group whose member diverged)."""
        Y, X, T, HAS, n, step0, plastic_from, integ, dt, circuit, RNG, rec, ws, _ = args
        return run_block_euler(Y[m], X[m], T[m], HAS[m], n, step0, plastic_from, integ, dt, circuit, RNG[m],
                               Recording(rec.src, rec.every, rec.mean, rec.buf[m], rec.acc[m]),
                               Scratch(**{k: v if k == "one" else v[m] for k, v in ws._asdict().items()}))

    def __len__(self):
        return len(self.members)

    def run(self, sinks, progress=None):
        """Run every member to the end of its task, member i writing to ``sinks[i]``."""
        if len(sinks) != len(self.members):
            raise ValueError(f"need one sink per member ({len(self.members)}), got {len(sinks)}")
        ms = self.members
        m0 = ms[0]
        blocks = [m._prepare(s) for m, s in zip(ms, sinks)]
        block = blocks[0][0]
        BUF = np.stack([b for _, b in blocks])
        n0, nN = m0.layout.sizes[0], m0.layout.sizes[-1]
        X = np.zeros((len(ms), n0), dtype=m0.dtype)
        T = np.zeros((len(ms), nN), dtype=m0.dtype)
        HAS = np.zeros(len(ms), dtype=np.bool_)
        rc = m0.cfg.record
        n_hidden = m0.layout.depth - 1
        apical, mismatch, angle = (np.zeros((len(ms), n_hidden)) for _ in range(3))
        loss = np.zeros(len(ms))
        with stopping.deferred():         # Ctrl-C / SIGTERM take effect between blocks
            while m0.state.segment < len(m0.task):
                segs = [m.task.segment(m.state.segment) for m in ms]
                if len({s.steps for s in segs}) != 1:
                    raise ValueError("ensemble members must present patterns of equal duration")
                for i, (m, seg) in enumerate(zip(ms, segs)):
                    X[i], T[i], HAS[i] = m._xt(seg)
                done = 0
                while done < segs[0].steps:
                    n = m0._next_block(block, segs[0].steps - done)
                    step0 = m0.state.step
                    args = (self.Y, X, T, HAS, n, step0, m0.lag_steps - done, m0.integ, m0.dt, m0.circuit, self.RNG,
                            Recording(m0.rec_src, rc.every, rc.mode == "mean", BUF, self.ACC),
                            Scratch(**self.WS, one=m0.ws["one"]), self._out)
                    if self.n_groups:
                        run_block_lanes(self.n_groups, *args)
                        for m in np.flatnonzero(self._out[:self.n_groups * LANES, 1] == STATUS_RERUN):
                            self._out[m] = self._run_member(m, args)
                    if self.n_groups * LANES < len(ms):
                        run_block_ensemble(self.fused, self.n_groups * LANES, *args)
                    for i, (m, s) in enumerate(zip(ms, sinks)):
                        nd, status, nr = self._out[i]
                        m._after_block(s, step0, int(nd), int(status), int(nr), BUF[i], None)
                    done += n
                    if progress is not None:
                        progress.update(m0.state.step)
                    stopping.check()
                pattern_metrics_stacked(self.Y, X, T, HAS, m0.layout.lay, m0.lp, m0.fp, m0.ip, self.WS["zs"],
                                        apical, mismatch, angle, loss)
                for i, (m, s, seg) in enumerate(zip(ms, sinks, segs)):
                    m._end_segment(s, seg, (apical[i].copy(), mismatch[i].copy(), angle[i].copy(), loss[i]))
        for m, s in zip(ms, sinks):
            m._finish(s)
