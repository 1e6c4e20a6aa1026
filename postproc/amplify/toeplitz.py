"""Toeplitz hashing for privacy amplification: an exact fast path and the bit-serial reference.

Convention (shared by the fast path, the reference and the Verilog ``toeplitz`` block)
-------------------------------------------------------------------------------------
* The input (verified key) is ``n`` bits x[0..n-1]; the output is ``l`` bits y[0..l-1], 1 <= l <= n.
* The seed is ``n + l - 1`` bits r[0..n+l-2]. It defines the l x n Toeplitz matrix

      T[i, j] = r[j - i + l - 1]          (constant along every diagonal)

  so row 0 is r[l-1], r[l], ..., r[n+l-2] and column 0, read top to bottom, is r[l-1], ..., r[0].
* y[i] = XOR over j of (T[i, j] AND x[j]), i.e. y = T x over GF(2).
* At rest every bit string is packed little-endian as in :mod:`postproc.bits`: bit k is bit
  ``k % 8`` of byte ``k // 8``; unused high bits of the last byte are zero. A seed is
  ``ceil((n + l - 1) / 8)`` bytes drawn from the caller's ``np.random.Generator``
  (:func:`toeplitz_seed`).

Streaming form (what the hardware computes, :func:`toeplitz_reference`): an l-bit window register
``w`` and an l-bit accumulator ``acc``. The seed arrives as a stream r[0], r[1], ... and is shifted
into ``w`` at row 0, older bits moving towards row l-1; after the first l seed bits
w[i] = r[l-1-i], which is column 0 of T. Then for each input bit x[j], j = 0, 1, ..., n-1:
``if x[j]: acc ^= w`` and then one more seed bit r[j+l] is shifted in (while any are left), so w is
always column j of T: w[i] = r[j+l-1-i]. After the last input bit, y = acc. A block that takes W
input bits per clock shifts W seed bits per clock and gives the same y.

Fast path (:func:`toeplitz_hash`): y[i] = sum_j x[j] r'[n-1+i-j] with r' = r reversed, so y is the
slice [n-1, n-1+l) of the GF(2)[x] product x * r', computed exactly by the additive FFT of
:mod:`postproc.amplify.additive_fft` (finite-field arithmetic, no rounding).
"""

from __future__ import annotations

import numba
import numpy as np

from postproc.amplify.additive_fft import reversed_product_slice
from postproc.errors import ConfigError

_BYTE_REVERSE = np.array([int(f"{b:08b}"[::-1], 2) for b in range(256)], dtype=np.uint8)


def seed_bits_needed(n_bits: int, out_bits: int) -> int:
    """Length of the seed in bits: n + l - 1."""
    _check_sizes(n_bits, out_bits)
    return n_bits + out_bits - 1


def _check_sizes(n_bits: int, out_bits: int) -> None:
    if n_bits < 1:
        raise ConfigError(f"toeplitz: n_bits must be >= 1, got {n_bits}")
    if not 1 <= out_bits <= n_bits:
        raise ConfigError(f"toeplitz: out_bits must be in [1, n_bits={n_bits}], got {out_bits}")


def toeplitz_seed(rng: np.random.Generator, n_bits: int, out_bits: int) -> np.ndarray:
    """Draw a seed of n + l - 1 bits: ``rng.integers(0, 256, nbytes, dtype=uint8)``, packed
    little-endian, with the unused high bits of the last byte cleared."""
    n_seed = seed_bits_needed(n_bits, out_bits)
    seed = rng.integers(0, 256, size=(n_seed + 7) // 8, dtype=np.uint8)
    return _mask_tail(seed, n_seed)


def _mask_tail(packed: np.ndarray, n_bits: int) -> np.ndarray:
    if n_bits % 8:
        packed[-1] &= (1 << (n_bits % 8)) - 1
    return packed


def _checked(data: np.ndarray | bytes, n_bits: int, what: str) -> np.ndarray:
    """The packed input as a 1-D uint8 array of ceil(n_bits / 8) bytes (not copied; the padding
    bits past n_bits may be set)."""
    arr = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise ConfigError(f"toeplitz: {what} must be packed bytes (1-D uint8), got {arr.dtype}")
    need = (n_bits + 7) // 8
    if arr.size != need:
        raise ConfigError(
            f"toeplitz: {what} must be {need} bytes for {n_bits} bits, got {arr.size}"
        )
    return arr


def bit_slice(packed: np.ndarray, start: int, count: int) -> np.ndarray:
    """Bits [start, start+count) of a packed little-endian string, packed again from bit 0."""
    nbytes = (count + 7) // 8
    first = start // 8
    shift = start % 8
    src = np.zeros(nbytes + 1, dtype=np.uint16)
    avail = packed[first : first + nbytes + 1]
    src[: avail.size] = avail
    out = ((src[:-1] >> shift) | (src[1:] << (8 - shift))).astype(np.uint8)
    return _mask_tail(out, count)


@numba.njit(cache=True)
def _reverse_kernel(packed: np.ndarray, n_bits: int, table: np.ndarray) -> np.ndarray:
    # shift left by the padding so the string fills whole bytes, then reverse bytes and bits
    nbytes = packed.size
    pad = 8 * nbytes - n_bits
    out = np.empty(nbytes, dtype=np.uint8)
    for o in range(nbytes):
        i = nbytes - 1 - o
        w = np.int64(packed[i]) << pad
        if pad and i > 0:
            w |= np.int64(packed[i - 1]) >> (8 - pad)
        out[o] = table[w & 0xFF]
    return out


def reverse_bits(packed: np.ndarray, n_bits: int) -> np.ndarray:
    """The bit string b[n-1], ..., b[0], packed little-endian (bits >= n_bits must be zero)."""
    nbytes = (n_bits + 7) // 8
    return _reverse_kernel(np.ascontiguousarray(packed[:nbytes]), n_bits, _BYTE_REVERSE)


def toeplitz_hash(
    key: np.ndarray | bytes,
    n_bits: int,
    seed: np.ndarray | bytes,
    out_bits: int,
    *,
    threads: int = 2,
) -> np.ndarray:
    """y = T x (module convention) for a packed key of ``n_bits`` and a packed seed of
    n + l - 1 bits; returns y packed, ceil(l / 8) bytes. Exact for every size. ``threads``
    (threads sharing the transforms) only changes the speed."""
    _check_sizes(n_bits, out_bits)
    # the product reads only the first n_bits of the key and n + l - 1 of the seed: no copies
    x = _checked(key, n_bits, "key")
    n_seed = n_bits + out_bits - 1
    r = _checked(seed, n_seed, "seed")
    return reversed_product_slice(x, n_bits, r, n_seed, n_bits - 1, out_bits, threads=threads)


def privacy_amplify(
    key: np.ndarray | bytes, n_bits: int, out_bits: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a seed from ``rng`` and hash; returns (secret key packed, seed packed)."""
    seed = toeplitz_seed(rng, n_bits, out_bits)
    return toeplitz_hash(key, n_bits, seed, out_bits), seed


@numba.njit(cache=True)
def _reference_kernel(x: np.ndarray, r: np.ndarray, l: int) -> np.ndarray:
    n = x.size
    w = np.zeros(l, dtype=np.uint8)
    acc = np.zeros(l, dtype=np.uint8)
    fed = 0
    for _ in range(l):  # load column 0: shift r[0..l-1] in at row 0
        for i in range(l - 1, 0, -1):
            w[i] = w[i - 1]
        w[0] = r[fed]
        fed += 1
    for j in range(n):
        if x[j]:
            for i in range(l):
                acc[i] ^= w[i]
        if fed < r.size:  # advance to column j + 1
            for i in range(l - 1, 0, -1):
                w[i] = w[i - 1]
            w[0] = r[fed]
            fed += 1
    return acc


def toeplitz_reference(key_bits: np.ndarray, seed_bits: np.ndarray, out_bits: int) -> np.ndarray:
    """Bit-serial reference (the Verilog twin's specification, see the module docstring).

    ``key_bits``: n values 0/1 (uint8) in stream order x[0], x[1], ...; ``seed_bits``: n + l - 1
    values 0/1 in stream order r[0], r[1], ...; returns y[0..l-1] as uint8 0/1. O(n * l): for
    tests and cocotb, not for production sizes.
    """
    x = np.ascontiguousarray(key_bits, dtype=np.uint8)
    r = np.ascontiguousarray(seed_bits, dtype=np.uint8)
    _check_sizes(x.size, out_bits)
    if r.size != x.size + out_bits - 1:
        raise ConfigError(
            f"toeplitz: seed_bits must have n + l - 1 = {x.size + out_bits - 1} bits, got {r.size}"
        )
    if (x > 1).any() or (r > 1).any():
        raise ConfigError("toeplitz: key_bits and seed_bits must hold only 0 and 1")
    return _reference_kernel(x, r, out_bits)


def toeplitz_matrix(seed_bits: np.ndarray, n_bits: int, out_bits: int) -> np.ndarray:
    """The dense l x n matrix T[i, j] = r[j - i + l - 1] (uint8), for small independent checks."""
    i = np.arange(out_bits)[:, None]
    j = np.arange(n_bits)[None, :]
    return np.asarray(seed_bits, dtype=np.uint8)[j - i + out_bits - 1]
