"""Shared test vectors of the wire protocol, read by the Python and the C test suites.

``python -m hil.vectors [PATH]`` regenerates ``hil/vectors/frames.txt``; a pytest checks that the
committed file equals a fresh generation, and ``firmware/tests`` runs every line through the C
codec. Line format (hex lowercase, ``-`` for empty, fields separated by one space)::

    CRC   data_hex crc_hex            CRC-32C of data
    COBS  raw_hex encoded_hex         COBS encoding (no delimiter)
    FRAME type seq payload_hex wire_hex    encode_frame(type, seq, payload) == wire (with 0x00)
    BAD   code wire_hex               decode_frame(wire) fails with E_* code
    CMD   type payload_hex result     validate_command(type, payload) == ACK_* result
    EVENTS max_tags events wire_hex   encode_event_stream; events = t:ch,t:ch,... (seq0 = 0)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hil.codec import build_raw_frame, cobs_encode, crc32c, encode_event_stream, encode_frame
from hil.protocol import (
    E_COBS,
    E_CRC,
    E_LENGTH,
    E_SHORT,
    E_VERSION,
    MAX_ENCODED,
    T_ACK,
    T_EVENTS,
    T_PING,
    T_QUERY_STATUS,
    T_SET_CHANNEL_MAP,
    T_SET_GATE,
    T_START,
    T_STATUS,
    T_STOP,
    pack_channel_map,
    pack_gate,
    validate_command,
)

VECTOR_PATH = Path(__file__).parent / "vectors" / "frames.txt"


def _h(b: bytes | np.ndarray) -> str:
    b = bytes(b)
    return b.hex() if b else "-"


def _recrc(raw: np.ndarray) -> np.ndarray:
    raw = raw.copy()
    c = crc32c(raw[:-4])
    raw[-4:] = np.frombuffer(np.array([c], "<u4").tobytes(), np.uint8)
    return raw


def generate() -> list[str]:
    rng = np.random.default_rng(20261126)
    lines = ["# qkdpp wire protocol test vectors (python -m hil.vectors); do not edit by hand"]
    for data in [b"", b"123456789", bytes(32), bytes(range(256)), rng.bytes(1000)]:
        lines.append(f"CRC {_h(data)} {crc32c(data):08x}")
    cobs_cases = [b"", b"\x00", b"\x00\x00", b"\x11\x22\x00\x33", bytes(range(1, 255)),
                  bytes(range(1, 256)), b"\x00" + bytes(range(1, 256)) + b"\x00",
                  bytes([0x55]) * 600, rng.bytes(700)]
    for raw in cobs_cases:
        lines.append(f"COBS {_h(raw)} {_h(cobs_encode(raw))}")
    frames = [(T_START, 0, b""), (T_PING, 1, b"ping\x00pong"), (T_STATUS, 0xFFFFFFFF, bytes(300)),
              (T_SET_GATE, 77, pack_gate(12500, 100, 2000)), (T_ACK, 3, rng.bytes(8)),
              (T_EVENTS, 123456, rng.bytes(4096)), (T_STOP, 0x01020304, b"")]
    for ftype, seq, payload in frames:
        lines.append(f"FRAME {ftype} {seq} {_h(payload)} {_h(encode_frame(ftype, seq, payload))}")
    good = build_raw_frame(T_PING, 9, b"abcdefgh")
    flipped = good.copy()
    flipped[10] ^= 0x04
    version = good.copy()
    version[1] = 2
    length = good.copy()
    length[2] = 7
    bad = [
        (E_CRC, cobs_encode(flipped)),
        (E_VERSION, cobs_encode(_recrc(version))),
        (E_LENGTH, cobs_encode(_recrc(length))),
        (E_SHORT, cobs_encode(good[:11])),
        (E_SHORT, b"\x01"),
        (E_COBS, b"\x05\x11\x22"),
        (E_COBS, b"\xff" + bytes([7]) * 100),
        (E_LENGTH, bytes([1]) * (MAX_ENCODED + 1)),
        (E_LENGTH, bytes([1]) * 4120),
        (E_COBS, b"\x02\x00" + bytes([1]) * 4120),
    ]
    for code, wire in bad:
        lines.append(f"BAD {code} {_h(wire)}")
    cmds = [(T_START, b""), (T_START, b"\x01"), (T_STOP, b""), (T_QUERY_STATUS, b""),
            (T_PING, bytes(64)), (T_PING, bytes(65)), (T_SET_GATE, pack_gate(12500, 100, 2000)),
            (T_SET_GATE, pack_gate(0, 0, 0)), (T_SET_GATE, pack_gate(1000, 0, 1001)),
            (T_SET_GATE, pack_gate(1000, 1000, 10)), (T_SET_GATE, bytes(23)),
            (T_SET_CHANNEL_MAP, pack_channel_map({0: 3, 1: None})),
            (T_SET_CHANNEL_MAP, bytes([32]) + bytes(31)), (T_SET_CHANNEL_MAP, bytes(31)),
            (T_EVENTS, b""), (0x7F, b"")]
    for ftype, payload in cmds:
        lines.append(f"CMD {ftype} {_h(payload)} {validate_command(ftype, payload)}")
    for n, max_tags, step in [(1, 1018, 1000), (5, 2, 1000), (3000, 1018, 100_000),
                              (50, 1018, 60_000_000)]:
        t = 10**12 + np.cumsum(rng.integers(0, step, n))
        ch = rng.integers(0, 32, n)
        wire, _ = encode_event_stream(t, ch, max_tags=max_tags)
        ev = ",".join(f"{a}:{b}" for a, b in zip(t.tolist(), ch.tolist(), strict=True))
        lines.append(f"EVENTS {max_tags} {ev} {_h(wire)}")
    return lines


def write(path: Path = VECTOR_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(generate()) + "\n")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else VECTOR_PATH)
