"""Links end to end: the firmware's host build on a pty, fault injection, reconnects, DMA reader."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from hil.codec import encode_event_stream
from hil.dma import DmaStreamReader
from hil.faults import FaultLog, FaultyPort
from hil.link import LinkError, SerialLink, concat_chunks, serial_opener
from hil.tagfile import iter_tagfile, write_tagfile
from hil.virtual import VirtualTagger
from postproc.errors import FormatError, ProtocolError
from postproc.events import EventChunk


def make_events(n: int, seed: int = 1, max_ch: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dt = rng.integers(1, 60_000, n)
    dt[rng.random(n) < 0.001] += 10**9  # long pauses force frames to close early
    t = 10**9 + np.cumsum(dt)
    return t.astype(np.int64), rng.integers(0, max_ch, n).astype(np.int16)


@pytest.fixture(scope="module")
def tagfile(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    t, ch = make_events(150_000)
    path = tmp_path_factory.mktemp("hil") / "events.qtag"
    write_tagfile(path, [EventChunk(t[:70_000], ch[:70_000]), EventChunk(t[70_000:], ch[70_000:])])
    return path, t, ch


def test_tagfile_round_trip(tagfile, tmp_path):
    path, t, ch = tagfile
    got_t, got_ch = concat_chunks(list(iter_tagfile(path, chunk_records=40_000)))
    assert np.array_equal(got_t, t) and np.array_equal(got_ch, ch)
    bad = tmp_path / "bad.qtag"
    bad.write_bytes(b"NOTATAG!" + bytes(8))
    with pytest.raises(FormatError, match="magic"):
        list(iter_tagfile(bad))


def test_end_to_end_through_virtual_device(tagfile):
    path, t, ch = tagfile
    with VirtualTagger(path, max_tags=500) as vt, SerialLink(serial_opener(vt.device)) as link:
        assert link.ping(b"hello") > 0
        before = link.status()
        assert before.state == 0 and before.fw_version == (1, 0, 0)
        link.start()
        chunks = list(link.chunks(n_events=t.shape[0], idle_timeout=20))
        link.stop()
        status = link.status()
    got_t, got_ch = concat_chunks(chunks)
    assert np.array_equal(got_t, t) and np.array_equal(got_ch, ch)
    s = link.stats
    assert s.bad_frames == s.missing_frames == s.lost_events == s.fifo_dropped == 0
    assert status.sent_events == t.shape[0] and status.dropped_events == 0
    assert list(status.counts[:8]) == np.bincount(ch, minlength=8).tolist()
    assert status.frames_sent + 1 == s.frames_ok  # all arrived; the status frame is not counted yet
    assert s.skipped_bytes == 0


def test_gate_and_channel_map_applied_by_firmware(tagfile):
    path, t, ch = tagfile
    period, offset, width = 12_500, 1_000, 3_000
    keep = (((t - offset) % period) < width) & (ch != 2)
    out_ch = np.where(ch == 3, 9, ch)
    with VirtualTagger(path) as vt, SerialLink(serial_opener(vt.device)) as link:
        link.set_gate(period, offset, width)
        link.set_channel_map({2: None, 3: 9})
        with pytest.raises(ProtocolError, match="refused"):
            link.set_gate(100, 0, 200)  # width longer than the period
        link.start()
        chunks = list(link.chunks(n_events=int(keep.sum()), idle_timeout=20))
        link.stop()
        status = link.status()
    got_t, got_ch = concat_chunks(chunks)
    assert np.array_equal(got_t, t[keep]) and np.array_equal(got_ch, out_ch[keep])
    assert status.gated_events == int((~keep).sum())


def _faulty_opener(device: str, log: FaultLog, rng: np.random.Generator, p: float,
                   disconnect_after: list[int]):
    base = serial_opener(device)

    def open_port():
        after = disconnect_after.pop(0) if disconnect_after else None
        return FaultyPort(base(), rng, log, p=p, disconnect_after=after)

    return open_port


def test_fault_injection_no_corrupted_event_delivered(tagfile):
    path, t, ch = tagfile
    log = FaultLog()
    rng = np.random.default_rng(7)
    with VirtualTagger(path, max_tags=200) as vt:
        opener = _faulty_opener(vt.device, log, rng, p=0.15, disconnect_after=[250_000, 200_000])
        with SerialLink(opener, name=vt.device) as link:
            link.start()
            # ends when every event is delivered or counted lost, or, if the last frames were
            # damaged (no later frame reveals the loss), when the stream goes quiet
            chunks = list(link.chunks(n_events=t.shape[0], idle_timeout=8))
            chunks += list(link.finish())
            status = link.status()
    got_t, got_ch = concat_chunks(chunks)
    idx = np.concatenate([np.arange(a, b) for a, b in log.passed_ranges])
    assert np.array_equal(got_t, t[idx]) and np.array_equal(got_ch, ch[idx])  # all good, only good
    s = link.stats
    assert log.damaged_frames > 20 and set(log.by_fault) == {"bitflip", "drop_byte", "dup_byte",
                                                             "truncate", "dup_frame"}
    # a damaged frame counts once as bad (twice if a flipped bit planted a delimiter), except
    # when it is the first frame after a reconnect: the decoder then skips it as a partial frame
    assert log.damaged_frames - log.disconnects <= s.bad_frames <= 2 * log.damaged_frames
    assert s.duplicate_frames == log.duplicated_frames
    assert s.reconnects == log.disconnects == 2
    assert s.missing_frames >= log.damaged_frames
    assert status.sent_events == t.shape[0]
    assert s.events == got_t.shape[0] and s.events + s.lost_events == t.shape[0]
    specials_missed = sum(int(c.specials.gap_missed.sum()) for c in chunks)
    assert specials_missed <= s.lost_events  # losses at the very end have no gap record


def test_device_vanishes_and_returns(tagfile):
    path, t, _ = tagfile
    with VirtualTagger(path) as vt:
        base = serial_opener(vt.device)
        attempts = {"n": 0}
        log = FaultLog()

        def flaky():
            attempts["n"] += 1
            if 2 <= attempts["n"] <= 4:  # unplugged for three attempts
                raise LinkError(f"{vt.device}: cannot open: no such device")
            return FaultyPort(base(), np.random.default_rng(0), log, p=0.0,
                              disconnect_after=300_000 if attempts["n"] == 1 else None)

        with SerialLink(flaky, name=vt.device) as link:
            link.start()
            chunks = list(link.chunks(n_events=t.shape[0], idle_timeout=20))
    got_t, _ = concat_chunks(chunks)
    idx = np.concatenate([np.arange(a, b) for a, b in log.passed_ranges])
    assert np.array_equal(got_t, t[idx]) and attempts["n"] == 5
    assert link.stats.reconnects == 1 and link.stats.lost_events == t.shape[0] - got_t.shape[0]


def test_reconnect_gives_up_with_device_name():
    def never():
        raise LinkError("/dev/ttyUSB9: cannot open: no such device")

    port = serial.serial_for_url("loop://", timeout=0.01)
    opens = iter([port])

    def opener():
        return next(opens, None) or never()

    link = SerialLink(opener, name="/dev/ttyUSB9", reconnect_timeout=0.2)
    port.close()  # the device disappears
    with pytest.raises(LinkError, match=r"/dev/ttyUSB9: lost .* reconnect failed"):
        link.poll(0.05)


def test_firmware_restart_detected(tmp_path):
    t, ch = make_events(20_000, seed=4)
    path = tmp_path / "e.qtag"
    write_tagfile(path, [EventChunk(t, ch)])
    link_path = tmp_path / "ttyV0"
    vt = VirtualTagger(path, link=link_path)
    try:
        with SerialLink(serial_opener(str(link_path)), name=str(link_path)) as link:
            link.start()
            first = list(link.chunks(n_events=t.shape[0], idle_timeout=20))
            vt.close()  # the device reboots: the pty goes away, a new one appears
            vt = VirtualTagger(path, link=link_path)
            link.poll(0.1)  # notices the dead port and reconnects
            link.start()
            second = list(link.chunks(n_events=t.shape[0], idle_timeout=20))
    finally:
        vt.close()
    assert np.array_equal(concat_chunks(first)[0], t)
    assert np.array_equal(concat_chunks(second)[0], t)
    assert link.stats.device_restarts == 1 and link.stats.lost_events == 0


def test_fifo_overflow_counted(tmp_path):
    t, ch = make_events(200_000, seed=5)
    path = tmp_path / "e.qtag"
    write_tagfile(path, [EventChunk(t, ch)])
    with VirtualTagger(path, rate=4e6, fifo=2048) as vt, \
            SerialLink(serial_opener(vt.device)) as link:
        link.start()
        time.sleep(0.3)  # the host is busy: the pty fills, the FIFO overflows
        chunks = list(link.chunks(n_events=t.shape[0], idle_timeout=8))
        status = link.status()
    got_t, got_ch = concat_chunks(chunks)
    pos = np.searchsorted(t, got_t)
    assert np.array_equal(t[pos], got_t) and np.array_equal(ch[pos], got_ch)  # a subsequence
    assert status.dropped_events > 0 and status.fifo_high_water == 2048
    assert link.stats.fifo_dropped == status.dropped_events
    assert got_t.shape[0] + status.dropped_events == t.shape[0]


def test_loop_and_socket_urls():
    t, ch = make_events(5_000, seed=2)
    wire, _ = encode_event_stream(t, ch)
    # loop:// echoes what is written; its queue holds 4096 bytes, so write a short stream
    small, _ = encode_event_stream(t[:500], ch[:500])
    with SerialLink(serial_opener("loop://")) as link:
        link._port.write(small)
        got_t, got_ch = concat_chunks(list(link.chunks(n_events=500, idle_timeout=8)))
    assert np.array_equal(got_t, t[:500]) and np.array_equal(got_ch, ch[:500])

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.recv(1)  # pyserial discards input when it opens: send only once asked
            for i in range(0, len(wire), 777):
                conn.sendall(wire[i : i + 777])
            while conn.recv(4096):  # stay connected until the client hangs up
                pass

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    with SerialLink(serial_opener(f"socket://127.0.0.1:{port}")) as link:
        link._port.write(b"\x00")  # a lone delimiter is idle line for the device
        got_t, _ = concat_chunks(list(link.chunks(n_events=t.shape[0], idle_timeout=8)))
    th.join()
    server.close()
    assert np.array_equal(got_t, t)


def test_dma_reader_fifo_and_file(tmp_path):
    t, ch = make_events(30_000, seed=3, max_ch=32)
    words = (t.astype(np.uint64) | (ch.astype(np.uint64) << np.uint64(59))).astype("<u8").tobytes()
    fifo = tmp_path / "xdma0_c2h_0"
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "wb", buffering=0) as f:
            for i in range(0, len(words), 1001):  # short writes split records
                f.write(words[i : i + 1001])

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    with DmaStreamReader(fifo) as r:
        got_t, got_ch = concat_chunks(list(r.chunks(chunk_records=4096)))
    th.join()
    assert np.array_equal(got_t, t) and np.array_equal(got_ch, ch)
    plain = tmp_path / "dump.bin"
    plain.write_bytes(words[:-3])
    with DmaStreamReader(plain) as r, pytest.raises(FormatError, match="inside a record"):
        list(r.chunks())


def test_virtual_tagger_loop_replay(tmp_path):
    t, ch = make_events(1_000, seed=8)
    path = tmp_path / "short.qtag"
    write_tagfile(path, [EventChunk(t, ch)])
    with VirtualTagger(path, loop=True) as vt, SerialLink(serial_opener(vt.device)) as link:
        link.start()
        got = list(link.chunks(n_events=3_000, idle_timeout=20))
        link.stop()
    got_t, got_ch = concat_chunks(got)
    assert got_t.shape[0] >= 3_000 and np.all(np.diff(got_t) > 0)
    # each replay starts 1 us after the previous one ended
    assert np.array_equal(got_t[1_000:2_000], t + int(t[-1]) + 10**6)
    assert np.array_equal(got_ch[:3_000], np.tile(ch, 3))
