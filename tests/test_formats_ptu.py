"""PTU: ptufile parity on the shared recordings and on random record streams of every record
type, the T2 writer round trip, and errors on truncated or corrupt files."""

import struct
import warnings
from pathlib import Path

import numpy as np
import ptufile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ptufile._ptufile import decode_t2_records, decode_t3_records

from postproc.errors import FormatError, FormatWarning
from postproc.events import EventChunk, SpecialEvents
from postproc.formats import open_timetag
from postproc.formats import pq_kernels as K  # noqa: N812  (K.<layout constant> reads better)
from postproc.formats.ptu import RECORD_TYPES, open_ptu, read_tags, write_ptu_t2

PTU_FILES = sorted(Path("/work/shared/data").glob("**/*.ptu"))


def _ptufile_photons(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ptufile.PtuFile(path) as p:
            rec = p.decode_records()
            return p, rec[rec["channel"] >= 0]


@pytest.mark.skipif(not PTU_FILES, reason="shared sample data not present")
@pytest.mark.parametrize("path", PTU_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("chunk", [1 << 20, 40_009])
def test_ptufile_parity_on_shared_files(path, chunk):
    p, ph = _ptufile_photons(path)
    r = open_timetag(path)
    chunks = list(r.chunks(chunk))
    t = np.concatenate([c.t for c in chunks])
    ch = np.concatenate([c.ch for c in chunks])
    assert r.records_read == p.number_records
    assert np.array_equal(ch, ph["channel"].astype(np.int16))
    if p.is_t3:
        ns = np.concatenate([c.nsync for c in chunks])
        dt = np.concatenate([c.dtime for c in chunks])
        assert np.array_equal(ns, ph["time"].astype(np.int64))
        assert np.array_equal(dt, ph["dtime"].astype(np.int16))
        period = p.global_resolution * 1e12
        res = p.tcspc_resolution * 1e12
        expect = (np.floor(ns * period + 0.5) + np.floor(dt * res + 0.5)).astype(np.int64)
        assert np.array_equal(t, expect)
    else:
        unit = round(p.global_resolution * 1e12)
        assert np.array_equal(t, ph["time"].astype(np.int64) * unit)


# Random valid records per layout; ptufile decodes the same words (its decoder is the oracle).
def _hh_word(draw, t3):
    kind = draw(st.sampled_from(["photon", "photon", "photon", "overflow", "marker"]))
    if kind == "photon":
        sp, ch = 0, draw(st.integers(0, 7))
    elif kind == "overflow":
        sp, ch = 1, 63
    else:
        sp, ch = 1, draw(st.integers(1, 15))
    low = draw(st.integers(0, (1 << 25) - 1)) if not t3 else (
        (draw(st.integers(0, (1 << 15) - 1)) << 10) | draw(st.integers(0, 1023)))
    if kind == "overflow":
        # T2 counts >= 128 are decoded wrong by ptufile (count * wrap in 32 bits), so the
        # oracle comparison keeps them below; test_large_overflow_counts covers them.
        low = draw(st.integers(0, 1023)) if t3 else draw(st.integers(0, 127))
    return (sp << 31) | (ch << 25) | low


def _ph_word(draw, t3):
    kind = draw(st.sampled_from(["photon", "photon", "photon", "overflow", "marker"]))
    if t3:
        ch = draw(st.integers(1, 4)) if kind == "photon" else 15
        dt = draw(st.integers(0, 4095))
        if kind == "overflow":
            dt = 0
        elif kind == "marker":
            dt = draw(st.integers(1, 15))
        return (ch << 28) | (dt << 16) | draw(st.integers(0, 0xFFFF))
    ch = draw(st.integers(0, 3)) if kind == "photon" else 15
    tt = draw(st.integers(0, (1 << 28) - 1))
    if kind == "overflow":
        tt &= ~0xF
    elif kind == "marker":
        tt = (tt & ~0xF) | draw(st.integers(1, 15))
    return (ch << 28) | tt


@st.composite
def record_streams(draw):
    rectype = draw(st.sampled_from(sorted(RECORD_TYPES)))
    layout = RECORD_TYPES[rectype][1]
    t3 = layout in (K.LAYOUT_PH_T3, K.LAYOUT_HH1_T3, K.LAYOUT_HH2_T3)
    maker = _ph_word if layout in (K.LAYOUT_PH_T2, K.LAYOUT_PH_T3) else _hh_word
    n = draw(st.integers(0, 60))
    words = np.array([maker(draw, t3) for _ in range(n)], np.uint32)
    return rectype, layout, t3, words


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_streams(), st.integers(1, 17))
def test_kernels_match_ptufile_on_random_streams(stream, split):
    rectype, layout, t3, words = stream
    n = words.size
    out = np.zeros(n, ptufile.T3_RECORD_DTYPE if t3 else ptufile.T2_RECORD_DTYPE)
    (decode_t3_records if t3 else decode_t2_records)(out, words, rectype)
    ph = out[out["channel"] >= 0]
    # decode in pieces of `split` words, carrying the overflow state
    ofl, t_all, ch_all, ns_all, dt_all = 0, [], [], [], []
    for a in range(0, n, split):
        w = words[a:a + split]
        m = w.size
        t, ch = np.empty(m, np.int64), np.empty(m, np.int16)
        if t3:
            ns, dt = np.empty(m, np.int64), np.empty(m, np.int16)
            k, _, ofl, *_ = K.t3_chunk(w, layout, ofl, 1000.0, 1.0, t, ch, ns, dt,
                                       np.empty(m, np.int64), np.empty(m, np.int16))
            ns_all.append(ns[:k])
            dt_all.append(dt[:k])
        else:
            k, _, ofl, *_ = K.t2_chunk(w, layout, ofl, 1, 1, t, ch, np.empty(m, np.int64),
                                       np.empty(m, np.uint8), np.empty(m, np.int16))
        t_all.append(t[:k])
        ch_all.append(ch[:k])
    def cat(xs, dt):
        return np.concatenate(xs) if xs else np.empty(0, dt)

    assert np.array_equal(cat(ch_all, np.int16), ph["channel"])
    if t3:
        assert np.array_equal(cat(ns_all, np.int64), ph["time"].astype(np.int64))
        assert np.array_equal(cat(dt_all, np.int16), ph["dtime"])
    else:
        assert np.array_equal(cat(t_all, np.int64), ph["time"].astype(np.int64))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["hydraharp2", "hydraharp1", "picoharp"]),
       st.lists(st.integers(0, (1 << 32) - 1), max_size=80), st.integers(1, 9))
def test_reference_decoder_agrees_with_ptufile_and_streaming_kernel(layout, words, split):
    """decode_t2_words (the tag_decoder reference) on arbitrary words, split anywhere."""
    w = np.array(words, np.uint32)
    rectype = {"hydraharp2": 0x01010204, "hydraharp1": 0x00010204, "picoharp": 0x00010203}
    time, channel, kind, ofl = K.decode_t2_words(w, layout)
    parts, o = [], 0
    for a in range(0, w.size, split):
        tt, cc, kk, o = K.decode_t2_words(w[a:a + split], layout, o)
        parts.append((tt, cc, kk))
    assert o == ofl
    if parts:
        assert np.array_equal(np.concatenate([p[0] for p in parts]), time)
        assert np.array_equal(np.concatenate([p[2] for p in parts]), kind)
    out = np.zeros(w.size, ptufile.T2_RECORD_DTYPE)
    decode_t2_records(out, w, rectype[layout])
    # ptufile multiplies an overflow count by the wrap in 32 bits: compare only up to the
    # first HydraHarp overflow record carrying >= 128 wraps
    upto = np.ones(w.size, bool)
    if layout != "picoharp":
        big = ((w >> 31) == 1) & (((w >> 25) & 63) == 63) & ((w & 0x1FFFFFF) >= 128)
        if big.any():
            upto = np.arange(w.size) < np.argmax(big)
    photon = (kind == K.KIND_PHOTON) & upto
    assert np.array_equal(out["time"][photon].astype(np.int64), time[photon])
    assert np.array_equal(out["channel"][photon].astype(np.int16), channel[photon])
    # every valid record reports the same time as ptufile (overflows, markers, sync)
    valid = (kind != K.KIND_INVALID) & upto
    assert np.array_equal(out["time"][valid].astype(np.int64), time[valid])
    marker = (kind == K.KIND_MARKER) & upto
    if layout != "picoharp":
        assert np.array_equal(out["marker"][marker].astype(np.int16), channel[marker])


def test_large_overflow_counts():
    # one record carrying 2**25 - 1 wraps: PicoQuant's layout allows it (64-bit time base)
    w = np.array([(1 << 31) | (63 << 25) | ((1 << 25) - 1), 5], np.uint32)
    time, _, _, ofl = K.decode_t2_words(w, "hydraharp2")
    assert ofl == ((1 << 25) - 1) * 33554432 and time[1] == ofl + 5


def test_reference_decoder_known_words():
    w = np.array([(3 << 25) | 100,            # photon ch 3
                  (1 << 31) | (63 << 25) | 2,  # 2 overflows
                  (1 << 31) | (0 << 25) | 5,   # sync
                  (1 << 31) | (4 << 25) | 6,   # marker 4
                  (1 << 31) | (20 << 25) | 7],  # invalid special
                 np.uint32)
    time, ch, kind, ofl = K.decode_t2_words(w, "hydraharp2")
    assert ofl == 2 * 33554432
    assert time.tolist() == [100, ofl + 2, ofl + 5, ofl + 6, ofl + 7]
    assert ch.tolist() == [3, 0, 0, 4, 20]
    assert kind.tolist() == [0, 1, 3, 2, 4]
    _, _, _, ofl1 = K.decode_t2_words(w[1:2], "hydraharp1")
    assert ofl1 == 33552000
    ph = np.array([(15 << 28) | 0x30, (2 << 28) | 7, (15 << 28) | 0x25], np.uint32)
    time, ch, kind, ofl = K.decode_t2_words(ph, "picoharp")
    assert (time.tolist(), ch.tolist(), kind.tolist()) == (
        [210698240 + 0x30, 210698240 + 7, 210698240 + 0x25], [0, 2, 5], [1, 0, 2])
    with pytest.raises(ValueError, match="layout"):
        K.decode_t2_words(ph, "multiharp9")


@st.composite
def event_streams(draw):
    n = draw(st.integers(0, 300))
    gaps = draw(st.lists(st.sampled_from([0, 1, 7, 10**6, 33554431, 33554432, 10**9, 10**11,
                                          4 * 10**12]), min_size=n, max_size=n))
    t = np.cumsum(np.array(gaps, np.int64)) + draw(st.integers(0, 10**9))
    ch = np.array(draw(st.lists(st.integers(0, 63), min_size=n, max_size=n)), np.int16)
    m = draw(st.integers(0, 5))
    mk_t = np.sort(np.array(draw(st.lists(st.integers(0, 10**12), min_size=m, max_size=m)),
                            np.int64))
    mk = np.array(draw(st.lists(st.integers(1, 15), min_size=m, max_size=m)), np.int16)
    return t, ch, mk_t, mk


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event_streams(), st.integers(1, 64))
def test_ptu_t2_writer_round_trip_via_ptufile(tmp_path, events, split):
    t, ch, mk_t, mk = events
    path = tmp_path / "rt.ptu"
    if mk_t.size:  # markers are merged in time order within their chunk
        chunks = [EventChunk(t, ch, SpecialEvents(marker_t=mk_t, marker_mask=mk))]
    else:
        chunks = [EventChunk(t[a:a + split], ch[a:a + split]) for a in range(0, t.size, split)]
    write_ptu_t2(path, chunks)
    _, ph = _ptufile_photons(path)
    assert np.array_equal(ph["time"].astype(np.int64), t)
    assert np.array_equal(ph["channel"].astype(np.int16), ch)
    back = list(open_ptu(path).chunks(5))
    assert np.array_equal(np.concatenate([c.t for c in back] or [t[:0]]), t)
    got_mk_t = np.concatenate([c.specials.marker_t for c in back] or [t[:0]])
    got_mk = np.concatenate([c.specials.marker_mask for c in back] or [ch[:0]])
    order = np.lexsort((mk, mk_t))
    got_order = np.lexsort((got_mk, got_mk_t))
    assert got_mk_t[got_order].tolist() == mk_t[order].tolist()
    assert got_mk[got_order].tolist() == mk[order].tolist()


def test_writer_rejects_descending_and_wide_channels(tmp_path):
    t = np.array([5 * 10**8, 10], np.int64)
    with pytest.raises(FormatError, match="ascending"):
        write_ptu_t2(tmp_path / "a.ptu", [EventChunk(t, np.zeros(2, np.int16))])
    with pytest.raises(FormatError, match="channel 64"):
        write_ptu_t2(tmp_path / "b.ptu", [EventChunk(t[:1], np.array([64], np.int16))])


def _small_ptu(tmp_path, n=1000):
    t = np.arange(n, dtype=np.int64) * 20_000  # no overflow records: record i = event i
    path = tmp_path / "s.ptu"
    write_ptu_t2(path, [EventChunk(t, (np.arange(n) % 4).astype(np.int16))])
    return path, t


def test_truncated_ptu_warns_and_keeps_data(tmp_path):
    path, t = _small_ptu(tmp_path)
    raw = path.read_bytes()
    cut = tmp_path / "cut.ptu"
    cut.write_bytes(raw[: len(raw) - 4 * 300 - 2])
    with pytest.warns(FormatWarning, match="TTResult_NumberOfRecords") as rec:
        r = open_timetag(cut)
    msg = str(rec[0].message)
    assert "cut.ptu" in msg and "offset" in msg
    got = np.concatenate([c.t for c in r.chunks(100)])
    n_kept = r.records_read
    assert n_kept == r.meta.n_records_declared - 301
    assert np.array_equal(got, t[: got.size]) and got.size > 0


def test_zero_record_count_reads_to_end_of_file(tmp_path):
    path, t = _small_ptu(tmp_path, 50)
    raw = bytearray(path.read_bytes())
    i = raw.find(b"TTResult_NumberOfRecords")
    raw[i + 40:i + 48] = struct.pack("<q", 0)
    path.write_bytes(bytes(raw))
    with pytest.warns(FormatWarning, match="TTResult_NumberOfRecords"):
        r = open_ptu(path)
    assert np.concatenate([c.t for c in r.chunks()]).tolist() == t.tolist()
    _, ph = _ptufile_photons(path)  # ptufile does the same
    assert ph["time"].astype(np.int64).tolist() == t.tolist()


def test_corrupt_ptu_headers(tmp_path):
    path, _ = _small_ptu(tmp_path)
    raw = bytearray(path.read_bytes())
    bad = tmp_path / "bad.ptu"
    bad.write_bytes(b"PQTTTX" + bytes(raw[6:]))
    with pytest.raises(FormatError, match="magic"):
        open_ptu(bad)
    _, offset = read_tags(path)
    bad.write_bytes(bytes(raw[:200]))
    with pytest.raises(FormatError, match="Header_End"):
        open_ptu(bad)
    # unknown record type: patch the value of the TTTRRecType tag
    i = raw.find(b"TTResultFormat_TTTRRecType")
    raw[i + 40:i + 48] = struct.pack("<q", 0x00ABCDEF)
    bad.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="unknown TTTR record type") as exc:
        open_ptu(bad)
    assert exc.value.field == "TTResultFormat_TTTRRecType"
    # unknown tag type
    raw = bytearray(path.read_bytes())
    raw[16 + 36:16 + 40] = struct.pack("<I", 0x77777777)
    bad.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="unknown tag type") as exc:
        open_ptu(bad)
    assert exc.value.offset == 16 and offset > 16


def test_invalid_records_warn_with_offset(tmp_path):
    path, t = _small_ptu(tmp_path, 10)
    raw = bytearray(path.read_bytes())
    _, off = read_tags(path)
    raw[off + 4 * 3: off + 4 * 4] = struct.pack("<I", (1 << 31) | (40 << 25) | 5)
    bad = tmp_path / "inv.ptu"
    bad.write_bytes(bytes(raw))
    with pytest.warns(FormatWarning, match=f"offset {off + 12}"):
        got = np.concatenate([c.t for c in open_ptu(bad).chunks()])
    assert got.tolist() == np.delete(t, 3).tolist()


def test_pooled_chunks_never_overwritten_while_held(tmp_path):
    t = np.cumsum(np.full(5000, 7_000_000, np.int64))
    path = tmp_path / "pool.ptu"
    write_ptu_t2(path, [EventChunk(t, (np.arange(5000) % 3).astype(np.int16))])
    r = open_ptu(path)
    copies = [(c.t.copy(), c.ch.copy()) for c in r.chunks(300)]  # dropped: buffers recycled
    assert len(r._pool._sets) <= 3
    held = list(r.chunks(300))  # all held at once: every chunk needs its own buffers
    view = held[0].t[:10]
    del held[0]
    more = list(r.chunks(300))  # a view alone still pins its buffer
    assert view.tolist() == copies[0][0][:10].tolist()
    for (ct, cc), h in zip(copies[1:], held, strict=True):
        assert np.array_equal(ct, h.t) and np.array_equal(cc, h.ch)
    assert np.array_equal(np.concatenate([c.t for c in more]), t)
