"""Plain text time tags: one ``channel timestamp`` pair of integers per line.

The timestamp unit (tick) must be declared: by a ``# tick_ps: <value>`` comment line in the
file, or by the ``tick_ps`` option. qkdpp writes ``# qkdpp-text v1`` as its first line, which
makes the file detectable; other ``#`` lines are comments. Times are converted to int64 ps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from postproc.errors import FormatError
from postproc.events import DEFAULT_CHUNK_RECORDS, EventChunk, FileMeta
from postproc.formats.base import rational_ps, warn
from postproc.formats.order import check_order

MAGIC = b"# qkdpp-text"
_TICK = re.compile(rb"^#\s*tick_ps\s*[:=]\s*([0-9.eE+-]+)\s*$")


class TextReader:
    """Streaming reader of ``channel timestamp`` lines."""

    def __init__(self, path: str, tick_ps: float | None = None) -> None:
        declared = None
        with open(path, "rb") as fh:
            for line in fh:
                if not line.startswith(b"#"):
                    break
                m = _TICK.match(line.strip())
                if m:
                    declared = float(m.group(1))
        if declared is not None and tick_ps is not None and declared != tick_ps:
            raise FormatError(f"file declares tick_ps {declared}, option says {tick_ps}",
                              source=path, field="tick_ps")
        tick = declared if declared is not None else tick_ps
        if tick is None:
            raise FormatError("the timestamp unit is not declared: add a '# tick_ps: X' line "
                              "or pass tick_ps", source=path, field="tick_ps")
        self._num, self._den = rational_ps(tick, path, "tick_ps")
        self.meta = FileMeta(path, "text", "channel-timestamp", tick, header={"tick_ps": tick})
        self.records_read = 0

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[EventChunk]:
        """Parse ``chunk_records`` lines at a time; a malformed line is a FormatError."""
        path = self.meta.path
        last = np.iinfo(np.int64).min
        self.records_read = 0
        with open(path, "rb") as fh:
            offset = 0
            lineno = 0
            while True:
                rows: list[bytes] = []
                starts: list[tuple[int, int]] = []
                for line in fh:
                    lineno += 1
                    here = offset
                    offset += len(line)
                    s = line.strip()
                    if not s or s.startswith(b"#"):
                        continue
                    rows.append(s)
                    starts.append((here, lineno))
                    if len(rows) >= chunk_records:
                        break
                if not rows:
                    return
                arr = np.empty((len(rows), 2), np.int64)
                for i, s in enumerate(rows):
                    parts = s.split()
                    try:
                        if len(parts) != 2:
                            raise ValueError
                        arr[i, 0] = int(parts[0])
                        arr[i, 1] = int(parts[1])
                    except (ValueError, OverflowError):
                        raise FormatError(f"line {starts[i][1]}: expected 'channel timestamp' "
                                          f"integers, got {s[:60]!r}", source=path,
                                          offset=starts[i][0], field="line") from None
                ch = arr[:, 0]
                if (ch < -32768).any() or (ch > 32767).any():
                    i = int(np.flatnonzero((ch < -32768) | (ch > 32767))[0])
                    raise FormatError(f"line {starts[i][1]}: channel {int(ch[i])} out of range",
                                      source=path, offset=starts[i][0], field="channel")
                t = arr[:, 1] * self._num // self._den
                nb, first = check_order(t, last)
                if nb:
                    warn(path, starts[first][0], "timestamp", f"{nb} timestamp(s) earlier than "
                         "their predecessor in this chunk; kept in file order")
                last = int(t[-1])
                first_record = self.records_read
                self.records_read += len(rows)
                yield EventChunk(np.ascontiguousarray(t), ch.astype(np.int16),
                                 first_record=first_record)

    def close(self) -> None:
        """Nothing stays open between passes."""


def open_text(path: str | Path, *, tick_ps: float | None = None) -> TextReader:
    """Open a text time-tag file (tick declared in the file or given here)."""
    return TextReader(str(path), tick_ps)


def write_text(path: str | Path, chunks: Iterable[EventChunk], *, tick_ps: int = 1) -> int:
    """Write photons as ``channel timestamp`` lines (times in ticks of ``tick_ps``)."""
    n = 0
    with open(path, "w", encoding="ascii") as fh:
        fh.write(f"# qkdpp-text v1\n# tick_ps: {tick_ps}\n# channel timestamp\n")
        for c in chunks:
            if len(c) == 0:
                continue
            ticks = c.t // tick_ps
            np.savetxt(fh, np.column_stack([c.ch.astype(np.int64), ticks]), fmt="%d")
            n += len(c)
    return n
