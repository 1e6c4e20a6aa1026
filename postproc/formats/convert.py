"""``convert``: stream events from any readable format into a writable one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from postproc.errors import FormatError
from postproc.events import DEFAULT_CHUNK_RECORDS, EventChunk
from postproc.formats import open_timetag

WRITABLE = ("ptu", "text", "qkdpp", "qutag-bin")


def output_format(path: str | Path, explicit: str | None) -> str:
    """The output format: explicit, or from the extension (.ptu, .txt, .bin, else a directory)."""
    if explicit:
        fmt = explicit.lower()
        if fmt not in WRITABLE:
            raise FormatError(f"cannot write format {explicit!r} (writable: "
                              f"{', '.join(WRITABLE)})", source=path)
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix == ".ptu":
        return "ptu"
    if suffix in (".txt", ".tags", ".csv"):
        return "text"
    if suffix == ".bin":
        return "qutag-bin"
    if suffix == "":
        return "qkdpp"
    raise FormatError(f"cannot tell the output format from {suffix!r}; pass --to "
                      f"({', '.join(WRITABLE)})", source=path)


def convert(
    src: str | Path,
    dst: str | Path,
    *,
    to: str | None = None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    advance: Callable[[int], None] | None = None,
    **read_options,
) -> dict:
    """Convert ``src`` to ``dst``; return a summary (formats, events written)."""
    fmt = output_format(dst, to)
    reader = open_timetag(src, **read_options)

    def stream() -> Iterator[EventChunk]:
        advanced = 0
        for c in reader.chunks(chunk_records):
            if advance is not None:  # progress in source records (the declared total's unit)
                done = getattr(reader, "records_read", advanced + len(c))
                advance(done - advanced)
                advanced = done
            yield c

    chunks: Iterable[EventChunk] = stream()
    if fmt == "ptu":
        from postproc.formats.ptu import write_ptu_t2

        n = write_ptu_t2(dst, chunks, comment=f"converted by qkdpp from {Path(src).name}")
    elif fmt == "text":
        from postproc.formats.text import write_text

        n = write_text(dst, chunks)
    elif fmt == "qutag-bin":
        from postproc.formats.qutag import write_qutag_bin

        n = write_qutag_bin(dst, chunks)
    else:
        from postproc.formats.recording_io import write_recording_events

        meta = {"source": str(src), "source_format": reader.meta.format,
                "source_record_type": reader.meta.record_type}
        n = write_recording_events(dst, chunks, meta)
    return {"input": str(src), "input_format": reader.meta.format, "output": str(dst),
            "output_format": fmt, "written": int(n)}
