"""Layered sum-product (belief propagation) decoding of QC-LDPC codes towards a syndrome (numba).

Same schedule, LLR convention and syndrome handling as the layered min-sum of
:mod:`postproc.reconcile.decoder` (block rows in order, rows of a layer independent, early stop
after the first iteration whose hard decisions meet the syndrome), but with the exact check node

    R[e] = (-1)^s * 2 atanh( prod_{e' != e} tanh(Q[e'] / 2) ),

computed per row with prefix/suffix products of ``t = tanh(Q / 2)`` (float32; exp and log in
float64; no division, so a punctured bit with ``Q = 0`` is handled exactly). Why: min-sum's
check message does not shrink with the check degree, so at the degrees 30-100 of high-rate
codes it is over-confident and the codes' thresholds move far from capacity; sum-product is
what the ``bp32k`` family is shaped for. Clamping: ``|t| <= 1 - 2^-50`` before the inverse, so
messages stay within about +-35.4 and nothing becomes inf/NaN even with known bits at +-40.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from postproc.reconcile.decoder import (
    _as_batch,
    _hard,
    _meets_syndrome,
    minsum_messages,
    warm_state_args,
)
from postproc.reconcile.qc import QCCode

_T_MAX = 1.0 - 2.0**-50  # |tanh| cap before atanh: messages <= 2 atanh(_T_MAX) ~ 35.4
_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_SQRT2 = 1.4142135623730951
_MAGIC = 6755399441055744.0  # 1.5 * 2^52: x + _MAGIC holds round(x) in the low mantissa bits
_EXP_HI = np.int64(0x4330000000000000)  # bits of 2^52
_MANT = np.int64(0x000FFFFFFFFFFFFF)
_ONE = np.int64(0x3FF0000000000000)  # bits of 1.0

# exp and log below are polynomials plus exponent-bit arithmetic on int64 views of float64
# buffers, each step a separate loop over the Z rows: numba has no vector math library here
# (no SVML), so np.exp / np.log are scalar libm calls (~30 ns per edge measured); these loops
# vectorise (AVX2). Relative error of both < 1e-7.


# no reassociation here: it would fold the magic-number and exponent-bias constants away
@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _tanh_half(q, out, buf) -> None:
    """``out[r] = tanh(q[r] / 2)`` via ``e = exp(-|q|)``, ``t = (1 - e) / (1 + e)``;
    ``buf`` float64 scratch of the same length."""
    bi = buf.view(np.int64)
    for r in range(q.shape[0]):
        u = -abs(np.float64(q[r])) * _LOG2E
        u = u if u > -1000.0 else -1000.0
        k = np.floor(u)
        x = (u - k - 0.5) * _LN2  # 2^(u-k) = sqrt2 * e^x, |x| <= ln2/2
        p = 1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6 + x * (1.0 / 24 + x * (
            1.0 / 120 + x * (1.0 / 720 + x * (1.0 / 5040 + x * (1.0 / 40320))))))))
        out[r] = _SQRT2 * p
        buf[r] = k + (1023.0 + _MAGIC)
    for r in range(q.shape[0]):
        bi[r] = bi[r] << 52  # the biased exponent k + 1023 into place: buf = 2^k
    for r in range(q.shape[0]):
        e = out[r] * buf[r]
        t = (1.0 - e) / (1.0 + e)
        t = -t if q[r] < 0 else t
        out[r] = t if q[r] != 0 else 0.0  # exactly 0: no sign for a punctured bit


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _messages(Pk, suf, Tk, Qk, Re, buf, buf2) -> None:
    """Check-to-bit messages of one entry of a layer: ``y = Pk * suf`` (the product of the other
    entries' t), ``Re = sign(y) log((1 + |y|) / (1 - |y|))`` with ``|y|`` capped at ``_T_MAX``,
    ``Qk += Re`` (the new posterior); ``suf *= Tk`` for the next entry down. ``buf``, ``buf2``
    float64 scratch; ``Re`` holds ``y`` in between (its sign)."""
    tmax = _T_MAX
    bi = buf.view(np.int64)
    bi2 = buf2.view(np.int64)
    for r in range(Pk.shape[0]):
        y = Pk[r] * suf[r]
        suf[r] *= Tk[r]
        Re[r] = y
        a = np.float64(abs(y))
        a = a if a < tmax else tmax
        buf[r] = (1.0 + a) / (1.0 - a)  # >= 1, a normal double
    for r in range(Pk.shape[0]):
        b = bi[r]
        bi2[r] = (b >> 52) | _EXP_HI  # 2^52 + biased exponent
        bi[r] = (b & _MANT) | _ONE  # mantissa in [1, 2)
    for r in range(Pk.shape[0]):
        m = buf[r]
        s = (m - 1.0) / (m + 1.0)  # log m = 2 atanh s, 0 <= s < 1/3
        s2 = s * s
        lm = 2.0 * s * (1.0 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (
            1.0 / 9 + s2 * (1.0 / 11 + s2 * (1.0 / 13)))))))
        g = np.float32((buf2[r] - (4503599627370496.0 + 1023.0)) * _LN2 + lm)
        rv = -g if Re[r] < 0 else g
        Re[r] = rv
        Qk[r] += rv


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _bp_run(ptr, col, sh, Z, L, R, synd, max_iter, stall, hard):
    """Layered sum-product iterations on posteriors ``L`` and messages ``R`` (float32, updated in
    place so a later call continues). Progress for ``stall``: rows whose extrinsic sign product
    disagrees with the syndrome, summed over the iteration (free: the row product has it)."""
    mb = ptr.shape[0] - 1
    dmax = 0
    for i in range(mb):
        dmax = max(dmax, ptr[i + 1] - ptr[i])
    Q = np.empty((dmax, Z), dtype=np.float32)
    # tanh values and their products in float32: half the memory traffic of float64 (2x faster,
    # measured); exp/log are evaluated in float64. A float32 t rounds to 1 above |Q| ~ 17, so a
    # row whose other entries are all that sure sends the capped ~35.4 (BP's exact value is >= 17)
    T = np.empty((dmax, Z), dtype=np.float32)  # tanh(Q/2)
    P = np.empty((dmax, Z), dtype=np.float32)  # product of t over the entries before k
    suf = np.empty(Z, dtype=np.float32)
    buf = np.empty(Z, dtype=np.float64)
    buf2 = np.empty(Z, dtype=np.float64)
    sgn = np.empty(Z, dtype=np.float32)
    acc = np.empty(Z, dtype=np.uint8)
    best = ptr[mb] * Z + 1
    best_it = 0
    for it in range(max_iter):
        bad = 0
        for i in range(mb):
            e0 = ptr[i]
            d = ptr[i + 1] - e0
            for r in range(Z):
                suf[r] = 1.0
                sgn[r] = -1.0 if synd[i * Z + r] else 1.0
            for k in range(d):
                e = e0 + k
                v0 = col[e] * Z
                w = Z - sh[e]
                # rotation as two slice pairs indexed by the loop counter (see decoder.py)
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
                _tanh_half(Q[k], T[k], buf)
            # P[k] = product of t over entries < k; suf ends as the full row product
            for k in range(d):
                Tk = T[k]
                Pk = P[k]
                for r in range(Z):
                    Pk[r] = suf[r]
                    suf[r] *= Tk[r]
            for r in range(Z):
                bad += np.int64(suf[r] * sgn[r] < 0.0)
                suf[r] = sgn[r]
            for k in range(d - 1, -1, -1):
                e = e0 + k
                Qk = Q[k]
                Tk = T[k]
                Pk = P[k]
                _messages(Pk, suf, Tk, Qk, R[e], buf, buf2)
                v0 = col[e] * Z
                w = Z - sh[e]
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
        if bad < best:
            best = bad
            best_it = it
        elif it - best_it >= stall:
            _hard(L, hard)
            return it + 1, False
    _hard(L, hard)
    return max_iter, False


@numba.njit(cache=True, parallel=True)
def _bp_batch(ptr, col, sh, Z, L, R, synd, sel, max_iter, stall, out, iters, ok):
    for j in prange(sel.shape[0]):
        f = sel[j]
        it, good = _bp_run(ptr, col, sh, Z, L[f], R[f], synd[f], max_iter, stall, out[j])
        iters[j] = it
        ok[j] = good


# the kept state has the same shape for both decoders
bp_messages = minsum_messages


def decode_bp_warm(
    code: QCCode,
    post: np.ndarray,
    msgs: np.ndarray,
    syndrome: np.ndarray,
    *,
    max_iter: int = 60,
    stall: int = 0,
    frames: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layered sum-product on a kept state, like :func:`~postproc.reconcile.decoder.
    decode_minsum_warm`: ``post`` float32 (frames x n) posteriors (the channel LLRs to start;
    known bits pinned at a large magnitude) and ``msgs`` from :func:`bp_messages` are updated in
    place; ``frames`` (optional indices) decodes only those. ``stall > 0`` gives up on a frame
    whose count of rows with the wrong extrinsic sign product has not reached a new minimum for
    ``stall`` iterations. Returns (hard decisions uint8, iterations int32, converged bool) for
    the decoded frames in the order of ``frames``."""
    ptr, col, sh, S, sel = warm_state_args(code, post, msgs, syndrome, frames)
    G = sel.size
    out = np.zeros((G, code.n), dtype=np.uint8)
    iters = np.zeros(G, dtype=np.int32)
    ok = np.zeros(G, dtype=np.bool_)
    _bp_batch(ptr, col, sh, code.Z, post, msgs, S, sel, int(max_iter), int(stall), out, iters,
              ok)
    return out, iters, ok


def decode_bp(
    code: QCCode,
    llr: np.ndarray,
    syndrome: np.ndarray,
    *,
    max_iter: int = 60,
    stall: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Layered sum-product from scratch, batch of frames, parallel over frames.

    ``llr`` float (frames x n) channel LLRs (``L = log P(0)/P(1)``; punctured 0, known bits at a
    large magnitude), ``syndrome`` uint8 (frames x m). Returns (hard decisions uint8 frames x n,
    iterations int32, converged bool, posterior LLRs float32 frames x n); a single frame (1-d
    inputs) gives 1-d decisions/posteriors and length-1 iterations/flags."""
    L, single = _as_batch(llr, code.n, "llr", np.float32)
    L = L.copy()
    S, _ = _as_batch(syndrome, code.m, "syndrome", np.uint8)
    if S.shape[0] != L.shape[0]:
        raise ValueError(f"syndrome: {S.shape[0]} frames but llr has {L.shape[0]}")
    out, iters, ok = decode_bp_warm(code, L, bp_messages(code, L.shape[0]), S,
                                    max_iter=max_iter, stall=stall)
    if single:
        return out[0], iters[:1], ok[:1], L[0]
    return out, iters, ok, L
