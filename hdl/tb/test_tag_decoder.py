"""Bench of hdl/rtl/tag_decoder.v against postproc.formats.pq_kernels.decode_t2_words.

Per layout (PicoHarp T2, HydraHarp V1 T2, HydraHarp V2 T2) a stream of random records mixing
photons (all-zero and all-one time fields included), overflow records (count 0, 1 and the
25-bit maximum, which carries the 64-bit base far past 32 bits), syncs, markers and invalid
special records; every decoded (time, channel, kind) must equal the reference's.
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

LAYOUTS = {"picoharp": 0, "hydraharp1": 1, "hydraharp2": 2}


def random_records(layout: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kind = rng.choice(5, size=n, p=[0.6, 0.15, 0.1, 0.1, 0.05])
    if layout == "picoharp":
        tt = rng.integers(0, 1 << 28, n, dtype=np.uint64)
        tt[::97] = 0
        tt[1::97] = (1 << 28) - 1
        ch = rng.integers(0, 5, n, dtype=np.uint64)
        ch[kind == 4] = rng.integers(5, 15, int((kind == 4).sum()), dtype=np.uint64)
        special = (kind == 1) | (kind == 2) | (kind == 3)
        ch[special] = 15
        tt[kind == 1] &= ~np.uint64(0xF)  # marker mask 0 = overflow
        mark = (kind == 2) | (kind == 3)
        tt[mark] = (tt[mark] & ~np.uint64(0xF)) | rng.integers(
            1, 16, int(mark.sum()), dtype=np.uint64
        )
        return ((ch << np.uint64(28)) | tt).astype(np.uint32)
    tt = rng.integers(0, 1 << 25, n, dtype=np.uint64)
    tt[::97] = 0
    tt[1::97] = (1 << 25) - 1
    ch = rng.integers(0, 64, n, dtype=np.uint64)
    sp = np.zeros(n, dtype=np.uint64)
    ofl = kind == 1
    sp[ofl] = 1
    ch[ofl] = 63
    small = rng.random(n) < 0.7  # mostly small overflow counts, some 0 and some huge
    tt[ofl & small] = rng.integers(0, 3, int((ofl & small).sum()), dtype=np.uint64)
    sp[kind == 2] = 1
    ch[kind == 2] = rng.integers(1, 16, int((kind == 2).sum()), dtype=np.uint64)
    sp[kind == 3] = 1
    ch[kind == 3] = 0
    sp[kind == 4] = 1
    ch[kind == 4] = rng.integers(16, 63, int((kind == 4).sum()), dtype=np.uint64)
    return ((sp << np.uint64(31)) | (ch << np.uint64(25)) | tt).astype(np.uint32)


# --------------------------------------------------------------------------- cocotb


async def _run(dut, v, rng, p_gap, p_stall):
    src = AxisSource(dut, "s_axis", rng=rng, p_gap=p_gap)
    snk = AxisSink(dut, "m_axis", ("tdata", "tuser"), rng=rng, p_stall=p_stall)
    await reset(dut)
    snk.start()
    n = len(v["words"])
    await src.send({"tdata": v["words"].tolist()})
    await snk.wait_for(n, timeout_cycles=20 * n + 100)
    snk.stop()
    assert_equal("time", snk.column("tdata"), v["time"].tolist())
    user = snk.column("tuser")
    assert_equal("channel", [u & 0xFF for u in user], v["channel"].tolist())
    assert_equal("kind", [u >> 8 for u in user], v["kind"].tolist())
    return src, snk, n


@cocotb.test()
async def bench_tag_decoder(dut):
    p = bench_params()
    v = bench_vectors()
    rng = random.Random(p["seed"])
    start_clock(dut)
    _, _, n = await _run(dut, v, rng, p_gap=0.3, p_stall=0.3)
    head = {k: a[:2000] for k, a in v.items()}
    src, snk, m = await _run(dut, head, rng, p_gap=0.0, p_stall=0.0)
    write_metrics(
        {
            "cycles_per_item": cycles_per_item(src, snk, m),
            "items": n,
            "max_time": int(v["time"].max()),
        }
    )


# --------------------------------------------------------------------------- pytest


def run_tag_decoder_bench(build, layout, n=10_000, *, reference=None, sources=None):
    if reference is None:
        from postproc.formats.pq_kernels import decode_t2_words as reference
    words = random_records(layout, n, seed=LAYOUTS[layout] + 11)
    time, channel, kind, _ = reference(words, layout)
    return run_bench(
        "tag_decoder",
        "tb.test_tag_decoder",
        build,
        parameters={"LAYOUT": LAYOUTS[layout]},
        settings={"seed": LAYOUTS[layout]},
        vectors={"words": words, "time": time, "channel": channel, "kind": kind},
        sources=sources,
    )


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_tag_decoder(layout):
    m = run_tag_decoder_bench(f"tag_decoder_{layout}", layout)
    assert m["items"] >= 10_000
    if layout == "hydraharp2":
        assert m["max_time"] > 2**40  # the base really carried past 32 bits
    assert m["cycles_per_item"] < 1.05
