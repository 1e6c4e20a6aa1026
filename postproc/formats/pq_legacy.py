"""Legacy PicoQuant TTTR files: .pt2/.pt3 (PicoHarp 300, format 2.0), .ht2/.ht3 (HydraHarp,
formats 1.0 and 2.0) and .t3r (TimeHarp 200, formats 5.0 and 6.0).

Each starts with a 16-byte ident ("PicoHarp 300", "HydraHarp", "TimeHarp 200") and a 6-byte
format version, followed by fixed binary headers (little-endian, packed to 2 bytes) as in
PicoQuant's pt2/pt3/ht2/ht3/t3r demo readers. Field offsets below are from the start of the
file. Units: .pt2 time tags are 4 ps; .ht2 1.0 time tags are 0.5 ps (wrap 33552000), .ht2 2.0
1 ps; T3 sync periods come from the recorded sync rate (.pt3: CntRate0, .ht3: SyncRate) and
.t3r macro times from TTTRGlobClock (ns).
"""

from __future__ import annotations

import struct
from pathlib import Path

from postproc.errors import FormatError
from postproc.events import FileMeta
from postproc.formats import pq_kernels as K  # noqa: N812  (K.<layout constant> reads better)
from postproc.formats.pq_reader import PqRecordReader

IDENTS = {"PicoHarp 300": "PicoHarp", "HydraHarp": "HydraHarp", "TimeHarp 200": "TimeHarp"}
_HEAD_READ = 4096


def _cstr(b: bytes) -> str:
    return b.split(b"\x00", 1)[0].decode("latin-1").strip()


class _Header:
    """Bounds-checked little-endian field reader over the first bytes of a file."""

    def __init__(self, path: str, data: bytes) -> None:
        self.path = path
        self.data = data
        self.fields: dict = {}

    def get(self, fmt: str, offset: int, name: str):
        size = struct.calcsize("<" + fmt)
        if offset + size > len(self.data):
            raise FormatError("file ends inside the header", source=self.path, offset=offset,
                              field=name)
        value = struct.unpack_from("<" + fmt, self.data, offset)[0]
        if isinstance(value, bytes):
            value = _cstr(value)
        self.fields[name] = value
        return value


def sniff(head: bytes) -> tuple[str, str] | None:
    """Return (family, version) if ``head`` starts like a legacy PicoQuant file."""
    if len(head) < 22:
        return None
    ident = _cstr(head[:16])
    if ident not in IDENTS:
        return None
    return IDENTS[ident], _cstr(head[16:22])


def _positive(h: _Header, value, name: str, offset: int):
    if not value > 0:
        raise FormatError(f"must be > 0, got {value!r}", source=h.path, offset=offset, field=name)
    return value


def open_legacy(path: str | Path) -> PqRecordReader:
    """Open a legacy .pt2/.pt3/.ht2/.ht3/.t3r file for streaming decoding."""
    path = str(path)
    with open(path, "rb") as fh:
        data = fh.read(_HEAD_READ)
    found = sniff(data)
    if found is None:
        raise FormatError("not a legacy PicoQuant file (unknown ident)", source=path, offset=0,
                          field="Ident")
    family, version = found
    h = _Header(path, data)
    h.fields.update(Ident=_cstr(data[:16]), FormatVersion=version)
    if family == "HydraHarp":
        return _open_hydraharp(h, version)
    if family == "PicoHarp":
        return _open_picoharp(h, version)
    return _open_timeharp(h, version)


def _common_texts(h: _Header) -> None:
    h.get("18s", 0x16, "CreatorName")
    h.get("12s", 0x28, "CreatorVersion")
    h.get("18s", 0x34, "FileTime")
    h.get("256s", 0x48, "Comment")


def _open_hydraharp(h: _Header, version: str) -> PqRecordReader:
    if version not in ("1.0", "2.0"):
        raise FormatError(f"HydraHarp file format {version!r} not supported (1.0, 2.0)",
                          source=h.path, offset=16, field="FormatVersion")
    _common_texts(h)
    bits = h.get("i", 0x14C, "BitsPerRecord")
    mode = h.get("i", 0x154, "MeasurementMode")
    resolution = h.get("d", 0x160, "Resolution")
    h.get("16s", 0x218, "HardwareIdent")
    h.get("d", 0x288, "BaseResolution")
    n_inp = h.get("i", 0x298, "InputChannelsPresent")
    if not 0 < n_inp <= 64:
        raise FormatError(f"implausible channel count {n_inp}", source=h.path, offset=0x298,
                          field="InputChannelsPresent")
    if bits != 32:
        raise FormatError(f"{bits} bits per record (32 expected)", source=h.path, offset=0x14C,
                          field="BitsPerRecord")
    tt = 0x2B8 + 16 * n_inp + 4 * n_inp
    sync_rate = h.get("i", tt, "SyncRate")
    img = h.get("i", tt + 12, "ImgHdrSize")
    n_rec = h.get("q", tt + 16, "NumRecords")
    if img < 0 or n_rec < 0:
        raise FormatError("negative ImgHdrSize or NumRecords", source=h.path, offset=tt + 12,
                          field="ImgHdrSize" if img < 0 else "NumRecords")
    data_offset = tt + 24 + 4 * img
    v1 = version == "1.0"
    if mode == 2:
        layout = K.LAYOUT_HH1_T2 if v1 else K.LAYOUT_HH2_T2
        meta = FileMeta(h.path, "HT2", "HydraHarpT2" if v1 else "HydraHarp2T2",
                        0.5 if v1 else 1.0, tuple(range(n_inp)), n_rec, header=h.fields)
    elif mode == 3:
        layout = K.LAYOUT_HH1_T3 if v1 else K.LAYOUT_HH2_T3
        _positive(h, sync_rate, "SyncRate", tt)
        _positive(h, resolution, "Resolution", 0x160)
        meta = FileMeta(h.path, "HT3", "HydraHarpT3" if v1 else "HydraHarp2T3", resolution,
                        tuple(range(n_inp)), n_rec, sync_period_ps=1e12 / sync_rate,
                        dtime_resolution_ps=resolution, header=h.fields)
    else:
        raise FormatError(f"measurement mode {mode} is not T2 (2) or T3 (3)", source=h.path,
                          offset=0x154, field="MeasurementMode")
    return PqRecordReader(meta, data_offset, layout, n_rec, "NumRecords")


def _open_picoharp(h: _Header, version: str) -> PqRecordReader:
    if version != "2.0":
        raise FormatError(f"PicoHarp file format {version!r} not supported (2.0)",
                          source=h.path, offset=16, field="FormatVersion")
    _common_texts(h)
    bits = h.get("i", 0x14C, "BitsPerRecord")
    n_boards = h.get("i", 0x154, "NumberOfBoards")
    mode = h.get("i", 0x15C, "MeasurementMode")
    if bits != 32:
        raise FormatError(f"{bits} bits per record (32 expected)", source=h.path, offset=0x14C,
                          field="BitsPerRecord")
    if not 1 <= n_boards <= 4:
        raise FormatError(f"implausible board count {n_boards}", source=h.path, offset=0x154,
                          field="NumberOfBoards")
    h.get("16s", 0x218, "HardwareIdent")
    resolution_ns = h.get("f", 0x218 + 48, "Resolution")
    tt = 0x218 + 156 * n_boards
    cnt0 = h.get("i", tt + 12, "CntRate0")
    n_rec = h.get("i", tt + 28, "NumRecords")
    img = h.get("i", tt + 32, "ImgHdrSize")
    if img < 0 or n_rec < 0:
        raise FormatError("negative ImgHdrSize or NumRecords", source=h.path, offset=tt + 28,
                          field="ImgHdrSize" if img < 0 else "NumRecords")
    data_offset = tt + 36 + 4 * img
    if mode == 2:
        meta = FileMeta(h.path, "PT2", "PicoHarpT2", 4.0, (0, 1, 2, 3), n_rec, header=h.fields)
        layout = K.LAYOUT_PH_T2
    elif mode == 3:
        _positive(h, cnt0, "CntRate0", tt + 12)
        _positive(h, resolution_ns, "Resolution", 0x218 + 48)
        meta = FileMeta(h.path, "PT3", "PicoHarpT3", resolution_ns * 1e3, (0, 1, 2, 3), n_rec,
                        sync_period_ps=1e12 / cnt0, dtime_resolution_ps=resolution_ns * 1e3,
                        header=h.fields)
        layout = K.LAYOUT_PH_T3
    else:
        raise FormatError(f"measurement mode {mode} is not T2 (2) or T3 (3)", source=h.path,
                          offset=0x15C, field="MeasurementMode")
    return PqRecordReader(meta, data_offset, layout, n_rec, "NumRecords")


def _open_timeharp(h: _Header, version: str) -> PqRecordReader:
    if version == "5.0":
        h.get("6s", 0x16, "SoftwareVersion")
        h.get("18s", 0x1C, "FileTime")
        h.get("256s", 0x30, "Comment")
        base, board_size, board_res = 0x130, 24, 20
    elif version == "6.0":
        _common_texts(h)
        base, board_size, board_res = 0x148, 48, 44
    else:
        raise FormatError(f"TimeHarp file format {version!r} not supported (5.0, 6.0)",
                          source=h.path, offset=16, field="FormatVersion")
    n_boards = h.get("i", base + 16, "NumberOfBoards")
    if not 1 <= n_boards <= 4:
        raise FormatError(f"implausible board count {n_boards}", source=h.path,
                          offset=base + 16, field="NumberOfBoards")
    boards = base + 0xD4
    resolution_ns = h.get("f", boards + board_res, "Resolution")
    tt = boards + board_size * n_boards
    clock_ns = h.get("i", tt, "TTTRGlobClock")
    n_rec = h.get("i", tt + 44, "NumberOfRecords")
    spec = h.get("i", tt + 48, "SpecHeaderLength")
    _positive(h, clock_ns, "TTTRGlobClock", tt)
    _positive(h, resolution_ns, "Resolution", boards + board_res)
    if spec < 0 or n_rec < 0:
        raise FormatError("negative SpecHeaderLength or NumberOfRecords", source=h.path,
                          offset=tt + 44, field="SpecHeaderLength" if spec < 0 else
                          "NumberOfRecords")
    data_offset = tt + 52 + 4 * spec
    meta = FileMeta(h.path, "T3R", "TimeHarp200T3R", resolution_ns * 1e3, (0, 1, 2, 3), n_rec,
                    sync_period_ps=clock_ns * 1e3, dtime_resolution_ps=resolution_ns * 1e3,
                    header=h.fields)
    return PqRecordReader(meta, data_offset, K.LAYOUT_T3R, n_rec, "NumberOfRecords")
