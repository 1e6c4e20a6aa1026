"""Session summary (the JSON report), the per-block table and the QBER / key-rate plot."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

from postproc.pipeline.local import PairResult
from postproc.pipeline.stages import snapshot_keys


def keys_identical(result: PairResult, alice_store_path: Path, bob_store_path: Path) -> bool:
    """True only if every key id stored on either side holds identical bytes on both sides."""
    a, b = snapshot_keys(alice_store_path), snapshot_keys(bob_store_path)
    ids = set(a) | set(b)
    ids |= {
        uuid.UUID(r.key_id)
        for r in result.alice.blocks + result.bob.blocks
        if r.key_id and r.stored_bits
    }
    return all(k in a and k in b and a[k] == b[k] for k in ids)


def stage_seconds(report) -> dict[str, dict[str, float]]:
    """One party's seconds per stage over all blocks: ``wall``, ``wait`` (blocked on the peer)
    and ``busy`` = wall - wait (this party's own work). ``messaging`` (codec, authentication,
    handing frames to the link) overlaps the stages it happens in."""
    wall: dict[str, float] = {}
    wait: dict[str, float] = {}
    for b in report.blocks:
        for k, v in b.timings.items():
            wall[k] = wall.get(k, 0.0) + v
        for k, v in b.waits.items():
            wait[k] = wait.get(k, 0.0) + v
    return {
        k: {"wall": w, "wait": wait.get(k, 0.0), "busy": w - wait.get(k, 0.0)}
        for k, w in wall.items()
    }


def summarise(
    result: PairResult,
    *,
    link_s: float,
    processing_s: float,
    identical: bool | None,
    extra: dict | None = None,
) -> dict[str, Any]:
    """The JSON summary: Alice's per-block reports plus session totals."""
    totals = result.alice.totals()
    secret = totals["secret_bits"]
    out = {
        "blocks": [b.as_dict() for b in result.alice.blocks],
        "secret_bits": secret,
        "auth_replenished_bits": totals["auth_bits"],
        "final_key_bits": totals["key_bits"],
        "qber_z": totals["qber_z"],
        "qber_x": totals["qber_x"],
        "f_ec": totals["f_ec"],
        "aborted_blocks": totals["aborted_blocks"],
        "keys_identical": identical,
        "detections": totals["detections"],
        "link_seconds": link_s,
        "processing_seconds": processing_s,
        "secret_key_rate_bps": secret / link_s if link_s > 0 else None,
        "realtime_factor": processing_s / link_s if link_s > 0 else None,
        "steady_realtime_factor": _steady_rtf(result.alice, link_s),
        "stage_seconds": {
            "alice": stage_seconds(result.alice),
            "bob": stage_seconds(result.bob),
        },
        "auth": {"alice": result.alice.auth, "bob": result.bob.auth},
        "errors": {"alice": result.alice.error, "bob": result.bob.error},
    }
    if extra:
        out.update(extra)
    return _json_safe(out)


def _steady_rtf(alice, link_s: float) -> float | None:
    """Real-time factor of the blocks after the first (the first also pays the one-time costs:
    Bob's clock recovery over his whole run, Alice's offset search, numba compilation)."""
    blocks = [b for b in alice.blocks if b.n_slots]
    if len(blocks) < 2 or link_s <= 0:
        return None
    slots = sum(b.n_slots for b in blocks)
    later = blocks[1:]
    t = sum(b.timings.get("total", 0.0) for b in later)
    return t / (link_s * sum(b.n_slots for b in later) / slots)


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    return v


def format_summary(s: dict[str, Any]) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f} %"

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    rate = s["secret_key_rate_bps"]
    lines = [
        f"blocks            {len(s['blocks'])} ({s['aborted_blocks']} aborted)",
        f"detections        {s['detections']}",
        f"QBER Z / X        {pct(s['qber_z'])} / {pct(s['qber_x'])}",
        f"f_EC              {'-' if s['f_ec'] is None else format(s['f_ec'], '.3f')}",
        f"secret bits       {s['secret_bits']} stored "
        f"(+{s['auth_replenished_bits']} to authentication)",
        f"secret key rate   {'-' if rate is None else format(rate / 1e3, '.1f')} kbit/s "
        f"over {s['link_seconds']:.3f} s of link time",
        f"processing        {s['processing_seconds']:.2f} s, real-time factor "
        f"{num(s['realtime_factor'])} (after the first block: "
        f"{num(s.get('steady_realtime_factor'))})",
        f"keys identical    {s['keys_identical']}",
    ]
    for who, err in s["errors"].items():
        if err:
            lines.append(f"{who} stopped: {err}")
    return "\n".join(lines)


def write_json(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")


def plot(path: Path, summary: dict[str, Any], block_seconds: float) -> None:
    """QBER (Z, X) and secret key rate per block, as a PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = summary["blocks"]
    idx = [b["block"] for b in blocks]
    qz = [100 * b["qber_z"] if b["qber_z"] is not None else math.nan for b in blocks]
    qx = [100 * b["qber_x"] if b["qber_x"] is not None else math.nan for b in blocks]
    rate = [b["stored_bits"] / block_seconds / 1e3 for b in blocks]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    ax1.plot(idx, qz, "o-", label="QBER Z")
    ax1.plot(idx, qx, "s-", label="QBER X")
    ax1.set_ylabel("QBER (%)")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.bar(idx, rate, color="tab:green")
    ax2.set_ylabel("secret key rate (kbit/s)")
    ax2.set_xlabel("block")
    ax2.grid(alpha=0.3)
    aborted = [b["block"] for b in blocks if b["aborted"]]
    for a in aborted:
        ax2.axvspan(a - 0.4, a + 0.4, color="tab:red", alpha=0.2)
    fig.suptitle("qkdpp: QBER and secret key rate per block")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
