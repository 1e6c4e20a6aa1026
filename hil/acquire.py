"""``qkdpp acquire``: read events from a hardware link, show live counts, record them.

Devices: a serial port or pyserial URL (the acquisition controller's framed protocol), an
XDMA-style DMA stream (``/dev/xdma*_c2h_*`` or ``dma:PATH``: raw 64-bit tag words), or
``--virtual SOURCE`` to start the firmware's host build on a pty, fed from a tag file or a qkdpp
recording, and acquire from it exactly as from hardware.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import numpy as np

from hil.dma import DmaStreamReader
from hil.link import SerialLink, serial_opener
from hil.protocol import N_CHANNELS, PROTOCOL_VERSION
from hil.tagfile import TAGFILE_MAGIC, write_tagfile
from hil.virtual import VirtualTagger
from postproc.errors import ConfigError
from postproc.events import EventChunk
from postproc.progress import progress

DMA_PATTERN = re.compile(r"(^dma:)|(/dev/xdma\d+_c2h_\d+$)")


def parse_channel_map(text: str) -> dict[int, int | None]:
    """``"2=off,3=9"`` -> {2: None, 3: 9}."""
    out: dict[int, int | None] = {}
    for item in filter(None, text.split(",")):
        try:
            k, v = item.split("=")
            out[int(k)] = None if v.strip().lower() in ("off", "none", "-") else int(v)
        except ValueError as exc:
            raise ConfigError(f"--channel-map: {item!r} is not IN=OUT or IN=off") from exc
    return out


def parse_gate(text: str) -> tuple[int, int, int]:
    """``"PERIOD,OFFSET,WIDTH"`` in ps."""
    try:
        period, offset, width = (int(float(x)) for x in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"--gate: {text!r} is not PERIOD,OFFSET,WIDTH in ps") from exc
    return period, offset, width


def virtual_source_to_tagfile(source: Path, workdir: Path) -> Path:
    """A tag file for the virtual tagger: the file itself, a recording's Bob events, or the
    photon events of any time-tag file ``postproc.formats`` reads (PTU, HT2, quTAG, ...).

    Only detection events travel as tag words; markers and sync records are not replayed.
    """
    if not source.exists():
        raise ConfigError(f"--virtual {source}: no such file or directory")
    if source.is_file():
        with open(source, "rb") as f:
            if f.read(len(TAGFILE_MAGIC)) == TAGFILE_MAGIC:
                return source
        from postproc.formats import open_timetag

        reader = open_timetag(source)
        try:
            chunks = reader.chunks()
            out = workdir / "virtual.qtag"
            write_tagfile(out, chunks)
        finally:
            reader.close()
        return out
    from postproc.recording import open_recording

    out = workdir / "virtual.qtag"
    write_tagfile(out, open_recording(source).iter_bob())
    return out


class CountBoard:
    """Running per-channel counts for the live display and the summary."""

    def __init__(self) -> None:
        self.counts = np.zeros(N_CHANNELS, dtype=np.int64)
        self.events = 0
        self.t0 = time.monotonic()

    def add(self, chunk: EventChunk) -> None:
        if len(chunk):
            self.counts += np.bincount(chunk.ch.astype(np.int64), minlength=N_CHANNELS)[
                :N_CHANNELS]
            self.events += len(chunk)

    def line(self) -> str:
        dt = max(time.monotonic() - self.t0, 1e-9)
        used = np.flatnonzero(self.counts)
        per = " ".join(f"ch{c}={self.counts[c] / dt:,.0f}/s" for c in used)
        return f"{self.events:,} events ({self.events / dt:,.0f}/s) {per}"


def _serial_chunks(link: SerialLink, args: argparse.Namespace) -> Iterator[EventChunk]:
    if args.gate:
        link.set_gate(*parse_gate(args.gate))
    if args.channel_map:
        link.set_channel_map(parse_channel_map(args.channel_map))
    link.start()
    try:
        yield from link.chunks(seconds=args.seconds, n_events=args.events,
                               idle_timeout=args.idle_timeout)
    except GeneratorExit:  # the caller has enough events: stop without draining
        link.stop()
        raise
    yield from link.finish()


def run(args: argparse.Namespace) -> int:
    if (args.device is None) == (args.virtual is None):
        raise ConfigError("give exactly one of --device DEV and --virtual SOURCE")
    if args.seconds is None and args.events is None and args.idle_timeout is None:
        raise ConfigError("give --seconds, --events or --idle-timeout so acquisition ends")
    board = CountBoard()
    summary: dict = {}
    with ExitStack() as stack:
        device = args.device
        if args.virtual is not None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qkdpp-vt-")))
            tags = virtual_source_to_tagfile(Path(args.virtual), work)
            vt = stack.enter_context(VirtualTagger(tags, rate=args.virtual_rate))
            device = vt.device
        link = None
        if DMA_PATTERN.search(device):
            reader = stack.enter_context(DmaStreamReader(device.removeprefix("dma:")))
            chunks = reader.chunks(chunk_records=1 << 16, seconds=args.seconds)
            kind = "dma"
        else:
            link = stack.enter_context(SerialLink(
                serial_opener(device, baudrate=args.baud), name=device,
                reconnect_timeout=args.reconnect_timeout))
            chunks = _serial_chunks(link, args)
            kind = "serial"
        writer = None
        if args.out:
            from postproc.recording import RecordingWriter

            meta = {"source": {"device": device, "kind": kind,
                               "protocol_version": PROTOCOL_VERSION}}
            writer = stack.enter_context(RecordingWriter(args.out, meta))
        tty = sys.stderr.isatty()
        board.t0 = last_line = time.monotonic()  # rates from here: device open, source ready
        with progress(f"acquire {device}", total=args.seconds) as advance:
            t_prev = time.monotonic()
            for chunk in chunks:
                board.add(chunk)
                if writer is not None:
                    writer.write_bob(chunk)
                now = time.monotonic()
                advance(now - t_prev)
                t_prev = now
                if tty and now - last_line >= 1.0:
                    print(board.line(), file=sys.stderr)
                    last_line = now
                if args.events is not None and board.events >= args.events:
                    break
            chunks.close()  # a serial source sends STOP here
        elapsed = time.monotonic() - board.t0
        summary = {
            "device": device,
            "kind": kind,
            "seconds": round(elapsed, 3),
            "events": board.events,
            "events_per_s": board.events / max(elapsed, 1e-9),
            "counts": {int(c): int(board.counts[c]) for c in np.flatnonzero(board.counts)},
        }
        if link is not None:
            summary["link"] = link.stats.as_dict()
            status = link.status()
            summary["device_status"] = asdict(status)
        if writer is not None:
            writer.meta["acquire"] = summary
            summary["recording"] = str(writer.close())
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0


def format_summary(s: dict) -> str:
    lines = [f"{s['device']} ({s['kind']}): {s['events']:,} events in {s['seconds']:.2f} s "
             f"= {s['events_per_s']:,.0f} events/s"]
    lines += [f"  channel {c:2d}: {n:,}" for c, n in s["counts"].items()]
    if "link" in s:
        lk = s["link"]
        lines.append(f"  link: {lk['frames_ok']:,} frames ok, {lk['bad_frames']} bad, "
                     f"{lk['missing_frames']} missing, {lk['duplicate_frames']} duplicate, "
                     f"{lk['lost_events']} events lost on the link, {lk['fifo_dropped']} dropped "
                     f"by the device FIFO, {lk['reconnects']} reconnects")
        st = s["device_status"]
        lines.append(f"  device: firmware {'.'.join(map(str, st['fw_version']))}, up "
                     f"{st['uptime_ms'] / 1000:.1f} s, FIFO high water {st['fifo_high_water']}"
                     f"/{st['fifo_capacity']}, {st['gated_events']} gated")
    if "recording" in s:
        lines.append(f"  recorded to {s['recording']}")
    return "\n".join(lines)
