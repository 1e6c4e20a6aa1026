"""Verification: equal blocks pass, different blocks fail, tag length and leakage are exact."""

from __future__ import annotations

import numpy as np
import pytest

from postproc.bits import pack_bits
from postproc.errors import ConfigError, ProtocolError
from postproc.ledger import LeakageLedger
from postproc.protocol import codec
from postproc.protocol.verify import (
    VerifyRequest,
    alice_outcome,
    alice_request,
    bob_check,
    tag_bits_for,
)


def test_tag_bits_for_eps_cor() -> None:
    assert tag_bits_for(1e-15) == 50  # 2^-50 = 8.9e-16 <= 1e-15 < 2^-49
    assert tag_bits_for(2.0**-30) == 30
    assert tag_bits_for(0.5) == 1
    assert tag_bits_for(0.3) == 2
    for eps in np.logspace(-40, -1, 97):
        t = tag_bits_for(float(eps))
        assert 2.0**-t <= eps < 2.0 ** -(t - 1)
    with pytest.raises(ConfigError, match="eps_cor"):
        tag_bits_for(0.0)


def _run(alice_bits: np.ndarray, bob_bits: np.ndarray, eps: float, seed: int):
    la, lb = LeakageLedger(), LeakageLedger()
    n = alice_bits.shape[0]
    req = alice_request(4, pack_bits(alice_bits), n, eps, np.random.default_rng(seed), la)
    req = codec.decode(codec.encode(req))  # as it travels
    res = bob_check(req, 4, pack_bits(bob_bits), n, eps, lb)
    ok = alice_outcome(codec.decode(codec.encode(res)), 4, la)
    return ok, res.ok, la, lb


def test_equal_blocks_pass_and_leakage_is_counted_identically() -> None:
    bits = np.random.default_rng(0).integers(0, 2, 100_003, dtype=np.uint8)
    ok_a, ok_b, la, lb = _run(bits, bits.copy(), 1e-12, 1)
    assert ok_a and ok_b
    assert (
        la.as_dict()
        == lb.as_dict()
        == {
            "verification_tag": 40,
            "verification_outcome": 1,
            "total": 41,
        }
    )


def test_different_blocks_fail() -> None:
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2, 5000, dtype=np.uint8)
    for trial in range(200):
        other = bits.copy()
        other[rng.integers(0, 5000, 1 + trial % 5)] ^= 1
        ok_a, ok_b, _, _ = _run(bits, other, 1e-9, trial)
        assert not ok_a and not ok_b


def test_collision_rate_matches_2_to_minus_t() -> None:
    # with t = 3 a fixed difference collides for 1/8 of the seeds
    rng = np.random.default_rng(9)
    bits = rng.integers(0, 2, 300, dtype=np.uint8)
    other = bits.copy()
    other[17] ^= 1
    passes = sum(_run(bits, other, 0.125, s)[1] for s in range(4000))
    assert abs(passes / 4000 - 0.125) < 5 * np.sqrt(0.125 * 0.875 / 4000)


def test_bob_refuses_inconsistent_requests() -> None:
    bits = pack_bits(np.zeros(64, dtype=np.uint8))
    req = alice_request(0, bits, 64, 1e-9, np.random.default_rng(0), LeakageLedger())
    with pytest.raises(ProtocolError, match="disagree on eps_cor"):
        bob_check(req, 0, bits, 64, 1e-12, LeakageLedger())
    with pytest.raises(ProtocolError, match="n_bits"):
        bob_check(req, 0, bits, 60, 1e-9, LeakageLedger())
    short = VerifyRequest(0, 64, req.tag_bits, req.seed[:4], req.tag)
    with pytest.raises(ProtocolError, match="seed"):
        bob_check(short, 0, bits, 64, 1e-9, LeakageLedger())
    with pytest.raises(ProtocolError, match="block"):
        bob_check(req, 1, bits, 64, 1e-9, LeakageLedger())
