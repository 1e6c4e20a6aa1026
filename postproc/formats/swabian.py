"""Swabian Instruments Time Tagger tag stream dumped raw (the 16-byte ``Tag`` of its API,
"time_tag_streaming"): uint8 type, uint8 reserved, uint16 missed events, int32 channel,
int64 time (ps), little-endian, no file header.

Types: 0 TimeTag (a detection), 1 Error (the stream lost sync: events may be missing),
2 OverflowBegin and 3 OverflowEnd (the tagger dropped events in between), 4 MissedEvents
(per-channel count of events dropped during an overflow). Nothing is dropped silently: every
overflow interval becomes a gap ``[begin, end)`` whose ``missed`` is the sum of the MissedEvents
counts that follow it (a MissedEvents tag with no gap in its chunk becomes a zero-length gap at
its own time); an Error tag becomes a zero-length gap with ``missed = -1`` (unknown) and a
FormatWarning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from postproc.events import EventChunk, FileMeta, SpecialEvents
from postproc.formats.base import BlockFileReader, warn
from postproc.formats.order import check_order

TAG_DTYPE = np.dtype([("type", "u1"), ("reserved", "u1"), ("missed", "<u2"),
                      ("channel", "<i4"), ("time", "<i8")])
TIME_TAG, ERROR, OVERFLOW_BEGIN, OVERFLOW_END, MISSED_EVENTS = 0, 1, 2, 3, 4


def looks_like(head: bytes, size: int) -> bool:
    """Structural check: whole 16-byte tags, known types, zero reserved byte, times >= 0."""
    if size == 0 or size % 16:
        return False
    tags = np.frombuffer(head[: len(head) // 16 * 16], TAG_DTYPE)
    return bool(tags.size and (tags["type"] <= 4).all() and (tags["reserved"] == 0).all()
                and (tags["time"] >= 0).all())


@njit(cache=True)
def _split(types, missed, channel, time, open_start, t_out, ch_out, g_start, g_stop, g_missed):
    """Photons to (t, ch); overflow intervals, missed counts and errors to gaps.

    ``open_start`` is the begin time of an overflow still open from the previous chunk (-1 if
    none). Returns ``(n_photons, n_gaps, open_start, n_errors, first_error, n_unknown,
    first_unknown)``.
    """
    n = 0
    g = 0
    n_err = 0
    first_err = -1
    n_unk = 0
    first_unk = -1
    for i in range(types.shape[0]):
        ty = types[i]
        if ty == TIME_TAG:
            t_out[n] = time[i]
            ch_out[n] = channel[i]
            n += 1
        elif ty == OVERFLOW_BEGIN:
            if open_start < 0:
                open_start = time[i]
        elif ty == OVERFLOW_END:
            g_start[g] = open_start if open_start >= 0 else time[i]
            g_stop[g] = time[i]
            g_missed[g] = 0
            g += 1
            open_start = -1
        elif ty == MISSED_EVENTS:
            if g > 0 and g_missed[g - 1] >= 0:
                g_missed[g - 1] += missed[i]
            else:
                g_start[g] = time[i]
                g_stop[g] = time[i]
                g_missed[g] = missed[i]
                g += 1
        elif ty == ERROR:
            g_start[g] = time[i]
            g_stop[g] = time[i]
            g_missed[g] = -1
            g += 1
            n_err += 1
            if first_err < 0:
                first_err = i
        else:
            n_unk += 1
            if first_unk < 0:
                first_unk = i
    return n, g, open_start, n_err, first_err, n_unk, first_unk


class SwabianRawReader(BlockFileReader):
    """Streaming reader of raw 16-byte Time Tagger tags."""

    record_bytes = 16
    raw_dtype = TAG_DTYPE

    def __init__(self, path: str) -> None:
        self.data_offset = 0
        self.meta = FileMeta(path, "swabian-raw", "TimeTagger-Tag16", 1.0)
        self._check_size(None, None)
        self._reset()

    def _reset(self) -> None:
        self._open = -1
        self._last = np.iinfo(np.int64).min
        self.n_errors = 0
        self.n_backward = 0

    def _decode(self, raw: np.ndarray, first_record: int) -> EventChunk:
        n = raw.shape[0]
        t = np.empty(n, np.int64)
        ch = np.empty(n, np.int16)
        gs = np.empty(n, np.int64)
        ge = np.empty(n, np.int64)
        gm = np.empty(n, np.int64)
        n_ph, n_g, self._open, n_err, first_err, n_unk, first_unk = _split(
            raw["type"], raw["missed"].astype(np.int64), raw["channel"], raw["time"],
            self._open, t, ch, gs, ge, gm)
        if n_err:
            self.n_errors += n_err
            warn(self.meta.path, (first_record + first_err) * 16, "type",
                 f"{n_err} Error tag(s): the tagger lost events here (reported as gaps with "
                 "missed = -1)")
        if n_unk:
            warn(self.meta.path, (first_record + first_unk) * 16, "type",
                 f"{n_unk} tag(s) of unknown type, first type "
                 f"{int(raw['type'][first_unk])}; skipped")
        nb, first = check_order(t[:n_ph], self._last)
        if n_ph:
            self._last = int(t[n_ph - 1])
        if nb:
            self.n_backward += nb
            tag_index = int(np.flatnonzero(raw["type"] == TIME_TAG)[first])
            warn(self.meta.path, (first_record + tag_index) * 16, "time",
                 f"{nb} time tag(s) earlier than their predecessor in this chunk; kept in "
                 "stream order")
        gs, ge, gm = gs[:n_g], ge[:n_g], gm[:n_g]
        if self._open >= 0 and first_record + n == self.n_records:
            # the stream ends inside an overflow: report it up to the last tag, count unknown
            end = int(raw["time"][-1])
            warn(self.meta.path, (first_record + n) * 16, "type", "the file ends inside an "
                 f"overflow interval that began at {self._open} ps (reported as a gap with "
                 "missed = -1)")
            gs, ge, gm = (np.append(gs, self._open), np.append(ge, max(end, self._open)),
                          np.append(gm, -1))
            self._open = -1
        specials = SpecialEvents(gap_start=gs, gap_stop=ge, gap_missed=gm)
        return EventChunk(t[:n_ph], ch[:n_ph], specials, first_record=first_record)


def open_swabian(path: str | Path) -> SwabianRawReader:
    """Open a raw Time Tagger tag dump."""
    return SwabianRawReader(str(path))


def write_swabian(path: str | Path, tags: np.ndarray) -> None:
    """Write a structured array of ``TAG_DTYPE`` (test and conversion helper)."""
    np.asarray(tags, TAG_DTYPE).tofile(str(path))
