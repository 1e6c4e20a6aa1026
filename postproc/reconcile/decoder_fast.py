"""8-bit fixed-point layered min-sum (numba, AVX2): the arithmetic of
:func:`postproc.reconcile.decoder.decode_layered_fixed` on int8 posteriors and messages.

Same schedule, saturations, ``min1``/``min2`` and stopping rule as the Verilog reference, so a cold
start gives the same decisions, iteration counts and flags (tested). What makes it fast:

- everything is int8 (``post_bits`` = 8): one AVX2 instruction handles 32 rows of a layer, and
  the per-frame message memory is a quarter of the float32 decoder's. numba types int8/int16
  arithmetic as int64; the saturating add/subtract are therefore LLVM ``sadd.sat``/``ssub.sat``
  intrinsics on i8 (``vpaddsb``/``vpsubsb``), and the remaining selects/min/max are narrowed back
  to bytes by LLVM because every result is stored to an int8 array.
- each block column's posteriors are kept twice in a row (``[L_j, L_j, pad]``), so the rotated
  read ``L_j[(r + s) % Z]`` is one contiguous slice ``[s, s + Z)`` (no wraparound, no gather, no
  remainder loop for Z a multiple of 32); after a write the duplicate is refreshed by two
  32-byte-chunk copies that may run into the pad (they copy values that are already equal).
- the min1 entry is recognised by ``a == min1`` instead of a stored index (a tie implies
  ``min2 == min1``, so the message is the same as the reference's first-index rule).
- pinned (known) bits: with saturating arithmetic a bit at +-127 can be dragged across zero by
  its messages, so a "max-confidence channel value" does not pin. The kernel floors every
  posterior it writes at ``floor[v]`` (-127 = free, +127 = pinned), and a bit pinned to 1 is
  represented flipped (value 0, its checks' syndrome bits toggled, ``flip[v] = 1``): an exact
  change of variables for min-sum, one extra load + max per write. With ``msg_bits <= 7`` a
  pinned bit's ``|Q| >= 127 - 63 > MMAX`` sends the saturated magnitude and its exact sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from postproc.reconcile.decoder import _as_batch, _layers_of
from postproc.reconcile.qc import QCCode

PMAX = 127  # post_bits = 8, symmetric saturation
LANE = 32  # bytes per AVX2 register: Z must be a multiple (n32k: 128, hw: 32)


def _i8_codegen(name: str):
    def codegen(context, builder, sig, args):
        i8 = ir.IntType(8)
        if name == "abs":  # llvm.abs.i8(x, is_int_min_poison = false)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(i8, [i8, ir.IntType(1)]), "llvm.abs.i8")
            return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 0)])
        if name == "neg":
            return builder.sub(ir.Constant(i8, 0), args[0])
        if name == "xor":
            return builder.xor(args[0], args[1])
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i8, [i8] * len(args)), f"llvm.{name}.i8")
        return builder.call(fn, list(args))

    return codegen


def _i8_binary(name: str):
    """A numba function on two int8 values that is one LLVM i8 operation (numba would widen
    int8 arithmetic to int64, and LLVM would then vectorise in 64-bit lanes)."""

    @intrinsic
    def _op(typingctx, a, b):
        if a != types.int8 or b != types.int8:
            return None
        return types.int8(types.int8, types.int8), _i8_codegen(name)

    return _op


def _i8_unary(name: str):
    @intrinsic
    def _op(typingctx, a):
        if a != types.int8:
            return None
        return types.int8(types.int8), _i8_codegen(name)

    return _op


_sadd8 = _i8_binary("sadd.sat")
_ssub8 = _i8_binary("ssub.sat")
_max8 = _i8_binary("smax")
_min8 = _i8_binary("smin")
_xor8 = _i8_binary("xor")
_abs8 = _i8_unary("abs")
_neg8 = _i8_unary("neg")


@intrinsic
def _g8(typingctx, m, nn, ns, off):
    """``max(((m * nn) >> ns) - off, 0)`` in i16 (16 lanes per AVX2 register), ``m`` int8 >= 0."""
    if m != types.int8:
        return None

    def codegen(context, builder, sig, args):
        i16 = ir.IntType(16)
        x = builder.sext(args[0], i16)
        x = builder.mul(x, builder.trunc(args[1], i16))
        x = builder.ashr(x, builder.trunc(args[2], i16))
        x = builder.sub(x, builder.trunc(args[3], i16))
        x = builder.select(builder.icmp_signed("<", x, ir.Constant(i16, 0)), ir.Constant(i16, 0), x)
        return builder.trunc(x, ir.IntType(8))

    return types.int8(m, nn, ns, off), codegen


@numba.njit(cache=True)
def _refresh_dup(Lr, s, Z) -> None:
    """After ``Lr[s:s+Z]`` was written: copy ``[s, Z)`` to ``[s+Z, 2Z)`` first, then ``[Z, Z+s)``
    to ``[0, s)``, in whole 32-byte chunks. The chunks overrun into the pad (first copy) or into
    ``[s, ceil32(s))`` with the copies just made (second copy): same values, so harmless."""
    for c in range(0, Z - s, LANE):
        dst = Lr[s + Z + c : s + Z + c + LANE]
        src = Lr[s + c : s + c + LANE]
        for t in range(LANE):
            dst[t] = src[t]
    for c in range(0, s, LANE):
        dst = Lr[c : c + LANE]
        src = Lr[Z + c : Z + c + LANE]
        for t in range(LANE):
            dst[t] = src[t]


@numba.njit(cache=True)
def _meets_syndrome8(ptr, col, sh, Z, Lx, synd, acc) -> bool:
    mb = ptr.shape[0] - 1
    for i in range(mb):
        si = synd[i * Z : i * Z + Z]
        for r in range(Z):
            acc[r] = np.int8(-128) if si[r] else np.int8(0)
        for e in range(ptr[i], ptr[i + 1]):
            Ls = Lx[col[e], sh[e] : sh[e] + Z]
            for r in range(Z):
                acc[r] = _xor8(acc[r], Ls[r])  # sign bit = parity of the hard decisions
        x = np.int8(0)
        for r in range(Z):
            x |= acc[r]
        if x < 0:
            return False
    return True


@numba.njit(cache=True)
def _hard8(Lx, flip, Z, hard) -> None:
    for j in range(Lx.shape[0]):
        Lr = Lx[j]
        fj = flip[j * Z : j * Z + Z]
        hj = hard[j * Z : j * Z + Z]
        for r in range(Z):
            hj[r] = np.uint8(Lr[r] < 0) ^ fj[r]


@numba.njit(cache=True)
def _fast_run(ptr, col, sh, Z, Lx, Fl, R, synd, flip, max_iter, mmax, nn, ns, off, stall, hard,
              trace):
    """Layered 8-bit min-sum iterations on doubled posteriors ``Lx`` (nb x (2Z + 32)) and
    messages ``R`` (E x Z), in place; ``hard`` gets the decisions (``flip`` undone).

    Progress for ``stall`` (free, as in the float kernel): check rows with odd extrinsic sign
    parity summed over the iteration."""
    mb = ptr.shape[0] - 1
    dmax = 0
    for i in range(mb):
        dmax = max(dmax, ptr[i + 1] - ptr[i])
    Q = np.empty((dmax, Z), dtype=np.int8)
    mn1 = np.empty(Z, dtype=np.int8)
    mn2 = np.empty(Z, dtype=np.int8)
    g1 = np.empty(Z, dtype=np.int8)
    g2 = np.empty(Z, dtype=np.int8)
    par = np.empty(Z, dtype=np.int8)
    acc = np.empty(Z, dtype=np.int8)
    lo = np.int8(-PMAX)
    mm = np.int8(mmax)
    best = ptr[mb] * Z + 1
    best_it = 0
    for it in range(max_iter):
        bad = 0
        for i in range(mb):
            e0 = ptr[i]
            si = synd[i * Z : i * Z + Z]
            for r in range(Z):
                mn1[r] = mm
                mn2[r] = mm
                par[r] = np.int8(-128) if si[r] else np.int8(0)
            for e in range(e0, ptr[i + 1]):
                s = sh[e]
                Ls = Lx[col[e], s : s + Z]
                Re = R[e]
                Qk = Q[e - e0]
                for r in range(Z):
                    q = _max8(_ssub8(Ls[r], Re[r]), lo)
                    Qk[r] = q
                    a = _min8(_abs8(q), mm)
                    par[r] = _xor8(par[r], q)
                    m1 = mn1[r]
                    mn2[r] = _min8(mn2[r], _max8(m1, a))
                    mn1[r] = _min8(m1, a)
            for r in range(Z):
                bad += par[r] < 0
            for r in range(Z):
                x1 = _g8(mn1[r], nn, ns, off)
                x2 = _g8(mn2[r], nn, ns, off)
                neg = par[r] < 0  # row parity folded into the sign of both messages
                g1[r] = _neg8(x1) if neg else x1
                g2[r] = _neg8(x2) if neg else x2
            for e in range(e0, ptr[i + 1]):
                s = sh[e]
                Lr = Lx[col[e]]
                Ls = Lr[s : s + Z]
                Fs = Fl[col[e], s : s + Z]
                Re = R[e]
                Qk = Q[e - e0]
                for r in range(Z):
                    q = Qk[r]
                    a = _min8(_abs8(q), mm)
                    x1 = g1[r]  # unconditional loads keep the select vectorisable
                    x2 = g2[r]
                    m = x2 if a == mn1[r] else x1
                    rv = _neg8(m) if q < 0 else m
                    Re[r] = rv
                    Ls[r] = _max8(_sadd8(q, rv), Fs[r])
                _refresh_dup(Lr, s, Z)
        if _meets_syndrome8(ptr, col, sh, Z, Lx, synd, acc):
            _hard8(Lx, flip, Z, hard)
            return it + 1, True
        if stall <= 0:
            continue
        if it < trace.shape[0]:
            trace[it] = bad
        if bad < best:
            best = bad
            best_it = it
        elif it - best_it >= stall:
            _hard8(Lx, flip, Z, hard)
            return it + 1, False
    _hard8(Lx, flip, Z, hard)
    return max_iter, False


@numba.njit(cache=True, parallel=True)
def _fast_batch(ptr, col, sh, Z, Lx, Fl, R, synd, flip, sel, max_iter, mmax, nn, ns, off, stall,
                out, iters, ok, trace):
    for j in prange(sel.shape[0]):
        f = sel[j]
        it, good = _fast_run(ptr, col, sh, Z, Lx[f], Fl[f], R[f], synd[f], flip[f], max_iter,
                             mmax, nn, ns, off, stall, out[j], trace[j])
        iters[j] = it
        ok[j] = good


@numba.njit(cache=True, parallel=True)
def _load_post(llr, Z, Lx, sel) -> None:
    """Doubled posteriors from channel values (saturated to +-127)."""
    nb = Lx.shape[1]
    for j in prange(sel.shape[0]):
        f = sel[j]
        for b in range(nb):
            Lr = Lx[f, b]
            lf = llr[j, b * Z : b * Z + Z]
            for r in range(Z):
                x = min(max(lf[r], -PMAX), PMAX)
                Lr[r] = x
                Lr[Z + r] = x


def _check_params(code: QCCode, msg_bits: int) -> None:
    if code.Z % LANE:
        raise ValueError(f"code {code.name}: Z = {code.Z} is not a multiple of {LANE}")
    if not 2 <= msg_bits <= 8:
        raise ValueError(f"msg_bits: need 2 <= msg_bits <= 8 (post_bits 8), got {msg_bits}")


def decode_fast(
    code: QCCode,
    llr: np.ndarray,
    syndrome: np.ndarray,
    *,
    max_iter: int = 60,
    msg_bits: int = 6,
    norm_num: int = 7,
    norm_shift: int = 3,
    offset: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~postproc.reconcile.decoder.decode_layered_fixed` with ``post_bits = 8`` (cold start,
    no pinned bits): same inputs (integer LLRs, e.g. from ``quantize_llr(llr, scale)``), same
    outputs, bit for bit."""
    _check_params(code, msg_bits)
    L, single = _as_batch(llr, code.n, "llr", np.int32)
    st = fast_state(code, L, syndrome)
    out, iters, ok = decode_fast_warm(st, max_iter=max_iter, msg_bits=msg_bits,
                                      norm_num=norm_num, norm_shift=norm_shift, offset=offset)
    if single:
        return out[0], iters[:1], ok[:1]
    return out, iters, ok


@dataclass
class FastState:
    """Kept state of the 8-bit decoder for a batch of frames (updated in place by
    :func:`decode_fast_warm` and :func:`pin_bits`)."""

    code: QCCode
    post: np.ndarray  # int8 (F, nb, 2Z + 32): each block column's posteriors twice + pad
    floor: np.ndarray  # int8, same shape: -127 free, +127 pinned
    msgs: np.ndarray  # int8 (F, E, Z) check-to-bit messages
    synd: np.ndarray  # uint8 (F, m): the syndrome, toggled by bits pinned to 1
    flip: np.ndarray  # uint8 (F, n): 1 where a bit pinned to 1 is represented as 0


def fast_state(code: QCCode, llr: np.ndarray, syndrome: np.ndarray) -> FastState:
    """Cold state: integer channel LLRs (frames x n, saturated to +-127), zero messages."""
    L, _ = _as_batch(llr, code.n, "llr", np.int32)
    S, _ = _as_batch(syndrome, code.m, "syndrome", np.uint8)
    if S.shape[0] != L.shape[0]:
        raise ValueError(f"syndrome: {S.shape[0]} frames but llr has {L.shape[0]}")
    F, nb, Z = L.shape[0], code.n // code.Z, code.Z
    post = np.zeros((F, nb, 2 * Z + LANE), dtype=np.int8)
    _load_post(L, Z, post, np.arange(F))
    E = int((code.base >= 0).sum())
    return FastState(code, post, np.full(post.shape, -PMAX, np.int8),
                     np.zeros((F, E, Z), np.int8), S.copy(), np.zeros((F, code.n), np.uint8))


def decode_fast_warm(
    state: FastState,
    *,
    max_iter: int = 60,
    msg_bits: int = 6,
    norm_num: int = 7,
    norm_shift: int = 3,
    offset: int = 0,
    stall: int = 0,
    trace: np.ndarray | None = None,
    frames: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continue decoding from ``state`` (in place); returns (hard decisions uint8, iterations of
    this call int32, converged bool) for ``frames`` (default: all), in that order."""
    code = state.code
    _check_params(code, msg_bits)
    ptr, col, sh = _layers_of(code.base)
    F = state.post.shape[0]
    sel = np.arange(F) if frames is None else np.asarray(frames, dtype=np.int64)
    if sel.size and (sel.min() < 0 or sel.max() >= F):
        raise ValueError(f"frames: index out of range for {F} frames")
    G = sel.size
    tr = np.zeros((G, 0), np.int32) if trace is None else trace
    out = np.zeros((G, code.n), dtype=np.uint8)
    iters = np.zeros(G, dtype=np.int32)
    ok = np.zeros(G, dtype=np.bool_)
    _fast_batch(ptr, col, sh, code.Z, state.post, state.floor, state.msgs, state.synd,
                state.flip, sel, int(max_iter), (1 << (msg_bits - 1)) - 1, int(norm_num),
                int(norm_shift), int(offset), int(stall), out, iters, ok, tr)
    return out, iters, ok
