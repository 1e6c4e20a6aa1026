"""``qkdpp sift --recording DIR``: clock recovery, offset search, gating and basis sifting."""

from __future__ import annotations

import argparse
import json

from postproc.recording import open_recording


def _run(args: argparse.Namespace) -> int:
    rec = open_recording(args.recording)
    if rec.meta.get("protocol") == "bbm92":
        from postproc.sift.bbm92 import CoincidenceOptions, sift_bbm92_recording

        res = sift_bbm92_recording(
            rec, CoincidenceOptions(window_ps=args.window_ps or 400.0, seed=args.seed)
        )
        out = res.as_dict()
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            for k, v in out.items():
                print(f"{k:26s} {v:.6g}" if isinstance(v, float) else f"{k:26s} {v}")
        return 0

    from postproc.sift.run import SiftOptions, sift_recording

    opts = SiftOptions(
        gate_ps=args.gate_ps,
        max_offset_ps=args.max_offset_ps,
        max_ppm=args.max_ppm,
        seed=args.seed,
    )
    report = sift_recording(rec, opts)
    d = report.as_dict()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    s = report.stats
    print(f"recording        {rec.path} ({rec.n_events} events, {rec.n_slots} slots)")
    print(f"detections       {s['detections']}   other channels {s['other_channels']}")
    print(f"gated            {s['gated']}   outside gate {s['outside_gate']}")
    print(f"double clicks    {s['double_clicks']} (same basis {s['double_clicks_same_basis']})")
    print(f"period           {report.period_ps:.6f} ps  ({report.clock_segments} clock segments)")
    print(
        f"offset           {report.offset_slots} slots, Bob time of Alice slot 0 = "
        f"{report.offset_ps:.1f} ps (peak {report.offset_score:.1f} sigma)"
    )
    print("sifted n[basis][class]  errors m          QBER")
    for b, name in enumerate(("Z", "X")):
        n = " ".join(f"{int(x):>10d}" for x in report.n[b])
        m = " ".join(f"{int(x):>7d}" for x in report.m[b])
        print(f"  {name}  {n}   {m}   {report.qber(b):.4%}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sift", help="sift a recording (BB84 or BBM92)", description=__doc__)
    p.add_argument("--recording", required=True, help="qkdpp recording directory")
    p.add_argument("--gate-ps", type=float, help="gate width (default 30%% of the slot period)")
    p.add_argument("--window-ps", type=float, help="bbm92: coincidence window (default 400)")
    p.add_argument("--max-offset-ps", type=float, default=1.1e9, help="offset search range +/-")
    p.add_argument("--max-ppm", type=float, default=20.0, help="clock frequency search range")
    p.add_argument("--seed", type=int, default=0, help="squashing of double clicks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run)
