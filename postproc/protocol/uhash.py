"""Universal hashing: the one place both message authentication and key verification take it from.

Two families, both exact (integer arithmetic only) and numba-compiled:

**Hankel/Toeplitz hash** ``toeplitz_hash(x, n, seed, t)``: output bit i (0 <= i < t) is
``XOR_j x_j * s_{i+j}`` over the n input bits, with a seed s of ``n + t - 1`` bits. The matrix
``H[i, j] = s[i + j]`` is a Hankel matrix, i.e. a Toeplitz matrix with its columns in reverse order.

  *Claim.* For every nonzero d in {0,1}^n and every c in {0,1}^t, ``Pr_s[H d = c] = 2^-t`` exactly.
  *Proof.* Let j0 be the largest index with d_{j0} = 1. Output bit i is ``s_{i+j0} XOR f_i``, where
  f_i depends only on seed bits with index < i + j0. Reveal the seed bits in increasing index
  order: when s_{i+j0} is drawn, f_i is already fixed, so bit i is a fresh uniform bit independent
  of bits 0..i-1. Hence H d is uniform on {0,1}^t. Since H is linear, for x != x' the collision
  probability is ``Pr[H (x XOR x') = 0] = 2^-t`` and ``Pr[H x XOR H x' = c] = 2^-t``: the family is
  2^-t-almost-XOR-universal (and universal_2 with collision probability exactly 2^-t).

**Polynomial hash over GF(2^64)** ``PolyHash(keys).digest(message)``: the message bytes are read as
little-endian 64-bit words a_1..a_{L-1} (the last one zero-padded), followed by a_L = the byte
length, and each lane with key k computes ``sum_i a_i k^(L+1-i)`` (Horner, no constant term), in
GF(2)[x] / (x^64 + x^4 + x^3 + x + 1) (irreducible; the tests check it with Rabin's test).

  *Claim.* For messages m != m' of at most L words (length word included),
  ``Pr_k[H_k(m) XOR H_k(m') = c] <= L / 2^64`` for every c (epsilon-almost-XOR-universal).
  *Proof.* If the byte lengths differ, the coefficients of k^1 differ; otherwise both have L words
  and some word differs. Either way ``D(k) = H_k(m) - H_k(m')`` has a nonzero coefficient at some
  power k^1..k^L and no constant term, so ``D(k) - c`` is a nonzero polynomial of degree <= L with
  at most L roots among the 2^64 field elements. With r lanes keyed independently the bound is
  ``(L / 2^64)^r``.

**Authentication tags** (``AuthHasher``) compose the two: ``Toeplitz_tau(PolyHash_r(m))``. For
m != m', either the digests collide (probability <= (L/2^64)^r) or they differ and the Toeplitz
stage maps the difference to any fixed value with probability 2^-tau, so the composition is
``(L/2^64)^r + 2^-tau``-almost-XOR-universal. XOR-ing a fresh one-time pad per message gives the
Wegman-Carter MAC: each forgery attempt succeeds with probability at most that epsilon, and the
hash key can be kept across messages because every tag is perfectly masked by its pad.
"""

from __future__ import annotations

import math

import numba
import numpy as np

GF64_POLY_LOW = 0x1B  # x^64 + x^4 + x^3 + x + 1: the reduction adds x^4 + x^3 + x + 1
_U1 = np.uint64(1)
_U8 = np.uint64(8)
_U63 = np.uint64(63)
_U255 = np.uint64(255)
_LOW = np.uint64(GF64_POLY_LOW)


# ---------------------------------------------------------------------------- GF(2^64) arithmetic
@numba.njit(cache=True)
def _gf64_mul_bitwise(a: np.uint64, b: np.uint64) -> np.uint64:
    r = np.uint64(0)
    for i in range(64):
        if (b >> np.uint64(i)) & _U1:
            r ^= a
        top = a >> _U63
        a = (a << _U1) ^ (top * _LOW)
    return r


@numba.njit(cache=True)
def _gf64_tables(key: np.uint64) -> np.ndarray:
    """tab[b, v] = (v * x^(8b)) * key: multiplying by ``key`` becomes 8 table look-ups."""
    tab = np.empty((8, 256), dtype=np.uint64)
    for b in range(8):
        for v in range(256):
            tab[b, v] = _gf64_mul_bitwise(np.uint64(v) << np.uint64(8 * b), key)
    return tab


@numba.njit(cache=True)
def _poly_horner(words: np.ndarray, tabs: np.ndarray) -> np.ndarray:
    lanes = tabs.shape[0]
    out = np.empty(lanes, dtype=np.uint64)
    for lane in range(lanes):
        tab = tabs[lane]
        acc = np.uint64(0)
        for i in range(words.shape[0]):
            a = acc ^ words[i]
            r = np.uint64(0)
            for b in range(8):
                r ^= tab[b, (a >> np.uint64(8 * b)) & _U255]
            acc = r
        out[lane] = acc
    return out


def gf64_mul(a: int, b: int) -> int:
    """Product in GF(2^64) (same reduction polynomial as the hash)."""
    return int(_gf64_mul_bitwise(np.uint64(a), np.uint64(b)))


def message_words(message: bytes | np.ndarray) -> np.ndarray:
    """The hash's coefficient sequence: little-endian 64-bit words, zero padded, then the length."""
    buf = (
        np.frombuffer(message, dtype=np.uint8)
        if isinstance(message, bytes | bytearray | memoryview)
        else np.ascontiguousarray(message).view(np.uint8).ravel()
    )
    n = buf.shape[0]
    n_words = (n + 7) // 8
    words = np.zeros(n_words + 1, dtype=np.uint64)
    words.view(np.uint8)[:n] = buf
    if words.dtype.byteorder == ">":  # pragma: no cover - big-endian hosts
        words[:n_words] = words[:n_words].byteswap()
    words[n_words] = n
    return words


class PolyHash:
    """r independent lanes of the GF(2^64) polynomial hash (keys: uint64 array of length r)."""

    def __init__(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.uint64)
        if keys.ndim != 1 or keys.shape[0] < 1:
            raise ValueError("PolyHash needs a 1-D array of at least one uint64 key")
        self.lanes = int(keys.shape[0])
        self._tabs = np.stack([_gf64_tables(k) for k in keys])

    def digest(self, message: bytes | np.ndarray) -> np.ndarray:
        return _poly_horner(message_words(message), self._tabs)

    @staticmethod
    def collision_bound(n_bytes: int, lanes: int) -> float:
        """(L / 2^64)^lanes with L = ceil(n_bytes / 8) + 1 words."""
        return ((math.ceil(n_bytes / 8) + 1) / 2.0**64) ** lanes


# ------------------------------------------------------------------------------- Toeplitz hash
@numba.njit(cache=True)
def _toeplitz_words(x: np.ndarray, n_words: int, s: np.ndarray, t: int) -> np.ndarray:
    out = np.zeros((t + 7) // 8, dtype=np.uint8)
    for i in range(t):
        w0 = i >> 6
        sh = np.uint64(i & 63)
        acc = np.uint64(0)
        if sh == 0:
            for w in range(n_words):
                acc ^= x[w] & s[w + w0]
        else:
            rsh = np.uint64(64) - sh
            for w in range(n_words):
                acc ^= x[w] & ((s[w + w0] >> sh) | (s[w + w0 + 1] << rsh))
        # parity of acc
        acc ^= acc >> np.uint64(32)
        acc ^= acc >> np.uint64(16)
        acc ^= acc >> _U8
        acc ^= acc >> np.uint64(4)
        acc ^= acc >> np.uint64(2)
        acc ^= acc >> _U1
        if acc & _U1:
            out[i >> 3] |= np.uint8(1 << (i & 7))
    return out


def _packed_to_words(packed: np.ndarray, n_bits: int, extra_words: int) -> np.ndarray:
    """Packed little-endian bits -> uint64 words with bits >= n_bits cleared, plus zero words."""
    n_words = (n_bits + 63) // 64
    words = np.zeros(n_words + extra_words, dtype=np.uint64)
    nbytes = (n_bits + 7) // 8
    view = words.view(np.uint8)
    view[:nbytes] = packed[:nbytes]
    if n_bits % 8:
        view[nbytes - 1] &= (1 << (n_bits % 8)) - 1
    if words.dtype.byteorder == ">":  # pragma: no cover - big-endian hosts
        words.byteswap(inplace=True)
    return words


def toeplitz_seed_bits(n_bits: int, t: int) -> int:
    """Seed length of the t x n hash: n + t - 1 bits."""
    return n_bits + t - 1


def toeplitz_hash(
    packed: np.ndarray | bytes, n_bits: int, seed: np.ndarray | bytes, t: int
) -> bytes:
    """t-bit hash (packed, little-endian bit order) of the first ``n_bits`` bits of ``packed``.

    ``seed`` holds at least ``n_bits + t - 1`` bits (packed, little-endian); bit i of the output is
    the parity of ``x AND seed[i : i + n_bits]``.
    """
    if t < 1 or n_bits < 1:
        raise ValueError(f"toeplitz_hash needs t >= 1 and n_bits >= 1, got t={t}, n_bits={n_bits}")
    x = np.frombuffer(packed, dtype=np.uint8) if isinstance(packed, bytes | bytearray) else packed
    s = np.frombuffer(seed, dtype=np.uint8) if isinstance(seed, bytes | bytearray) else seed
    need = toeplitz_seed_bits(n_bits, t)
    if 8 * len(s) < need:
        raise ValueError(f"Toeplitz seed has {8 * len(s)} bits, needs {need}")
    if 8 * len(x) < n_bits:
        raise ValueError(f"input has {8 * len(x)} bits, asked to hash {n_bits}")
    xw = _packed_to_words(np.asarray(x, dtype=np.uint8), n_bits, 0)
    sw = _packed_to_words(np.asarray(s, dtype=np.uint8), need, 2)
    return _toeplitz_words(xw, xw.shape[0], sw, t).tobytes()


# --------------------------------------------------------------------------- authentication hash
class AuthHasher:
    """Toeplitz_tau(PolyHash_r(message)): the keyed hash of the Wegman-Carter MAC.

    Key layout (bytes): r little-endian uint64 polynomial keys, then the Toeplitz seed of
    ``64 r + tau - 1`` bits rounded up to bytes.
    """

    def __init__(self, key: bytes, *, tag_bits: int = 64, lanes: int = 2) -> None:
        if tag_bits < 8 or tag_bits % 8:
            raise ValueError(f"tag_bits must be a positive multiple of 8, got {tag_bits}")
        if len(key) != self.key_bytes(tag_bits, lanes):
            raise ValueError(
                f"authentication hash key must be {self.key_bytes(tag_bits, lanes)} bytes, "
                f"got {len(key)}"
            )
        self.tag_bits = tag_bits
        self.lanes = lanes
        self._poly = PolyHash(np.frombuffer(key[: 8 * lanes], dtype="<u8").astype(np.uint64))
        self._seed = np.frombuffer(key[8 * lanes :], dtype=np.uint8).copy()

    @staticmethod
    def key_bytes(tag_bits: int = 64, lanes: int = 2) -> int:
        return 8 * lanes + (toeplitz_seed_bits(64 * lanes, tag_bits) + 7) // 8

    def hash(self, message: bytes) -> bytes:
        digest = self._poly.digest(message).astype("<u8").view(np.uint8)
        return toeplitz_hash(digest, 64 * self.lanes, self._seed, self.tag_bits)

    def forgery_bound(self, n_bytes: int) -> float:
        """Success probability of one forgery attempt on a message of ``n_bytes`` bytes."""
        return PolyHash.collision_bound(n_bytes, self.lanes) + 2.0**-self.tag_bits
