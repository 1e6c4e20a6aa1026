"""Parameter estimation: QBER, decoy-state bounds and the finite-key length.

See :mod:`postproc.estimate.bounds` for the conventions and :func:`finite_key` for the key length.
"""

from postproc.estimate.bounds import Conventions
from postproc.estimate.counts import DecoyCounts, tally, tally_alice_log
from postproc.estimate.finite_key import (
    PROTOCOLS,
    FiniteKeyResult,
    finite_key,
    qber_per_intensity,
    qber_total,
)

__all__ = [
    "PROTOCOLS",
    "Conventions",
    "DecoyCounts",
    "FiniteKeyResult",
    "finite_key",
    "qber_per_intensity",
    "qber_total",
    "tally",
    "tally_alice_log",
]
