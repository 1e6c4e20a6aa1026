"""The tag word: 64-bit records that the firmware's FIFO, tag files and DMA streams share.

A tag word is little-endian u64: bits 0..58 = time in ps (non-negative), bits 59..63 = channel
(0..31). A *tag file* is the 8-byte magic ``b"QKDTAG01"`` followed by tag words; the host build
of the firmware replays one as its time-tagger FIFO. Any EventChunk stream converts to one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from postproc.errors import FormatError
from postproc.events import DEFAULT_CHUNK_RECORDS, EventChunk

TAGFILE_MAGIC = b"QKDTAG01"
WORD_TIME_BITS = 59
WORD_TIME_MASK = (1 << WORD_TIME_BITS) - 1
WORD_MAX_CHANNEL = 31


def events_to_words(t: np.ndarray, ch: np.ndarray) -> np.ndarray:
    """Pack events into tag words (uint64); raises ValueError if a time or channel won't fit."""
    t = np.asarray(t, dtype=np.int64)
    ch = np.asarray(ch, dtype=np.int64)
    if np.any((t < 0) | (t > WORD_TIME_MASK)):
        raise ValueError("event time outside 0..2^59-1 ps")
    if np.any((ch < 0) | (ch > WORD_MAX_CHANNEL)):
        raise ValueError(f"channel outside 0..{WORD_MAX_CHANNEL}")
    return (t.astype(np.uint64) | (ch.astype(np.uint64) << np.uint64(WORD_TIME_BITS))).astype("<u8")


def words_to_events(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`events_to_words`: (t int64 ps, ch int16)."""
    w = np.asarray(words).view("<u8") if np.asarray(words).dtype != np.uint64 else words
    t = (w & np.uint64(WORD_TIME_MASK)).astype(np.int64)
    ch = (w >> np.uint64(WORD_TIME_BITS)).astype(np.int16)
    return t, ch


def write_tagfile(path: str | Path, chunks: Iterable[EventChunk]) -> int:
    """Write events to a tag file; returns the number of events written."""
    n = 0
    with open(path, "wb") as f:
        f.write(TAGFILE_MAGIC)
        for c in chunks:
            f.write(events_to_words(c.t, c.ch).tobytes())
            n += len(c)
    return n


def iter_tagfile(path: str | Path, chunk_records: int = DEFAULT_CHUNK_RECORDS
                 ) -> Iterator[EventChunk]:
    """Read a tag file back as EventChunks."""
    with open(path, "rb") as f:
        magic = f.read(len(TAGFILE_MAGIC))
        if magic != TAGFILE_MAGIC:
            raise FormatError(f"magic {magic!r} is not {TAGFILE_MAGIC!r}", source=path, offset=0,
                              field="magic")
        index = 0
        while True:
            data = f.read(8 * chunk_records)
            if not data:
                return
            if len(data) % 8:
                raise FormatError(f"truncated tag word ({len(data) % 8} trailing bytes)",
                                  source=path, offset=8 + 8 * index + len(data) // 8 * 8)
            t, ch = words_to_events(np.frombuffer(data, dtype="<u8"))
            yield EventChunk(t, ch, first_record=index)
            index += t.shape[0]
