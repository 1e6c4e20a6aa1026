"""Layered sum-product decoder (decoder_bp): exact on a tree, agrees with the ldpc package's
product-sum BpDecoder, keeps known bits, continues exactly from a kept state, blind round trip;
the float32 "fast" kernel against the session-2 "exact" one and its zero-t (punctured) path."""

from itertools import product

import numpy as np
import pytest

from postproc.reconcile import ReconcileConfig, choose_layout, reconcile_local
from postproc.reconcile.decoder import channel_llr
from postproc.reconcile.decoder_bp import bp_messages, decode_bp, decode_bp_warm
from postproc.reconcile.family import family_codes
from postproc.reconcile.qc import QCCode


def _frames(code, q, F, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (F, code.n), dtype=np.uint8)
    y = x ^ (rng.random(x.shape) < q).astype(np.uint8)
    return x, y, code.syndrome(x)


# Posterior tolerance per kernel. "exact": float64 exp/log (rel. error < 1e-7), float32 storage.
# "fast": float32 polynomials, exp relative error 1.1e-4 and log absolute error 8e-5 per message
# (measured here: max 9.2e-5 on the brute-force posteriors, 1.6e-4 on the 40 tanh-rule checks)
ATOL = {"exact": 1e-5, "fast": 3e-4}


@pytest.mark.parametrize("kernel", ["fast", "exact"])
def test_single_check_posteriors_are_exact_marginals(kernel):
    # one check on 5 bits is a tree: one BP iteration gives the exact a-posteriori LLRs
    code = QCCode("one", np.zeros((1, 5), np.int32), 1)
    llr = np.array([1.3, -0.4, 2.2, 0.7, -3.1], np.float32)
    for s in (0, 1):
        p1 = 1.0 / (1.0 + np.exp(llr.astype(np.float64)))  # P(bit = 1)
        num = np.zeros(5)
        den = np.zeros(5)
        for bits in product((0, 1), repeat=5):
            if sum(bits) % 2 != s:
                continue
            w = np.prod([p1[i] if b else 1 - p1[i] for i, b in enumerate(bits)])
            for i, b in enumerate(bits):
                (den if b else num)[i] += w
        _, _, _, post = decode_bp(code, llr, np.array([s], np.uint8), max_iter=1, kernel=kernel)
        np.testing.assert_allclose(post, np.log(num / den), atol=ATOL[kernel])


@pytest.mark.parametrize("idx,q", [(1, 0.045), (2, 0.03)])
def test_agrees_with_ldpc_product_sum(idx, q):
    from ldpc import BpDecoder

    code = family_codes("hw")[idx]
    F = 50
    _, y, s = _frames(code, q, F, 11 + idx)
    out, _, ok, _ = decode_bp(code, channel_llr(y, q), s, max_iter=50)
    bp = BpDecoder(code.H, error_rate=q, max_iter=50, bp_method="product_sum",
                   schedule="parallel")
    s_err = s ^ code.syndrome(y)
    ok_l = np.zeros(F, bool)
    both = 0
    for f in range(F):
        e = bp.decode(s_err[f]).astype(np.uint8)
        ok_l[f] = bp.converge
        if ok[f] and ok_l[f]:
            both += 1
            np.testing.assert_array_equal(out[f], y[f] ^ e)
        if ok[f]:
            np.testing.assert_array_equal(code.syndrome(out[f]), s[f])
    assert 0 < ok_l.sum() < F  # the point is informative: ldpc fails some frames
    assert both >= ok_l.sum() - 1
    assert (~ok).sum() <= (~ok_l).sum()  # layered BP is no worse than flooding BP


def test_pinned_bits_never_flip_and_punctured_bits_recover():
    code = family_codes("hw")[1]
    q = 0.015
    F = 30
    x, y, s = _frames(code, q, F, 3)
    rng = np.random.default_rng(4)
    llr = channel_llr(y, q)
    pinned = rng.choice(code.n, code.n // 10, replace=False)
    punct = np.setdiff1d(rng.choice(code.n, 40, replace=False), pinned)
    llr[:, pinned] = np.where(x[:, pinned] != 0, -40.0, 40.0)
    llr[:, punct] = 0.0
    out, _, ok, post = decode_bp(code, llr, s, max_iter=40)
    np.testing.assert_array_equal(out[:, pinned], x[:, pinned])
    assert np.isfinite(post).all()
    assert ok.sum() >= F // 2
    np.testing.assert_array_equal(out[ok], x[ok])


@pytest.mark.parametrize("kernel", ["fast", "exact"])
def test_warm_split_run_continues_exactly(kernel):
    code = family_codes("hw")[-1]
    q = 0.02
    _, y, s = _frames(code, q, 6, 8)
    llr = channel_llr(y, q)
    out12, it12, ok12, post12 = decode_bp(code, llr, s, max_iter=12, kernel=kernel)
    post = llr.copy()
    msgs = bp_messages(code, 6)
    _, it5, ok5 = decode_bp_warm(code, post, msgs, s, max_iter=5, kernel=kernel)
    rest = np.nonzero(~ok5)[0]
    out7, it7, _ = decode_bp_warm(code, post, msgs, s, max_iter=7, frames=rest, kernel=kernel)
    it = it5.copy()
    it[rest] += it7
    np.testing.assert_array_equal(it, it12)
    np.testing.assert_array_equal(post, post12)
    np.testing.assert_array_equal(out7, out12[rest])
    assert ok12.any()


def test_blind_round_trip_with_bp():
    cfg = ReconcileConfig(family="hw", decoder="bp", max_rounds=8)
    rng = np.random.default_rng(9)
    lay = choose_layout(0.04, cfg)
    a = rng.integers(0, 2, (12, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.04).astype(np.uint8)
    ra, rb, la, lb, _ = reconcile_local(a, b, 0.04, rng, cfg, lay)
    np.testing.assert_array_equal(ra.kept, rb.kept)
    np.testing.assert_array_equal(ra.key, rb.key)
    np.testing.assert_array_equal(rb.key, a[rb.kept])
    assert la.as_dict() == lb.as_dict()
    assert rb.kept.size >= 10


@pytest.mark.parametrize("kernel", ["fast", "exact"])
def test_check_messages_match_the_tanh_rule_over_the_llr_range(kernel):
    # one check, one iteration: the message to bit i is 2 atanh(prod_{j != i} tanh(l_j / 2)),
    # computed here in float64 with numpy's tanh/arctanh (the decoder uses its own exp/log)
    rng = np.random.default_rng(2)
    code = QCCode("one6", np.zeros((1, 6), np.int32), 1)
    for _ in range(40):
        llr = (rng.choice([-1, 1], 6) * rng.uniform(0.01, 14.0, 6)).astype(np.float32)
        s = np.array([rng.integers(0, 2)], np.uint8)
        _, _, _, post = decode_bp(code, llr, s, max_iter=1, kernel=kernel)
        t = np.tanh(llr.astype(np.float64) / 2)
        ext = np.array([np.prod(np.delete(t, i)) for i in range(6)]) * (-1.0 if s[0] else 1.0)
        want = llr + 2 * np.arctanh(ext)
        np.testing.assert_allclose(post, want, rtol=1e-4, atol=max(1e-4, ATOL[kernel]))


@pytest.mark.parametrize("kernel", ["fast", "exact"])
def test_zero_llr_entries_are_exact(kernel):
    # Q = 0 (a punctured bit): one such entry gets the product of the others and sends exactly
    # 0 to them; with two, every message of the check is exactly 0
    code = QCCode("one6", np.zeros((1, 6), np.int32), 1)
    llr = np.array([1.5, -0.7, 0.0, 3.2, -2.4, 0.9], np.float32)
    for s in (0, 1):
        _, _, _, post = decode_bp(code, llr, np.array([s], np.uint8), max_iter=1, kernel=kernel)
        keep = np.arange(6) != 2
        np.testing.assert_array_equal(post[keep], llr[keep])
        others = np.tanh(np.delete(llr, 2).astype(np.float64) / 2)
        want = 2 * np.arctanh(np.prod(others) * (-1.0 if s else 1.0))
        np.testing.assert_allclose(post[2], want, rtol=1e-4, atol=ATOL[kernel])
        two = llr.copy()
        two[4] = 0.0
        _, _, _, post = decode_bp(code, two, np.array([s], np.uint8), max_iter=1, kernel=kernel)
        np.testing.assert_array_equal(post, two)


def test_fast_kernel_tracks_the_exact_kernel():
    # same frames, both kernels: after one iteration the posteriors agree within the message
    # error of the fast kernel times the column degree (measured max 4.9e-4); over 50 iterations
    # the same frames converge to the same words in the same number of iterations
    code = family_codes("hw")[2]
    q = 0.03
    x, y, s = _frames(code, q, 60, 3)
    llr = channel_llr(y, q)
    a = decode_bp(code, llr, s, max_iter=1, kernel="exact")[3]
    b = decode_bp(code, llr, s, max_iter=1, kernel="fast")[3]
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3)
    out_a, it_a, ok_a, _ = decode_bp(code, llr, s, max_iter=50, kernel="exact")
    out_b, it_b, ok_b, _ = decode_bp(code, llr, s, max_iter=50, kernel="fast")
    assert 40 <= ok_a.sum() < 60  # informative: most frames converge
    np.testing.assert_array_equal(ok_b, ok_a)
    np.testing.assert_array_equal(it_b[ok_a], it_a[ok_a])
    np.testing.assert_array_equal(out_b[ok_a], out_a[ok_a])
    np.testing.assert_array_equal(out_b[ok_a], x[ok_a])


@pytest.mark.parametrize("kernel", ["fast", "exact"])
def test_saturated_checks_stay_finite(kernel):
    # every input at +-40 (known bits) with the syndrome against them: t rounds to 1, messages
    # hit the cap (2 atanh(1 - 2^-50) ~ 35.4) instead of inf
    code = QCCode("one6", np.zeros((1, 6), np.int32), 1)
    llr = np.array([40, -40, 40, 40, -40, 40], np.float32)
    _, _, _, post = decode_bp(code, llr, np.array([1], np.uint8), max_iter=3, kernel=kernel)
    assert np.isfinite(post).all()
    np.testing.assert_allclose(post - llr, -np.sign(llr) * 35.35, atol=0.05)


def test_unknown_kernel_is_rejected():
    code = QCCode("one6", np.zeros((1, 6), np.int32), 1)
    with pytest.raises(ValueError, match="kernel"):
        decode_bp(code, np.ones(6, np.float32), np.zeros(1, np.uint8), kernel="approx")


@pytest.mark.parametrize("kernel", ["fast", "exact"])
def test_underflowing_row_product_gives_zero_messages(kernel):
    # 40 entries with |L| = 1e-3: the product of the t (~5e-4 each) underflows float32, the true
    # messages are < 1e-100; the fast kernel takes its exact path there (zero product)
    code = QCCode("one40", np.zeros((1, 40), np.int32), 1)
    rng = np.random.default_rng(5)
    llr = (rng.choice([-1, 1], 40) * 1e-3).astype(np.float32)
    for s in (0, 1):
        _, _, _, post = decode_bp(code, llr, np.array([s], np.uint8), max_iter=2, kernel=kernel)
        np.testing.assert_allclose(post, llr, rtol=0, atol=1e-7)
