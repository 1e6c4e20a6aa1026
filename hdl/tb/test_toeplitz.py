"""Bench of hdl/rtl/toeplitz.v against postproc.amplify.toeplitz.toeplitz_reference.

Keys of random length (multiples of W, from the minimum n = L rounded up to W) with random bit
densities, plus all-zero and all-one keys and seeds; the key and seed streams get independent
random tvalid gaps, the output random back-pressure; the unused high bits of each key's last seed
beat carry junk. Every hash is compared with the bit-serial reference; cycles per W-bit key beat
are measured without gaps or back-pressure.
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
    words_of,
    write_metrics,
)

pytestmark = [
    pytest.mark.hdl,
    pytest.mark.skipif(not have_iverilog(), reason="Icarus Verilog not installed"),
]


def seed_beats(W: int, L: int, k: int) -> int:
    """Seed beats the RTL takes for a key of k beats: k + ceil((L-1)/W)."""
    return k + (L - 1 + W - 1) // W


def make_vectors(W: int, L: int, n_beats: int, seed: int, reference=None) -> dict:
    """Keys and seeds as the RTL streams them, and the reference's hash of each."""
    if reference is None:
        from postproc.amplify.toeplitz import toeplitz_reference as reference
    rng = np.random.default_rng(seed)
    k_min = -(-L // W)
    keys, seeds, hashes, tlast, lengths = [], [], [], [], []
    total = 0
    f = 0
    while total < n_beats:
        k = k_min if f % 5 == 0 else int(rng.integers(k_min, 4 * k_min + 8))
        n = k * W
        p_key, p_seed = rng.random(), rng.random()
        if f < 4:  # all-zero / all-one keys and seeds
            p_key, p_seed = float(f & 1), float(f >> 1)
        x = (rng.random(n) < p_key).astype(np.uint8)
        s_all = (rng.random(seed_beats(W, L, k) * W) < p_seed).astype(np.uint8)
        r = s_all[: n + L - 1]
        s_all[n + L - 1 :] = rng.integers(0, 2, s_all.size - (n + L - 1))  # ignored padding
        keys.append(x)
        seeds.append(s_all)
        hashes.append(np.asarray(reference(x, r, L), dtype=np.uint8))
        tlast.append(np.eye(1, k, k - 1, dtype=np.uint8)[0])
        lengths.append(n)
        total += k
        f += 1
    return {
        "key_bits": np.concatenate(keys),
        "key_tlast": np.concatenate(tlast),
        "seed_bits": np.concatenate(seeds),
        "hashes": np.stack(hashes),
        "key_lengths": np.array(lengths),
    }


# --------------------------------------------------------------------------- cocotb


async def _run(dut, v, W, rng, p_gap, p_stall):
    key = AxisSource(dut, "s_axis", ("tdata", "tlast"), rng=rng, p_gap=p_gap)
    seed = AxisSource(dut, "s_axis_seed", rng=rng, p_gap=p_gap)
    snk = AxisSink(dut, "m_axis", rng=rng, p_stall=p_stall)
    await reset(dut)
    snk.start()
    seed_task = cocotb.start_soon(seed.send({"tdata": words_of(v["seed_bits"], W)}))
    n_beats = len(v["key_tlast"])
    await key.send({"tdata": words_of(v["key_bits"], W), "tlast": v["key_tlast"].tolist()})
    await seed_task
    n_frames = v["hashes"].shape[0]
    await snk.wait_for(n_frames, timeout_cycles=20 * n_beats + 100)
    snk.stop()
    assert_equal("hashes", snk.column("tdata"), words_of(v["hashes"], v["hashes"].shape[1]))
    return key, snk, n_beats


def _head(v: dict, n_frames: int, W: int, L: int) -> dict:
    """The first n_frames keys of a vector set."""
    lengths = v["key_lengths"][:n_frames]
    n_bits = int(lengths.sum())
    n_seed = sum(seed_beats(W, L, int(n) // W) * W for n in lengths)
    return {
        "key_bits": v["key_bits"][:n_bits],
        "key_tlast": v["key_tlast"][: n_bits // W],
        "seed_bits": v["seed_bits"][:n_seed],
        "hashes": v["hashes"][:n_frames],
    }


@cocotb.test()
async def bench_toeplitz(dut):
    p = bench_params()
    v = bench_vectors()
    W, L = p["W"], p["L"]
    rng = random.Random(p["seed"])
    start_clock(dut)
    _, _, n_beats = await _run(dut, v, W, rng, p_gap=0.3, p_stall=0.3)
    # throughput: no gaps, no back-pressure
    key, snk, n = await _run(dut, _head(v, 40, W, L), W, rng, p_gap=0.0, p_stall=0.0)
    write_metrics({"cycles_per_item": cycles_per_item(key, snk, n), "items": n_beats})


# --------------------------------------------------------------------------- pytest

# (build name, W key bits per beat, L output bits): >= 10^4 key beats per set
SIZES = [
    ("toeplitz_w1_l8", 1, 8),
    ("toeplitz_w8_l13", 8, 13),
    ("toeplitz_w8_l1", 8, 1),
    ("toeplitz_w32_l64", 32, 64),
]


def run_toeplitz_bench(build, W, L, n_beats=10_000, *, reference=None, sources=None):
    """Build and run one parameter set; ``reference``/``sources`` swap in a broken reference or
    RTL copy (see test_mutation.py)."""
    return run_bench(
        "toeplitz",
        "tb.test_toeplitz",
        build,
        parameters={"W": W, "L": L},
        settings={"seed": W * 100 + L},
        vectors=make_vectors(W, L, n_beats, seed=W * 100 + L, reference=reference),
        sources=sources,
    )


@pytest.mark.parametrize(("build", "W", "L"), SIZES, ids=[s[0] for s in SIZES])
def test_toeplitz(build, W, L):
    m = run_toeplitz_bench(build, W, L)
    assert m["items"] >= 10_000
    # a key beat per cycle, plus the window refill between keys
    assert m["cycles_per_item"] < 1.5
