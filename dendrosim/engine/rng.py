"""In-kernel Gaussian noise: xoshiro256** bits and the ziggurat method.

The generator state is four uint64 words held in an array next to the network
state, so the noise stream is saved in checkpoints (bit-identical resume) and
every member of an ensemble has its own stream.

Normal draws use the 128-layer ziggurat of Marsaglia & Tsang (2000) in Doornik's
(2005) form: one 64-bit draw gives the layer (its low 7 bits) and a uniform (its
top 53 bits); ~99 % of draws are accepted after one comparison and one product,
the rest go through the exact wedge or tail tests. About 2 ns per draw, against
~10 ns for Marsaglia's polar method that preceded it here (one libm log per pair).
tests/test_rng.py checks the distribution (Kolmogorov-Smirnov, tails, moments).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .simd import (LANES, u2f, uand, uinsert, ulane, uload, umul, uor, ushl, ushr, usplat, ustore, uxor, vabs,
                   vadd, vgather, vlane, vload, vlt_mask, vmul, vsplat, vstore, vsub)

_U64 = np.uint64


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


@njit(cache=True, inline="always")
def _xoshiro(s0, s1, s2, s3):
    """One xoshiro256** step on a state held in four words: (64 random bits, new state)."""
    result = _rotl(s1 * _U64(5), 7) * _U64(9)
    t = s1 << _U64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True, inline="always")
def next_u64(s):
    """Advance xoshiro256** state ``s`` (uint64[4]) and return 64 random bits."""
    result, s[0], s[1], s[2], s[3] = _xoshiro(s[0], s[1], s[2], s[3])
    return result


@njit(cache=True, inline="always")
def uniform(s):
    """Uniform double in [0, 1) with 53 random bits."""
    return float(next_u64(s) >> _U64(11)) * (1.0 / 9007199254740992.0)


def _ziggurat_tables(n=128, r=3.442619855899, v=9.91256303526217e-3):
    """Layer edges x[0..n] (x[0] = v/f(r) is the base strip, x[1] = r, x[n] = 0) and the
    ratios x[i+1]/x[i]; f(x) = exp(-x^2/2), each layer of area v (Doornik 2005)."""
    x = np.zeros(n + 1)
    f = math.exp(-0.5 * r * r)
    x[0], x[1] = v / f, r
    for i in range(2, n):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    return x, x[1:] / x[:-1]


_ZX, _ZR = _ziggurat_tables()
_ZF = np.exp(-0.5 * _ZX * _ZX)   # f(x_i): the wedge test needs one exp instead of two
_ZIG_R = float(_ZX[1])           # r: where the tail begins


@njit(cache=True, inline="always")
def _layer_and_uniform(bits):
    """A ziggurat layer (the low 7 bits) and a uniform in [-1, 1) (the top 53 bits)."""
    return np.int64(bits & _U64(127)), 2.0 * (float(bits >> _U64(11)) * (1.0 / 9007199254740992.0)) - 1.0


@njit(cache=True)
def _normal_slow(s, i, u):
    """The rare ziggurat cases: base strip (i = 0, tail beyond r) and the wedges."""
    while True:
        if i == 0:                                   # tail |x| > r (Marsaglia 1964)
            while True:
                a = math.log(1.0 - uniform(s)) / _ZIG_R
                b = math.log(1.0 - uniform(s))
                if -2.0 * b >= a * a:
                    return _ZIG_R - a if u >= 0.0 else a - _ZIG_R
        x = u * _ZX[i]                               # wedge: under f between x_i+1 and x_i?
        if _ZF[i + 1] + uniform(s) * (_ZF[i] - _ZF[i + 1]) < math.exp(-0.5 * x * x):
            return x
        i, u = _layer_and_uniform(next_u64(s))       # rejected: a fresh draw
        if abs(u) < _ZR[i]:
            return u * _ZX[i]


@njit(cache=True, inline="always")
def _add_normals_strided(y, n, scale, s, first, stride):
    """y[first + i*stride] += scale * z_i for i < n, z_i standard normal draws (ziggurat); the
    generator state stays in registers between draws and goes back to ``s`` for the rare slow cases."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for i in range(n):
        o = first + i * stride
        bits, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
        k, u = _layer_and_uniform(bits)
        if abs(u) < _ZR[k]:
            y[o] += scale * (u * _ZX[k])
        else:
            s[0], s[1], s[2], s[3] = s0, s1, s2, s3
            y[o] += scale * _normal_slow(s, k, u)
            s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3


@njit(cache=True)
def add_normals(y, n, scale, s):
    """y[i] += scale * z_i for i < n, z_i standard normal draws from state ``s``."""
    _add_normals_strided(y, n, scale, s, 0, 1)


@njit(cache=True)
def add_normals_lane(y, n, scale, s, lane, n_lanes):
    """:func:`add_normals` into lane ``lane`` of a lane-interleaved state (engine.lanes):
    y[i*n_lanes+lane] += scale * z_i, the same draws and operations per value (the reference
    for :func:`add_normals_lanes`)."""
    _add_normals_strided(y, n, scale, s, lane, n_lanes)


@njit(cache=True, inline="always")
def _rotl_v(x, k):
    return uor(ushl(x, k), ushr(x, 64 - k))


@njit(cache=True)
def add_normals_lanes(y, n, scale, st, tmp):
    """:func:`add_normals_lane` for all LANES lanes at once: y[i*LANES+l] += scale * z_il, lane
    l's draws from the xoshiro256** state in words st[w*LANES+l] (w = 0..3), the same draws and
    operations per lane. The generators and the ziggurat's fast path run in SIMD registers; a
    lane whose draw needs the slow path (2.8 % of draws) goes through :func:`_normal_slow` with
    its state in ``tmp`` (uint64[4]) and back into its lane. ~2.7 ns a draw against ~3.3 lane
    by lane: the fast path alone takes ~0.7 ns, but one vector in five has a slow lane."""
    s0, s1, s2, s3 = uload(st, 0), uload(st, LANES), uload(st, 2 * LANES), uload(st, 3 * LANES)
    c5, c9, m127 = usplat(5), usplat(9), usplat(127)
    two, one, c53, sc = vsplat(2.0), vsplat(1.0), vsplat(1.0 / 9007199254740992.0), vsplat(scale)
    for i in range(n):
        bits = umul(_rotl_v(umul(s1, c5), 7), c9)          # _xoshiro, lane by lane
        t = ushl(s1, 17)
        s2 = uxor(s2, s0)
        s3 = uxor(s3, s1)
        s1 = uxor(s1, s2)
        s0 = uxor(s0, s3)
        s2 = uxor(s2, t)
        s3 = _rotl_v(s3, 45)
        k = uand(bits, m127)                                 # _layer_and_uniform
        u = vsub(vmul(two, vmul(u2f(ushr(bits, 11)), c53)), one)
        o = i * LANES
        y_old = vload(y, o)
        vstore(y, o, vadd(y_old, vmul(sc, vmul(u, vgather(_ZX, k)))))
        slow = vlt_mask(vabs(u), vgather(_ZR, k)) ^ ((1 << LANES) - 1)
        if slow != 0:
            for lane in range(LANES):
                if (slow >> lane) & 1:
                    tmp[0], tmp[1], tmp[2], tmp[3] = ulane(s0, lane), ulane(s1, lane), ulane(s2, lane), ulane(s3, lane)
                    z = _normal_slow(tmp, np.int64(ulane(k, lane)), vlane(u, lane))
                    y[o + lane] = vlane(y_old, lane) + scale * z
                    s0, s1 = uinsert(s0, lane, tmp[0]), uinsert(s1, lane, tmp[1])
                    s2, s3 = uinsert(s2, lane, tmp[2]), uinsert(s3, lane, tmp[3])
    ustore(st, 0, s0)
    ustore(st, LANES, s1)
    ustore(st, 2 * LANES, s2)
    ustore(st, 3 * LANES, s3)


@njit(cache=True)
def fill_normal(s, out):
    """Fill ``out`` with standard normal draws (ziggurat)."""
    for i in range(out.shape[0]):
        out[i] = 0.0
    add_normals(out, out.shape[0], 1.0, s)


def seed_state(seed_seq: np.random.SeedSequence) -> np.ndarray:
    """A non-zero xoshiro256** state from a SeedSequence."""
    st = seed_seq.generate_state(4, np.uint64)
    if not st.any():
        st[0] = 1
    return st
