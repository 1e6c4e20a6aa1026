"""``qkdpp info FILE [--json]``: what a time-tag file holds (format detected from content)."""

from __future__ import annotations

import argparse
import json
import os
import warnings

from postproc.errors import FormatWarning
from postproc.formats import open_timetag
from postproc.formats.summary import summarize
from postproc.progress import progress


def _format_text(s: dict, warned: list[str]) -> str:
    lines = [
        f"file           {s['path']}",
        f"format         {s['format']} ({s['record_type']})",
        f"resolution     {s['resolution_ps']:g} ps",
    ]
    if s["sync_period_ps"]:
        lines.append(f"sync period    {s['sync_period_ps']:.6g} ps")
    declared = s["n_records_declared"]
    lines.append(f"records        {s['n_records']}"
                 + (f" (header declares {declared})" if declared not in (None, s["n_records"])
                    else ""))
    lines.append(f"duration       {s['duration_ps'] * 1e-12:.6g} s ({s['duration_ps']} ps)")
    rate = s["rate_hz"]
    lines.append(f"events         {s['n_events']}" + (f"  ({rate:.6g} /s)" if rate else ""))
    for ch, n in s["events_per_channel"].items():
        r = s["rates_hz_per_channel"].get(ch)
        lines.append(f"  channel {ch:>4} {n:>12}" + (f"  ({r:.6g} /s)" if r else ""))
    lines.append(f"overflows      {s['n_overflows']}")
    lines.append(f"markers        {s['n_markers']}")
    lines.append(f"sync records   {s['n_sync']}")
    if s["n_gaps"]:
        lines.append(f"gaps           {s['n_gaps']} ({s['n_missed']} events missed)")
    for key in ("n_invalid", "n_backward", "n_errors"):
        if s.get(key):
            lines.append(f"{key[2:]:<14} {s[key]}")
    pairs = zip(s["first_channels"], s["first_times_ps"], strict=True)
    first = ", ".join(f"ch{c}@{t}" for c, t in pairs)
    lines.append(f"first events   {first or '-'} (ps)")
    for w in warned:
        lines.append(f"warning        {w}")
    return "\n".join(lines)


def _main(args: argparse.Namespace) -> int:
    options = {}
    if args.tick_ps is not None:
        options["tick_ps"] = args.tick_ps
    if args.format:
        options["format"] = args.format
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FormatWarning)
        reader = open_timetag(args.file, **options)
        total = reader.meta.n_records_declared
        with progress(f"reading {os.path.basename(args.file)}", total) as advance:
            summary = summarize(reader, advance=advance)
    warned = [str(w.message) for w in caught if issubclass(w.category, FormatWarning)]
    if args.json:
        summary["warnings"] = warned
        print(json.dumps(summary, indent=2))
    else:
        print(_format_text(summary, warned))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a time-tag file", description=__doc__)
    p.add_argument("file", help="time-tag file or qkdpp recording directory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tick-ps", type=float, default=None,
                   help="time unit in ps for formats that do not declare it (quTAG, text)")
    p.add_argument("--format", default=None, help="skip detection (e.g. quTAG-compressed)")
    p.set_defaults(func=_main)
