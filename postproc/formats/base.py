"""Shared machinery of the file readers: buffered block reads, truncation checks, warnings."""

from __future__ import annotations

import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from postproc.errors import FormatError, FormatWarning
from postproc.events import DEFAULT_CHUNK_RECORDS, EventChunk, FileMeta


def warn(source: str | Path, offset: int | None, field: str | None, message: str) -> None:
    """Emit a FormatWarning that names the file, the byte offset and the field."""
    where = [str(source)]
    if offset is not None:
        where.append(f"offset {offset}")
    if field is not None:
        where.append(f"field {field!r}")
    warnings.warn(f"{', '.join(where)}: {message}", FormatWarning, stacklevel=3)


def rational_ps(resolution_ps: float, source: str | Path, field: str) -> tuple[int, int]:
    """Express a time-tag unit in ps as num/den (den <= 1000) so times convert exactly."""
    if not resolution_ps > 0:
        raise FormatError(f"time resolution must be > 0, got {resolution_ps!r}",
                          source=source, field=field)
    frac = Fraction(resolution_ps).limit_denominator(1000)
    if abs(float(frac) - resolution_ps) > 1e-6 * resolution_ps:
        raise FormatError(f"time resolution {resolution_ps} ps is not a simple fraction of 1 ps",
                          source=source, field=field)
    return frac.numerator, frac.denominator


class BufferPool:
    """Output arrays for chunks, recycled only once nothing outside the pool references them.

    Chunks hand out views of pooled arrays; a view keeps its base array referenced, so a set of
    arrays is reused only after the consumer has dropped every chunk and view made from it
    (CPython reference counting, compared with the count of a fresh set). Reusing warm memory
    instead of page-faulting fresh arrays for every chunk roughly halves the decode time.
    """

    def __init__(self, dtypes: tuple, max_sets: int = 3) -> None:
        self._dtypes = tuple(np.dtype(d) for d in dtypes)
        self._max_sets = max_sets
        self._sets: list[list[np.ndarray]] = []
        self._free_refs: list[int] | None = None

    @staticmethod
    def _refs(arrays: list[np.ndarray]) -> list[int]:
        return [sys.getrefcount(a) for a in arrays]

    def take(self, n: int) -> list[np.ndarray]:
        """Arrays of at least ``n`` items, one per dtype, that nobody else references."""
        for arrays in self._sets:
            if arrays[0].shape[0] >= n and self._refs(arrays) == self._free_refs:
                return arrays
        fresh = [np.empty(n, d) for d in self._dtypes]
        if len(self._sets) < self._max_sets:
            self._sets.append(fresh)
            if self._free_refs is None:
                self._free_refs = self._refs(fresh)
        return fresh


class BlockFileReader(ABC):
    """A reader whose records are fixed-size blocks after a header, read in buffered chunks.

    Subclasses set ``meta``, ``data_offset``, ``record_bytes``, ``n_records`` (records to decode)
    and implement ``_decode(raw, first_record) -> EventChunk`` carrying their own state.
    Memory is O(chunk): one reusable read buffer plus the chunk's output arrays.
    """

    meta: FileMeta
    data_offset: int
    record_bytes: int
    n_records: int
    raw_dtype: np.dtype = np.dtype(np.uint8)

    def _check_size(self, declared: int | None, declared_field: str | None) -> None:
        """Set ``n_records`` from the file size and warn about truncation or extra bytes."""
        path = self.meta.path
        size = Path(path).stat().st_size
        if size < self.data_offset:
            raise FormatError(f"file ends inside the header ({size} < {self.data_offset} bytes)",
                              source=path, offset=size)
        available, rest = divmod(size - self.data_offset, self.record_bytes)
        end = self.data_offset + available * self.record_bytes
        if declared is None:
            self.n_records = available
            if rest:
                warn(path, end, None, f"{rest} trailing bytes do not form a whole "
                     f"{self.record_bytes}-byte record; ignored")
            return
        if declared > available:
            warn(path, end, declared_field,
                 f"header declares {declared} records but the file holds {available} "
                 f"(+{rest} bytes): truncated; decoding the {available} present")
            self.n_records = available
        else:
            self.n_records = declared
            extra = size - (self.data_offset + declared * self.record_bytes)
            if extra:
                warn(path, self.data_offset + declared * self.record_bytes, declared_field,
                     f"{extra} bytes after the {declared} declared records; ignored")

    @abstractmethod
    def _reset(self) -> None:
        """Reset the decoding state (overflow base etc.) before a pass over the file."""

    @abstractmethod
    def _decode(self, raw: np.ndarray, first_record: int) -> EventChunk:
        """Decode one block of raw records (state carried on ``self``)."""

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[EventChunk]:
        """Decode the file front to back, ``chunk_records`` records at a time."""
        if chunk_records <= 0:
            raise ValueError("chunk_records must be > 0")
        self._reset()
        self.records_read = 0
        buf = np.empty(min(chunk_records, max(self.n_records, 1)) * self.record_bytes, np.uint8)
        with open(self.meta.path, "rb") as fh:
            fh.seek(self.data_offset)
            done = 0
            while done < self.n_records:
                n = min(chunk_records, self.n_records - done)
                view = memoryview(buf)[: n * self.record_bytes]
                got = fh.readinto(view)
                if got != n * self.record_bytes:  # the file shrank while we read it
                    n = got // self.record_bytes
                    warn(self.meta.path, self.data_offset + (done + n) * self.record_bytes,
                         None, "file ended early while reading")
                    if n == 0:
                        return
                raw = buf[: n * self.record_bytes]
                if self.raw_dtype != np.uint8:
                    raw = raw.view(self.raw_dtype)
                chunk = self._decode(raw, done)
                done += n
                self.records_read = done
                yield chunk

    def close(self) -> None:  # noqa: B027  (files are opened per pass, nothing to close)
        """Nothing stays open between passes; kept for the TimeTagReader protocol."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
