"""Sifting: clock recovery, offset search, gating, squashing, basis reconciliation (BB84), and
coincidence finding (BBM92)."""

from postproc.sift.bb84 import (
    BobDetections,
    BobSlotter,
    SiftAnnounce,
    SiftedSide,
    SiftReply,
    alice_answer,
    bob_announce,
    bob_sifted,
    error_counts,
)
from postproc.sift.clock import ClockModel, recover_clock
from postproc.sift.kernel import make_chmap, sift_kernel
from postproc.sift.offset import find_offset

__all__ = [
    "BobDetections",
    "BobSlotter",
    "ClockModel",
    "SiftAnnounce",
    "SiftReply",
    "SiftedSide",
    "alice_answer",
    "bob_announce",
    "bob_sifted",
    "error_counts",
    "find_offset",
    "make_chmap",
    "recover_clock",
    "sift_kernel",
]
