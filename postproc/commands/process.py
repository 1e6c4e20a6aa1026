"""``qkdpp process --recording DIR``: the two-party pipeline offline on a recording."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from postproc.pipeline.config import add_reconcile_arguments, reconcile_options
from postproc.pipeline.session import DEMO_BLOCK_SLOTS, format_summary, process


def _main(args: argparse.Namespace) -> int:
    s = process(
        Path(args.recording),
        Path(args.out),
        block_slots=args.block_slots,
        seed=args.seed,
        as_json=args.json,
        eps_sec=args.eps_sec,
        eps_cor=args.eps_cor,
        **reconcile_options(args),
    )
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print()
        print(format_summary(s))
    return 0 if s["keys_identical"] else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("process", help="run the pipeline on a recording", description=__doc__)
    p.add_argument("--recording", required=True, help="qkdpp recording directory")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default="qkdpp-process", help="directory for key stores and reports")
    p.add_argument("--block-slots", type=int, default=DEMO_BLOCK_SLOTS)
    p.add_argument("--eps-sec", type=float, default=1e-10)
    p.add_argument("--eps-cor", type=float, default=1e-15)
    p.add_argument("--seed", type=int, default=None, help="protocol randomness (default: fresh)")
    add_reconcile_arguments(p)
    p.set_defaults(func=_main)
