"""Bench of hdl/rtl/syndrome.v against postproc.reconcile.qc.qc_syndrome.

Each parameter set is one QC code: random exponent matrices (zero blocks, shifts 0 and Z-1, an
all-zero block row and block column included) and one code of the project's own construction.
Frames are random (random bit densities) plus all-zero, all-one and single-bit frames; every
output beat (one Z-bit syndrome block) is compared with the reference, and cycles per block
column are measured without gaps or back-pressure.
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


def random_base(mb: int, nb: int, Z: int, seed: int) -> np.ndarray:
    """Random exponent matrix with the edge cases the RTL must handle."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, Z, size=(mb, nb))
    base[rng.random((mb, nb)) < 0.4] = -1
    base[0, 0] = 0
    base[-1, -1] = Z - 1
    if mb > 2:
        base[1, :] = -1  # a block row with no entries: its syndrome is always zero
    if nb > 3:
        base[:, 2] = -1  # a block column no check touches
    return base.astype(np.int32)


def constructed_base(mb: int, nb: int, Z: int, seed: int) -> np.ndarray:
    from postproc.reconcile.construct import build_code

    return build_code("hdl-bench", nb, mb, Z, seed).base


def shifts_param(base: np.ndarray, sw: int) -> int:
    """Pack the exponent matrix into the RTL's SHIFTS parameter (entry + 1, 0 = zero block)."""
    v = 0
    for k, e in enumerate(base.ravel()):
        v |= (int(e) + 1) << (k * sw)
    return v


def random_frames(n: int, n_frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.random((n_frames, n)) < rng.random((n_frames, 1))).astype(np.uint8)
    x[0] = 0
    x[1] = 1
    for k in range(2, min(n_frames, 2 + n)):  # single-bit frames walk over every position
        x[k] = 0
        x[k, k - 2] = 1
    return x


# --------------------------------------------------------------------------- cocotb


async def _run(dut, frames, want, p, rng, p_gap, p_stall):
    Z, MB = p["Z"], p["MB"]
    n_frames = frames.shape[0]
    src = AxisSource(dut, "s_axis", rng=rng, p_gap=p_gap)
    snk = AxisSink(dut, "m_axis", ("tdata", "tlast"), rng=rng, p_stall=p_stall)
    await reset(dut)
    snk.start()
    ins = words_of(frames, Z)
    await src.send({"tdata": ins})
    await snk.wait_for(n_frames * MB, timeout_cycles=50 * len(ins) + 100)
    snk.stop()
    assert_equal("syndrome blocks", snk.column("tdata"), words_of(want, Z))
    assert_equal("tlast", snk.column("tlast"), ([0] * (MB - 1) + [1]) * n_frames)
    return src, snk, len(ins)


@cocotb.test()
async def bench_syndrome(dut):
    p = bench_params()
    v = bench_vectors()
    rng = random.Random(p["seed"])
    start_clock(dut)
    await _run(dut, v["frames"], v["syndromes"], p, rng, p_gap=0.3, p_stall=0.3)
    # throughput: no gaps, no back-pressure
    k = min(200, v["frames"].shape[0])
    src, snk, n_items = await _run(
        dut, v["frames"][:k], v["syndromes"][:k], p, rng, p_gap=0.0, p_stall=0.0
    )
    write_metrics(
        {
            "cycles_per_item": cycles_per_item(src, snk, n_items),
            "items": v["frames"].shape[0] * p["NB"],
        }
    )


# --------------------------------------------------------------------------- pytest

# (build name, Z, MB, NB, exponent matrix builder, frames): >= 10^4 block columns per set
CODES = [
    ("syndrome_z8_3x6", 8, 3, 6, random_base, 1700),
    ("syndrome_z16_4x12", 16, 4, 12, random_base, 850),
    ("syndrome_z5_1x2", 5, 1, 2, random_base, 5000),
    ("syndrome_z32_built_3x12", 32, 3, 12, constructed_base, 850),
]


def run_syndrome_bench(build, Z, MB, NB, make_base, n_frames, *, reference=None, sources=None):
    """Build and run one parameter set; ``reference``/``sources`` swap in a broken reference or
    RTL copy (see test_mutation.py)."""
    from postproc.reconcile.qc import qc_syndrome

    reference = reference or qc_syndrome
    base = make_base(MB, NB, Z, seed=Z * 1000 + NB)
    frames = random_frames(NB * Z, n_frames, seed=Z + NB)
    sw = max(1, int(Z).bit_length())
    params = {"Z": Z, "MB": MB, "NB": NB, "SW": sw, "SHIFTS": shifts_param(base, sw)}
    return run_bench(
        "syndrome",
        "tb.test_syndrome",
        build,
        parameters=params,
        settings={"seed": Z + MB + NB},
        vectors={"frames": frames, "syndromes": reference(base, Z, frames)},
        sources=sources,
    )


@pytest.mark.parametrize(
    ("build", "Z", "MB", "NB", "make_base", "n_frames"), CODES, ids=[c[0] for c in CODES]
)
def test_syndrome(build, Z, MB, NB, make_base, n_frames):
    m = run_syndrome_bench(build, Z, MB, NB, make_base, n_frames)
    assert m["items"] >= 10_000
    # one block column per cycle once the pipeline is full
    assert m["cycles_per_item"] < 1.1
