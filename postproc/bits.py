"""Bit packing: the one place that defines qkdpp's bit order.

Bits at rest are packed little-endian: bit i is bit ``i % 8`` of byte ``i // 8``, the same order in
Python, in Verilog and on the wire.
"""

from __future__ import annotations

import numpy as np


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack an array of 0/1 values into uint8 bytes, little-endian bit order."""
    return np.packbits(np.asarray(bits, dtype=np.uint8), bitorder="little")


def unpack_bits(packed: np.ndarray | bytes, n_bits: int) -> np.ndarray:
    """Unpack ``n_bits`` bits (uint8 0/1) from bytes packed by :func:`pack_bits`."""
    buf = np.frombuffer(packed, dtype=np.uint8) if isinstance(packed, bytes | bytearray) else packed
    if n_bits > 8 * len(buf):
        raise ValueError(f"asked for {n_bits} bits from {len(buf)} bytes")
    return np.unpackbits(np.asarray(buf, dtype=np.uint8), count=n_bits, bitorder="little")
