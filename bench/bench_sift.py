"""Sifting throughput (events/s per core) against a plain numpy copy of the same arrays, and the
simulator's speed (simulated link seconds per wall second and per CPU second).

Events: a synthetic 1 GHz stream (sorted times near slot centres with jitter, four detector
channels, a few clock-channel events) and a random valid Alice log. "kernel" is the per-detection
sifting kernel over all events in one pass (slot, residual, gate, channel map across clock
segments, Alice's keep flag from her log; checked equal to the two-pass result in the same run);
"two passes" is Bob's kernel followed by Alice's keep pass; "bob pipeline" adds Bob's numpy
filtering and double-click squashing (BobSlotter.feed + finish). The baseline is ``np.copy`` of
the same ``t`` and ``ch`` arrays in the same run; best of ``--repeat`` each. Single thread. Rates
per core use this process's CPU time (the machine is shared, so wall time mostly measures the
neighbours); wall-clock rates are reported too.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

DESCRIPTION = "sifting kernel events/s vs numpy copy of the same arrays; simulator speed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=None, help="default 2**24 (quick 2**21)")
    parser.add_argument(
        "--sim-seconds",
        type=float,
        default=None,
        help="link time for the simulator figure (default 0.5, quick 0.05)",
    )
    parser.add_argument("--distance-km", type=float, default=25.0)
    parser.add_argument("--repeat", type=int, default=5)
    # `qkdpp bench sift --quick` puts --quick among the bench's own options
    parser.add_argument("--quick", dest="quick_here", action="store_true", help="short run")


def _events(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    gaps = rng.geometric(0.05, n)  # ~5 % of slots hold a detection
    slot = np.cumsum(gaps).astype(np.int64)
    t = slot * 1000 + np.round(rng.normal(0, 30, n)).astype(np.int64) + 123_456
    t.sort()
    ch = rng.integers(1, 5, n).astype(np.int16)
    ch[rng.random(n) < 0.001] = 0
    log = (
        rng.integers(0, 2, slot[-1] + 10)
        | rng.integers(0, 2, slot[-1] + 10) << 1
        | rng.integers(0, 3, slot[-1] + 10) << 2
    ).astype(np.uint8)
    return t, ch, log


def _best(fn, repeat: int) -> tuple[float, float]:
    """Best CPU time (this process: the per-core figure) and best wall time of ``repeat`` runs."""
    cpu = wall = float("inf")
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    return cpu, wall


def run(args: argparse.Namespace) -> dict:
    from postproc.sift.bb84 import BobSlotter, segments_kernel
    from postproc.sift.clock import ClockModel
    from postproc.sift.kernel import alice_keep, joined_kernel, make_chmap
    from postproc.sim import DETECTOR_MAP, SimConfig, simulate

    quick = args.quick or getattr(args, "quick_here", False)
    n = args.events or (1 << 21 if quick else 1 << 24)
    t, ch, log = _events(n)
    # 16 clock segments across the run, as the drift tracker would produce
    nseg = 16
    starts = np.linspace(t[0], t[-1], nseg + 1)[:-1].astype(np.int64)
    starts[0] = -(2**62)
    clock = ClockModel(
        seg_start=starts,
        t_anchor=np.full(nseg, 123_456, np.int64),
        slot_anchor=np.zeros(nseg, np.int64),
        period_q16=np.full(nseg, 1000 << 16, np.int64),
        frequency_hz=1e9,
        n_blocks=nseg,
        phase_rms_ps=0.0,
    )
    chmap = make_chmap(list(DETECTOR_MAP))
    slot = np.empty(n, np.int64)
    flags = np.empty(n, np.uint8)
    lo, hi = np.int64(-150 << 16), np.int64(150 << 16)

    def kernel():
        joined_kernel(
            t,
            ch,
            clock.seg_start,
            clock.t_anchor,
            clock.slot_anchor,
            clock.period_q16,
            lo,
            hi,
            chmap,
            log,
            np.int64(0),
            slot,
            flags,
        )

    def two_pass():
        segments_kernel(
            t,
            ch,
            clock.seg_start,
            clock.t_anchor,
            clock.slot_anchor,
            clock.period_q16,
            lo,
            hi,
            chmap,
            slot,
            flags,
        )
        alice_keep(slot, flags, log, np.int64(0))

    def pipeline():
        s = BobSlotter(clock, chmap, int(lo), int(hi))
        s.feed(t, ch)
        s.finish(np.random.default_rng(0))

    def copy():
        np.copy(t)
        np.copy(ch)

    two_pass()  # compile / load from cache
    ref_slot, ref_flags = slot.copy(), flags.copy()
    kernel()
    if not (np.array_equal(slot, ref_slot) and np.array_equal(flags, ref_flags)):
        raise AssertionError("joined kernel differs from Bob's + Alice's passes")
    pipeline()
    t_copy, w_copy = _best(copy, args.repeat)
    t_kernel, w_kernel = _best(kernel, args.repeat)
    t_two, _ = _best(two_pass, args.repeat)
    t_pipe, _ = _best(pipeline, max(1, args.repeat // 2))
    kept = int(((flags & 0x10) != 0).sum())

    # simulator speed
    sim_s = args.sim_seconds or (0.05 if quick else 0.5)
    cfg = SimConfig(distance_km=args.distance_km)
    for _ in simulate(cfg, 1 << 22):
        pass
    n_slots = round(sim_s * cfg.clock_rate_hz)
    w0, c0 = time.perf_counter(), time.process_time()
    n_ev = 0
    for c in simulate(cfg, n_slots):
        n_ev += len(c.bob)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {
        "events": n,
        "kept": kept,
        "kernel_events_per_s": n / t_kernel,
        "two_pass_events_per_s": n / t_two,
        "bob_pipeline_events_per_s": n / t_pipe,
        "numpy_copy_events_per_s": n / t_copy,
        "ratio_kernel_to_copy": t_copy / t_kernel,
        "kernel_events_per_wall_s": n / w_kernel,
        "numpy_copy_events_per_wall_s": n / w_copy,
        "target_events_per_s": 1e8,
        "sim_link_seconds": sim_s,
        "sim_distance_km": args.distance_km,
        "sim_events": n_ev,
        "sim_wall_s": wall,
        "sim_cpu_s": cpu,
        "sim_link_s_per_wall_s": sim_s / wall,
        "sim_link_s_per_cpu_s": sim_s / cpu,
        "load_average_1min": os.getloadavg()[0],
    }


def format_text(r: dict) -> str:
    ok = "meets" if r["kernel_events_per_s"] >= r["target_events_per_s"] else "BELOW"
    return "\n".join(
        [
            f"sifting kernel    {r['kernel_events_per_s'] / 1e6:8.1f} M events/s/core "
            f"({ok} the 100 M target; {r['events']} events, {r['kept']} kept)",
            f"two passes        {r['two_pass_events_per_s'] / 1e6:8.1f} M events/s/core "
            "(Bob's kernel, then Alice's keep: the message-based split)",
            f"Bob pipeline      {r['bob_pipeline_events_per_s'] / 1e6:8.1f} M events/s/core "
            "(kernel + filtering + squashing)",
            f"numpy copy        {r['numpy_copy_events_per_s'] / 1e6:8.1f} M events/s "
            f"(baseline; kernel/copy ratio {r['ratio_kernel_to_copy']:.2f})",
            f"simulator         {r['sim_link_s_per_wall_s']:.3f} link s per wall s, "
            f"{r['sim_link_s_per_cpu_s']:.3f} per CPU s ({r['sim_link_seconds']} s at "
            f"{r['sim_distance_km']} km, {r['sim_events']} events)",
            f"wall clock        kernel {r['kernel_events_per_wall_s'] / 1e6:.1f} M/s, copy "
            f"{r['numpy_copy_events_per_wall_s'] / 1e6:.1f} M/s; load average "
            f"{r['load_average_1min']:.1f} (2-core machine, shared)",
        ]
    )
