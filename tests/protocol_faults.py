"""Fault injection on the raw channel for the protocol tests: taps keyed on the authenticated
header (block, message index), so that a fault hits one message whatever the timing (the first
copy only: retransmissions pass), and a wire log to check that no pad tags two messages."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable

from postproc.protocol.auth import AUTH_HEADER
from postproc.protocol.channel import RESET

KINDS = ("drop", "duplicate", "reorder", "corrupt", "truncate", "reset")


def header(frame: bytes) -> tuple[int, int, int, int]:
    """(seq, block, index, message type id) of an authenticated frame."""
    _m, _v, _d, _r, seq, _ack, block, index = AUTH_HEADER.unpack_from(frame)
    (type_id,) = struct.unpack_from("<H", frame, AUTH_HEADER.size + 6)
    return seq, block, index, type_id


class FaultTap:
    """One direction's tap: applies ``kind`` to the first copy of each targeted (block, index)
    (or (block, -type id): the first message of that type in the block).

    Every frame offered is logged (before any fault) in ``wire`` as (seq, frame), so a test can
    check that each sequence number, hence each one-time pad, only ever tagged one message.
    """

    def __init__(self, kind: str, targets: set[tuple[int, int]]) -> None:
        if kind not in KINDS:
            raise ValueError(kind)
        self.kind = kind
        self.targets = set(targets)
        self.hit: list[tuple[int, int]] = []
        self.wire: list[tuple[int, bytes]] = []
        self._held: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, frame: bytes) -> list:
        with self._lock:
            seq, block, index, type_id = header(frame)
            self.wire.append((seq, frame))
            out: list = []
            key = next((k for k in ((block, index), (block, -type_id)) if k in self.targets), None)
            if key is not None:
                self.targets.discard(key)
                self.hit.append(key)
                out = self._fault(frame)
            else:
                out = [frame]
                if self._held:  # a reordered frame goes out after the next one
                    out += self._held
                    self._held.clear()
            return out

    def _fault(self, frame: bytes) -> list:
        k = self.kind
        if k == "drop":
            return []
        if k == "duplicate":
            return [frame, frame]
        if k == "reorder":
            self._held.append(frame)
            return []
        if k == "corrupt":
            f = bytearray(frame)
            f[len(f) // 2] ^= 0x40
            return [bytes(f)]
        if k == "truncate":
            return [frame[: len(frame) // 2]]
        return [RESET]


def single_pad_use(*taps: FaultTap) -> None:
    """Assert that within a direction every sequence number carried one message only."""
    for tap in taps:
        seen: dict[int, bytes] = {}
        for seq, frame in tap.wire:
            assert seen.setdefault(seq, frame) == frame, f"seq {seq} tagged two messages"


def byte_fault(kind: str) -> Callable[[bytes], bytes]:
    """TCP proxy faults on the raw stream of one frame."""
    if kind == "drop_byte":
        return lambda b: b[:10] + b[11:]
    if kind == "corrupt_byte":
        return lambda b: b[:-3] + bytes([b[-3] ^ 0x01]) + b[-2:]
    raise ValueError(kind)


__all__ = ["KINDS", "FaultTap", "byte_fault", "header", "single_pad_use", "struct"]
