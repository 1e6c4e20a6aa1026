"""Frame codec: known answers, shared vectors with the C firmware, property tests."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil import vectors
from hil.codec import (
    F_STATUS,
    cobs_decode,
    cobs_encode,
    crc32c,
    decode_frame,
    encode_event_stream,
    encode_frame,
    new_scan_state,
    pack_event_payload,
    scan_stream,
    unpack_event_payload,
)
from hil.decoder import StreamDecoder
from hil.protocol import (
    E_CRC,
    E_OK,
    MAX_PAYLOAD,
    T_EVENTS,
    T_PING,
    FramingError,
    Status,
    pack_status,
    unpack_status,
    validate_command,
)


def test_crc32c_known_answers():
    assert crc32c(b"123456789") == 0xE3069283
    # RFC 3720 (iSCSI) B.4: 32 bytes of zeros and of 0xFF
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E


def test_cobs_known_answers():
    # examples from the COBS paper / Wikipedia
    assert cobs_encode(b"\x00").tobytes() == b"\x01\x01"
    assert cobs_encode(b"\x11\x22\x00\x33").tobytes() == b"\x03\x11\x22\x02\x33"
    assert cobs_encode(b"\x11\x00\x00\x00").tobytes() == b"\x02\x11\x01\x01\x01"
    data = bytes(range(1, 255))
    assert cobs_encode(data).tobytes() == b"\xff" + data + b"\x01"


def test_vector_file_is_current():
    assert vectors.VECTOR_PATH.read_text() == "\n".join(vectors.generate()) + "\n"


def test_vectors_decode():
    n = 0
    for line in vectors.VECTOR_PATH.read_text().splitlines():
        kind, *f = line.split(" ")

        def h(s):
            return b"" if s == "-" else bytes.fromhex(s)

        if kind == "FRAME":
            fr = decode_frame(h(f[3]))
            assert (fr.type, fr.seq, fr.payload) == (int(f[0]), int(f[1]), h(f[2]))
        elif kind == "BAD":
            with pytest.raises(FramingError) as exc:
                decode_frame(h(f[1]))
            assert exc.value.code == int(f[0])
        elif kind == "CMD":
            assert validate_command(int(f[0]), h(f[1])) == int(f[2])
        elif kind == "EVENTS":
            ev = np.array([[int(x) for x in p.split(":")] for p in f[1].split(",")])
            st_ = new_scan_state()
            _, t, ch, _, _ = scan_stream(np.frombuffer(h(f[2]), np.uint8), st_)
            assert t.tolist() == ev[:, 0].tolist() and ch.tolist() == ev[:, 1].tolist()
        n += 1
    assert n > 30


@given(st.binary(max_size=3000))
@settings(deadline=None)
def test_cobs_round_trip(data):
    enc = cobs_encode(data)
    assert 0 not in enc.tobytes()
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc).tobytes() == data


@given(st.integers(0, 255), st.integers(0, 2**32 - 1), st.binary(max_size=MAX_PAYLOAD))
@settings(max_examples=150, deadline=None)
def test_frame_round_trip(ftype, seq, payload):
    wire = encode_frame(ftype, seq, payload)
    assert wire.index(0) == len(wire) - 1
    fr = decode_frame(wire)
    assert (fr.type, fr.seq, fr.payload) == (ftype, seq, payload)


@given(st.binary(max_size=5000))
@settings(max_examples=300, deadline=None)
def test_garbage_raises_only_framing_error(data):
    with contextlib.suppress(FramingError):
        decode_frame(data)


@given(st.binary(max_size=20000))
@settings(max_examples=150, deadline=None)
def test_scan_of_garbage_delivers_nothing(data):
    dec = StreamDecoder(synced=True)
    res = dec.feed(data)
    # a random frame passing CRC-32C is a 2^-32 event; hypothesis would need to construct it
    assert len(res.chunk) == 0
    assert dec.stats.frames_ok == len(res.control)


@given(
    st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 31)), max_size=300),
    st.integers(1, 1018),
)
@settings(max_examples=100, deadline=None)
def test_event_stream_round_trip(events, max_tags):
    t = np.array([e[0] for e in events], dtype=np.int64)
    ch = np.array([e[1] for e in events], dtype=np.int64)
    wire, nf = encode_event_stream(t, ch, max_tags=max_tags, first_index=7)
    dec = StreamDecoder(synced=True)
    res = dec.feed(wire)
    assert res.chunk.t.tolist() == t.tolist() and res.chunk.ch.tolist() == ch.tolist()
    assert dec.stats.event_frames == nf and dec.stats.bad_frames == 0


def test_stream_split_anywhere_and_bitflip_detected():
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.integers(0, 300_000, 20_000))
    ch = rng.integers(0, 8, t.shape[0])
    wire = bytearray(encode_event_stream(t, ch)[0])
    dec = StreamDecoder(synced=True)
    got = []
    cuts = np.sort(rng.integers(0, len(wire), 40))
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(wire)], strict=True):
        got.append(dec.feed(bytes(wire[a:b])).chunk.t)
    assert np.array_equal(np.concatenate(got), t)
    # a flipped bit costs exactly that frame; the decoder counts its events as lost
    wire[5000] ^= 0x40
    dec = StreamDecoder(synced=True)
    res = dec.feed(bytes(wire))
    assert dec.stats.bad_frames == 1 and dec.stats.errors_by_code == {"CRC-32C mismatch": 1}
    lost = t.shape[0] - len(res.chunk)
    assert dec.stats.missing_frames == 1 and 0 < dec.stats.lost_events == lost
    assert res.chunk.specials.gap_missed.tolist() == [lost]
    assert np.isin(res.chunk.t, t).all()


def test_duplicate_frame_rejected():
    t = np.arange(3000, dtype=np.int64) * 1000
    wire, _ = encode_event_stream(t, np.zeros(3000, np.int64))
    frames = wire.split(b"\x00")[:-1]
    stream = b"\x00".join([frames[0], frames[1], frames[1], frames[2]]) + b"\x00"
    dec = StreamDecoder(synced=True)
    res = dec.feed(stream)
    assert np.array_equal(res.chunk.t, t)
    assert dec.stats.duplicate_frames == 1 and dec.stats.missing_frames == 0


def test_resync_discards_partial_frame():
    wire = encode_frame(T_PING, 1, b"abc") + encode_frame(T_PING, 2, b"def")
    dec = StreamDecoder(synced=False)
    res = dec.feed(wire[5:])
    assert [f.payload for f in res.control] == [b"def"]
    assert dec.stats.bad_frames == 0 and dec.stats.skipped_bytes == len(wire) // 2 - 5 - 1
    # joining at a frame boundary loses nothing
    dec = StreamDecoder(synced=False)
    assert len(dec.feed(wire).control) == 2 and dec.stats.skipped_bytes == 0


def test_event_payload_and_status_round_trip():
    t = np.array([100, 100, 2**27 + 99], dtype=np.int64)
    p = pack_event_payload(100, 5, 2, t, np.array([0, 31, 4]))
    base, first, lost, t2, ch2 = unpack_event_payload(p)
    assert (base, first, lost, t2.tolist(), ch2.tolist()) == (100, 5, 2, t.tolist(), [0, 31, 4])
    with pytest.raises(ValueError):
        pack_event_payload(100, 0, 0, np.array([2**27 + 100]), np.array([0]))
    with pytest.raises(ValueError):  # times within a frame never go back
        pack_event_payload(100, 0, 0, np.array([200, 150]), np.array([0, 0]))
    # tags count from the previous tag, so a frame may span far more than 2^27 ps
    t = 100 + np.arange(1000, dtype=np.int64) * (2**27 - 1)
    assert np.array_equal(unpack_event_payload(pack_event_payload(100, 0, 0, t, t % 32))[3], t)
    s = Status((1, 2, 3), 10, 4, 65536, 7, 8, 9, 11, 12, 1, tuple(range(32)))
    assert unpack_status(pack_status(s)) == s


def test_scan_table_reports_codes():
    good = encode_frame(T_EVENTS, 0, pack_event_payload(0, 0, 0, np.array([1]), np.array([1])))
    bad = bytearray(good)
    bad[3] ^= 1
    state = new_scan_state()
    _, t, _, finfo, _ = scan_stream(np.frombuffer(bytes(bad) + good, np.uint8), state)
    assert finfo[:, F_STATUS].tolist() == [E_CRC, E_OK] and t.tolist() == [1]


@given(st.binary(min_size=1, max_size=5000))
@settings(max_examples=300, deadline=None)
def test_fast_cobs_path_agrees_with_reference(data):
    from hil.codec import _cobs_decode, _cobs_decode_nz

    src = np.frombuffer(data.replace(b"\x00", b"\x01"), np.uint8)
    for enc in (src, cobs_encode(data)):
        a = np.zeros(4112, np.uint8)
        b = np.zeros(4112, np.uint8)
        ra = _cobs_decode(enc, 0, enc.shape[0], a)
        rb = _cobs_decode_nz(enc, 0, enc.shape[0], b)
        assert ra == rb
        if ra >= 0:
            assert np.array_equal(a[:ra], b[:rb])


_STREAM_T = 10**6 + np.cumsum(np.random.default_rng(5).integers(1, 3_000, 4_000))
_STREAM_CH = np.random.default_rng(6).integers(0, 32, 4_000)
_STREAM, _ = encode_event_stream(_STREAM_T, _STREAM_CH, max_tags=300)


@given(st.lists(st.tuples(st.integers(0, len(_STREAM) - 1), st.integers(0, 3),
                          st.integers(0, 255)), max_size=12),
       st.lists(st.integers(1, len(_STREAM) - 1), max_size=6))
@settings(max_examples=150, deadline=None)
def test_corrupted_stream_never_delivers_a_wrong_event(edits, cuts):
    data = bytearray(_STREAM)
    for pos, kind, val in sorted(edits, reverse=True):
        if pos >= len(data):
            continue
        if kind == 0:
            data[pos] ^= val or 1  # flip bits
        elif kind == 1:
            del data[pos]
        elif kind == 2:
            data.insert(pos, data[pos])  # duplicate a byte
        else:
            data[pos] = val  # overwrite, may plant a delimiter
    dec = StreamDecoder(synced=True)
    parts = []
    bounds = [0, *sorted(c for c in cuts if c < len(data)), len(data)]
    for a, b in itertools.pairwise(bounds):
        parts.append(dec.feed(bytes(data[a:b])).chunk)
    t = np.concatenate([c.t for c in parts])
    ch = np.concatenate([c.ch for c in parts])
    # every delivered event is the original event at its place: look it up by time (unique)
    idx = np.searchsorted(_STREAM_T, t)
    assert np.all(idx < _STREAM_T.shape[0])
    assert np.array_equal(_STREAM_T[idx], t) and np.array_equal(_STREAM_CH[idx], ch)
    assert np.all(np.diff(idx) > 0)  # in order, no duplicates
    s = dec.stats
    assert s.events + s.lost_events <= _STREAM_T.shape[0]
    if not edits:
        assert s.events == _STREAM_T.shape[0] and s.bad_frames == 0


def test_joining_keeps_a_frame_split_across_reads():
    wire = encode_frame(T_PING, 1, b"abcdef")
    dec = StreamDecoder(synced=False)
    assert dec.feed(wire[:7]).control == []
    assert [f.payload for f in dec.feed(wire[7:]).control] == [b"abcdef"]
    assert dec.stats.skipped_bytes == 0 and dec.stats.bad_frames == 0
    # a run of garbage longer than any frame is dropped while joining, then the stream syncs
    dec = StreamDecoder(synced=False)
    dec.feed(b"\x07" * 5000)
    assert [f.payload for f in dec.feed(b"\x00" + wire).control] == [b"abcdef"]
    assert dec.stats.skipped_bytes == 5000 and dec.stats.bad_frames == 0
