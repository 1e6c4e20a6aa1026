"""``qkdpp acquire``: live counts from a time tagger link, recorded to a qkdpp recording.

The command's logic lives in ``hil.acquire`` (the hardware-link package, which depends on
postproc, never the reverse); this module only declares the arguments and imports ``hil`` when
the command runs, so ``postproc`` stays importable without ``hil`` or pyserial.
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from hil.acquire import run

    return run(args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("acquire", help="acquire events from a serial/USB or PCIe DMA time tagger",
                       description=__doc__)
    p.add_argument("--device", help="serial device or pyserial URL (/dev/ttyUSB0, socket://h:p), "
                                    "or a DMA stream (/dev/xdma0_c2h_0, dma:PATH)")
    p.add_argument("--virtual", metavar="SOURCE",
                   help="start the virtual time tagger (firmware host build on a pty) fed from a "
                        "tag file or a qkdpp recording, and acquire from it")
    p.add_argument("--virtual-rate", type=float, default=None, metavar="EVENTS_PER_S",
                   help="pace the virtual tagger in real time (default: as fast as the link)")
    p.add_argument("--out", help="write a qkdpp recording to this directory")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument("--events", type=int, default=None, help="stop after this many events")
    p.add_argument("--idle-timeout", type=float, default=None,
                   help="stop when no event arrives for this long (s)")
    p.add_argument("--baud", type=int, default=921_600,
                   help="serial baud rate (default 921600, the firmware's UART setting)")
    p.add_argument("--gate", help="PERIOD,OFFSET,WIDTH in ps: the device keeps only events with "
                                  "(t - OFFSET) mod PERIOD < WIDTH")
    p.add_argument("--channel-map", help="IN=OUT or IN=off pairs, comma separated (e.g. 2=off,3=1)")
    p.add_argument("--reconnect-timeout", type=float, default=10.0,
                   help="give up when the device stays away this long (s)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_run)
