"""Bench of hdl/rtl/sifter.v against postproc.sift.kernel.sift_kernel.

Three clock segments in one simulation, each with its own configuration (written through the
block's ports and memories): a typical link (1000.37 ps slots, detections around the anchor with
jitter across the gate, channels inside and outside 0..255, a log that covers part of the
slots), the smallest period (1 ps, detections up to 2**46 - 1 ps either side of the anchor) and
the largest (just below 2**31 ps). Every detection's slot and flags must equal the reference's;
cycles per detection are measured without gaps or back-pressure.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np
import pytest

from tb.axis_bench import (
    AxisSink,
    AxisSource,
    assert_equal,
    bench_params,
    bench_vectors,
    cycles_per_item,
    have_iverilog,
    reset,
    run_bench,
    start_clock,
    write_metrics,
)

pytestmark = [
    pytest.mark.hdl,
    pytest.mark.skipif(not have_iverilog(), reason="Icarus Verilog not installed"),
]

LOGW = 10
M64 = (1 << 64) - 1


def segments(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    segs = []
    # typical link
    period = 1000.37
    P = round(period * 65536)
    n = 6000
    k = rng.integers(-300, 1300, n)
    t_anchor = 10**12 + int(rng.integers(0, 10**6))
    t = t_anchor + np.round(k * period + rng.uniform(-0.6, 0.6, n) * period).astype(np.int64)
    segs.append(
        {
            "t_anchor": t_anchor,
            "slot_anchor": 5_000_000,
            "period_q16": P,
            "gate_lo_q16": -100 * 65536,
            "gate_hi_q16": 150 * 65536 + 17,
            "log_start": 5_000_000 - 100,
            "log_len": 1000,
            "t": t,
            "n": n,
        }
    )
    # 1 ps slots, the widest detection range
    n = 2500
    t_anchor = -(10**9)
    d = rng.integers(-(2**46) + 1, 2**46, n)
    d[:4] = [-(2**46) + 1, 2**46 - 1, 0, -1]
    segs.append(
        {
            "t_anchor": t_anchor,
            "slot_anchor": -7,
            "period_q16": 1 << 16,
            "gate_lo_q16": -(1 << 15),
            "gate_hi_q16": 1,  # r is always 0 with 1 ps slots
            "log_start": -100,
            "log_len": 1024,
            "t": t_anchor + d,
            "n": n,
        }
    )
    # the longest period; half of the detections within a few slots of the anchor
    n = 2000
    d = rng.integers(-(2**46) + 1, 2**46, n)
    d[: n // 2] = rng.integers(-(2**33), 2**33, n // 2)  # within a few slots of the anchor
    segs.append(
        {
            "t_anchor": 12345,
            "slot_anchor": 2**40,
            "period_q16": (1 << 47) - 1,
            "gate_lo_q16": -(2**45),
            "gate_hi_q16": 2**44,
            "log_start": 2**40 - 2,
            "log_len": 5,
            "t": 12345 + d,
            "n": n,
        }
    )
    for s in segs:
        n = s["n"]
        s["ch"] = rng.integers(-3, 260, n).astype(np.int16)
        s["ch"][: n // 2] = rng.integers(0, 6, n // 2)  # mostly real channels
        chmap = rng.integers(0, 256, 256).astype(np.uint8)
        chmap[:6] = [0, 0x80, 0x81, 0x82, 0x83, 0x7F]  # detectors on 1..4, junk bits on 5
        s["chmap"] = chmap
        s["log"] = rng.integers(0, 256, s["log_len"]).astype(np.uint8)
    return segs


def make_vectors(seed: int, reference=None) -> tuple[dict, list[dict]]:
    if reference is None:
        from postproc.sift.kernel import sift_kernel as reference
    vec, cfgs = {}, []
    for i, s in enumerate(segments(seed)):
        cfg = {
            k: s[k]
            for k in (
                "t_anchor",
                "slot_anchor",
                "period_q16",
                "gate_lo_q16",
                "gate_hi_q16",
                "log_start",
                "log_len",
            )
        }
        slot, flags = reference(
            s["t"],
            s["ch"],
            alice_log=s["log"],
            chmap=s["chmap"],
            **{k: v for k, v in cfg.items() if k != "log_len"},
        )
        cfgs.append({k: int(v) for k, v in cfg.items()})
        vec.update(
            {
                f"t{i}": s["t"],
                f"ch{i}": s["ch"],
                f"chmap{i}": s["chmap"],
                f"log{i}": s["log"],
                f"slot{i}": slot,
                f"flags{i}": flags,
            }
        )
    return vec, cfgs


# --------------------------------------------------------------------------- cocotb


async def _configure(dut, cfg, chmap, log):
    from cocotb.triggers import RisingEdge

    for name in (
        "t_anchor",
        "slot_anchor",
        "period_q16",
        "gate_lo_q16",
        "gate_hi_q16",
        "log_start",
    ):
        getattr(dut, f"cfg_{name}").value = cfg[name] & (
            M64 if name != "period_q16" else (1 << 48) - 1
        )
    dut.cfg_log_len.value = cfg["log_len"]
    dut.cfg_chmap_we.value = 1
    for a in range(256):
        dut.cfg_chmap_addr.value = a
        dut.cfg_chmap_data.value = int(chmap[a])
        await RisingEdge(dut.clk)
    dut.cfg_chmap_we.value = 0
    dut.cfg_log_we.value = 1
    for a in range(len(log)):
        dut.cfg_log_addr.value = a
        dut.cfg_log_data.value = int(log[a])
        await RisingEdge(dut.clk)
    dut.cfg_log_we.value = 0


async def _run(dut, t, ch, slot, flags, rng, p_gap, p_stall):
    src = AxisSource(dut, "s_axis", rng=rng, p_gap=p_gap)
    snk = AxisSink(dut, "m_axis", ("tdata", "tuser"), rng=rng, p_stall=p_stall)
    await reset(dut)
    snk.start()
    words = [((int(c) & 0xFFFF) << 64) | (int(x) & M64) for x, c in zip(t, ch, strict=True)]
    await src.send({"tdata": words})
    await snk.wait_for(len(words), timeout_cycles=20 * len(words) + 200)
    snk.stop()
    assert_equal("slot", snk.column("tdata"), [int(s) & M64 for s in slot])
    assert_equal("flags", snk.column("tuser"), [int(f) for f in flags])
    return src, snk


@cocotb.test()
async def bench_sifter(dut):
    p = bench_params()
    v = bench_vectors()
    rng = random.Random(p["seed"])
    dut.cfg_chmap_we.value = 0
    dut.cfg_log_we.value = 0
    start_clock(dut)
    items = 0
    cpi = None
    for i, cfg in enumerate(p["segments"]):
        await _configure(dut, cfg, v[f"chmap{i}"], v[f"log{i}"])
        args = (v[f"t{i}"], v[f"ch{i}"], v[f"slot{i}"], v[f"flags{i}"])
        await _run(dut, *args, rng, p_gap=0.3, p_stall=0.3)
        items += len(v[f"t{i}"])
        if i == 0:  # throughput: no gaps, no back-pressure
            src, snk = await _run(dut, *(a[:2000] for a in args), rng, p_gap=0.0, p_stall=0.0)
            cpi = cycles_per_item(src, snk, 2000)
    write_metrics({"cycles_per_item": cpi, "items": items})


# --------------------------------------------------------------------------- pytest


def run_sifter_bench(build, seed=5, *, reference=None, sources=None):
    vec, cfgs = make_vectors(seed, reference=reference)
    return run_bench(
        "sifter",
        "tb.test_sifter",
        build,
        parameters={"QW": 47, "LOGW": LOGW},
        settings={"seed": seed, "segments": cfgs},
        vectors=vec,
        sources=sources,
    )


def test_sifter():
    m = run_sifter_bench("sifter")
    assert m["items"] >= 10_000
    assert m["cycles_per_item"] < 1.05
