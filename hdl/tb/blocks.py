"""The blocks of hdl/rtl as `make synth` and the README table see them.

Per block: ``params()`` gives the parameters synthesised (the same set as one bench build, whose
folder under hdl/build holds the metrics.json with its cycles per item), what one item is, and the
reference function its bench compares against. ``ice40: False`` skips the nextpnr fmax run.
"""

from __future__ import annotations


def _syndrome_params() -> dict:
    from tb.test_syndrome import CODES, constructed_base, shifts_param

    _, Z, MB, NB, _, _ = next(c for c in CODES if c[0] == BLOCKS["syndrome"]["bench_build"])
    sw = max(1, Z.bit_length())
    base = constructed_base(MB, NB, Z, seed=Z * 1000 + NB)
    shifts = f"{MB * NB * sw}'h{shifts_param(base, sw):x}"  # sized: lint checks the width
    return {"Z": Z, "MB": MB, "NB": NB, "SW": sw, "SHIFTS": shifts}


def _ldpc_params() -> dict:
    from tb.test_ldpc_decoder import SETS, base_of, hdl_params

    _, Z, mb, nb, seed, dec, _, _ = next(
        s for s in SETS if s[0] == BLOCKS["ldpc_decoder"]["bench_build"]
    )
    return hdl_params(base_of(Z, mb, nb, seed), Z, dec)


BLOCKS: dict[str, dict] = {
    "sifter": {
        "params": {"QW": 47, "LOGW": 10},
        "bench_build": "sifter",
        "item": "detection",
        "reference": "postproc.sift.kernel.sift_kernel",
    },
    "tag_decoder": {
        "params": {"LAYOUT": 2},
        "bench_build": "tag_decoder_hydraharp2",
        "item": "32-bit record",
        "reference": "postproc.formats.pq_kernels.decode_t2_words",
    },
    "ldpc_decoder": {
        "params": _ldpc_params,
        "bench_build": "ldpc_z8_4x8_nms",
        "item": "LLR, at the bench's mean iterations",
        "reference": "postproc.reconcile.decoder.decode_layered_fixed",
        "show": ["Z", "MB", "NB", "PB", "MBITS", "MAX_ITER"],
    },
    "frame_codec": {
        "params": {},
        "bench_build": "frame_codec",
        "item": "byte, encoder; decoder 1.0",
        "metric": "enc_cycles_per_byte",
        "reference": "hil.codec.encode_frame / decode_frame",
    },
    "toeplitz": {
        "params": {"W": 32, "L": 64},
        "bench_build": "toeplitz_w32_l64",
        "item": "W-bit key beat",
        "reference": "postproc.amplify.toeplitz.toeplitz_reference",
    },
    "syndrome": {
        "params": _syndrome_params,
        "bench_build": "syndrome_z32_built_3x12",
        "item": "Z-bit block column",
        "reference": "postproc.reconcile.qc.qc_syndrome",
        "show": ["Z", "MB", "NB"],
    },
    "uart": {
        "params": {"CLKS_PER_BIT": 4},
        "bench_build": "uart_c4",
        "item": "byte = 10 * CLKS_PER_BIT, both directions",
        "metric": "tx_cycles_per_byte",
        "reference": "hil.uart.uart_tx_line / uart_rx_bytes",
    },
}
