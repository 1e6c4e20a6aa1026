"""Constants and payload layouts of the qkdpp wire protocol (see ``hil/PROTOCOL.md``).

All multi-byte fields are little-endian. The C firmware (``firmware/src/protocol.h``) mirrors
every number in this module; ``hil/vectors.py`` writes shared test vectors both sides check.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from postproc.errors import FormatError

PROTOCOL_VERSION = 1
HEADER_SIZE = 8  # type u8, version u8, payload length u16, sequence number u32
CRC_SIZE = 4  # CRC-32C of header + payload, little-endian
MAX_PAYLOAD = 4096
MAX_RAW = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
MAX_ENCODED = MAX_RAW + MAX_RAW // 254 + 1  # COBS worst case, delimiter excluded

# Frame types. Device -> host below 0x10, host -> device from 0x10.
T_EVENTS = 0x01
T_STATUS = 0x02
T_ACK = 0x03
T_PONG = 0x04
T_START = 0x10
T_STOP = 0x11
T_SET_GATE = 0x12
T_SET_CHANNEL_MAP = 0x13
T_QUERY_STATUS = 0x14
T_PING = 0x15
FRAME_TYPE_NAMES = {
    T_EVENTS: "EVENTS",
    T_STATUS: "STATUS",
    T_ACK: "ACK",
    T_PONG: "PONG",
    T_START: "START",
    T_STOP: "STOP",
    T_SET_GATE: "SET_GATE",
    T_SET_CHANNEL_MAP: "SET_CHANNEL_MAP",
    T_QUERY_STATUS: "QUERY_STATUS",
    T_PING: "PING",
}

# Framing error codes, identical in Python and C (and in the shared vectors).
E_OK = 0
E_COBS = 1  # zero byte inside a frame, or a COBS run past the end
E_SHORT = 2  # fewer than HEADER_SIZE + CRC_SIZE bytes after COBS decoding
E_CRC = 3  # CRC-32C mismatch
E_VERSION = 4  # unknown protocol version
E_LENGTH = 5  # length field disagrees with the frame, or frame longer than MAX_ENCODED
E_PAYLOAD = 6  # payload inconsistent with its frame type (event count, command size)
E_SEQ = 7  # sequence number behind the expected one: duplicate or replayed frame
E_SKIPPED = 8  # host only: partial frame before the first delimiter after a (re)connect
ERROR_NAMES = {
    E_COBS: "bad COBS encoding",
    E_SHORT: "frame too short",
    E_CRC: "CRC-32C mismatch",
    E_VERSION: "unknown protocol version",
    E_LENGTH: "length field mismatch or frame too long",
    E_PAYLOAD: "payload inconsistent with frame type",
    E_SEQ: "duplicate or out-of-order sequence number",
    E_SKIPPED: "partial frame skipped while joining the stream",
}

# Event frames: payload header then n tag words of 32 bits.
EVENT_HEADER = struct.Struct("<qQII")  # base_time_ps, first_index, fifo_lost, n_tags
EVENT_HEADER_SIZE = EVENT_HEADER.size  # 24
TAG_DT_BITS = 27  # bits 0..26: ps after the previous tag (first: after base_time); 27..31: channel
TAG_DT_MASK = (1 << TAG_DT_BITS) - 1
TAG_MAX_CHANNEL = 31
# Tag words go on the wire XORed with this constant: dt and channel are small numbers whose
# zero bytes would cut COBS into ~4-byte blocks; scrambled, blocks are ~254 bytes long.
TAG_XOR = 0xA5A5A5A5
MAX_TAGS_PER_FRAME = (MAX_PAYLOAD - EVENT_HEADER_SIZE) // 4  # 1018

# Status frames.
STATUS_HEADER = struct.Struct("<IIIIQQQQIBBH")
STATUS_HEADER_SIZE = STATUS_HEADER.size  # 56
N_CHANNELS = 32

# Ack result codes.
ACK_OK = 0
ACK_BAD_PAYLOAD = 1
ACK_UNKNOWN_COMMAND = 2
ACK_BAD_STATE = 3

GATE = struct.Struct("<QQQ")  # period_ps, offset_ps, width_ps (period 0 = gate off)
ACK = struct.Struct("<IBBH")  # acked sequence number, acked type, result, reserved
MAX_PING = 64

FW_STATE_IDLE = 0
FW_STATE_RUNNING = 1


class FramingError(FormatError):
    """A frame failed COBS, length, CRC, version or payload checks. ``code`` is an ``E_*``."""

    def __init__(self, code: int, message: str, *, source: str = "frame", offset: int = 0) -> None:
        self.code = code
        super().__init__(f"{ERROR_NAMES.get(code, 'error')}: {message}", source=source,
                         offset=offset)


@dataclass(frozen=True)
class Frame:
    """One decoded frame."""

    type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class Status:
    """What a STATUS frame reports (counters since boot unless noted)."""

    fw_version: tuple[int, int, int]
    uptime_ms: int
    fifo_high_water: int
    fifo_capacity: int
    dropped_events: int  # lost to FIFO overflow
    gated_events: int  # rejected by the gate or the channel map
    sent_events: int  # put into event frames
    frames_sent: int
    rx_errors: int  # bad frames received from the host
    state: int
    counts: tuple[int, ...] = field(default=())  # events per channel since the last START


def unpack_status(payload: bytes) -> Status:
    """Parse a STATUS payload; raises :class:`FramingError` ``E_PAYLOAD`` if it is malformed."""
    if len(payload) < STATUS_HEADER_SIZE:
        raise FramingError(E_PAYLOAD, f"status payload of {len(payload)} bytes", source="status")
    (ver, hw, fifo_cap, frames, dropped, gated, sent, uptime, rx_err, state, n_ch, _r) = (
        STATUS_HEADER.unpack_from(payload)
    )
    if len(payload) != STATUS_HEADER_SIZE + 8 * n_ch:
        raise FramingError(E_PAYLOAD, f"status has {n_ch} channels but {len(payload)} bytes",
                           source="status", offset=STATUS_HEADER_SIZE - 3)
    counts = struct.unpack_from(f"<{n_ch}Q", payload, STATUS_HEADER_SIZE)
    version = ((ver >> 16) & 0xFF, (ver >> 8) & 0xFF, ver & 0xFF)
    del _r
    return Status(version, uptime, hw, fifo_cap, dropped, gated, sent, frames, rx_err, state,
                  counts)


def pack_status(s: Status) -> bytes:
    """Inverse of :func:`unpack_status` (the firmware builds the same bytes)."""
    major, minor, patch = s.fw_version
    head = STATUS_HEADER.pack(
        (major << 16) | (minor << 8) | patch, s.fifo_high_water, s.fifo_capacity, s.frames_sent,
        s.dropped_events, s.gated_events, s.sent_events, s.uptime_ms, s.rx_errors, s.state,
        len(s.counts), 0,
    )
    return head + struct.pack(f"<{len(s.counts)}Q", *s.counts)


def pack_gate(period_ps: int, offset_ps: int, width_ps: int) -> bytes:
    """SET_GATE payload: keep events with ``(t - offset) mod period < width``; period 0 = all."""
    return GATE.pack(period_ps, offset_ps, width_ps)


def pack_channel_map(mapping: dict[int, int | None]) -> bytes:
    """SET_CHANNEL_MAP payload: 32 bytes, byte i = output channel of input i, 0xFF = drop it.

    Inputs absent from ``mapping`` keep their number.
    """
    out = bytearray(range(N_CHANNELS))
    for inp, outp in mapping.items():
        if not 0 <= inp < N_CHANNELS:
            raise ValueError(f"input channel {inp} outside 0..{N_CHANNELS - 1}")
        if outp is not None and not 0 <= outp <= TAG_MAX_CHANNEL:
            raise ValueError(f"output channel {outp} outside 0..{TAG_MAX_CHANNEL}")
        out[inp] = 0xFF if outp is None else outp
    return bytes(out)


def unpack_ack(payload: bytes) -> tuple[int, int, int]:
    """ACK payload -> (acked sequence number, acked frame type, result code)."""
    if len(payload) != ACK.size:
        raise FramingError(E_PAYLOAD, f"ack payload of {len(payload)} bytes", source="ack")
    seq, ftype, result, _ = ACK.unpack(payload)
    return seq, ftype, result


def validate_command(ftype: int, payload: bytes) -> int:
    """The firmware's command check, as reference: ``ACK_*`` result for a host -> device frame."""
    n = len(payload)
    if ftype in (T_START, T_STOP, T_QUERY_STATUS):
        return ACK_OK if n == 0 else ACK_BAD_PAYLOAD
    if ftype == T_PING:
        return ACK_OK if n <= MAX_PING else ACK_BAD_PAYLOAD
    if ftype == T_SET_GATE:
        if n != GATE.size:
            return ACK_BAD_PAYLOAD
        period, offset, width = GATE.unpack(payload)
        if period and (width > period or offset >= period):
            return ACK_BAD_PAYLOAD
        return ACK_OK
    if ftype == T_SET_CHANNEL_MAP:
        if n != N_CHANNELS:
            return ACK_BAD_PAYLOAD
        return ACK_OK if all(b <= TAG_MAX_CHANNEL or b == 0xFF for b in payload) else \
            ACK_BAD_PAYLOAD
    return ACK_UNKNOWN_COMMAND
