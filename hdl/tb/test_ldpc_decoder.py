"""Bench of hdl/rtl/ldpc_decoder.v against postproc.reconcile.decoder.decode_layered_fixed.

Small QC codes of the project's construction (so that Icarus stays fast). Alice's frames are
random, Bob's LLRs come from her bits through a binary symmetric channel at a QBER where some
frames fail to converge, scaled beyond the posterior range so that the input saturation is
exercised; a few frames carry all-zero LLRs, extreme LLRs or random integers over the whole input
width. Per frame the RTL's hard decisions, iteration count and success flag must equal the
reference's; cycles are measured without gaps or back-pressure.
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


def code_params(base: np.ndarray, Z: int) -> dict:
    """The RTL's entry-list parameters of an exponent matrix (row-major nonzero blocks)."""
    mb, nb = base.shape
    ii, jj = np.nonzero(base >= 0)
    deg = np.bincount(ii, minlength=mb)
    assert deg.min() >= 1, "every block row needs an entry"
    cw = max(1, (nb - 1).bit_length())
    sw = max(1, (Z - 1).bit_length())
    col = sh = last = 0
    ends = set(np.cumsum(deg) - 1)
    for e, (i, j) in enumerate(zip(ii, jj, strict=True)):
        col |= int(j) << (e * cw)
        sh |= int(base[i, j]) << (e * sw)
        last |= int(e in ends) << e
    return {
        "Z": Z,
        "MB": mb,
        "NB": nb,
        "N_ENT": len(ii),
        "DMAX": int(deg.max()),
        "CW": cw,
        "SW": sw,
        "ENT_COL": col,
        "ENT_SH": sh,
        "ENT_LAST": last,
    }


def llrs_as_words(llr: np.ndarray, Z: int, iw: int) -> list[int]:
    """Frames x n signed LLRs -> beats of Z IW-bit two's complement elements."""
    u = (llr.reshape(-1, Z).astype(np.int64) & ((1 << iw) - 1)).astype(object)
    w = [1 << (iw * r) for r in range(Z)]
    return [int(sum(int(v) * s for v, s in zip(row, w, strict=True))) for row in u]


def make_vectors(base, Z, dec, n_frames, qber, seed, reference=None):
    from postproc.reconcile.decoder import channel_llr, decode_layered_fixed
    from postproc.reconcile.qc import qc_syndrome

    reference = reference or decode_layered_fixed
    rng = np.random.default_rng(seed)
    n = base.shape[1] * Z
    iw = dec["PB"] + 2
    x = rng.integers(0, 2, (n_frames, n), dtype=np.uint8)
    y = x ^ (rng.random((n_frames, n)) < qber).astype(np.uint8)
    llr = np.rint(channel_llr(y, qber) * dec["scale"]).astype(np.int64)
    lim = (1 << (iw - 1)) - 1
    llr[0] = 0  # no information at all
    llr[1] = np.where(y[1] != 0, -lim - 1, lim)  # the input range's extremes
    llr[2] = rng.integers(-lim - 1, lim + 1, n)  # anything
    synd = qc_syndrome(base, Z, x)
    hard, iters, ok = reference(
        base,
        Z,
        llr,
        synd,
        max_iter=dec["MAX_ITER"],
        post_bits=dec["PB"],
        msg_bits=dec["MBITS"],
        norm_num=dec["NORM_NUM"],
        norm_shift=dec["NORM_SHIFT"],
        offset=dec["OFFSET"],
    )
    return {"llr": llr, "synd": synd, "hard": hard, "iters": iters, "ok": ok.astype(np.uint8)}


# --------------------------------------------------------------------------- cocotb


async def _run(dut, v, p, rng, p_gap, p_stall):
    Z, NB, MB, iw = p["Z"], p["NB"], p["MB"], p["IW"]
    n_frames = v["llr"].shape[0]
    synd = AxisSource(dut, "s_axis_synd", rng=rng, p_gap=p_gap)
    llr = AxisSource(dut, "s_axis_llr", rng=rng, p_gap=p_gap)
    snk = AxisSink(dut, "m_axis", ("tdata", "tlast", "tuser"), rng=rng, p_stall=p_stall)
    await reset(dut)
    snk.start()
    task = cocotb.start_soon(synd.send({"tdata": words_of(v["synd"], Z)}))
    await llr.send({"tdata": llrs_as_words(v["llr"], Z, iw)})
    await task
    await snk.wait_for(n_frames * NB, timeout_cycles=n_frames * (4 * MB * NB * p["MAX_ITER"] + 50))
    snk.stop()
    assert_equal("hard decisions", snk.column("tdata"), words_of(v["hard"], Z))
    assert_equal("tlast", snk.column("tlast"), ([0] * (NB - 1) + [1]) * n_frames)
    itw = p["ITW"]
    user = snk.column("tuser")[NB - 1 :: NB]
    assert_equal("iterations", [u & ((1 << itw) - 1) for u in user], v["iters"].tolist())
    assert_equal("converged", [u >> itw for u in user], v["ok"].tolist())
    return llr, snk


@cocotb.test()
async def bench_ldpc_decoder(dut):
    p = bench_params()
    v = bench_vectors()
    rng = random.Random(p["seed"])
    start_clock(dut)
    await _run(dut, v, p, rng, p_gap=0.3, p_stall=0.3)
    k = 30
    head = {key: a[:k] for key, a in v.items()}
    src, snk = await _run(dut, head, p, rng, p_gap=0.0, p_stall=0.0)
    cycles = snk.cycles[-1] - src.cycles[0] + 1
    n_llr = v["llr"].shape[0] * v["llr"].shape[1]
    write_metrics(
        {
            "cycles_per_item": cycles / (k * p["NB"] * p["Z"]),
            "cycles_per_frame": cycles / k,
            "cycles_per_iteration": cycles / float(head["iters"].sum()),
            "items": n_llr,
            "frames": int(v["llr"].shape[0]),
            "converged": int(v["ok"].sum()),
        }
    )


# --------------------------------------------------------------------------- pytest

# (build, Z, mb, nb, code seed, decoder settings, frames, QBER)
DEC_A = {
    "PB": 8,
    "MBITS": 6,
    "NORM_NUM": 3,
    "NORM_SHIFT": 2,
    "OFFSET": 0,
    "MAX_ITER": 12,
    "scale": 4.0,
}
DEC_B = {
    "PB": 6,
    "MBITS": 4,
    "NORM_NUM": 1,
    "NORM_SHIFT": 0,
    "OFFSET": 1,
    "MAX_ITER": 8,
    "scale": 3.0,
}
SETS = [
    ("ldpc_z8_4x8_nms", 8, 4, 8, 1, DEC_A, 160, 0.06),
    ("ldpc_z16_3x6_oms", 16, 3, 6, 2, DEC_B, 105, 0.05),
]


def base_of(Z: int, mb: int, nb: int, seed: int) -> np.ndarray:
    from postproc.reconcile.construct import build_code

    return build_code("hdl-bench", nb, mb, Z, seed).base


def hdl_params(base: np.ndarray, Z: int, dec: dict) -> dict:
    keys = ("PB", "MBITS", "NORM_NUM", "NORM_SHIFT", "OFFSET", "MAX_ITER")
    return {**code_params(base, Z), **{k: dec[k] for k in keys}, "IW": dec["PB"] + 2, "ITW": 8}


def run_ldpc_bench(
    build, Z, mb, nb, code_seed, dec, n_frames, qber, *, reference=None, sources=None
):
    base = base_of(Z, mb, nb, code_seed)
    params = hdl_params(base, Z, dec)
    return run_bench(
        "ldpc_decoder",
        "tb.test_ldpc_decoder",
        build,
        parameters=params,
        settings={"seed": code_seed, **params},
        vectors=make_vectors(base, Z, dec, n_frames, qber, seed=code_seed, reference=reference),
        sources=sources,
    )


@pytest.mark.parametrize(
    ("build", "Z", "mb", "nb", "code_seed", "dec", "n_frames", "qber"),
    SETS,
    ids=[s[0] for s in SETS],
)
def test_ldpc_decoder(build, Z, mb, nb, code_seed, dec, n_frames, qber):
    m = run_ldpc_bench(build, Z, mb, nb, code_seed, dec, n_frames, qber)
    assert m["items"] >= 10_000
    assert 0 < m["converged"] < m["frames"]  # both outcomes exercised


@pytest.mark.slow
def test_ldpc_decoder_larger_code():
    """A code closer to production size (n = 384, rate 2/3), fewer frames: excluded from CI."""
    dec = {**DEC_A, "MAX_ITER": 20}
    m = run_ldpc_bench("ldpc_z32_4x12_nms", 32, 4, 12, 3, dec, 30, 0.03)
    assert m["converged"] > 0
