"""A bench must fail when its RTL or its reference is broken.

Each case copies one RTL file into hdl/build, changes one line (an operator, a constant), runs
the block's bench on the copy and asserts that it fails; the reference cases run the unchanged
RTL against a deliberately broken variant of the reference function.
"""

from __future__ import annotations

import numpy as np
import pytest

from tb.axis_bench import BUILD_DIR, RTL_DIR, have_iverilog

pytestmark = [
    pytest.mark.hdl,
    pytest.mark.skipif(not have_iverilog(), reason="Icarus Verilog not installed"),
]


def mutant(block: str, old: str, new: str, tag: str) -> list:
    """Copy hdl/rtl/<block>.v with the single occurrence of ``old`` replaced by ``new``."""
    text = (RTL_DIR / f"{block}.v").read_text()
    assert text.count(old) == 1, f"mutation site {old!r} must occur once in {block}.v"
    path = BUILD_DIR / f"mutant_{block}_{tag}" / f"{block}.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace(old, new))
    return [path]


def _syndrome(**kw):
    from tb.test_syndrome import random_base, run_syndrome_bench

    return run_syndrome_bench(kw.pop("build"), 8, 3, 6, random_base, 60, **kw)


def _rotated_reference(base, Z, frames):
    """qc_syndrome with every shift off by one: the kind of slip a reference could make."""
    from postproc.reconcile.qc import qc_syndrome

    return qc_syndrome(np.where(base >= 0, (base + 1) % Z, -1), Z, frames)


def _toeplitz(**kw):
    from tb.test_toeplitz import run_toeplitz_bench

    return run_toeplitz_bench(kw.pop("build"), 8, 13, 300, **kw)


def _toeplitz_reference_transposed(key_bits, seed_bits, out_bits):
    """toeplitz_reference with the seed read backwards (T[i, j] = r[i - j + n - 1]): the
    transposed diagonal convention, a classic mix-up between Toeplitz conventions."""
    from postproc.amplify.toeplitz import toeplitz_reference

    return toeplitz_reference(key_bits, np.ascontiguousarray(seed_bits[::-1]), out_bits)


def _frame_codec(**kw):
    from tb.test_frame_codec import run_frame_codec_bench

    return run_frame_codec_bench(kw.pop("build"), 3000, **kw)


def _ldpc(**kw):
    from tb.test_ldpc_decoder import DEC_A, run_ldpc_bench

    return run_ldpc_bench(kw.pop("build"), 8, 4, 8, 1, DEC_A, 25, 0.06, **kw)


def _tag_decoder(**kw):
    from tb.test_tag_decoder import run_tag_decoder_bench

    return run_tag_decoder_bench(kw.pop("build"), "hydraharp2", 2000, **kw)


def _uart(**kw):
    from tb.test_uart import run_uart_bench

    return run_uart_bench(kw.pop("build"), 4, 800, **kw)


def _sifter(**kw):
    from tb.test_sifter import run_sifter_bench

    return run_sifter_bench(kw.pop("build"), **kw)


# case -> runs the bench in the given build folder
CASES = {
    "syndrome_xor_to_or": lambda build: _syndrome(
        build=build,
        sources=mutant("syndrome", "acc <= acc ^ contrib;", "acc <= acc | contrib;", "or"),
    ),
    # rotate left instead of right
    "syndrome_rotation_direction": lambda build: _syndrome(
        build=build,
        sources=mutant("syndrome", "twice[E-1 +: Z]", "twice[(Z-E+1)%Z +: Z]", "rot"),
    ),
    "syndrome_broken_reference": lambda build: _syndrome(build=build, reference=_rotated_reference),
    # window off by one seed bit
    "toeplitz_window_offset": lambda build: _toeplitz(
        build=build, sources=mutant("toeplitz", "& sbuf[L-1-i +: W]", "& sbuf[L-i +: W]", "win")
    ),
    # CRC byte fed into the wrong end of the register
    "frame_codec_crc_byte_lane": lambda build: _frame_codec(
        build=build,
        sources=mutant(
            "frame_codec",
            "crc_out = crc_in ^ {24'd0, data};",
            "crc_out = crc_in ^ {data, 24'd0};",
            "crc",
        ),
    ),
    # check-to-bit sign from the full parity, forgetting to take out the bit's own sign
    # (the tie rule of the first minimum is no good mutation: on a tie min1 == min2)
    "ldpc_decoder_own_sign": lambda build: _ldpc(
        build=build,
        sources=mutant(
            "ldpc_decoder", "rn = (par[r] ^ q2[PB-1]) ? -g : g;", "rn = par[r] ? -g : g;", "sign"
        ),
    ),
    # an overflow record with count 0 adds nothing instead of one wrap
    "tag_decoder_zero_count": lambda build: _tag_decoder(
        build=build,
        sources=mutant("tag_decoder", "? (64'd1 << 25) :", "? 64'd0 :", "zero"),
    ),
    # the remainder of a negative x taken as if x were positive
    "sifter_negative_remainder": lambda build: _sifter(
        build=build,
        sources=mutant("sifter", "wire [63:0] rr  = neg[QW] ?", "wire [63:0] rr  = 1'b0 ?", "neg"),
    ),
    # no glitch check: a high start sample still starts a byte
    "uart_no_glitch_rejection": lambda build: _uart(
        build=build,
        sources=mutant("uart", "if (rx_sync)                 // start", "if (1'b0) // start", "gl"),
    ),
    "toeplitz_broken_reference": lambda build: _toeplitz(
        build=build, reference=_toeplitz_reference_transposed
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bench_fails_on_broken_rtl_or_reference(case):
    build = f"mutant_{case}_run"
    with pytest.raises(SystemExit):
        CASES[case](build)
    # and it fails for the right reason: a bit-level mismatch with the reference
    results = "".join(x.read_text() for x in (BUILD_DIR / build).glob("*.xml"))
    assert "mismatches" in results


@pytest.mark.parametrize(
    "block", ["syndrome", "toeplitz", "frame_codec", "ldpc_decoder", "tag_decoder", "uart"]
)
def test_unbroken_control_passes(block):
    """The same small runs with the real RTL and reference pass (so the failures above are
    caused by the mutations, not by the small runs). The sifter's mutation runs the full bench
    configuration, whose unmutated run is test_sifter.py."""
    runs = {
        "syndrome": _syndrome,
        "toeplitz": _toeplitz,
        "frame_codec": _frame_codec,
        "ldpc_decoder": _ldpc,
        "tag_decoder": _tag_decoder,
        "uart": _uart,
    }
    runs[block](build=f"mutant_control_{block}")
