"""8-bit fixed-point min-sum (decoder_fast): bit-exact against decode_layered_fixed, warm restart,
pinned bits."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postproc.reconcile.decoder import _layers_of, channel_llr, decode_layered_fixed, quantize_llr
from postproc.reconcile.decoder_fast import (
    _plan,
    decode_fast,
    decode_fast_warm,
    error_state,
    error_state_bits,
    fast_state,
    fast_syndrome,
    hard_bits,
    pin_bits,
    quantize_abs,
    reveal_pick,
)
from postproc.reconcile.family import family_codes, get_code
from postproc.reconcile.qc import qc_syndrome


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


def test_split_run_continues_exactly_and_subset_leaves_others_alone():
    # 5 iterations then 7 more from the kept state == one run of 12 (stall 0 and stall 3)
    code = family_codes("hw")[-1]
    _x, y, s = _frames(code, 0.08, 24, 2)
    ql = quantize_llr(channel_llr(y, 0.08), 4.0)
    for stall in (0, 3):
        one, it_one, ok_one = decode_fast(code, ql, s, max_iter=12, stall=stall)
        st = fast_state(code, ql, s)
        _, it1, ok1 = decode_fast_warm(st, max_iter=5, stall=stall)
        rest = np.nonzero(~ok1 & (it1 == 5))[0]  # neither converged nor given up
        before = st.msgs.copy()
        out2, it2, ok2 = decode_fast_warm(st, max_iter=7, stall=stall, frames=rest)
        assert rest.size > 0 and ok1.sum() > 0
        if stall == 0:
            assert np.array_equal(out2, one[rest]) and np.array_equal(ok2, ok_one[rest])
            assert np.array_equal(it2 + 5, it_one[rest])
        assert np.array_equal(it1[ok1], it_one[ok1])
        others = np.setdiff1d(np.arange(24), rest)
        assert np.array_equal(st.msgs[others], before[others])
        assert (st.msgs[rest] != before[rest]).any()
    with pytest.raises(ValueError, match="frames"):
        decode_fast_warm(st, frames=np.array([24]))


def test_hard_bits_of_the_state_are_the_returned_decisions_and_hard_false_keeps_the_state():
    # hard=False decodes exactly the same (state, iterations, flags); hard_bits reads back the
    # decisions decode_fast_warm returns, also for bits pinned to 1 (flip) and at any positions
    code = family_codes("hw")[1]
    _x, y, s = _frames(code, 0.06, 12, 5)
    ql = quantize_llr(channel_llr(y, 0.06), 4.0)
    a, b = fast_state(code, ql, s), fast_state(code, ql, s)
    rows = np.repeat(np.arange(12), 3)
    pos = np.tile([3, 70, code.n - 1], 12)
    for st_ in (a, b):
        pin_bits(st_, rows, pos, (y[rows, pos] ^ 1))
    out, it, ok = decode_fast_warm(a, max_iter=6, stall=2)
    none, it2, ok2 = decode_fast_warm(b, max_iter=6, stall=2, hard=False)
    assert none.shape == (12, 0) and np.array_equal(it, it2) and np.array_equal(ok, ok2)
    assert np.array_equal(a.post, b.post) and np.array_equal(a.msgs, b.msgs)
    frames = np.array([7, 0, 11])
    cols = np.array([code.n - 1, 3, 5, 70])
    assert np.array_equal(hard_bits(b, frames, cols), out[frames][:, cols])
    assert np.array_equal(hard_bits(b, np.arange(12), np.arange(code.n)), out)
    assert (out[rows, pos] == y[rows, pos] ^ 1).all()
    with pytest.raises(ValueError, match="positions"):
        hard_bits(b, frames, np.array([code.n]))


def test_pinned_bits_stay_pinned_even_against_the_channel_and_the_messages():
    # pin bits to values that contradict the channel (and the codeword): saturating arithmetic
    # would drag a +-127 channel value across zero; a pinned bit never moves
    code = family_codes("hw")[1]
    x, y, s = _frames(code, 0.07, 16, 3)
    ql = quantize_llr(channel_llr(y, 0.07), 8.0)
    st = fast_state(code, ql, s)
    decode_fast_warm(st, max_iter=4)
    rng = np.random.default_rng(5)
    rows = np.repeat(np.arange(16), 40)
    pos = np.concatenate([rng.choice(code.n, 40, replace=False) for _ in range(16)])
    vals = (1 - x[rows, pos]).astype(np.uint8)  # wrong values: the rest of the graph disagrees
    pin_bits(st, rows, pos, vals)
    out, _, _ = decode_fast_warm(st, max_iter=30)
    assert np.array_equal(out[rows, pos], vals)
    assert (st.posteriors()[rows, pos] == 127).all()
    # pinned from the start (either sign) to the hard decision of the channel value
    mask = np.random.default_rng(6).random(ql.shape) < 0.2
    st3 = fast_state(code, ql, s, pinned=mask)
    out3, _, _ = decode_fast_warm(st3, max_iter=30)
    assert np.array_equal(out3[mask], (ql[mask] < 0).astype(np.uint8))
    assert (ql[mask] < 0).any() and (st3.posteriors()[mask] == 127).all()
    # near capacity (h(0.035) = 0.22, rate 3/4) frames fail; a quarter of the bits pinned to their
    # true values (warm, after a failed round) makes them decode to Alice's word
    x, y, s = _frames(code, 0.035, 16, 4)
    ql = quantize_llr(channel_llr(y, 0.035), 4.0)
    st2 = fast_state(code, ql, s)
    _, _, ok1 = decode_fast_warm(st2, max_iter=30)
    pos = np.concatenate([rng.choice(code.n, code.n // 4, replace=False) for _ in range(16)])
    rows = np.repeat(np.arange(16), code.n // 4)
    pin_bits(st2, rows, pos, x[rows, pos])
    out2, _, ok2 = decode_fast_warm(st2, max_iter=30)
    assert ok1.sum() <= 4 and ok2.sum() >= 9 and np.array_equal(out2[ok2], x[ok2])


def test_bad_arguments_are_named():
    code = family_codes("hw")[0]
    st = fast_state(code, np.zeros((2, code.n), np.int32), np.zeros((2, code.m), np.uint8))
    with pytest.raises(ValueError, match="msg_bits"):
        decode_fast_warm(st, msg_bits=9)
    pin_bits(st, np.array([0]), np.array([3]), np.array([1]))
    with pytest.raises(ValueError, match="msg_bits"):
        decode_fast_warm(st, msg_bits=8)
    with pytest.raises(ValueError, match="positions"):
        pin_bits(st, np.array([0]), np.array([code.n]), np.array([1]))
    with pytest.raises(ValueError, match="syndrome"):
        fast_state(code, np.zeros((2, code.n), np.int32), np.zeros((3, code.m), np.uint8))
    # the reveal pick and hard bits read the state unchecked: a mask or frame of another shape
    # (e.g. full-code positions on a sub-code state) is refused, not read out of bounds
    keyp = np.arange(code.n)
    known = np.zeros((2, code.n), bool)
    assert reveal_pick(st, known, keyp, np.array([1]), 2, 3).shape == (1, 3)
    with pytest.raises(ValueError, match="revealed"):
        reveal_pick(st, np.zeros((2, code.n + code.Z), bool), keyp, np.array([1]), 2, 3)
    with pytest.raises(ValueError, match="frames"):
        reveal_pick(st, known, keyp, np.array([2]), 2, 3)
    with pytest.raises(ValueError, match="key_pos"):
        reveal_pick(st, known, np.arange(code.n + 1), np.array([0]), 2, 3)
    from dataclasses import replace

    with pytest.raises(ValueError, match="post"):
        hard_bits(replace(st, post=st.post[:, :-32]), np.array([0]), keyp)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 300), mode=st.sampled_from([0, 1, 2]),
       neg=st.sampled_from([0.02, 0.5]), sat=st.sampled_from([0.0, 0.8, 0.995]))
def test_reveal_pick_on_the_int8_state_is_the_float_rule(seed, k, mode, neg, sat):
    # the 256-bucket selection on the kept int8 posteriors == blind._reveal_pick (sampled
    # threshold + partition, property-tested against a stable sort) on the same values
    from postproc.reconcile.blind import _reveal_pick

    code = family_codes("hw")[0]
    rng = np.random.default_rng(seed)
    F, n = 3, code.n
    llr = rng.integers(0, 128, (F, n)).astype(np.int32)
    llr[rng.random((F, n)) < neg] *= -1  # few or many decided errors (both paths of the pick)
    llr[:, rng.random(n) < 0.5] //= 16  # many ties
    # saturated posteriors (low QBER): the threshold of "mixed" lands at 127 or below it
    llr[rng.random((F, n)) < sat] = 127
    st_ = fast_state(code, llr, np.zeros((F, code.m), np.uint8))
    post = st_.posteriors()
    assert np.array_equal(post, llr.astype(np.int8))
    revealed = rng.random((F, n)) < 0.3
    keyp = np.sort(rng.choice(n, 600, replace=False)).astype(np.int64)
    frames = np.array([2, 0], dtype=np.int64)
    ref = np.empty((2, k), np.int32)
    _reveal_pick(post.astype(np.float32), np.ones((F, n), np.float32), (post < 0).astype(np.uint8),
                 revealed, keyp, frames, mode, k, ref)
    got = reveal_pick(st_, revealed, keyp, frames, mode, k)
    assert np.array_equal(got, ref)


def test_quantize_abs_is_quantize_llr_of_the_magnitude():
    rng = np.random.default_rng(3)
    x = (rng.normal(0, 20, (4, 500)) * 4).round() / 4  # halves included
    x = x.astype(np.float32)
    for scale in (1.0, 2.5, 4.0):
        assert np.array_equal(quantize_abs(x, scale), quantize_llr(np.abs(x), scale))


def test_error_state_is_the_error_pattern_problem():
    # channel |LLR| quantised like quantize_llr, syndrome s ^ H y, known bits pinned at e = 0,
    # decisions relative to y: decoding finds Alice's word
    code = family_codes("hw")[3]  # rate 1/2
    x, y, s = _frames(code, 0.05, 10, 9)
    llr = channel_llr(y, 0.05)
    known = np.random.default_rng(1).random(llr.shape) < 0.1
    llr[known] = np.where(x[known] != 0, -40.0, 40.0)
    st_ = error_state(code, llr, 4.0, s, known)
    word = (llr < 0).astype(np.uint8)
    assert np.array_equal(st_.flip, word)
    assert np.array_equal(st_.synd, np.where(s ^ code.syndrome(word), -128, 0).astype(np.int8))
    post = st_.posteriors()
    mag = quantize_llr(np.abs(llr), 4.0)
    assert np.array_equal(post[~known], mag[~known]) and (post[known] == 127).all()
    out, _, ok = decode_fast_warm(st_, max_iter=40)
    assert ok.all() and np.array_equal(out, x)
    assert np.array_equal(out[known], word[known])


def test_error_state_from_bits_is_error_state_of_the_llrs():
    code = family_codes("hw")[1]
    rng = np.random.default_rng(12)
    F, n = 5, code.n
    key = np.sort(rng.choice(n, 600, replace=False))
    y = rng.integers(0, 2, (F, key.size)).astype(np.uint8)
    mag = channel_llr(np.zeros(1, np.uint8), 0.04)[0]
    llr = np.zeros((F, n), np.float32)
    llr[:, key] = np.where(y != 0, -mag, mag)
    known = np.zeros((F, n), bool)
    known[:, np.setdiff1d(np.arange(n), key)[:100]] = True
    llr[known] = 40.0
    s = rng.integers(0, 2, (F, code.m)).astype(np.uint8)
    a = error_state(code, llr, 4.0, s, known)
    b = error_state_bits(code, y, key, mag, 4.0, s, known)
    for name in ("post", "floor", "msgs", "synd", "flip"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@settings(max_examples=10, deadline=None)
@given(fam=st.sampled_from(["hw", "n32k"]), which=st.integers(0, 20), F=st.integers(1, 4),
       dens=st.sampled_from([0.01, 0.5, 1.0]), seed=st.integers(0, 2**31))
def test_fast_syndrome_is_qc_syndrome(fam, which, F, dens, seed):
    codes = family_codes(fam)
    code = codes[which % len(codes)]
    rng = np.random.default_rng(seed)
    x = (rng.random((F, code.n)) < dens).astype(np.uint8)
    assert np.array_equal(fast_syndrome(code, x), qc_syndrome(code.base, code.Z, x))
    assert np.array_equal(fast_syndrome(code, x[0]), qc_syndrome(code.base, code.Z, x[0]))


def _model_warm(code, post, floor, msgs, synd, flip, *, max_iter, msg_bits, norm_num, norm_shift,
                offset, stall):
    """numpy model of one frame's warm 8-bit decoding (the kernel's documented arithmetic in bit
    and edge order, rows of a layer as arrays) from its posteriors and floors (n, bit order)
    and messages (E x Z, edge order): returns the new state, iterations, flag, trace."""
    from postproc.reconcile.decoder import _layers_of

    ptr, col, sh = _layers_of(code.base)
    Z = code.Z
    L = post.astype(np.int64).reshape(-1)
    Fl = floor.astype(np.int64).reshape(-1)
    R = msgs.astype(np.int64).reshape(-1, Z)
    syb = (synd < 0).reshape(-1, Z)
    mm = (1 << (msg_bits - 1)) - 1
    rows = np.arange(Z)
    idx = [col[ptr[i]:ptr[i + 1], None] * Z + (rows[None, :] + sh[ptr[i]:ptr[i + 1], None]) % Z
           for i in range(len(ptr) - 1)]

    def g(m):
        return np.maximum(((m * norm_num) >> norm_shift) - offset, 0)

    best, best_it, trace = ptr[-1] * Z + 1, 0, []
    for it in range(max_iter):
        bad = 0
        for i, ix in enumerate(idx):
            e = slice(ptr[i], ptr[i + 1])
            q = np.clip(L[ix] - R[e], -127, 127)
            a = np.minimum(np.abs(q), mm)
            par = syb[i] ^ (np.sum(q < 0, axis=0) & 1).astype(bool)
            bad += int(par.sum())
            srt = np.sort(a, axis=0)
            g1 = np.where(par, -g(srt[0]), g(srt[0]))
            g2 = np.where(par, -g(srt[1]), g(srt[1]))
            m = np.where(a == srt[0][None, :], g2[None, :], g1[None, :])
            R[e] = np.where(q < 0, -m, m)
            L[ix] = np.maximum(np.clip(q + R[e], -128, 127), Fl[ix])
        sat = all(not (syb[i] ^ (np.sum(L[ix] < 0, axis=0) & 1).astype(bool)).any()
                  for i, ix in enumerate(idx))
        if sat:
            res = (it + 1, True)
            break
        if stall <= 0:
            continue
        trace.append(bad)
        if bad < best:
            best, best_it = bad, it
        elif it - best_it >= stall:
            res = (it + 1, False)
            break
    else:
        res = (max_iter, False)
    return L, R.reshape(-1), ((L < 0) ^ (flip != 0)).astype(np.uint8), res[0], res[1], trace


@pytest.mark.parametrize("name,q,msg_bits,off", [("qc256x18z128s2012", 0.012, 6, 1),
                                                 ("qc256x116z128s2012", 0.075, 7, 0)])
def test_warm_rounds_with_pins_follow_the_numpy_model(name, q, msg_bits, off):
    # blind-protocol-like use on n32k codes (Z = 128): error-pattern state with known bits, a
    # round with stall, bits pinned to their true values (both signs), a warm round on a subset;
    # every round equals the model run from the state before it (posteriors, their wrap copies,
    # messages (dummy slots 0), decisions, iterations, flags, progress trace), in the state's
    # compact layout: per column [32 pad][Z rows][rows 0..31 again], pitch Z + 64
    code = get_code(name)
    rng = np.random.default_rng(11)
    F = 3
    x, y, s = _frames(code, q, F, 12)
    st = error_state(code, channel_llr(y, q), 4.0, s, rng.random((F, code.n)) < 0.05)
    kw = dict(max_iter=12, msg_bits=msg_bits, norm_num=7, norm_shift=3, offset=off, stall=2)
    frames = np.arange(F)
    nb, Z, P = code.n // code.Z, code.Z, code.Z + 64

    def columns(a):  # rows 0..Z+31 of each block column
        return a[32 : 32 + nb * P].reshape(nb, P)[:, : Z + 32]

    def floors(f):
        fl = columns(st.floor[f])
        assert np.array_equal(fl[:, Z:], fl[:, :32])  # the wrap copy, pins included
        return fl[:, :Z].reshape(-1)

    ptr, col, sh = _layers_of(code.base)
    rofs = _plan(ptr, col, sh, Z, nb)[2]  # per 32-byte message slot: edge-order offset, -1 dummy
    real = rofs >= 0
    assert np.array_equal(np.sort(rofs[real]), np.arange(0, ptr[-1] * Z, 32))  # a bijection
    assert st.msgs.shape[1] == rofs.size * 32 and (~real).any()
    checked = 0
    for _ in range(3):
        before = [(st.posteriors([f])[0], floors(f), st.messages([f])[0], st.synd[f].copy(),
                   st.flip[f].copy()) for f in frames]
        for f in frames:  # the wrap copies of the posteriors (pin_bits writes them too)
            assert np.array_equal(columns(st.post[f])[:, Z:], columns(st.post[f])[:, :32])
        tr = np.full((frames.size, kw["max_iter"]), -1, np.int32)
        out, it, ok = decode_fast_warm(st, frames=frames, trace=tr, **kw)
        for j, f in enumerate(frames):
            L, R, hard, it_m, ok_m, trace_m = _model_warm(code, *before[j], **kw)
            post = columns(st.post[f])
            assert np.array_equal(post[:, :Z].reshape(-1), L)
            assert np.array_equal(post[:, Z:], L.reshape(nb, Z)[:, :32])
            assert (st.post[f, 32 + nb * P :][:32] == 127).all()  # the dummies' posteriors
            assert np.array_equal(st.messages([f])[0], R) and np.array_equal(out[j], hard)
            assert np.array_equal(floors(f), before[j][1])
            assert (st.msgs[f].reshape(-1, 32)[~real] == 0).all()  # dummies' messages stay 0
            assert (st.msgs[f].reshape(-1, 32)[real] != 0).any()
            assert (it[j], ok[j]) == (it_m, ok_m)
            k = len(trace_m)
            assert np.array_equal(tr[j, :k], trace_m) and (tr[j, k:] == -1).all()
            checked += 1
        frames = frames[~ok]
        if not frames.size:
            break
        # pin 3 % of the failing frames' bits to Alice's values (error pattern: bit values)
        rows = np.repeat(frames, code.n // 32)
        pos = np.concatenate([rng.choice(code.n, code.n // 32, replace=False) for _ in frames])
        pin_bits(st, rows, pos, x[rows, pos])
    assert checked > F  # at least one warm round after pins


def test_state_in_the_kernel_layout_reads_back_in_bit_order_and_is_checked():
    # the state is the kernel's compact layout: posteriors()/messages() give bit/edge order, and
    # decode_fast_warm refuses arrays of another layout (its loads and stores are unchecked)
    from dataclasses import replace

    code = family_codes("hw")[1]
    _x, y, s = _frames(code, 0.06, 3, 7)
    ql = quantize_llr(channel_llr(y, 0.06), 4.0)
    st = fast_state(code, ql, s)
    assert np.array_equal(st.posteriors(), np.clip(ql, -127, 127).astype(np.int8))
    assert np.array_equal(st.posteriors([2, 0]), st.posteriors()[[2, 0]])
    E = int((code.base >= 0).sum())
    assert st.messages().shape == (3, E * code.Z) and not st.messages().any()
    decode_fast_warm(st, max_iter=3)
    assert st.messages().any() and np.array_equal(st.messages([1]), st.messages()[1:2])
    with pytest.raises(ValueError, match="msgs"):
        decode_fast_warm(replace(st, msgs=np.zeros((3, st.msgs.shape[1] - 32), np.int8)))
    with pytest.raises(ValueError, match="post"):
        decode_fast_warm(replace(st, post=np.asfortranarray(st.post)))
