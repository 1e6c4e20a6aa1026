"""Privacy amplification: fast Toeplitz hash == bit-serial reference == dense matrix, GF(2^64)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postproc.amplify import (
    privacy_amplify,
    toeplitz_hash,
    toeplitz_matrix,
    toeplitz_reference,
    toeplitz_seed,
)
from postproc.amplify.additive_fft import (
    ROW_LOG,
    _block_forward,
    _twiddles,
    cantor_basis,
    fft_forward,
    fft_inverse,
    gf2x_mul,
    reversed_product_slice,
)
from postproc.amplify.clmul import (
    HAS_PCLMUL,
    HAS_VPCLMUL,
    bfly4_array,
    bfly4_soft_array,
    bfly4v_array,
    bfly4v_soft_array,
    clmul_array,
    clmul_soft_array,
    gf64_mul_array,
    gf64_mul_int,
    mul4_array,
)
from postproc.amplify.toeplitz import bit_slice, reverse_bits
from postproc.bits import pack_bits, unpack_bits
from postproc.errors import ConfigError


def _int(packed: np.ndarray) -> int:
    return int.from_bytes(packed.tobytes(), "little")


def _clmul_int(a: int, b: int) -> int:
    """Schoolbook carry-less product of Python ints (independent of the numba code)."""
    r = 0
    while b:
        low = b & -b
        r ^= a << (low.bit_length() - 1)
        b ^= low
    return r


def test_known_answer_3x2():
    # n = 3, l = 2, r = r0..r3: T = [[r1, r2, r3], [r0, r1, r2]]
    r = np.array([1, 0, 1, 1], dtype=np.uint8)
    assert toeplitz_matrix(r, 3, 2).tolist() == [[0, 1, 1], [1, 0, 1]]
    x = np.array([1, 1, 0], dtype=np.uint8)
    assert toeplitz_reference(x, r, 2).tolist() == [1, 1]
    assert toeplitz_hash(pack_bits(x), 3, pack_bits(r), 2).tolist() == [0b11]
    x = np.array([0, 1, 1], dtype=np.uint8)
    assert toeplitz_reference(x, r, 2).tolist() == [0, 1]


def test_identity_like_seed():
    # with only r[l-1] set, T is the l x n matrix with ones on the main diagonal: y = x[:l]
    n, l = 20, 7
    r = np.zeros(n + l - 1, dtype=np.uint8)
    r[l - 1] = 1
    x = np.random.default_rng(5).integers(0, 2, n).astype(np.uint8)
    assert toeplitz_reference(x, r, l).tolist() == x[:l].tolist()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 700), st.data())
def test_fast_equals_reference_and_matrix(n, data):
    l = data.draw(st.sampled_from([1, n, max(1, n // 2), data.draw(st.integers(1, n))]))
    seed_int = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed_int)
    density = data.draw(st.sampled_from([0.0, 0.5, 1.0]))
    x = (rng.random(n) < density).astype(np.uint8)
    seed = toeplitz_seed(rng, n, l)
    r = unpack_bits(seed, n + l - 1)
    ref = toeplitz_reference(x, r, l)
    assert ref.tolist() == ((toeplitz_matrix(r, n, l).astype(np.int64) @ x) % 2).tolist()
    fast = toeplitz_hash(pack_bits(x), n, seed, l)
    assert fast.size == (l + 7) // 8
    assert unpack_bits(fast, l).tolist() == ref.tolist()
    if l % 8:
        assert fast[-1] >> (l % 8) == 0


@pytest.mark.parametrize("n,l", [(1_100_003, 1), (1_050_000, 61), (2_200_000, 64)])
def test_fast_equals_reference_multi_level(n, l):
    # products above 2^ROW_LOG chunks take the radix-2^ROW_LOG step (Taylor at x^t + x, columns)
    assert (2 * n + l) // 32 > 1 << ROW_LOG
    rng = np.random.default_rng(n)
    x = rng.integers(0, 2, n).astype(np.uint8)
    seed = toeplitz_seed(rng, n, l)
    ref = toeplitz_reference(x, unpack_bits(seed, n + l - 1), l)
    fast = toeplitz_hash(pack_bits(x), n, seed, l)
    assert unpack_bits(fast, l).tolist() == ref.tolist()
    assert toeplitz_hash(pack_bits(x), n, seed, l, threads=1).tolist() == fast.tolist()


def test_large_l_equals_carryless_product():
    # l = n at a multi-level size, checked against a Python-int carry-less product
    n = 1_100_001  # two levels above the cache block
    rng = np.random.default_rng(11)
    x = np.zeros(n, dtype=np.uint8)
    x[rng.choice(n, 40, replace=False)] = 1  # sparse key keeps the Python check fast
    seed = toeplitz_seed(rng, n, n)
    fast = toeplitz_hash(pack_bits(x), n, seed, n)
    r_rev = _int(reverse_bits(seed, 2 * n - 1))
    product = _clmul_int(r_rev, _int(pack_bits(x)))  # loops over the 40 set bits of x
    expect = (product >> (n - 1)) & ((1 << n) - 1)
    assert _int(fast) == expect


def test_1e8_bits_equal_carryless_product():
    # the benchmark size (2^23-word transforms, every radix path) against Python-int arithmetic:
    # a key with 30 set bits keeps the independent product cheap; the seed is dense
    n, l = 100_000_000, 37_000_001
    rng = np.random.default_rng(12)
    ones = rng.choice(n, 30, replace=False).tolist()
    key = np.zeros((n + 7) // 8, dtype=np.uint8)
    for j in ones:
        key[j // 8] |= 1 << (j % 8)
    seed = toeplitz_seed(rng, n, l)
    fast = toeplitz_hash(key, n, seed, l)
    r_rev = _int(reverse_bits(seed, n + l - 1))
    product = 0
    for j in ones:
        product ^= r_rev << j
    assert _int(fast) == (product >> (n - 1)) & ((1 << l) - 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 3000), st.integers(0, 2**32 - 1))
def test_gf2x_mul_matches_python_ints(na, nb, s):
    rng = np.random.default_rng(s)
    a = pack_bits(rng.integers(0, 2, na).astype(np.uint8))
    b = pack_bits(rng.integers(0, 2, nb).astype(np.uint8))
    p = gf2x_mul(a, na, b, nb)
    assert p.size == (na + nb - 1 + 7) // 8
    assert _int(p) == _clmul_int(_int(a), _int(b))


def test_clmul_hardware_and_portable_agree_with_python():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 2**64 - 1, 500, dtype=np.uint64, endpoint=True)
    b = rng.integers(0, 2**64 - 1, 500, dtype=np.uint64, endpoint=True)
    a[:2] = [0, 2**64 - 1]
    b[:2] = [2**64 - 1, 2**64 - 1]
    hw = clmul_array(a, b)
    assert (hw == clmul_soft_array(a, b)).all()
    for i in range(50):
        p = _clmul_int(int(a[i]), int(b[i]))
        assert int(hw[i, 0]) | (int(hw[i, 1]) << 64) == p
    g = gf64_mul_array(a, b)
    assert all(int(g[i]) == gf64_mul_int(int(a[i]), int(b[i])) for i in range(500))
    assert isinstance(HAS_PCLMUL, bool)


def test_gf64_polynomial_is_irreducible():
    # Rabin: x^(2^64) = x mod f and gcd(x^(2^32) - x, f) = 1 (64's only prime factor is 2)
    def sq_pow(k):
        y = 2
        for _ in range(k):
            y = gf64_mul_int(y, y)
        return y

    assert sq_pow(64) == 2
    f, g = (1 << 64) | 0b11011, sq_pow(32) ^ 2
    while g:
        f, g = g, _poly_mod(f, g)
    assert f == 1


def _poly_mod(a: int, b: int) -> int:
    while a.bit_length() >= b.bit_length():
        a ^= b << (a.bit_length() - b.bit_length())
    return a


def _eval_at_slot(coefs: list[int], slot: int, v: np.ndarray) -> int:
    """Direct evaluation at the point sum of v[i] over the set bits i of slot."""
    p = 0
    for i in range(slot.bit_length()):
        if (slot >> i) & 1:
            p ^= int(v[i])
    acc, pw = 0, 1
    for c in coefs:
        acc ^= gf64_mul_int(c, pw)
        pw = gf64_mul_int(pw, p)
    return acc


@pytest.mark.parametrize(
    "m,row_log", [(1, ROW_LOG), (2, ROW_LOG), (4, ROW_LOG), (5, 1), (5, 2), (6, 4), (7, 2)]
)
def test_fft_evaluates_at_subspace_points_in_slot_order(m, row_log):
    # slot s holds f at sum of v[i] over the bits of s; row_log < m takes the radix step
    v = cantor_basis()
    for i in range(1, v.size):
        assert gf64_mul_int(int(v[i]), int(v[i])) ^ int(v[i]) == int(v[i - 1])
    assert int(v[0]) == 1
    f = np.random.default_rng(m).integers(0, 2**63, 1 << m, dtype=np.uint64)
    vals = f.copy()
    fft_forward(vals, v, row_log=row_log)
    coefs = f.tolist()
    assert [int(x) for x in vals] == [_eval_at_slot(coefs, s, v) for s in range(1 << m)]
    fft_inverse(vals, v, row_log=row_log)
    assert (vals == f).all()


@pytest.mark.parametrize(
    "m,row_log", [(9, 16), (10, 2), (11, 4), (12, 8), (13, 16), (ROW_LOG + 2, ROW_LOG)]
)
def test_radix_steps_equal_radix_2(m, row_log):
    # the radix-2^k paths (Taylor at x^t + x, column FFTs side by side, coset row FFTs; above
    # and inside a row) == the plain radix-2 transform, and the inverse undoes them
    f = np.random.default_rng(m).integers(0, 2**64 - 1, 1 << m, dtype=np.uint64, endpoint=True)
    plain = f.copy()
    _block_forward(plain, 0, m, _twiddles(m), np.zeros(m + 1, np.uint64), 1)
    g = f.copy()
    fft_forward(g, row_log=row_log)
    assert (g == plain).all()
    fft_inverse(g, row_log=row_log)
    assert (g == f).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 3000), st.data())
def test_reversed_product_slice_matches_python_ints(na, nb, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    a = pack_bits(rng.integers(0, 2, na).astype(np.uint8))
    bits_b = rng.integers(0, 2, nb).astype(np.uint8)
    start = data.draw(st.integers(0, na + nb - 2))
    count = data.draw(st.integers(1, na + nb - 1 - start))
    got = reversed_product_slice(a, na, pack_bits(bits_b), nb, start, count)
    full = _clmul_int(_int(a), _int(pack_bits(bits_b[::-1].copy())))
    assert _int(got) == (full >> start) & ((1 << count) - 1)
    assert got.size == (count + 7) // 8


@settings(deadline=None)  # the first call compiles numba kernels
@given(st.integers(1, 200), st.data())
def test_bit_slice_and_reverse(n, data):
    start = data.draw(st.integers(0, n - 1))
    count = data.draw(st.integers(1, n - start))
    bits = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.uint8)
    packed = pack_bits(bits)
    assert (
        unpack_bits(bit_slice(packed, start, count), count).tolist()
        == bits[start : start + count].tolist()
    )
    assert unpack_bits(reverse_bits(packed, n), n).tolist() == bits[::-1].tolist()


def test_seed_is_reproducible_and_masked():
    a = toeplitz_seed(np.random.default_rng(1), 10, 3)
    b = toeplitz_seed(np.random.default_rng(1), 10, 3)
    assert a.tolist() == b.tolist() and a.size == 2 and a[-1] >> 4 == 0
    key = pack_bits(np.ones(10, dtype=np.uint8))
    out, seed = privacy_amplify(key, 10, 3, np.random.default_rng(1))
    assert seed.tolist() == a.tolist()
    assert out.tolist() == toeplitz_hash(key, 10, a, 3).tolist()


@pytest.mark.parametrize("n,l", [(13, 5), (1_050_003, 77)])
def test_padding_bits_of_inputs_are_ignored(n, l):
    rng = np.random.default_rng(4)
    key = pack_bits(rng.integers(0, 2, n).astype(np.uint8))
    seed = toeplitz_seed(rng, n, l)
    dirty_key, dirty_seed = key.copy(), seed.copy()
    dirty_key[-1] |= (0xFF << (n % 8)) & 0xFF
    dirty_seed[-1] |= (0xFF << ((n + l - 1) % 8)) & 0xFF
    assert (
        toeplitz_hash(dirty_key, n, dirty_seed, l).tolist()
        == toeplitz_hash(key, n, seed, l).tolist()
    )
    assert dirty_key[-1] != key[-1] and dirty_seed[-1] != seed[-1]  # inputs not modified/masked


def test_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="out_bits"):
        toeplitz_hash(b"\x00", 8, b"\x00" * 2, 9)
    with pytest.raises(ConfigError, match="seed must be 2 bytes"):
        toeplitz_hash(b"\x00", 8, b"\x00", 4)
    with pytest.raises(ConfigError, match="n_bits"):
        toeplitz_seed(np.random.default_rng(0), 0, 1)
    with pytest.raises(ConfigError, match="seed_bits"):
        toeplitz_reference(np.zeros(4, np.uint8), np.zeros(4, np.uint8), 2)
    with pytest.raises(ConfigError, match="only 0 and 1"):
        toeplitz_reference(np.full(4, 2, np.uint8), np.zeros(5, np.uint8), 2)


@pytest.mark.parametrize("inverse", [False, True])
def test_vector_butterflies_equal_scalar_and_python(inverse):
    # the 4-lane VPCLMULQDQ butterfly (when the CPU has it) == the scalar loop == Python ints
    rng = np.random.default_rng(9)
    g = rng.integers(0, 2**64 - 1, 16, dtype=np.uint64, endpoint=True)
    g[:2] = [0, 1]
    f = rng.integers(0, 2**64 - 1, 128, dtype=np.uint64, endpoint=True)
    f[:4] = 2**64 - 1
    vec, soft = f.copy(), f.copy()
    bfly4_array(vec, 64, g, inverse)
    bfly4_soft_array(soft, 64, g, inverse)
    assert (vec == soft).all()
    for r in range(64):
        a, b, t = int(f[r]), int(f[r + 64]), int(g[r // 4])
        if inverse:
            expect = (a ^ gf64_mul_int(t, a ^ b), a ^ b)
        else:
            w = a ^ gf64_mul_int(t, b)
            expect = (w, w ^ b)
        assert (int(vec[r]), int(vec[r + 64])) == expect
    sh = rng.integers(0, 2**64 - 1, 64, dtype=np.uint64, endpoint=True)
    vec, soft = f.copy(), f.copy()
    bfly4v_array(vec, 64, g, sh, inverse)
    bfly4v_soft_array(soft, 64, g, sh, inverse)
    assert (vec == soft).all()
    t = int(g[0]) ^ int(sh[1])  # lane 1 of the first quad
    a, b = int(f[1]), int(f[65])
    expect = (a ^ gf64_mul_int(t, a ^ b), a ^ b) if inverse else (a ^ gf64_mul_int(t, b),) * 2
    if not inverse:
        expect = (expect[0], expect[0] ^ b)
    assert (int(vec[1]), int(vec[65])) == expect
    x = f[:64].copy()
    mul4_array(x, f[64:].copy())
    assert all(int(x[i]) == gf64_mul_int(int(f[i]), int(f[64 + i])) for i in range(64))
    assert isinstance(HAS_VPCLMUL, bool)


def test_concurrent_callers_share_the_pool():
    # Alice and Bob hash in two threads of one process: the shared worker pool must not mix them
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(21)
    jobs = []
    for n in (2_200_001, 1_300_000, 2_500_000, 700_001):
        l = n // 3
        key = rng.integers(0, 256, (n + 7) // 8, dtype=np.uint8)
        jobs.append((key, n, toeplitz_seed(rng, n, l), l))
    alone = [toeplitz_hash(*job, threads=1) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as callers:
        together = list(callers.map(lambda job: toeplitz_hash(*job, threads=2), jobs))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))
