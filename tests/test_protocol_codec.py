"""Message codec: round trips over every field type, strict refusal of anything malformed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from postproc.errors import ProtocolError
from postproc.protocol import codec


@codec.message(60001)
@dataclass(frozen=True)
class Everything:
    i: int
    f: float
    b: bool
    s: str
    y: bytes
    a: np.ndarray
    li: list[int]
    la: list[np.ndarray]
    o: str | None


@codec.message(60002)
@dataclass(frozen=True)
class Small:
    n: int
    flag: bool


DTYPES = [d.newbyteorder("=") for d in codec.ARRAY_DTYPES]


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    dt = draw(st.sampled_from(DTYPES))
    n = draw(st.integers(0, 40))
    raw = draw(st.binary(min_size=n * dt.itemsize, max_size=n * dt.itemsize))
    return np.frombuffer(raw, dtype=dt).copy()


everything = st.builds(
    Everything,
    i=st.integers(-(2**300), 2**300),
    f=st.floats(allow_nan=False),
    b=st.booleans(),
    s=st.text(max_size=50),
    y=st.binary(max_size=100),
    a=arrays(),
    li=st.lists(st.integers(-(2**70), 2**70), max_size=10),
    la=st.lists(arrays(), max_size=4),
    o=st.none() | st.text(max_size=5),
)


def _same_array(p: np.ndarray, q: np.ndarray) -> bool:
    # bit for bit: arrays drawn from raw bytes hold NaNs, which never compare equal by value
    return p.dtype == q.dtype and p.shape == q.shape and p.tobytes() == q.tobytes()


def _same(x: Everything, y: Everything) -> bool:
    return (
        (x.i, x.f, x.b, x.s, x.y, x.li, x.o) == (y.i, y.f, y.b, y.s, y.y, y.li, y.o)
        and _same_array(x.a, y.a)
        and len(x.la) == len(y.la)
        and all(_same_array(p, q) for p, q in zip(x.la, y.la, strict=True))
    )


@settings(max_examples=150, deadline=None)
@given(everything)
@example(Everything(i=0, f=0.0, b=False, s="", y=b"", a=np.array([np.nan]), li=[], la=[], o=None))
def test_round_trip(msg: Everything) -> None:
    assert _same(codec.decode(codec.encode(msg)), msg)


@settings(max_examples=40, deadline=None)
@given(everything, st.data())
def test_every_truncation_and_extension_is_refused(msg: Everything, data: st.DataObject) -> None:
    frame = codec.encode(msg)
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(ProtocolError):
        codec.decode(frame[:cut])
    with pytest.raises(ProtocolError, match="truncated or extended"):
        codec.decode(frame + b"\0")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_raises_only_protocol_error(garbage: bytes) -> None:
    with pytest.raises(ProtocolError):
        codec.decode(garbage)


@settings(max_examples=200, deadline=None)
@given(everything, st.data())
def test_corrupted_payload_never_crashes(msg: Everything, data: st.DataObject) -> None:
    frame = bytearray(codec.encode(msg))
    pos = data.draw(st.integers(0, len(frame) - 1))
    frame[pos] ^= data.draw(st.integers(1, 255))
    try:
        out = codec.decode(bytes(frame))
    except ProtocolError:
        return
    assert isinstance(out, Everything)  # a flipped value byte can still be a valid message


def test_errors_name_field_and_offset() -> None:
    frame = bytearray(codec.encode(Small(5, True)))
    frame[codec.HEADER_SIZE + 3] = ord("b")  # the 'b' code sits right after the 3-byte int
    frame[codec.HEADER_SIZE + 4] = 7
    with pytest.raises(ProtocolError, match=r"Small\.flag: bool byte 7 at offset 20"):
        codec.decode(bytes(frame))
    frame = bytearray(codec.encode(Small(5, True)))
    frame[codec.HEADER_SIZE] = ord("s")
    with pytest.raises(ProtocolError, match=r"Small\.n: type code b's' at offset 16"):
        codec.decode(bytes(frame))


def test_header_checks() -> None:
    frame = codec.encode(Small(1, False))
    with pytest.raises(ProtocolError, match="bad magic"):
        codec.decode(b"XXXX" + frame[4:])
    with pytest.raises(ProtocolError, match="codec version 9"):
        codec.decode(frame[:4] + b"\x09" + frame[5:])
    with pytest.raises(ProtocolError, match="unknown message type id 65000"):
        codec.decode(frame[:6] + (65000).to_bytes(2, "little") + frame[8:])
    with pytest.raises(ProtocolError, match="schema fingerprint"):
        codec.decode(frame[:8] + b"\0\0\0\0" + frame[12:])


def test_fingerprint_tracks_field_types() -> None:
    @dataclass(frozen=True)
    class Small:  # same name, different field type: a different protocol version
        n: int
        flag: int

    other = codec._schema_for(Small, 60002)
    assert other.fingerprint != codec.schema_of(globals()["Small"]).fingerprint


def test_encode_refuses_wrong_values() -> None:
    with pytest.raises(ProtocolError, match=r"Small\.n: expected int, got bool"):
        codec.encode(Small(True, True))
    with pytest.raises(ProtocolError, match="dtype complex128"):
        codec.encode(Everything(0, 0.0, False, "", b"", np.zeros(2, complex), [], [], None))
    with pytest.raises(ProtocolError, match="1-D"):
        codec.encode(Everything(0, 0.0, False, "", b"", np.zeros((2, 2)), [], [], None))
    with pytest.raises(ProtocolError, match="not a registered message"):
        codec.encode(3)


def test_registration_rules() -> None:
    @dataclass
    class Mutable:
        x: int

    with pytest.raises(TypeError, match="frozen dataclass"):
        codec.register_message(Mutable, 60100)

    @dataclass(frozen=True)
    class BadType:
        x: dict

    with pytest.raises(TypeError, match="unsupported field type"):
        codec.register_message(BadType, 60101)
    with pytest.raises(ValueError, match="already taken"):
        codec.register_message(BadType, 60001)
    assert codec.register_message(Small, 60002) is Small


def test_big_endian_arrays_are_sent_little_endian() -> None:
    a = np.arange(5, dtype=">i4")
    out = codec.decode(codec.encode(Everything(0, 0.0, False, "", b"", a, [], [], None)))
    assert out.a.dtype == np.dtype("=i4") and out.a.tolist() == [0, 1, 2, 3, 4]
