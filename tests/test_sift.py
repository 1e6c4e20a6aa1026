"""Sifting: the bit-exact kernel, encodings, clock/offset recovery and sifted-key properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postproc.errors import ProtocolError
from postproc.sift.bb84 import (
    SiftAnnounce,
    decode_announce,
    decode_varints,
    encode_varints,
    pack_2bit,
    segments_kernel,
    unpack_2bit,
)
from postproc.sift.kernel import (
    FLAG_DETECTOR,
    FLAG_GATE,
    FLAG_IN_LOG,
    FLAG_KEEP,
    make_chmap,
    sift_kernel,
    sift_kernel_exact,
)
from postproc.sift.run import SiftOptions, sift_streams
from postproc.sim import DETECTOR_MAP, SimConfig, SimTruth, simulate
from postproc.sim.bb84 import ORIGIN_SIGNAL

CHMAP = make_chmap(list(DETECTOR_MAP))


# ------------------------------------------------------------------------------------- kernel


def test_kernel_known_answer():
    # period 1000 ps, slot 7 centred at t = 5000 ps, gate [-100, 100) ps
    P = 1000 << 16
    kw = dict(
        t_anchor=5000,
        slot_anchor=7,
        period_q16=P,
        gate_lo_q16=-100 << 16,
        gate_hi_q16=100 << 16,
        chmap=CHMAP,
    )
    t = np.array([5000, 5099, 5100, 4900, 4899, 5499, 5500, 3000, 5000, 5000])
    ch = np.array([1, 2, 3, 4, 1, 1, 1, 2, 0, 300])
    slot, flags = sift_kernel(t, ch, **kw)
    assert slot.tolist() == [7, 7, 7, 7, 7, 7, 8, 5, 7, 7]
    g = (flags & FLAG_GATE).tolist()
    assert g == [1, 1, 0, 1, 0, 0, 0, 1, 1, 1]
    # channel 1 = (Z, 0), 2 = (Z, 1), 3 = (X, 0), 4 = (X, 1); 0 and 300 are not detectors
    assert (flags[:4] >> 1 & 7).tolist() == [1, 1 | 4, 1 | 2, 1 | 2 | 4]
    assert (flags[8:] & FLAG_DETECTOR).tolist() == [0, 0]
    # Alice's log from slot 5: slot 7 has basis X, slot 5 basis Z
    log = np.array([0b00, 0, 0b10, 0], np.uint8)
    _, f2 = sift_kernel(t, ch, alice_log=log, log_start=5, **kw)
    keep = (f2 & FLAG_KEEP) != 0
    assert keep.tolist() == [False, False, False, True, False, False, False, True, False, False]
    assert ((f2 & FLAG_IN_LOG) != 0).all()


@settings(max_examples=150, deadline=None)
@given(
    t=st.lists(st.integers(-(2**45), 2**45), min_size=1, max_size=40),
    ch=st.integers(-5, 300),
    t_anchor=st.integers(-(2**40), 2**40),
    slot_anchor=st.integers(-(2**40), 2**40),
    period_q16=st.one_of(st.integers(2**16, 2**17), st.integers(2**16, 2**46)),
    gate=st.tuples(st.integers(-(2**38), 2**38), st.integers(0, 2**38)),
    log=st.lists(st.integers(0, 11), min_size=1, max_size=8),
)
def test_kernel_matches_plain_integer_reference(
    t, ch, t_anchor, slot_anchor, period_q16, gate, log
):
    t = np.array(t, np.int64) + t_anchor
    t = t[np.abs(t - t_anchor) < 2**46]
    chs = np.full(len(t), ch, np.int16)
    lo, hi = gate[0], gate[0] + gate[1]
    log = np.array(log, np.uint8)
    log_start = slot_anchor - 2
    slot, flags = sift_kernel(
        t,
        chs,
        t_anchor=t_anchor,
        slot_anchor=slot_anchor,
        period_q16=period_q16,
        gate_lo_q16=lo,
        gate_hi_q16=hi,
        chmap=CHMAP,
        alice_log=log,
        log_start=log_start,
    )
    for i in range(len(t)):
        j = int(slot[i]) - log_start
        byte = int(log[j]) if 0 <= j < len(log) else None
        ref = sift_kernel_exact(
            int(t[i]), ch, t_anchor, slot_anchor, period_q16, lo, hi, CHMAP, byte
        )
        assert (int(slot[i]), int(flags[i])) == ref


@settings(deadline=None)
@given(st.integers(-(2**20), 2**20), st.integers(1, 2**20))
def test_kernel_at_exact_half_period(k, period_ps):
    # the point exactly half a period after a centre belongs to the next slot (floor rounding)
    P = period_ps << 16
    t = np.array([k * period_ps + (P >> 1 >> 16)], np.int64) if P % (2 << 16) == 0 else None
    if t is None:
        return
    slot, _ = sift_kernel(
        t,
        np.zeros(1),
        t_anchor=0,
        slot_anchor=0,
        period_q16=P,
        gate_lo_q16=0,
        gate_hi_q16=0,
        chmap=CHMAP,
    )
    assert slot[0] == k + 1


# --------------------------------------------------------------------------------- encodings


@settings(deadline=None)
@given(st.lists(st.integers(0, 2**62), max_size=50))
def test_varint_round_trip(values):
    v = np.array(values, np.int64)
    buf = encode_varints(v)
    assert decode_varints(buf, len(v)).tolist() == values
    if values:
        with pytest.raises(ProtocolError):
            decode_varints(buf[:-1], len(v))


@settings(deadline=None)
@given(st.lists(st.integers(0, 3), max_size=50))
def test_2bit_round_trip(values):
    assert unpack_2bit(pack_2bit(np.array(values)), len(values)).tolist() == values


def test_announce_rejects_non_increasing_slots():
    msg = SiftAnnounce(
        block=0, n=3, first_slot=10, slot_deltas=encode_varints(np.array([2, 0])), basis=b"\x00"
    )
    with pytest.raises(ProtocolError, match="strictly increase"):
        decode_announce(msg)


# ------------------------------------------------------------------------- end to end on sim


def _sim(cfg, n_slots):
    truth = SimTruth()
    chunks = list(simulate(cfg, n_slots, truth))
    log = np.concatenate([c.alice for c in chunks])
    t = np.concatenate([c.bob.t for c in chunks])
    ch = np.concatenate([c.bob.ch for c in chunks])
    ts = np.concatenate([c.truth_slot for c in chunks])
    org = np.concatenate([c.truth_origin for c in chunks])
    return log, t, ch, ts, org


def _sift(cfg, log, t, ch, **opts):
    step = 1 << 18

    def chunks():
        return ((t[i : i + step], ch[i : i + step]) for i in range(0, len(t), step))

    def read_alice(lo, hi):
        return log[max(lo, 0) : max(hi, 0)]

    return sift_streams(cfg.link_meta(), chunks, read_alice, SiftOptions(**opts), "sim")


@pytest.mark.parametrize(
    ("offset_ps", "drift_ppm"),
    [(1_000_000_000, 0.0), (-1_000_000_000, 2.0), (123_456, -3.0), (-377_777_777, 0.5)],
)
def test_offset_found_exactly_and_slots_match_truth(offset_ps, drift_ppm):
    cfg = SimConfig(
        time_offset_ps=offset_ps,
        drift_ppm=drift_ppm,
        wander_ps=30.0,
        wander_period_s=0.01,
        distance_km=20,
        seed=abs(offset_ps) % 1000 + 3,
    )
    log, t, ch, ts, org = _sim(cfg, 6 << 22)
    report, _det, clock = _sift(cfg, log, t, ch)
    # Bob numbers slots by his own clock (~ t / T0), so the offset is the time offset in slots
    # plus the drift accumulated before his first detection; exactness is checked on the truth
    assert abs(report.offset_slots + round(offset_ps / cfg.slot_period_ps)) <= 3
    slot = np.empty(len(t), np.int64)
    flags = np.empty(len(t), np.uint8)
    segments_kernel(
        t,
        ch.astype(np.int16),
        clock.seg_start,
        clock.t_anchor,
        clock.slot_anchor,
        clock.period_q16,
        np.int64(-150 << 16),
        np.int64(150 << 16),
        CHMAP,
        slot,
        flags,
    )
    sig = (org == ORIGIN_SIGNAL) & ((flags & FLAG_GATE) != 0)
    assert sig.sum() > 60_000
    # every signal click lands on the slot the simulator sent it in
    assert np.array_equal(slot[sig] + report.offset_slots, ts[sig])
    assert abs(report.offset_ps - offset_ps) < 100
    assert report.period_ps == pytest.approx(1000 * (1 + drift_ppm * 1e-6), abs=2e-4)


def test_sifted_key_properties_and_qber_truth():
    cfg = SimConfig(
        distance_km=30,
        dark_count_hz=(0.0,) * 4,
        afterpulse_prob=0.0,
        misalignment=0.03,
        p_z=0.7,
        seed=11,
        time_offset_ps=-5_000_321,
    )
    log, t, ch, ts, org = _sim(cfg, 6 << 22)
    report, det, clock = _sift(cfg, log, t, ch)
    a, b = report.alice, report.bob
    # identical index lists, no slot used twice, sorted
    assert np.array_equal(a.slot, b.slot) and np.array_equal(a.basis, b.basis)
    assert np.all(np.diff(a.slot) > 0)
    assert np.array_equal(a.intensity, b.intensity)
    # intensities and bases revealed agree with Alice's log
    assert np.array_equal((log[a.slot] >> 2) & 3, a.intensity)
    assert np.array_equal((log[a.slot] >> 1) & 1, a.basis)
    # kept bits are balanced in each basis (independent of the basis)
    for basis in (0, 1):
        for side in (a, b):
            bits = side.bits[side.basis == basis]
            assert abs(bits.mean() - 0.5) < 5 * 0.5 / math.sqrt(len(bits))
    # truth: single-click signal detections, basis matched, gated -> exact error count
    truth_err = np.zeros((2, 3), np.int64)
    slot = np.empty(len(t), np.int64)
    flags = np.empty(len(t), np.uint8)
    segments_kernel(
        t,
        ch.astype(np.int16),
        clock.seg_start,
        clock.t_anchor,
        clock.slot_anchor,
        clock.period_q16,
        np.int64(-150 << 16),
        np.int64(150 << 16),
        CHMAP,
        slot,
        flags,
    )
    sig = (org == ORIGIN_SIGNAL) & ((flags & FLAG_GATE) != 0)
    assert sig.sum() == report.stats["gated"]  # no darks, no afterpulses: all gated are signal
    tslot, tch = ts[sig], ch[sig]
    bob_basis, bob_bit = (tch - 1) >> 1, (tch - 1) & 1
    u, cnt = np.unique(tslot, return_counts=True)
    single = np.isin(tslot, u[cnt == 1])
    match = single & (bob_basis == ((log[tslot] >> 1) & 1))
    err = match & (bob_bit != (log[tslot] & 1))
    np.add.at(truth_err, (bob_basis[err], (log[tslot[err]] >> 2) & 3), 1)
    # the sift's errors on non-double slots
    dbl_slots = det.slot[det.double] + report.offset_slots
    nd = ~np.isin(a.slot, dbl_slots)
    m = np.zeros((2, 3), np.int64)
    e = nd & (a.bits != b.bits)
    np.add.at(m, (a.basis[e], a.intensity[e]), 1)
    assert np.array_equal(m, truth_err)
    assert report.m.sum() >= m.sum()
    assert report.qber(0) == pytest.approx(0.03, abs=0.005)
    n = report.n
    assert n.sum() == len(a)
    assert report.stats["double_clicks"] == int(det.double.sum())


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_log=st.integers(1, 400),
    offset=st.integers(-50, 50),
)
def test_party_functions_round_trip(data, n_log, offset):
    """Random detections and log: both parties end with the same index lists, exactly the
    announced slots inside Alice's log whose bases agree, each slot once."""
    from postproc.sift.bb84 import BobDetections, alice_answer, bob_announce, bob_sifted

    log = np.array(
        data.draw(st.lists(st.integers(0, 11), min_size=n_log, max_size=n_log)), np.uint8
    )
    log_start = data.draw(st.integers(-5, 5))
    slots = sorted(set(data.draw(st.lists(st.integers(-100, 500), max_size=60))))
    n = len(slots)
    det = BobDetections(
        slot=np.array(slots, np.int64),
        basis=np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.uint8),
        bit=np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.uint8),
        double=np.zeros(n, bool),
    )
    msg = bob_announce(det, block=3)
    got_slots, got_basis = decode_announce(msg)
    assert got_slots.tolist() == slots and got_basis.tolist() == det.basis.tolist()
    reply, alice, _ = alice_answer(
        msg, log, log_start, offset_slots=offset, intensities=[0.5, 0.1, 0]
    )
    bob = bob_sifted(reply, det, block=3)
    assert np.array_equal(alice.slot, bob.slot) and np.array_equal(alice.basis, bob.basis)
    assert np.array_equal(alice.intensity, bob.intensity)
    assert len(set(alice.slot.tolist())) == len(alice)
    expect = [
        s + offset
        for s, b in zip(slots, det.basis.tolist(), strict=True)
        if 0 <= s + offset - log_start < n_log and (log[s + offset - log_start] >> 1) & 1 == b
    ]
    assert alice.slot.tolist() == expect
    assert np.array_equal(bob.bits, det.bit[np.isin(det.slot + offset, expect)])
    assert np.array_equal(
        alice.bits,
        log[np.array(expect, np.int64) - log_start] & 1 if expect else np.zeros(0, np.uint8),
    )
    # a reply for another block is refused
    with pytest.raises(ProtocolError):
        bob_sifted(reply, det, block=4)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), nseg=st.integers(1, 5))
def test_joined_kernel_equals_bob_then_alice(seed, nseg):
    from postproc.sift.kernel import alice_keep, joined_kernel

    rng = np.random.default_rng(seed)
    n = 500
    t = np.sort(rng.integers(-(10**9), 10**9, n)).astype(np.int64)
    ch = rng.integers(-3, 260, n).astype(np.int16)
    starts = np.sort(rng.integers(-(10**9), 10**9, nseg)).astype(np.int64)
    starts[0] = -(2**62)
    t_anchor = rng.integers(-(10**9), 10**9, nseg).astype(np.int64)
    slot_anchor = rng.integers(-1000, 1000, nseg).astype(np.int64)
    period = rng.integers(1 << 16, 5000 << 16, nseg).astype(np.int64)
    log = rng.integers(0, 12, 3000).astype(np.uint8)
    lo, hi = np.int64(-(200 << 16)), np.int64(300 << 16)
    s1, f1 = np.empty(n, np.int64), np.empty(n, np.uint8)
    segments_kernel(t, ch, starts, t_anchor, slot_anchor, period, lo, hi, CHMAP, s1, f1)
    alice_keep(s1, f1, log, np.int64(-1500))
    s2, f2 = np.empty(n, np.int64), np.empty(n, np.uint8)
    joined_kernel(
        t, ch, starts, t_anchor, slot_anchor, period, lo, hi, CHMAP, log, np.int64(-1500), s2, f2
    )
    assert np.array_equal(s1, s2) and np.array_equal(f1, f2)
    # and both are the documented kernel, segment by segment
    seg = np.searchsorted(starts, t, side="right") - 1
    for k in range(nseg):
        m = seg == k
        s3, f3 = sift_kernel(
            t[m],
            ch[m],
            t_anchor=int(t_anchor[k]),
            slot_anchor=int(slot_anchor[k]),
            period_q16=int(period[k]),
            gate_lo_q16=int(lo),
            gate_hi_q16=int(hi),
            chmap=CHMAP,
            alice_log=log,
            log_start=-1500,
        )
        assert np.array_equal(s3, s2[m]) and np.array_equal(f3, f2[m])
