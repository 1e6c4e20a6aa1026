"""Verification of a reconciled block: Alice sends a fresh hash seed and her tag, Bob compares.

The hash is the Hankel/Toeplitz family of :mod:`postproc.protocol.uhash` with
``t = ceil(log2(1/eps_cor))`` output bits. For any two different n-bit strings its collision
probability over the seed is exactly ``2^-t <= eps_cor`` (proof in ``uhash``), and the seed is
drawn fresh by Alice after reconciliation, independently of both strings. So if Bob's corrected key
differs from Alice's, it passes with probability at most eps_cor: the protocol is
eps_cor-correct.

Leakage: the t tag bits and the one-bit pass/fail outcome go into the block's
:class:`~postproc.ledger.LeakageLedger` on both sides (kinds ``verification_tag`` and
``verification_outcome``); the seed is independent of the key and leaks nothing. A failed block is
discarded by the caller and counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from postproc.errors import ConfigError, ProtocolError
from postproc.ledger import LeakageLedger
from postproc.protocol.codec import message
from postproc.protocol.uhash import toeplitz_hash, toeplitz_seed_bits


@message(10)
@dataclass(frozen=True)
class VerifyRequest:
    """Alice -> Bob: the seed (n + t - 1 bits, packed) and Alice's t-bit tag of her n-bit key."""

    block: int
    n_bits: int
    tag_bits: int
    seed: np.ndarray  # uint8, packed little-endian
    tag: bytes


@message(11)
@dataclass(frozen=True)
class VerifyResult:
    """Bob -> Alice: whether Bob's tag matched."""

    block: int
    ok: bool


def tag_bits_for(eps_cor: float) -> int:
    """Smallest t with 2^-t <= eps_cor, i.e. t = ceil(log2(1/eps_cor)) computed exactly."""
    if not 0.0 < eps_cor < 1.0:
        raise ConfigError(f"eps_cor must be in (0, 1), got {eps_cor}")
    t = max(1, math.ceil(-math.log2(eps_cor)))
    while 2.0**-t > eps_cor:  # guard the float log against rounding down
        t += 1
    while t > 1 and 2.0 ** -(t - 1) <= eps_cor:
        t -= 1
    return t


def verification_tag(key_packed: np.ndarray, n_bits: int, seed: np.ndarray, t: int) -> bytes:
    return toeplitz_hash(key_packed, n_bits, seed, t)


def alice_request(
    block: int,
    key_packed: np.ndarray,
    n_bits: int,
    eps_cor: float,
    rng: np.random.Generator,
    ledger: LeakageLedger,
) -> VerifyRequest:
    """Draw a fresh seed, hash Alice's key, and count the tag as leakage."""
    t = tag_bits_for(eps_cor)
    n_seed = (toeplitz_seed_bits(n_bits, t) + 7) // 8
    seed = rng.integers(0, 256, n_seed, dtype=np.uint8)
    tag = verification_tag(key_packed, n_bits, seed, t)
    ledger.add("verification_tag", t)
    return VerifyRequest(block, n_bits, t, seed, tag)


def bob_check(
    request: VerifyRequest,
    block: int,
    key_packed: np.ndarray,
    n_bits: int,
    eps_cor: float,
    ledger: LeakageLedger,
) -> VerifyResult:
    """Compare Bob's tag with Alice's; count the tag and the outcome as leakage."""
    t = tag_bits_for(eps_cor)
    if request.block != block:
        raise ProtocolError(f"VerifyRequest.block is {request.block}, this side is in {block}")
    if request.n_bits != n_bits:
        raise ProtocolError(
            f"VerifyRequest.n_bits is {request.n_bits}, Bob's reconciled block has {n_bits} bits"
        )
    if request.tag_bits != t:
        raise ProtocolError(
            f"VerifyRequest.tag_bits is {request.tag_bits}, eps_cor={eps_cor:g} needs {t} "
            "(the parties disagree on eps_cor)"
        )
    if 8 * request.seed.shape[0] < toeplitz_seed_bits(n_bits, t) or request.seed.dtype != np.uint8:
        raise ProtocolError("VerifyRequest.seed is too short or not uint8")
    if len(request.tag) != (t + 7) // 8:
        raise ProtocolError(
            f"VerifyRequest.tag has {len(request.tag)} bytes, expected {(t + 7) // 8}"
        )
    ok = verification_tag(key_packed, n_bits, request.seed, t) == request.tag
    ledger.add("verification_tag", t)
    ledger.add("verification_outcome", 1)
    return VerifyResult(block, bool(ok))


def alice_outcome(result: VerifyResult, block: int, ledger: LeakageLedger) -> bool:
    """Record the outcome Bob announced (1 bit of leakage) and return it."""
    if result.block != block:
        raise ProtocolError(f"VerifyResult.block is {result.block}, this side is in {block}")
    ledger.add("verification_outcome", 1)
    return result.ok
