"""End-to-end benchmark: the two-party pipeline on a recording, per-stage throughput and RTF.

Alice and Bob run as two threads in this process over the authenticated in-process channel
(``qkdpp process``). What is counted: the real-time factor is the wall time of the two-party
session (both parties from the first message to the last, including Alice reading her log, Bob's
clock recovery over his run, every stage, messaging, the key stores; numba compilation if the
caches are cold) divided by the link time of the recording. Not counted: producing the recording
(the simulator plays the physical link), and the baseline read below.

Per stage, each party's time is split into ``busy`` (its own work) and time blocked waiting for
the peer (the protocol is lock-step: Bob's decoding shows up as waiting in Alice's reconciliation);
a stage's throughput is its items over Alice's + Bob's busy seconds. ``messaging`` (codec,
Wegman-Carter tags, handing frames to the link) happens inside the stages and is also shown on
its own. The first block also pays one-time costs (Bob's clock recovery, Alice's offset search),
so the real-time factor of the later blocks is given too. The machine is shared: the load average
and the process CPU seconds are printed with every run.

Baseline measured in the same run: reading the same recording with plain numpy (every data file,
no processing); the ratio says how far the pipeline is from I/O speed.
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
    per_party = s["stage_seconds"]
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
    stages = {}
    for st in STAGES:
        a = per_party["alice"].get(st, {"wall": 0.0, "busy": 0.0})
        b = per_party["bob"].get(st, {"wall": 0.0, "busy": 0.0})
        busy = a["busy"] + b["busy"]
        stages[st] = {
            "wall_seconds": a["wall"],
            "alice_busy_seconds": a["busy"],
            "bob_busy_seconds": b["busy"],
            "items": items[st],
            "mitems_per_s": items[st] / busy / 1e6 if busy > 0 else None,
        }
    msg = {
        who: per_party[who].get("messaging", {"wall": 0.0})["wall"] for who in ("alice", "bob")
    }
    n_bytes = s["auth"]["alice"]["bytes_sent"] + s["auth"]["bob"]["bytes_sent"]
    stages["messaging"] = {
        "wall_seconds": None,
        "alice_busy_seconds": msg["alice"],
        "bob_busy_seconds": msg["bob"],
        "items": n_bytes,
        "mitems_per_s": n_bytes / sum(msg.values()) / 1e6 if sum(msg.values()) > 0 else None,
        "frames": s["auth"]["alice"]["sent"] + s["auth"]["bob"]["sent"],
    }
    in_blocks = per_party["alice"].get("total", {"wall": 0.0})["wall"]
    return {
        "recording": args.recording or "simulated",
        "simulate_seconds": sim_s,
        "link_seconds": s["link_seconds"],
        "processing_seconds": s["processing_seconds"],
        "realtime_factor": s["realtime_factor"],
        "steady_realtime_factor": s["steady_realtime_factor"],
        "first_block_seconds": blocks[0]["timings"].get("total") if blocks else None,
        "outside_blocks_seconds": s["processing_seconds"] - in_blocks,
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
    def num(x: float | None, fmt: str = ".2f") -> str:
        return "-" if x is None else format(x, fmt)

    lines = [
        f"e2e on {r['recording']}: {r['blocks']} blocks ({r['aborted_blocks']} aborted), "
        f"keys identical: {r['keys_identical']}",
        f"link time {r['link_seconds']:.3f} s, processing {r['processing_seconds']:.2f} s, "
        f"real-time factor {r['realtime_factor']:.2f} (blocks after the first: "
        f"{num(r['steady_realtime_factor'])}; first block {num(r['first_block_seconds'])} s, "
        f"outside blocks {num(r['outside_blocks_seconds'])} s)",
        f"CPU {r['cpu_seconds']:.2f} s in all threads; machine load average "
        f"{r['load_average']:.1f} on {os.cpu_count()} cores",
        f"secret bits {r['secret_bits']} "
        f"({(r['secret_key_rate_bps'] or 0) / 1e3:.1f} kbit/s of link time)",
        f"{'stage':10s} {'wall s':>8s} {'Alice busy':>10s} {'Bob busy':>9s} {'items':>11s} "
        f"{'M items/s':>10s}",
    ]
    for st, v in r["stages"].items():
        lines.append(
            f"{st:10s} {num(v['wall_seconds']):>8s} {v['alice_busy_seconds']:10.2f} "
            f"{v['bob_busy_seconds']:9.2f} {v['items']:11d} {num(v['mitems_per_s'], '.3f'):>10s}"
        )
    lines.append(
        "(wall: Alice's view, including waiting for Bob; busy: own work; M items/s over both "
        "busy times; items: detections for sift/estimate, sifted Z bits for reconcile, "
        "reconciled bits for verify/amplify, secret bits for store, frame bytes (both ways) for "
        "messaging: encode, tag, check, decode)"
    )
    lines.append(
        f"baseline: plain numpy read of the recording {r['baseline_read_seconds']:.2f} s; "
        f"pipeline / read = {r['ratio_vs_read']:.1f}x"
    )
    return "\n".join(lines)
