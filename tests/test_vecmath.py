"""dendrosim.vecmath against numpy over the whole float64 range (ulp = spacing of the true value)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from numba import njit
from scipy.special import expit

from dendrosim import vecmath


@njit(cache=True)
def _each(code, x):
    out = np.empty_like(x)
    for i in range(x.size):
        if code == 0:
            out[i] = vecmath.exp(x[i])
        elif code == 1:
            out[i] = vecmath.softplus(x[i])
        else:
            out[i] = vecmath.logistic(x[i])
    return out


def _points():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.uniform(-745.0, 710.0, 100_000), rng.uniform(-40.0, 40.0, 100_000),
                           rng.normal(0.0, 1e-3, 10_000), np.linspace(-1.0, 1.0, 2001)])


@pytest.mark.parametrize("code, ref, max_ulp", [(0, np.exp, 1.0), (1, lambda x: np.logaddexp(0.0, x), 3.0),
                                                (2, expit, 4.0)])
def test_within_a_few_ulp_of_numpy(code, ref, max_ulp):
    x = _points()
    with np.errstate(over="ignore", under="ignore"):
        want = ref(x)
    got = _each(code, x)
    normal = np.isfinite(want) & (want >= np.finfo(float).tiny)
    assert np.max(np.abs(got[normal] - want[normal]) / np.spacing(want[normal])) <= max_ulp
    # below the normal range only exp differs: 0 instead of a subnormal
    np.testing.assert_array_equal(got[~normal & (want == 0)], 0.0)


def test_limits_and_nan():
    x = np.array([np.inf, -np.inf, np.nan, 709.78, 710.0, -708.0, -709.0, 0.0, -0.0])
    e = _each(0, x)
    assert e[0] == np.inf and e[1] == 0.0 and np.isnan(e[2]) and np.isfinite(e[3]) and e[4] == np.inf
    assert e[5] == pytest.approx(np.exp(-708.0), rel=1e-15) and e[6] == 0.0 and e[7] == 1.0 and e[8] == 1.0
    s = _each(1, x)
    assert s[0] == np.inf and s[1] == 0.0 and np.isnan(s[2]) and s[7] == np.log(2.0)
    g = _each(2, x)
    assert g[0] == 1.0 and g[1] == 0.0 and np.isnan(g[2]) and g[7] == 0.5


@njit       # not cached: inspect_asm needs a fresh compile
def _softplus_loop(x, out):
    for i in range(x.size):
        out[i] = vecmath.softplus(x[i])


def test_loops_over_it_are_vectorised():
    """The point of the module: the loop compiles to packed (SIMD) double arithmetic,
    not one scalar libm call per element."""
    x = np.linspace(-5.0, 5.0, 64)
    _softplus_loop(x, np.empty_like(x))
    asm = _softplus_loop.inspect_asm(_softplus_loop.signatures[0]).lower()
    packed = [ln for ln in asm.splitlines() if re.search(r"\b(v?(mul|add|fmadd\w*|div)pd)\b", ln)]
    assert len(packed) >= 10, "no packed double arithmetic: the loop was not vectorised"
    assert "log1p" not in asm and "@exp" not in asm
