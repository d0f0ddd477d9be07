"""In-kernel Gaussian noise: xoshiro256** uniforms and Marsaglia's polar method.

The generator state is four uint64 words held in an array next to the network
state, so the noise stream is saved in checkpoints (bit-identical resume) and
every member of an ensemble has its own stream. About 5 ns per normal draw,
against 10-23 ns for numpy's and numba's generators (DESIGN.md sec. 3).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_U64 = np.uint64


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


@njit(cache=True, inline="always")
def next_u64(s):
    """Advance xoshiro256** state ``s`` (uint64[4]) and return 64 random bits."""
    result = _rotl(s[1] * _U64(5), 7) * _U64(9)
    t = s[1] << _U64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True, inline="always")
def uniform(s):
    """Uniform double in [0, 1) with 53 random bits."""
    return float(next_u64(s) >> _U64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def normal_pair(s):
    """Two independent standard normal draws (Marsaglia polar method)."""
    while True:
        a = 2.0 * uniform(s) - 1.0
        b = 2.0 * uniform(s) - 1.0
        q = a * a + b * b
        if 0.0 < q < 1.0:
            f = math.sqrt(-2.0 * math.log(q) / q)
            return a * f, b * f


@njit(cache=True)
def fill_normal(s, out):
    """Fill ``out`` with standard normal draws (pairs; an odd last draw wastes one)."""
    n = out.shape[0]
    for i in range(0, n - 1, 2):
        a, b = normal_pair(s)
        out[i] = a
        out[i + 1] = b
    if n % 2 == 1:
        a, b = normal_pair(s)
        out[n - 1] = a


def seed_state(seed_seq: np.random.SeedSequence) -> np.ndarray:
    """A non-zero xoshiro256** state from a SeedSequence."""
    st = seed_seq.generate_state(4, np.uint64)
    if not st.any():
        st[0] = 1
    return st
