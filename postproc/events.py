"""The event model shared by every reader, the simulator and the hardware links.

A chunk of events is a pair of arrays (``t`` int64 picoseconds, ``ch`` int16 channel) plus what the
source reported on the side (markers, overflows, sync records, lost-event gaps). Readers yield
chunks of bounded size so memory stays O(chunk) whatever the size of the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

TIME_DTYPE = np.int64
CHANNEL_DTYPE = np.int16
DEFAULT_CHUNK_RECORDS = 1 << 20


def _empty(dtype: type) -> np.ndarray:
    return np.empty(0, dtype=dtype)


@dataclass
class SpecialEvents:
    """Non-photon records of one chunk. Nothing here is silently dropped: counts add up per file."""

    marker_t: np.ndarray = field(default_factory=lambda: _empty(TIME_DTYPE))
    marker_mask: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    sync_t: np.ndarray = field(default_factory=lambda: _empty(TIME_DTYPE))  # T2 sync records
    n_overflows: int = 0  # overflow records (or overflow counts they carry)
    # Intervals where the source lost events: start, stop (ps) and how many events were missed.
    gap_start: np.ndarray = field(default_factory=lambda: _empty(TIME_DTYPE))
    gap_stop: np.ndarray = field(default_factory=lambda: _empty(TIME_DTYPE))
    gap_missed: np.ndarray = field(default_factory=lambda: _empty(np.int64))


@dataclass
class EventChunk:
    """Photon/detection events of one chunk, in source order."""

    t: np.ndarray  # int64 ps
    ch: np.ndarray  # int16 channel, numbered as the source's own software reports it
    specials: SpecialEvents = field(default_factory=SpecialEvents)
    nsync: np.ndarray | None = None  # T3 only: sync counter of each event (int64)
    dtime: np.ndarray | None = None  # T3 only: start-stop time in units of dtime_resolution_ps
    first_record: int = 0  # index in the source of the first record this chunk decoded

    def __post_init__(self) -> None:
        if self.t.shape != self.ch.shape:
            raise ValueError(f"t and ch differ in length: {self.t.shape} vs {self.ch.shape}")

    def __len__(self) -> int:
        return int(self.t.shape[0])


@dataclass
class FileMeta:
    """What a source says about itself before any event is read."""

    path: str
    format: str  # e.g. "PTU", "HT2", "PT3", "T3R", "quTAG-bin", "swabian-raw", "text", "qkdpp"
    record_type: str  # e.g. "HydraHarp2T2", "PicoHarpT3", "quTAG-10B"
    resolution_ps: float  # unit of the time tag
    channels: tuple[int, ...] = ()
    n_records_declared: int | None = None
    sync_period_ps: float | None = None  # T3: period of the sync (laser) clock
    dtime_resolution_ps: float | None = None  # T3: unit of dtime
    header: dict = field(default_factory=dict)  # the raw header fields, for `info`


class TimeTagReader(Protocol):
    """Streaming reader of one time-tag source."""

    meta: FileMeta

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[EventChunk]:
        """Decode the source front to back, ``chunk_records`` records at a time."""
        ...

    def close(self) -> None: ...
