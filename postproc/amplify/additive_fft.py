"""Exact GF(2)[x] multiplication by an additive FFT over GF(2^64) (Gao–Mateer, Cantor basis).

A binary polynomial is cut into 32-bit chunks; each chunk is an element of GF(2^64) (a polynomial
of degree < 32). The product of two chunks has degree <= 62 < 64, so multiplying the chunk
sequences as polynomials over GF(2^64) never reduces modulo the field polynomial: the coefficient
of X^k of the product is exactly the carry-less sum of the chunk products, and XOR-ing those 63-bit
coefficients back at bit offsets 32k gives the GF(2)[x] product. Everything is exact field
arithmetic: there is no rounding to prove.

The FFT evaluates a polynomial of degree < 2^m at the 2^m points of the subspace spanned by a Cantor
basis v_1 = 1, v_{i+1}^2 + v_{i+1} = v_i (Gao & Mateer 2010, "Additive fast Fourier transforms over
finite fields", section 3 with beta_m = 1). One level: Taylor expansion of f at x^2 + x,
f(x) = g0(x^2 + x) + x * g1(x^2 + x), two half-size FFTs, and the butterfly
f(a) = g0(a^2 + a) + a * g1(a^2 + a), f(a + 1) = f(a) + g1(a^2 + a). The inverse runs every step
backwards. Product = inverse(forward(A) * forward(B)) since deg(AB) < 2^m.

Levels larger than a cache block (2^CACHE_LOG words) sweep the whole array; the rest of the work is
done one cache block at a time.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from postproc.amplify.clmul import GF64_POLY, gf64_mul, gf64_mul_int

CACHE_LOG = 13  # 8192 words = 64 KiB per block
MAX_LOG = 40


def _solve_artin_schreier(c: int) -> int:
    """A root x of x^2 + x = c in GF(2^64) (Gaussian elimination on the GF(2)-linear map)."""
    # rows: (image, preimage) pairs, reduced to echelon form on the image's leading bit
    pivots: dict[int, tuple[int, int]] = {}
    for i in range(64):
        img, pre = gf64_mul_int(1 << i, 1 << i) ^ (1 << i), 1 << i
        while img:
            top = img.bit_length() - 1
            if top not in pivots:
                pivots[top] = (img, pre)
                break
            pimg, ppre = pivots[top]
            img, pre = img ^ pimg, pre ^ ppre
    x = 0
    while c:
        top = c.bit_length() - 1
        if top not in pivots:
            raise ArithmeticError("x^2 + x = c has no root (trace of c is 1)")
        pimg, ppre = pivots[top]
        c, x = c ^ pimg, x ^ ppre
    return x


@functools.cache
def cantor_basis(m: int = MAX_LOG) -> np.ndarray:
    """v[0] = 1 and v[i]^2 + v[i] = v[i-1]: the first m elements of a Cantor basis of GF(2^64)."""
    vals = [1]
    for _ in range(1, m):
        vals.append(_solve_artin_schreier(vals[-1]))
    assert all(0 < v < (1 << 64) for v in vals) and GF64_POLY >> 64 == 1
    return np.array(vals, dtype=np.uint64)


@numba.njit(cache=True)
def _twiddles(v: np.ndarray, j: int, k0: int, count: int, out: np.ndarray) -> None:
    """out[i] = gamma_j(k0 + i): the XOR of v[j-1-t] over the set bits t of k (level j >= 1)."""
    for i in range(count):
        k = k0 + i
        g = np.uint64(0)
        t = 0
        while k:
            if k & 1:
                g ^= v[j - 1 - t]
            k >>= 1
            t += 1
        out[i] = g


@numba.njit(cache=True)
def _twiddle_table(v: np.ndarray, j: int, size: int) -> np.ndarray:
    """gamma_j(k) for k < size, built by doubling (gamma is linear in the bits of k)."""
    tab = np.zeros(size, dtype=np.uint64)
    h = 1
    t = 0
    while h < size:
        b = v[j - 1 - t]
        for i in range(h):
            tab[h + i] = tab[i] ^ b
        h <<= 1
        t += 1
    return tab


@numba.njit(cache=True)
def _taylor_pass(f: np.ndarray, lo: int, hi: int, s: int) -> None:
    # one step of the Taylor expansion at x^2 + x on every block of size s in [lo, hi):
    # with quarters Q1..Q4: Q3 ^= Q4, then Q2 ^= Q3
    q = s >> 2
    for b in range(lo, hi, s):
        for i in range(b + 2 * q, b + 3 * q):
            f[i] ^= f[i + q]
        for i in range(b + q, b + 2 * q):
            f[i] ^= f[i + q]


@numba.njit(cache=True)
def _taylor_unpass(f: np.ndarray, lo: int, hi: int, s: int) -> None:
    q = s >> 2
    for b in range(lo, hi, s):
        for i in range(b + q, b + 2 * q):
            f[i] ^= f[i + q]
        for i in range(b + 2 * q, b + 3 * q):
            f[i] ^= f[i + q]


@numba.njit(cache=True)
def _taylor(f: np.ndarray, lo: int, size: int) -> None:
    """Taylor expansion at x^2 + x of the block [lo, lo+size), in place, result interleaved
    (c_0, d_0, c_1, d_1, ...) meaning f = sum_i (c_i + d_i x)(x^2 + x)^i."""
    s = size
    cb = 1 << CACHE_LOG
    while s >= 4 and s > cb:
        _taylor_pass(f, lo, lo + size, s)
        s >>= 1
    for c in range(lo, lo + size, max(s, 1)):
        t = s
        while t >= 4:
            _taylor_pass(f, c, c + s, t)
            t >>= 1


@numba.njit(cache=True)
def _untaylor(f: np.ndarray, lo: int, size: int) -> None:
    cb = 1 << CACHE_LOG
    s0 = min(size, cb)
    for c in range(lo, lo + size, s0):
        t = 4
        while t <= s0:
            _taylor_unpass(f, c, c + s0, t)
            t <<= 1
    s = s0 << 1
    while s <= size:
        _taylor_unpass(f, lo, lo + size, s)
        s <<= 1


@numba.njit(cache=True)
def _deinterleave(f: np.ndarray, lo: int, size: int, tmp: np.ndarray) -> None:
    half = size >> 1
    for i in range(half):
        tmp[i] = f[lo + 2 * i + 1]
        f[lo + i] = f[lo + 2 * i]
    for i in range(half):
        f[lo + half + i] = tmp[i]


@numba.njit(cache=True)
def _interleave(f: np.ndarray, lo: int, size: int, tmp: np.ndarray) -> None:
    half = size >> 1
    for i in range(half):
        tmp[i] = f[lo + half + i]
    for i in range(half - 1, -1, -1):
        f[lo + 2 * i] = f[lo + i]
        f[lo + 2 * i + 1] = tmp[i]


@numba.njit(cache=True)
def _butterflies(f: np.ndarray, lo: int, hi: int, j: int, tw: np.ndarray, inverse: bool) -> None:
    """Level-j butterflies on the blocks of size 2^j in [lo, hi); tw[k] = gamma_j(k)."""
    half = 1 << (j - 1)
    for b in range(lo, hi, 2 * half):
        for k in range(half):
            u = f[b + k]
            v = f[b + half + k]
            if inverse:
                v ^= u
                f[b + half + k] = v
                f[b + k] = u ^ gf64_mul(tw[k], v)
            else:
                w = u ^ gf64_mul(tw[k], v)
                f[b + k] = w
                f[b + half + k] = w ^ v


@numba.njit(cache=True)
def _big_butterflies(f: np.ndarray, j: int, v: np.ndarray, inverse: bool) -> None:
    # levels above the cache block: twiddles are produced one cache block at a time
    half = 1 << (j - 1)
    cb = 1 << CACHE_LOG
    lowtab = _twiddle_table(v, j, cb)
    tw = np.empty(cb, dtype=np.uint64)
    hi_tw = np.empty(1, dtype=np.uint64)
    n = f.size
    for k0 in range(0, half, cb):
        _twiddles(v, j, k0, 1, hi_tw)  # gamma(k0) (low bits of k0 are zero)
        for i in range(cb):
            tw[i] = lowtab[i] ^ hi_tw[0]
        for b in range(0, n, 2 * half):
            for k in range(cb):
                u = f[b + k0 + k]
                w2 = f[b + half + k0 + k]
                if inverse:
                    w2 ^= u
                    f[b + half + k0 + k] = w2
                    f[b + k0 + k] = u ^ gf64_mul(tw[k], w2)
                else:
                    w = u ^ gf64_mul(tw[k], w2)
                    f[b + k0 + k] = w
                    f[b + half + k0 + k] = w ^ w2


@numba.njit(cache=True)
def _log2(n: int) -> int:
    m = 0
    while (1 << (m + 1)) <= n:
        m += 1
    return m


@numba.njit(cache=True)
def fft_forward(f: np.ndarray, v: np.ndarray) -> None:
    """In place: f (2^m coefficients, low degree first) -> its values at the subspace points
    P(k) = sum_{i=1..m} bit_{i-1}(k) * v[m-i] (v = Cantor basis, v[0] = 1)."""
    n = f.size
    m = _log2(n)
    c = min(m, CACHE_LOG)
    tmp = np.empty(max(n >> 1, 1), dtype=np.uint64)
    for j in range(m, c, -1):
        for lo in range(0, n, 1 << j):
            _taylor(f, lo, 1 << j)
            _deinterleave(f, lo, 1 << j, tmp)
    tabs = [_twiddle_table(v, j, 1 << (j - 1)) for j in range(1, c + 1)]
    for lo in range(0, n, 1 << c):
        for j in range(c, 0, -1):
            for b in range(lo, lo + (1 << c), 1 << j):
                _taylor(f, b, 1 << j)
                _deinterleave(f, b, 1 << j, tmp)
        for j in range(1, c + 1):
            _butterflies(f, lo, lo + (1 << c), j, tabs[j - 1], False)
    for j in range(c + 1, m + 1):
        _big_butterflies(f, j, v, False)


@numba.njit(cache=True)
def fft_inverse(f: np.ndarray, v: np.ndarray) -> None:
    """Exact inverse of :func:`fft_forward` (interpolation), in place."""
    n = f.size
    m = _log2(n)
    c = min(m, CACHE_LOG)
    tmp = np.empty(max(n >> 1, 1), dtype=np.uint64)
    for j in range(m, c, -1):
        _big_butterflies(f, j, v, True)
    tabs = [_twiddle_table(v, j, 1 << (j - 1)) for j in range(1, c + 1)]
    for lo in range(0, n, 1 << c):
        for j in range(c, 0, -1):
            _butterflies(f, lo, lo + (1 << c), j, tabs[j - 1], True)
        for j in range(1, c + 1):
            for b in range(lo, lo + (1 << c), 1 << j):
                _interleave(f, b, 1 << j, tmp)
                _untaylor(f, b, 1 << j)
    for j in range(c + 1, m + 1):
        for lo in range(0, n, 1 << j):
            _interleave(f, lo, 1 << j, tmp)
            _untaylor(f, lo, 1 << j)


@numba.njit(cache=True)
def _pointwise(a: np.ndarray, b: np.ndarray) -> None:
    for i in range(a.size):
        a[i] = gf64_mul(a[i], b[i])


@numba.njit(cache=True)
def _fold_chunks(c: np.ndarray, out32: np.ndarray) -> None:
    # coefficient k (< 2^63) sits at bit offset 32 k: XOR its halves into 32-bit words k, k+1
    mask = np.uint64(0xFFFFFFFF)
    for k in range(out32.size):
        w = np.uint64(0)
        if k < c.size:
            w ^= c[k] & mask
        if 0 < k <= c.size:
            w ^= c[k - 1] >> np.uint64(32)
        out32[k] = np.uint32(w)


def _chunks(packed: np.ndarray, n_chunks: int, size: int) -> np.ndarray:
    """Packed little-endian bytes -> uint64 array of 32-bit chunks, zero-padded to `size`."""
    buf = np.zeros(4 * n_chunks, dtype=np.uint8)
    buf[: packed.size] = packed
    out = np.zeros(size, dtype=np.uint64)
    out[:n_chunks] = buf.view("<u4")
    return out


def gf2x_mul(a: np.ndarray, a_bits: int, b: np.ndarray, b_bits: int) -> np.ndarray:
    """Product of two GF(2)[x] polynomials given as packed little-endian bits (bit i = coefficient
    of x^i). Returns the product packed the same way, (a_bits + b_bits - 1 + 7) // 8 bytes."""
    if a_bits <= 0 or b_bits <= 0:
        raise ValueError("gf2x_mul needs two non-empty polynomials")
    na = (a_bits + 31) // 32
    nb = (b_bits + 31) // 32
    m = max(1, (na + nb - 1 - 1).bit_length())  # 2^m >= na + nb - 1 chunk coefficients
    if m > MAX_LOG:
        raise ValueError(f"product of {a_bits} x {b_bits} bits is too large")
    v = cantor_basis()
    fa = _chunks(np.asarray(a, dtype=np.uint8), na, 1 << m)
    fb = _chunks(np.asarray(b, dtype=np.uint8), nb, 1 << m)
    fft_forward(fa, v)
    fft_forward(fb, v)
    _pointwise(fa, fb)
    del fb
    fft_inverse(fa, v)
    out32 = np.zeros(na + nb, dtype=np.uint32)
    _fold_chunks(fa[: na + nb - 1], out32)
    n_out = a_bits + b_bits - 1
    return out32.view(np.uint8)[: (n_out + 7) // 8].copy()
