"""Layered min-sum decoding of QC-LDPC codes towards a target syndrome (numba).

Two kernels share one schedule: a float32 normalised/offset min-sum (the production decoder) and a
fixed-point one (:func:`decode_layered_fixed`) that is the bit-exact reference of the Verilog
``ldpc_decoder``. Both decode a batch of frames per call, parallel over frames (``numba.prange``).

LLR convention: ``L = log P(bit = 0) / P(bit = 1)``; positive means 0. Hard decision: bit = 1 iff
``L < 0``. Decoding "towards a syndrome" ``s``: check ``c`` is satisfied when the XOR of its bits
equals ``s[c]``, so the sign of every check-to-bit message is also flipped by ``s[c]``.

Schedule (both kernels; see :func:`decode_layered_fixed` for the exact arithmetic)::

    L = channel LLR; R[e, r] = 0 for every block entry e and row r
    for it in 0 .. max_iter-1:
        for layer i in 0 .. mb-1:                     # block rows in order
            for r in 0 .. Z-1:                        # independent rows (parallel in hardware)
                entries e of layer i in increasing block column j (v_e = j*Z + (r + E[i,j]) % Z):
                    Q_e = L[v_e] - R[e, r]
                    track min1, min2 of |Q_e| (min1 index = first minimum), sign parity ^ s[i*Z+r]
                for the same entries: R[e, r] = sign * g(min2 if e is min1 index else min1)
                                      L[v_e] = Q_e + R[e, r]
        hard decision of L; if its syndrome equals s: stop (converged, iterations = it + 1)
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from postproc.reconcile.qc import QCCode


@numba.njit(cache=True, fastmath=True)
def _unsatisfied(ptr, col, sh, Z, L, synd, hard, acc, first_only=False) -> int:
    """Unsatisfied checks of the hard decisions of ``L`` (stops at the first one if asked)."""
    n = L.shape[0]
    for v in range(n):
        hard[v] = np.uint8(L[v] < 0)
    mb = ptr.shape[0] - 1
    bad = 0
    for i in range(mb):
        si = synd[i * Z : i * Z + Z]
        for r in range(Z):
            acc[r] = si[r]
        for e in range(ptr[i], ptr[i + 1]):
            base = col[e] * Z
            s = sh[e]
            # slice pairs indexed by the loop counter (computed indices become gathers)
            ha = hard[base + s : base + Z]
            hw = hard[base : base + s]
            aa = acc[: Z - s]
            aw = acc[Z - s :]
            for r in range(Z - s):
                aa[r] ^= ha[r]
            for r in range(s):
                aw[r] ^= hw[r]
        cnt = 0
        for r in range(Z):
            cnt += acc[r]
        bad += cnt
        if first_only and bad:
            return bad
    return bad


@numba.njit(cache=True)
def _hard(L, hard) -> None:
    for v in range(L.shape[0]):
        hard[v] = np.uint8(L[v] < 0)


@numba.njit(cache=True, fastmath=True)
def _check(ptr, col, sh, Z, L, synd, hard, acc) -> bool:
    return _unsatisfied(ptr, col, sh, Z, L, synd, hard, acc, True) == 0


@numba.njit(cache=True, fastmath=True)
def _meets_syndrome(ptr, col, sh, Z, L, synd, acc) -> bool:
    """Whether the hard decisions of float ``L`` meet the syndrome; signs are taken on the fly
    and the scan stops at the first layer with an unsatisfied check."""
    mb = ptr.shape[0] - 1
    for i in range(mb):
        si = synd[i * Z : i * Z + Z]
        for r in range(Z):
            acc[r] = si[r]
        for e in range(ptr[i], ptr[i + 1]):
            base = col[e] * Z
            s = sh[e]
            La = L[base + s : base + Z]
            Lw = L[base : base + s]
            aa = acc[: Z - s]
            aw = acc[Z - s :]
            for r in range(Z - s):
                aa[r] ^= np.uint8(La[r] < 0)
            for r in range(s):
                aw[r] ^= np.uint8(Lw[r] < 0)
        x = np.uint8(0)
        for r in range(Z):
            x |= acc[r]
        if x:
            return False
    return True


@numba.njit(cache=True, fastmath=True)
def _minsum_run(ptr, col, sh, Z, L, R, synd, max_iter, alpha, offset, stall, hard, trace):
    """Layered min-sum iterations on the posteriors ``L`` and messages ``R`` (both updated in
    place, so a later call continues where this one stopped); ``hard`` gets the decisions.

    Stopping: exact syndrome check after every iteration. Progress (for ``stall``): the number
    of check rows whose extrinsic sign parity (``par``, computed anyway) is odd, summed over the
    iteration; it costs nothing, unlike a second syndrome pass. ``trace[it]`` records it."""
    mb = ptr.shape[0] - 1
    dmax = 0
    for i in range(mb):
        dmax = max(dmax, ptr[i + 1] - ptr[i])
    Q = np.empty((dmax, Z), dtype=np.float32)
    mn1 = np.empty(Z, dtype=np.float32)
    mn2 = np.empty(Z, dtype=np.float32)
    g1 = np.empty(Z, dtype=np.float32)
    g2 = np.empty(Z, dtype=np.float32)
    par = np.empty(Z, dtype=np.int32)
    acc = np.empty(Z, dtype=np.uint8)
    big = np.float32(3.0e38)
    zero = np.float32(0.0)
    best = ptr[mb] * Z + 1
    best_it = 0
    for it in range(max_iter):
        bad = 0
        for i in range(mb):
            e0 = ptr[i]
            for r in range(Z):
                mn1[r] = big
                mn2[r] = big
                par[r] = synd[i * Z + r]
            for e in range(e0, ptr[i + 1]):
                k = e - e0
                v0 = col[e] * Z
                w = Z - sh[e]
                # Rotation as two slice pairs indexed by the loop counter only: computed indices
                # (s + r) get numba's negative-index wraparound and turn the loop into a gather.
                La = L[v0 + Z - w : v0 + Z]
                Lw = L[v0 : v0 + Z - w]
                Qa = Q[k, :w]
                Qw = Q[k, w:]
                Ra = R[e, :w]
                Rw = R[e, w:]
                for r in range(w):
                    Qa[r] = La[r] - Ra[r]
                for r in range(Z - w):
                    Qw[r] = Lw[r] - Rw[r]
                Qk = Q[k]
                # explicit selects instead of min()/max(): same values for the finite inputs here
                for r in range(Z):
                    q = Qk[r]
                    a = abs(q)
                    par[r] ^= np.int32(q < 0)
                    m1 = mn1[r]
                    m2 = mn2[r]
                    t = a if a > m1 else m1
                    mn2[r] = t if t < m2 else m2
                    mn1[r] = a if a < m1 else m1
            for r in range(Z):
                bad += par[r]
            for r in range(Z):
                # g() of both minima with the row parity folded into their sign
                x1 = alpha * mn1[r] - offset
                x2 = alpha * mn2[r] - offset
                x1 = x1 if x1 > zero else zero
                x2 = x2 if x2 > zero else zero
                g1[r] = -x1 if par[r] else x1
                g2[r] = -x2 if par[r] else x2
            for e in range(e0, ptr[i + 1]):
                k = e - e0
                v0 = col[e] * Z
                w = Z - sh[e]
                Qk = Q[k]
                Re = R[e]
                # The min1 entry is found by |Q| == min1 instead of a stored index: if another
                # entry also equals min1 then min2 == min1, so the message is the same.
                for r in range(Z):
                    q = Qk[r]
                    x1 = g1[r]  # unconditional loads keep the select vectorisable
                    x2 = g2[r]
                    m = x2 if abs(q) == mn1[r] else x1
                    rv = -m if q < 0 else m
                    Re[r] = rv
                    Qk[r] = q + rv
                La = L[v0 + Z - w : v0 + Z]
                Lw = L[v0 : v0 + Z - w]
                Qa = Q[k, :w]
                Qw = Q[k, w:]
                for r in range(w):
                    La[r] = Qa[r]
                for r in range(Z - w):
                    Lw[r] = Qw[r]
        if _meets_syndrome(ptr, col, sh, Z, L, synd, acc):
            _hard(L, hard)
            return it + 1, True
        if stall <= 0:
            continue
        if it < trace.shape[0]:
            trace[it] = bad
        if bad < best:
            best = bad
            best_it = it
        elif it - best_it >= stall:
            _hard(L, hard)
            return it + 1, False  # no progress for `stall` iterations: give up early
    _hard(L, hard)
    return max_iter, False


@numba.njit(cache=True, fastmath=True)
def _decode_float_one(ptr, col, sh, Z, llr, synd, max_iter, alpha, offset, stall, hard):
    L = llr.copy()
    R = np.zeros((ptr[ptr.shape[0] - 1], Z), dtype=np.float32)
    trace = np.zeros(0, dtype=np.int32)
    return _minsum_run(ptr, col, sh, Z, L, R, synd, max_iter, alpha, offset, stall, hard, trace)


@numba.njit(cache=True, parallel=True)
def _decode_warm_batch(
    ptr, col, sh, Z, L, R, synd, sel, max_iter, alpha, offset, stall, out, iters, ok, trace
):
    for j in prange(sel.shape[0]):
        f = sel[j]
        it, good = _minsum_run(
            ptr, col, sh, Z, L[f], R[f], synd[f], max_iter, alpha, offset, stall, out[j],
            trace[j],
        )
        iters[j] = it
        ok[j] = good


@numba.njit(cache=True, parallel=True)
def _decode_float_batch(
    ptr, col, sh, Z, llr, synd, max_iter, alpha, offset, stall, out, iters, ok
):
    for f in prange(llr.shape[0]):
        it, good = _decode_float_one(
            ptr, col, sh, Z, llr[f], synd[f], max_iter, alpha, offset, stall, out[f]
        )
        iters[f] = it
        ok[f] = good


@numba.njit(cache=True)
def _decode_fixed_one(
    ptr, col, sh, Z, llr, synd, max_iter, post_max, msg_max, norm_num, norm_shift, offset, hard
):
    mb = ptr.shape[0] - 1
    n_ent = ptr[mb]
    dmax = 0
    for i in range(mb):
        dmax = max(dmax, ptr[i + 1] - ptr[i])
    L = np.empty(llr.shape[0], dtype=np.int32)
    for v in range(llr.shape[0]):
        L[v] = min(max(llr[v], -post_max), post_max)
    R = np.zeros((n_ent, Z), dtype=np.int16)
    Q = np.empty((dmax, Z), dtype=np.int32)
    mn1 = np.empty(Z, dtype=np.int32)
    mn2 = np.empty(Z, dtype=np.int32)
    idx = np.empty(Z, dtype=np.int32)
    par = np.empty(Z, dtype=np.uint8)
    acc = np.empty(Z, dtype=np.uint8)
    for it in range(max_iter):
        for i in range(mb):
            e0 = ptr[i]
            for r in range(Z):
                mn1[r] = msg_max
                mn2[r] = msg_max
                idx[r] = 0
                par[r] = synd[i * Z + r]
            for e in range(e0, ptr[i + 1]):
                k = e - e0
                Lb = L[col[e] * Z : col[e] * Z + Z]
                s = sh[e]
                Qk = Q[k]
                Re = R[e]
                for r in range(Z - s):
                    Qk[r] = Lb[s + r] - Re[r]
                for r in range(Z - s, Z):
                    Qk[r] = Lb[r + s - Z] - Re[r]
                for r in range(Z):
                    q = min(max(Qk[r], -post_max), post_max)
                    Qk[r] = q
                    a = min(abs(q), msg_max)
                    par[r] ^= np.uint8(q < 0)
                    m1 = mn1[r]
                    mn2[r] = min(mn2[r], max(m1, a))
                    idx[r] = k if a < m1 else idx[r]
                    mn1[r] = min(m1, a)
            for r in range(Z):  # g() of both minima, once per row
                mn1[r] = max(((mn1[r] * norm_num) >> norm_shift) - offset, 0)
                mn2[r] = max(((mn2[r] * norm_num) >> norm_shift) - offset, 0)
            for e in range(e0, ptr[i + 1]):
                k = e - e0
                Lb = L[col[e] * Z : col[e] * Z + Z]
                s = sh[e]
                Qk = Q[k]
                Re = R[e]
                for r in range(Z):
                    q = Qk[r]
                    m = mn2[r] if idx[r] == k else mn1[r]
                    rv = -m if (par[r] ^ np.uint8(q < 0)) else m
                    Re[r] = rv
                    Qk[r] = min(max(q + rv, -post_max), post_max)
                for r in range(Z - s):
                    Lb[s + r] = Qk[r]
                for r in range(Z - s, Z):
                    Lb[r + s - Z] = Qk[r]
        if _check(ptr, col, sh, Z, L, synd, hard, acc):
            return it + 1, True
    return max_iter, False


@numba.njit(cache=True, parallel=True)
def _decode_fixed_batch(
    ptr, col, sh, Z, llr, synd, max_iter, post_max, msg_max, nnum, nshift, offset, out, iters, ok
):
    for f in prange(llr.shape[0]):
        it, good = _decode_fixed_one(
            ptr, col, sh, Z, llr[f], synd[f], max_iter, post_max, msg_max, nnum, nshift, offset,
            out[f],
        )
        iters[f] = it
        ok[f] = good


def _layers_of(base: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mb, _nb = base.shape
    ii, jj = np.nonzero(base >= 0)  # row-major: increasing j within each block row
    ptr = np.zeros(mb + 1, dtype=np.int64)
    np.add.at(ptr, ii + 1, 1)
    return np.cumsum(ptr), jj.astype(np.int64), base[ii, jj].astype(np.int64)


def _as_batch(x: np.ndarray, width: int, what: str, dtype) -> tuple[np.ndarray, bool]:
    a = np.asarray(x)
    single = a.ndim == 1
    a = np.ascontiguousarray(a.reshape(1, -1) if single else a, dtype=dtype)
    if a.shape[1] != width:
        raise ValueError(f"{what}: length {a.shape[1]} != {width}")
    return a, single


def decode_minsum(
    code: QCCode,
    llr: np.ndarray,
    syndrome: np.ndarray,
    *,
    max_iter: int = 60,
    alpha: float = 0.875,
    offset: float = 0.0,
    stall: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float32 layered normalised/offset min-sum, batch of frames, parallel over frames.

    ``llr`` float (frames x n), ``syndrome`` uint8 (frames x m). Message magnitude
    ``max(alpha*min - offset, 0)``. Returns (hard decisions uint8 frames x n, iterations int32,
    converged bool); a frame stops at the first iteration whose hard decision meets the syndrome.
    ``stall > 0`` also gives up on a frame whose progress measure (check rows with odd extrinsic
    sign parity, see :func:`_minsum_run`) has not reached a new minimum for ``stall`` iterations
    (saves the hopeless iterations of a blind round that will fail anyway).
    """
    ptr, col, sh = _layers_of(code.base)
    L, single = _as_batch(llr, code.n, "llr", np.float32)
    S, _ = _as_batch(syndrome, code.m, "syndrome", np.uint8)
    if S.shape[0] != L.shape[0]:
        raise ValueError(f"syndrome: {S.shape[0]} frames but llr has {L.shape[0]}")
    out = np.zeros(L.shape, dtype=np.uint8)
    iters = np.zeros(L.shape[0], dtype=np.int32)
    ok = np.zeros(L.shape[0], dtype=np.bool_)
    _decode_float_batch(
        ptr, col, sh, code.Z, L, S, int(max_iter), np.float32(alpha), np.float32(offset),
        int(stall), out, iters, ok,
    )
    if single:
        return out[0], iters[:1], ok[:1]
    return out, iters, ok


def warm_state_args(
    code: QCCode,
    post: np.ndarray,
    msgs: np.ndarray,
    syndrome: np.ndarray,
    frames: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checks a kept decoder state (shared by the min-sum and sum-product warm decoders) and
    returns (layer pointers, block columns, shifts, syndromes as a batch, selected frames)."""
    ptr, col, sh = _layers_of(code.base)
    F = post.shape[0]
    if post.dtype != np.float32 or not post.flags.c_contiguous or post.shape != (F, code.n):
        raise ValueError(f"post: need C-contiguous float32 (frames, {code.n}), got "
                         f"{post.dtype} {post.shape}")
    if (msgs.dtype != np.float32 or not msgs.flags.c_contiguous
            or msgs.shape != (F, int(ptr[-1]), code.Z)):
        raise ValueError(f"msgs: need C-contiguous float32 ({F}, {int(ptr[-1])}, {code.Z}), "
                         f"got {msgs.dtype} {msgs.shape}")
    S, _ = _as_batch(syndrome, code.m, "syndrome", np.uint8)
    if S.shape[0] != F:
        raise ValueError(f"syndrome: {S.shape[0]} frames but post has {F}")
    sel = np.arange(F) if frames is None else np.asarray(frames, dtype=np.int64)
    if sel.size and (sel.min() < 0 or sel.max() >= F):
        raise ValueError(f"frames: index out of range for {F} frames")
    return ptr, col, sh, S, sel


def minsum_messages(code: QCCode, frames: int) -> np.ndarray:
    """Zeroed check-to-bit messages for :func:`decode_minsum_warm` (and the sum-product
    ``decode_bp_warm``): float32 (frames x E x Z), ``E`` = nonzero blocks of the base matrix."""
    return np.zeros((frames, int((code.base >= 0).sum()), code.Z), dtype=np.float32)


def decode_minsum_warm(
    code: QCCode,
    post: np.ndarray,
    msgs: np.ndarray,
    syndrome: np.ndarray,
    *,
    max_iter: int = 60,
    alpha: float = 0.875,
    offset: float = 0.0,
    stall: int = 0,
    trace: np.ndarray | None = None,
    frames: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`decode_minsum` that continues from a previous state instead of starting afresh.

    ``post`` float32 (frames x n) posteriors (channel LLR + sum of incoming messages; the channel
    LLR itself to start) and ``msgs`` float32 from :func:`minsum_messages` are updated in place,
    so the next call (e.g. after a blind round revealed bits: add the change of the channel LLR
    to ``post``) picks up the messages where this one stopped. Cold start (``post`` = channel
    LLR, ``msgs`` = 0) gives exactly :func:`decode_minsum`. ``trace`` (frames x k int32, optional)
    receives the progress metric after each of the first k iterations (stall > 0; see
    :func:`_minsum_run`). ``frames`` (optional indices) decodes only those frames, in place in
    the full arrays (no copies of the messages). Returns (hard decisions, iterations of this
    call, converged) for the decoded frames, in the order of ``frames``."""
    ptr, col, sh, S, sel = warm_state_args(code, post, msgs, syndrome, frames)
    G = sel.size
    tr = np.zeros((G, 0), np.int32) if trace is None else trace
    out = np.zeros((G, code.n), dtype=np.uint8)
    iters = np.zeros(G, dtype=np.int32)
    ok = np.zeros(G, dtype=np.bool_)
    _decode_warm_batch(
        ptr, col, sh, code.Z, post, msgs, S, sel, int(max_iter), np.float32(alpha),
        np.float32(offset), int(stall), out, iters, ok, tr,
    )
    return out, iters, ok


def decode_layered_fixed(
    base: np.ndarray,
    Z: int,
    llr: np.ndarray,
    syndrome: np.ndarray,
    *,
    max_iter: int = 60,
    post_bits: int = 8,
    msg_bits: int = 6,
    norm_num: int = 7,
    norm_shift: int = 3,
    offset: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed-point layered min-sum: the bit-exact reference of the Verilog ``ldpc_decoder``.

    Inputs
        ``base`` int (mb x nb) exponent matrix and lifting ``Z`` (see :mod:`postproc.reconcile.qc`);
        ``llr`` integer channel LLRs, shape (n,) or (frames, n), already quantised (e.g. by
        :func:`quantize_llr`); ``syndrome`` uint8 0/1, shape (m,) or (frames, m).
    Widths
        ``PMAX = 2**(post_bits-1) - 1`` bounds the posterior ``L`` and ``Q``;
        ``MMAX = 2**(msg_bits-1) - 1`` bounds message magnitudes; saturation is symmetric
        (``sat(x) = min(max(x, -PMAX), PMAX)``), so ``-2**(post_bits-1)`` never occurs and every
        value fits a ``post_bits``-bit two's complement register (messages: ``msg_bits``).
    Arithmetic (all integer, exact)
        init: ``L[v] = sat(llr[v])``, ``R[e, r] = 0``.
        per layer i (block rows 0..mb-1 in order), per row r (rows are independent), entries e of
        the layer in increasing block column (``v = j*Z + (r + E[i,j]) % Z``):
          pass 1: ``Q_e = sat(L[v] - R[e, r])``; ``a_e = min(|Q_e|, MMAX)``;
          ``min1``/``min2`` = smallest/second smallest ``a_e`` (both start at MMAX), ``idx`` =
          first entry reaching ``min1`` (strict ``<`` update, so ties keep the earlier entry;
          ``idx = 0`` if all equal MMAX); ``par = s[i*Z + r] XOR (XOR of (Q_e < 0))``.
          pass 2: ``m = min2 if e == idx else min1``;
          ``g = max(((m * norm_num) >> norm_shift) - offset, 0)`` (floor shift of a non-negative);
          ``R[e, r] = -g if (par XOR (Q_e < 0)) else g``; ``L[v] = sat(Q_e + R[e, r])``.
        after every full iteration: ``x[v] = 1 if L[v] < 0 else 0``; if ``H x == s`` stop.
    Outputs
        (``x`` uint8 hard decisions, ``iterations`` int32 = index of the stopping iteration + 1 or
        ``max_iter``, ``converged`` bool), batch-shaped like the inputs (iterations/converged as
        length-1 arrays for a single frame).
    """
    if not (2 <= msg_bits <= post_bits <= 16):
        raise ValueError(f"need 2 <= msg_bits ({msg_bits}) <= post_bits ({post_bits}) <= 16")
    base = np.ascontiguousarray(base, dtype=np.int32)
    ptr, col, sh = _layers_of(base)
    n = base.shape[1] * Z
    L, single = _as_batch(llr, n, "llr", np.int32)
    S, _ = _as_batch(syndrome, base.shape[0] * Z, "syndrome", np.uint8)
    if S.shape[0] != L.shape[0]:
        raise ValueError(f"syndrome: {S.shape[0]} frames but llr has {L.shape[0]}")
    out = np.zeros(L.shape, dtype=np.uint8)
    iters = np.zeros(L.shape[0], dtype=np.int32)
    ok = np.zeros(L.shape[0], dtype=np.bool_)
    _decode_fixed_batch(
        ptr, col, sh, int(Z), L, S, int(max_iter), (1 << (post_bits - 1)) - 1,
        (1 << (msg_bits - 1)) - 1, int(norm_num), int(norm_shift), int(offset), out, iters, ok,
    )
    if single:
        return out[0], iters[:1], ok[:1]
    return out, iters, ok


def channel_llr(bits: np.ndarray, qber: float) -> np.ndarray:
    """Float LLRs of Bob's bits over a BSC(qber): ``(1 - 2 y) * log((1 - q) / q)`` (float32)."""
    q = min(max(float(qber), 1e-6), 0.5 - 1e-6)
    mag = np.float32(np.log((1.0 - q) / q))
    return np.where(np.asarray(bits) != 0, -mag, mag).astype(np.float32)


def quantize_llr(llr: np.ndarray, scale: float, post_bits: int = 8) -> np.ndarray:
    """Fixed-point channel LLRs: ``round(llr * scale)`` with halves away from zero, then symmetric
    saturation to ``±(2**(post_bits-1) - 1)`` (int32)."""
    x = np.asarray(llr, dtype=np.float64) * scale
    q = np.sign(x) * np.floor(np.abs(x) + 0.5)
    pmax = (1 << (post_bits - 1)) - 1
    return np.clip(q, -pmax, pmax).astype(np.int32)
