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

Memory layout: levels whose sub-problems are larger than a cache block (2^CACHE_LOG words) split
each block into its two halves (Taylor expansion, deinterleave) and are visited depth first so that
sub-problems stay in cache; their long-distance Taylor passes run on a few columns at a time
gathered into a cache-sized buffer. Each cache block then runs every remaining level in place,
its sub-problems interleaved with a stride, so its outputs come out in bit-reversed order; the
levels above it use the matching twiddles. Forward and inverse agree on this fixed order, which is
all a product needs.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from postproc.amplify.clmul import GF64_POLY, gf64_mul, gf64_mul_int

CACHE_LOG = 15  # 32768 words = 256 KiB per block (fits L2)
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


@numba.njit(cache=True, inline="always")
def _xor_run(f: np.ndarray, dst: int, src: int, count: int) -> None:
    # f[dst:dst+count] ^= f[src:src+count] for non-overlapping runs; through two views so that
    # LLVM sees two distinct runs and vectorises the loop
    a = f[dst : dst + count]
    b = f[src : src + count]
    for i in range(count):
        a[i] ^= b[i]


@numba.njit(cache=True)
def _taylor_pass(f: np.ndarray, lo: int, hi: int, s: int) -> None:
    # one step of the Taylor expansion at x^2 + x on every block of size s in [lo, hi):
    # with quarters Q1..Q4: Q3 ^= Q4, then Q2 ^= Q3
    q = s >> 2
    for b in range(lo, hi, s):
        _xor_run(f, b + 2 * q, b + 3 * q, q)
        _xor_run(f, b + q, b + 2 * q, q)


@numba.njit(cache=True)
def _taylor_unpass(f: np.ndarray, lo: int, hi: int, s: int) -> None:
    q = s >> 2
    for b in range(lo, hi, s):
        _xor_run(f, b + q, b + 2 * q, q)
        _xor_run(f, b + 2 * q, b + 3 * q, q)


@numba.njit(cache=True)
def _taylor_16(f: np.ndarray, lo: int, hi: int, inverse: bool) -> None:
    """The passes s = 16, 8, 4 (runs of 4, 2, 1 words) on every 16-word group of [lo, hi),
    unrolled: too short to vectorise, they otherwise cost more than all longer passes."""
    for b in range(lo, hi, 16):
        g = f[b : b + 16]
        if not inverse:
            for i in range(8, 12):  # s = 16
                g[i] ^= g[i + 4]
            for i in range(4, 8):
                g[i] ^= g[i + 4]
            for h in (0, 8):  # s = 8
                g[h + 4] ^= g[h + 6]
                g[h + 5] ^= g[h + 7]
                g[h + 2] ^= g[h + 4]
                g[h + 3] ^= g[h + 5]
            for h in (0, 4, 8, 12):  # s = 4
                g[h + 2] ^= g[h + 3]
                g[h + 1] ^= g[h + 2]
        else:
            for h in (0, 4, 8, 12):
                g[h + 1] ^= g[h + 2]
                g[h + 2] ^= g[h + 3]
            for h in (0, 8):
                g[h + 2] ^= g[h + 4]
                g[h + 3] ^= g[h + 5]
                g[h + 4] ^= g[h + 6]
                g[h + 5] ^= g[h + 7]
            for i in range(4, 8):
                g[i] ^= g[i + 4]
            for i in range(8, 12):
                g[i] ^= g[i + 4]


@numba.njit(cache=True)
def _big_passes(f: np.ndarray, lo: int, size: int, inverse: bool) -> None:
    """The Taylor passes of block sizes s > 2^CACHE_LOG on the block [lo, lo + size).

    Such a pass moves data by s/4, a multiple of P = 2^CACHE_LOG / 2, so it never mixes
    positions that differ mod P. The block is therefore worked on as a (size / P) x P matrix, a
    few columns at a time gathered into a cache-sized buffer: two sweeps over memory instead of
    one per pass."""
    cb = 1 << CACHE_LOG
    if size <= cb:
        return
    P = cb >> 1
    rows = size // P
    W = max(1, min(P, cb // rows))
    buf = np.empty(rows * W, dtype=np.uint64)
    n_pass = 0
    s = size
    while s > cb:
        n_pass += 1
        s >>= 1
    for c0 in range(0, P, W):
        for r in range(rows):
            buf[r * W : (r + 1) * W] = f[lo + r * P + c0 : lo + r * P + c0 + W]
        for k in range(n_pass):
            s = (cb << 1) << k if inverse else size >> k
            q = (s >> 2) // P  # quarter of a block, in rows
            for b in range(0, rows, s // P):
                if inverse:
                    _xor_run(buf, (b + q) * W, (b + 2 * q) * W, q * W)
                    _xor_run(buf, (b + 2 * q) * W, (b + 3 * q) * W, q * W)
                else:
                    _xor_run(buf, (b + 2 * q) * W, (b + 3 * q) * W, q * W)
                    _xor_run(buf, (b + q) * W, (b + 2 * q) * W, q * W)
        for r in range(rows):
            f[lo + r * P + c0 : lo + r * P + c0 + W] = buf[r * W : (r + 1) * W]


@numba.njit(cache=True)
def _taylor(f: np.ndarray, lo: int, size: int) -> None:
    """Taylor expansion at x^2 + x of the block [lo, lo+size), in place, result interleaved
    (c_0, d_0, c_1, d_1, ...) meaning f = sum_i (c_i + d_i x)(x^2 + x)^i."""
    cb = 1 << CACHE_LOG
    _big_passes(f, lo, size, False)
    s = min(size, cb)
    for c in range(lo, lo + size, s):
        t = s
        while t >= 4 and (t > 16 or s < 16):
            _taylor_pass(f, c, c + s, t)
            t >>= 1
        if s >= 16:
            _taylor_16(f, c, c + s, False)


@numba.njit(cache=True)
def _untaylor(f: np.ndarray, lo: int, size: int) -> None:
    cb = 1 << CACHE_LOG
    s0 = min(size, cb)
    for c in range(lo, lo + size, s0):
        t = 4
        if s0 >= 16:
            _taylor_16(f, c, c + s0, True)
            t = 32
        while t <= s0:
            _taylor_unpass(f, c, c + s0, t)
            t <<= 1
    _big_passes(f, lo, size, True)


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
def _log2(n: int) -> int:
    m = 0
    while (1 << (m + 1)) <= n:
        m += 1
    return m


@numba.njit(cache=True)
def _bitrev(k: int, bits: int) -> int:
    r = 0
    for _ in range(bits):
        r = (r << 1) | (k & 1)
        k >>= 1
    return r


@numba.njit(cache=True)
def _block_twiddles(v: np.ndarray, c: int) -> np.ndarray:
    """Twiddles of the in-block levels j = 1..c, level j at [2^(j-1) - 1, 2^j - 1):
    entry p is gamma_j(bitrev_{j-1}(p)) (the block keeps its outputs in bit-reversed order)."""
    out = np.zeros(max(1, (1 << c) - 1), dtype=np.uint64)
    for j in range(1, c + 1):
        half = 1 << (j - 1)
        tab = _twiddle_table(v, j, half)
        for p in range(half):
            out[half - 1 + p] = tab[_bitrev(p, j - 1)]
    return out


@numba.njit(cache=True)
def _block_forward(f: np.ndarray, lo: int, c: int, twr: np.ndarray) -> None:
    # FFT of the 2^c block [lo, lo + 2^c) without moving data: at level j the 2^(c-j)
    # sub-problems are interleaved with stride S = 2^(c-j), so every Taylor step is an XOR of
    # contiguous runs and the outputs end up in bit-reversed order.
    size = 1 << c
    for j in range(c, 0, -1):
        S = 1 << (c - j)
        t = 1 << j
        while t >= 4 and (S > 1 or t > 16 or c < 4):
            qS = (t >> 2) * S
            for b in range(lo, lo + size, t * S):
                _xor_run(f, b + 2 * qS, b + 3 * qS, qS)
                _xor_run(f, b + qS, b + 2 * qS, qS)
            t >>= 1
        if S == 1 and c >= 4:
            _taylor_16(f, lo, lo + size, False)
    for j in range(1, c + 1):
        S = 1 << (c - j)
        half = 1 << (j - 1)
        for p in range(half):
            g = twr[half - 1 + p]
            base = lo + 2 * S * p
            if g == 0:
                _xor_run(f, base + S, base, S)
            else:
                for r in range(base, base + S):
                    w = f[r] ^ gf64_mul(g, f[r + S])
                    f[r + S] ^= w
                    f[r] = w


@numba.njit(cache=True)
def _block_inverse(f: np.ndarray, lo: int, c: int, twr: np.ndarray) -> None:
    size = 1 << c
    for j in range(c, 0, -1):
        S = 1 << (c - j)
        half = 1 << (j - 1)
        for p in range(half):
            g = twr[half - 1 + p]
            base = lo + 2 * S * p
            for r in range(base, base + S):
                vv = f[r + S] ^ f[r]
                f[r + S] = vv
                if g != 0:
                    f[r] ^= gf64_mul(g, vv)
    for j in range(1, c + 1):
        S = 1 << (c - j)
        t = 4
        if S == 1 and c >= 4:
            _taylor_16(f, lo, lo + size, True)
            t = 32
        while t <= (1 << j):
            qS = (t >> 2) * S
            for b in range(lo, lo + size, t * S):
                _xor_run(f, b + qS, b + 2 * qS, qS)
                _xor_run(f, b + 2 * qS, b + 3 * qS, qS)
            t <<= 1


@numba.njit(cache=True, nogil=True)
def _big_butterflies_block(f: np.ndarray, lo: int, j: int, v: np.ndarray, inverse: bool) -> None:
    """Level-j butterflies (j > CACHE_LOG) on the block [lo, lo + 2^j). Position p of a half
    holds natural index k = (p with its low CACHE_LOG bits reversed), since every cache block
    keeps its outputs bit-reversed. gamma_j is linear in k: twiddles are a table over the low
    bits XOR the value of the high bits, one cache block at a time."""
    half = 1 << (j - 1)
    cb = 1 << CACHE_LOG
    natural = _twiddle_table(v, j, cb)
    lowtab = np.empty(cb, dtype=np.uint64)
    for p in range(cb):
        lowtab[p] = natural[_bitrev(p, CACHE_LOG)]
    hi_tw = np.empty(1, dtype=np.uint64)
    for k0 in range(0, half, cb):
        _twiddles(v, j, k0, 1, hi_tw)
        h = hi_tw[0]
        a = lo + k0
        b = lo + half + k0
        if inverse:
            for k in range(cb):
                vv = f[b + k] ^ f[a + k]
                f[b + k] = vv
                f[a + k] ^= gf64_mul(lowtab[k] ^ h, vv)
        else:
            for k in range(cb):
                w = f[a + k] ^ gf64_mul(lowtab[k] ^ h, f[b + k])
                f[b + k] ^= w
                f[a + k] = w


@numba.njit(cache=True, nogil=True)
def fft_forward(f: np.ndarray, v: np.ndarray) -> None:
    """In place: f (2^m coefficients, low degree first) -> its values at the 2^m points of the
    subspace spanned by v[0..m-1] (v = Cantor basis, v[0] = 1), in a fixed order that
    :func:`fft_inverse` undoes. Levels above the cache block deinterleave their halves (depth
    first, so that sub-problems stay in cache); each cache block then runs in place."""
    n = f.size
    m = _log2(n)
    c = min(m, CACHE_LOG)
    twr = _block_twiddles(v, c)
    tmp = np.empty(max(n >> 1, 1), dtype=np.uint64)
    for t in range(1 << (m - c)):
        for j in range(m, c, -1):  # pre-order: Taylor expansion and split of each big block
            span = 1 << (j - c)
            if t % span == 0:
                _taylor(f, t << c, 1 << j)
                _deinterleave(f, t << c, 1 << j, tmp)
        _block_forward(f, t << c, c, twr)
        for j in range(c + 1, m + 1):  # post-order: combine the two halves
            span = 1 << (j - c)
            if (t + 1) % span == 0:
                _big_butterflies_block(f, (t + 1 - span) << c, j, v, False)


@numba.njit(cache=True, nogil=True)
def fft_inverse(f: np.ndarray, v: np.ndarray) -> None:
    """Exact inverse of :func:`fft_forward` (interpolation), in place."""
    n = f.size
    m = _log2(n)
    c = min(m, CACHE_LOG)
    twr = _block_twiddles(v, c)
    tmp = np.empty(max(n >> 1, 1), dtype=np.uint64)
    for t in range(1 << (m - c)):
        for j in range(m, c, -1):
            span = 1 << (j - c)
            if t % span == 0:
                _big_butterflies_block(f, t << c, j, v, True)
        _block_inverse(f, t << c, c, twr)
        for j in range(c + 1, m + 1):
            span = 1 << (j - c)
            if (t + 1) % span == 0:
                lo = (t + 1 - span) << c
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


def _inverse_two_threads(f: np.ndarray, v: np.ndarray) -> None:
    """fft_inverse with its two half-size sub-problems on two threads: after the top level's
    butterflies each half is an independent inverse transform of size 2^(m-1) (the twiddles of a
    level do not depend on m), then the top level's interleave and Taylor steps finish it."""
    n = f.size
    half = n >> 1
    _big_butterflies_block(f, 0, _log2(n), v, True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for job in [pool.submit(fft_inverse, f[:half], v), pool.submit(fft_inverse, f[half:], v)]:
            job.result()
    _finish_inverse_top(f)


@numba.njit(cache=True, nogil=True)
def _finish_inverse_top(f: np.ndarray) -> None:
    tmp = np.empty(f.size >> 1, dtype=np.uint64)
    _interleave(f, 0, f.size, tmp)
    _untaylor(f, 0, f.size)


def gf2x_mul(
    a: np.ndarray, a_bits: int, b: np.ndarray, b_bits: int, *, threads: int = 2
) -> np.ndarray:
    """Product of two GF(2)[x] polynomials given as packed little-endian bits (bit i = coefficient
    of x^i). Returns the product packed the same way, (a_bits + b_bits - 1 + 7) // 8 bytes.
    With ``threads=2`` the two forward transforms run concurrently (the kernels release the
    GIL); the result does not depend on it."""
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
    if threads > 1 and m > CACHE_LOG:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for job in [pool.submit(fft_forward, fa, v), pool.submit(fft_forward, fb, v)]:
                job.result()
    else:
        fft_forward(fa, v)
        fft_forward(fb, v)
    _pointwise(fa, fb)
    del fb
    if threads > 1 and m > CACHE_LOG:
        _inverse_two_threads(fa, v)
    else:
        fft_inverse(fa, v)
    out32 = np.zeros(na + nb, dtype=np.uint32)
    _fold_chunks(fa[: na + nb - 1], out32)
    n_out = a_bits + b_bits - 1
    return out32.view(np.uint8)[: (n_out + 7) // 8].copy()
