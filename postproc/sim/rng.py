"""xoshiro256** for numba kernels: explicit state (uint64[4]), no hidden global generator.

The simulator seeds one state per chunk from the caller's ``np.random.Generator``, so a run is a
pure function of its seed and configuration.
"""

from __future__ import annotations

import numpy as np
from numba import njit

U64 = np.uint64
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


def new_state(rng: np.random.Generator) -> np.ndarray:
    """A fresh xoshiro256** state drawn from ``rng`` (never all zero)."""
    s = rng.integers(0, 2**64, size=4, dtype=np.uint64, endpoint=False)
    if not s.any():
        s[0] = 1
    return s


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << U64(k)) | (x >> U64(64 - k))


@njit(cache=True, inline="always")
def next_u64(s):
    result = _rotl(s[1] * U64(5), 7) * U64(9)
    t = s[1] << U64(17)
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
    return float(next_u64(s) >> U64(11)) * _INV53


@njit(cache=True, inline="always")
def uniform_pos(s):
    """Uniform double in (0, 1]: safe for log()."""
    return (float(next_u64(s) >> U64(11)) + 1.0) * _INV53


@njit(cache=True, inline="always")
def normal(s):
    """Standard normal (Box-Muller, one of the pair)."""
    return np.sqrt(-2.0 * np.log(uniform_pos(s))) * np.cos(2.0 * np.pi * uniform(s))


@njit(cache=True, inline="always")
def exponential(s):
    return -np.log(uniform_pos(s))
