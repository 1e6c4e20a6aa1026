"""qutools quTAG timestamp files (facts from the quTAG library header ``tdcbase.h``).

* binary (``FORMAT_BINARY``): a 40-byte header, then 10-byte records: int64 timestamp in TDC
  base units and uint16 channel, little-endian. Channels count from 0; 100 + n are marker
  inputs (104 is the 1 ms timer tick) and 200 + n falling-edge markers: those go to the
  markers, not to the photons.
* compressed (``FORMAT_COMPRESSED``): a 40-byte header, then 5-byte (40-bit) little-endian
  records: timestamp in bits 0..36, channel in bits 37..39. The 37-bit timestamp wraps (every
  ~11 s at the 81 ps base unit); the file has no overflow records, so a wrap is inferred when
  a timestamp falls more than half the range below its predecessor (an idle gap longer than
  a whole wrap period cannot be seen).

The header's content is not documented (it is meant for the quTAG library only), so it is kept
as bytes and the base unit is a reader option ``tick_ps`` (default 1 ps, the current quTAG
base unit; older units used 81 ps). Real quTAG files are not strictly time-ordered: events
that go back in time are kept in file order and reported with a FormatWarning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from postproc.events import EventChunk, FileMeta, SpecialEvents
from postproc.formats.base import BlockFileReader, rational_ps, warn
from postproc.formats.order import check_order

HEADER_BYTES = 40
BIN_DTYPE = np.dtype([("time", "<i8"), ("channel", "<u2")])
WRAP37 = 1 << 37
MARKER_BASE = 100


def _bin_records(head: bytes) -> np.ndarray:
    body = head[HEADER_BYTES:]
    return np.frombuffer(body[: len(body) // 10 * 10], BIN_DTYPE)


def looks_like(head: bytes, size: int) -> str | None:
    """Structural check of the first records: 'quTAG-bin', 'quTAG-compressed' or None."""
    if size <= HEADER_BYTES:
        return None
    if (size - HEADER_BYTES) % 10 == 0:
        rec = _bin_records(head)
        ch = rec["channel"].astype(np.int64)
        ok_ch = (ch < 32) | ((ch >= 100) & (ch < 110)) | ((ch >= 200) & (ch < 210))
        if rec.size and ok_ch.all() and (rec["time"] >= 0).all():
            return "quTAG-bin"
    if (size - HEADER_BYTES) % 5 == 0:
        t, _ = decode_compressed_raw(np.frombuffer(
            head[HEADER_BYTES: HEADER_BYTES + (len(head) - HEADER_BYTES) // 5 * 5], np.uint8))
        if t.size >= 2 and np.mean(np.diff(t) >= 0) >= 0.9:
            return "quTAG-compressed"
    return None


@njit(cache=True)
def _unpack40(raw, t, ch):
    for i in range(t.shape[0]):
        v = np.int64(0)
        for b in range(5):
            v |= np.int64(raw[5 * i + b]) << (8 * b)
        t[i] = v & (WRAP37 - 1)
        ch[i] = v >> 37


def decode_compressed_raw(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split 5-byte compressed records into (37-bit time, 3-bit channel), no unwrapping."""
    n = raw.shape[0] // 5
    t = np.empty(n, np.int64)
    ch = np.empty(n, np.int16)
    _unpack40(np.ascontiguousarray(raw[: 5 * n]), t, ch)
    return t, ch


@njit(cache=True)
def unwrap37(t, base, last):
    """Add the wrap base; a drop of more than half the range starts a new wrap period."""
    for i in range(t.shape[0]):
        if t[i] + WRAP37 // 2 < last:
            base += WRAP37
        last = t[i]
        t[i] += base
    return base, last


class QutagReader(BlockFileReader):
    """Streaming reader of quTAG binary or compressed files."""

    def __init__(self, path: str, compressed: bool, tick_ps: float) -> None:
        self.data_offset = HEADER_BYTES
        self.record_bytes = 5 if compressed else 10
        self.compressed = compressed
        with open(path, "rb") as fh:
            header = fh.read(HEADER_BYTES)
        self.meta = FileMeta(path, "quTAG-compressed" if compressed else "quTAG-bin",
                             "quTAG-5B" if compressed else "quTAG-10B", float(tick_ps),
                             header={"header_hex": header.hex(), "tick_ps": float(tick_ps)})
        self._num, self._den = rational_ps(float(tick_ps), path, "tick_ps")
        self._check_size(None, None)
        self._reset()

    def _reset(self) -> None:
        self._last = np.iinfo(np.int64).min
        self._base = 0
        self._last_raw = 0
        self.n_backward = 0

    def _ps(self, units: np.ndarray) -> np.ndarray:
        if self._den == 1:
            return units * self._num if self._num != 1 else units
        return units * self._num // self._den

    def _decode(self, raw: np.ndarray, first_record: int) -> EventChunk:
        if self.compressed:
            units, ch = decode_compressed_raw(raw)
            self._base, self._last_raw = unwrap37(units, self._base, self._last_raw)
        else:
            rec = raw.view(BIN_DTYPE)
            units = rec["time"].astype(np.int64)
            ch = rec["channel"].astype(np.int16)
        t = self._ps(units)
        n_back, first = check_order(t, self._last)
        if t.size:
            self._last = int(t[-1])
        if n_back:
            self.n_backward += n_back
            warn(self.meta.path, HEADER_BYTES + (first_record + first) * self.record_bytes,
                 "timestamp", f"{n_back} timestamp(s) earlier than their predecessor in this "
                 "chunk; kept in file order")
        is_marker = ch >= MARKER_BASE
        specials = SpecialEvents(marker_t=t[is_marker], marker_mask=ch[is_marker])
        return EventChunk(t[~is_marker], ch[~is_marker], specials, first_record=first_record)


def open_qutag(path: str | Path, *, compressed: bool = False, tick_ps: float = 1.0
               ) -> QutagReader:
    """Open a quTAG binary (10-byte) or compressed (5-byte) file."""
    return QutagReader(str(path), compressed, tick_ps)


def write_qutag_bin(path: str | Path, chunks, *, header: bytes = b"\x00" * HEADER_BYTES) -> int:
    """Write events (ps, tick 1 ps) as a quTAG binary file; markers keep their channel numbers."""
    n = 0
    with open(path, "wb") as fh:
        fh.write(header[:HEADER_BYTES].ljust(HEADER_BYTES, b"\x00"))
        for c in chunks:
            rec = np.empty(len(c) + c.specials.marker_t.size, BIN_DTYPE)
            t = np.concatenate([c.t, c.specials.marker_t])
            chan = np.concatenate([c.ch, c.specials.marker_mask])
            if c.specials.marker_t.size:  # merge markers in; photons keep their own order
                order = np.argsort(t, kind="stable")
                t, chan = t[order], chan[order]
            rec["time"] = t
            rec["channel"] = chan
            fh.write(rec.tobytes())
            n += rec.size
    return n
