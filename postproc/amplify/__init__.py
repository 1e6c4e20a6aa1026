"""Privacy amplification by Toeplitz hashing.

See :mod:`postproc.amplify.toeplitz` for the seed/matrix convention and bit order (shared with
the Verilog ``toeplitz`` block) and :mod:`postproc.amplify.additive_fft` for the exact fast path.
"""

from postproc.amplify.toeplitz import (
    privacy_amplify,
    seed_bits_needed,
    toeplitz_hash,
    toeplitz_matrix,
    toeplitz_reference,
    toeplitz_seed,
)

__all__ = [
    "privacy_amplify",
    "seed_bits_needed",
    "toeplitz_hash",
    "toeplitz_matrix",
    "toeplitz_reference",
    "toeplitz_seed",
]
