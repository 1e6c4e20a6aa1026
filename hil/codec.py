"""Frame codec of the qkdpp wire protocol: pure functions on bytes / uint8 arrays.

This is the reference the C firmware (``firmware/src/frame.c``) and the Verilog ``frame_codec``
are checked against. Layout (all multi-byte fields little-endian, see ``hil/PROTOCOL.md``)::

    raw frame  = header(8) | payload(len) | crc(4)
    header     = type u8 | version u8 (=1) | len u16 | seq u32
    crc        = CRC-32C (Castagnoli, reflected poly 0x82F63B78, init 0xFFFFFFFF,
                 final xor 0xFFFFFFFF) over header | payload, stored little-endian
    on the wire = COBS(raw frame) | 0x00

COBS (Cheshire & Baker): the raw bytes are cut after every zero and after every 254 non-zero
bytes; each block is sent as a code byte (block length + 1, 0xFF for a full 254-byte block with no
zero) followed by the block's non-zero bytes. The encoder always emits the last code byte, so a
frame ending in a full block ends with an extra 0x01 code. Encoded frames never contain 0x00.

Event frames (type 0x01): payload = base_time_ps i64 | first_index u64 | fifo_lost u32 |
n_tags u32 | n_tags x tag u32, where tag bits 0..26 = time in ps after the previous tag of the
frame (the first tag: after base_time), unsigned, and bits 27..31 = channel, the whole word XORed
with ``TAG_XOR`` = 0xA5A5A5A5 on the wire (so COBS blocks stay long). Times within a frame
are therefore non-decreasing, and only a pause over 2^27 ps (134 us) between two events, an
earlier event or a full frame starts a new frame. ``first_index`` numbers events from device
boot, so the host counts events lost between frames exactly.

Public pure functions: :func:`crc32c`, :func:`cobs_encode`, :func:`cobs_decode`,
:func:`encode_frame`, :func:`decode_frame`, :func:`pack_event_payload`,
:func:`unpack_event_payload`, :func:`encode_event_stream` (the firmware's packing rule, vectorised)
and :func:`scan_stream` (the host's fused hot path: split, COBS, CRC, header, tag unpacking).
"""

from __future__ import annotations

import platform
import sys

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hil.protocol import (
    CRC_SIZE,
    E_COBS,
    E_CRC,
    E_LENGTH,
    E_OK,
    E_PAYLOAD,
    E_SEQ,
    E_SHORT,
    E_SKIPPED,
    E_VERSION,
    EVENT_HEADER_SIZE,
    HEADER_SIZE,
    MAX_ENCODED,
    MAX_PAYLOAD,
    MAX_RAW,
    MAX_TAGS_PER_FRAME,
    PROTOCOL_VERSION,
    T_EVENTS,
    TAG_DT_BITS,
    TAG_DT_MASK,
    TAG_MAX_CHANNEL,
    TAG_XOR,
    Frame,
    FramingError,
)

CRC32C_POLY = 0x82F63B78
RAW_ALLOC = (MAX_RAW + 7) // 8 * 8  # scratch for one decoded frame, viewed as 32/64-bit words
if sys.byteorder != "little":
    raise ImportError("hil.codec's word views of the wire format need a little-endian host")


def _crc_tables() -> np.ndarray:
    """Slicing-by-8 tables: row 0 is the classic byte table, row k advances k more zero bytes."""
    t = np.zeros((8, 256), dtype=np.int64)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (CRC32C_POLY if c & 1 else 0)
        t[0, i] = c
    for k in range(1, 8):
        for i in range(256):
            t[k, i] = (t[k - 1, i] >> 8) ^ t[0, t[k - 1, i] & 0xFF]
    return t


CRC_TABLES = _crc_tables()


@numba.njit(cache=True, nogil=True)
def _crc32c_update(crc: int, buf: np.ndarray, start: int, end: int, T: np.ndarray) -> int:
    c = np.int64(crc) ^ 0xFFFFFFFF
    i = start
    while i + 8 <= end:
        lo = (np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8) | (np.int64(buf[i + 2]) << 16)
              | (np.int64(buf[i + 3]) << 24)) ^ c
        c = (T[7, lo & 0xFF] ^ T[6, (lo >> 8) & 0xFF] ^ T[5, (lo >> 16) & 0xFF]
             ^ T[4, (lo >> 24) & 0xFF] ^ T[3, buf[i + 4]] ^ T[2, buf[i + 5]]
             ^ T[1, buf[i + 6]] ^ T[0, buf[i + 7]])
        i += 8
    while i < end:
        c = T[0, (c ^ buf[i]) & 0xFF] ^ (c >> 8)
        i += 1
    return c ^ 0xFFFFFFFF


@numba.njit(cache=True, nogil=True)
def _cobs_encode(src: np.ndarray, n: int, dst: np.ndarray) -> int:
    code_at = 0
    o = 1
    code = 1
    for i in range(n):
        b = src[i]
        if b == 0:
            dst[code_at] = code
            code_at = o
            o += 1
            code = 1
        else:
            dst[o] = b
            o += 1
            code += 1
            if code == 0xFF:
                dst[code_at] = code
                code_at = o
                o += 1
                code = 1
    dst[code_at] = code
    return o


@numba.njit(cache=True, nogil=True)
def _cobs_decode(src: np.ndarray, start: int, end: int, dst: np.ndarray) -> int:
    """Decode src[start:end] (no delimiter) into dst; return the length, -1 if invalid COBS or
    -2 if the output would not fit in dst (checked block by block, as the C codec does)."""
    cap = dst.shape[0]
    i = start
    o = 0
    while i < end:
        code = np.int64(src[i])
        i += 1
        if code == 0:
            return -1
        run = code - 1
        if i + run > end:
            return -1
        if run > cap - o:
            return -2
        for k in range(run):
            b = src[i + k]
            if b == 0:
                return -1
            dst[o + k] = b
        o += run
        i += run
        if code != 0xFF and i < end:
            if o >= cap:
                return -2
            dst[o] = 0
            o += 1
    return o


@numba.njit(cache=True, nogil=True)
def _check_raw(raw: np.ndarray, m: int, T: np.ndarray) -> int:
    """Check a COBS-decoded frame of m bytes; return an E_* code (same order as the C codec)."""
    if m < HEADER_SIZE + CRC_SIZE:
        return E_SHORT
    stored = (np.int64(raw[m - 4]) | (np.int64(raw[m - 3]) << 8) | (np.int64(raw[m - 2]) << 16)
              | (np.int64(raw[m - 1]) << 24))
    if _crc32c_update(0, raw, 0, m - 4, T) != stored:
        return E_CRC
    if raw[1] != PROTOCOL_VERSION:
        return E_VERSION
    length = np.int64(raw[2]) | (np.int64(raw[3]) << 8)
    if length != m - HEADER_SIZE - CRC_SIZE:
        return E_LENGTH
    return E_OK


def _host_has_sse42() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        import llvmlite.binding as llvm

        return bool(llvm.get_host_cpu_features().get("sse4.2"))
    except Exception:  # no feature query: use the portable table version
        return False


HAVE_HW_CRC32C = _host_has_sse42()


@intrinsic
def _crc32c_step64(typingctx, crc, data):
    """SSE4.2 ``crc32`` on 8 bytes: the instruction implements exactly CRC-32C (reflected)."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64), ir.IntType(64)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse42.crc32.64.64")
        return builder.call(fn, args)

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _le32(buf: np.ndarray, off: int) -> int:
    return (np.int64(buf[off]) | (np.int64(buf[off + 1]) << 8) | (np.int64(buf[off + 2]) << 16)
            | (np.int64(buf[off + 3]) << 24))


@numba.njit(cache=True, nogil=True)
def _crc32c_hw(buf: np.ndarray, n: int, T: np.ndarray) -> int:
    """CRC-32C of buf[:n] (buf 8-byte aligned, length a multiple of 8 bytes or more)."""
    w = buf[: n // 8 * 8].view(np.uint64)
    c = np.uint64(0xFFFFFFFF)
    for k in range(w.shape[0]):
        c = _crc32c_step64(c, w[k])
    c2 = np.int64(c)
    for i in range(n // 8 * 8, n):
        c2 = T[0, (c2 ^ buf[i]) & 0xFF] ^ (c2 >> 8)
    return c2 ^ 0xFFFFFFFF


@numba.njit(cache=True, nogil=True)
def _crc32c_sw(buf: np.ndarray, n: int, T: np.ndarray) -> int:
    return _crc32c_update(0, buf, 0, n, T)


_crc32c_fast = _crc32c_hw if HAVE_HW_CRC32C else _crc32c_sw


def _as_u8(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data, dtype=np.uint8).ravel()
    return np.frombuffer(bytes(data), dtype=np.uint8)


def crc32c(data: bytes | np.ndarray) -> int:
    """CRC-32C (Castagnoli) of ``data``; ``crc32c(b"123456789") == 0xE3069283``."""
    a = _as_u8(data)
    return int(_crc32c_update(0, a, 0, a.shape[0], CRC_TABLES))


def cobs_encode(data: bytes | np.ndarray) -> np.ndarray:
    """COBS-encode ``data`` (uint8, no delimiter appended). Output contains no zero byte."""
    a = _as_u8(data)
    out = np.empty(a.shape[0] + a.shape[0] // 254 + 1, dtype=np.uint8)
    return out[: _cobs_encode(a, a.shape[0], out)].copy()


def cobs_decode(encoded: bytes | np.ndarray) -> np.ndarray:
    """Inverse of :func:`cobs_encode`; raises :class:`FramingError` ``E_COBS`` on invalid input."""
    a = _as_u8(encoded)
    out = np.empty(max(a.shape[0], 1), dtype=np.uint8)
    m = _cobs_decode(a, 0, a.shape[0], out)  # output never exceeds the input length
    if m < 0:
        raise FramingError(E_COBS, f"invalid COBS data of {a.shape[0]} bytes")
    return out[:m].copy()


def build_raw_frame(ftype: int, seq: int, payload: bytes | np.ndarray) -> np.ndarray:
    """Header | payload | CRC-32C, before COBS (what the Verilog encoder sees as input)."""
    p = _as_u8(payload)
    if p.shape[0] > MAX_PAYLOAD:
        raise ValueError(f"payload of {p.shape[0]} bytes exceeds {MAX_PAYLOAD}")
    if not 0 <= ftype <= 0xFF or not 0 <= seq <= 0xFFFFFFFF:
        raise ValueError(f"frame type {ftype} or sequence number {seq} out of range")
    raw = np.empty(HEADER_SIZE + p.shape[0] + CRC_SIZE, dtype=np.uint8)
    raw[0] = ftype
    raw[1] = PROTOCOL_VERSION
    raw[2:4] = np.frombuffer(np.uint16(p.shape[0]).tobytes(), np.uint8)  # host is little-endian
    raw[4:8] = np.frombuffer(np.array([seq], "<u4").tobytes(), np.uint8)
    raw[8 : 8 + p.shape[0]] = p
    crc = _crc32c_update(0, raw, 0, raw.shape[0] - 4, CRC_TABLES)
    raw[-4:] = np.frombuffer(np.array([crc], "<u4").tobytes(), np.uint8)
    return raw


def encode_frame(ftype: int, seq: int, payload: bytes | np.ndarray = b"") -> bytes:
    """One frame as sent on the wire: COBS(header | payload | CRC-32C) followed by 0x00."""
    return cobs_encode(build_raw_frame(ftype, seq, payload)).tobytes() + b"\x00"


def decode_frame(encoded: bytes | np.ndarray) -> Frame:
    """Decode one frame (with or without its trailing 0x00 delimiter).

    Raises :class:`FramingError` (code ``E_LENGTH`` if longer than ``MAX_ENCODED``; ``E_COBS``
    or ``E_LENGTH`` if it decodes to more than ``MAX_RAW``, whichever comes first block by block;
    then ``E_SHORT``, ``E_CRC``, ``E_VERSION``, ``E_LENGTH``), and never any other exception.
    """
    a = _as_u8(encoded)
    n = a.shape[0]
    if n and a[n - 1] == 0:
        n -= 1
    if n > MAX_ENCODED:
        raise FramingError(E_LENGTH, f"{n} encoded bytes exceed {MAX_ENCODED}")
    raw = np.empty(MAX_RAW, dtype=np.uint8)
    m = _cobs_decode(a, 0, n, raw)
    if m == -2:
        raise FramingError(E_LENGTH, f"{n} encoded bytes decode to more than {MAX_RAW}")
    if m < 0:
        raise FramingError(E_COBS, f"invalid COBS data in {n} bytes")
    code = _check_raw(raw, m, CRC_TABLES)
    if code != E_OK:
        raise FramingError(code, f"frame of {m} decoded bytes")
    seq = int(raw[4]) | int(raw[5]) << 8 | int(raw[6]) << 16 | int(raw[7]) << 24
    return Frame(int(raw[0]), seq, raw[HEADER_SIZE : m - CRC_SIZE].tobytes())


def pack_event_payload(base_time_ps: int, first_index: int, fifo_lost: int,
                       t: np.ndarray, ch: np.ndarray) -> bytes:
    """EVENTS payload for events ``(t, ch)``: each step from ``base_time_ps`` to the first event
    and from one event to the next must be in [0, 2^27) ps."""
    t = np.asarray(t, dtype=np.int64)
    ch = np.asarray(ch, dtype=np.int64)
    dt = np.diff(t, prepend=np.int64(base_time_ps))
    if t.shape[0] > MAX_TAGS_PER_FRAME:
        raise ValueError(f"{t.shape[0]} tags exceed {MAX_TAGS_PER_FRAME} per frame")
    if np.any((dt < 0) | (dt > TAG_DT_MASK)) or np.any((ch < 0) | (ch > TAG_MAX_CHANNEL)):
        raise ValueError("a time step outside [0, 2^27) ps or a channel outside 0..31")
    words = ((dt | (ch << TAG_DT_BITS)) ^ TAG_XOR).astype("<u4")
    head = np.array([(base_time_ps, first_index, fifo_lost, t.shape[0])],
                    dtype=[("b", "<i8"), ("f", "<u8"), ("l", "<u4"), ("n", "<u4")])
    return head.tobytes() + words.tobytes()


def unpack_event_payload(payload: bytes | np.ndarray) -> tuple[int, int, int, np.ndarray,
                                                               np.ndarray]:
    """EVENTS payload -> (base_time_ps, first_index, fifo_lost, t int64, ch int16)."""
    p = _as_u8(payload)
    if p.shape[0] < EVENT_HEADER_SIZE or (p.shape[0] - EVENT_HEADER_SIZE) % 4:
        raise FramingError(E_PAYLOAD, f"event payload of {p.shape[0]} bytes", source="events")
    head = p[:EVENT_HEADER_SIZE].view([("b", "<i8"), ("f", "<u8"), ("l", "<u4"), ("n", "<u4")])[0]
    n = (p.shape[0] - EVENT_HEADER_SIZE) // 4
    if int(head["n"]) != n:
        raise FramingError(E_PAYLOAD, f"n_tags {int(head['n'])} but {n} tag words",
                           source="events", offset=20)
    w = p[EVENT_HEADER_SIZE:].view("<u4").astype(np.int64) ^ TAG_XOR
    base = int(head["b"])
    return (base, int(head["f"]), int(head["l"]), base + np.cumsum(w & TAG_DT_MASK),
            (w >> TAG_DT_BITS).astype(np.int16))


@numba.njit(cache=True, nogil=True)
def _put_le(buf: np.ndarray, off: int, value: int, nbytes: int) -> None:
    for k in range(nbytes):
        buf[off + k] = (value >> (8 * k)) & 0xFF


@numba.njit(cache=True, nogil=True)
def _encode_events(t: np.ndarray, ch: np.ndarray, seq0: int, index0: int, max_tags: int,
                   T: np.ndarray, out: np.ndarray) -> tuple[int, int]:
    """Pack events into consecutive EVENTS frames, firmware rule: a frame ends when full or when
    the next event is earlier than, or 2^27 ps or more after, the previous one. Returns (bytes
    written, frames)."""
    raw = np.empty(MAX_RAW, dtype=np.uint8)
    n = t.shape[0]
    i = 0
    o = 0
    seq = seq0
    while i < n:
        base = t[i]
        prev = base
        k = 0
        p = HEADER_SIZE + EVENT_HEADER_SIZE
        while i + k < n and k < max_tags:
            dt = t[i + k] - prev
            if dt < 0 or dt > TAG_DT_MASK:
                break
            prev = t[i + k]
            w = (dt | (np.int64(ch[i + k]) << TAG_DT_BITS)) ^ TAG_XOR
            _put_le(raw, p, w, 4)
            p += 4
            k += 1
        plen = EVENT_HEADER_SIZE + 4 * k
        raw[0] = T_EVENTS
        raw[1] = PROTOCOL_VERSION
        _put_le(raw, 2, plen, 2)
        _put_le(raw, 4, seq & 0xFFFFFFFF, 4)
        _put_le(raw, 8, base, 8)
        _put_le(raw, 16, index0 + i, 8)
        _put_le(raw, 24, 0, 4)
        _put_le(raw, 28, k, 4)
        crc = _crc32c_update(0, raw, 0, p, T)
        _put_le(raw, p, crc, 4)
        o += _cobs_encode(raw, p + 4, out[o:])
        out[o] = 0
        o += 1
        i += k
        seq += 1
    return o, seq - seq0


def encode_event_stream(t: np.ndarray, ch: np.ndarray, *, seq0: int = 0, first_index: int = 0,
                        max_tags: int = MAX_TAGS_PER_FRAME) -> tuple[bytes, int]:
    """Encode a whole event stream as the firmware would send it: (wire bytes, frame count)."""
    t = np.ascontiguousarray(t, dtype=np.int64)
    ch = np.ascontiguousarray(ch, dtype=np.int64)
    if np.any((ch < 0) | (ch > TAG_MAX_CHANNEL)):
        raise ValueError("channel outside 0..31")
    if not 1 <= max_tags <= MAX_TAGS_PER_FRAME:
        raise ValueError(f"max_tags {max_tags} outside 1..{MAX_TAGS_PER_FRAME}")
    out = np.empty(t.shape[0] * 5 + 64 * (t.shape[0] + 1), dtype=np.uint8)
    o, nf = _encode_events(t, ch, seq0, first_index, max_tags, CRC_TABLES, out)
    return out[:o].tobytes(), int(nf)


# Columns of the per-frame table :func:`scan_stream` fills.
F_STATUS, F_TYPE, F_SEQ, F_POFF, F_PLEN, F_EV0, F_NEV, F_BASE = 0, 1, 2, 3, 4, 5, 6, 7
F_MISSING, F_LOST, F_FIFO_LOST, F_OFFSET = 8, 9, 10, 11
N_FCOLS = 12
# Decoder state vector shared across calls.
S_SYNCED, S_HAVE_SEQ, S_NEXT_SEQ, S_HAVE_INDEX, S_NEXT_INDEX, S_RESTARTS, S_REJOIN = range(7)
N_STATE = 7
SEQ_WINDOW = 1 << 16  # a sequence number further behind than this means the device restarted


@numba.njit(cache=True, nogil=True)
def _cobs_decode_nz(src: np.ndarray, start: int, end: int, dst: np.ndarray) -> int:
    """:func:`_cobs_decode` for a piece already known to hold no zero byte; same results.

    Event payloads hold many zero bytes, so COBS runs are short (about 4 bytes) and a run-by-run
    copy is slow. Unless a full 254-byte block occurs, decoded byte j is simply encoded byte
    j + 1 with zeros where the code bytes were: one bulk copy, then a walk along the code chain
    to validate it and put the zeros back. Indices are unsigned so numba drops its negative-index
    wrap-around and LLVM vectorises the copies.
    """
    cap = np.uintp(dst.shape[0])
    s0 = np.uintp(start)
    e = np.uintp(end)
    one = np.uintp(1)
    n_out = e - s0 - one
    # the bulk path pays off for short blocks; a frame starting with a full block (scrambled
    # event tags, mostly) goes run by run at once
    if e > s0 and n_out <= cap and src[s0] != 0xFF:
        for k in range(n_out):  # bulk copy, assuming no full block
            dst[k] = src[s0 + one + k]
        i = s0
        while i < e:  # validate the chain; each later code byte marks its block's zero
            code = np.uintp(src[i])
            if code == np.uintp(0xFF) and i + code < e:
                break  # a full block shifts what follows: decode run by run below
            if code - one > e - i - one:
                return -1
            if i > s0:
                dst[i - s0 - one] = 0
            i += code
        if i >= e:
            return np.int64(n_out)
    o = np.uintp(0)
    i = s0
    while i < e:
        run = np.uintp(src[i]) - one
        i += one
        if run > e - i:
            return -1
        if run > cap - o:
            return -2
        for k in range(run):
            dst[o + k] = src[i + k]
        o += run
        i += run
        if run != np.uintp(254) and i < e:
            if o >= cap:
                return -2
            dst[o] = 0
            o += one
    return np.int64(o)


@numba.njit(cache=True, nogil=True)
def _find_zero(buf: np.ndarray, start: np.uintp, n: np.uintp) -> np.uintp:
    """Index of the first 0x00 in buf[start:n], or n. Checks 64-byte blocks with a branch-free
    (vectorised) minimum first, then searches the block that holds the zero."""
    z = start
    blk = np.uintp(64)
    while z + blk <= n:
        zeros = 0
        for k in range(blk):
            zeros += buf[z + k] == 0
        if zeros:
            break
        z += blk
    while z < n and buf[z] != 0:
        z += np.uintp(1)
    return z


@numba.njit(cache=True, nogil=True)
def _scan(buf: np.ndarray, n: int, state: np.ndarray, T: np.ndarray, out_t: np.ndarray,
          out_ch: np.ndarray, ctrl: np.ndarray, finfo: np.ndarray) -> tuple[int, int, int, int]:
    """Decode complete frames of buf[:n] until the data or the rows of ``finfo`` run out.

    Returns (bytes consumed, events written, frames recorded, control bytes written). Events of a
    frame are written only once the frame has passed every check, so nothing from a bad frame is
    ever delivered.
    """
    raw = np.empty(RAW_ALLOC, dtype=np.uint8)
    raw32 = raw.view(np.uint32)  # little-endian host (checked at import)
    raw64 = raw.view(np.int64)
    pos = 0
    ne = 0
    nf = 0
    nc = 0
    un = np.uintp(n)
    while nf < finfo.shape[0] - 1:
        z = _find_zero(buf, np.uintp(pos), un)
        if z == un:
            # no delimiter after pos: keep the tail unless it is already too long to be a frame
            # (while joining the stream too: the bytes may still turn out to be a whole frame)
            if n - pos > MAX_ENCODED:
                finfo[nf, :] = 0
                finfo[nf, F_STATUS] = E_LENGTH if state[S_SYNCED] == 1 else E_SKIPPED
                finfo[nf, F_OFFSET] = pos
                finfo[nf, F_PLEN] = n - pos
                nf += 1
                state[S_SYNCED] = 0
                pos = n
            break
        z = np.int64(z)
        start = pos
        pos = z + 1
        # after (re)connect the bytes before the first 0x00 may be the tail of a frame: if they
        # do not form a valid frame they are skipped, not counted as a bad frame
        joining = state[S_SYNCED] == 0
        state[S_SYNCED] = 1
        if z == start:  # idle delimiter
            continue
        f = finfo[nf]
        f[:] = 0
        f[F_OFFSET] = start
        f[F_PLEN] = z - start
        nf += 1
        if z - start > MAX_ENCODED:
            f[F_STATUS] = E_SKIPPED if joining else E_LENGTH
            continue
        m = _cobs_decode_nz(buf, start, z, raw)
        if m == -2:
            code = E_LENGTH
        elif m < 0:
            code = E_COBS
        elif m < HEADER_SIZE + CRC_SIZE:
            code = E_SHORT
        elif _crc32c_fast(raw, m - CRC_SIZE, T) != _le32(raw, m - CRC_SIZE):
            code = E_CRC
        elif raw[1] != PROTOCOL_VERSION:
            code = E_VERSION
        elif (np.int64(raw[2]) | (np.int64(raw[3]) << 8)) != m - HEADER_SIZE - CRC_SIZE:
            code = E_LENGTH
        else:
            code = E_OK
        if code != E_OK:
            f[F_STATUS] = E_SKIPPED if joining else code
            continue
        ftype = np.int64(raw[0])
        seq = np.int64(raw32[1])
        plen = m - HEADER_SIZE - CRC_SIZE
        f[F_TYPE] = ftype
        f[F_SEQ] = seq
        f[F_PLEN] = plen
        restart = False
        rejoin = state[S_REJOIN] == 1
        if state[S_HAVE_SEQ] == 1:
            d = (seq - state[S_NEXT_SEQ]) & 0xFFFFFFFF
            if d >= 0x80000000:
                # behind: a duplicate, unless it is the first frame after a reconnect or far
                # behind, which both mean the device rebooted and counts from zero again
                if rejoin or d < (1 << 32) - SEQ_WINDOW:
                    restart = True
                else:
                    f[F_STATUS] = E_SEQ
                    continue
            else:
                f[F_MISSING] = d
        if ftype == T_EVENTS:
            if plen < EVENT_HEADER_SIZE or (plen - EVENT_HEADER_SIZE) % 4 != 0:
                f[F_STATUS] = E_PAYLOAD
                continue
            ntag = (plen - EVENT_HEADER_SIZE) // 4
            base = raw64[1]  # payload starts at byte 8: base_time_ps, first_index, lost, n
            first = raw64[2]
            fifo_lost = np.int64(raw32[6])
            if np.int64(raw32[7]) != ntag:
                f[F_STATUS] = E_PAYLOAD
                continue
            lost = np.int64(0)
            if state[S_HAVE_INDEX] == 1 and not restart:
                lost = first - state[S_NEXT_INDEX]
                if lost < 0 and rejoin:
                    restart = True
                    lost = 0
                elif lost < 0:  # events numbered before ones already delivered: not trustworthy
                    f[F_STATUS] = E_SEQ
                    continue
            q = np.uintp((HEADER_SIZE + EVENT_HEADER_SIZE) // 4)
            une = np.uintp(ne)
            nt = np.uintp(ntag)
            for k in range(nt):  # unsigned indices: vectorised
                w = np.int64(raw32[q + k]) ^ TAG_XOR
                out_t[une + k] = w & TAG_DT_MASK
                out_ch[une + k] = w >> TAG_DT_BITS
            acc = base
            for k in range(nt):  # then the running sum, a short dependency chain per tag
                acc += out_t[une + k]
                out_t[une + k] = acc
            f[F_EV0] = ne
            f[F_NEV] = ntag
            f[F_BASE] = base
            f[F_LOST] = lost
            f[F_FIFO_LOST] = fifo_lost
            ne += ntag
            state[S_HAVE_INDEX] = 1
            state[S_NEXT_INDEX] = first + ntag
        else:
            ctrl[nc : nc + plen] = raw[HEADER_SIZE : HEADER_SIZE + plen]
            f[F_POFF] = nc
            nc += plen
        if restart:
            state[S_RESTARTS] += 1
            f[F_MISSING] = 0
            if ftype != T_EVENTS:
                state[S_HAVE_INDEX] = 0
        state[S_HAVE_SEQ] = 1
        state[S_NEXT_SEQ] = (seq + 1) & 0xFFFFFFFF
        state[S_REJOIN] = 0
    return pos, ne, nf, nc


def new_scan_state(synced: bool = True) -> np.ndarray:
    """Fresh decoder state; ``synced=False`` discards bytes up to the first delimiter."""
    s = np.zeros(N_STATE, dtype=np.int64)
    s[S_SYNCED] = 1 if synced else 0
    return s


def scan_stream(buf: np.ndarray, state: np.ndarray, n: int | None = None
                ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode all complete frames in ``buf[:n]`` (uint8) and update ``state`` in place.

    Returns ``(consumed, t, ch, finfo, ctrl)``: events of good EVENTS frames in order (int64 ps,
    int16 channel), one ``finfo`` row per frame seen (columns ``F_*``; ``F_STATUS`` is an ``E_*``
    code, ``E_SKIPPED`` for a partial frame before the first delimiter after a (re)connect) and
    the payload bytes of good non-event frames. Bytes after the last delimiter are not
    consumed; the caller keeps them for the next call.
    """
    if n is None:
        n = buf.shape[0]
    view = buf[:n]
    # room for every event the bytes could hold; pages never written cost no memory
    out_t = np.empty(n // 4 + 1, dtype=np.int64)
    out_ch = np.empty(n // 4 + 1, dtype=np.int16)
    ctrl = np.empty(n + 1, dtype=np.uint8)
    consumed = ne = nc = 0
    tables = []
    while True:
        finfo = np.empty((n // 1024 + 64, N_FCOLS), dtype=np.int64)
        c, e, f, k = _scan(view[consumed:], n - consumed, state, CRC_TABLES, out_t[ne:],
                           out_ch[ne:], ctrl[nc:], finfo)
        finfo[:f, F_OFFSET] += consumed
        finfo[:f, F_EV0] += ne
        finfo[:f, F_POFF] += nc
        tables.append(finfo[:f])
        consumed, ne, nc = consumed + c, ne + e, nc + k
        if f < finfo.shape[0] - 1:  # stopped for lack of data, not of table rows
            break
    finfo = tables[0] if len(tables) == 1 else np.concatenate(tables)
    nf = finfo.shape[0]
    return consumed, out_t[:ne], out_ch[:ne], finfo[:nf], ctrl[:nc]
