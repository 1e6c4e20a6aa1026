"""8-bit fixed-point layered min-sum (numba, AVX2): the arithmetic of
:func:`postproc.reconcile.decoder.decode_layered_fixed` on int8 posteriors and messages.

Same schedule, saturations, ``min1``/``min2`` and stopping rule as the Verilog reference, so a cold
start gives the same decisions, iteration counts and flags (tested). What makes it fast:

- everything is int8 (``post_bits`` = 8): one AVX2 instruction handles 32 rows of a layer, and
  the per-frame message memory is a quarter of the float32 decoder's. numba types int8/int16
  arithmetic as int64; the saturating add/subtract are therefore LLVM ``sadd.sat``/``ssub.sat``
  intrinsics on i8 (``vpaddsb``/``vpsubsb``), and the remaining selects/min/max are narrowed back
  to bytes by LLVM because every result is stored to an int8 array.
- the state is the kernel's own layout (:func:`_layout`, nothing converted per call): per block
  column ``[pad, L_j, L_j rows 0..31]`` (32-byte aligned), so a rotated 32-row read
  ``L_j[(r + s) % Z ...]`` is one load, and a write that wraps is stored a second time at
  ``-Z`` or ``+Z`` (no per-layer refresh of the duplicate, which read bytes just stored at another
  alignment and branched on the shift: ~1.5-2x of the old kernel's time). The 32-row slots of a
  layer are ordered by that extra store (:func:`_plan`; min-sum is independent of the order of a
  row's entries), so no store depends on a data-dependent branch; messages are kept in slot order
  in the state (each pass streams them). See :func:`_fast_run`.
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
from numba.extending import intrinsic, models, register_model

from postproc.reconcile.decoder import _as_batch, _layers_of
from postproc.reconcile.qc import QCCode, qc_syndrome

PMAX = 127  # post_bits = 8, symmetric saturation
LANE = 32  # bytes per AVX2 register: Z must be a multiple (n32k: 128, hw: 32)


# --- explicit 32 x int8 vectors (one AVX2 register) for numba --------------------------------
# numba widens int8 arithmetic to int64, and loops over short slices pay runtime alias checks and
# remainder loops per block entry (measured 0.74 ns/edge with i8 scalar intrinsics in loops). A
# vector type whose values live in registers, and one LLVM instruction per operation, leave the
# loop over a layer's entries with nothing but address arithmetic around the vector work.
_VT = ir.VectorType(ir.IntType(8), LANE)


class _V8(types.Type):
    def __init__(self) -> None:
        super().__init__(name="v32i8")


_v8 = _V8()


@register_model(_V8)
class _V8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VT)


def _splat(builder, x):
    v = builder.insert_element(ir.Constant(_VT, None), x, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(v, ir.Constant(_VT, None), ir.Constant(
        ir.VectorType(ir.IntType(32), LANE), [0] * LANE))


def _vptr(context, builder, aryty, ary, idx, idxty):
    a = context.make_array(aryty)(context, builder, ary)
    i = context.cast(builder, idx, idxty, types.intp)
    return builder.bitcast(builder.gep(a.data, [i]), _VT.as_pointer())


def _is_byte_array(a) -> bool:
    return isinstance(a, types.Array) and a.ndim == 1 and a.dtype in (types.int8, types.uint8)


@intrinsic
def _vload(typingctx, ary, idx):
    """32 bytes of a 1-D int8/uint8 array from index ``idx`` (unaligned, unchecked)."""
    if not (_is_byte_array(ary) and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return builder.load(_vptr(context, builder, sig.args[0], args[0], args[1], sig.args[1]),
                            align=1)

    return _v8(ary, idx), codegen


@intrinsic
def _vstore(typingctx, ary, idx, v):
    if not (_is_byte_array(ary) and isinstance(idx, types.Integer) and v == _v8):
        return None

    def codegen(context, builder, sig, args):
        builder.store(args[2], _vptr(context, builder, sig.args[0], args[0], args[1],
                                     sig.args[1]), align=1)
        return context.get_dummy_value()

    return types.none(ary, idx, v), codegen


@intrinsic
def _vsplat(typingctx, x):
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return _splat(builder, builder.trunc(args[0], ir.IntType(8))
                      if x.bitwidth > 8 else args[0])

    return _v8(x), codegen


def _vbinary(name: str):
    @intrinsic
    def _op(typingctx, a, b):
        if a != _v8 or b != _v8:
            return None

        def codegen(context, builder, sig, args):
            if name == "xor":
                return builder.xor(args[0], args[1])
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(_VT, [_VT, _VT]), f"llvm.{name}.v32i8")
            return builder.call(fn, list(args))

        return _v8(_v8, _v8), codegen

    return _op


_vadds = _vbinary("sadd.sat")
_vsubs = _vbinary("ssub.sat")
_vmax = _vbinary("smax")
_vmin = _vbinary("smin")
_vxor = _vbinary("xor")


@intrinsic
def _vabs(typingctx, a):
    if a != _v8:
        return None

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VT, [_VT, ir.IntType(1)]), "llvm.abs.v32i8")
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 0)])

    return _v8(_v8), codegen


@intrinsic
def _vsel_eq(typingctx, x, y, a, b):
    """Lane-wise ``a if x == y else b``."""
    if not all(t == _v8 for t in (x, y, a, b)):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.icmp_signed("==", args[0], args[1]), args[2], args[3])

    return _v8(_v8, _v8, _v8, _v8), codegen


@intrinsic
def _vg(typingctx, m, nn, ns, off):
    """Lane-wise ``max(((m * nn) >> ns) - off, 0)`` in i16 (``m`` >= 0)."""
    if m != _v8 or not all(isinstance(t, types.Integer) for t in (nn, ns, off)):
        return None

    def codegen(context, builder, sig, args):
        i16 = ir.IntType(16)
        vt = ir.VectorType(i16, LANE)

        def sp(x):
            v = builder.insert_element(ir.Constant(vt, None), builder.trunc(x, i16),
                                       ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(v, ir.Constant(vt, None), ir.Constant(
                ir.VectorType(ir.IntType(32), LANE), [0] * LANE))

        x = builder.mul(builder.sext(args[0], vt), sp(args[1]))
        x = builder.sub(builder.ashr(x, sp(args[2])), sp(args[3]))
        zero = ir.Constant(vt, None)
        x = builder.select(builder.icmp_signed("<", x, zero), zero, x)
        return builder.trunc(x, _VT)

    return _v8(m, nn, ns, off), codegen


@intrinsic
def _vnegcount(typingctx, a):
    """Number of negative lanes (sign bits)."""
    if a != _v8:
        return None

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        bits = builder.bitcast(builder.icmp_signed("<", args[0], ir.Constant(_VT, None)), i32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i32, [i32]),
                                            "llvm.ctpop.i32")
        return builder.zext(builder.call(fn, [bits]), ir.IntType(64))

    return types.int64(_v8), codegen


@intrinsic
def _vsign01(typingctx, a):
    """Lane-wise 1 if negative else 0."""
    if a != _v8:
        return None

    def codegen(context, builder, sig, args):
        return builder.lshr(args[0], _splat(builder, ir.Constant(ir.IntType(8), 7)))

    return _v8(_v8), codegen


@intrinsic
def _ld(typingctx, ary, idx):
    """``ary[idx]`` of a 1-D integer array without numba's negative-index wraparound (the
    per-entry offsets are loaded once per 32-row chunk in the hot loops)."""
    if not (isinstance(ary, types.Array) and ary.ndim == 1 and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        i = context.cast(builder, args[1], sig.args[1], types.intp)
        return builder.load(builder.gep(a.data, [i]))

    return ary.dtype(ary, idx), codegen


@intrinsic
def _vsign_nz(typingctx, m, q):
    """Lane-wise ``-m if q < 0 else m`` as ``vpsignb(m, q | 1)`` (``q | 1`` is never 0, where
    ``vpsignb`` would give 0); ``m`` in -127..127."""
    if m != _v8 or q != _v8:
        return None

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VT, [_VT, _VT]),
                                            "llvm.x86.avx2.psign.b")
        one = _splat(builder, ir.Constant(ir.IntType(8), 1))
        return builder.call(fn, [args[0], builder.or_(args[1], one)])

    return _v8(_v8, _v8), codegen


@intrinsic
def _vlut32(typingctx, lo, hi, m):
    """Lane-wise ``T[m]`` for 0 <= m <= 31, ``lo``/``hi`` holding ``T[0..15]``/``T[16..31]`` in
    both 128-bit halves (two ``vpshufb`` and a blend)."""
    if not all(t == _v8 for t in (lo, hi, m)):
        return None

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VT, [_VT, _VT]),
                                            "llvm.x86.avx2.pshuf.b")
        a = builder.call(fn, [args[0], args[2]])
        b = builder.call(fn, [args[1], args[2]])
        big = builder.icmp_signed(">", args[2], _splat(builder, ir.Constant(ir.IntType(8), 15)))
        return builder.select(big, b, a)

    return _v8(_v8, _v8, _v8), codegen


@intrinsic
def _addr(typingctx, ary):
    """Address of an array's first element (to align scratch buffers)."""
    if not isinstance(ary, types.Array):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.ptrtoint(a.data, ir.IntType(64))

    return types.int64(ary), codegen


@intrinsic
def _prefetch(typingctx, ary, idx):
    """Prefetch the cache line of ``ary[idx]`` (1-D array) into all levels (``prefetcht0``)."""
    if not (isinstance(ary, types.Array) and ary.ndim == 1 and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        i = context.cast(builder, args[1], sig.args[1], types.intp)
        p = builder.bitcast(builder.gep(a.data, [i]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
            ir.VoidType(), [p.type, i32, i32, i32]), "llvm.prefetch.p0i8")
        builder.call(fn, [p, ir.Constant(i32, 0), ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(ary, idx), codegen


@numba.njit(cache=True)
def _prefetch_part(a, part, nparts) -> None:
    """Prefetch the ``part``-th of ``nparts`` slices of ``a``'s cache lines."""
    lines = (a.shape[0] + 63) // 64
    for t in range(lines * part // nparts, lines * (part + 1) // nparts):
        _prefetch(a, t * 64)


@numba.njit(cache=True)
def _meets_syndrome8(ptr, pofs, Z, Lc, o, sy) -> bool:
    """Whether the signs of the compact posteriors ``Lc`` (see :func:`_fast_run`) meet the
    syndrome (stops at the first unsatisfied chunk)."""
    mb = ptr.shape[0] - 1
    nch = Z // LANE
    D = pofs.shape[0] // (mb * nch)
    for i in range(mb):
        for k in range(nch):
            acc = _vload(sy, i * Z + k * LANE)
            sg = (i * nch + k) * D
            for t in range(sg, sg + ptr[i + 1] - ptr[i]):
                acc = _vxor(acc, _vload(Lc, o + _ld(pofs, t)))  # sign bit = parity
            if _vnegcount(acc):
                return False
    return True


@numba.njit(cache=True)
def _hard8(Lx, flip, Z, P, hard) -> None:
    """Decisions of compact posteriors ``Lx`` (from row 0 of column 0, pitch ``P``)."""
    for j in range(flip.shape[0] // Z):
        for c in range(0, Z, LANE):
            _vstore(hard, j * Z + c, _vxor(_vsign01(_vload(Lx, j * P + c)),
                                            _vload(flip, j * Z + c)))


@numba.njit(cache=True)
def _plan(ptr, col, sh, Z, nb):
    """Slots of the kernel: per layer i and 32-row chunk k, D = max check degree slots from
    ``(i * nch + k) * D`` (nch = Z / 32): the layer's entries ordered by what a write at rotated
    row ``r = (shift + 32k) % Z`` needs besides its own store: nothing (32 <= r <= Z - 32), one
    more store at ``r + dz`` (r < 32: the wrap copy, dz = Z; r > Z - 32: the leading rows,
    dz = -Z), both (Z = 32, r > 0); then dummies up to D (posteriors +127 from a constant
    block, messages 0: they change neither minimum nor parity, and the first pass of every
    layer has the same trip count, which the branch predictor learns). Min-sum does not depend
    on the order of a row's entries (min1 is recognised by value, parity is a XOR), so the
    results are those of entry order, and the store loops have no data-dependent branch.
    Returns per slot the offset of its 32 rows in the compact posteriors (column * P + r,
    P = Z + 64; dummies nb * P), dz, the offset in the entry-major messages (e * Z + 32k; -1
    for dummies); per (i, k) the starts of the three groups and the real degree."""
    mb = ptr.shape[0] - 1
    nch = Z // LANE
    D = 0
    for i in range(mb):
        D = max(D, ptr[i + 1] - ptr[i])
    P = Z + 2 * LANE
    pofs = np.full(mb * nch * D, nb * P, dtype=np.int32)
    dz = np.zeros(mb * nch * D, dtype=np.int32)
    rofs = np.full(mb * nch * D, -1, dtype=np.int64)
    grp = np.empty(mb * nch * 4, dtype=np.int64)
    for i in range(mb):
        d = ptr[i + 1] - ptr[i]
        for k in range(nch):
            sg = (i * nch + k) * D
            gi = (i * nch + k) * 4
            t = sg
            for g in range(3):
                grp[gi + g] = t - sg
                for e in range(ptr[i], ptr[i + 1]):
                    r = sh[e] + k * LANE
                    r = r - Z if r >= Z else r
                    if (1 if r < LANE else 0) + (1 if r > Z - LANE else 0) == g:
                        pofs[t] = col[e] * P + r
                        dz[t] = Z if r < LANE else (-Z if r > Z - LANE else 0)
                        rofs[t] = e * Z + k * LANE
                        t += 1
            grp[gi + 3] = d
    return pofs, dz, rofs, grp


@numba.njit(cache=True)
def _fast_run(ptr, Z, nb, Lx, Fl, R, sy, flip, max_iter, mmax, nn, ns, off, stall, hard, trace,
              pofs, dz, grp, nLx, nFl, nR):
    """Layered 8-bit min-sum iterations on one frame's compact posteriors ``Lx`` and floors
    ``Fl`` (layout below, :func:`_layout`) and messages ``R`` (slot order of :func:`_plan`), in
    place; ``sy`` the syndrome as sign bytes (-128 = 1); ``hard`` gets the decisions (``flip``
    undone).

    Rows are independent within a layer, so each layer runs chunk by chunk of 32 rows, every entry
    of the layer per chunk (in the slot order of :func:`_plan`), with min1/min2/parity in
    registers. Progress for ``stall`` (free, as in the float kernel): check rows with odd
    extrinsic sign parity, summed over the iteration.

    The posteriors are compact: per block column ``[32 pad][Z rows][rows 0..31 again]`` (pitch
    P = Z + 64; the trailing pad is the next column's leading one), row 0 of column 0 at 32, the
    dummies' +127 block after the last column (rows 32-byte aligned when the state's are). A
    rotated 32-row read at row ``r`` (< Z) is one load at ``r``; a write that runs past row
    Z - 1 also lands at ``r - Z`` (its wrapped lanes onto rows 0.., the others into the leading
    pad) and a write starting below row 32 also at ``r + Z`` (the wrap copy), so
    ``Lx`` is always consistent without the old per-layer copy of every column written (extra
    loads and stores reading bytes just stored at another alignment, and branches on the shift).
    Floors have the same layout (read only). The messages are in slot order (each chunk pass
    reads and writes them sequentially; dummies' messages stay 0). This is the state's own
    layout: nothing is converted per call (the pads get whatever the wrapping stores put there;
    nothing reads them). A frame's state (~200 KB for n32k) is cold when its turn comes in a
    batch, and the rotated accesses of the first iteration would wait for memory: that
    iteration prefetches the next frame's ``nLx``, ``nFl``, ``nR``, a share per 32-row pass."""
    mb = ptr.shape[0] - 1
    nch = Z // LANE
    P = Z + 2 * LANE
    ns_ = pofs.shape[0]
    D = ns_ // (mb * nch)  # slots per (layer, chunk), dummies included
    o = LANE  # row 0 of column 0
    Q = np.empty(D * LANE + LANE, dtype=np.int8)
    oq = (-_addr(Q)) & (LANE - 1)
    _vstore(Lx, o + nb * P, _vsplat(PMAX))  # the dummies' posteriors (set by the builders too)
    lo = _vsplat(-PMAX)
    mm = _vsplat(mmax)
    # g() of 0..31 as two vpshufb tables (msg_bits <= 6), computed by _vg itself
    gt = np.empty(2 * LANE, dtype=np.int8)
    for v in range(LANE):
        gt[v] = v
    gv = _vg(_vload(gt, 0), nn, ns, off)
    _vstore(gt, 0, gv)
    _vstore(gt, LANE, gv)
    for v in range(16):
        gt[16 + v] = gt[v]
        gt[LANE + v] = gt[LANE + 16 + v]
    glo = _vload(gt, 0)
    ghi = _vload(gt, LANE)
    lut = mmax <= 31
    small = D <= 16
    best = ptr[mb] * Z + 1
    best_it = 0
    res_it = max_iter
    res_ok = False
    for it in range(max_iter):
        bad = 0
        for i in range(mb):
            for k in range(nch):
                sg = (i * nch + k) * D
                gi = (i * nch + k) * 4
                mn1 = mm
                mn2 = mm
                par = _vload(sy, i * Z + k * LANE)
                for t in range(D):  # dummies included (see _plan)
                    q = _vmax(_vsubs(_vload(Lx, o + _ld(pofs, sg + t)),
                                     _vload(R, (sg + t) * LANE)), lo)
                    _vstore(Q, oq + t * LANE, q)
                    # no clamp at mmax: mn1/mn2 start at mmax, so min/max give the same minima
                    a = _vabs(q)
                    par = _vxor(par, q)
                    mn2 = _vmin(mn2, _vmax(mn1, a))
                    mn1 = _vmin(mn1, a)
                bad += _vnegcount(par)
                if it == 0:
                    _prefetch_part(nLx, i * nch + k, mb * nch)
                    _prefetch_part(nFl, i * nch + k, mb * nch)
                    _prefetch_part(nR, i * nch + k, mb * nch)
                # g() of both minima with the row parity folded into their sign
                if lut:
                    g1 = _vsign_nz(_vlut32(glo, ghi, mn1), par)
                    g2 = _vsign_nz(_vlut32(glo, ghi, mn2), par)
                else:
                    g1 = _vsign_nz(_vg(mn1, nn, ns, off), par)
                    g2 = _vsign_nz(_vg(mn2, nn, ns, off), par)
                # the slot groups of _plan: extra stores without data-dependent branches
                if small:  # low degree: one loop (more stores, fewer loop exits to predict)
                    for t in range(_ld(grp, gi + 2)):
                        q = _vload(Q, oq + t * LANE)
                        rv = _vsign_nz(_vsel_eq(_vabs(q), mn1, g2, g1), q)
                        _vstore(R, (sg + t) * LANE, rv)
                        p = o + _ld(pofs, sg + t)
                        x = _vmax(_vadds(q, rv), _vload(Fl, p))
                        _vstore(Lx, p, x)
                        _vstore(Lx, p + _ld(dz, sg + t), x)
                for t in range(0 if small else _ld(grp, gi + 1)):
                    q = _vload(Q, oq + t * LANE)
                    # min1's entry is recognised by |q| == min1: a tie means min2 == min1, and
                    # |q| > mmax >= min1 picks g1 as the clamped compare did
                    rv = _vsign_nz(_vsel_eq(_vabs(q), mn1, g2, g1), q)
                    _vstore(R, (sg + t) * LANE, rv)
                    p = o + _ld(pofs, sg + t)
                    _vstore(Lx, p, _vmax(_vadds(q, rv), _vload(Fl, p)))
                for t in range(_ld(grp, gi + 2) if small else _ld(grp, gi + 1),
                               _ld(grp, gi + 2)):
                    q = _vload(Q, oq + t * LANE)
                    rv = _vsign_nz(_vsel_eq(_vabs(q), mn1, g2, g1), q)
                    _vstore(R, (sg + t) * LANE, rv)
                    p = o + _ld(pofs, sg + t)
                    x = _vmax(_vadds(q, rv), _vload(Fl, p))
                    _vstore(Lx, p, x)
                    _vstore(Lx, p + _ld(dz, sg + t), x)
                for t in range(_ld(grp, gi + 2), _ld(grp, gi + 3)):  # Z = 32 only
                    q = _vload(Q, oq + t * LANE)
                    rv = _vsign_nz(_vsel_eq(_vabs(q), mn1, g2, g1), q)
                    _vstore(R, (sg + t) * LANE, rv)
                    p = o + _ld(pofs, sg + t)
                    x = _vmax(_vadds(q, rv), _vload(Fl, p))
                    _vstore(Lx, p, x)
                    _vstore(Lx, p + Z, x)
                    _vstore(Lx, p - Z, x)
        if _meets_syndrome8(ptr, pofs, Z, Lx, o, sy):
            res_it = it + 1
            res_ok = True
            break
        if stall <= 0:
            continue
        if it < trace.shape[0]:
            trace[it] = bad
        if bad < best:
            best = bad
            best_it = it
        elif it - best_it >= stall:
            res_it = it + 1
            break
    if hard.shape[0]:
        _hard8(Lx[o:], flip, Z, P, hard)
    return res_it, res_ok


@numba.njit(cache=True, parallel=True)
def _fast_batch(ptr, col, sh, Z, nb, Lx, Fl, R, sy, flip, sel, max_iter, mmax, nn, ns, off,
                stall, out, iters, ok, trace):
    pofs, dz, _, grp = _plan(ptr, col, sh, Z, nb)
    for j in prange(sel.shape[0]):
        f = sel[j]
        g = sel[j + 1] if j + 1 < sel.shape[0] else f  # the next frame (same thread, mostly)
        it, good = _fast_run(ptr, Z, nb, Lx[f], Fl[f], R[f], sy[f], flip[f], max_iter, mmax,
                             nn, ns, off, stall, out[j], trace[j], pofs, dz, grp, Lx[g], Fl[g],
                             R[g])
        iters[j] = it
        ok[j] = good


@intrinsic
def _vsel_neg(typingctx, c, a, b):
    """Lane-wise ``a if c < 0 else b``."""
    if not all(t == _v8 for t in (c, a, b)):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.icmp_signed("<", args[0], ir.Constant(_VT, None)), args[1],
                              args[2])

    return _v8(_v8, _v8, _v8), codegen


@numba.njit(cache=True)
def _load_one(lf, pf, use_pin, Z, Lf, Ff) -> None:
    zero = _vsplat(0)
    hi = _vsplat(PMAX)
    lo = _vsplat(-PMAX)
    P = Z + 2 * LANE
    nb = lf.shape[0] // Z
    for j in range(nb):
        b = LANE + j * P
        for c in range(0, Z, LANE):
            x = _vmax(_vload(lf, j * Z + c), lo)
            fl = lo
            if use_pin:
                p = _vload(pf, j * Z + c)
                x = _vsel_eq(p, zero, x, _vsel_neg(x, x, hi))
                fl = _vsel_eq(p, zero, lo, _vsel_neg(x, lo, hi))
            _vstore(Lf, b + c, x)
            _vstore(Ff, b + c, fl)
        _vstore(Lf, b + Z, _vload(Lf, b))  # the wrap copy
        _vstore(Ff, b + Z, _vload(Ff, b))
    _pads(Lf, Ff, Z, nb)


@numba.njit(cache=True)
def _pads(Lf, Ff, Z, nb) -> None:
    """The pads of a compact frame (0 / floor -127: never read, set for reproducible states)
    and the dummies' posteriors (+127)."""
    P = Z + 2 * LANE
    for j in range(nb + 1):
        _vstore(Lf, j * P, _vsplat(0))
        _vstore(Ff, j * P, _vsplat(-PMAX))
    _vstore(Lf, LANE + nb * P, _vsplat(PMAX))
    _vstore(Ff, LANE + nb * P, _vsplat(-PMAX))


@numba.njit(cache=True, parallel=True)
def _load_post(llr, pinned, Z, Lx, Fl) -> None:
    """Compact posteriors (:func:`_layout`) from int8 channel values (saturated to
    +-127) and the floors; bits ``pinned`` (uint8 frames x n, or 1 x 0 for none) with a
    non-negative LLR are pinned at +127 here (negative ones need the flipped representation:
    :func:`pin_bits`)."""
    use_pin = pinned.shape[1] > 0
    for f in prange(llr.shape[0]):
        _load_one(llr[f], pinned[f], use_pin, Z, Lx[f], Fl[f])


@numba.njit(cache=True)
def _pin(cptr, crow, Z, Lx, Fl, sy, flip, rows, pos, vals) -> None:
    """Pin bit ``pos[k]`` of frame ``rows[k]`` to ``vals[k]``: posterior and floor +127 (and in
    the wrap copy for rows 0..31, see :func:`_layout`); a 1 is represented as 0 (``flip``) with
    its checks' syndrome bits toggled (``crow[cptr[j]:cptr[j+1]]``: check index of row 0 of
    column j's checks, minus the shift)."""
    for k in range(rows.shape[0]):
        f = rows[k]
        v = pos[k]
        j = v // Z
        r = v - j * Z
        b = LANE + j * (Z + 2 * LANE) + r
        Lx[f, b] = PMAX
        Fl[f, b] = PMAX
        if r < LANE:
            Lx[f, b + Z] = PMAX
            Fl[f, b + Z] = PMAX
        if vals[k] == flip[f, v]:
            continue
        flip[f, v] ^= 1
        for t in range(cptr[j], cptr[j + 1]):  # layer i, shift s: check i*Z + (r - s) mod Z
            i = crow[t] // Z
            rr = crow[t] - i * Z + r
            rr = rr - Z if rr >= Z else rr
            sy[f, i * Z + rr] ^= np.int8(-128)


@numba.njit(cache=True, parallel=True)
def _quantize_abs(llr, scale, out) -> None:
    """``quantize_llr(|llr|, scale)`` (round half up, saturate at 127) straight to int8."""
    for f in prange(llr.shape[0]):
        for v in range(llr.shape[1]):
            x = np.floor(abs(np.float64(llr[f, v])) * scale + 0.5)
            out[f, v] = np.int8(min(x, PMAX))


def quantize_abs(llr: np.ndarray, scale: float) -> np.ndarray:
    """int8 channel magnitudes ``min(round(|llr| * scale), 127)``, halves up: the same values
    as ``quantize_llr(np.abs(llr), scale)``, without its float64 temporaries."""
    a = np.ascontiguousarray(llr)
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    out = np.empty(a2.shape, dtype=np.int8)
    _quantize_abs(a2, float(scale), out)
    return out.reshape(a.shape)


@numba.njit(cache=True)
def _pick_negatives(Lf, P, Z, rf, nonkey, mode, k, out) -> bool:
    """Rules "flipped" and "mixed" put the selectable bits decided as errors (p < 0) first. If
    there are at least ``k`` of them (the common case: a failed round decides about as many
    errors as there are, far more than one reveal step), only they need counting: one vector
    pass finds them, the count and the ordered output touch only them. Returns False (nothing
    written) if there are fewer than ``k``."""
    zero = _vsplat(0)
    nb = rf.shape[0] // Z
    cnt = 0
    for b in range(nb):
        for c in range(0, Z, LANE):
            free = _vsel_eq(_vmax(_vload(rf, b * Z + c), _vload(nonkey, b * Z + c)), zero,
                            _vload(Lf, b * P + c), zero)
            cnt += _vnegcount(free)
    if cnt < k:
        return False
    # the k smallest keys among the negatives: key = 0 ("flipped", ties by position) or |p|
    pos = np.empty(cnt, dtype=np.int64)
    key = np.empty(cnt, dtype=np.int16)
    hist = np.zeros(129, dtype=np.int64)
    m = 0
    for b in range(nb):
        for c in range(0, Z, LANE):
            free = _vsel_eq(_vmax(_vload(rf, b * Z + c), _vload(nonkey, b * Z + c)), zero,
                            _vload(Lf, b * P + c), zero)
            if _vnegcount(free) == 0:
                continue
            for t in range(LANE):
                p = Lf[b * P + c + t]
                if p < 0 and rf[b * Z + c + t] == 0 and nonkey[b * Z + c + t] == 0:
                    pos[m] = b * Z + c + t
                    key[m] = 0 if mode == 0 else -np.int16(p)
                    hist[key[m]] += 1
                    m += 1
    return _take_k(pos, key, hist, m, k, out)


@numba.njit(cache=True)
def _threshold(hist, k):
    """Smallest key ``thr`` whose count reaches ``k`` and how many keys equal to it to take."""
    thr = 0
    below = 0
    while below + hist[thr] < k:
        below += hist[thr]
        thr += 1
    return thr, k - below


@numba.njit(cache=True)
def _take_k(pos, key, hist, m, k, out) -> bool:
    thr, ties = _threshold(hist, k)
    c = 0
    for i in range(m):
        x = key[i]
        if x < thr or (x == thr and ties > 0):
            if x == thr:
                ties -= 1
            out[c] = pos[i]
            c += 1
    return True


@numba.njit(cache=True)
def _count_le(u, t1) -> int:
    """Lanes of ``u`` below ``t1`` (``u - t1`` negative; no saturation for -1 <= u, t1 <= 127)."""
    tv = _vsplat(t1)
    cnt = 0
    for c in range(0, u.shape[0], LANE):
        cnt += _vnegcount(_vsubs(_vload(u, c), tv))
    return cnt


@numba.njit(cache=True)
def _pick_mixed_small(Lf, P, Z, rf, nonkey, k, u, out) -> bool:
    """Rule "mixed" when fewer than ``k`` bits are decided as errors (low QBER: the failed rounds
    decide few): all of them, then the smallest non-negative posteriors. With one byte per bit
    (-1 decided error, p >= 0 the posterior, 127 not selectable) the threshold is a binary
    search over vector counts instead of a 257-bucket histogram of every bit. Returns False
    (nothing written) if the threshold would be 127, where 127 is ambiguous."""
    zero = _vsplat(0)
    m1 = _vsplat(-1)
    top = _vsplat(PMAX)
    nb = rf.shape[0] // Z
    for b in range(nb):
        for c in range(0, Z, LANE):
            p = _vload(Lf, b * P + c)
            _vstore(u, b * Z + c, _vsel_eq(_vmax(_vload(rf, b * Z + c), _vload(nonkey, b * Z + c)),
                                          zero, _vsel_neg(p, m1, p), top))
    if _count_le(u, PMAX) < k:  # u <= 126
        return False
    lo = 0
    hi = PMAX - 1
    while lo < hi:  # smallest T with count(u <= T) >= k
        mid = (lo + hi) // 2
        if _count_le(u, mid + 1) >= k:
            hi = mid
        else:
            lo = mid + 1
    ties = k - _count_le(u, lo)
    tv = _vsplat(lo + 1)
    j = 0
    for c in range(0, u.shape[0], LANE):
        if _vnegcount(_vsubs(_vload(u, c), tv)) == 0:
            continue
        for t in range(c, c + LANE):
            x = u[t]
            if x < lo or (x == lo and ties > 0):
                if x == lo:
                    ties -= 1
                out[j] = t
                j += 1
    return True


@numba.njit(cache=True, parallel=True)
def _reveal_pick8(Lx, P, Z, revealed, nonkey, frames, mode, k, out) -> None:
    """``out[j]``: the ``k`` unrevealed key positions (``nonkey`` 0) of frame ``frames[j]`` with
    the smallest score, increasing, ties at the threshold to the lowest positions:
    ``blind._reveal_pick`` on int8 posteriors of an error-pattern decoding (channel all "no
    error"), by a 256-bucket count over the frame in order instead of a partition. Scores:
    0 "flipped": decided error first, then index order; 1 "posterior": |p|; 2 "mixed": decided
    error first, each group by |p|."""
    n = revealed.shape[1]
    for j in prange(frames.size):
        f = frames[j]
        Lf = Lx[f, LANE:]  # row 0 of column 0 (compact layout, pitch P)
        rf = revealed[f]
        if mode != 1 and _pick_negatives(Lf, P, Z, rf.view(np.uint8), nonkey, mode, k, out[j]):
            continue
        if mode == 2 and _pick_mixed_small(Lf, P, Z, rf.view(np.uint8), nonkey, k,
                                           np.empty(n, dtype=np.int8), out[j]):
            continue
        key = np.empty(n, dtype=np.int16)
        for b in range(n // Z):  # contiguous per block column: vectorised by LLVM
            Lb = Lf[b * P : b * P + Z]
            rb = rf[b * Z : b * Z + Z]
            nk = nonkey[b * Z : b * Z + Z]
            kb = key[b * Z : b * Z + Z]
            for r in range(Z):
                p = np.int16(Lb[r])
                neg = p < 0
                a = -p if neg else p
                if mode == 0:
                    c = np.int16(0) if neg else np.int16(1)
                elif mode == 1:
                    c = a
                else:
                    c = a if neg else a + np.int16(128)
                kb[r] = np.int16(256) if (rb[r] or nk[r] != 0) else c
        # four interleaved counts: a run of equal keys would otherwise serialise on one counter
        h4 = np.zeros((4, 257), dtype=np.int32)
        for v in range(n):
            h4[v & 3, key[v]] += 1
        hist = h4[0] + h4[1] + h4[2] + h4[3]
        thr, ties = _threshold(hist, k)
        c = 0
        for v in range(n):
            x = key[v]
            if x < thr or (x == thr and ties > 0):
                if x == thr:
                    ties -= 1
                out[j, c] = v
                c += 1


def reveal_pick(state: FastState, revealed: np.ndarray, key_pos: np.ndarray,
                frames: np.ndarray, mode: int, k: int) -> np.ndarray:
    """Reveal choice of the blind protocol on the kept state (error-pattern decoding), see
    :func:`_reveal_pick8`: int32 (len(frames) x k) positions."""
    state.check()  # the picks read the state and ``revealed`` unchecked
    code = state.code
    F = state.post.shape[0]
    fr = np.asarray(frames, dtype=np.int64).reshape(-1)
    kp = np.asarray(key_pos, dtype=np.int64).reshape(-1)
    if revealed.shape != (F, code.n):
        raise ValueError(f"reveal_pick: revealed {revealed.shape}, state needs {(F, code.n)}")
    if fr.size and (fr.min() < 0 or fr.max() >= F):
        raise ValueError("reveal_pick: frames: index out of range")
    if kp.size and (kp.min() < 0 or kp.max() >= code.n):
        raise ValueError("reveal_pick: key_pos: bit position out of range")
    nonkey = np.ones(code.n, dtype=np.uint8)
    nonkey[kp] = 0
    out = np.empty((fr.size, k), dtype=np.int32)
    _reveal_pick8(state.post, state.pitch, code.Z, np.ascontiguousarray(revealed, dtype=np.bool_),
                  nonkey, fr, int(mode), int(k), out)
    return out


def _columns_of(code: QCCode) -> tuple[np.ndarray, np.ndarray]:
    """Per block column j: ``i * Z + (Z - s) % Z`` for each layer i with shift s (CSR)."""
    base = code.base
    jj, ii = np.nonzero(base.T >= 0)
    cptr = np.zeros(base.shape[1] + 1, dtype=np.int64)
    np.add.at(cptr, jj + 1, 1)
    crow = ii * code.Z + (code.Z - base[ii, jj]) % code.Z
    return np.cumsum(cptr), crow.astype(np.int64)


@numba.njit(cache=True)
def _error_one(llr, scale, pin, s, ptr, col, sh, Z, Lx, Fl, sy, word) -> None:
    nb = llr.shape[0] // Z
    P = Z + 2 * LANE
    W = 2 * Z
    sg = np.empty(nb * W, dtype=np.int8)  # sign bytes of Bob's word, each column twice
    a = np.empty(Z, dtype=np.int8)
    g = np.empty(Z, dtype=np.int8)
    fl = np.empty(Z, dtype=np.int8)
    zero = _vsplat(0)
    for j in range(nb):
        lj = llr[j * Z : j * Z + Z]
        pj = pin[j * Z : j * Z + Z]
        wj = word[j * Z : j * Z + Z]
        for r in range(Z):  # plain loops over one block column: vectorised by LLVM
            x = lj[r]
            m = min(np.floor(abs(np.float64(x)) * scale + 0.5), PMAX)  # == quantize_llr
            known = pj[r] != 0
            a[r] = np.int8(PMAX) if known else np.int8(m)
            fl[r] = np.int8(PMAX) if known else np.int8(-PMAX)
            g[r] = np.int8(-128) if x < 0 else np.int8(0)
            wj[r] = np.uint8(x < 0)
        for c in range(0, Z, LANE):
            _vstore(Lx, LANE + j * P + c, _vload(a, c))
            _vstore(Fl, LANE + j * P + c, _vload(fl, c))
            _vstore(sg, j * W + c, _vload(g, c))
            _vstore(sg, j * W + Z + c, _vload(g, c))
        _vstore(Lx, LANE + j * P + Z, _vload(a, 0))  # the wrap copy
        _vstore(Fl, LANE + j * P + Z, _vload(fl, 0))
    _pads(Lx, Fl, Z, nb)
    m128 = _vsplat(-128)
    for i in range(ptr.shape[0] - 1):  # syndrome of the error pattern: s ^ H word
        for c in range(0, Z, LANE):
            acc = _vsel_eq(_vload(s, i * Z + c), zero, zero, m128)
            for e in range(ptr[i], ptr[i + 1]):
                acc = _vxor(acc, _vload(sg, col[e] * W + sh[e] + c))
            _vstore(sy, i * Z + c, acc)


@numba.njit(cache=True, parallel=True)
def _error_load(llr, scale, pinned, synd, ptr, col, sh, Z, Lx, Fl, sy, word) -> None:
    for f in prange(llr.shape[0]):
        _error_one(llr[f], scale, pinned[f], synd[f], ptr, col, sh, Z, Lx[f], Fl[f], sy[f],
                   word[f])


@numba.njit(cache=True, parallel=True)
def _error_load_bits(y, keyp, magq, pinned, synd, ptr, col, sh, Z, Lx, Fl, sy, word) -> None:
    n = word.shape[1]
    for f in prange(y.shape[0]):
        q = np.zeros(n, dtype=np.int8)  # Bob's quantised LLRs: +-magq at the key bits, 0 else
        yf = y[f]
        for t in range(keyp.size):
            q[keyp[t]] = -magq if yf[t] != 0 else magq
        _error_one(q, 1.0, pinned[f], synd[f], ptr, col, sh, Z, Lx[f], Fl[f], sy[f], word[f])


def error_state_bits(
    code: QCCode, bits: np.ndarray, key_pos: np.ndarray, magnitude: float, scale: float,
    syndrome: np.ndarray, known: np.ndarray
) -> FastState:
    """:func:`error_state` straight from Bob's key bits (frames x N at ``key_pos``; every other
    bit 0, e.g. shortened or punctured) with one channel magnitude: the same state as
    ``error_state`` of the float LLRs ``+-magnitude`` at the key bits and 0 elsewhere, without
    building those (a frames x n float32 array is ~130 MB per 1000 n32k frames, and its first
    touch cost as much as a few decoder iterations per frame)."""
    Y = np.ascontiguousarray(bits, dtype=np.uint8)
    F = Y.shape[0]
    keyp = np.ascontiguousarray(key_pos, dtype=np.int64)
    S, _ = _as_batch(syndrome, code.m, "syndrome", np.uint8)
    K = np.ascontiguousarray(known, dtype=np.bool_)
    if Y.shape != (F, keyp.size) or S.shape[0] != F or K.shape != (F, code.n):
        raise ValueError(f"error_state_bits: bits {Y.shape}, key_pos {keyp.size}, syndrome "
                         f"{S.shape}, known {K.shape} for n = {code.n}")
    magq = int(min(np.floor(abs(np.float64(magnitude)) * scale + 0.5), PMAX))  # quantize_llr
    ptr, col, sh = _layers_of(code.base)
    _, wp, wm = _layout(code)
    post, floor = _aligned(F, wp), _aligned(F, wp)
    sy = np.empty((F, code.m), dtype=np.int8)
    word = np.empty((F, code.n), dtype=np.uint8)
    _error_load_bits(Y, keyp, np.int8(magq), K.view(np.uint8), S, ptr, col, sh, code.Z, post,
                     floor, sy, word)
    return FastState(code, post, floor, _aligned(F, wm, zero=True), sy, word, int(K.sum()))


def error_state(
    code: QCCode, llr: np.ndarray, scale: float, syndrome: np.ndarray, known: np.ndarray
) -> FastState:
    """Cold state for decoding the error pattern ``e = x ^ y`` of Bob's word ``y`` (the signs
    of the float ``llr``, frames x n) towards Alice's ``syndrome``: channel values
    ``quantize_llr(|llr|, scale)``, syndrome ``s ^ H y``, the ``known`` bits pinned at e = 0
    (their LLR carries the known value), and ``flip = y``, so the decoder returns ``e ^ y``
    (Alice's word when it converges) and :func:`pin_bits` takes bit values, not errors. The
    posteriors are those of ``e``. In one pass per frame (the protocol's hot path)."""
    L = np.ascontiguousarray(llr, dtype=np.float32)
    F = L.shape[0]
    S, _ = _as_batch(syndrome, code.m, "syndrome", np.uint8)
    K = np.ascontiguousarray(known, dtype=np.bool_)
    if L.shape != (F, code.n) or S.shape[0] != F or K.shape != L.shape:
        raise ValueError(f"error_state: llr {L.shape}, syndrome {S.shape}, known {K.shape} "
                         f"for n = {code.n}")
    ptr, col, sh = _layers_of(code.base)
    _, wp, wm = _layout(code)
    post, floor = _aligned(F, wp), _aligned(F, wp)
    sy = np.empty((F, code.m), dtype=np.int8)
    word = np.empty((F, code.n), dtype=np.uint8)
    _error_load(L, float(scale), K.view(np.uint8), S, ptr, col, sh, code.Z, post, floor, sy,
                word)
    return FastState(code, post, floor, _aligned(F, wm, zero=True), sy, word, int(K.sum()))


def _check_params(code: QCCode, msg_bits: int) -> None:
    if code.Z % LANE:
        raise ValueError(f"code {code.name}: Z = {code.Z} is not a multiple of {LANE}")
    if not 2 <= msg_bits <= 8:
        raise ValueError(f"msg_bits: need 2 <= msg_bits <= 8 (post_bits 8), got {msg_bits}")


def _layout(code: QCCode) -> tuple[int, int, int]:
    """The state's layout (the kernel's, so that a call converts nothing): per frame the
    posteriors (and floors) are compact, per block column j at ``32 + j * P`` its Z rows and
    its rows 0..31 again (the wrap copy: a rotated 32-row read is one load), P = Z + 64 (32
    pad bytes between columns, where wrapping writes spill), then 32 bytes of +127 for the
    kernel's dummy slots; the messages are in the slot order of :func:`_plan` (per layer and
    32-row chunk, max-degree slots, dummies' messages 0). Returns (P, bytes per frame of the
    posteriors, of the messages)."""
    P = code.Z + 2 * LANE
    D = int((code.base >= 0).sum(axis=1).max())  # _plan's slots per (layer, chunk)
    return P, (code.n // code.Z) * P + 2 * LANE, code.m * D


def _aligned(F: int, width: int, zero: bool = False) -> np.ndarray:
    """int8 (F, width) with 32-byte aligned rows (``width`` a multiple of 32): the kernel's
    vector loads and stores on the state (a view of a slightly larger buffer)."""
    buf = (np.zeros if zero else np.empty)(F * width + LANE, dtype=np.int8)
    o = (-buf.ctypes.data) % LANE
    return buf[o : o + F * width].reshape(F, width)


@dataclass
class FastState:
    """Kept state of the 8-bit decoder for a batch of frames, updated in place by
    :func:`decode_fast_warm` and :func:`pin_bits`. The arrays are the kernel's own layout
    (:func:`_layout`); :meth:`posteriors` and :meth:`messages` read them in bit/edge order."""

    code: QCCode
    post: np.ndarray  # int8 (F, nb * P + 64): compact posteriors, see _layout
    floor: np.ndarray  # int8, same shape: -127 free, +127 pinned
    msgs: np.ndarray  # int8 (F, m * D) check-to-bit messages in slot order (_plan)
    synd: np.ndarray  # int8 (F, m): syndrome as sign bytes (-128 = 1), toggled by bits pinned to 1
    # uint8 (F, n): decisions are sign ^ flip; 1 where a bit pinned to 1 is represented as 0
    # (error_state: Bob's word, so that the decoder works on the error pattern)
    flip: np.ndarray
    n_pinned: int = 0

    @property
    def pitch(self) -> int:
        """Bytes from one block column's posteriors to the next (Z + 64)."""
        return self.code.Z + 2 * LANE

    def check(self) -> None:
        """Raise ValueError unless the arrays have the layout's shapes (the kernel's loads and
        stores are unchecked)."""
        code = self.code
        _, wp, wm = _layout(code)
        F = self.post.shape[0]
        want = {"post": (F, wp), "floor": (F, wp), "msgs": (F, wm), "synd": (F, code.m),
                "flip": (F, code.n)}
        for name, shape in want.items():
            a = getattr(self, name)
            if a.shape != shape or not a.flags.c_contiguous:
                raise ValueError(f"FastState.{name}: shape {a.shape}, layout needs {shape} "
                                 "(C-contiguous)")

    def posteriors(self, frames: np.ndarray | None = None) -> np.ndarray:
        """int8 (frames x n) posteriors (a pinned bit reads +127 whatever its value)."""
        code = self.code
        p = self.post if frames is None else self.post[np.asarray(frames, dtype=np.int64)]
        nb = code.n // code.Z
        rows = p[:, LANE : LANE + nb * self.pitch].reshape(-1, nb, self.pitch)[:, :, : code.Z]
        return np.ascontiguousarray(rows).reshape(-1, code.n)

    def messages(self, frames: np.ndarray | None = None) -> np.ndarray:
        """int8 (frames x E * Z) messages in edge order: block entry e (row-major order of
        ``code.base >= 0``), row r at ``e * Z + r`` (the order of the float decoders)."""
        code = self.code
        m = self.msgs if frames is None else self.msgs[np.asarray(frames, dtype=np.int64)]
        ptr, col, sh = _layers_of(code.base)
        _, _, rofs, _ = _plan(ptr, col, sh, code.Z, code.n // code.Z)
        real = np.nonzero(rofs >= 0)[0]
        out = np.empty((m.shape[0], ptr[-1] * code.Z), dtype=np.int8)
        lanes = np.arange(LANE)
        out[:, (rofs[real, None] + lanes).reshape(-1)] = m.reshape(
            m.shape[0], -1, LANE)[:, real].reshape(m.shape[0], -1)
        return out


def fast_state(
    code: QCCode, llr: np.ndarray, syndrome: np.ndarray, *, pinned: np.ndarray | None = None
) -> FastState:
    """Cold state: integer channel LLRs (frames x n, saturated to +-127; int8 taken as is),
    zero messages. ``pinned`` (bool, frames x n, optional): bits known from the start (e.g.
    shortened), pinned to the hard decision of their LLR."""
    L, _ = _as_batch(llr, code.n, "llr", np.int8 if np.asarray(llr).dtype == np.int8 else np.int32)
    if L.dtype != np.int8:
        L = np.clip(L, -PMAX, PMAX).astype(np.int8)
    S, _ = _as_batch(syndrome, code.m, "syndrome", np.uint8)
    if S.shape[0] != L.shape[0]:
        raise ValueError(f"syndrome: {S.shape[0]} frames but llr has {L.shape[0]}")
    F = L.shape[0]
    pm = np.zeros((0, 0), dtype=np.bool_)
    if pinned is not None:
        pm = np.ascontiguousarray(pinned, dtype=np.bool_)
        if pm.shape != L.shape:
            raise ValueError(f"pinned: shape {pm.shape} != llr {L.shape}")
    _, wp, wm = _layout(code)
    post, floor = _aligned(F, wp), _aligned(F, wp)
    _load_post(L, pm.view(np.uint8) if pm.size else np.zeros((F, 0), np.uint8), code.Z, post,
               floor)
    st = FastState(code, post, floor, _aligned(F, wm, zero=True),
                   (S.view(np.int8) << 7) if S.max(initial=0) <= 1 else
                   np.where(S != 0, -128, 0).astype(np.int8), np.zeros((F, code.n), np.uint8),
                   int(pm.sum()) if pm.size else 0)
    if pm.size:
        rows, pos = np.nonzero(pm & (L < 0))
        if rows.size:
            pin_bits(st, rows, pos, np.ones(rows.size, np.uint8))
    return st


def pin_bits(state: FastState, rows: np.ndarray, positions: np.ndarray,
             values: np.ndarray) -> None:
    """Pin bit ``positions[k]`` of frame ``rows[k]`` to ``values[k]`` (0/1) for good: the kernel
    never lets it move (see the module docstring). Messages are kept (warm restart)."""
    state.check()
    code = state.code
    r = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
    p = np.ascontiguousarray(positions, dtype=np.int64).reshape(-1)
    v = np.ascontiguousarray(values, dtype=np.uint8).reshape(-1)
    if not r.size == p.size == v.size:
        raise ValueError(f"pin_bits: {r.size} rows, {p.size} positions, {v.size} values")
    if r.size and (r.min() < 0 or r.max() >= state.post.shape[0]):
        raise ValueError("pin_bits: rows: frame index out of range")
    if p.size and (p.min() < 0 or p.max() >= code.n):
        raise ValueError("pin_bits: positions: bit position out of range")
    cptr, crow = _columns_of(code)
    _pin(cptr, crow, code.Z, state.post, state.floor, state.synd, state.flip, r, p,
         (v != 0).astype(np.uint8))
    state.n_pinned += int(r.size)


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
    hard: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continue decoding from ``state`` (in place, like ``decode_minsum_warm``: a later call picks
    up exactly where this one stopped). ``stall > 0`` gives up on a frame after ``stall``
    iterations without a new minimum of the progress measure (``trace``, frames x k int32,
    optional, records it). ``frames`` decodes only those frames. Returns (hard decisions uint8,
    iterations of this call int32, converged bool) for the decoded frames, in that order;
    ``hard=False`` returns no decisions (frames x 0: read them later with :func:`hard_bits`,
    saving a fresh frames x n array per call)."""
    code = state.code
    _check_params(code, msg_bits)
    if msg_bits > 7 and state.n_pinned:
        # |Q| of a pinned bit is >= 127 - MMAX, which is the saturated magnitude only if
        # MMAX <= 63
        raise ValueError("msg_bits: pinned bits need msg_bits <= 7")
    ptr, col, sh = _layers_of(code.base)
    F = state.post.shape[0]
    sel = np.arange(F) if frames is None else np.asarray(frames, dtype=np.int64).reshape(-1)
    if sel.size and (sel.min() < 0 or sel.max() >= F):
        raise ValueError(f"frames: index out of range for {F} frames")
    G = sel.size
    tr = np.zeros((G, 0), np.int32) if trace is None else trace
    if tr.shape[0] != G:
        raise ValueError(f"trace: {tr.shape[0]} rows for {G} frames")
    out = np.zeros((G, code.n if hard else 0), dtype=np.uint8)
    iters = np.zeros(G, dtype=np.int32)
    ok = np.zeros(G, dtype=np.bool_)
    state.check()
    _fast_batch(ptr, col, sh, code.Z, code.n // code.Z, state.post, state.floor, state.msgs,
                state.synd, state.flip, sel, int(max_iter), (1 << (msg_bits - 1)) - 1,
                int(norm_num), int(norm_shift), int(offset), int(stall), out, iters, ok, tr)
    return out, iters, ok


@numba.njit(cache=True, parallel=True)
def _hard_bits(Lx, flip, P, Z, frames, pos, out) -> None:
    for j in prange(frames.size):
        f = frames[j]
        h = np.empty(flip.shape[1], dtype=np.uint8)
        _hard8(Lx[f, LANE:], flip[f], Z, P, h)  # the whole frame by vectors, then a plain gather
        o = out[j]
        for t in range(pos.size):
            o[t] = h[pos[t]]


def hard_bits(state: FastState, frames: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """uint8 (len(frames) x len(positions)) hard decisions of the kept state (what
    :func:`decode_fast_warm` returns for those frames after its last call, at ``positions``)."""
    state.check()
    fr = np.ascontiguousarray(frames, dtype=np.int64).reshape(-1)
    pos = np.ascontiguousarray(positions, dtype=np.int64).reshape(-1)
    if fr.size and (fr.min() < 0 or fr.max() >= state.post.shape[0]):
        raise ValueError("hard_bits: frames: index out of range")
    if pos.size and (pos.min() < 0 or pos.max() >= state.code.n):
        raise ValueError("hard_bits: positions: bit position out of range")
    out = np.empty((fr.size, pos.size), dtype=np.uint8)
    _hard_bits(state.post, state.flip, state.pitch, state.code.Z, fr, pos, out)
    return out


@numba.njit(cache=True, parallel=True)
def _syndrome_batch(x, ptr, col, sh, Z, out) -> None:
    W = 2 * Z
    nb = x.shape[1] // Z
    for f in prange(x.shape[0]):
        xf = x[f]
        of = out[f]
        d = np.empty(nb * W, dtype=np.uint8)  # each block column twice: rotations are slices
        for j in range(nb):
            for c in range(0, Z, LANE):
                v = _vload(xf, j * Z + c)
                _vstore(d, j * W + c, v)
                _vstore(d, j * W + Z + c, v)
        for i in range(ptr.shape[0] - 1):
            for c in range(0, Z, LANE):
                acc = _vsplat(0)
                for e in range(ptr[i], ptr[i + 1]):
                    acc = _vxor(acc, _vload(d, _ld(col, e) * W + _ld(sh, e) + c))
                _vstore(of, i * Z + c, acc)


def fast_syndrome(code: QCCode, bits: np.ndarray) -> np.ndarray:
    """``qc_syndrome(code.base, code.Z, bits)`` (uint8 0/1, frames x m or m), 32 check rows per
    instruction (XOR of rotated slices of each block column stored twice): Alice's syndromes
    cost ~20x less than with the scalar reference kernel. Bits must be 0/1."""
    x = np.asarray(bits, dtype=np.uint8)
    if code.Z % LANE:
        return qc_syndrome(code.base, code.Z, x)
    x2, single = _as_batch(x, code.n, "bits", np.uint8)
    ptr, col, sh = _layers_of(code.base)
    out = np.empty((x2.shape[0], code.m), dtype=np.uint8)
    _syndrome_batch(x2, ptr, col, sh, code.Z, out)
    return out[0] if single else out


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
    stall: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~postproc.reconcile.decoder.decode_layered_fixed` with ``post_bits = 8`` (cold start,
    no pinned bits): same inputs (integer LLRs, e.g. from ``quantize_llr(llr, scale)``), same
    outputs, bit for bit (with ``stall = 0``; ``stall > 0`` also gives up early)."""
    _check_params(code, msg_bits)
    L, single = _as_batch(llr, code.n, "llr", np.int32)
    st = fast_state(code, L, syndrome)
    out, iters, ok = decode_fast_warm(st, max_iter=max_iter, msg_bits=msg_bits,
                                      norm_num=norm_num, norm_shift=norm_shift, offset=offset,
                                      stall=stall)
    if single:
        return out[0], iters[:1], ok[:1]
    return out, iters, ok
