"""qkdpp recording format: round trips, streaming, manifest and checksum checks."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postproc.errors import FormatError
from postproc.events import EventChunk, SpecialEvents
from postproc.recording import (
    FORMAT_NAME,
    RecordingWriter,
    decode_alice,
    encode_alice,
    is_recording,
    open_recording,
    write_recording,
)

META = {"slot_period_ps": 1000, "protocol": "bb84-decoy", "intensities": [0.5, 0.1, 0.0]}


def _chunks(t, ch, sizes):
    out, i = [], 0
    for s in sizes:
        out.append(EventChunk(t=t[i : i + s], ch=ch[i : i + s], first_record=i))
        i += s
    out.append(EventChunk(t=t[i:], ch=ch[i:], first_record=i))
    return out


def _cat_bob(rec, chunk_records):
    chunks = list(rec.iter_bob(chunk_records=chunk_records))
    return (
        np.concatenate([c.t for c in chunks]),
        np.concatenate([c.ch for c in chunks]),
        chunks,
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    t=st.lists(st.integers(-(2**62), 2**62), max_size=300),
    sizes=st.lists(st.integers(0, 50), max_size=6),
    alice=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 2)), max_size=400
    ),
    alice_split=st.integers(1, 64),
    read_chunk=st.integers(1, 97),
)
def test_round_trip_any_chunking(tmp_path_factory, t, sizes, alice, alice_split, read_chunk):
    path = tmp_path_factory.mktemp("rec")
    t = np.array(t, dtype=np.int64)
    ch = (np.arange(len(t)) % 7 - 1).astype(np.int16)
    a = np.array(alice, dtype=np.uint8).reshape(-1, 3)
    log = encode_alice(a[:, 0], a[:, 1], a[:, 2])
    alice_chunks = [log[i : i + alice_split] for i in range(0, len(log), alice_split)]
    write_recording(path, META, _chunks(t, ch, sizes), alice_chunks)

    rec = open_recording(path)
    assert rec.n_events == len(t) and rec.n_slots == len(log)
    assert rec.meta["slot_period_ps"] == 1000 and rec.meta["format"] == FORMAT_NAME
    t2, ch2, chunks = _cat_bob(rec, read_chunk)
    assert t2.tolist() == t.tolist() and ch2.tolist() == ch.tolist()
    assert t2.dtype == np.int64 and ch2.dtype == np.int16
    assert all(len(c) <= read_chunk for c in chunks)
    assert [c.first_record for c in chunks] == list(range(0, len(t) + 1, read_chunk))[: len(chunks)]
    got = np.concatenate([np.zeros(0, np.uint8), *rec.iter_alice(chunk_slots=read_chunk)])
    assert got.tolist() == log.tolist()
    bit, basis, inten = decode_alice(got)
    assert bit.tolist() == a[:, 0].tolist()
    assert basis.tolist() == a[:, 1].tolist()
    assert inten.tolist() == a[:, 2].tolist()


@settings(deadline=None)
@given(st.lists(st.integers(0, 255), max_size=200))
def test_alice_byte_layout(raw):
    log = np.array(raw, dtype=np.uint8)
    bit, basis, inten = decode_alice(log)
    assert ((bit | basis << 1 | inten << 2) == (log & 0x0F)).all()
    assert (encode_alice(bit, basis, inten) == (log & 0x0F)).all()


def test_alice_layout_known_values():
    assert encode_alice(np.array([1]), np.array([0]), np.array([0])).tolist() == [0x01]
    assert encode_alice(np.array([0]), np.array([1]), np.array([0])).tolist() == [0x02]
    assert encode_alice(np.array([1]), np.array([1]), np.array([2])).tolist() == [0x0B]


def test_specials_survive_and_land_in_their_chunk(tmp_path):
    sp1 = SpecialEvents(
        marker_t=np.array([5, 6], np.int64),
        marker_mask=np.array([1, 4], np.int16),
        n_overflows=3,
    )
    sp2 = SpecialEvents(
        sync_t=np.array([100], np.int64),
        gap_start=np.array([200], np.int64),
        gap_stop=np.array([300], np.int64),
        gap_missed=np.array([17], np.int64),
        n_overflows=2,
    )
    c1 = EventChunk(t=np.arange(10, dtype=np.int64), ch=np.zeros(10, np.int16), specials=sp1)
    c2 = EventChunk(t=np.arange(10, 20, dtype=np.int64), ch=np.ones(10, np.int16), specials=sp2)
    write_recording(tmp_path, {}, [c1, c2], [])
    rec = open_recording(tmp_path)
    chunks = list(rec.iter_bob(chunk_records=10))
    assert len(chunks) == 2
    a, b = chunks[0].specials, chunks[1].specials
    assert a.marker_t.tolist() == [5, 6] and a.marker_mask.tolist() == [1, 4]
    assert a.n_overflows == 3 and len(a.sync_t) == 0
    assert b.sync_t.tolist() == [100] and b.n_overflows == 2
    assert b.gap_start.tolist() == [200] and b.gap_stop.tolist() == [300]
    assert b.gap_missed.tolist() == [17]
    # one big chunk gets everything
    (only,) = rec.iter_bob(chunk_records=1000)
    assert only.specials.n_overflows == 5 and len(only.specials.marker_t) == 2


def test_trailing_specials_with_last_chunk(tmp_path):
    with RecordingWriter(tmp_path, {}) as w:
        w.write_bob(EventChunk(t=np.arange(4, dtype=np.int64), ch=np.zeros(4, np.int16)))
        w.write_bob(
            EventChunk(
                t=np.zeros(0, np.int64),
                ch=np.zeros(0, np.int16),
                specials=SpecialEvents(n_overflows=9),
            )
        )
    chunks = list(open_recording(tmp_path).iter_bob(chunk_records=2))
    assert [len(c) for c in chunks] == [2, 2]
    assert chunks[-1].specials.n_overflows == 9


def test_empty_recording(tmp_path):
    write_recording(tmp_path, {}, [], [])
    rec = open_recording(tmp_path)
    assert rec.n_events == 0 and rec.n_slots == 0
    (c,) = rec.iter_bob()
    assert len(c) == 0
    assert list(rec.iter_alice()) == []


def _small(tmp_path):
    t = np.arange(0, 5000, 7, dtype=np.int64)
    write_recording(
        tmp_path,
        META,
        [EventChunk(t=t, ch=np.zeros(len(t), np.int16))],
        [np.zeros(1000, np.uint8)],
    )
    return tmp_path


def test_checksum_mismatch_names_file(tmp_path):
    _small(tmp_path)
    f = tmp_path / "bob_t.i64"
    raw = bytearray(f.read_bytes())
    raw[17] ^= 0x40
    f.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match=r"bob_t\.i64.*sha256"):
        open_recording(tmp_path)
    open_recording(tmp_path, verify=False)  # size still right: opening unverified works


def test_truncation_names_file_and_offset(tmp_path):
    _small(tmp_path)
    f = tmp_path / "alice.u8"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(FormatError, match=r"alice\.u8.*offset 990.*truncated") as exc:
        open_recording(tmp_path)
    assert exc.value.source.endswith("alice.u8")


def test_missing_manifest_and_wrong_version(tmp_path):
    _small(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["version"] = 99
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(FormatError, match="unsupported version 99"):
        open_recording(tmp_path)
    (tmp_path / "meta.json").unlink()
    with pytest.raises(FormatError, match=r"no meta\.json"):
        open_recording(tmp_path)
    assert not is_recording(tmp_path)


def test_invalid_alice_byte_rejected(tmp_path):
    with pytest.raises(FormatError, match=r"0x0c at slot 3"), RecordingWriter(tmp_path, {}) as w:
        w.write_alice(np.array([0, 1, 2, 0x0C], np.uint8))
    assert not is_recording(tmp_path)


def test_unsorted_flag_and_interleaved_writes(tmp_path):
    with RecordingWriter(tmp_path, {"x": 1}) as w:
        w.write_alice(np.array([1, 2], np.uint8))
        w.write_bob(EventChunk(t=np.array([5, 9], np.int64), ch=np.zeros(2, np.int16)))
        w.write_alice(np.array([3], np.uint8))
        w.write_bob(EventChunk(t=np.array([7], np.int64), ch=np.zeros(1, np.int16)))
    rec = open_recording(tmp_path)
    assert is_recording(tmp_path)
    assert rec.meta["t_sorted"] is False and rec.meta["x"] == 1
    assert rec.read_alice(1, 10).tolist() == [2, 3]
    assert next(rec.iter_alice(start=2)).tolist() == [3]


def test_write_recording_pulls_alternately(tmp_path):
    pulled = []

    def bob():
        for i in range(3):
            pulled.append(("b", i))
            yield EventChunk(t=np.array([i], np.int64), ch=np.zeros(1, np.int16))

    def alice():
        for i in range(3):
            pulled.append(("a", i))
            yield np.zeros(2, np.uint8)

    write_recording(tmp_path, {}, bob(), alice())
    assert pulled == [("b", 0), ("a", 0), ("b", 1), ("a", 1), ("b", 2), ("a", 2)]
