"""PCIe/DMA stream reader for XDMA-style card-to-host character devices.

The FPGA's DMA engine writes fixed-size tag records (64-bit tag words, see :mod:`hil.tagfile`)
to a stream device such as ``/dev/xdma0_c2h_0``. PCIe protects each transaction with its own
LCRC and replays, so records arrive intact or not at all; this reader's job is to read large
blocks, keep records whole across short reads and yield the same EventChunks as the file
readers. A FIFO or a regular file stands in for the device in tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hil.tagfile import words_to_events
from postproc.errors import FormatError
from postproc.events import DEFAULT_CHUNK_RECORDS, EventChunk, FileMeta

RECORD_SIZE = 8


class DmaStreamReader:
    """Read tag records from a DMA stream device until end of stream, ``seconds`` or ``n``."""

    def __init__(self, path: str | Path, *, record_size: int = RECORD_SIZE) -> None:
        if record_size != RECORD_SIZE:
            raise FormatError(f"record size {record_size} unsupported (tag words are "
                              f"{RECORD_SIZE} bytes)", source=path, field="record_size")
        self.path = str(path)
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise FormatError(f"cannot open DMA stream: {exc.strerror}", source=path) from exc
        self.meta = FileMeta(path=self.path, format="xdma-stream", record_type="qkdpp-tagword64",
                             resolution_ps=1.0, channels=tuple(range(32)))
        self.offset = 0

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS, *,
               seconds: float | None = None) -> Iterator[EventChunk]:
        block = RECORD_SIZE * chunk_records
        carry = b""
        index = 0
        t0 = time.monotonic()
        while seconds is None or time.monotonic() - t0 < seconds:
            data = os.read(self._fd, block - len(carry))
            if not data:
                break
            self.offset += len(data)
            data = carry + data
            whole = len(data) // RECORD_SIZE * RECORD_SIZE
            carry = data[whole:]
            if not whole:
                continue
            t, ch = words_to_events(np.frombuffer(data[:whole], dtype="<u8"))
            yield EventChunk(t, ch, first_record=index)
            index += t.shape[0]
        if carry:
            raise FormatError(f"stream ended inside a record ({len(carry)} of {RECORD_SIZE} "
                              "bytes)", source=self.path, offset=self.offset - len(carry))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> DmaStreamReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
