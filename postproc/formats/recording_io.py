"""qkdpp's own recording format (``postproc.recording``, a directory with a manifest) seen as
a time-tag source and a conversion target. Only Bob's events travel through here; a recording
converted from a time-tag file has an empty Alice log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from postproc.errors import FormatError
from postproc.events import DEFAULT_CHUNK_RECORDS, EventChunk, FileMeta


def _recording_module():
    try:
        from postproc import recording
    except ImportError as exc:  # the recording format lands from another stream
        raise FormatError("the qkdpp recording format (postproc.recording) is not available "
                          "in this build") from exc
    return recording


class RecordingReader:
    """Bob's events of a qkdpp recording, chunk by chunk."""

    def __init__(self, path: str) -> None:
        self._rec = _recording_module().open_recording(path)
        m = self._rec.meta
        self.meta = FileMeta(path, "qkdpp", f"qkdpp-recording-v{m.get('version')}", 1.0,
                             n_records_declared=self._rec.n_events,
                             header={k: v for k, v in m.items() if k != "files"})
        self.records_read = 0

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[EventChunk]:
        """Bob's events in recording order."""
        self.records_read = 0
        for c in self._rec.iter_bob(chunk_records=chunk_records):
            self.records_read += len(c)
            yield c

    def close(self) -> None:
        """Nothing stays open between passes."""


def open_recording_reader(path: str | Path) -> RecordingReader:
    """Open a qkdpp recording directory as a time-tag source."""
    return RecordingReader(str(path))


def write_recording_events(path: str | Path, chunks: Iterable[EventChunk], meta: dict) -> int:
    """Write events as a qkdpp recording (empty Alice log); return the number of events."""
    rec = _recording_module()
    count = 0

    def counted() -> Iterator[EventChunk]:
        nonlocal count
        for c in chunks:
            count += len(c)
            yield c

    rec.write_recording(Path(path), meta, counted(), iter(()))
    return count
