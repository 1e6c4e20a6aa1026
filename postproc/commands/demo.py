"""``qkdpp demo``: a simulated 1 GHz decoy-BB84 link at 25 km, Alice and Bob as two parties."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from postproc.pipeline.config import add_reconcile_arguments, reconcile_options
from postproc.pipeline.session import DEMO_BLOCK_SLOTS, demo, format_summary


def _main(args: argparse.Namespace) -> int:
    s = demo(
        args.seconds,
        Path(args.out),
        seed=args.seed,
        distance_km=args.distance_km,
        eve_fraction=args.eve,
        block_slots=args.block_slots,
        as_json=args.json,
        **reconcile_options(args),
    )
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print()
        print(format_summary(s))
        print(
            f"report: {args.out}/report.json, plot: {args.out}/report.png, "
            f"keys: {args.out}/alice_keys.sqlite, {args.out}/bob_keys.sqlite"
        )
    return 0 if s["keys_identical"] else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="simulated link end to end: keys on both sides", description=__doc__
    )
    p.add_argument("--seconds", type=float, default=0.5, help="link time to simulate (s)")
    p.add_argument("--json", action="store_true", help="print the JSON report")
    p.add_argument("--out", default="qkdpp-demo", help="directory for key stores and reports")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--distance-km", type=float, default=25.0)
    p.add_argument("--eve", type=float, default=0.0, help="intercept-resend fraction")
    p.add_argument("--block-slots", type=int, default=DEMO_BLOCK_SLOTS)
    add_reconcile_arguments(p)
    p.set_defaults(func=_main)
