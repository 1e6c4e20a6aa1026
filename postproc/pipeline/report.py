"""Per-block and per-session reports: numbers only, never key material."""

# Field names follow the papers' notation (n_Z, m_X, ...).
# ruff: noqa: N815

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

BOUND_FIELDS = (
    "s_Z0",
    "s_Z1",
    "s_X1",
    "v_X1",
    "phi_Z",
    "gamma",
    "key_length_unrounded",
    "penalty_bits",
)


@dataclass
class BlockReport:
    block: int
    first_slot: int = 0
    n_slots: int = 0
    detections: int = 0
    sift_stats: dict = field(default_factory=dict)
    n_Z: list[int] = field(default_factory=list)  # sifted Z per intensity (all frames)
    n_X: list[int] = field(default_factory=list)
    n_Z_key: list[int] = field(default_factory=list)  # Z bits in the frames that decoded
    m_Z: list[int] = field(default_factory=list)
    m_X: list[int] = field(default_factory=list)
    qber_z: float | None = None
    qber_x: float | None = None
    frames: int = 0
    frames_failed: int = 0
    reconcile_messages: int = 0
    leakage: dict = field(default_factory=dict)
    lambda_ec: int = 0
    f_ec: float | None = None
    verified: bool | None = None
    bounds: dict = field(default_factory=dict)
    key_length: int = 0
    auth_bits: int = 0
    stored_bits: int = 0
    key_id: str | None = None
    aborted: str | None = None
    timings: dict = field(default_factory=dict)  # wall seconds per stage; "messaging" overlaps
    waits: dict = field(default_factory=dict)  # of which blocked waiting for the peer

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d


@dataclass
class SessionReport:
    role: str
    config: dict
    blocks: list[BlockReport] = field(default_factory=list)
    auth: dict = field(default_factory=dict)
    error: str | None = None
    processing_s: float = 0.0

    @property
    def secret_bits(self) -> int:
        return sum(b.stored_bits for b in self.blocks)

    def totals(self) -> dict[str, Any]:
        ok = [b for b in self.blocks if b.aborted is None]
        nz = sum(sum(b.n_Z_key) for b in ok)
        mz = sum(sum(b.m_Z) for b in ok)
        nx = sum(sum(b.n_X) for b in self.blocks)
        mx = sum(sum(b.m_X) for b in self.blocks)
        ec = sum(b.leakage.get("syndrome", 0) + b.leakage.get("revealed", 0) for b in ok)
        from postproc.infotheory import binary_entropy

        q = mz / nz if nz else None
        f = ec / (nz * float(binary_entropy(q))) if nz and q else None
        return {
            "blocks_total": len(self.blocks),
            "aborted_blocks": len(self.blocks) - len(ok),
            "secret_bits": self.secret_bits,
            "auth_bits": sum(b.auth_bits for b in self.blocks),
            "key_bits": sum(b.key_length for b in ok),
            "qber_z": q,
            "qber_x": mx / nx if nx else None,
            "f_ec": f,
            "detections": sum(b.detections for b in self.blocks),
        }


def format_block_row(b: BlockReport) -> str:
    def pct(x: float | None) -> str:
        return "   -  " if x is None else f"{100 * x:5.2f}%"

    status = "ok" if b.aborted is None else f"ABORT: {b.aborted}"
    f = "  -  " if b.f_ec is None else f"{b.f_ec:5.3f}"
    t = b.timings.get("total", 0.0)
    return (
        f"{b.block:5d} {b.detections:10d} {sum(b.n_Z):9d} {sum(b.n_X):8d} {pct(b.qber_z)} "
        f"{pct(b.qber_x)} {b.lambda_ec:9d} {f} {b.key_length:9d} {b.stored_bits:9d} "
        f"{t:6.2f}s  {status}"
    )


TABLE_HEADER = (
    "block detections   sifted_Z sifted_X  QBER_Z QBER_X  lambda_EC   f     length    stored"
    "    time   status"
)
