"""Carry-less multiplication and GF(2^64) arithmetic for numba kernels.

``clmul(a, b)`` multiplies two 64-bit GF(2)[x] polynomials into a 128-bit product ``(lo, hi)``. On
x86-64 CPUs with PCLMULQDQ it compiles to that single instruction (an LLVM intrinsic); elsewhere a
portable shift-and-xor loop computes the same value. ``gf64_mul`` multiplies in
GF(2^64) = GF(2)[x] / (x^64 + x^4 + x^3 + x + 1), the low-weight irreducible pentanomial.
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

GF64_POLY = (1 << 64) | 0b11011  # x^64 + x^4 + x^3 + x + 1


def _codegen_is_host() -> bool:
    # with NUMBA_CPU_NAME / NUMBA_CPU_FEATURES set (e.g. portable caches) numba does not compile
    # for this host, and an instruction the host has may not be available to the code generator
    return numba.config.CPU_NAME in (None, "host") and not numba.config.CPU_FEATURES


def _host_has_pclmul() -> bool:
    if not _codegen_is_host():
        return False
    try:
        return bool(llvm.get_host_cpu_features().get("pclmul", False))
    except RuntimeError:  # feature query unsupported on this platform
        return False


HAS_PCLMUL = _host_has_pclmul()


@intrinsic
def _clmul_hw(typingctx, a, b):
    """PCLMULQDQ on the low 64-bit lanes: returns (lo, hi) of the 128-bit product."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        vty = ir.VectorType(i64, 2)
        zero = ir.Constant(ir.IntType(32), 0)
        one = ir.Constant(ir.IntType(32), 1)
        va = builder.insert_element(ir.Constant(vty, None), args[0], zero)
        vb = builder.insert_element(ir.Constant(vty, None), args[1], zero)
        fnty = ir.FunctionType(vty, [vty, vty, ir.IntType(8)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.pclmulqdq")
        prod = builder.call(fn, [va, vb, ir.Constant(ir.IntType(8), 0)])
        lo = builder.extract_element(prod, zero)
        hi = builder.extract_element(prod, one)
        return context.make_tuple(builder, signature.return_type, (lo, hi))

    return sig, codegen


@numba.njit(cache=True, inline="always")
def _clmul_soft(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:
    lo = np.uint64(0)
    hi = np.uint64(0)
    one = np.uint64(1)
    for i in range(64):
        if (b >> np.uint64(i)) & one:
            lo ^= a << np.uint64(i)
            if i:
                hi ^= a >> np.uint64(64 - i)
    return lo, hi


clmul = _clmul_hw if HAS_PCLMUL else _clmul_soft


@numba.njit(cache=True, inline="always")
def gf64_mul(a: np.uint64, b: np.uint64) -> np.uint64:
    """Product in GF(2^64) modulo x^64 + x^4 + x^3 + x + 1."""
    lo, hi = clmul(a, b)
    # hi * x^64 = hi * (x^4 + x^3 + x + 1); the bits that overflow past x^63 (< x^4) fold once more
    r = hi ^ (hi >> np.uint64(60)) ^ (hi >> np.uint64(61)) ^ (hi >> np.uint64(63))
    return lo ^ r ^ (r << np.uint64(1)) ^ (r << np.uint64(3)) ^ (r << np.uint64(4))


@numba.njit(cache=True)
def clmul_array(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise carry-less product of two uint64 arrays; returns (n, 2) uint64 [lo, hi]."""
    out = np.empty((a.size, 2), dtype=np.uint64)
    for i in range(a.size):
        lo, hi = clmul(a[i], b[i])
        out[i, 0] = lo
        out[i, 1] = hi
    return out


@numba.njit(cache=True)
def clmul_soft_array(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The portable loop, element-wise; tests compare it with the hardware path."""
    out = np.empty((a.size, 2), dtype=np.uint64)
    for i in range(a.size):
        lo, hi = _clmul_soft(a[i], b[i])
        out[i, 0] = lo
        out[i, 1] = hi
    return out


@numba.njit(cache=True)
def gf64_mul_array(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(a.size, dtype=np.uint64)
    for i in range(a.size):
        out[i] = gf64_mul(a[i], b[i])
    return out


def gf64_mul_int(a: int, b: int) -> int:
    """Pure-Python GF(2^64) product (independent check and table set-up)."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a >> 64:
            a ^= GF64_POLY
    return r


def _host_has_vpclmul() -> bool:
    if not _codegen_is_host():
        return False
    try:
        feats = llvm.get_host_cpu_features()
    except RuntimeError:
        return False
    return bool(feats.get("vpclmulqdq", False) and feats.get("avx2", False))


HAS_VPCLMUL = _host_has_vpclmul()


def _vec4_codegen(context, builder, aryty, ary_val, idx_val, idx_ty):
    """Pointer to the 4 consecutive uint64 at ary[idx] as a <4 x i64>*."""
    ary = context.make_array(aryty)(context, builder, ary_val)
    idx = context.cast(builder, idx_val, idx_ty, types.intp)
    ptr = builder.gep(ary.data, [idx])
    return builder.bitcast(ptr, ir.PointerType(ir.VectorType(ir.IntType(64), 4)))


def _gf64_mul4_ir(builder, module, a, b, imm_lo: int, imm_hi: int):
    """GF(2^64) products of 4 lanes with VPCLMULQDQ: imm_lo multiplies lanes 0 and 2, imm_hi
    lanes 1 and 3; the low and high halves of the 128-bit products are gathered into two vectors
    and reduced with the shifts of :func:`gf64_mul`, 4 lanes at a time."""
    i32 = ir.IntType(32)
    i64 = ir.IntType(64)
    v4 = ir.VectorType(i64, 4)
    fnty = ir.FunctionType(v4, [v4, v4, ir.IntType(8)])
    fn = cgutils.get_or_insert_function(module, fnty, "llvm.x86.pclmulqdq.256")
    p0 = builder.call(fn, [a, b, ir.Constant(ir.IntType(8), imm_lo)])  # lo0 hi0 lo2 hi2
    p1 = builder.call(fn, [a, b, ir.Constant(ir.IntType(8), imm_hi)])  # lo1 hi1 lo3 hi3
    lo = builder.shuffle_vector(p0, p1, ir.Constant(ir.VectorType(i32, 4), [0, 4, 2, 6]))
    hi = builder.shuffle_vector(p0, p1, ir.Constant(ir.VectorType(i32, 4), [1, 5, 3, 7]))

    def sh(x, n, left):
        c = ir.Constant(v4, [ir.Constant(i64, n)] * 4)
        return builder.shl(x, c) if left else builder.lshr(x, c)

    r = builder.xor(
        builder.xor(hi, sh(hi, 60, False)), builder.xor(sh(hi, 61, False), sh(hi, 63, False))
    )
    r = builder.xor(builder.xor(r, sh(r, 1, True)), builder.xor(sh(r, 3, True), sh(r, 4, True)))
    return builder.xor(lo, r)


def _bfly4_ir(context, builder, f, fv, r, rv, s, sv, gvec, inv, imm_hi: int) -> None:
    pa = _vec4_codegen(context, builder, f, fv, rv, r)
    rs = builder.add(
        context.cast(builder, rv, r, types.intp), context.cast(builder, sv, s, types.intp)
    )
    pb = _vec4_codegen(context, builder, f, fv, rs, types.intp)
    a = builder.load(pa, align=8)
    b = builder.load(pb, align=8)
    with builder.if_else(cgutils.as_bool_bit(builder, inv)) as (then, otherwise):
        with then:
            vv = builder.xor(a, b)
            builder.store(vv, pb, align=8)
            prod = _gf64_mul4_ir(builder, builder.module, vv, gvec, 0x00, imm_hi)
            builder.store(builder.xor(a, prod), pa, align=8)
        with otherwise:
            w = builder.xor(a, _gf64_mul4_ir(builder, builder.module, b, gvec, 0x00, imm_hi))
            builder.store(w, pa, align=8)
            builder.store(builder.xor(b, w), pb, align=8)


def _broadcast4(builder, x):
    v4 = ir.VectorType(ir.IntType(64), 4)
    vec = builder.insert_element(ir.Constant(v4, None), x, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), 4), [0, 0, 0, 0])
    return builder.shuffle_vector(vec, ir.Constant(v4, None), zeros)


@intrinsic
def _bfly4_hw(typingctx, f, r, s, g, inverse):
    """Four butterflies at f[r..r+3], f[r+s..r+s+3] with twiddle g: forward
    (a, b) -> (a + g b, a + g b + b); inverse (a, b) -> (a + g (a + b), a + b)."""
    sig = types.void(f, r, s, g, inverse)

    def codegen(context, builder, signature, args):
        fv, rv, sv, gv, inv = args
        gvec = _broadcast4(builder, gv)
        _bfly4_ir(context, builder, f, fv, r, rv, s, sv, gvec, inv, 0x01)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _bfly4v_hw(typingctx, f, r, s, g, sh, si, inverse):
    """Like bfly4 with a twiddle per lane: lane i uses g ^ sh[si + i]."""
    sig = types.void(f, r, s, g, sh, si, inverse)

    def codegen(context, builder, signature, args):
        fv, rv, sv, gv, shv, siv, inv = args
        offs = builder.load(_vec4_codegen(context, builder, sh, shv, siv, si), align=8)
        gvec = builder.xor(_broadcast4(builder, gv), offs)
        _bfly4_ir(context, builder, f, fv, r, rv, s, sv, gvec, inv, 0x11)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _mul4_hw(typingctx, a, b, i):
    """a[i..i+3] = a[i..i+3] * b[i..i+3] in GF(2^64), lane by lane."""
    sig = types.void(a, b, i)

    def codegen(context, builder, signature, args):
        av, bv, iv = args
        pa = _vec4_codegen(context, builder, a, av, iv, i)
        pb = _vec4_codegen(context, builder, b, bv, iv, i)
        x = builder.load(pa, align=8)
        y = builder.load(pb, align=8)
        builder.store(_gf64_mul4_ir(builder, builder.module, x, y, 0x00, 0x11), pa, align=8)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, inline="always")
def _bfly4_soft(f, r, s, g, inverse):
    for q in range(r, r + 4):
        if inverse:
            vv = f[q + s] ^ f[q]
            f[q + s] = vv
            f[q] ^= gf64_mul(g, vv)
        else:
            w = f[q] ^ gf64_mul(g, f[q + s])
            f[q + s] ^= w
            f[q] = w


@numba.njit(cache=True, inline="always")
def _bfly4v_soft(f, r, s, g, sh, si, inverse):
    for q in range(4):
        t = g ^ sh[si + q]
        if inverse:
            vv = f[r + q + s] ^ f[r + q]
            f[r + q + s] = vv
            f[r + q] ^= gf64_mul(t, vv)
        else:
            w = f[r + q] ^ gf64_mul(t, f[r + q + s])
            f[r + q + s] ^= w
            f[r + q] = w


@numba.njit(cache=True, inline="always")
def _mul4_soft(a, b, i):
    for q in range(i, i + 4):
        a[q] = gf64_mul(a[q], b[q])


bfly4 = _bfly4_hw if HAS_VPCLMUL else _bfly4_soft
bfly4v = _bfly4v_hw if HAS_VPCLMUL else _bfly4v_soft
mul4 = _mul4_hw if HAS_VPCLMUL else _mul4_soft


@numba.njit(cache=True)
def bfly4_array(f: np.ndarray, s: int, g: np.ndarray, inverse: bool) -> None:
    """bfly4 at every r = 0, 4, 8, ... < s with twiddle g[r // 4] (tests compare the paths)."""
    for r in range(0, s, 4):
        bfly4(f, r, s, g[r // 4], inverse)


@numba.njit(cache=True)
def bfly4_soft_array(f: np.ndarray, s: int, g: np.ndarray, inverse: bool) -> None:
    for r in range(0, s, 4):
        _bfly4_soft(f, r, s, g[r // 4], inverse)


@numba.njit(cache=True)
def bfly4v_array(f: np.ndarray, s: int, g: np.ndarray, sh: np.ndarray, inverse: bool) -> None:
    """bfly4v at every r = 0, 4, ... < s, twiddle g[r // 4] ^ sh[r .. r + 3]."""
    for r in range(0, s, 4):
        bfly4v(f, r, s, g[r // 4], sh, r, inverse)


@numba.njit(cache=True)
def bfly4v_soft_array(f: np.ndarray, s: int, g: np.ndarray, sh: np.ndarray, inverse: bool) -> None:
    for r in range(0, s, 4):
        _bfly4v_soft(f, r, s, g[r // 4], sh, r, inverse)


@numba.njit(cache=True)
def mul4_array(a: np.ndarray, b: np.ndarray) -> None:
    for i in range(0, a.size, 4):
        mul4(a, b, i)
