"""Per-block data of each party and the basis-sifting exchange used by the pipeline.

Bob announces the slots (delta coded) and bases of his detections; Alice answers which ones she
prepared in the same basis and, for those, the intensity class. Both obtain identical index lists:
the Z-basis positions become the raw key, the X-basis positions the phase-error sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from postproc.bits import pack_bits, unpack_bits
from postproc.errors import ProtocolError
from postproc.protocol.codec import message

ALICE_BIT, ALICE_BASIS, ALICE_CLASS_SHIFT = 0x01, 0x02, 2


@dataclass
class AliceBlock:
    """Alice's modulation log for one block (one byte per slot, layout of the recording)."""

    block: int
    first_slot: int
    log: np.ndarray  # uint8


@dataclass
class BobBlock:
    """Bob's detections of one block, already mapped to slots (relative to ``first_slot``)."""

    block: int
    first_slot: int
    n_slots: int
    slot: np.ndarray  # int64, strictly increasing
    basis: np.ndarray  # uint8 0 = Z, 1 = X
    bit: np.ndarray  # uint8
    n_detections: int
    stats: dict = field(default_factory=dict)


@dataclass
class Sifted:
    """One party's sifted bits by basis, with the intensity class of each position."""

    z_bits: np.ndarray
    z_class: np.ndarray
    x_bits: np.ndarray
    x_class: np.ndarray

    def counts(self, n_classes: int) -> tuple[list[int], list[int]]:
        return (
            np.bincount(self.z_class, minlength=n_classes)[:n_classes].tolist(),
            np.bincount(self.x_class, minlength=n_classes)[:n_classes].tolist(),
        )


@message(40)
@dataclass(frozen=True)
class SiftAnnounce:
    """Bob -> Alice: detected slots (first slot, then gaps minus one) and their bases (packed)."""

    block: int
    n: int
    slot_gaps: np.ndarray  # uint32 (or uint64 if a gap does not fit)
    basis: np.ndarray  # uint8 packed


@message(41)
@dataclass(frozen=True)
class SiftReply:
    """Alice -> Bob: keep flag per announced detection (packed) and the class of each kept one."""

    block: int
    keep: np.ndarray  # uint8 packed
    classes: np.ndarray  # uint8, one per kept detection


def bob_announce(b: BobBlock) -> SiftAnnounce:
    gaps = np.diff(b.slot, prepend=-1) - 1
    dtype = np.uint32 if (gaps.size == 0 or gaps.max() < 2**32) else np.uint64
    return SiftAnnounce(b.block, int(b.slot.size), gaps.astype(dtype), pack_bits(b.basis))


def _decode_slots(msg: SiftAnnounce, n_slots: int) -> np.ndarray:
    if msg.slot_gaps.shape[0] != msg.n or msg.basis.shape[0] != (msg.n + 7) // 8:
        raise ProtocolError(f"SiftAnnounce: {msg.n} detections but arrays of other sizes")
    slots = np.cumsum(msg.slot_gaps.astype(np.int64) + 1) - 1
    if msg.n and (slots[-1] >= n_slots or slots[-1] < 0):
        raise ProtocolError(f"SiftAnnounce.slot_gaps: slot {slots[-1]} outside the block")
    return slots


def alice_reply(msg: SiftAnnounce, a: AliceBlock) -> tuple[SiftReply, Sifted]:
    if msg.block != a.block:
        raise ProtocolError(f"SiftAnnounce.block is {msg.block}, Alice is in block {a.block}")
    slots = _decode_slots(msg, a.log.shape[0])
    bob_basis = unpack_bits(msg.basis, msg.n)
    log = a.log[slots]
    a_basis = (log & ALICE_BASIS) >> 1
    cls = (log >> ALICE_CLASS_SHIFT) & 0x3
    keep = (a_basis == bob_basis) & (cls < 3)
    kept_cls = cls[keep].astype(np.uint8)
    bits = (log[keep] & ALICE_BIT).astype(np.uint8)
    is_x = a_basis[keep].astype(bool)
    sifted = Sifted(bits[~is_x], kept_cls[~is_x], bits[is_x], kept_cls[is_x])
    return SiftReply(a.block, pack_bits(keep.astype(np.uint8)), kept_cls), sifted


def bob_sifted(reply: SiftReply, b: BobBlock) -> Sifted:
    if reply.block != b.block:
        raise ProtocolError(f"SiftReply.block is {reply.block}, Bob is in block {b.block}")
    if reply.keep.shape[0] != (b.slot.size + 7) // 8:
        raise ProtocolError("SiftReply.keep does not match the number of announced detections")
    keep = unpack_bits(reply.keep, b.slot.size).astype(bool)
    if reply.classes.shape[0] != int(keep.sum()) or (reply.classes > 2).any():
        raise ProtocolError("SiftReply.classes: wrong count or class outside 0..2")
    bits = b.bit[keep].astype(np.uint8)
    is_x = b.basis[keep].astype(bool)
    cls = reply.classes.astype(np.uint8)
    return Sifted(bits[~is_x], cls[~is_x], bits[is_x], cls[is_x])
