"""Blind syndrome reconciliation: layouts, Alice/Bob round trips, ledger totals."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postproc.bits import unpack_bits
from postproc.errors import ProtocolError
from postproc.ledger import LeakageLedger
from postproc.reconcile.blind import (
    FLAT_ROUNDS,
    ReconcileConfig,
    alice_reveal,
    alice_start,
    bob_continue,
    bob_start,
    choose_layout,
    make_layout,
    reconcile_local,
)
from postproc.reconcile.family import family_codes, get_code

HW = ReconcileConfig(family="hw", max_rounds=8, f_step=0.12)  # short codes: big steps


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("QKDPP_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    get_code.cache_clear()


def test_layout_bookkeeping():
    code = family_codes("hw")[-1]
    lay = make_layout(code, 40, 100, 7)
    sizes = [lay.reveal_after(r) for r in range(1, 12)]
    assert sizes == [7] * FLAT_ROUNDS + [14, 28][: 11 - FLAT_ROUNDS]
    assert sum(sizes) <= 40 + lay.n_key // 2  # budget: half the key stays unrevealed
    assert [lay.reveal_after(r) for r in range(12, 20)][-1] == 0
    allpos = np.concatenate([lay.punct_pos, lay.short_pos, lay.key_pos])
    assert np.array_equal(np.sort(allpos), np.arange(code.n))  # a partition of the frame
    assert lay.n_key == code.n - 140
    assert set(lay.punct_pos) == set(code.puncture_order[:40])
    with pytest.raises(ProtocolError):
        make_layout(code, code.puncture_order.size + 1, 0, 1)


# --- decoder "fast": whole shortened block columns, decoded on the sub-code without them -------


def _frames(lay, q, F, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, (F, lay.n_key), dtype=np.uint8)
    return a, a ^ (rng.random(a.shape) < q).astype(np.uint8)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3), st.integers(0, 60), st.integers(0, 400), st.integers(0, 2**32 - 1))
def test_sub_code_positions_and_syndrome(ci, n_punct, n_short, seed):
    # the sub-code is the full code without the shortened block columns: its positions map
    # block-wise and increasingly, and a word that is 0 at the removed columns has the same
    # syndrome in both codes (so Alice's syndrome serves Bob's sub-code decoding as it is)
    code = family_codes("hw")[ci]
    n_punct = min(n_punct, code.puncture_order.size)
    lay = make_layout(code, n_punct, n_short, 3, short_columns=True)
    Z = code.Z
    assert lay.short_cols.size == len(set((lay.short_pos // Z).tolist()) - set(
        (np.concatenate([lay.key_pos, lay.punct_pos]) // Z).tolist()))  # exactly the whole ones
    assert np.array_equal(np.sort(np.concatenate([lay.punct_pos, lay.short_pos, lay.key_pos])),
                          np.arange(code.n))
    assert lay.n_key == make_layout(code, n_punct, n_short, 3).n_key
    deg = (code.base >= 0).sum(axis=0)
    assert (deg[lay.short_cols] > 2).all()  # never a staircase (parity) column
    sub = lay.sub
    keep = np.setdiff1d(np.arange(code.nb), lay.short_cols)
    assert np.array_equal(sub.code.base, code.base[:, keep]) and sub.code.m == code.m
    assert np.array_equal(sub.to_full(sub.key_pos), lay.key_pos)
    assert np.array_equal(sub.to_full(sub.punct_pos), lay.punct_pos)
    assert np.all(np.diff(sub.key_pos) > 0)
    v = np.arange(sub.code.n)
    assert np.array_equal(sub.to_sub(code, sub.to_full(v)), v)
    left = np.setdiff1d(lay.short_pos, sub.to_full(v), assume_unique=True)
    assert left.size == lay.short_cols.size * Z  # the removed ones; the rest are pinned
    assert np.array_equal(np.sort(np.concatenate([sub.to_full(sub.short_pos), left])),
                          lay.short_pos)
    x = np.random.default_rng(seed).integers(0, 2, (2, code.n), dtype=np.uint8)
    x[:, lay.short_pos] = 0
    assert np.array_equal(code.syndrome(x), sub.code.syndrome(x[:, sub.to_full(v)]))
    assert lay.sub is sub and make_layout(code, n_punct, n_short, 3, short_columns=True
                                          ).sub.code is sub.code  # cached per (code, columns)


@pytest.mark.parametrize(("family", "qber", "F", "punct"), [
    ("hw", 0.05, 24, 0.0), ("hw", 0.05, 24, 0.08), ("n32k", 0.01, 24, 0.0),
    ("n32k", 0.03, 16, 0.0)])
def test_sub_code_decoding_equals_pinning_the_columns(family, qber, F, punct, monkeypatch):
    # Bob's 8-bit decoder on the sub-code == the same decoder on the full code with the
    # shortened columns pinned: same keys, rounds, iterations, requests (punctured ones too)
    # and ledgers
    from postproc.reconcile import blind

    cfg = ReconcileConfig(family=family, decoder="fast", f_start=1.05, max_punct_frac=punct,
                          **({"max_rounds": 8, "f_step": 0.12} if family == "hw" else {}))
    lay = choose_layout(qber, cfg)
    assert lay.short_cols.size > 0 and (lay.n_punct > 0) == (punct > 0)
    a, b = _frames(lay, qber, F, 5)

    def run():
        la, lb = LeakageLedger(), LeakageLedger()
        st_a, msg = alice_start(a, qber, np.random.default_rng(1), la, cfg)
        st_b, reply = bob_start(msg, b, lb, cfg)
        seq = [reply]
        while (rev := alice_reveal(st_a, reply, la)) is not None:
            reply = bob_continue(st_b, rev, lb)
            seq.append(reply)
        rb = blind.bob_finish(st_b)
        assert la.as_dict() == lb.as_dict()
        return (st_b.fast.code.n, rb.iterations, rb.rounds.tolist(), rb.key.tobytes(),
                rb.kept.tolist(), lb.as_dict(),
                [(r.ok.tobytes(), r.frames.tobytes(), r.positions.tobytes()) for r in seq])

    sub = run()
    full = blind.sub_code
    monkeypatch.setattr(blind, "sub_code", lambda layout, remove=True: full(layout, False))
    pinned = run()
    assert sub[0] == lay.code.n - lay.short_cols.size * lay.code.Z and pinned[0] == lay.code.n
    assert sub[1:] == pinned[1:]
    assert len(sub[-1]) > 2  # reveal rounds were exercised


@pytest.mark.parametrize("qber", [0.005, 0.02, 0.05, 0.11])
def test_round_trip_with_short_columns_on_n32k(qber):
    cfg = ReconcileConfig(decoder="fast", short_up_rate=None)
    lay = choose_layout(qber, cfg)
    old = choose_layout(qber, replace(cfg, short_columns=False))
    assert lay.short_cols.size == old.n_short // lay.code.Z and lay.n_key == old.n_key
    a, b = _frames(lay, qber, 12, 3)
    ra, rb, la, lb, n = reconcile_local(a, b, qber, np.random.default_rng(2), cfg)
    assert ra.n_failed == 0 and np.array_equal(rb.key, a) and np.array_equal(ra.key, a)
    assert la.as_dict() == lb.as_dict()
    extra = sum(sum(lay.reveal_after(k) for k in range(1, int(r))) for r in rb.rounds)
    assert la.entries.get("revealed", 0) == extra and n == 2 * int(rb.rounds.max())
    assert np.array_equal(rb.errors, (a != b).sum(axis=1))


def test_short_up_rate_takes_the_next_code_at_high_first_round_rates():
    # R* >= short_up_rate: the next higher-rate code, shortened (whole columns) to the same R*;
    # below it, or without short columns, the usual code. Round trip on the up layout at 1 %
    from postproc.infotheory import binary_entropy

    codes = sorted(family_codes("n32k"), key=lambda c: c.rate)
    names = [c.name for c in codes]
    for q in (0.01, 0.02, 0.03):
        cfg = ReconcileConfig(decoder="fast")
        r_star = 1.0 - cfg.f_start * float(binary_entropy(q))
        lay = choose_layout(q, cfg)
        usual = choose_layout(q, replace(cfg, short_up_rate=None))
        assert choose_layout(q, replace(cfg, short_columns=False)).code is usual.code
        step = names.index(lay.code.name) - names.index(usual.code.name)
        assert step == (1 if r_star >= cfg.short_up_rate else 0)
        k = lay.n_key
        rate = (k - lay.code.m) / k  # first-round rate of the shortened code (n_punct = 0)
        assert abs(rate - r_star) < 1e-4 and lay.short_cols.size == lay.n_short // lay.code.Z
    # the column rule by first-round rate: "even" at 0.5 % (rate 0.948), "bal" below 0.94
    from postproc.reconcile.blind import SHORT_EVEN_RATE, _short_columns

    for q, rule in ((0.005, "even"), (0.01, "bal"), (0.03, "bal")):
        lay = choose_layout(q, ReconcileConfig(decoder="fast"))
        k = lay.n_key
        assert ((k - lay.code.m) / k >= SHORT_EVEN_RATE) == (rule == "even")
        assert np.array_equal(lay.short_cols, _short_columns(
            lay.code, lay.punct_pos, lay.n_short // lay.code.Z, rule))
    cfg = ReconcileConfig(decoder="fast")
    lay = choose_layout(0.01, cfg)
    a, b = _frames(lay, 0.01, 10, 6)
    ra, rb, la, lb, _ = reconcile_local(a, b, 0.01, np.random.default_rng(2), cfg)
    assert ra.n_failed == 0 and np.array_equal(rb.key, a) and la.as_dict() == lb.as_dict()


@pytest.mark.parametrize("decoder", ["float", "fixed", "bp"])
def test_other_decoders_keep_the_bit_spread_layout(decoder):
    # their default layout is exactly the old one; given a column layout (Alice's choice, sent
    # in SyndromeMsg.short_columns) Bob derives the same one whatever his decoder
    for q in (0.01, 0.03):
        cfg = ReconcileConfig(decoder=decoder)
        lay = choose_layout(q, cfg)
        code = lay.code
        ref = make_layout(code, lay.n_punct, lay.n_short, lay.reveal_size)
        assert lay.short_cols.size == 0
        assert np.array_equal(lay.short_pos, ref.short_pos)
        assert np.array_equal(lay.key_pos, ref.key_pos)
    cfg = replace(HW, decoder=decoder)
    col = choose_layout(0.05, replace(cfg, short_columns=True))
    assert col.short_cols.size > 0
    a, b = _frames(col, 0.05, 20, 8)
    ra, rb, la, lb, _ = reconcile_local(a, b, 0.05, np.random.default_rng(4), cfg, col)
    assert ra.kept.size >= 16 and np.array_equal(ra.kept, rb.kept)
    assert (ra.key != rb.key).any(axis=1).sum() <= 1
    assert la.as_dict() == lb.as_dict()


@pytest.mark.parametrize("punct", [0.0, 0.08])
@pytest.mark.parametrize("qber", [0.02, 0.08])
def test_round_trip_keys_agree_and_ledgers_match(qber, punct):
    cfg = replace(HW, max_punct_frac=punct)
    lay = choose_layout(qber, cfg)
    assert (lay.n_punct > 0) == (punct > 0)
    rng = np.random.default_rng(int(qber * 1000))
    F = 40
    a = rng.integers(0, 2, (F, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < qber).astype(np.uint8)
    ra, rb, la, lb, n_msgs = reconcile_local(a, b, qber, rng, cfg)
    assert np.array_equal(ra.kept, rb.kept)
    # a short code can converge to another word with the same syndrome (undetected error; the
    # verification hash of the protocol stage catches it): rare, never the common case
    wrong = (ra.key != rb.key).any(axis=1)
    assert wrong.sum() <= max(1, F // 20)
    assert np.array_equal(ra.key, a[ra.kept])
    assert ra.n_failed == F - ra.kept.size and ra.kept.size >= F * 0.8
    assert la.as_dict() == lb.as_dict()
    ok = ~wrong
    assert np.array_equal(rb.errors[ok], (b[ra.kept] != a[ra.kept]).sum(axis=1)[ok])
    assert abs(rb.observed_qber - qber) < 0.3 * qber
    code = lay.code
    assert la.entries["syndrome"] == F * (code.m - lay.n_punct)
    # every reveal round opens reveal_size bits per frame still failing
    extra = sum(sum(lay.reveal_after(k) for k in range(1, int(r))) for r in rb.rounds)
    assert la.entries.get("revealed", 0) == extra
    assert n_msgs == 2 * int(rb.rounds.max())


def test_failed_frames_are_discarded_not_passed_on():
    cfg = ReconcileConfig(family="hw", max_rounds=2)
    lay = choose_layout(0.02, cfg)
    rng = np.random.default_rng(9)
    a = rng.integers(0, 2, (6, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.2).astype(np.uint8)  # hopeless frames
    b[0] = a[0]  # except one
    ra, rb, la, _, _ = reconcile_local(a, b, 0.02, rng, cfg)
    assert ra.kept.tolist() == rb.kept.tolist() == [0]
    assert ra.n_failed == rb.n_failed == 5
    assert la.entries["revealed"] == 5 * lay.reveal_after(1)  # one reveal round, five frames
    assert np.array_equal(rb.key, a[:1])


def test_messages_are_frozen_and_alice_rejects_bad_requests():
    lay = choose_layout(0.03, HW)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, (3, lay.n_key), dtype=np.uint8)
    la, lb = LeakageLedger(), LeakageLedger()
    st_a, msg = alice_start(a, 0.03, rng, la, HW)
    with pytest.raises(AttributeError):
        msg.n_frames = 4
    b = a ^ (rng.random(a.shape) < 0.2).astype(np.uint8)
    _st_b, reply = bob_start(msg, b, lb, HW)
    assert not reply.final and reply.frames.size == 3
    bad = type(reply)(reply.round, False, reply.ok, reply.frames, reply.positions.copy())
    known0 = st_a.revealed.copy()
    d = lay.reveal_after(1)
    bad.positions[2 * d - 1] = lay.short_pos[0]  # a known bit (second frame's last request)
    with pytest.raises(ProtocolError, match="already known or repeated"):
        alice_reveal(st_a, bad, la)
    bad = type(reply)(reply.round, False, reply.ok, reply.frames, reply.positions.copy())
    bad.positions[d + 1] = bad.positions[d]  # the same bit twice
    with pytest.raises(ProtocolError, match="already known or repeated"):
        alice_reveal(st_a, bad, la)
    # nothing taken, and Alice's round unchanged: the good reply is still answered
    assert np.array_equal(st_a.revealed, known0) and la.total == lb.total and st_a.round == 0
    rev = alice_reveal(st_a, reply, la)
    rows = np.repeat(reply.frames, d)
    assert np.array_equal(unpack_bits(rev.values, rows.size), st_a.frames[rows, reply.positions])
    assert st_a.revealed[rows, reply.positions].all()
    assert st_a.revealed.sum() == known0.sum() + rows.size


def test_round_trip_with_fixed_point_decoder():
    cfg = replace(HW, decoder="fixed")
    lay = choose_layout(0.05, cfg)
    rng = np.random.default_rng(11)
    a = rng.integers(0, 2, (20, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.05).astype(np.uint8)
    ra, rb, la, lb, _ = reconcile_local(a, b, 0.05, rng, cfg)
    assert ra.kept.size >= 16 and np.array_equal(ra.kept, rb.kept)
    assert (ra.key != rb.key).any(axis=1).sum() <= 1
    assert la.as_dict() == lb.as_dict()


@pytest.mark.parametrize("decoder", ["float", "fast"])
@pytest.mark.parametrize("reveal", ["flipped", "posterior", "mixed"])
@pytest.mark.parametrize("warm", [True, False])
def test_reveal_rules_and_cold_restart_round_trip(reveal, warm, decoder):
    # round one mostly fails
    cfg = replace(HW, reveal=reveal, warm=warm, f_start=1.05, decoder=decoder)
    lay = choose_layout(0.05, cfg)
    rng = np.random.default_rng(17)
    F = 24
    a = rng.integers(0, 2, (F, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.05).astype(np.uint8)
    ra, rb, la, lb, _ = reconcile_local(a, b, 0.05, rng, cfg)
    assert rb.rounds.mean() > 1.5  # the reveal rounds did the work
    assert ra.kept.size >= F * 0.8 and np.array_equal(ra.kept, rb.kept)
    assert (ra.key != rb.key).any(axis=1).sum() <= 1
    assert la.as_dict() == lb.as_dict()
    extra = sum(sum(lay.reveal_after(k) for k in range(1, int(r))) for r in rb.rounds)
    assert la.entries.get("revealed", 0) == extra
    assert rb.iterations >= F


@pytest.mark.parametrize("decoder", ["float", "fast", "fixed", "bp"])
def test_bobs_replies_depend_on_the_error_pattern_only(decoder):
    # two different Alice keys with the same error pattern: Bob's success flags and requested
    # positions are identical in every round (the integer decoders decode the error pattern, so
    # even the ties of their arithmetic cannot depend on the key)
    cfg = replace(HW, decoder=decoder, f_start=1.05)
    lay = choose_layout(0.05, cfg)
    rng = np.random.default_rng(23)
    F = 16
    e = (rng.random((F, lay.n_key)) < 0.05).astype(np.uint8)
    replies = []
    for seed in (1, 2):
        a = np.random.default_rng(seed).integers(0, 2, (F, lay.n_key), dtype=np.uint8)
        la, lb = LeakageLedger(), LeakageLedger()
        st_a, msg = alice_start(a, 0.05, np.random.default_rng(seed), la, cfg)
        st_b, reply = bob_start(msg, a ^ e, lb, cfg)
        seq = [reply]
        while (rev := alice_reveal(st_a, reply, la)) is not None:
            reply = bob_continue(st_b, rev, lb)
            seq.append(reply)
        replies.append(seq)
    assert len(replies[0]) == len(replies[1]) > 2
    for r1, r2 in zip(*replies, strict=True):
        assert np.array_equal(r1.ok, r2.ok) and np.array_equal(r1.frames, r2.frames)
        assert np.array_equal(r1.positions, r2.positions)


def test_fast_decoder_matches_float_efficiency_on_n32k():
    # the 8-bit decoder in the protocol on a real code: every frame decodes to Alice's key and
    # f is within 0.03 of the float min-sum on the same frames
    res = {}
    for decoder in ("float", "fast"):
        cfg = ReconcileConfig(decoder=decoder)
        lay = choose_layout(0.03, cfg)
        rng = np.random.default_rng(4)
        a = rng.integers(0, 2, (8, lay.n_key), dtype=np.uint8)
        b = a ^ (rng.random(a.shape) < 0.03).astype(np.uint8)
        ra, rb, la, lb, _ = reconcile_local(a, b, 0.03, rng, cfg)
        assert ra.n_failed == 0 and np.array_equal(rb.key, a)
        assert la.as_dict() == lb.as_dict()
        res[decoder] = la.total
    assert res["fast"] < 1.03 * res["float"]


def test_config_rejects_unknown_reveal_rule():
    from postproc.errors import ConfigError

    with pytest.raises(ConfigError, match="reveal"):
        ReconcileConfig(reveal="random")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.sampled_from([0, 1, 2]))
def test_reveal_pick_is_the_k_smallest_scores(seed, k, mode):
    # numba selection (sampled threshold + partition) == a stable sort of the documented scores
    from postproc.reconcile.blind import _reveal_pick

    rng = np.random.default_rng(seed)
    F, n = 3, 2000
    post = (rng.integers(-40, 40, (F, n)) / 4).astype(np.float32)  # many ties
    llr = np.where(rng.random((F, n)) < 0.5, -2.0, 2.0).astype(np.float32)
    decoded = (post < 0).astype(np.uint8)
    revealed = rng.random((F, n)) < 0.3
    keyp = np.sort(rng.choice(n, 1500, replace=False)).astype(np.int64)
    frames = np.array([2, 0], dtype=np.int64)
    out = np.empty((2, k), dtype=np.int32)
    _reveal_pick(post, llr, decoded, revealed, keyp, frames, mode, k, out)
    for j, f in enumerate(frames):
        p, neg = post[f, keyp].astype(np.float64), llr[f, keyp] < 0
        flip = (p < 0) != neg
        if mode == 0:
            score = np.where(flip, -float(keyp.size), 0.0) + np.arange(keyp.size)
        else:
            score = np.abs(p) - np.where(flip & (mode == 2), 1e6, 0.0)
        score[revealed[f, keyp]] = np.inf
        want = np.sort(keyp[np.argsort(score, kind="stable")[:k]])
        assert np.array_equal(out[j], want)
        assert not revealed[f, out[j]].any()


def test_fast_late_round_raises_the_stall_from_that_round_on():
    # late round 1 == stall + 1 in every round (same keys, ledgers, rounds, iterations); the
    # default (late rounds only) differs from stall + 1 everywhere on frames that need rounds
    lay = choose_layout(0.05, HW)
    rng = np.random.default_rng(11)
    a = rng.integers(0, 2, (30, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.05).astype(np.uint8)

    def run(**kw):
        cfg = replace(HW, decoder="fast", fast_stall_rounds=(), **kw)
        ra, rb, la, lb, n = reconcile_local(a, b, 0.05, np.random.default_rng(1), cfg, lay)
        assert np.array_equal(ra.key, rb.key) and la.as_dict() == lb.as_dict()
        return rb.iterations, rb.rounds.tolist(), la.as_dict(), n, ra.key.tobytes()

    every = run(fast_stall=3, fast_late_round=None)
    assert run(fast_stall=2, fast_late_round=1) == every
    assert run(fast_stall=2, fast_late_round=None) != every


def test_fast_round_schedules_set_stall_and_iterations_per_round():
    from postproc.errors import ConfigError
    from postproc.reconcile.blind import fast_round_limits

    lay = choose_layout(0.05, HW)
    rng = np.random.default_rng(11)
    a = rng.integers(0, 2, (30, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.05).astype(np.uint8)

    def run(**kw):
        cfg = replace(HW, decoder="fast", **kw)
        ra, rb, la, lb, n = reconcile_local(a, b, 0.05, np.random.default_rng(1), cfg, lay)
        assert la.as_dict() == lb.as_dict()
        assert ra.n_failed == rb.n_failed and np.array_equal(ra.key, rb.key)
        return rb.iterations, rb.rounds.tolist(), la.as_dict(), n, ra.key.tobytes()

    base = run(fast_stall=2, fast_late_round=3, fast_stall_rounds=())
    assert base[1].count(1) < 30  # some frames need reveal rounds: the schedule matters
    # a schedule equal to what the constant stall gives reproduces it exactly
    assert run(fast_stall=2, fast_late_round=3, fast_stall_rounds=(2, 2)) == base
    # a different stall in round 1 only, or an iteration cap, changes the exchange
    assert run(fast_stall=2, fast_late_round=3, fast_stall_rounds=(1,)) != base
    assert run(fast_stall=2, fast_late_round=3, fast_stall_rounds=(), fast_iter_rounds=(2,)) != base
    cfg = replace(HW, decoder="fast", fast_stall=2, fast_late_round=3,
                  fast_stall_rounds=(1, 0), fast_iter_rounds=(2, 7))
    assert [fast_round_limits(cfg, r) for r in (1, 2, 3, 4)] == [
        (1, 2), (0, 7), (3, HW.max_iter), (3, HW.max_iter)]
    with pytest.raises(ConfigError):
        ReconcileConfig(fast_iter_rounds=(0,))
    with pytest.raises(ConfigError):
        ReconcileConfig(fast_stall_rounds=(-1,))


def test_fast_hopeless_frames_get_capped_rounds(monkeypatch):
    # round one of a high-rate code, and later rounds of frames whose smallest odd-check count
    # stayed >= fast_hopeless x their first one, run at most fast_hopeless_iter iterations;
    # the other frames the full max_iter. Checked against the decoder's own traces.
    from postproc.reconcile import blind

    calls = []
    orig = blind.decode_fast_warm

    def spy(state, **kw):
        out, it, ok = orig(state, **kw)
        calls.append((np.asarray(kw["frames"]).copy(), kw["max_iter"], it.copy(),
                       kw["trace"].copy()))
        return out, it, ok

    monkeypatch.setattr(blind, "decode_fast_warm", spy)
    cfg = replace(HW, decoder="fast", fast_hopeless=0.6, fast_hopeless_iter=3)
    lay = choose_layout(0.05, cfg)
    assert lay.code.rate >= cfg.fast_hopeless_rate
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2, (40, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.05).astype(np.uint8)
    ra, rb, la, lb, _ = reconcile_local(a, b, 0.05, np.random.default_rng(1), cfg, lay)
    assert ra.n_failed == rb.n_failed and np.array_equal(ra.key, rb.key)
    assert la.as_dict() == lb.as_dict()
    fr0, mi0, it0, tr0 = calls[0]
    assert mi0 == 3 and fr0.size == 40 and (it0 <= 3).all()  # round one: every frame capped
    bad0 = dict(zip(fr0.tolist(), tr0[:, 0].tolist(), strict=True))
    top = np.iinfo(np.int32).max
    last = {f: t[: i].min() for f, i, t in zip(fr0.tolist(), it0, tr0, strict=True)}
    seen_capped = seen_full = False
    k = 1
    while k < len(calls):  # one round = one or two calls (capped, then full)
        rnd = [calls[k]]
        if k + 1 < len(calls) and calls[k][1] == 3 and calls[k + 1][1] == HW.max_iter:
            rnd.append(calls[k + 1])
        for fr, mi, it, _ in rnd:
            want = mi == 3
            seen_capped |= want
            seen_full |= not want
            for f in fr.tolist():
                assert (last[f] >= 0.6 * bad0[f]) == want
            assert (it <= mi).all()
        for fr, _, _, tr in rnd:  # unwritten entries (converged iteration): top
            for f, t in zip(fr.tolist(), tr, strict=True):
                last[f] = 0 if t.min() == top else t.min()
        k += len(rnd)
    assert seen_capped and seen_full
    # off (None), or on a code below fast_hopeless_rate: one call per round, no cap
    calls.clear()
    reconcile_local(a, b, 0.05, np.random.default_rng(1), replace(cfg, fast_hopeless=None), lay)
    assert all(c[1] == HW.max_iter for c in calls)


def test_fast_hopeless_split_alone_changes_nothing():
    # a threshold no frame reaches and a cap of max_iter: the same exchange as without the rule
    # (two kernel calls per round give the same results as one); the default rule does act
    lay = choose_layout(0.05, HW)
    rng = np.random.default_rng(6)
    a = rng.integers(0, 2, (30, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.05).astype(np.uint8)

    def run(**kw):
        cfg = replace(HW, decoder="fast", **kw)
        ra, rb, la, lb, n = reconcile_local(a, b, 0.05, np.random.default_rng(1), cfg, lay)
        assert np.array_equal(ra.key, rb.key) and la.as_dict() == lb.as_dict()
        return rb.iterations, rb.rounds.tolist(), la.as_dict(), n, ra.key.tobytes()

    off = run(fast_hopeless=None)
    assert run(fast_hopeless=1e9, fast_hopeless_iter=HW.max_iter) == off
    assert run(fast_hopeless_rate=0.99) == off
    assert run() != off


def test_fast_norm_low_applies_below_the_rate_only():
    from postproc.reconcile.blind import fast_norm_of

    cfg = replace(HW, decoder="fast")
    lo = choose_layout(0.10, cfg)
    hi = choose_layout(0.03, cfg)
    assert lo.code.rate < cfg.fast_low_rate <= hi.code.rate
    assert fast_norm_of(cfg, lo.code) == (15, 4) and fast_norm_of(cfg, hi.code) == (7, 3)
    assert fast_norm_of(replace(cfg, fast_norm_low=None), lo.code) == (7, 3)
    rng = np.random.default_rng(8)
    a = rng.integers(0, 2, (30, lo.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.10).astype(np.uint8)

    def run(**kw):
        ra, rb, la, lb, _ = reconcile_local(a, b, 0.10, np.random.default_rng(1),
                                            replace(cfg, **kw), lo)
        assert np.array_equal(ra.key, rb.key) and la.as_dict() == lb.as_dict()
        return rb.iterations, rb.rounds.tolist(), la.as_dict(), ra.key.tobytes()

    assert run(fast_norm_low=(7, 3)) == run(fast_norm_low=None)  # the same normalisation
    assert run() != run(fast_norm_low=None)


def test_fast_hopeless_requests_depend_on_the_error_pattern_only(monkeypatch):
    # the cap decisions read odd-check counts of the error-pattern decoding: two keys with one
    # error pattern give identical replies, with capped later rounds actually happening
    from postproc.reconcile import blind

    maxits = []
    orig = blind.decode_fast_warm

    def spy(state, **kw):
        maxits.append(kw["max_iter"])
        return orig(state, **kw)

    monkeypatch.setattr(blind, "decode_fast_warm", spy)
    cfg = replace(HW, decoder="fast", fast_hopeless=0.6, fast_hopeless_iter=3)
    lay = choose_layout(0.05, cfg)
    e = (np.random.default_rng(29).random((24, lay.n_key)) < 0.05).astype(np.uint8)
    replies = []
    for seed in (1, 2):
        maxits.clear()
        a = np.random.default_rng(seed).integers(0, 2, (24, lay.n_key), dtype=np.uint8)
        la, lb = LeakageLedger(), LeakageLedger()
        st_a, msg = alice_start(a, 0.05, np.random.default_rng(seed), la, cfg)
        st_b, reply = bob_start(msg, a ^ e, lb, cfg)
        seq = [reply]
        while (rev := alice_reveal(st_a, reply, la)) is not None:
            reply = bob_continue(st_b, rev, lb)
            seq.append(reply)
        replies.append(seq)
        assert maxits.count(3) >= 2  # round one and at least one later capped round
    assert len(replies[0]) == len(replies[1]) > 2
    for r1, r2 in zip(*replies, strict=True):
        assert np.array_equal(r1.ok, r2.ok) and np.array_equal(r1.frames, r2.frames)
        assert np.array_equal(r1.positions, r2.positions)
