"""PicoQuant unified TTTR files (.ptu): tag header, streaming reader, T2 writer.

Header (PicoQuant doc/apx_tagtypes.html): 8-byte magic ``PQTTTR\\0\\0``, 8-byte version string,
then tags of 48 bytes: ident (32 bytes, NUL padded), index (int32, -1 if not an array element),
type code (uint32), value (8 bytes: int64, float64, or the byte length of a payload that
follows the tag for strings, float arrays and blobs). ``Header_End`` closes the header; the
records start right after it.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from postproc.errors import FormatError
from postproc.events import EventChunk, FileMeta
from postproc.formats import pq_kernels as K  # noqa: N812  (K.<layout constant> reads better)
from postproc.formats.base import warn
from postproc.formats.pq_reader import PqRecordReader

MAGIC = b"PQTTTR\x00\x00"

TY_EMPTY8 = 0xFFFF0008
TY_BOOL8 = 0x00000008
TY_INT8 = 0x10000008
TY_BITSET64 = 0x11000008
TY_COLOR8 = 0x12000008
TY_FLOAT8 = 0x20000008
TY_TDATETIME = 0x21000008
TY_FLOAT8ARRAY = 0x2001FFFF
TY_ANSISTRING = 0x4001FFFF
TY_WIDESTRING = 0x4002FFFF
TY_BINARYBLOB = 0xFFFFFFFF

# TTResultFormat_TTTRRecType -> (name, record layout)
RECORD_TYPES = {
    0x00010203: ("PicoHarpT2", K.LAYOUT_PH_T2),
    0x00010303: ("PicoHarpT3", K.LAYOUT_PH_T3),
    0x00010204: ("HydraHarpT2", K.LAYOUT_HH1_T2),
    0x00010304: ("HydraHarpT3", K.LAYOUT_HH1_T3),
    0x01010204: ("HydraHarp2T2", K.LAYOUT_HH2_T2),
    0x01010304: ("HydraHarp2T3", K.LAYOUT_HH2_T3),
    0x00010205: ("TimeHarp260NT2", K.LAYOUT_HH2_T2),
    0x00010305: ("TimeHarp260NT3", K.LAYOUT_HH2_T3),
    0x00010206: ("TimeHarp260PT2", K.LAYOUT_HH2_T2),
    0x00010306: ("TimeHarp260PT3", K.LAYOUT_HH2_T3),
    0x00010207: ("GenericT2", K.LAYOUT_HH2_T2),
    0x00010307: ("GenericT3", K.LAYOUT_HH2_T3),
}
REC_HYDRAHARP2_T2 = 0x01010204


def read_tags(path: str | Path) -> tuple[dict, int]:
    """Parse the tag header; return ``(tags, data_offset)``.

    Array tags (index >= 0) become lists in index order; strings are decoded (UTF-8 for ANSI,
    UTF-16 for wide strings) with trailing NULs removed; blobs stay bytes.
    """
    path = str(path)
    tags: dict = {}
    with open(path, "rb") as fh:
        head = fh.read(16)
        if len(head) < 16 or head[:8] != MAGIC:
            raise FormatError("not a PTU file (magic PQTTTR missing)", source=path, offset=0,
                              field="magic")
        offset = 16
        while True:
            raw = fh.read(48)
            if len(raw) < 48:
                raise FormatError("header ends before the Header_End tag", source=path,
                                  offset=offset, field="tag")
            ident = raw[:32].split(b"\x00", 1)[0].decode("ascii", "replace")
            idx, typ = struct.unpack_from("<iI", raw, 32)
            value8 = raw[40:48]
            tag_start = offset
            offset += 48
            if typ in (TY_EMPTY8,):
                value = None
            elif typ == TY_BOOL8:
                value = struct.unpack("<q", value8)[0] != 0
            elif typ in (TY_INT8, TY_BITSET64, TY_COLOR8):
                value = struct.unpack("<q", value8)[0]
            elif typ in (TY_FLOAT8, TY_TDATETIME):
                value = struct.unpack("<d", value8)[0]
            elif typ in (TY_FLOAT8ARRAY, TY_ANSISTRING, TY_WIDESTRING, TY_BINARYBLOB):
                length = struct.unpack("<q", value8)[0]
                if length < 0 or length > 1 << 30:
                    raise FormatError(f"implausible payload length {length}", source=path,
                                      offset=tag_start, field=ident)
                payload = fh.read(length)
                if len(payload) < length:
                    raise FormatError("header ends inside a tag payload", source=path,
                                      offset=offset, field=ident)
                offset += length
                if typ == TY_ANSISTRING:
                    value = payload.split(b"\x00", 1)[0].decode("utf-8", "replace")
                elif typ == TY_WIDESTRING:
                    value = payload.decode("utf-16-le", "replace").split("\x00", 1)[0]
                elif typ == TY_FLOAT8ARRAY:
                    value = np.frombuffer(payload, "<f8").tolist()
                else:
                    value = payload
            else:
                raise FormatError(f"unknown tag type 0x{typ:08x}", source=path,
                                  offset=tag_start, field=ident)
            if ident == "Header_End":
                return tags, offset
            if idx >= 0:
                lst = tags.setdefault(ident, [])
                if not isinstance(lst, list):
                    lst = tags[ident] = [lst]
                lst.extend([None] * (idx + 1 - len(lst)))
                lst[idx] = value
            else:
                tags[ident] = value


def _required(tags: dict, name: str, path: str, offset: int):
    if name not in tags or tags[name] is None:
        raise FormatError("required tag missing", source=path, offset=offset, field=name)
    return tags[name]


def open_ptu(path: str | Path) -> PqRecordReader:
    """Open a PTU file for streaming decoding (T2 or T3, every PicoQuant record type)."""
    path = str(path)
    tags, data_offset = read_tags(path)
    rectype = _required(tags, "TTResultFormat_TTTRRecType", path, data_offset)
    if rectype not in RECORD_TYPES:
        raise FormatError(f"unknown TTTR record type 0x{rectype:08x}", source=path,
                          field="TTResultFormat_TTTRRecType")
    bits = tags.get("TTResultFormat_BitsPerRecord", 32)
    if bits not in (0, 32):
        raise FormatError(f"{bits} bits per record (32 expected)", source=path,
                          field="TTResultFormat_BitsPerRecord")
    name, layout = RECORD_TYPES[rectype]
    glob_s = float(_required(tags, "MeasDesc_GlobalResolution", path, data_offset))
    res_s = float(tags.get("MeasDesc_Resolution", glob_s))
    n_declared = _required(tags, "TTResult_NumberOfRecords", path, data_offset)
    is_t2 = layout in (K.LAYOUT_PH_T2, K.LAYOUT_HH1_T2, K.LAYOUT_HH2_T2)
    n_inputs = tags.get("HW_InpChannels")
    meta = FileMeta(
        path=path,
        format="PTU",
        record_type=name,
        resolution_ps=glob_s * 1e12 if is_t2 else res_s * 1e12,
        channels=tuple(range(int(n_inputs))) if isinstance(n_inputs, int) else (),
        n_records_declared=int(n_declared),
        sync_period_ps=None if is_t2 else glob_s * 1e12,
        dtime_resolution_ps=None if is_t2 else res_s * 1e12,
        header=tags,
    )
    declared: int | None = int(n_declared)
    if declared <= 0 and Path(path).stat().st_size - data_offset >= 4:
        # acquisition software that stopped before patching the count
        warn(path, data_offset, "TTResult_NumberOfRecords", f"header declares {declared} "
             "records; decoding every whole record up to the end of the file")
        declared = None
    elif declared < 0:
        declared = 0
    return PqRecordReader(meta, data_offset, layout, declared, "TTResult_NumberOfRecords")


def _tag(ident: str, typ: int, value, idx: int = -1) -> bytes:
    name = ident.encode("ascii").ljust(32, b"\x00")
    if typ in (TY_ANSISTRING,):
        payload = value.encode("utf-8") + b"\x00"
        payload += b"\x00" * (-len(payload) % 8)
        return name + struct.pack("<iIq", idx, typ, len(payload)) + payload
    if typ == TY_FLOAT8:
        return name + struct.pack("<iId", idx, typ, float(value))
    if typ == TY_EMPTY8:
        return name + struct.pack("<iIq", idx, typ, 0)
    if typ == TY_BOOL8:
        return name + struct.pack("<iIq", idx, typ, 1 if value else 0)
    return name + struct.pack("<iIq", idx, typ, int(value))


def write_ptu_t2(
    path: str | Path,
    chunks: Iterable[EventChunk],
    *,
    comment: str = "written by qkdpp",
    n_channels: int | None = None,
) -> int:
    """Write events as a PTU file of HydraHarp V2 T2 records at 1 ps; return the record count.

    Photon channels must be 0..63 and times ascending (ps, >= 0); markers (mask 1..15) are
    merged in time order within each chunk. The record count in the header is patched at the
    end, so the chunks are streamed. ptufile reads the result back identically.
    """
    path = str(path)
    header = [
        (b"PQTTTR\x00\x00" + b"1.0.00\x00\x00"),
        _tag("File_GUID", TY_ANSISTRING, "{" + str(uuid.uuid4()).upper() + "}"),
        _tag("File_Comment", TY_ANSISTRING, comment),
        _tag("CreatorSW_Name", TY_ANSISTRING, "qkdpp"),
        _tag("Measurement_Mode", TY_INT8, 2),
        _tag("Measurement_SubMode", TY_INT8, 0),
        _tag("TTResultFormat_TTTRRecType", TY_INT8, REC_HYDRAHARP2_T2),
        _tag("TTResultFormat_BitsPerRecord", TY_INT8, 32),
        _tag("MeasDesc_GlobalResolution", TY_FLOAT8, 1e-12),
        _tag("MeasDesc_Resolution", TY_FLOAT8, 1e-12),
        _tag("HW_Type", TY_ANSISTRING, "qkdpp"),
    ]
    if n_channels is not None:
        header.append(_tag("HW_InpChannels", TY_INT8, n_channels))
    head = b"".join(header)
    n_rec_offset = len(head) + 40  # value field of the tag appended next
    head += _tag("TTResult_NumberOfRecords", TY_INT8, 0)
    head += _tag("Header_End", TY_EMPTY8, None)
    total = 0
    ofl = 0
    n_events = 0
    with open(path, "wb") as fh:
        fh.write(head)
        for chunk in chunks:
            t = chunk.t
            ch = chunk.ch
            mk = np.zeros(t.shape[0], np.bool_)
            sp = chunk.specials
            if sp.marker_t.size:
                t = np.concatenate([t, sp.marker_t])
                ch = np.concatenate([ch, sp.marker_mask.astype(np.int16)])
                mk = np.concatenate([mk, np.ones(sp.marker_t.size, np.bool_)])
                order = np.argsort(t, kind="stable")
                t, ch, mk = t[order], ch[order], mk[order]
            bad_ch = np.flatnonzero(~mk & ((ch < 0) | (ch > 63)))
            if bad_ch.size:
                i = int(bad_ch[0])
                raise FormatError(f"channel {int(ch[i])} of event {n_events + i} does not fit "
                                  "a T2 record (0..63)", source=path, field="channel")
            t = np.ascontiguousarray(t, np.int64)
            out = np.empty(K.count_hh2_t2_words(t, ofl), np.uint32)
            n, ofl, bad = K.encode_hh2_t2(t, np.ascontiguousarray(ch, np.int16), mk, ofl, out)
            if bad >= 0:
                raise FormatError(f"event {n_events + bad} at {int(t[bad])} ps is earlier than "
                                  "the previous overflow: PTU T2 needs ascending times "
                                  "(sort the events first)", source=path, field="time")
            fh.write(out[:n].tobytes())
            total += int(n)
            n_events += t.shape[0]
        fh.seek(n_rec_offset)
        fh.write(struct.pack("<q", total))
    return total
