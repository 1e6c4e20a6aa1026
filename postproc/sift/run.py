"""Sift a whole BB84 recording locally: both parties' functions, messages passed in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from postproc.errors import ConfigError
from postproc.recording import Recording
from postproc.sift.bb84 import (
    BobDetections,
    BobSlotter,
    SiftedSide,
    alice_answer,
    bob_announce,
    bob_sifted,
    error_counts,
)
from postproc.sift.clock import ClockModel, recover_clock
from postproc.sift.kernel import make_chmap

BASIS_NAMES = ("Z", "X")


@dataclass
class SiftOptions:
    gate_ps: float | None = None  # full gate width; default 30 % of the slot period
    max_offset_ps: float = 1.1e9  # offset search range +/- (ps)
    max_ppm: float = 20.0  # clock frequency search range
    block_ps: int = 1_000_000_000  # clock tracking block
    chunk_records: int = 1 << 22
    seed: int = 0  # squashing of double clicks
    block_detections: int = 1 << 20  # detections per announcement


@dataclass
class SiftReport:
    """Everything `qkdpp sift` prints."""

    stats: dict
    offset_slots: int
    offset_ps: float
    period_ps: float
    clock_segments: int
    offset_score: float
    n: np.ndarray  # [basis, class]
    m: np.ndarray  # [basis, class]
    alice: SiftedSide = field(repr=False)
    bob: SiftedSide = field(repr=False)
    truth: dict | None = None

    def qber(self, basis: int) -> float:
        n = int(self.n[basis].sum())
        return float(self.m[basis].sum()) / n if n else float("nan")

    def as_dict(self) -> dict:
        return {
            **self.stats,
            "offset_slots": self.offset_slots,
            "offset_ps": self.offset_ps,
            "period_ps": self.period_ps,
            "clock_segments": self.clock_segments,
            "offset_score": self.offset_score,
            "sifted": {
                BASIS_NAMES[b]: {f"class{k}": int(self.n[b, k]) for k in range(3)} for b in range(2)
            },
            "errors": {
                BASIS_NAMES[b]: {f"class{k}": int(self.m[b, k]) for k in range(3)} for b in range(2)
            },
            "qber": {BASIS_NAMES[b]: self.qber(b) for b in range(2)},
        }


def _detector_times(bob_chunks, chmap: np.ndarray):
    det_channels = np.flatnonzero(chmap & 0x80)
    for t, ch in bob_chunks():
        yield t[np.isin(ch, det_channels)]


def bob_detections(
    meta: dict,
    bob_chunks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    opts: SiftOptions,
    where: str = "recording",
) -> tuple[BobDetections, ClockModel]:
    """Bob's side: a clock recovery pass, then the slotting pass with gate and squashing.
    ``bob_chunks()`` returns a fresh iterator of (t, ch) chunks each time it is called."""
    try:
        period = float(meta["slot_period_ps"])
        chmap = make_chmap(meta["detectors"])
    except KeyError as exc:
        raise ConfigError(f"{where}: meta.json lacks {exc} (needed for sifting)") from exc
    clock = recover_clock(
        _detector_times(bob_chunks, chmap), period, max_ppm=opts.max_ppm, block_ps=opts.block_ps
    )
    gate = opts.gate_ps if opts.gate_ps is not None else 0.3 * period
    half_q16 = round(gate / 2 * 65536)
    slotter = BobSlotter(clock, chmap, -half_q16, half_q16)
    for t, ch in bob_chunks():
        slotter.feed(t, ch)
    return slotter.finish(np.random.default_rng(opts.seed)), clock


def sift_streams(
    meta: dict,
    bob_chunks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    read_alice: Callable[[int, int], np.ndarray],
    opts: SiftOptions | None = None,
    where: str = "recording",
) -> tuple[SiftReport, BobDetections, ClockModel]:
    """Sift with both parties' functions. ``read_alice(lo, hi)`` returns Alice's log bytes of
    slots max(lo, 0) .. hi (clipped at the end of her log)."""
    opts = opts or SiftOptions()
    if meta.get("protocol", "bb84-decoy") != "bb84-decoy":
        raise ConfigError(f"{where}: protocol {meta.get('protocol')!r} is not bb84-decoy")
    det, clock = bob_detections(meta, bob_chunks, opts, where)
    period = clock.period_ps
    R = int(np.ceil(opts.max_offset_ps / period))
    intensities = list(meta.get("intensities", [1.0, 0.5, 0.0]))
    # blocks of detections keep Alice's log window (and the messages) bounded
    offset_slots = None
    found = None
    a_parts, b_parts = [], []
    nd = len(det.slot)
    for block, i0 in enumerate(range(0, max(nd, 1), opts.block_detections)):
        sub = det.take(slice(i0, i0 + opts.block_detections))
        announce = bob_announce(sub, block)
        margin = R + 2 if offset_slots is None else 2
        lo = int(sub.slot[0]) + (offset_slots or 0) - margin if len(sub.slot) else 0
        hi = int(sub.slot[-1]) + (offset_slots or 0) + margin if len(sub.slot) else 0
        reply, a_side, f = alice_answer(
            announce,
            read_alice(lo, hi),
            max(0, lo),
            offset_slots=offset_slots,
            intensities=intensities,
            max_offset_slots=R,
        )
        if f is not None:
            found = f
        offset_slots = reply.offset_slots
        a_parts.append(a_side)
        b_parts.append(bob_sifted(reply, sub, block))
    alice, bob = SiftedSide.concat(a_parts), SiftedSide.concat(b_parts)
    off = offset_slots or 0
    # Bob's time of the centre of Alice's slot 0, from the first clock segment
    offset_ps = float(clock.t_anchor[0]) - (int(clock.slot_anchor[0]) + off) * (
        float(clock.period_q16[0]) / 65536.0
    )
    report = SiftReport(
        stats=dict(det.stats),
        offset_slots=off,
        offset_ps=offset_ps,
        period_ps=period,
        clock_segments=clock.n_blocks,
        offset_score=found.score if found else float("nan"),
        n=alice.counts(),
        m=error_counts(alice, bob),
        alice=alice,
        bob=bob,
        truth=meta.get("truth"),
    )
    return report, det, clock


def sift_recording(rec: Recording, opts: SiftOptions | None = None) -> SiftReport:
    """Sift a BB84 recording with both parties' functions; Alice's log is read from disk."""
    opts = opts or SiftOptions()

    def chunks():
        return ((c.t, c.ch) for c in rec.iter_bob(chunk_records=opts.chunk_records))

    report, _, _ = sift_streams(rec.meta, chunks, rec.read_alice, opts, str(rec.path))
    report.stats["slots_in_log"] = rec.n_slots
    return report
