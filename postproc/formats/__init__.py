"""Time-tag file readers and writers; ``open_timetag`` picks the reader from the file content.

Detection (first bytes, then structure; the extension only breaks ties between headerless
formats): ``PQTTTR`` magic -> PTU; a PicoQuant ident ("PicoHarp 300", "HydraHarp",
"TimeHarp 200") -> legacy .pt2/.pt3/.ht2/.ht3/.t3r; a ``# qkdpp-text`` line -> text; a directory
with ``meta.json`` -> qkdpp recording; otherwise the quTAG and Swabian layouts are checked
structurally (see their modules).
"""

from __future__ import annotations

from pathlib import Path

from postproc.errors import FormatError
from postproc.events import TimeTagReader

FORMAT_NAMES = ("PTU", "PT2", "PT3", "HT2", "HT3", "T3R", "quTAG-bin", "quTAG-compressed",
                "swabian-raw", "text", "qkdpp")


def detect_format(path: str | Path) -> str:
    """Name the format of ``path`` from its content (see the module docstring)."""
    from postproc.formats import pq_legacy, qutag, swabian, text

    p = Path(path)
    if p.is_dir():
        if (p / "meta.json").is_file():
            return "qkdpp"
        raise FormatError("directory without meta.json is not a qkdpp recording", source=p)
    if not p.is_file():
        raise FormatError("no such file", source=p)
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PQTTTR"):
        return "PTU"
    legacy = pq_legacy.sniff(head)
    if legacy is not None:
        return legacy[0]  # refined by the reader (T2/T3)
    if head.startswith(text.MAGIC):
        return "text"
    size = p.stat().st_size
    suffix = p.suffix.lower()
    candidates = []
    if swabian.looks_like(head, size):
        candidates.append("swabian-raw")
    kind = qutag.looks_like(head, size)
    if kind is not None:
        candidates.append(kind)
    if len(candidates) > 1:  # both layouts fit: the extension decides
        preferred = [c for c in candidates if suffix in _EXTENSIONS.get(c, ())]
        candidates = preferred or candidates
    if candidates:
        return candidates[0]
    raise FormatError("unrecognised time-tag format (no known magic, header or record "
                      "structure)", source=p, offset=0, field="magic")


_EXTENSIONS = {
    "swabian-raw": (".ttraw", ".raw", ".tags"),
    "quTAG-bin": (".bin", ".qutag"),
    "quTAG-compressed": (".bin", ".qtc"),
}


def open_timetag(path: str | Path, **options) -> TimeTagReader:
    """Open any supported time-tag file (format detected from content) for streaming.

    ``options`` are passed to readers that need outside facts, e.g. ``tick_ps`` for quTAG and
    text files whose unit is not in the file.
    """
    from postproc.formats import pq_legacy, ptu, qutag, swabian, text

    fmt = options.pop("format", None) or detect_format(path)
    if fmt == "PTU":
        return ptu.open_ptu(path)
    if fmt in ("PicoHarp", "HydraHarp", "TimeHarp", "PT2", "PT3", "HT2", "HT3", "T3R"):
        return pq_legacy.open_legacy(path)
    if fmt in ("quTAG-bin", "quTAG-compressed"):
        return qutag.open_qutag(path, compressed=fmt == "quTAG-compressed", **options)
    if fmt == "swabian-raw":
        return swabian.open_swabian(path)
    if fmt == "text":
        return text.open_text(path, **options)
    if fmt == "qkdpp":
        from postproc.formats import recording_io

        return recording_io.open_recording_reader(path)
    raise FormatError(f"unknown format name {fmt!r} (have {', '.join(FORMAT_NAMES)})",
                      source=path)
