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


def _host_has_pclmul() -> bool:
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
