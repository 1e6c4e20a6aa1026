"""End-to-end benchmark: the two-party pipeline on a recording, per-stage throughput and RTF.

Alice and Bob run as two threads in this process over the authenticated in-process channel
(``qkdpp process``). Stage times come from the parties' own per-block timings; because the
protocol is lock-step, a stage's time includes waiting for the peer's part of it (Bob's decoding
shows up in Alice's reconciliation time too), so per stage the larger of the two is reported.
Baseline measured in the same run: reading the same recording with plain numpy (every data file,
no processing); the ratio says how far the pipeline is from I/O speed. The real-time factor is
processing time / link time (<= 1 means the pipeline keeps up with the link).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

DESCRIPTION = "two-party pipeline on a recording: per-stage throughput, real-time factor"
STAGES = ("sift", "estimate", "reconcile", "verify", "amplify", "store")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recording", help="recording directory (default: simulate one)")
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="link time to simulate when no recording is given (default 1.0, quick 0.2)",
    )
    p.add_argument("--block-slots", type=int, default=100_000_000)
    p.add_argument("--seed", type=int, default=5)


def _read_baseline(path: Path) -> tuple[float, int]:
    from postproc.recording import open_recording

    t0 = time.perf_counter()
    rec = open_recording(path)
    n = 0
    for a in rec.iter_alice(chunk_slots=1 << 22):
        n += int(a.size)
    for c in rec.iter_bob():
        n += int(c.t.size)
    return time.perf_counter() - t0, n


def run(args: argparse.Namespace) -> dict:
    from postproc.pipeline.session import DEMO_MU, DEMO_P_MU, DEMO_P_Z, process
    from postproc.sim import SimConfig, simulate_to_recording

    tmp = tempfile.TemporaryDirectory(prefix="qkdpp-bench-e2e-")
    try:
        block_slots = args.block_slots
        if args.recording:
            rec_path = Path(args.recording)
            sim_s = None
        else:
            seconds = args.seconds or (0.2 if args.quick else 1.0)
            sim_cfg = SimConfig(
                intensities=DEMO_MU, intensity_probs=DEMO_P_MU, p_z=DEMO_P_Z, seed=args.seed
            )
            t0 = time.perf_counter()
            rec_path, _ = simulate_to_recording(sim_cfg, seconds, Path(tmp.name) / "rec")
            sim_s = time.perf_counter() - t0
        baseline_s, baseline_items = _read_baseline(rec_path)
        cpu0 = time.process_time()
        s = process(
            rec_path, Path(tmp.name) / "out", block_slots=block_slots, seed=args.seed, as_json=True
        )
        cpu_s = time.process_time() - cpu0
    finally:
        tmp.cleanup()
    blocks = s["blocks"]
    stage_s = {st: sum(b["timings"].get(st, 0.0) for b in blocks) for st in STAGES}
    detections = sum(b["detections"] for b in blocks)
    z_bits = sum(sum(b["n_Z"]) for b in blocks)
    key_in = sum(sum(b["n_Z_key"]) for b in blocks if not b["aborted"])
    items = {
        "sift": detections,
        "estimate": detections,
        "reconcile": z_bits,
        "verify": key_in,
        "amplify": key_in,
        "store": s["secret_bits"],
    }
    stages = {
        st: {
            "seconds": stage_s[st],
            "items": items[st],
            "mitems_per_s": items[st] / stage_s[st] / 1e6 if stage_s[st] > 0 else None,
        }
        for st in STAGES
    }
    return {
        "recording": args.recording or "simulated",
        "simulate_seconds": sim_s,
        "link_seconds": s["link_seconds"],
        "processing_seconds": s["processing_seconds"],
        "realtime_factor": s["realtime_factor"],
        "cpu_seconds": cpu_s,
        "load_average": os.getloadavg()[0],
        "secret_bits": s["secret_bits"],
        "secret_key_rate_bps": s["secret_key_rate_bps"],
        "blocks": len(blocks),
        "aborted_blocks": s["aborted_blocks"],
        "keys_identical": s["keys_identical"],
        "qber_z": s["qber_z"],
        "f_ec": s["f_ec"],
        "stages": stages,
        "baseline_read_seconds": baseline_s,
        "baseline_items": baseline_items,
        "ratio_vs_read": s["processing_seconds"] / baseline_s if baseline_s > 0 else None,
    }


def format_text(r: dict) -> str:
    lines = [
        f"e2e on {r['recording']}: {r['blocks']} blocks ({r['aborted_blocks']} aborted), "
        f"keys identical: {r['keys_identical']}",
        f"link time {r['link_seconds']:.3f} s, processing {r['processing_seconds']:.2f} s, "
        f"real-time factor {r['realtime_factor']:.2f} (CPU {r['cpu_seconds']:.2f} s in both "
        f"threads; machine load average {r['load_average']:.1f} on {os.cpu_count()} cores)",
        f"secret bits {r['secret_bits']} "
        f"({(r['secret_key_rate_bps'] or 0) / 1e3:.1f} kbit/s of link time)",
        f"{'stage':10s} {'seconds':>9s} {'items':>12s} {'M items/s':>10s}",
    ]
    for st, v in r["stages"].items():
        rate = "-" if v["mitems_per_s"] is None else f"{v['mitems_per_s']:.2f}"
        lines.append(f"{st:10s} {v['seconds']:9.2f} {v['items']:12d} {rate:>10s}")
    lines.append(
        f"baseline: plain numpy read of the recording {r['baseline_read_seconds']:.2f} s; "
        f"pipeline / read = {r['ratio_vs_read']:.1f}x"
    )
    return "\n".join(lines)
