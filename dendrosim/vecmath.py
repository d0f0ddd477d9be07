"""exp, softplus and logistic in plain arithmetic, so that LLVM vectorises loops over them.

The llvmlite wheels have no vector maths library (SVML), so every ``math.exp`` in a
loop is a scalar libm call: on the 30-20-10 net these calls were about half of the
time per Euler step. The functions here use only +, *, fused multiply-add, /, floor,
comparisons and one bit-cast, which the loop vectoriser turns into AVX2/AVX-512 code.

Accuracy (tests/test_vecmath.py, against numpy over the whole double range; 5 million
points): ``exp`` within 1 ulp, ``softplus`` within 3 ulp, ``logistic`` within 4 ulp. Below
exp's normal range (x < -708.39) ``exp`` returns 0 instead of a subnormal. The transfer
functions evaluate e**-|z| with :func:`_exp_nonpos`, and both polynomials are fitted rather
than truncated series: the softplus costs ~2.3 ns a value in a vector loop instead of ~3.3
and the logistic ~1.3 instead of ~1.8 (30-20-10: ~12 % more Euler steps per second).

Callers in other files carry inlined copies of this code in their numba caches;
:mod:`dendrosim._jitcache` invalidates those caches when this file changes.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

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
def _exp_parts(xc):
    """e**xc = p * 2**k for a clamped xc: xc = k ln2 + r (Cody-Waite), |r| <= ln2/2, p = e**r
    by a degree-11 polynomial fitted on [-ln2/2, ln2/2] (``mpmath.chebyfit(mpmath.exp, [-h, h],
    12)``, relative error 4.5e-18, as small as the Taylor series to r**13 with two terms fewer)."""
    k = np.floor(xc * _LOG2E + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    # Horner written out: a loop over a coefficient tuple is not unrolled for a series this
    # long and the loop over neurons then stops vectorising (measured: 24 vs 1.4 ns)
    p = 2.5110037605963777e-08
    p = _fma(p, r, 2.763263963904103e-07)
    p = _fma(p, r, 2.755724091857897e-06)
    p = _fma(p, r, 2.4801485482328494e-05)
    p = _fma(p, r, 0.00019841269890047113)
    p = _fma(p, r, 0.0013888888952314775)
    p = _fma(p, r, 0.008333333333319601)
    p = _fma(p, r, 0.0416666666664881)
    p = _fma(p, r, 0.1666666666666668)
    p = _fma(p, r, 0.5000000000000019)
    p = _fma(p, r, 1.0)
    p = _fma(p, r, 1.0)
    return p, k


@njit(cache=True, inline="always")
def exp(x):
    """e**x in float64 (:func:`_exp_parts`), within 1 ulp.

    Written with conditional expressions and ``np.floor`` (``math.floor`` returns an
    integer in numba, ``min``/``max`` branch): both keep the loop vectoriser out.
    """
    xc = x if x < _EXP_MAX else _EXP_MAX
    xc = xc if xc > _EXP_MIN else _EXP_MIN
    p, k = _exp_parts(xc)                     # -1022 <= k <= 1024
    k1 = np.floor(0.5 * k)                     # 2**k = 2**k1 * 2**(k-k1), both normal numbers
    v = (p * _pow2(np.int64(k1))) * _pow2(np.int64(k - k1))
    v = math.inf if x > _EXP_MAX else v
    v = 0.0 if x < _EXP_MIN else v
    return x if x != x else v


@njit(cache=True, inline="always")
def _exp_nonpos(x):
    """e**x for x <= 0 (or NaN), as :func:`exp` with what that range does not need left out:
    no overflow clamp, and 2**k in one factor (k >= -1022 is a normal number). The transfer
    functions call it with -|z|; ~10 fewer vector operations than :func:`exp`."""
    xc = x if x > _EXP_MIN else _EXP_MIN
    p, k = _exp_parts(xc)                     # -1022 <= k <= 0
    v = p * _pow2(np.int64(k))
    v = 0.0 if x < _EXP_MIN else v
    return x if x != x else v


@njit(cache=True, inline="always")
def log1p_unit(t):
    """log(1 + t) for 0 <= t <= 1: 2 atanh(s) = 2s + 2s w p(w), s = t/(2+t) <= 1/3, w = s**2.

    p(w) = (atanh(s)/s - 1)/w (the series 1/3 + w/5 + w**2/7 + ...) as a degree-9 polynomial
    fitted on [0, 1/9] (``mpmath.chebyfit(p, [0, 1/9], 10)``): its error, 4.5e-17, enters the
    result times w, below 1e-17 relative; the series itself needs 17 terms."""
    s = np.divide(t, 2.0 + t)        # np.divide: no zero-division check, which would block vectorisation
    w = s * s
    p = 0.08082022805971766
    p = _fma(p, w, 0.04400369243072337)
    p = _fma(p, w, 0.06000536404795356)
    p = _fma(p, w, 0.06657072104827468)
    p = _fma(p, w, 0.07692785032479312)
    p = _fma(p, w, 0.09090894718066429)
    p = _fma(p, w, 0.11111111358713932)
    p = _fma(p, w, 0.1428571428355438)
    p = _fma(p, w, 0.20000000000007292)
    p = _fma(p, w, 0.3333333333333333)
    return 2.0 * s + 2.0 * s * (w * p)


@njit(cache=True, inline="always")
def softplus(z):
    """log(1 + e**z) = max(z, 0) + log1p(e**-|z|)."""
    za = z if z >= 0.0 else -z
    return (z if z > 0.0 else 0.0) + log1p_unit(_exp_nonpos(-za))


@njit(cache=True, inline="always")
def logistic(u):
    """1/(1 + e**-u), without overflow for either sign of u."""
    e = _exp_nonpos(-u if u >= 0.0 else u)
    s = np.divide(1.0, 1.0 + e)
    return s if u >= 0.0 else e * s


def madd(a, b, c):
    """a * b + c. For numbers the two IEEE operations in that order (the caller's fastmath
    flags apply); for the SIMD vectors of :mod:`dendrosim.engine.simd` one fused
    multiply-add per lane (that module adds the overload). The equations of
    :mod:`dendrosim.model` are written with it so that scalar and SIMD kernels share them."""
    return a * b + c


@overload(madd, inline="always")
def _madd(a, b, c):
    if isinstance(a, types.Number) and isinstance(b, types.Number) and isinstance(c, types.Number):
        return lambda a, b, c: a * b + c
    return None
