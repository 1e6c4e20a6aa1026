"""Error correction: QC-LDPC codes, layered min-sum decoders (float and fixed point), blind
rate-adaptive syndrome reconciliation, and Cascade as the interactive baseline.

Hardware references (the Verilog twins are checked bit-exact against them):
:func:`postproc.reconcile.qc.qc_syndrome` and
:func:`postproc.reconcile.decoder.decode_layered_fixed`.
"""

from postproc.reconcile.blind import (
    BobReply,
    ReconcileConfig,
    RevealMsg,
    SyndromeMsg,
    alice_finish,
    alice_reveal,
    alice_start,
    bob_continue,
    bob_finish,
    bob_start,
    choose_layout,
    reconcile_local,
)
from postproc.reconcile.decoder import (
    channel_llr,
    decode_layered_fixed,
    decode_minsum,
    quantize_llr,
)
from postproc.reconcile.family import family_codes, get_code
from postproc.reconcile.qc import QCCode, qc_syndrome

__all__ = [
    "BobReply",
    "QCCode",
    "ReconcileConfig",
    "RevealMsg",
    "SyndromeMsg",
    "alice_finish",
    "alice_reveal",
    "alice_start",
    "bob_continue",
    "bob_finish",
    "bob_start",
    "channel_llr",
    "choose_layout",
    "decode_layered_fixed",
    "decode_minsum",
    "family_codes",
    "get_code",
    "qc_syndrome",
    "quantize_llr",
    "reconcile_local",
]
