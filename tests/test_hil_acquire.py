"""``qkdpp acquire`` end to end: virtual device fed from a recording -> new recording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hil.tagfile import events_to_words
from postproc.cli import main
from postproc.events import EventChunk
from postproc.recording import open_recording, write_recording


def _events(n: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (10**6 + np.cumsum(rng.integers(1, 40_000, n))).astype(np.int64), \
        rng.integers(0, 4, n).astype(np.int16)


def test_acquire_virtual_recording_round_trip(tmp_path, capsys):
    t, ch = _events(60_000)
    chunks = [EventChunk(t[:30_000], ch[:30_000]), EventChunk(t[30_000:], ch[30_000:])]
    src = write_recording(tmp_path / "in", {"note": "fed to the firmware"}, chunks, [])
    out = tmp_path / "out"
    rc = main(["acquire", "--virtual", str(src), "--out", str(out), "--events", str(t.shape[0]),
               "--idle-timeout", "20", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["events"] == t.shape[0] and summary["link"]["bad_frames"] == 0
    assert summary["counts"] == {str(c): int(n) for c, n in enumerate(np.bincount(ch))}
    rec = open_recording(out)
    got = list(rec.iter_bob())
    assert np.array_equal(np.concatenate([c.t for c in got]), t)
    assert np.array_equal(np.concatenate([c.ch for c in got]), ch)
    assert rec.meta["acquire"]["device_status"]["sent_events"] == t.shape[0]


def test_acquire_dma_stream_file(tmp_path, capsys):
    t, ch = _events(10_000, seed=12)
    dev = tmp_path / "xdma0_c2h_0"
    dev.write_bytes(events_to_words(t, ch).tobytes())
    out = tmp_path / "rec"
    assert main(["acquire", "--device", f"dma:{dev}", "--out", str(out), "--seconds", "5"]) == 0
    assert "10,000 events" in capsys.readouterr().out
    assert np.array_equal(np.concatenate([c.t for c in open_recording(out).iter_bob()]), t)


def test_acquire_argument_errors(capsys):
    assert main(["acquire", "--seconds", "1"]) == 2
    assert "exactly one of --device" in capsys.readouterr().err
    assert main(["acquire", "--device", "loop://", "--gate", "1,2", "--seconds", "1"]) == 2
    assert "PERIOD,OFFSET,WIDTH" in capsys.readouterr().err
    assert main(["acquire", "--device", "/dev/nonexistent_tty", "--seconds", "1"]) == 2
    assert "/dev/nonexistent_tty: cannot open" in capsys.readouterr().err


@pytest.mark.parametrize("text,expected", [("2=off,3=9", {2: None, 3: 9}), ("", {})])
def test_channel_map_parsing(text, expected):
    from hil.acquire import parse_channel_map

    assert parse_channel_map(text) == expected


REAL_T2 = "/work/shared/data/picoquant-sample-data/picoharp_v30_t2.ptu"


@pytest.mark.skipif(not __import__("os").path.exists(REAL_T2), reason="shared sample data absent")
def test_acquire_real_picoharp_file_through_firmware(tmp_path, capsys):
    from postproc.formats import open_timetag

    reader = open_timetag(REAL_T2)
    chunks = list(reader.chunks())
    reader.close()
    t = np.concatenate([c.t for c in chunks])
    ch = np.concatenate([c.ch for c in chunks])
    out = tmp_path / "rec"
    assert main(["acquire", "--virtual", REAL_T2, "--out", str(out), "--events",
                 str(t.shape[0]), "--idle-timeout", "20", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["link"]["bad_frames"] == 0 and summary["link"]["lost_events"] == 0
    got = list(open_recording(out).iter_bob())
    assert np.array_equal(np.concatenate([c.t for c in got]), t)
    assert np.array_equal(np.concatenate([c.ch for c in got]), ch)
