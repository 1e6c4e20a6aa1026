"""Float min-sum with a kept state (warm restart): exact continuation, subsets, pinned bits."""

import numpy as np
import pytest

from postproc.reconcile.decoder import (
    channel_llr,
    decode_minsum,
    decode_minsum_warm,
    minsum_messages,
)
from postproc.reconcile.family import family_codes, get_code


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("QKDPP_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    get_code.cache_clear()


def _frames(code, q, F, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (F, code.n), dtype=np.uint8)
    y = x ^ (rng.random(x.shape) < q).astype(np.uint8)
    return x, y, code.syndrome(x)


def test_cold_start_is_decode_minsum():
    code = family_codes("hw")[-1]
    _x, y, s = _frames(code, 0.09, 24, 1)
    llr = channel_llr(y, 0.09)
    for stall in (0, 3):
        ref = decode_minsum(code, llr, s, stall=stall)
        post = llr.copy()
        got = decode_minsum_warm(code, post, minsum_messages(code, 24), s, stall=stall)
        for a, b in zip(ref, got, strict=True):
            assert np.array_equal(a, b)
        assert 0 < ref[2].sum() < 24  # a mix of decoded and failing frames
        # the posterior kept is the one whose hard decision was returned
        assert np.array_equal((post < 0).astype(np.uint8), got[0])


def test_split_run_continues_exactly():
    # k1 iterations then k2 more from the kept state == one run of k1 + k2 iterations
    code = family_codes("hw")[-1]
    _x, y, s = _frames(code, 0.08, 16, 2)
    llr = channel_llr(y, 0.08)
    one, it_one, ok_one = decode_minsum(code, llr, s, max_iter=12)
    post, msgs = llr.copy(), minsum_messages(code, 16)
    _, it1, ok1 = decode_minsum_warm(code, post, msgs, s, max_iter=5)
    rest = np.nonzero(~ok1)[0]
    out2, it2, ok2 = decode_minsum_warm(code, post, msgs, s, max_iter=7, frames=rest)
    assert rest.size > 0 and ok1.sum() > 0
    assert np.array_equal(out2, one[rest]) and np.array_equal(ok2, ok_one[rest])
    assert np.array_equal(it2 + 5, it_one[rest])
    assert np.array_equal(it1[ok1], it_one[ok1])


def test_frames_subset_leaves_other_frames_alone():
    code = family_codes("hw")[-1]
    _x, y, s = _frames(code, 0.03, 6, 3)
    llr = channel_llr(y, 0.03)
    post, msgs = llr.copy(), minsum_messages(code, 6)
    out, _, ok = decode_minsum_warm(code, post, msgs, s, frames=np.array([4, 1]))
    ref, _, ok_ref = decode_minsum(code, llr[[4, 1]], s[[4, 1]])
    assert np.array_equal(out, ref) and np.array_equal(ok, ok_ref)
    untouched = [0, 2, 3, 5]
    assert np.array_equal(post[untouched], llr[untouched]) and not msgs[untouched].any()
    with pytest.raises(ValueError, match="frames"):
        decode_minsum_warm(code, post, msgs, s, frames=np.array([6]))
    with pytest.raises(ValueError, match="msgs"):
        decode_minsum_warm(code, post, minsum_messages(code, 5), s)


def test_pinned_bits_rescue_a_failed_frame_warm():
    # a failed round, then the true values of the least reliable bits pinned in the kept
    # posterior (channel part swapped): the continued decoding finds Alice's word
    code = family_codes("hw")[2]  # rate 2/3
    x, y, s = _frames(code, 0.06, 24, 4)
    llr = channel_llr(y, 0.06)
    post, msgs = llr.copy(), minsum_messages(code, 24)
    _, _, ok = decode_minsum_warm(code, post, msgs, s, max_iter=30, stall=4)
    bad = np.nonzero(~ok)[0]
    assert bad.size >= 12
    for f in bad:
        pos = np.argsort(np.abs(post[f]), kind="stable")[:code.n // 6]
        known = np.where(x[f, pos] != 0, -40.0, 40.0).astype(np.float32)
        post[f, pos] += known - llr[f, pos]
    out, _, ok2 = decode_minsum_warm(code, post, msgs, s, max_iter=30, stall=4, frames=bad)
    assert ok2.mean() >= 0.6
    assert np.array_equal(out[ok2], x[bad][ok2])


def test_stall_gives_up_early_on_hopeless_frames():
    code = family_codes("hw")[0]
    _x, y, s = _frames(code, 0.2, 8, 5)
    llr = channel_llr(y, 0.2)
    tr = np.full((8, 60), -1, np.int32)
    _, it, ok = decode_minsum_warm(code, llr.copy(), minsum_messages(code, 8), s, stall=3,
                                   trace=tr)
    assert not ok.any() and (it < 60).all() and (it >= 4).all()
    for f in range(8):  # the last 3 iterations brought no new best
        t = tr[f, : it[f]]
        assert (t >= 0).all() and t[-3:].min() >= t[:-3].min()
