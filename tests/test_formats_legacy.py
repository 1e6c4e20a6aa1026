"""Legacy PicoQuant files (.ht2/.ht3/.t3r): known answers, truncation warnings, corrupt headers.

Known answers: the HydraHarp lists are the decoded output libpicoquant publishes next to the
same sample files (tsbischof/libpicoquant sample_data/hydraharp/*.data: channel, time in ps for
T2; channel, nsync, dtime * resolution in ps for T3), an independent decoder. The TimeHarp values
are computed here by hand from the raw bytes with the documented bit layout.
"""

import math
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from postproc.errors import FormatError, FormatWarning
from postproc.formats import detect_format, open_timetag

DATA = Path("/work/shared/data")
LIBPQ = DATA / "libpicoquant"
pytestmark = pytest.mark.skipif(not LIBPQ.is_dir(), reason="shared sample data not present")

HT2_V10 = [(1, 12588053), (3, 17589298), (3, 22719012), (2, 27822493), (3, 29588759),
           (3, 30200602), (1, 37861187), (3, 40538818), (2, 54413005), (2, 58968577),
           (3, 63685318), (1, 69590520), (2, 74844948), (1, 76455692), (2, 79050194),
           (2, 82243978), (3, 88581665), (0, 96171430), (0, 97061834)]
HT3_V10 = [(0, 5425, 81920), (3, 18404, 69612), (3, 24332, 55816), (3, 119890, 71728),
           (3, 120337, 86164), (0, 130044, 43280), (2, 165687, 66856), (0, 207951, 6880),
           (1, 216750, 20704), (3, 223163, 18696), (3, 262682, 20116), (3, 410252, 81336),
           (0, 414382, 94180), (3, 439372, 89820), (3, 460936, 58692), (3, 488005, 39440),
           (0, 566411, 56548), (2, 602393, 74048), (3, 610782, 43560), (3, 671723, 33900),
           (1, 690876, 89212), (1, 701148, 2352), (0, 751337, 72244), (1, 788128, 49248),
           (1, 788243, 33612), (1, 794385, 89220), (3, 930143, 30720), (1, 932647, 81080),
           (1, 940063, 13448), (1, 974924, 77192), (3, 976480, 47436), (2, 976849, 19196)]
HT3_V20_HEAD = [(1, 113, 210336), (1, 653, 359200), (1, 1376, 466704), (1, 1540, 411424),
                (1, 1800, 493280), (1, 1982, 14224), (0, 2120, 270608), (1, 2133, 491056),
                (3, 2297, 123056), (1, 2917, 256352)]


def _read_all(path, chunk=7, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = open_timetag(path, **kw)
        chunks = list(r.chunks(chunk))  # small chunks: overflow state must carry across them
    return r, chunks, [w for w in caught if issubclass(w.category, FormatWarning)]


def test_ht2_v10_half_ps_unit_and_truncation():
    r, chunks, warned = _read_all(LIBPQ / "hydraharp_v10.ht2")
    assert r.meta.format == "HT2" and r.meta.record_type == "HydraHarpT2"
    assert r.meta.resolution_ps == 0.5
    got = [(int(c), int(t)) for ch in chunks for c, t in zip(ch.ch, ch.t, strict=True)]
    assert got == HT2_V10
    assert len(warned) == 1
    msg = str(warned[0].message)
    assert "hydraharp_v10.ht2" in msg and "offset 900" in msg and "NumRecords" in msg
    assert "52378636" in msg


def test_ht3_v10_matches_independent_decoder():
    r, chunks, warned = _read_all(LIBPQ / "hydraharp_v10.ht3")
    assert r.meta.record_type == "HydraHarpT3" and r.meta.dtime_resolution_ps == 4.0
    got = [(int(c), int(n), int(d) * 4) for ch in chunks
           for c, n, d in zip(ch.ch, ch.nsync, ch.dtime, strict=True)]
    assert got == HT3_V10
    assert any("NumRecords" in str(w.message) for w in warned)


def test_ht3_v20_matches_independent_decoder_and_time_formula():
    r, chunks, warned = _read_all(LIBPQ / "hydraharp_v20.ht3", chunk=211)
    assert not warned  # complete file
    got = [(int(a), int(n), int(d) * 16) for c in chunks
           for a, n, d in zip(c.ch, c.nsync, c.dtime, strict=True)]
    assert got[: len(HT3_V20_HEAD)] == HT3_V20_HEAD
    all_n = np.concatenate([x.nsync for x in chunks])
    all_d = np.concatenate([x.dtime for x in chunks])
    all_t = np.concatenate([x.t for x in chunks])
    period = r.meta.sync_period_ps
    expect = np.array([math.floor(int(n) * period + 0.5) + int(d) * 16
                       for n, d in zip(all_n, all_d, strict=True)])
    assert np.array_equal(all_t, expect)
    assert sum(len(x) for x in chunks) == 44141


def test_ht2_v20_sync_records_only():
    _, chunks, _ = _read_all(LIBPQ / "hydraharp_v20.ht2")
    assert sum(len(c) for c in chunks) == 0
    sync = np.concatenate([c.specials.sync_t for c in chunks])
    assert sync.size == 25 and (np.diff(sync) >= 0).all()


def _t3r_by_hand(path: Path, data_offset: int, n: int):
    raw = path.read_bytes()[data_offset: data_offset + 4 * n]
    out, ofl = [], 0
    for (w,) in struct.iter_unpack("<I", raw):
        tag, data, route, valid = w & 0xFFFF, (w >> 16) & 0xFFF, (w >> 28) & 3, (w >> 30) & 1
        if valid:
            out.append((route, ofl + tag, data))
        elif data & 0x800:
            ofl += 65536
    return out


@pytest.mark.parametrize("path, offset", [(LIBPQ / "timeharp_v50.t3r", 592),
                                          (DATA / "PicoQuant-Reader/RotatingPolarizer.t3r", 640)])
def test_t3r_first_events_by_hand(path, offset):
    r, chunks, _ = _read_all(path, chunk=997)
    assert r.meta.format == "T3R" and r.data_offset == offset
    expect = _t3r_by_hand(path, offset, 3000)
    got = [(int(c), int(n), int(d)) for ch in chunks
           for c, n, d in zip(ch.ch, ch.nsync, ch.dtime, strict=True)]
    assert got[: len(expect)] == expect
    assert r.meta.sync_period_ps == 100000.0  # TTTRGlobClock 100 ns


def test_t3r_v50_marker_and_trailing_byte():
    r, chunks, warned = _read_all(LIBPQ / "timeharp_v50.t3r")
    assert sum(c.specials.marker_t.size for c in chunks) == 1
    assert chunks[0].specials.marker_mask.tolist() == [7]
    assert r.records_read == 86997
    assert any("offset 348580" in str(w.message) for w in warned)


@pytest.mark.filterwarnings("ignore::postproc.errors.FormatWarning")
def test_detection_ignores_extension(tmp_path):
    for name, fmt in [("hydraharp_v20.ht3", "HydraHarp"), ("timeharp_v50.t3r", "TimeHarp")]:
        dst = tmp_path / (name + ".dat")
        shutil.copy(LIBPQ / name, dst)
        assert detect_format(dst) == fmt
        assert open_timetag(dst).meta.format in ("HT3", "T3R")


def test_corrupt_header_names_field(tmp_path):
    raw = bytearray((LIBPQ / "hydraharp_v20.ht3").read_bytes())
    raw[0x298:0x29C] = struct.pack("<i", 100000)  # InputChannelsPresent
    bad = tmp_path / "bad.ht3"
    bad.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="InputChannelsPresent") as exc:
        open_timetag(bad)
    assert exc.value.offset == 0x298 and "bad.ht3" in str(exc.value)
    raw = bytearray((LIBPQ / "hydraharp_v20.ht3").read_bytes())
    raw[16:19] = b"9.9"
    bad.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="FormatVersion"):
        open_timetag(bad)


def test_file_cut_inside_header(tmp_path):
    bad = tmp_path / "cut.ht3"
    bad.write_bytes((LIBPQ / "hydraharp_v20.ht3").read_bytes()[:300])
    with pytest.raises(FormatError, match="ends inside the header"):
        open_timetag(bad)


def _picoharp_file(path: Path, mode: int, words: list[int], declared: int) -> None:
    """A PicoHarp 300 format 2.0 file built field by field from the documented layout."""
    head = bytearray(0x2D8)
    head[0:12] = b"PicoHarp 300"
    head[16:19] = b"2.0"
    struct.pack_into("<i", head, 0x14C, 32)          # BitsPerRecord
    struct.pack_into("<i", head, 0x154, 1)           # NumberOfBoards
    struct.pack_into("<i", head, 0x15C, mode)        # MeasurementMode
    struct.pack_into("<f", head, 0x218 + 48, 0.004)  # board Resolution, ns
    struct.pack_into("<i", head, 0x2B4 + 12, 10_000_000)  # CntRate0 (sync rate, Hz)
    struct.pack_into("<i", head, 0x2B4 + 28, declared)    # NumRecords
    path.write_bytes(bytes(head) + struct.pack(f"<{len(words)}I", *words))


def test_pt2_and_pt3_by_hand(tmp_path):
    pt2 = tmp_path / "a.pt2"
    # photon ch1 @ 1000, overflow, marker 2 @ 0x22, photon ch0 @ 5, invalid channel 9
    _picoharp_file(pt2, 2, [(1 << 28) | 1000, 15 << 28, (15 << 28) | 0x22, 5, 9 << 28], 6)
    r, chunks, warned = _read_all(pt2, chunk=2)
    assert r.meta.format == "PT2" and r.meta.resolution_ps == 4.0
    t = np.concatenate([c.t for c in chunks]).tolist()
    assert t == [1000 * 4, (210698240 + 5) * 4]
    assert np.concatenate([c.specials.marker_t for c in chunks]).tolist() == [
        (210698240 + 0x22) * 4]
    assert any("NumRecords" in str(w.message) for w in warned)
    assert any("offset " + str(0x2D8 + 16) in str(w.message) for w in warned)
    pt3 = tmp_path / "a.pt3"
    # ch field 2 (-> 1), dtime 100, nsync 7; overflow; ch field 1 (-> 0), dtime 3, nsync 2
    _picoharp_file(pt3, 3, [(2 << 28) | (100 << 16) | 7, 15 << 28, (1 << 28) | (3 << 16) | 2], 3)
    r, chunks, warned = _read_all(pt3)
    assert not warned and r.meta.format == "PT3"
    c = chunks[0]
    assert c.ch.tolist() == [1, 0] and c.nsync.tolist() == [7, 65538]
    assert c.dtime.tolist() == [100, 3]
    res = float(np.float32(0.004)) * 1e3
    assert c.t.tolist() == [7 * 100_000 + math.floor(100 * res + 0.5),
                            65538 * 100_000 + math.floor(3 * res + 0.5)]
