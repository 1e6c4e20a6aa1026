"""Layered sum-product (belief propagation) decoding of QC-LDPC codes towards a syndrome (numba).

Same schedule, LLR convention and syndrome handling as the layered min-sum of
:mod:`postproc.reconcile.decoder` (block rows in order, rows of a layer independent, early stop
after the first iteration whose hard decisions meet the syndrome), but with the exact check node

    R[e] = (-1)^s * 2 atanh( prod_{e' != e} tanh(Q[e'] / 2) ),

in one of two kernels: "fast" (default, :func:`_bp_run_fast`: float32 polynomials on 8 AVX2
lanes, the row product divided by the entry's own t, exact path for t = 0; ~3x cheaper per
edge-iteration) or "exact" (the session-2 kernel, :func:`_bp_run_exact`: prefix/suffix products
of ``t = tanh(Q / 2)`` in float32, exp and log in float64). Both handle a punctured bit with
``Q = 0`` exactly (it sends 0, receives the product of the others). Why: min-sum's
check message does not shrink with the check degree, so at the degrees 30-100 of high-rate
codes it is over-confident and the codes' thresholds move far from capacity; sum-product is
what the ``bp32k`` family is shaped for. Clamping: ``|t| <= 1 - 2^-50`` before the inverse, so
messages stay within about +-35.4 and nothing becomes inf/NaN even with known bits at +-40.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic

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
def _bp_run_exact(ptr, col, sh, Z, L, R, synd, max_iter, stall, hard):
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


# ---- fast kernel: float32 throughout, one division per direction, no prefix products --------
#
# Check node as a quotient: with the row product ``P = s * prod_e t_e`` (``s`` the syndrome sign)
# the extrinsic product for entry k is ``y = P / t_k``, and the message
# ``2 atanh(y) = log((|t_k| + |P|) / (|t_k| - |P|))`` takes one division and one log, the
# denominator floored at ``|t_k| 2^-50`` (the exact kernel's cap: |R| <= ~35.4). An entry with
# ``t = 0`` (punctured bit, Q = 0; also |Q| < ~1e-7, where float32 tanh is 0) would make P = 0,
# so a layer with such an entry is redone exactly: product of the nonzero t, count of zeros.
#
# Posteriors are kept periodically, four copies of each block column side by side (``L2``, bit
# c of block j at ``(4j + p) Z + c``, p = 0..3): the rotated view of the block for shift s is
# the contiguous run starting at ``(4j + 1) Z + s``, and writing the updated run also at -Z and
# +Z keeps periods 1 and 2 complete, so any later shift reads a current window. This replaces
# the two rotation copies of Z with scalar remainders per entry and direction (measured: two
# copies of 2Z-periodic layouts cost 0.2-0.5 ns per edge; the extra stores cost nothing
# measurable). Q = L - R is recomputed in the second pass instead of stored (L of column j is
# untouched between the two passes: a block row has one entry per column).
#
# exp and log are float32 polynomials on 8 AVX2 lanes with exponent bits set/extracted by the
# intrinsics below (numba has no bit casts and widens int32 arithmetic to int64 lanes).

_I32 = ir.IntType(32)
_SQRT_HALF_BITS = 0x3F3504F3  # float32 bits of sqrt(1/2)
_SIGN = -0x80000000  # float32 sign bit as int32


@intrinsic
def _pow2(typingctx, k):
    """``2.0**k`` (float32) for an integer-valued float32 ``k`` in [-126, 127]."""
    def codegen(context, builder, sig, args):
        i = builder.fptosi(args[0], _I32)
        i = builder.shl(builder.add(i, ir.Constant(_I32, 127)), ir.Constant(_I32, 23))
        return builder.bitcast(i, ir.FloatType())
    return types.float32(types.float32), codegen


def _split_exponent(builder, x):
    i = builder.bitcast(x, _I32)
    k = builder.ashr(builder.sub(i, ir.Constant(_I32, _SQRT_HALF_BITS)), ir.Constant(_I32, 23))
    return i, k


@intrinsic
def _log_exponent(typingctx, x):
    """k (float32) with ``x = 2^k m``, m in [sqrt(1/2), sqrt(2)), for a normal float32 x > 0."""
    def codegen(context, builder, sig, args):
        _, k = _split_exponent(builder, args[0])
        return builder.sitofp(k, ir.FloatType())
    return types.float32(types.float32), codegen


@intrinsic
def _log_mantissa(typingctx, x):
    """m in [sqrt(1/2), sqrt(2)) with ``x = 2^k m`` (exactly 1.0 for x = 1.0)."""
    def codegen(context, builder, sig, args):
        i, k = _split_exponent(builder, args[0])
        return builder.bitcast(builder.sub(i, builder.shl(k, ir.Constant(_I32, 23))),
                               ir.FloatType())
    return types.float32(types.float32), codegen


@intrinsic
def _with_sign_of(typingctx, mag, s):
    """``mag`` (sign bit clear) with the sign bit of ``s`` (also for s = -0.0)."""
    def codegen(context, builder, sig, args):
        a = builder.bitcast(args[0], _I32)
        b = builder.and_(builder.bitcast(args[1], _I32), ir.Constant(_I32, _SIGN))
        return builder.bitcast(builder.or_(a, b), ir.FloatType())
    return types.float32(types.float32, types.float32), codegen


@intrinsic
def _with_sign_of_product(typingctx, mag, a, b):
    """``mag`` (sign bit clear) with the sign of ``a * b`` taken from the sign bits (no
    underflow to an unsigned zero)."""
    def codegen(context, builder, sig, args):
        m = builder.bitcast(args[0], _I32)
        x = builder.xor(builder.bitcast(args[1], _I32), builder.bitcast(args[2], _I32))
        x = builder.and_(x, ir.Constant(_I32, _SIGN))
        return builder.bitcast(builder.or_(m, x), ir.FloatType())
    return types.float32(types.float32, types.float32, types.float32), codegen


_F = np.float32
_ZERO32 = _F(0.0)
_ONE32 = _F(1.0)
_LOG2E32 = _F(_LOG2E)
_LN2_32 = _F(_LN2)
_V_MAX = _F(64.0)  # |Q| log2(e) clamp: e^-|Q| stays a normal float32; t is 1.0 beyond ~17.3
_DEN_MIN = _F(2.0**-50)  # |t_k| - |P| floor, relative to |t_k|
# 2^f = 1 + f (A1 + f (A2 + f A3)) on [-1/2, 1/2]: relative error 1.1e-4, exactly 1 at 0 (so
# Q = 0 gives t = 0 exactly); A1 = ln 2 (1 + 3e-4) keeps t's relative error ~3e-4 for small Q.
# log(1 + u) = u (B1 + u (B2 + u (B3 + u B4))) on [sqrt(1/2) - 1, sqrt(2) - 1]: absolute error
# 8e-5 (nats) per message. Both are weighted least-squares fits on Chebyshev nodes (the
# bpfast-3 notes have the fit). One degree more each (3e-6 / 1.2e-5) measured 11 % slower per
# edge, f the same within 1e-4 on 1000 frames (notes).
_A1, _A2, _A3 = _F(0.6933686012593135), _F(0.24221783810118203), _F(0.054592824741898)
_B1, _B2, _B3, _B4 = (_F(0.9992738149950032), _F(-0.5024990153310642), _F(0.35948027909473934),
                      _F(-0.22879209169174292))


@numba.njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _tanh_half32(q):
    """``tanh(|q| / 2)`` >= 0 in float32 via ``e = 2^(-|q| log2 e)``, ``(1 - e) / (1 + e)``."""
    v = abs(q) * -_LOG2E32
    v = v if v > -_V_MAX else -_V_MAX
    k = np.rint(v)
    f = v - k
    e = (_ONE32 + f * (_A1 + f * (_A2 + f * _A3))) * _pow2(k)
    # e <= 1 (2^f <= 1 for f <= 0 also after rounding), so t >= 0 without a clamp
    return (_ONE32 - e) / (_ONE32 + e)


@numba.njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _log32(m):
    """``log(m)`` for a normal float32 m > 0 (exactly 0 at m = 1)."""
    u = _log_mantissa(m) - _ONE32
    return _log_exponent(m) * _LN2_32 + u * (_B1 + u * (_B2 + u * (_B3 + u * _B4)))


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _zero_path_messages(L2, lb, R, rb, T, tb, Pm, nz, Z) -> None:
    """Second pass of one entry in a layer with zero t's: ``Pm`` = signed product of the
    nonzero t, ``nz`` = count of zeros; a zero entry gets the product of the others if it is
    the only zero, every other message of a row with a zero is exactly 0. Rare: scalar is fine."""
    for r in range(Z):
        ts = T[tb + r]
        pm = Pm[r]
        z = ts == _ZERO32
        a = _ONE32 if z else abs(ts)
        n = abs(pm) if nz[r] == (_ONE32 if z else _ZERO32) else _ZERO32
        den = a - n
        lo = a * _DEN_MIN
        den = den if den > lo else lo
        g = _log32((a + n) / den)
        g = g if n > _ZERO32 else _ZERO32
        rv = _with_sign_of_product(g, pm, _ONE32 if z else ts)
        x = L2[lb + r] - R[rb + r] + rv
        L2[lb + r - Z] = x
        L2[lb + r] = x
        L2[lb + r + Z] = x
        R[rb + r] = rv


@numba.njit(cache=True)
def _to_periodic(L, Z, L2) -> None:
    for j in range(L.shape[0] // Z):
        for c in range(Z):
            x = L[j * Z + c]
            for p in range(4):
                L2[(4 * j + p) * Z + c] = x


@numba.njit(cache=True)
def _from_periodic(L2, Z, L) -> None:
    for j in range(L.shape[0] // Z):
        for c in range(Z):
            L[j * Z + c] = L2[(4 * j + 1) * Z + c]


@numba.njit(cache=True, inline="always")
def _window(j, s, Zu):
    """Start in ``L2`` of block column j's posteriors rotated by shift s."""
    return np.uint64(j) * (Zu + Zu + Zu + Zu) + Zu + s


@numba.njit(cache=True, fastmath=True)
def _meets_syndrome2(ptr, colu, shu, Z, L2, synd, acc) -> bool:
    """:func:`~postproc.reconcile.decoder._meets_syndrome` on the windowed posteriors."""
    Zu = np.uint64(Z)
    mb = ptr.shape[0] - 1
    for i in range(mb):
        sb = np.uint64(i) * Zu
        for r in range(Zu):
            acc[r] = synd[sb + r]
        for e in range(ptr[i], ptr[i + 1]):
            lb = _window(colu[e], shu[e], Zu)
            for r in range(Zu):
                acc[r] ^= np.uint8(L2[lb + r] < 0)
        x = np.uint8(0)
        for r in range(Z):
            x |= acc[r]
        if x:
            return False
    return True


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _bp_run_fast(ptr, col, sh, Z, L, R2, synd, max_iter, stall, hard):
    """Layered sum-product like :func:`_bp_run_exact` (same schedule, stopping and stall
    measure) with the float32 quotient check node above. The hot loops index flat arrays with
    uint64 offsets: per-entry slices cost ~20 ns each in reference counting (measured 2x on a
    trivial loop body), and unsigned indices skip numba's negative-index wraparound that would
    turn the loads into gathers."""
    mb = ptr.shape[0] - 1
    dmax = 0
    for i in range(mb):
        dmax = max(dmax, ptr[i + 1] - ptr[i])
    nb = L.shape[0] // Z
    Zu = np.uint64(Z)
    colu = col.astype(np.uint64)
    shu = sh.astype(np.uint64)
    L2 = np.empty(nb * 4 * Z, dtype=np.float32)
    _to_periodic(L, Z, L2)
    R = R2.reshape(R2.size)
    T = np.empty(dmax * Z, dtype=np.float32)
    Pm = np.empty(Z, dtype=np.float32)
    nz = np.empty(Z, dtype=np.float32)
    acc = np.empty(Z, dtype=np.uint8)
    best = ptr[mb] * Z + 1
    best_it = 0
    done = False
    n_it = max_iter
    for it in range(max_iter):
        bad = 0
        for i in range(mb):
            e0 = ptr[i]
            d = ptr[i + 1] - e0
            sb = np.uint64(i) * Zu
            for r in range(Zu):
                Pm[r] = -_ONE32 if synd[sb + r] else _ONE32
            for k in range(d):  # t = tanh((L - R) / 2) of every entry, Pm = row product
                e = e0 + k
                lb = _window(colu[e], shu[e], Zu)
                rb = np.uint64(e) * Zu
                tb = np.uint64(k) * Zu
                for r in range(Zu):
                    q = L2[lb + r] - R[rb + r]
                    ts = _with_sign_of(_tanh_half32(q), q)
                    T[tb + r] = ts
                    Pm[r] *= ts
            # a zero product means some t == 0 (or an underflow): that layer takes the exact path
            zeros = False
            for r in range(Z):
                bad += np.int64(Pm[r] < _ZERO32)  # the row's sign product against the syndrome
                zeros |= Pm[r] == _ZERO32
            if zeros:  # signed product of the nonzero t and count of zeros
                for r in range(Zu):
                    Pm[r] = -_ONE32 if synd[sb + r] else _ONE32
                    nz[r] = _ZERO32
                for k in range(d):
                    tb = np.uint64(k) * Zu
                    for r in range(Zu):
                        t = T[tb + r]
                        z = t == _ZERO32
                        Pm[r] *= _ONE32 if z else t
                        nz[r] += _ONE32 if z else _ZERO32
            for k in range(d):  # R = 2 atanh(Pm / t), L = L - R_old + R (window of _fwd)
                e = e0 + k
                lb = _window(colu[e], shu[e], Zu)
                rb = np.uint64(e) * Zu
                tb = np.uint64(k) * Zu
                if zeros:
                    _zero_path_messages(L2, lb, R, rb, T, tb, Pm, nz, Zu)
                    continue
                for r in range(Zu):
                    ts = T[tb + r]
                    pm = Pm[r]
                    a = abs(ts)
                    n = abs(pm)
                    den = a - n
                    lo = a * _DEN_MIN
                    den = den if den > lo else lo
                    g = _log32((a + n) / den)
                    rv = _with_sign_of_product(g, pm, ts)
                    x = L2[lb + r] - R[rb + r] + rv
                    L2[lb + r - Zu] = x  # all three periods: any later window is current
                    L2[lb + r] = x
                    L2[lb + r + Zu] = x
                    R[rb + r] = rv
        if _meets_syndrome2(ptr, colu, shu, Z, L2, synd, acc):
            n_it = it + 1
            done = True
            break
        if stall <= 0:
            continue
        if bad < best:
            best = bad
            best_it = it
        elif it - best_it >= stall:
            n_it = it + 1
            break
    _from_periodic(L2, Z, L)
    _hard(L, hard)
    return n_it, done


@numba.njit(cache=True, parallel=True)
def _bp_batch(ptr, col, sh, Z, L, R, synd, sel, max_iter, stall, exact, out, iters, ok):
    for j in prange(sel.shape[0]):
        f = sel[j]
        if exact:
            it, good = _bp_run_exact(ptr, col, sh, Z, L[f], R[f], synd[f], max_iter, stall,
                                     out[j])
        else:
            it, good = _bp_run_fast(ptr, col, sh, Z, L[f], R[f], synd[f], max_iter, stall,
                                    out[j])
        iters[j] = it
        ok[j] = good


_KERNELS = ("fast", "exact")

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
    kernel: str = "fast",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layered sum-product on a kept state, like :func:`~postproc.reconcile.decoder.
    decode_minsum_warm`: ``post`` float32 (frames x n) posteriors (the channel LLRs to start;
    known bits pinned at a large magnitude) and ``msgs`` from :func:`bp_messages` are updated in
    place; ``frames`` (optional indices) decodes only those. ``stall > 0`` gives up on a frame
    whose count of rows with the wrong extrinsic sign product has not reached a new minimum for
    ``stall`` iterations. Returns (hard decisions uint8, iterations int32, converged bool) for
    the decoded frames in the order of ``frames``. ``kernel``: "fast" (float32 quotient check
    node, see :func:`_bp_run_fast`) or "exact" (the session-2 kernel, float64 exp/log, kept to
    compare against)."""
    if kernel not in _KERNELS:
        raise ValueError(f"kernel: need one of {_KERNELS}, got {kernel!r}")
    ptr, col, sh, S, sel = warm_state_args(code, post, msgs, syndrome, frames)
    G = sel.size
    out = np.zeros((G, code.n), dtype=np.uint8)
    iters = np.zeros(G, dtype=np.int32)
    ok = np.zeros(G, dtype=np.bool_)
    _bp_batch(ptr, col, sh, code.Z, post, msgs, S, sel, int(max_iter), int(stall),
              kernel == "exact", out, iters, ok)
    return out, iters, ok


def decode_bp(
    code: QCCode,
    llr: np.ndarray,
    syndrome: np.ndarray,
    *,
    max_iter: int = 60,
    stall: int = 0,
    kernel: str = "fast",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Layered sum-product from scratch, batch of frames, parallel over frames.

    ``llr`` float (frames x n) channel LLRs (``L = log P(0)/P(1)``; punctured 0, known bits at a
    large magnitude), ``syndrome`` uint8 (frames x m). Returns (hard decisions uint8 frames x n,
    iterations int32, converged bool, posterior LLRs float32 frames x n); a single frame (1-d
    inputs) gives 1-d decisions/posteriors and length-1 iterations/flags. ``kernel`` as in
    :func:`decode_bp_warm`."""
    L, single = _as_batch(llr, code.n, "llr", np.float32)
    L = L.copy()
    S, _ = _as_batch(syndrome, code.m, "syndrome", np.uint8)
    if S.shape[0] != L.shape[0]:
        raise ValueError(f"syndrome: {S.shape[0]} frames but llr has {L.shape[0]}")
    out, iters, ok = decode_bp_warm(code, L, bp_messages(code, L.shape[0]), S,
                                    max_iter=max_iter, stall=stall, kernel=kernel)
    if single:
        return out[0], iters[:1], ok[:1], L[0]
    return out, iters, ok, L
