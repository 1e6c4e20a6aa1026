"""BB84 sifting: Bob's detections -> slots, squashing, basis reconciliation as messages.

Flow (each side a pure function of the received message and its own state)::

    Bob:   bob_detections(t, ch, clock, ...)       -> BobDetections (his slots, basis, bit)
    Bob:   bob_announce(det)                        -> SiftAnnounce  (slots + basis, compact)
    Alice: alice_answer(announce, log, ...)         -> SiftReply (offset, keep flags, intensity
                                                       classes), SiftedSide (her sifted key)
    Bob:   bob_sifted(reply, det)                   -> SiftedSide (his sifted key)

Both SiftedSide objects list the same slots (Alice's numbering) in the same order. Double clicks
(two or more detectors in one slot) are squashed: same basis -> that basis with a random bit,
different bases -> random basis and random bit (drawn from the caller's generator) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from postproc.bits import pack_bits, unpack_bits
from postproc.errors import ProtocolError
from postproc.sift.clock import ClockModel
from postproc.sift.kernel import FLAG_DETECTOR, FLAG_GATE, alice_keep, bob_kernel
from postproc.sift.offset import OffsetResult, find_offset

N_BASES = 2
N_CLASSES = 3


# ---------------------------------------------------------------------------------------------
# compact encodings


@njit(cache=True)
def _varint_encode(values, out):
    n = 0
    for i in range(values.shape[0]):
        v = values[i]
        while v >= 0x80:
            out[n] = (v & 0x7F) | 0x80
            v >>= 7
            n += 1
        out[n] = v
        n += 1
    return n


@njit(cache=True)
def _varint_decode(buf, count, out):
    pos = 0
    for i in range(count):
        v = np.int64(0)
        shift = 0
        while True:
            if pos >= buf.shape[0] or shift > 56:
                return -1
            b = np.int64(buf[pos])
            pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        out[i] = v
    return pos


def encode_varints(values: np.ndarray) -> bytes:
    """LEB128 (7 bits per byte, low first, high bit = more) of non-negative int64 values."""
    values = np.ascontiguousarray(values, np.int64)
    if len(values) and values.min() < 0:
        raise ValueError("varints must be non-negative")
    out = np.empty(10 * len(values), np.uint8)
    return out[: _varint_encode(values, out)].tobytes()


def decode_varints(buf: bytes, count: int) -> np.ndarray:
    out = np.empty(count, np.int64)
    used = _varint_decode(np.frombuffer(buf, np.uint8), count, out)
    if used != len(buf):
        raise ProtocolError(f"varint field: expected {count} values in {len(buf)} bytes")
    return out


def pack_2bit(values: np.ndarray) -> bytes:
    """Pack values 0..3 four per byte, value i in bits 2*(i%4)..2*(i%4)+1 of byte i//4."""
    v = np.asarray(values, np.uint8) & 3
    pad = np.zeros((-len(v)) % 4, np.uint8)
    v = np.concatenate([v, pad]).reshape(-1, 4)
    return (v[:, 0] | v[:, 1] << 2 | v[:, 2] << 4 | v[:, 3] << 6).astype(np.uint8).tobytes()


def unpack_2bit(buf: bytes, count: int) -> np.ndarray:
    b = np.frombuffer(buf, np.uint8)
    if len(b) != (count + 3) // 4:
        raise ProtocolError(f"2-bit field: {len(b)} bytes for {count} values")
    return np.stack([b & 3, (b >> 2) & 3, (b >> 4) & 3, b >> 6], axis=1).ravel()[:count]


# ---------------------------------------------------------------------------------------------
# messages


@dataclass(frozen=True)
class SiftAnnounce:
    """Bob -> Alice: the slots (his numbering) of his detections and the basis of each."""

    block: int
    n: int
    first_slot: int
    slot_deltas: bytes  # LEB128 of the n - 1 differences between successive slots (all > 0)
    basis: bytes  # packed bits, 1 = X


@dataclass(frozen=True)
class SiftReply:
    """Alice -> Bob: the slot offset, a keep flag per announced detection and, for the kept ones,
    the intensity class."""

    block: int
    n: int
    offset_slots: int  # Alice slot = Bob slot + offset_slots
    keep: bytes  # packed bits, one per announced detection
    n_kept: int
    intensity: bytes  # 2-bit classes of the kept detections (pack_2bit)


# ---------------------------------------------------------------------------------------------
# Bob's detections


@dataclass
class BobDetections:
    """Bob's gated detections after squashing: one entry per slot (his numbering), sorted."""

    slot: np.ndarray  # int64
    basis: np.ndarray  # uint8
    bit: np.ndarray  # uint8
    double: np.ndarray  # bool: squashed double click
    stats: dict = field(default_factory=dict)

    def take(self, sel: slice) -> BobDetections:
        return BobDetections(
            self.slot[sel], self.basis[sel], self.bit[sel], self.double[sel], self.stats
        )


@njit(cache=True)
def segments_kernel(
    t,
    ch,
    seg_start,
    t_anchor,
    slot_anchor,
    period_q16,
    gate_lo,
    gate_hi,
    chmap,
    slot_out,
    flags_out,
):
    """:func:`postproc.sift.kernel.bob_kernel` over time-sorted detections, switching clock
    segments as the time passes each ``seg_start``."""
    n = t.shape[0]
    nseg = seg_start.shape[0]
    i = 0
    s = 0
    while i < n:
        while s + 1 < nseg and t[i] >= seg_start[s + 1]:
            s += 1
        j = i
        stop = seg_start[s + 1] if s + 1 < nseg else np.iinfo(np.int64).max
        while j < n and t[j] < stop:
            j += 1
        bob_kernel(
            t[i:j],
            ch[i:j],
            t_anchor[s],
            slot_anchor[s],
            period_q16[s],
            gate_lo,
            gate_hi,
            chmap,
            slot_out[i:j],
            flags_out[i:j],
        )
        i = j


@njit(cache=True)
def _squash(slot, ch, flags, rnd, out_slot, out_basis, out_bit, out_double):
    """Group detections of the same slot; returns (n_out, n_double, n_same_basis_double)."""
    n = slot.shape[0]
    m = 0
    n_double = 0
    n_same = 0
    i = 0
    while i < n:
        j = i + 1
        while j < n and slot[j] == slot[i]:
            j += 1
        distinct = False
        mixed = False
        for k in range(i + 1, j):
            if ch[k] != ch[i]:
                distinct = True
            if ((flags[k] >> 2) & 1) != ((flags[i] >> 2) & 1):
                mixed = True
        out_slot[m] = slot[i]
        if distinct:
            n_double += 1
            r = rnd[i]
            if mixed:
                out_basis[m] = (r >> 1) & 1
            else:
                n_same += 1
                out_basis[m] = (flags[i] >> 2) & 1
            out_bit[m] = r & 1
            out_double[m] = True
        else:
            out_basis[m] = (flags[i] >> 2) & 1
            out_bit[m] = (flags[i] >> 3) & 1
            out_double[m] = False
        m += 1
        i = j
    return m, n_double, n_same


class BobSlotter:
    """Bob's streaming front end: feed chunks of (t, ch); collect gated detector events."""

    def __init__(self, clock: ClockModel, chmap: np.ndarray, gate_lo_q16: int, gate_hi_q16: int):
        self.clock = clock
        self.chmap = np.ascontiguousarray(chmap, np.uint8)
        self.gate = (np.int64(gate_lo_q16), np.int64(gate_hi_q16))
        self._slots: list[np.ndarray] = []
        self._ch: list[np.ndarray] = []
        self._flags: list[np.ndarray] = []
        self.stats = {
            "events": 0,
            "detections": 0,
            "gated": 0,
            "outside_gate": 0,
            "other_channels": 0,
        }

    def feed(self, t: np.ndarray, ch: np.ndarray) -> None:
        t = np.ascontiguousarray(t, np.int64)
        ch = np.ascontiguousarray(ch, np.int16)
        slot = np.empty(len(t), np.int64)
        flags = np.empty(len(t), np.uint8)
        c = self.clock
        segments_kernel(
            t,
            ch,
            c.seg_start,
            c.t_anchor,
            c.slot_anchor,
            c.period_q16,
            self.gate[0],
            self.gate[1],
            self.chmap,
            slot,
            flags,
        )
        det = (flags & FLAG_DETECTOR) != 0
        keep = det & ((flags & FLAG_GATE) != 0)
        n_det = int(det.sum())
        n_keep = int(keep.sum())
        self.stats["events"] += len(t)
        self.stats["detections"] += n_det
        self.stats["gated"] += n_keep
        self.stats["outside_gate"] += n_det - n_keep
        self.stats["other_channels"] += len(t) - n_det
        self._slots.append(slot[keep])
        self._ch.append(ch[keep])
        self._flags.append(flags[keep])

    def finish(self, rng: np.random.Generator) -> BobDetections:
        slot = np.concatenate([np.zeros(0, np.int64), *self._slots])
        ch = np.concatenate([np.zeros(0, np.int16), *self._ch])
        flags = np.concatenate([np.zeros(0, np.uint8), *self._flags])
        if len(slot) > 1 and np.any(np.diff(slot) < 0):
            order = np.argsort(slot, kind="stable")
            slot, ch, flags = slot[order], ch[order], flags[order]
        rnd = rng.integers(0, 4, size=len(slot), dtype=np.uint8)
        o_slot = np.empty(len(slot), np.int64)
        o_basis = np.empty(len(slot), np.uint8)
        o_bit = np.empty(len(slot), np.uint8)
        o_dbl = np.empty(len(slot), np.bool_)
        m, n_double, n_same = _squash(slot, ch, flags, rnd, o_slot, o_basis, o_bit, o_dbl)
        stats = dict(self.stats)
        stats["double_clicks"] = int(n_double)
        stats["double_clicks_same_basis"] = int(n_same)
        stats["slots_with_detection"] = int(m)
        return BobDetections(o_slot[:m], o_basis[:m], o_bit[:m], o_dbl[:m], stats)


# ---------------------------------------------------------------------------------------------
# sifted keys


@dataclass
class SiftedSide:
    """One party's sifted data; both parties hold the same ``slot``, ``basis``, ``intensity``."""

    slot: np.ndarray  # int64, Alice's numbering, increasing
    basis: np.ndarray  # uint8
    intensity: np.ndarray  # uint8 class
    bits: np.ndarray  # uint8 0/1 (this party's key bits)

    def __len__(self) -> int:
        return len(self.slot)

    @staticmethod
    def concat(parts: list[SiftedSide]) -> SiftedSide:
        def cat(name: str, dtype: type) -> np.ndarray:
            return np.concatenate([np.zeros(0, dtype), *(getattr(p, name) for p in parts)])

        return SiftedSide(
            cat("slot", np.int64),
            cat("basis", np.uint8),
            cat("intensity", np.uint8),
            cat("bits", np.uint8),
        )

    def counts(self) -> np.ndarray:
        """n[basis, intensity class]."""
        n = np.zeros((N_BASES, N_CLASSES), np.int64)
        np.add.at(n, (self.basis, self.intensity), 1)
        return n

    def select(self, basis: int, intensity: int | None = None) -> np.ndarray:
        mask = self.basis == basis
        if intensity is not None:
            mask &= self.intensity == intensity
        return mask

    def packed_bits(self, basis: int, intensity: int | None = None) -> np.ndarray:
        """This party's key bits of one basis (and class), packed little-endian."""
        return pack_bits(self.bits[self.select(basis, intensity)])


def error_counts(alice: SiftedSide, bob: SiftedSide) -> np.ndarray:
    """m[basis, intensity class]: positions where the two parties' bits differ."""
    if not np.array_equal(alice.slot, bob.slot) or not np.array_equal(alice.basis, bob.basis):
        raise ValueError("the two sides' sifted index lists differ")
    m = np.zeros((N_BASES, N_CLASSES), np.int64)
    err = alice.bits != bob.bits
    np.add.at(m, (alice.basis[err], alice.intensity[err]), 1)
    return m


# ---------------------------------------------------------------------------------------------
# party functions


def bob_announce(det: BobDetections, block: int = 0) -> SiftAnnounce:
    """Bob's announcement of his detection slots and bases."""
    n = len(det.slot)
    first = int(det.slot[0]) if n else 0
    deltas = np.diff(det.slot)
    return SiftAnnounce(
        block=block,
        n=n,
        first_slot=first,
        slot_deltas=encode_varints(deltas),
        basis=pack_bits(det.basis).tobytes(),
    )


def decode_announce(msg: SiftAnnounce) -> tuple[np.ndarray, np.ndarray]:
    """(slots, basis) of an announcement; ProtocolError if malformed."""
    if msg.n < 0:
        raise ProtocolError("SiftAnnounce.n is negative")
    if msg.n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint8)
    deltas = decode_varints(msg.slot_deltas, msg.n - 1)
    if np.any(deltas <= 0):
        raise ProtocolError("SiftAnnounce.slot_deltas: slots must strictly increase")
    slots = np.empty(msg.n, np.int64)
    slots[0] = msg.first_slot
    np.cumsum(deltas, out=slots[1:])
    slots[1:] += msg.first_slot
    if len(msg.basis) != (msg.n + 7) // 8:
        raise ProtocolError(f"SiftAnnounce.basis: {len(msg.basis)} bytes for {msg.n} bits")
    return slots, unpack_bits(msg.basis, msg.n)


def alice_answer(
    msg: SiftAnnounce,
    alice_log: np.ndarray,
    log_start: int,
    *,
    offset_slots: int | None,
    intensities: list[float],
    max_offset_slots: int = 1_100_000,
) -> tuple[SiftReply, SiftedSide, OffsetResult | None]:
    """Alice's answer: find the offset if not known yet, keep the slots where Bob's basis equals
    hers, and reveal their intensity classes. ``alice_log[i]`` is her slot ``log_start + i``."""
    slots_b, basis = decode_announce(msg)
    found = None
    if offset_slots is None:
        found = find_offset(
            slots_b, alice_log, log_start, intensities, max_offset_slots=max_offset_slots
        )
        offset_slots = found.offset_slots
    slots = slots_b + offset_slots
    flags = (FLAG_GATE | FLAG_DETECTOR | (basis.astype(np.uint8) << 2)).astype(np.uint8)
    alice_keep(slots, flags, np.ascontiguousarray(alice_log, np.uint8), np.int64(log_start))
    keep = (flags & 0x10) != 0
    ks = slots[keep]
    log = alice_log[ks - log_start]
    side = SiftedSide(slot=ks, basis=(log >> 1) & 1, intensity=(log >> 2) & 3, bits=log & 1)
    reply = SiftReply(
        block=msg.block,
        n=msg.n,
        offset_slots=int(offset_slots),
        keep=pack_bits(keep).tobytes(),
        n_kept=int(keep.sum()),
        intensity=pack_2bit(side.intensity),
    )
    return reply, side, found


def bob_sifted(reply: SiftReply, det: BobDetections, block: int = 0) -> SiftedSide:
    """Bob's sifted side from Alice's reply."""
    n = len(det.slot)
    if reply.block != block or reply.n != n:
        raise ProtocolError(
            f"SiftReply for block {reply.block} with n={reply.n}, expected block {block} with n={n}"
        )
    if len(reply.keep) != (n + 7) // 8:
        raise ProtocolError("SiftReply.keep has the wrong length")
    keep = unpack_bits(reply.keep, n).astype(bool)
    if int(keep.sum()) != reply.n_kept:
        raise ProtocolError("SiftReply.n_kept disagrees with keep")
    return SiftedSide(
        slot=det.slot[keep] + reply.offset_slots,
        basis=det.basis[keep],
        intensity=unpack_2bit(reply.intensity, reply.n_kept),
        bits=det.bit[keep],
    )
