"""Universal hashes: field arithmetic, exact universality, and agreement with plain references."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from postproc.bits import pack_bits
from postproc.protocol.uhash import (
    GF64_POLY_LOW,
    AuthHasher,
    PolyHash,
    gf64_mul,
    message_words,
    toeplitz_hash,
)

MOD = (1 << 64) | GF64_POLY_LOW


def _clmul(a: int, b: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        b >>= 1
    return r


def _polymod(a: int, m: int) -> int:
    dm = m.bit_length() - 1
    while a.bit_length() - 1 >= dm:
        a ^= m << (a.bit_length() - 1 - dm)
    return a


def _ref_mul(a: int, b: int) -> int:
    return _polymod(_clmul(a, b), MOD)


def _polygcd(a: int, b: int) -> int:
    while b:
        a, b = b, _polymod(a, b)
    return a


def test_reduction_polynomial_is_irreducible() -> None:
    # Rabin: f of degree 64 = 2^6 is irreducible iff x^(2^64) = x mod f and gcd(x^(2^32) - x, f) = 1
    x = 2
    p = x
    powers = {}
    for i in range(1, 65):
        p = _ref_mul(p, p)
        powers[i] = p
    assert powers[64] == x
    assert _polygcd(MOD, powers[32] ^ x) == 1


@settings(deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_gf64_mul_matches_reference(a: int, b: int) -> None:
    assert gf64_mul(a, b) == _ref_mul(a, b)


def _ref_poly(message: bytes, key: int) -> int:
    words = [
        int.from_bytes(message[i : i + 8].ljust(8, b"\0"), "little")
        for i in range(0, len(message), 8)
    ]
    words.append(len(message))
    acc = 0
    for w in words:
        acc = _ref_mul(acc ^ w, key)
    return acc


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=100), st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=3))
def test_poly_hash_matches_reference(message: bytes, keys: list[int]) -> None:
    got = PolyHash(np.array(keys, dtype=np.uint64)).digest(message)
    assert [int(v) for v in got] == [_ref_poly(message, k) for k in keys]


def test_length_word_separates_zero_padding() -> None:
    assert list(message_words(b"ab")[:-1]) == list(message_words(b"ab\0")[:-1])
    h = PolyHash(np.array([0x1234567890ABCDEF], dtype=np.uint64))
    assert h.digest(b"ab")[0] != h.digest(b"ab\0")[0]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_toeplitz_matches_dense_matrix(n: int, t: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n + t - 1 + rng.integers(0, 9), dtype=np.uint8)
    # garbage beyond n bits in the packed input must be ignored
    packed = pack_bits(np.concatenate([x, np.ones(7, dtype=np.uint8)]))
    got = np.unpackbits(
        np.frombuffer(toeplitz_hash(packed, n, pack_bits(s), t), dtype=np.uint8), bitorder="little"
    )[:t]
    hankel = np.array([[s[i + j] for j in range(n)] for i in range(t)], dtype=np.int64)
    assert np.array_equal(got, (hankel @ x) % 2)


def test_toeplitz_universality_is_exact() -> None:
    # Every nonzero difference d maps to every t-bit value c for exactly 2^(n+t-1-t) seeds.
    n, t = 5, 3
    n_seed = n + t - 1
    seeds = [
        pack_bits(np.array(bits, dtype=np.uint8))
        for bits in itertools.product((0, 1), repeat=n_seed)
    ]
    for d in range(1, 2**n):
        dp = pack_bits(np.array([(d >> j) & 1 for j in range(n)], dtype=np.uint8))
        counts = np.bincount([toeplitz_hash(dp, n, s, t)[0] for s in seeds], minlength=2**t)
        assert counts.tolist() == [2 ** (n_seed - t)] * 2**t


def test_auth_hasher_key_layout_and_bound() -> None:
    assert AuthHasher.key_bytes(64, 2) == 16 + (128 + 63 + 7) // 8
    h = AuthHasher(bytes(range(AuthHasher.key_bytes())), tag_bits=64, lanes=2)
    assert len(h.hash(b"")) == 8
    assert h.hash(b"a") != h.hash(b"b")
    assert 2.0**-64 < h.forgery_bound(10**6) < 2.0**-63


def test_auth_hasher_detects_every_single_bit_flip() -> None:
    rng = np.random.default_rng(5)
    h = AuthHasher(rng.integers(0, 256, AuthHasher.key_bytes(), dtype=np.uint8).tobytes())
    msg = bytearray(rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
    base = h.hash(bytes(msg))
    for i in range(8 * len(msg)):
        msg[i // 8] ^= 1 << (i % 8)
        assert h.hash(bytes(msg)) != base
        msg[i // 8] ^= 1 << (i % 8)
