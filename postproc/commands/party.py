"""``qkdpp alice`` / ``qkdpp bob``: one party alone over TCP against the other (another process
or host), each reading only its own half of a recording."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from postproc.pipeline.session import DEMO_BLOCK_SLOTS, party


def _main(args: argparse.Namespace) -> int:
    who = args.command
    s = party(
        who,
        Path(args.recording),
        Path(args.auth_secret),
        Path(args.store or f"{who}-keys.sqlite"),
        listen=args.listen,
        connect=args.connect,
        block_slots=args.block_slots,
        seed=args.seed,
        timeout=args.timeout,
        as_json=args.json,
    )
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print(
            f"{who}: {s['blocks_total']} blocks ({s['aborted_blocks']} aborted), "
            f"{s['secret_bits']} secret bits stored in {s['store']}, "
            f"real-time factor {s['realtime_factor']:.2f}"
        )
        if s["error"]:
            print(f"{who} stopped: {s['error']}")
    return 0 if s["error"] is None else 1


def register(sub: argparse._SubParsersAction) -> None:
    for who in ("alice", "bob"):
        name = who.capitalize()
        p = sub.add_parser(who, help=f"{name}'s side of the protocol over TCP", description=__doc__)
        p.add_argument(
            "--recording", required=True, help=f"recording directory (only {name}'s files are used)"
        )
        p.add_argument("--listen", metavar="HOST:PORT", help="wait for the peer here")
        p.add_argument("--connect", metavar="HOST:PORT", help="connect to the peer here")
        p.add_argument(
            "--auth-secret",
            required=True,
            help="pre-shared initial authentication secret (same file on both sides)",
        )
        p.add_argument("--store", default=None, help=f"{name}'s key store ({who}-keys.sqlite)")
        p.add_argument("--block-slots", type=int, default=DEMO_BLOCK_SLOTS)
        p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the peer")
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=_main)
