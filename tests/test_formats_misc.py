"""quTAG, Swabian raw tags and text: layouts by hand, wraps, unsorted times, gaps, errors."""

import json
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postproc.cli import main
from postproc.errors import FormatError, FormatWarning
from postproc.events import EventChunk
from postproc.formats import detect_format, open_timetag
from postproc.formats.convert import convert
from postproc.formats.qutag import WRAP37
from postproc.formats.swabian import TAG_DTYPE, write_swabian
from postproc.formats.text import write_text


def _all(reader, chunk=3):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chunks = list(reader.chunks(chunk))
    return chunks, [w for w in caught if issubclass(w.category, FormatWarning)]


def test_qutag_binary_layout_markers_and_backwards(tmp_path):
    recs = [(1000, 0), (900, 2), (5000, 104), (7000, 1)]  # goes back once; 104 = 1 ms tick
    body = b"".join(struct.pack("<qH", t, c) for t, c in recs)
    path = tmp_path / "run.bin"
    path.write_bytes(b"Q" * 40 + body)
    assert detect_format(path) == "quTAG-bin"
    r = open_timetag(path, tick_ps=2)
    chunks, warned = _all(r)
    assert np.concatenate([c.t for c in chunks]).tolist() == [2000, 1800, 14000]
    assert np.concatenate([c.ch for c in chunks]).tolist() == [0, 2, 1]
    assert np.concatenate([c.specials.marker_t for c in chunks]).tolist() == [10000]
    assert np.concatenate([c.specials.marker_mask for c in chunks]).tolist() == [104]
    assert len(warned) == 1 and "offset 50" in str(warned[0].message)
    assert r.n_backward == 1


def test_qutag_compressed_unwraps_37_bits(tmp_path):
    vals = [(WRAP37 - 10, 1), (5, 2), (WRAP37 - 3, 3), (7, 0)]  # two wraps
    body = b"".join(((c << 37) | t).to_bytes(5, "little") for t, c in vals)
    path = tmp_path / "c.qtc"
    path.write_bytes(bytes(40) + body)
    r = open_timetag(path, format="quTAG-compressed")
    chunks, warned = _all(r, chunk=1)
    t = np.concatenate([c.t for c in chunks]).tolist()
    assert t == [WRAP37 - 10, WRAP37 + 5, 2 * WRAP37 - 3, 2 * WRAP37 + 7]
    assert np.concatenate([c.ch for c in chunks]).tolist() == [1, 2, 3, 0]
    assert not warned


def test_qutag_truncated_record_warns(tmp_path):
    path = tmp_path / "t.bin"
    path.write_bytes(bytes(40) + struct.pack("<qH", 5, 1) * 3 + b"\x01\x02\x03")
    with pytest.warns(FormatWarning, match="offset 70"):
        r = open_timetag(path, format="quTAG-bin")
    chunks, _ = _all(r)
    assert sum(len(c) for c in chunks) == 3


def _tags(rows):
    a = np.zeros(len(rows), TAG_DTYPE)
    for i, (ty, missed, ch, t) in enumerate(rows):
        a[i] = (ty, 0, missed, ch, t)
    return a


def test_swabian_overflow_gaps_and_missed_events(tmp_path):
    rows = [(0, 0, 1, 100), (2, 0, 0, 200), (3, 0, 0, 900), (4, 7, 1, 900), (4, 5, 2, 900),
            (0, 0, 2, 1000), (1, 0, 0, 1100), (0, 0, 1, 1200), (4, 3, 1, 1300),
            (0, 0, 3, 1150)]  # the last photon goes back in time
    path = tmp_path / "s.ttraw"
    write_swabian(path, _tags(rows))
    assert detect_format(path) == "swabian-raw"
    r = open_timetag(path)
    chunks, warned = _all(r, chunk=4)  # the MissedEvents after the chunk edge still count
    assert np.concatenate([c.t for c in chunks]).tolist() == [100, 1000, 1200, 1150]
    sp = [c.specials for c in chunks]
    gaps = list(zip(np.concatenate([s.gap_start for s in sp]).tolist(),
                    np.concatenate([s.gap_stop for s in sp]).tolist(),
                    np.concatenate([s.gap_missed for s in sp]).tolist(), strict=True))
    assert gaps == [(200, 900, 7), (900, 900, 5), (1100, 1100, -1), (1300, 1300, 3)]
    assert sum(m for _, _, m in gaps if m > 0) == 15  # every missed event is reported
    assert any("Error tag" in str(w.message) and "offset 96" in str(w.message) for w in warned)
    assert any("earlier" in str(w.message) and "offset 144" in str(w.message) for w in warned)
    assert r.n_backward == 1 and r.n_errors == 1


def test_swabian_stream_ending_inside_an_overflow(tmp_path):
    path = tmp_path / "o.ttraw"
    write_swabian(path, _tags([(0, 0, 1, 100), (2, 0, 0, 200), (0, 0, 1, 300)]))
    chunks, warned = _all(open_timetag(path), chunk=2)
    sp = chunks[-1].specials
    assert (sp.gap_start.tolist(), sp.gap_stop.tolist(), sp.gap_missed.tolist()) == (
        [200], [300], [-1])
    assert any("ends inside an overflow" in str(w.message) for w in warned)


def test_text_declared_tick_and_errors(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("# qkdpp-text v1\n# tick_ps: 0.5\n1 10\n\n2 7\n3 30\n")
    assert detect_format(p) == "text"
    r = open_timetag(p)
    chunks, warned = _all(r, chunk=2)
    assert np.concatenate([c.t for c in chunks]).tolist() == [5, 3, 15]
    assert len(warned) == 1
    p.write_text("1 10\n")
    with pytest.raises(FormatError, match="tick_ps"):
        open_timetag(p, format="text")
    assert next(iter(open_timetag(p, format="text", tick_ps=4).chunks())).t.tolist() == [40]
    p.write_text("# tick_ps: 1\n1 10\n2 x\n")
    with pytest.raises(FormatError, match="line 3") as exc:
        list(open_timetag(p, format="text").chunks())
    assert exc.value.offset == len("# tick_ps: 1\n1 10\n")


def test_unknown_format_is_an_error(tmp_path):
    p = tmp_path / "x.dat"
    p.write_bytes(b"\xff" * 37)
    with pytest.raises(FormatError, match="unrecognised"):
        open_timetag(p)


@st.composite
def streams(draw):
    n = draw(st.integers(1, 200))
    t = np.cumsum(np.array(draw(st.lists(st.integers(0, 5 * 10**9), min_size=n, max_size=n)),
                           np.int64))
    ch = np.array(draw(st.lists(st.integers(0, 15), min_size=n, max_size=n)), np.int16)
    return t, ch


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(streams(), st.sampled_from(["ptu", "text", "qutag-bin"]))
def test_convert_round_trips(tmp_path, stream, fmt):
    t, ch = stream
    src = tmp_path / "src.txt"
    write_text(src, [EventChunk(t, ch)])
    dst = tmp_path / {"ptu": "o.ptu", "text": "o.txt", "qutag-bin": "o.bin"}[fmt]
    out = convert(src, dst, chunk_records=17)
    assert out["written"] >= len(t) and out["output_format"] == fmt
    back = list(open_timetag(dst).chunks(13))
    assert np.concatenate([c.t for c in back]).tolist() == t.tolist()
    assert np.concatenate([c.ch for c in back]).tolist() == ch.tolist()
    again = tmp_path / "again.txt"
    convert(dst, again)
    assert again.read_text().splitlines()[3:] == src.read_text().splitlines()[3:]


def test_cli_info_json_and_convert(tmp_path, capsys):
    t = np.array([10, 20, 30, 4 * 10**10, 4 * 10**10 + 5], np.int64)
    ch = np.array([0, 1, 1, 2, 0], np.int16)
    src = tmp_path / "e.txt"
    write_text(src, [EventChunk(t, ch)])
    assert main(["convert", str(src), str(tmp_path / "e.ptu")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "e.ptu"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "PTU" and info["record_type"] == "HydraHarp2T2"
    assert info["events_per_channel"] == {"0": 2, "1": 2, "2": 1}
    assert info["first_times_ps"] == t.tolist()
    # 4e10 ps = 1192 wraps of 2**25 ps, written as ceil(1192 / 127) = 10 overflow records
    assert info["n_overflows"] == 10 and info["n_markers"] == 0
    assert info["duration_ps"] == int(t[-1] - t[0])
    assert info["n_records"] == 15
    assert main(["info", str(tmp_path / "e.ptu")]) == 0
    assert "HydraHarp2T2" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "nope.ptu")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_convert_to_and_from_qkdpp_recording(tmp_path):
    src = Path("/work/shared/data/picoquant-sample-data/picoharp_v30_t2.ptu")
    if not src.is_file():
        pytest.skip("shared sample data not present")
    rec = tmp_path / "rec"
    out = convert(src, rec, chunk_records=100_000)
    assert out["output_format"] == "qkdpp" and detect_format(rec) == "qkdpp"
    a = list(open_timetag(src).chunks())
    b = list(open_timetag(rec).chunks(300_000))
    assert np.array_equal(np.concatenate([c.t for c in a]), np.concatenate([c.t for c in b]))
    assert np.array_equal(np.concatenate([c.ch for c in a]), np.concatenate([c.ch for c in b]))
    assert sum(c.specials.n_overflows for c in b) == sum(c.specials.n_overflows for c in a)
    back = tmp_path / "back.ptu"
    convert(rec, back)
    c = list(open_timetag(back).chunks())
    assert np.array_equal(np.concatenate([x.t for x in c]), np.concatenate([x.t for x in a]))


def test_progress_counts_records(tmp_path):
    from postproc.formats.summary import summarize

    t = np.arange(50, dtype=np.int64) * 10**9  # overflow records between the photons
    src = tmp_path / "p.ptu"
    convert_src = tmp_path / "p.txt"
    write_text(convert_src, [EventChunk(t, np.zeros(50, np.int16))])
    steps: list[int] = []
    convert(convert_src, src, chunk_records=7, advance=steps.append)
    assert sum(steps) == 50
    steps.clear()
    s = summarize(open_timetag(src), chunk_records=9, advance=steps.append)
    assert sum(steps) == s["n_records"] > 50 and s["n_events"] == 50
