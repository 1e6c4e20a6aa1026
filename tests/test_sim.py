"""The BB84 simulator against closed-form theory, plus its hardware effects and determinism."""

import math

import numpy as np
import pytest

from postproc.sim import SimConfig, SimTruth, simulate
from postproc.sim.bb84 import ORIGIN_AFTERPULSE, ORIGIN_DARK, ORIGIN_SIGNAL, ORIGIN_SYNC
from postproc.sim.theory import expected, gate_acceptance

GATE = 150  # ps, half width


def _run(cfg, n_slots):
    truth = SimTruth()
    chunks = list(simulate(cfg, n_slots, truth))
    cat = lambda f: np.concatenate([f(c) for c in chunks])  # noqa: E731
    return (
        cat(lambda c: c.alice),
        cat(lambda c: c.bob.t),
        cat(lambda c: c.bob.ch),
        cat(lambda c: c.truth_slot),
        cat(lambda c: c.truth_origin),
        truth,
    )


def _observe(cfg, log, t, ch):
    """Independent of postproc.sift: slot from the known offset (no drift), gate, clicks."""
    T = int(cfg.slot_period_ps)
    det = ch > 0
    t, ch = t[det] - cfg.time_offset_ps, ch[det]
    slot = (t + T // 2) // T
    r = t - slot * T
    ok = (r >= -GATE) & (r < GATE) & (slot >= 0) & (slot < len(log))
    slot, ch = slot[ok], ch[ok]
    # one click per detector per slot (a dark count on top of a photon click is one click)
    key = np.unique(slot * 8 + ch)
    slot, ch = key // 8, key % 8
    uslot, first, nclick = np.unique(slot, return_index=True, return_counts=True)
    return log, uslot, ch[first], nclick


POINTS = [
    # (distance km, receiver, dark Hz, eve fraction)
    (0.0, "passive", 2e4, 0.0),
    (25.0, "passive", 500.0, 0.0),
    (100.0, "passive", 1e5, 0.0),
    (25.0, "active", 2e4, 0.0),
    (10.0, "passive", 500.0, 0.5),
]


@pytest.mark.parametrize(("distance", "receiver", "dark", "eve"), POINTS)
def test_statistics_match_theory(distance, receiver, dark, eve):
    n_det = 4 if receiver == "passive" else 2
    cfg = SimConfig(
        distance_km=distance,
        receiver=receiver,
        efficiency=(0.25, 0.2, 0.22, 0.18)[:n_det],
        dark_count_hz=(dark,) * n_det,
        dead_time_ns=0.0,
        afterpulse_prob=0.0,
        misalignment=0.02,
        intensities=(0.6, 0.15, 0.01),
        intensity_probs=(0.6, 0.25, 0.15),
        p_z=0.8,
        eve_fraction=eve,
        sync_divider=0,
        seed=int(distance * 10) + n_det + int(eve * 7),
    )
    n_slots = 3 << 22
    log, t, ch, _, _, truth = _run(cfg, n_slots)
    assert len(log) == n_slots
    log, uslot, ch1, nclick = _observe(cfg, log, t, ch)
    theory = expected(cfg, GATE)
    cls = log >> 2
    alice_basis = (log >> 1) & 1
    alice_bit = log & 1
    for k in range(3):
        n_k = int((cls == k).sum())
        assert n_k == truth.slots_per_class[k]
        p = cfg.intensity_probs[k]
        assert abs(n_k - p * n_slots) < 5 * math.sqrt(n_slots * p * (1 - p)) + 1
        th = theory[k]
        in_k = cls[uslot] == k
        for name, obs, pth in (
            ("detect", in_k.sum(), th.p_detect),
            ("double", (in_k & (nclick >= 2)).sum(), th.p_double),
        ):
            sigma = math.sqrt(n_k * pth * (1 - pth)) + 1
            assert abs(obs - n_k * pth) < 5 * sigma, (name, k, obs, n_k * pth)
        for a in (0, 1):
            single = in_k & (nclick == 1)
            dbasis = (ch1 - 1) >> 1
            match = single & (alice_basis[uslot] == a) & (dbasis == a)
            n_match = int(match.sum())
            n_err = int((match & (((ch1 - 1) & 1) != alice_bit[uslot])).sum())
            assert (
                abs(n_match - n_k * th.p_single_match[a])
                < 5 * math.sqrt(n_k * th.p_single_match[a]) + 1
            )
            if n_match > 50:
                q = th.qber(a)
                assert abs(n_err - n_match * q) < 5 * math.sqrt(n_match * q * (1 - q)) + 1, (
                    k,
                    a,
                    n_err,
                    n_match,
                    q,
                )


def test_theory_known_values():
    # lossless, perfect detectors, no darks, huge gate: P(click) = 1 - exp(-mu)
    cfg = SimConfig(
        distance_km=0,
        extra_loss_db=0,
        efficiency=(1.0,) * 4,
        dark_count_hz=(0.0,) * 4,
        intensities=(0.5, 0.1, 0.0),
        misalignment=0.0,
        p_z=0.5,
    )
    th = expected(cfg, 1e6)
    assert th[0].p_detect == pytest.approx(1 - math.exp(-0.5))
    assert th[2].p_detect == 0.0
    assert th[0].qber(0) == 0.0
    # full intercept-resend with random bases: 25 % QBER on single clicks, any mu
    th = expected(cfg.replace(eve_fraction=1.0, intensities=(1e-4, 0.1, 0.0)), 1e6)
    assert th[0].qber(0) == pytest.approx(0.25, rel=1e-3)
    assert th[1].qber(1) == pytest.approx(0.25, rel=0.05)
    # gate acceptance of a pure Gaussian: +/- 1 sigma
    g = gate_acceptance(SimConfig(jitter_sigma_ps=100, jitter_tail_prob=0.0), 100)
    assert g == pytest.approx(0.682689, abs=1e-6)


def test_truth_slot_and_origin():
    cfg = SimConfig(distance_km=5, dark_count_hz=(5e4,) * 4, sync_divider=1 << 12, seed=3)
    _log, t, ch, tslot, org, truth = _run(cfg, 1 << 22)
    assert np.all(np.diff(t) >= 0)
    sig = org == ORIGIN_SIGNAL
    # a signal click sits within the jitter of its slot's centre in Bob's clock
    dt = t[sig] - cfg.time_offset_ps - tslot[sig] * int(cfg.slot_period_ps)
    assert dt.min() >= -8 * cfg.jitter_sigma_ps - 1
    assert np.percentile(np.abs(dt), 50) < 2 * cfg.jitter_sigma_ps
    assert np.all(tslot[~sig] == -1)
    assert (org == ORIGIN_SYNC).sum() == truth.sync_edges == (1 << 22) >> 12
    assert np.all(ch[org == ORIGIN_SYNC] == 0)
    assert (org == ORIGIN_DARK).sum() <= truth.dark_clicks
    assert sig.sum() + truth.dead_time_losses >= truth.signal_clicks - 0


def test_dead_time_and_afterpulses():
    cfg = SimConfig(
        distance_km=0,
        extra_loss_db=0,
        dead_time_ns=50.0,
        afterpulse_prob=0.05,
        afterpulse_tau_ps=10_000.0,
        sync_divider=0,
        dark_count_hz=(0.0,) * 4,
        seed=9,
    )
    _, t, ch, _, org, truth = _run(cfg, 1 << 22)
    for c in range(1, 5):
        tc = t[ch == c]
        assert np.diff(tc).min() >= 50_000  # nothing on a detector within its dead time
    assert truth.dead_time_losses > 0
    n_acc = int((org != ORIGIN_AFTERPULSE).sum())
    n_ap = int((org == ORIGIN_AFTERPULSE).sum())
    # every accepted click spawns one with 5 %; some are lost to the dead time of later clicks
    assert n_ap < 0.05 * (n_acc + n_ap) + 5 * math.sqrt(0.05 * n_acc)
    assert n_ap > 0.03 * n_acc


def test_clock_offset_drift_and_determinism():
    base = SimConfig(
        distance_km=0,
        seed=5,
        sync_divider=1 << 10,
        jitter_sigma_ps=0,
        jitter_tail_prob=0.0,
        dead_time_ns=0,
        afterpulse_prob=0,
        dark_count_hz=(0.0,) * 4,
    )
    drift = base.replace(drift_ppm=2.0, time_offset_ps=-1000_000)
    _, t0, ch0, _s0, _, _ = _run(base, 1 << 21)
    _, t1, ch1, _s1, _, tr = _run(drift, 1 << 21)
    _, t2, _, _, _, _ = _run(base, 1 << 21)
    assert np.array_equal(t0, t2)  # same seed, same run
    # Bob's clock: offset plus 2 ppm; events before Bob's t=0 are not recorded
    sync0 = t0[ch0 == 0] - base.time_offset_ps - base.sync_delay_ps
    sync1 = t1[ch1 == 0]
    n_lost = len(sync0) - len(sync1)
    assert n_lost == np.searchsorted(sync0, 1_000_000 / (1 + 2e-6))
    expect = sync0[n_lost:] + base.sync_delay_ps
    expect = expect + np.round(expect * 2e-6).astype(np.int64) - 1_000_000
    assert np.abs(sync1 - expect).max() <= 1
    assert tr.events_before_bob_start > 0


def _outcome(u, thr):
    c = sum(int(u >= t) for t in thr)
    x = int(c >= 3)
    return (x << 1) | ((c - 3 * x) << 2)


@pytest.mark.parametrize(
    "probs", [(0.9, (0.7, 0.2, 0.1)), (0.5, (0.5, 0.5, 0.0)), (1.0, (1, 0, 0))]
)
def test_alice_table_is_exact(probs):
    from postproc.sim.bb84 import alice_table, alice_thresholds

    thr = alice_thresholds(*probs)
    table = alice_table(thr)
    v = np.flatnonzero(table != 0xFF)
    lo, hi = v << 15, (v << 15) + (1 << 15) - 1
    # a table entry is the outcome of every 31-bit u in its range
    for ends in (lo, hi):
        got = [_outcome(int(u), thr) for u in ends[:: max(1, len(ends) // 4000)]]
        assert got == table[v][:: max(1, len(ends) // 4000)].tolist()
    assert (table == 0xFF).sum() <= 5


def test_alice_log_kernel_matches_python_reference():
    from postproc.sim.bb84 import alice_log_kernel, alice_table, alice_thresholds
    from postproc.sim.rng import new_state, next_u64

    thr = alice_thresholds(0.8, (0.6, 0.3, 0.1))
    for table in (alice_table(thr), np.full(1 << 16, 0xFF, np.uint8)):  # real, all-fallback
        st = new_state(np.random.default_rng(4))
        ref_state = st.copy()
        out = np.empty(1000, np.uint8)
        counts = np.zeros(3, np.int64)
        alice_log_kernel(st, out, thr, table, counts)
        ref = []
        r = 0
        for i in range(1000):
            if i % 3 == 0:
                r = int(next_u64(ref_state))
            field = (r >> (17 * (i % 3))) & 0x1FFFF
            v = field >> 1
            b = int(table[v])
            if b == 0xFF:
                u = (v << 15) | (int(next_u64(ref_state)) & 0x7FFF)
                b = _outcome(u, thr)
            ref.append(b | (field & 1))
        assert out.tolist() == ref
        assert counts.tolist() == np.bincount(out >> 2, minlength=3).tolist()
        assert np.array_equal(st, ref_state)
