"""Fault injection between a device and the link: a pyserial-like wrapper that damages frames.

:class:`FaultyPort` wraps a real port, cuts its byte stream at frame delimiters and, per EVENTS
frame, may flip bits, drop or duplicate bytes, truncate the frame or repeat the whole frame. It
can also make the device vanish (raise ``SerialException``) after some number of bytes. What it
did is recorded in a shared :class:`FaultLog` so tests know exactly which events must arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hil.codec import decode_frame, unpack_event_payload
from hil.protocol import T_EVENTS, FramingError

FAULTS = ("bitflip", "drop_byte", "dup_byte", "truncate", "dup_frame")


@dataclass
class FaultLog:
    """What the injector passed intact and what it damaged (shared across reconnects)."""

    passed_ranges: list[tuple[int, int]] = field(default_factory=list)  # [first, first + n)
    damaged_frames: int = 0
    damaged_events: int = 0
    duplicated_frames: int = 0
    disconnects: int = 0
    bytes_lost_on_disconnect: int = 0
    by_fault: dict[str, int] = field(default_factory=dict)


class FaultyPort:
    """Wrap ``inner`` (a pyserial port); damage EVENTS frames with probability ``p``."""

    def __init__(self, inner, rng: np.random.Generator, log: FaultLog, *, p: float = 0.05,
                 disconnect_after: int | None = None) -> None:
        self.inner = inner
        self.rng = rng
        self.log = log
        self.p = p
        self.disconnect_after = disconnect_after
        self._seen = 0
        self._buf = bytearray()
        self._out = bytearray()

    @property
    def in_waiting(self) -> int:
        return len(self._out) + self.inner.in_waiting

    def write(self, data: bytes) -> int | None:
        return self.inner.write(data)

    def close(self) -> None:
        self.inner.close()

    def read(self, size: int = 1) -> bytes:
        import serial

        if not self._out:
            data = self.inner.read(max(size, self.inner.in_waiting, 1))
            self._seen += len(data)
            if self.disconnect_after is not None and self._seen >= self.disconnect_after:
                self.disconnect_after = None
                self.log.disconnects += 1
                self.log.bytes_lost_on_disconnect += len(self._buf) + len(data)
                self._buf.clear()
                raise serial.SerialException("device reports readiness to read but returned "
                                             "no data (device disconnected?)")
            self._buf += data
            self._process()
        out = bytes(self._out[:size])
        del self._out[:size]
        return out

    def _process(self) -> None:
        while True:
            z = self._buf.find(0)
            if z < 0:
                return
            frame = bytes(self._buf[: z + 1])
            del self._buf[: z + 1]
            self._out += self._damage(frame)

    def _damage(self, frame: bytes) -> bytes:
        try:
            fr = decode_frame(frame)
        except FramingError:
            return frame  # a tail joined after a reconnect: pass it, the decoder resyncs
        if fr.type != T_EVENTS:
            return frame
        _, first, _, t, _ = unpack_event_payload(fr.payload)
        if self.rng.random() >= self.p:
            self.log.passed_ranges.append((first, first + t.shape[0]))
            return frame
        kind = FAULTS[int(self.rng.integers(len(FAULTS)))]
        self.log.by_fault[kind] = self.log.by_fault.get(kind, 0) + 1
        body = bytearray(frame[:-1])
        if kind == "dup_frame":
            self.log.passed_ranges.append((first, first + t.shape[0]))
            self.log.duplicated_frames += 1
            return frame + frame
        i = int(self.rng.integers(len(body)))
        if kind == "bitflip":
            body[i] ^= 1 << int(self.rng.integers(8))
        elif kind == "drop_byte":
            del body[i]
        elif kind == "dup_byte":
            body.insert(i, body[i])
        else:  # truncate: the rest of the frame never arrives, the delimiter does
            del body[max(i, 1):]
        self.log.damaged_frames += 1
        self.log.damaged_events += t.shape[0]
        return bytes(body) + b"\x00"
