"""The in-kernel normal generator (xoshiro256** + ziggurat) against the normal distribution."""

import math

import numpy as np
import pytest
from scipy import stats

from dendrosim.engine.rng import _ZR, _ZX, fill_normal, seed_state


@pytest.fixture(scope="module")
def draws():
    out = np.empty(2_000_000)
    fill_normal(seed_state(np.random.SeedSequence(12345)), out)
    return out


def test_ziggurat_layers_have_equal_area():
    """Each of the 127 upper layers has area v = x[i] (f(x[i+1]) - f(x[i])) and the base strip
    (rectangle plus tail) has area v too: the tables are those of the 128-layer ziggurat."""
    f = lambda x: np.exp(-0.5 * x * x)
    v = 9.91256303526217e-3
    areas = _ZX[:-1][1:] * (f(_ZX[2:]) - f(_ZX[1:-1]))
    np.testing.assert_allclose(areas, v, rtol=1e-8)   # r, v have 13 digits; the top layer takes the rest
    r = _ZX[1]
    base = r * f(r) + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))
    assert base == pytest.approx(v, rel=1e-6)
    assert _ZX[-1] == 0.0 and np.all(np.diff(_ZX[1:]) < 0) and np.all(_ZR < 1)


def test_draws_follow_the_standard_normal(draws):
    assert stats.kstest(draws, "norm").pvalue > 1e-3
    n = draws.size
    assert abs(draws.mean()) < 5 / math.sqrt(n)
    assert draws.var() == pytest.approx(1.0, abs=5 * math.sqrt(2 / n))
    assert abs(stats.skew(draws)) < 5 * math.sqrt(6 / n)
    assert abs(stats.kurtosis(draws)) < 5 * math.sqrt(24 / n)


@pytest.mark.parametrize("a", [1.0, 2.0, 3.0, 3.442619855899, 4.0, 4.5])
def test_tail_frequencies(draws, a):
    """P(|x| > a), including beyond the ziggurat's base r = 3.4426 (the tail algorithm)."""
    p = math.erfc(a / math.sqrt(2))
    n = draws.size
    k = np.count_nonzero(np.abs(draws) > a)
    assert abs(k - n * p) < 5 * math.sqrt(n * p * (1 - p)) + 2
    # both signs
    kp = np.count_nonzero(draws > a)
    assert abs(kp - n * p / 2) < 5 * math.sqrt(n * p / 2) + 2


def test_stream_is_reproducible_and_consecutive_draws_uncorrelated(draws):
    again = np.empty(1000)
    fill_normal(seed_state(np.random.SeedSequence(12345)), again)
    np.testing.assert_array_equal(again, draws[:1000])
    r = np.corrcoef(draws[:-1], draws[1:])[0, 1]
    assert abs(r) < 5 / math.sqrt(draws.size)


def test_bits_are_xoshiro256starstar():
    """The 64-bit stream against xoshiro256** written from Blackman & Vigna's reference C code."""
    from numba import njit

    from dendrosim.engine.rng import next_u64

    @njit
    def draw(s, n):
        out = np.empty(n, dtype=np.uint64)
        for i in range(n):
            out[i] = next_u64(s)
        return out

    s = seed_state(np.random.SeedSequence(3))
    st = [int(v) for v in s]
    got = draw(s, 50)
    mask = (1 << 64) - 1
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & mask
    for g in got:
        result = (rotl((st[1] * 5) & mask, 7) * 9) & mask
        t = (st[1] << 17) & mask
        st[2] ^= st[0]
        st[3] ^= st[1]
        st[1] ^= st[2]
        st[0] ^= st[3]
        st[2] ^= t
        st[3] = rotl(st[3], 45)
        assert int(g) == result
    assert [int(v) for v in s] == st


def test_simd_lanes_draw_what_each_lane_draws_alone():
    """add_normals_lanes (all lanes' generators in SIMD registers) against add_normals_lane lane
    by lane: the same values and generator states bit for bit, over enough draws (16,000 per
    lane) that every lane takes the slow path (wedges, and the tail) many times."""
    from numba import njit

    from dendrosim.engine.rng import add_normals_lane, add_normals_lanes
    from dendrosim.engine.simd import LANES

    @njit
    def lane_by_lane(y, n, scale, states, reps):
        for _ in range(reps):
            for lane in range(LANES):
                add_normals_lane(y, n, scale, states[lane], lane, LANES)

    @njit
    def all_lanes(y, n, scale, st, tmp, reps):
        for _ in range(reps):
            add_normals_lanes(y, n, scale, st, tmp)

    n, reps = 40, 400
    states = np.array([seed_state(np.random.SeedSequence(s)) for s in range(LANES)])
    st = np.ascontiguousarray(states.T).ravel()            # word w of lane l at w * LANES + l
    y0 = np.random.default_rng(0).normal(size=n * LANES)
    y1, y2 = y0.copy(), y0.copy()
    lane_by_lane(y1, n, 0.3, states, reps)
    all_lanes(y2, n, 0.3, st, np.zeros(4, dtype=np.uint64), reps)
    np.testing.assert_array_equal(y2, y1)
    np.testing.assert_array_equal(st, np.ascontiguousarray(states.T).ravel())
