"""exp, softplus and logistic in plain arithmetic, so that LLVM vectorises loops over them.

The llvmlite wheels have no vector maths library (SVML), so every ``math.exp`` in a
loop is a scalar libm call: on the 30-20-10 net these calls were about half of the
time per Euler step. The functions here use only +, *, fused multiply-add, /, floor,
comparisons and one bit-cast, which the loop vectoriser turns into AVX2/AVX-512 code.

Accuracy (tests/test_vecmath.py, against numpy over the whole double range):
``exp`` within 1 ulp, ``softplus`` and ``logistic`` within 3 ulp. Below
exp's normal range (x < -708.39) ``exp`` returns 0 instead of a subnormal.

Callers in other files carry inlined copies of this code in their numba caches;
:mod:`dendrosim._jitcache` invalidates those caches when this file changes.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01       # fdlibm's split of ln 2: hi has 21 trailing zero bits
_LN2_LO = 1.90821492927058770002e-10
_EXP_MAX = 709.782712893384                # log(DBL_MAX)
_EXP_MIN = -708.3964185322641              # log(DBL_MIN), smallest normal


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c with one rounding (llvm.fma): Horner steps in one instruction, in vector
    loops too, whatever the caller's fastmath flags."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def _pow2(typingctx, k):
    """2.0**k for an integer -1022 <= k <= 1023, built from the exponent bits."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        biased = builder.add(args[0], ir.Constant(ir.IntType(64), 1023))
        bits = builder.shl(biased, ir.Constant(ir.IntType(64), 52))
        return builder.bitcast(bits, ir.DoubleType())

    return sig, codegen


@njit(cache=True, inline="always")
def exp(x):
    """e**x in float64: x = k ln2 + r (Cody-Waite), |r| <= ln2/2, Taylor to r**13.

    Written with conditional expressions and ``np.floor`` (``math.floor`` returns an
    integer in numba, ``min``/``max`` branch): both keep the loop vectoriser out.
    """
    xc = x if x < _EXP_MAX else _EXP_MAX
    xc = xc if xc > _EXP_MIN else _EXP_MIN
    k = np.floor(xc * _LOG2E + 0.5)            # -1022 <= k <= 1024
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    # Horner written out: a loop over a coefficient tuple is not unrolled for the 17-term
    # series below and the loop over neurons then stops vectorising (measured: 24 vs 1.4 ns)
    p = 1.0 / 6227020800.0
    p = _fma(p, r, 1.0 / 479001600.0)
    p = _fma(p, r, 1.0 / 39916800.0)
    p = _fma(p, r, 1.0 / 3628800.0)
    p = _fma(p, r, 1.0 / 362880.0)
    p = _fma(p, r, 1.0 / 40320.0)
    p = _fma(p, r, 1.0 / 5040.0)
    p = _fma(p, r, 1.0 / 720.0)
    p = _fma(p, r, 1.0 / 120.0)
    p = _fma(p, r, 1.0 / 24.0)
    p = _fma(p, r, 1.0 / 6.0)
    p = _fma(p, r, 0.5)
    p = _fma(p, r, 1.0)
    p = _fma(p, r, 1.0)
    k1 = np.floor(0.5 * k)                     # 2**k = 2**k1 * 2**(k-k1), both normal numbers
    v = (p * _pow2(np.int64(k1))) * _pow2(np.int64(k - k1))
    v = math.inf if x > _EXP_MAX else v
    v = 0.0 if x < _EXP_MIN else v
    return x if x != x else v


@njit(cache=True, inline="always")
def log1p_unit(t):
    """log(1 + t) for 0 <= t <= 1: 2 atanh(s), s = t/(2+t) <= 1/3, series to s**35."""
    s = np.divide(t, 2.0 + t)        # np.divide: no zero-division check, which would block vectorisation
    w = s * s
    p = 1.0 / 35.0
    p = _fma(p, w, 1.0 / 33.0)
    p = _fma(p, w, 1.0 / 31.0)
    p = _fma(p, w, 1.0 / 29.0)
    p = _fma(p, w, 1.0 / 27.0)
    p = _fma(p, w, 1.0 / 25.0)
    p = _fma(p, w, 1.0 / 23.0)
    p = _fma(p, w, 1.0 / 21.0)
    p = _fma(p, w, 1.0 / 19.0)
    p = _fma(p, w, 1.0 / 17.0)
    p = _fma(p, w, 1.0 / 15.0)
    p = _fma(p, w, 1.0 / 13.0)
    p = _fma(p, w, 1.0 / 11.0)
    p = _fma(p, w, 1.0 / 9.0)
    p = _fma(p, w, 1.0 / 7.0)
    p = _fma(p, w, 1.0 / 5.0)
    p = _fma(p, w, 1.0 / 3.0)
    return 2.0 * s + 2.0 * s * (w * p)


@njit(cache=True, inline="always")
def softplus(z):
    """log(1 + e**z) = max(z, 0) + log1p(e**-|z|)."""
    za = z if z >= 0.0 else -z
    return (z if z > 0.0 else 0.0) + log1p_unit(exp(-za))


@njit(cache=True, inline="always")
def logistic(u):
    """1/(1 + e**-u), without overflow for either sign of u."""
    e = exp(-u if u >= 0.0 else u)
    s = np.divide(1.0, 1.0 + e)
    return s if u >= 0.0 else e * s
