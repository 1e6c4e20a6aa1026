"""``qkdpp convert IN OUT [--to FORMAT]``: rewrite a time-tag file in a writable format
(PTU T2, text, quTAG binary, qkdpp recording)."""

from __future__ import annotations

import argparse
import json
import os

from postproc.formats import open_timetag
from postproc.formats.convert import WRITABLE, convert
from postproc.progress import progress


def _main(args: argparse.Namespace) -> int:
    options = {}
    if args.tick_ps is not None:
        options["tick_ps"] = args.tick_ps
    total = open_timetag(args.input, **dict(options)).meta.n_records_declared
    with progress(f"converting {os.path.basename(args.input)}", total) as advance:
        result = convert(args.input, args.output, to=args.to, advance=advance, **options)
    print(json.dumps(result) if args.json else
          f"{result['input']} ({result['input_format']}) -> {result['output']} "
          f"({result['output_format']}): {result['written']} written")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a time-tag file", description=__doc__)
    p.add_argument("input", help="source file (format detected from content)")
    p.add_argument("output", help="destination (.ptu, .txt, .bin, or a directory)")
    p.add_argument("--to", choices=WRITABLE, default=None, help="output format")
    p.add_argument("--tick-ps", type=float, default=None,
                   help="time unit in ps of the input if it does not declare it")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_main)
