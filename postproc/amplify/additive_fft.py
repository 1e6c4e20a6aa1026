"""Exact GF(2)[x] multiplication by an additive FFT over GF(2^64) (Gao–Mateer, Cantor basis).

A binary polynomial is cut into 32-bit chunks; each chunk is an element of GF(2^64) (a polynomial
of degree < 32). The product of two chunks has degree <= 62 < 64, so multiplying the chunk
sequences as polynomials over GF(2^64) never reduces modulo the field polynomial: the coefficient
of X^k of the product is exactly the carry-less sum of the chunk products, and XOR-ing those 63-bit
coefficients back at bit offsets 32k gives the GF(2)[x] product. Everything is exact field
arithmetic: there is no rounding to prove.

The FFT evaluates a polynomial of degree < 2^m at the 2^m points of the subspace V_m spanned by a
Cantor basis v_0 = 1, S(v_{i+1}) = v_i with S(x) = x^2 + x (Gao & Mateer 2010, "Additive fast
Fourier transforms over finite fields"). Slot s of a transform holds the value at the point
sum of v_i over the set bits i of s.

* Small blocks use the radix-2 recursion: Taylor expansion at S(x), f(x) = g0(S(x)) + x g1(S(x)),
  two half-size FFTs on S(V_j) = V_(j-1), and the butterfly f(a) = g0(S(a)) + a g1(S(a)),
  f(a + 1) = f(a) + g1(S(a)), all in place (`_block_forward`).
* Larger ones take radix steps of t = 2^k (k a power of two, so that S^k(x) = x^t + x; Gao &
  Mateer section 3): a Taylor expansion at x^t + x writes f(x) = sum_(c<t) x^c g_c(x^t + x); laid
  out as rows of t words, g_c is column c. Since S^k(V_m) = V_(m-k), column FFTs of size 2^(m-k)
  give every g_c(b); row R then holds the coefficients of a polynomial of degree < t that is
  evaluated on the coset a_R + V_k, a_R = sum of v_(i+k) over the bits i of R (the coset is an
  offset XORed into every twiddle). Above 2^16 words the rows are 2^16 words (one core's L2);
  each row takes one more step of 2^8 in cache. Columns are transformed side by side (each
  coefficient a group of neighbouring words, "lanes"), and sub-rows are transposed into lanes too
  with a twiddle per lane, so every butterfly runs 4 lanes per VPCLMULQDQ (clmul.bfly4).
* A product runs both forward transforms, then, row by row while the row is in cache, the
  second one's last step, the pointwise product and the inverse's first step. The passes over
  memory and the rows are cut into pieces that both cores process (nogil kernels, thread pool).

The inverse runs every step backwards. Product = inverse(forward(A) * forward(B)) since
deg(AB) < 2^m.
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from postproc.amplify.clmul import GF64_POLY, bfly4, bfly4v, gf64_mul, gf64_mul_int, mul4

ROW_LOG = 16  # rows of 2^16 words (512 KiB, one core's L2) for the radix-2^16 step
COL_MAX_LOG = 15  # the column FFTs are in-cache blocks too
MAX_LOG = ROW_LOG + COL_MAX_LOG
TAYLOR_BLOCK_LOG = 20  # Taylor passes on blocks <= 8 MiB run block by block (L3), in parallel
COL_GROUP = 8  # columns gathered together in a row: one 64-byte cache line per row
TOP_COL_GROUP = 32  # the same for the top-level columns (rows 512 KiB apart: fewer, longer reads)


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
def cantor_basis(m: int = MAX_LOG + ROW_LOG) -> np.ndarray:
    """v[0] = 1 and v[i]^2 + v[i] = v[i-1]: the first m elements of a Cantor basis of GF(2^64)."""
    vals = [1]
    for _ in range(1, m):
        vals.append(_solve_artin_schreier(vals[-1]))
    assert all(0 < v < (1 << 64) for v in vals) and GF64_POLY >> 64 == 1
    return np.array(vals, dtype=np.uint64)


@numba.njit(cache=True)
def _log2(n: int) -> int:
    m = 0
    while (1 << (m + 1)) <= n:
        m += 1
    return m


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
def _bitrev(k: int, bits: int) -> int:
    r = 0
    for _ in range(bits):
        r = (r << 1) | (k & 1)
        k >>= 1
    return r


@numba.njit(cache=True)
def _block_twiddles(v: np.ndarray, c: int) -> np.ndarray:
    """Twiddles of the in-block levels j = 1..c, level j at [2^(j-1) - 1, 2^j - 1):
    entry p is gamma_j(bitrev_{j-1}(p)), the order in which the in-place layout visits pairs."""
    out = np.zeros(max(1, (1 << c) - 1), dtype=np.uint64)
    for j in range(1, c + 1):
        half = 1 << (j - 1)
        tab = _twiddle_table(v, j, half)
        for p in range(half):
            out[half - 1 + p] = tab[_bitrev(p, j - 1)]
    return out


@numba.njit(cache=True)
def _block_taylor(f: np.ndarray, lo: int, c: int, L: int, inverse: bool) -> None:
    # the Taylor steps of every level of the 2^c block at lo (coefficients of L words): at level
    # j the 2^(c-j) sub-problems are interleaved with stride S = 2^(c-j), so every step is an XOR
    # of contiguous runs; the inverse undoes them in reverse order
    size = (1 << c) * L
    if not inverse:
        for j in range(c, 0, -1):
            S = 1 << (c - j)
            t = 1 << j
            small = L == 1 and S == 1 and c >= 4
            while t >= 4 and (t > 16 or not small):
                qS = (t >> 2) * S * L
                for b in range(lo, lo + size, 4 * qS):
                    _xor_run(f, b + 2 * qS, b + 3 * qS, qS)
                    _xor_run(f, b + qS, b + 2 * qS, qS)
                t >>= 1
            if small:
                _taylor_16(f, lo, lo + size, False)
        return
    for j in range(1, c + 1):
        S = 1 << (c - j)
        t = 4
        if L == 1 and S == 1 and c >= 4:
            _taylor_16(f, lo, lo + size, True)
            t = 32
        while t <= (1 << j):
            qS = (t >> 2) * S * L
            for b in range(lo, lo + size, 4 * qS):
                _xor_run(f, b + qS, b + 2 * qS, qS)
                _xor_run(f, b + 2 * qS, b + 3 * qS, qS)
            t <<= 1


@numba.njit(cache=True)
def _block_forward(
    f: np.ndarray, lo: int, c: int, twr: np.ndarray, sh: np.ndarray, lanes: int = 1
) -> None:
    # FFT of the 2^c block at lo on the coset sh[c] + V_c, in place (radix 2, Taylor steps then
    # butterflies). Level j's sub-problems evaluate on sh[j] + V_j (sh[j] = S^(c-j)(sh[c]), zero
    # for the plain subspace), so sh[j] is XORed into each of its twiddles. Output slot s holds
    # the value at sh[c] + sum of v[i] over the set bits i of s. With lanes L > 1, every
    # coefficient is L consecutive words: L transforms (same points) side by side, so even the
    # last levels run 4 lanes per vector instruction.
    L = lanes
    _block_taylor(f, lo, c, L, False)
    for j in range(1, c + 1):
        SL = (1 << (c - j)) * L
        half = 1 << (j - 1)
        shj = sh[j]
        for p in range(half):
            g = twr[half - 1 + p] ^ shj
            base = lo + 2 * SL * p
            if g == 0:
                _xor_run(f, base + SL, base, SL)
            elif SL >= 4:
                for r in range(base, base + SL, 4):
                    bfly4(f, r, SL, g, False)
            else:
                for r in range(base, base + SL):
                    w = f[r] ^ gf64_mul(g, f[r + SL])
                    f[r + SL] ^= w
                    f[r] = w


@numba.njit(cache=True)
def _block_inverse(
    f: np.ndarray, lo: int, c: int, twr: np.ndarray, sh: np.ndarray, lanes: int = 1
) -> None:
    L = lanes
    for j in range(c, 0, -1):
        SL = (1 << (c - j)) * L
        half = 1 << (j - 1)
        shj = sh[j]
        for p in range(half):
            g = twr[half - 1 + p] ^ shj
            base = lo + 2 * SL * p
            if SL >= 4:
                for r in range(base, base + SL, 4):
                    bfly4(f, r, SL, g, True)
                continue
            for r in range(base, base + SL):
                vv = f[r + SL] ^ f[r]
                f[r + SL] = vv
                if g != 0:
                    f[r] ^= gf64_mul(g, vv)
    _block_taylor(f, lo, c, L, True)


@numba.njit(cache=True)
def _block_lanes_cosets(
    f: np.ndarray, c: int, twr: np.ndarray, shl: np.ndarray, L: int, inverse: bool
) -> None:
    """L transforms of 2^c coefficients side by side (lanes, L a multiple of 4), lane w on its
    own coset: level j's offset for lane w is shl[j * L + w]. Same steps as _block_forward."""
    if not inverse:
        _block_taylor(f, 0, c, L, False)
    for jj in range(1, c + 1):
        j = c + 1 - jj if inverse else jj
        SL = (1 << (c - j)) * L
        half = 1 << (j - 1)
        for p in range(half):
            g = twr[half - 1 + p]
            base = 2 * SL * p
            for r in range(base, base + SL, 4):
                bfly4v(f, r, SL, g, shl, j * L + (r - base) % L, inverse)
    if inverse:
        _block_taylor(f, 0, c, L, True)


@functools.cache
def _twiddles(c: int) -> np.ndarray:
    return _block_twiddles(cantor_basis(), c)


_WORKERS = max(1, (os.cpu_count() or 1) - 1)
_POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="pa-fft")


def _parallel(kernel, n: int, threads: int, *args) -> None:
    """kernel(*args, lo, hi) over [0, n) on `threads` threads (the caller and threads - 1 pool
    workers; the kernels release the GIL). The range is cut into 4 pieces per thread handed out
    as threads come free, so a thread the OS pauses on a shared machine stalls little; waiting
    threads sleep (no spinning)."""
    threads = max(1, min(int(threads), n, _WORKERS + 1))
    if threads == 1:
        kernel(*args, 0, n)
        return
    pieces = min(n, 4 * threads)
    bounds = [n * i // pieces for i in range(pieces + 1)]
    ticket = itertools.count()  # next() is atomic under the GIL

    def work() -> None:
        while (i := next(ticket)) < pieces:
            kernel(*args, bounds[i], bounds[i + 1])

    jobs = [_POOL.submit(work) for _ in range(threads - 1)]
    work()
    for job in jobs:
        job.result()


@numba.njit(cache=True, nogil=True)
def _xor_run_part(f: np.ndarray, dst: int, src: int, count: int, lo: int, hi: int) -> None:
    # pieces [lo, hi) of 16 of the run f[dst:dst+count] ^= f[src:src+count]
    step = (count + 15) // 16
    for i in range(lo, hi):
        a = i * step
        e = min(count, a + step)
        if a < e:
            _xor_run(f, dst + a, src + a, e - a)


@numba.njit(cache=True, inline="always")
def _taylor_t_step(f: np.ndarray, b: int, k: int, r: int, inverse: bool) -> None:
    # one step of the Taylor expansion at x^t + x (t = 2^k) on the block [b, b + t 2^(r+1)):
    # with f = f0 + x^(t h) (f1 + x^((t-1) h) f2), h = 2^r: f1 += f2, then f0 += x^h f1, leaving
    # g0 (low half) and g1 (high half) with f = g0 + (x^t + x)^h g1 (Gao & Mateer, section 3)
    h = 1 << r
    th = h << k
    if inverse:
        _xor_run(f, b + h, b + th, th - h)
        _xor_run(f, b + th, b + 2 * th - h, h)
    else:
        _xor_run(f, b + th, b + 2 * th - h, h)
        _xor_run(f, b + h, b + th, th - h)


@numba.njit(cache=True, nogil=True)
def _taylor_blocks(
    f: np.ndarray, k: int, r_top: int, blk: int, inverse: bool, q0: int, q1: int
) -> None:
    # steps r = r_top .. 0 (or back) on the blocks q0 <= q < q1 of `blk` words
    for q in range(q0, q1):
        lo = q * blk
        if inverse:
            for r in range(0, r_top + 1):
                for b in range(lo, lo + blk, 2 << (k + r)):
                    _taylor_t_step(f, b, k, r, True)
        else:
            for r in range(r_top, -1, -1):
                for b in range(lo, lo + blk, 2 << (k + r)):
                    _taylor_t_step(f, b, k, r, False)


def _taylor_big_step(f: np.ndarray, k: int, r: int, inverse: bool, threads: int) -> None:
    h = 1 << r
    th = h << k
    for b in range(0, f.size, 2 * th):
        runs = [(b + th, b + 2 * th - h, h), (b + h, b + th, th - h)]
        for dst, src, count in runs[::-1] if inverse else runs:
            _parallel(_xor_run_part, 16, threads, f, dst, src, count)


def _taylor_t(f: np.ndarray, k: int, inverse: bool, threads: int = 1) -> None:
    """Taylor expansion at x^(2^k) + x of the whole array (f.size > 2^k), or its inverse:
    afterwards f is the concatenation of the h_i (2^k words each), f = sum_i h_i (x^t + x)^i.
    Steps on blocks larger than 2^TAYLOR_BLOCK_LOG words sweep memory with both cores on each run;
    the smaller ones run block by block, blocks in parallel."""
    m = _log2(f.size)
    blk = min(f.size, max(1 << min(TAYLOR_BLOCK_LOG, m - 1), 2 << k))
    r_small = _log2(blk) - k - 1
    big = range(r_small + 1, m - k)
    n_blk = f.size // blk
    if inverse:
        _parallel(_taylor_blocks, n_blk, threads, f, k, r_small, blk, True)
        for r in big:
            _taylor_big_step(f, k, r, True, threads)
    else:
        for r in reversed(big):
            _taylor_big_step(f, k, r, False, threads)
        _parallel(_taylor_blocks, n_blk, threads, f, k, r_small, blk, False)


@numba.njit(cache=True, nogil=True)
def _columns(
    f: np.ndarray, k: int, twr: np.ndarray, inverse: bool, width: int, g0: int, g1: int
) -> None:
    """FFT (or inverse) of the column groups g0 <= g < g1 of f seen as rows of 2^k words: `width`
    neighbouring columns are copied out together (whole cache lines per row) and transformed side
    by side."""
    t = 1 << k
    rows = f.size >> k
    c = _log2(rows)
    zero = np.zeros(c + 1, dtype=np.uint64)
    for grp in range(g0, g1):
        c0 = grp * width
        buf = np.empty(width * rows, dtype=np.uint64)
        for i in range(rows):
            for w in range(width):  # explicit loop: a slice copy per row costs more
                buf[i * width + w] = f[i * t + c0 + w]
        if inverse:
            _block_inverse(buf, 0, c, twr, zero, width)
        else:
            _block_forward(buf, 0, c, twr, zero, width)
        for i in range(rows):
            for w in range(width):
                f[i * t + c0 + w] = buf[i * width + w]


@numba.njit(cache=True)
def _shifts(v: np.ndarray, q: int, c: int, out: np.ndarray) -> None:
    """out[j] = sum of v[i + j] over the set bits i of q (j = 1..c): the coset offsets of the
    levels of the block with index q (its points are a_q + V_c, S^c(a_q) = that of q)."""
    for j in range(1, c + 1):
        s = np.uint64(0)
        i = 0
        while (q >> i) > 0:
            if (q >> i) & 1:
                s ^= v[i + j]
            i += 1
        out[j] = s


@numba.njit(cache=True)
def _split(k: int) -> int:
    """Sub-row size (log) of the in-cache radix step of a 2^k block: the largest power of two
    <= k / 2 (a power of two, so that S^k2(x) = x^(2^k2) + x), or 0 below 2^8 words."""
    if k < 8:
        return 0
    k2 = 1
    while 2 * k2 <= k // 2:
        k2 *= 2
    return k2


@numba.njit(cache=True)
def _row(
    f: np.ndarray,
    lo: int,
    k: int,
    q: int,
    v: np.ndarray,
    twr: np.ndarray,
    twc: np.ndarray,
    inverse: bool,
) -> None:
    """FFT (or inverse) of the 2^k words at lo on the coset of block index q. Blocks of >= 2^8
    words take one more radix step in cache: Taylor at x^(2^k2) + x, the 2^k2 columns (2^(k-k2)
    long, twiddles twc) side by side in lanes, then the sub-rows of 2^k2 words (twiddles twr);
    for 2^16 words that halves the Taylor passes and vectorises the columns' last levels."""
    sh = np.zeros(k + 1, dtype=np.uint64)
    _shifts(v, q, k, sh)
    k2 = _split(k)
    if k2 == 0:
        if inverse:
            _block_inverse(f, lo, k, twr, sh, 1)
        else:
            _block_forward(f, lo, k, twr, sh, 1)
        return
    kc = k - k2
    n_rows = 1 << kc
    n_cols = 1 << k2
    sub = np.zeros(k2 + 1, dtype=np.uint64)
    shl = np.zeros((k2 + 1) * COL_GROUP, dtype=np.uint64)
    buf = np.empty(COL_GROUP * n_rows, dtype=np.uint64)
    bufr = np.empty(COL_GROUP * n_cols, dtype=np.uint64)
    if not inverse:
        for r in range(kc - 1, -1, -1):
            for b in range(lo, lo + (1 << k), 2 << (k2 + r)):
                _taylor_t_step(f, b, k2, r, False)
    for phase in range(2):
        if (phase == 0) != inverse:  # columns first forward, last inverse
            for c0 in range(0, n_cols, COL_GROUP):
                for i in range(n_rows):
                    at = lo + i * n_cols + c0
                    for w in range(COL_GROUP):
                        buf[i * COL_GROUP + w] = f[at + w]
                if inverse:
                    _block_inverse(buf, 0, kc, twc, sh, COL_GROUP)
                else:
                    _block_forward(buf, 0, kc, twc, sh, COL_GROUP)
                for i in range(n_rows):
                    at = lo + i * n_cols + c0
                    for w in range(COL_GROUP):
                        f[at + w] = buf[i * COL_GROUP + w]
        else:  # sub-rows, COL_GROUP at a time transposed into lanes, each on its coset
            for i0 in range(0, n_rows, COL_GROUP):
                for w in range(COL_GROUP):
                    _shifts(v, (q << kc) + i0 + w, k2, sub)
                    for j in range(1, k2 + 1):
                        shl[j * COL_GROUP + w] = sub[j]
                    src = lo + (i0 + w) * n_cols
                    for col in range(n_cols):
                        bufr[col * COL_GROUP + w] = f[src + col]
                _block_lanes_cosets(bufr, k2, twr, shl, COL_GROUP, inverse)
                for w in range(COL_GROUP):
                    dst = lo + (i0 + w) * n_cols
                    for col in range(n_cols):
                        f[dst + col] = bufr[col * COL_GROUP + w]
    if inverse:
        for r in range(kc):
            for b in range(lo, lo + (1 << k), 2 << (k2 + r)):
                _taylor_t_step(f, b, k2, r, True)


@numba.njit(cache=True, nogil=True)
def _rows(
    f: np.ndarray,
    k: int,
    v: np.ndarray,
    twr: np.ndarray,
    twc: np.ndarray,
    inverse: bool,
    r0: int,
    r1: int,
) -> None:
    """FFT (or inverse) of the rows r0 <= R < r1 of 2^k words, each on its coset a_R + V_k."""
    for R in range(r0, r1):
        _row(f, R << k, k, R, v, twr, twc, inverse)


def _row_twiddles(k: int) -> tuple[np.ndarray, np.ndarray]:
    k2 = _split(k)
    return (_twiddles(k2), _twiddles(k - k2)) if k2 else (_twiddles(k), _twiddles(1))


def _radix_log(m: int, row_log: int) -> int:
    return row_log if m > row_log else 0


def _outer(f: np.ndarray, k: int, inverse: bool, threads: int) -> None:
    # the radix-2^k step's passes over the whole array (Taylor at x^t + x, column FFTs)
    m = _log2(f.size)
    if m - k > COL_MAX_LOG:
        raise ValueError(f"transform of 2^{m} words is too large")
    width = min(TOP_COL_GROUP, 1 << k)
    if not inverse:
        _taylor_t(f, k, False, threads)
    _parallel(_columns, (1 << k) // width, threads, f, k, _twiddles(m - k), inverse, width)
    if inverse:
        _taylor_t(f, k, True, threads)


def fft_forward(
    f: np.ndarray, v: np.ndarray | None = None, *, row_log: int = ROW_LOG, threads: int = 1
) -> None:
    """In place: f (2^m coefficients, low degree first) -> its values at the 2^m points of V_m
    (slot s: the point sum of v[i] over the set bits i of s). ``row_log`` (a power of two) is the
    radix step used above 2^row_log words; tests use small ones."""
    v = cantor_basis() if v is None else v
    m = _log2(f.size)
    k = _radix_log(m, row_log)
    if not k:
        _row(f, 0, m, 0, v, *_row_twiddles(m), False)
        return
    _outer(f, k, False, threads)
    _parallel(_rows, f.size >> k, threads, f, k, v, *_row_twiddles(k), False)


def fft_inverse(
    f: np.ndarray, v: np.ndarray | None = None, *, row_log: int = ROW_LOG, threads: int = 1
) -> None:
    """Exact inverse of :func:`fft_forward` (interpolation), in place."""
    v = cantor_basis() if v is None else v
    m = _log2(f.size)
    k = _radix_log(m, row_log)
    if not k:
        _row(f, 0, m, 0, v, *_row_twiddles(m), True)
        return
    _parallel(_rows, f.size >> k, threads, f, k, v, *_row_twiddles(k), True)
    _outer(f, k, True, threads)


@numba.njit(cache=True, nogil=True)
def _rows_mul_inverse(
    fa: np.ndarray,
    fb: np.ndarray,
    k: int,
    v: np.ndarray,
    twr: np.ndarray,
    twc: np.ndarray,
    r0: int,
    r1: int,
) -> None:
    """Row by row while it is in cache: finish fb's forward transform, fa *= fb, and start fa's
    inverse (fa already forward transformed)."""
    for R in range(r0, r1):
        lo = R << k
        _row(fb, lo, k, R, v, twr, twc, False)
        for q in range(lo >> 2, (lo + (1 << k)) >> 2):
            mul4(fa, fb, 4 * q)
        _row(fa, lo, k, R, v, twr, twc, True)


def _fft_multiply(fa: np.ndarray, fb: np.ndarray, threads: int) -> None:
    """fa = inverse(forward(fa) * forward(fb)) (fb is overwritten)."""
    m = _log2(fa.size)
    k = _radix_log(m, ROW_LOG)
    fft_forward(fa, threads=threads)
    if not k:
        fft_forward(fb, threads=threads)
        _parallel(_pointwise, max(1, fa.size // 4), threads, fa, fb)
        fft_inverse(fa, threads=threads)
        return
    _outer(fb, k, False, threads)
    v = cantor_basis()
    _parallel(_rows_mul_inverse, fa.size >> k, threads, fa, fb, k, v, *_row_twiddles(k))
    _outer(fa, k, True, threads)


_BITREV8 = np.array([int(f"{b:08b}"[::-1], 2) for b in range(256)], dtype=np.uint64)


@numba.njit(cache=True, nogil=True)
def _load_chunks(packed: np.ndarray, n_bits: int, out: np.ndarray, i0: int, i1: int) -> None:
    """out[i] = bits [32 i, 32 i + 32) of the packed string (bits >= n_bits read as 0) for
    i0 <= i < i1."""
    n_chunks = (n_bits + 31) // 32
    nbytes = packed.size
    for i in range(i0, i1):
        w = np.uint64(0)
        if i < n_chunks:
            for b in range(4):
                p = 4 * i + b
                if p < nbytes:
                    w |= np.uint64(packed[p]) << np.uint64(8 * b)
            top = n_bits - 32 * i
            if top < 32:
                w &= (np.uint64(1) << np.uint64(top)) - np.uint64(1)
        out[i] = w


@numba.njit(cache=True, nogil=True)
def _load_chunks_reversed(
    packed: np.ndarray, n_bits: int, out: np.ndarray, rev8: np.ndarray, i0: int, i1: int
) -> None:
    """Like :func:`_load_chunks` for the bit-reversed string r'[i] = r[n_bits - 1 - i]."""
    n_chunks = (n_bits + 31) // 32
    nbytes = packed.size
    for i in range(i0, i1):
        w = np.uint64(0)
        if i < n_chunks:
            lo = n_bits - 32 * (i + 1)  # chunk i of r' is r[lo .. lo + 31] reversed
            first = lo >> 3 if lo >= 0 else 0
            win = np.uint64(0)
            for b in range(5):
                p = first + b
                if p < nbytes:
                    win |= np.uint64(packed[p]) << np.uint64(8 * b)
            if lo >= 0:
                win >>= np.uint64(lo & 7)
            else:
                win <<= np.uint64(-lo)  # positions below bit 0 of r read as 0
            win &= np.uint64(0xFFFFFFFF)
            for b in range(4):
                w |= rev8[(win >> np.uint64(8 * b)) & np.uint64(0xFF)] << np.uint64(24 - 8 * b)
        out[i] = w


@numba.njit(cache=True, nogil=True)
def _pointwise(a: np.ndarray, b: np.ndarray, q0: int, q1: int) -> None:
    # a *= b on the quads q0 <= q < q1 (words 4 q .. 4 q + 3)
    if a.size < 4:
        for i in range(a.size):
            a[i] = gf64_mul(a[i], b[i])
        return
    for q in range(q0, q1):
        mul4(a, b, 4 * q)


@numba.njit(cache=True, inline="always")
def _word32(c: np.ndarray, q: int) -> np.uint64:
    # 32-bit word q of the product: coefficient k (< 2^63) sits at bit offset 32 k
    w = np.uint64(0)
    if q < c.size:
        w ^= c[q] & np.uint64(0xFFFFFFFF)
    if 0 < q <= c.size:
        w ^= c[q - 1] >> np.uint64(32)
    return w


@numba.njit(cache=True, nogil=True)
def _fold_slice(c: np.ndarray, start: int, out32: np.ndarray, i0: int, i1: int) -> None:
    """out32[i] = bits [start + 32 i, start + 32 i + 32) of the product with coefficients c."""
    q0 = start >> 5
    s = np.uint64(start & 31)
    for i in range(i0, i1):
        lo = _word32(c, q0 + i)
        hi = _word32(c, q0 + i + 1)
        out32[i] = np.uint32(((lo >> s) | (hi << (np.uint64(32) - s))) & np.uint64(0xFFFFFFFF))


def _product_slice(
    a: np.ndarray,
    a_bits: int,
    b: np.ndarray,
    b_bits: int,
    b_reversed: bool,
    start: int,
    count: int,
    threads: int,
) -> np.ndarray:
    if a_bits <= 0 or b_bits <= 0:
        raise ValueError("gf2x_mul needs two non-empty polynomials")
    na = (a_bits + 31) // 32
    nb = (b_bits + 31) // 32
    m = max(1, (na + nb - 1 - 1).bit_length())  # 2^m >= na + nb - 1 chunk coefficients
    if m > MAX_LOG:
        raise ValueError(f"product of {a_bits} x {b_bits} bits is too large")
    size = 1 << m
    fa = np.empty(size, dtype=np.uint64)
    _parallel(_load_chunks, size, threads, np.ascontiguousarray(a, dtype=np.uint8), a_bits, fa)
    fb = np.empty(size, dtype=np.uint64)
    bb = np.ascontiguousarray(b, dtype=np.uint8)
    if b_reversed:
        _parallel(_load_chunks_reversed, size, threads, bb, b_bits, fb, _BITREV8)
    else:
        _parallel(_load_chunks, size, threads, bb, b_bits, fb)
    _fft_multiply(fa, fb, threads)
    del fb
    out32 = np.empty((count + 31) // 32, dtype=np.uint32)
    _parallel(_fold_slice, out32.size, threads, fa, start, out32)
    out = out32.view(np.uint8)[: (count + 7) // 8].copy()
    if count % 8:
        out[-1] &= (1 << (count % 8)) - 1
    return out


def gf2x_mul(
    a: np.ndarray, a_bits: int, b: np.ndarray, b_bits: int, *, threads: int = 2
) -> np.ndarray:
    """Product of two GF(2)[x] polynomials given as packed little-endian bits (bit i = coefficient
    of x^i; bits >= a_bits / b_bits are ignored). Returns the product packed the same way,
    (a_bits + b_bits - 1 + 7) // 8 bytes. ``threads`` only changes the speed."""
    return _product_slice(a, a_bits, b, b_bits, False, 0, a_bits + b_bits - 1, threads)


def reversed_product_slice(
    a: np.ndarray,
    a_bits: int,
    b: np.ndarray,
    b_bits: int,
    start: int,
    count: int,
    *,
    threads: int = 2,
) -> np.ndarray:
    """Bits [start, start + count) of a * reverse(b), where reverse(b) is b's b_bits bits in
    reverse order; packed little-endian, (count + 7) // 8 bytes."""
    if start < 0 or count < 1 or start + count > a_bits + b_bits - 1:
        raise ValueError(f"slice [{start}, {start + count}) outside the product")
    return _product_slice(a, a_bits, b, b_bits, True, start, count, threads)
