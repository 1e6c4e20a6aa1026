"""8-bit fixed-point min-sum (decoder_fast): bit-exact against decode_layered_fixed, warm restart,
pinned bits."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postproc.reconcile.decoder import channel_llr, decode_layered_fixed, quantize_llr
from postproc.reconcile.decoder_fast import decode_fast
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


@settings(max_examples=25, deadline=None)
@given(
    which=st.integers(0, 3),
    q=st.sampled_from([0.01, 0.03, 0.06, 0.09, 0.12]),
    scale=st.sampled_from([1.5, 2.0, 4.0, 8.0, 30.0]),
    msg_bits=st.integers(2, 8),
    norm=st.sampled_from([(1, 0), (7, 3), (3, 2), (13, 4)]),
    offset=st.integers(0, 2),
    seed=st.integers(0, 2**31),
)
def test_cold_start_is_decode_layered_fixed_hw(which, q, scale, msg_bits, norm, offset, seed):
    code = family_codes("hw")[which]
    _x, y, s = _frames(code, q, 12, seed)
    ql = quantize_llr(channel_llr(y, q), scale)
    kw = dict(max_iter=25, msg_bits=msg_bits, norm_num=norm[0], norm_shift=norm[1],
              offset=offset)
    ref = decode_layered_fixed(code.base, code.Z, ql, s, **kw)
    got = decode_fast(code, ql, s, **kw)
    for a, b in zip(ref, got, strict=True):
        assert np.array_equal(a, b)


def test_cold_start_is_decode_layered_fixed_n32k():
    code = get_code("qc256x62z128s2012")  # n32k, rate 0.758
    _x, y, s = _frames(code, 0.028, 6, 7)
    # random integer LLRs, saturating values included, and a syndrome that is not a codeword's
    rng = np.random.default_rng(8)
    ql = quantize_llr(channel_llr(y, 0.028), 4.0)
    ql[0] = rng.integers(-130, 131, code.n)
    s[1] ^= (rng.random(code.m) < 0.01).astype(np.uint8)
    for msg_bits, off in ((6, 0), (7, 1)):
        ref = decode_layered_fixed(code.base, code.Z, ql, s, max_iter=30, msg_bits=msg_bits,
                                   offset=off)
        got = decode_fast(code, ql, s, max_iter=30, msg_bits=msg_bits, offset=off)
        for a, b in zip(ref, got, strict=True):
            assert np.array_equal(a, b)
        assert 0 < ref[2].sum() < 6  # decoded and failing frames both compared
