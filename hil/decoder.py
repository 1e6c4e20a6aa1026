"""Stateful host-side decoder: byte stream in, event chunks and control frames out.

Wraps :func:`hil.codec.scan_stream` with the bookkeeping a link needs: bytes kept between reads,
counters of bad, missing and duplicate frames, lost events (exact, from each frame's
``first_index``) and resynchronisation after a reconnect. Events of a frame are delivered only
if the whole frame passed COBS, length, CRC-32C, version, payload and sequence checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from hil.codec import (
    F_BASE,
    F_EV0,
    F_FIFO_LOST,
    F_LOST,
    F_MISSING,
    F_PLEN,
    F_POFF,
    F_SEQ,
    F_STATUS,
    F_TYPE,
    S_HAVE_INDEX,
    S_NEXT_INDEX,
    S_REJOIN,
    S_RESTARTS,
    S_SYNCED,
    new_scan_state,
    scan_stream,
)
from hil.protocol import E_OK, E_SEQ, E_SKIPPED, ERROR_NAMES, T_EVENTS, Frame
from postproc.events import EventChunk, SpecialEvents


@dataclass
class LinkStats:
    """Counters of one link since the decoder was created."""

    bytes_in: int = 0
    frames_ok: int = 0
    event_frames: int = 0
    bad_frames: int = 0  # failed a framing check (COBS, length, CRC, version, payload)
    duplicate_frames: int = 0  # sequence number already seen
    missing_frames: int = 0  # sequence numbers never received
    events: int = 0  # delivered
    lost_events: int = 0  # numbered by the device but never delivered (link losses)
    fifo_dropped: int = 0  # the device's FIFO overflowed before these were framed
    reconnects: int = 0
    device_restarts: int = 0
    skipped_bytes: int = 0  # partial frame discarded when joining the stream after a (re)connect
    errors_by_code: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DecodeResult:
    chunk: EventChunk  # may be empty
    control: list[Frame]


class StreamDecoder:
    """Feed raw link bytes with :meth:`feed`; call :meth:`link_reset` after a reconnect."""

    def __init__(self, synced: bool = False) -> None:
        self._state = new_scan_state(synced=synced)
        self._pending = np.empty(0, dtype=np.uint8)
        self._last_t = -1
        self.stats = LinkStats()

    def link_reset(self) -> None:
        """The byte stream broke: drop the partial frame and resynchronise on the next 0x00."""
        self.stats.skipped_bytes += int(self._pending.shape[0])
        self._pending = np.empty(0, dtype=np.uint8)
        self._state[S_SYNCED] = 0
        self._state[S_REJOIN] = 1
        self.stats.reconnects += 1

    def account_tail(self, sent_events: int) -> int:
        """Count as lost the events the device reports sent (STATUS ``sent_events``, numbered
        from boot like ``first_index``) beyond the last delivered frame: losses at the very end
        of a stream, which no later frame reveals. Call once the link is drained."""
        if not self._state[S_HAVE_INDEX]:
            return 0
        lost = max(0, int(sent_events) - int(self._state[S_NEXT_INDEX]))
        self._state[S_NEXT_INDEX] += lost
        self.stats.lost_events += lost
        return lost

    def feed(self, data: bytes | bytearray | memoryview | np.ndarray) -> DecodeResult:
        new = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
        self.stats.bytes_in += int(new.shape[0])
        buf = np.concatenate([self._pending, new]) if self._pending.shape[0] else new
        consumed, t, ch, finfo, ctrl = scan_stream(buf, self._state)
        self._pending = buf[consumed:].copy()
        return DecodeResult(self._chunk(t, ch, finfo), self._control(finfo, ctrl))

    def _chunk(self, t: np.ndarray, ch: np.ndarray, finfo: np.ndarray) -> EventChunk:
        s = self.stats
        status = finfo[:, F_STATUS]
        good = status == E_OK
        skipped = status == E_SKIPPED
        s.skipped_bytes += int(finfo[skipped, F_PLEN].sum())
        for code in np.unique(status[~good & ~skipped]):
            n = int(np.count_nonzero(status == code))
            name = ERROR_NAMES[int(code)]
            s.errors_by_code[name] = s.errors_by_code.get(name, 0) + n
            if code == E_SEQ:
                s.duplicate_frames += n
            else:
                s.bad_frames += n
        s.frames_ok += int(np.count_nonzero(good))
        s.missing_frames += int(finfo[good, F_MISSING].sum())
        restarts = int(self._state[S_RESTARTS])
        s.device_restarts = restarts
        ev = finfo[good & (finfo[:, F_TYPE] == T_EVENTS)]
        s.event_frames += int(ev.shape[0])
        s.events += int(t.shape[0])
        missed = ev[:, F_LOST] + ev[:, F_FIFO_LOST]
        s.lost_events += int(ev[:, F_LOST].sum())
        s.fifo_dropped += int(ev[:, F_FIFO_LOST].sum())
        specials = SpecialEvents()
        has_gap = np.flatnonzero(missed > 0)
        if has_gap.shape[0]:
            # a gap runs from the last event delivered before the frame to the frame's base time
            ev0 = ev[has_gap, F_EV0]
            prev = t[np.maximum(ev0 - 1, 0)] if t.shape[0] else np.zeros_like(ev0)
            before = np.where(ev0 > 0, prev, self._last_t)
            specials.gap_start = before.astype(np.int64)
            specials.gap_stop = ev[has_gap, F_BASE].astype(np.int64)
            specials.gap_missed = missed[has_gap].astype(np.int64)
        first_record = s.events - int(t.shape[0])
        if t.shape[0]:
            self._last_t = int(t[-1])
        # t and ch are views of over-allocated arrays whose unused tail was never written,
        # so it occupies address space only
        return EventChunk(t, ch, specials=specials, first_record=first_record)

    @staticmethod
    def _control(finfo: np.ndarray, ctrl: np.ndarray) -> list[Frame]:
        rows = finfo[(finfo[:, F_STATUS] == E_OK) & (finfo[:, F_TYPE] != T_EVENTS)]
        return [
            Frame(int(r[F_TYPE]), int(r[F_SEQ]), ctrl[r[F_POFF] : r[F_POFF] + r[F_PLEN]].tobytes())
            for r in rows
        ]
