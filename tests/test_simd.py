"""engine/simd.py: each Vec operation is the scalar IEEE operation in every lane."""

import numpy as np
from numba import njit

from dendrosim.engine.simd import LANES, vadd, vfma, vlane, vload, vmul, vsplat, vstore, vsub, vzero


@njit(cache=True)
def _ops(a, b, c, out):
    x, y, z = vload(a, 0), vload(b, LANES), vload(c, 2 * LANES)      # element offsets
    vstore(out, 0, vadd(x, y))
    vstore(out, LANES, vsub(x, y))
    vstore(out, 2 * LANES, vmul(x, y))
    vstore(out, 3 * LANES, vfma(x, y, z))
    vstore(out, 4 * LANES, vadd(vzero(), vsplat(2.5)))
    return vlane(vfma(x, y, z), LANES - 1)


def test_vector_operations_match_the_scalar_ones_lane_by_lane():
    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(size=3 * LANES) for _ in range(3))
    a[LANES - 1], b[2 * LANES - 1], c[3 * LANES - 1] = 1 + 2.0**-30, 1 - 2.0**-30, -1.0
    out = np.zeros(5 * LANES)
    last = _ops(a, b, c, out)
    x, y, z = a[:LANES], b[LANES:2 * LANES], c[2 * LANES:3 * LANES]
    np.testing.assert_array_equal(out[:LANES], x + y)
    np.testing.assert_array_equal(out[LANES:2 * LANES], x - y)
    np.testing.assert_array_equal(out[2 * LANES:3 * LANES], x * y)
    np.testing.assert_array_equal(out[4 * LANES:], 2.5)
    # one rounding: (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly, while the rounded product is 1
    assert (1 + 2.0**-30) * (1 - 2.0**-30) - 1.0 == 0.0
    assert last == -(2.0**-60) == out[4 * LANES - 1]
    np.testing.assert_allclose(out[3 * LANES:4 * LANES - 1], (x * y + z)[:-1], rtol=1e-15, atol=1e-15)
