"""Streaming simulator of a decoy-state BB84 link: Alice's modulation log and Bob's time tags.

Physics (per slot of period T, intensity class k, Alice state (basis a, bit x)):

* The source emits Poisson(mu_k) photons; each photon independently survives the channel
  (transmittance eta_ch) and is routed to detector i with probability p_route_i (passive: splitter
  p_z_bob to the Z or X arm; in the matching basis to the correct detector with 1 - e_mis, to the
  other with e_mis; in the other basis 1/2 each) and detected with efficiency eta_i. The photon
  counts per detector are then independent Poisson(lambda_i = mu_k eta_ch eta_i p_route_i).
* Sparse sampling by thinning: with Lambda = max(mu) eta_ch max(eta) >= sum_i lambda_i, a slot holds
  N ~ Poisson(Lambda) "virtual photons"; each becomes a real photon at detector i with probability
  lambda_i / Lambda. Slots with N >= 1 are found by geometric skips (probability
  1 - exp(-Lambda)), so no per-slot loop runs over empty slots except the vectorised log.
* Intercept-resend Eve (fraction f of pulses) measures in a random basis and resends the same photon
  number in the state she found; photon routing then follows her state.
* Clicks get Gaussian jitter (clamped at +/-8 sigma) plus, with probability p_tail, an exponential
  delay. Dark counts are Poisson processes per detector. Each detector is dead for ``dead_time``
  after an accepted click (non-paralysable); an accepted click spawns an afterpulse with probability
  p_ap at dead_time + Exp(tau_ap) later.
* Bob's clock: t_bob = t + offset + drift * t + wander * sin(2 pi t / P). Events before Bob's
  t = 0 are not recorded. A clock edge every ``sync_divider`` slots appears on CLOCK_CHANNEL.

Everything random comes from per-chunk xoshiro256** states drawn from ``np.random.Generator(seed)``
with fixed chunking, so a run is a pure function of its configuration.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from postproc.events import EventChunk
from postproc.recording import RecordingWriter
from postproc.sim.config import CLOCK_CHANNEL, SimConfig
from postproc.sim.rng import exponential, new_state, normal, uniform, uniform_pos

SIM_CHUNK_SLOTS = 1 << 22  # fixed: the random streams (hence the run) depend on it
ORIGIN_SIGNAL, ORIGIN_DARK, ORIGIN_AFTERPULSE, ORIGIN_SYNC = 0, 1, 2, 3
_MAX_PENDING = 8


@njit(cache=True)
def alice_log_kernel(state, out, thr, table, class_counts):
    """Fill ``out`` with Alice's log bytes, three slots per xoshiro256** draw.

    Each slot takes 17 bits: 1 for the bit value and the top 16 bits ``v`` of a 31-bit uniform
    ``u`` that picks (basis, class) from the six joint outcomes ``(Z,0), (Z,1), (Z,2), (X,0),
    (X,1), (X,2)`` by comparison with the five cumulative thresholds ``thr`` (probabilities
    quantised to 2**-31). ``table[v]`` (see :func:`alice_table`) holds the outcome's log byte when
    no threshold falls inside v's range of u; otherwise (at most 5 of 65536 values) the 15 low bits
    of u are drawn and compared exactly. Adds the slots of each intensity class to
    ``class_counts``.
    """
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    n = out.shape[0]
    sum2 = 0  # sum of (byte >> 2) = n1 + 2 n2
    sum3 = 0  # sum of (byte >> 3) = n2
    r = np.uint64(0)
    h = 2
    for i in range(n):
        h += 1
        if h == 3:
            h = 0
            # xoshiro256** with the state in registers (same sequence as rng.next_u64)
            r = s1 * np.uint64(5)
            r = ((r << np.uint64(7)) | (r >> np.uint64(57))) * np.uint64(9)
            t = s1 << np.uint64(17)
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
        field = np.int64(r & np.uint64(0x1FFFF))
        r >>= np.uint64(17)
        v = field >> 1
        b = np.int64(table[v])
        if b == 0xFF:
            # a threshold lies inside v's range: draw the low 15 bits and compare exactly
            w = s1 * np.uint64(5)
            w = ((w << np.uint64(7)) | (w >> np.uint64(57))) * np.uint64(9)
            t = s1 << np.uint64(17)
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
            u = (v << 15) | np.int64(w & np.uint64(0x7FFF))
            c = 0
            for j in range(5):
                c += np.int64(u >= thr[j])
            x = np.int64(c >= 3)
            b = (x << 1) | ((c - 3 * x) << 2)
        b |= field & 1
        sum2 += b >> 2
        sum3 += b >> 3
        out[i] = np.uint8(b)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    class_counts[2] += sum3
    class_counts[1] += sum2 - 2 * sum3
    class_counts[0] += n - (sum2 - sum3)


def alice_table(thr: np.ndarray) -> np.ndarray:
    """The 65536-entry table of :func:`alice_log_kernel`: log byte (bit 0 clear) per 16-bit
    prefix v of the 31-bit uniform, or 0xFF where a threshold lies in (v 2**15, (v+1) 2**15)."""
    v = np.arange(1 << 16, dtype=np.int64)
    lo = v << 15
    c = sum((lo >= t).astype(np.int64) for t in thr)
    x = (c >= 3).astype(np.int64)
    table = ((x << 1) | ((c - 3 * x) << 2)).astype(np.uint8)
    for t in thr:
        if 0 < t < (1 << 31) and t % (1 << 15):
            table[t >> 15] = 0xFF
    return table


def alice_thresholds(p_z: float, intensity_probs: tuple[float, float, float]) -> np.ndarray:
    """The five cumulative 31-bit thresholds of :func:`alice_log_kernel`."""
    probs = [p_z * p for p in intensity_probs] + [(1 - p_z) * p for p in intensity_probs]
    cum = np.cumsum(probs)[:5]
    return np.array([min(round(c * 2**31), 2**31) for c in cum], np.int64)


@njit(cache=True)
def _jitter(state, sigma, p_tail, tau):
    j = 0.0
    if sigma > 0.0:
        g = normal(state)
        if g > 8.0:
            g = 8.0
        elif g < -8.0:
            g = -8.0
        j = sigma * g
    if p_tail > 0.0 and uniform(state) < p_tail:
        j += tau * exponential(state)
    return j


@njit(cache=True)
def signal_kernel(
    state,
    log,
    slot0,
    start,
    start_is_candidate,
    period,
    lam_max,
    mus,
    eta_ch,
    eff,
    passive,
    p_zb,
    e_mis,
    eve_frac,
    sigma,
    p_tail,
    tau,
    out_t,
    out_det,
    out_ch,
    out_slot,
    out_eve,
    counters,
):
    """Clicks of the signal photons in slots ``slot0 + start .. slot0 + len(log)``.

    Writes into the ``out_*`` buffers until full; returns (n_written, next_start): when the
    buffers filled up, ``next_start`` is a candidate slot not yet drawn, and the caller resumes
    there with ``start_is_candidate=True`` and fresh buffers.
    ``counters``: [candidates, eve_intercepts, photons_detected].
    """
    n = log.shape[0]
    q = 1.0 - math.exp(-lam_max)
    if q <= 0.0:
        return 0, n
    log1mq = math.log1p(-q)
    cap = out_t.shape[0]
    n_out = 0
    ndet = eff.shape[0]
    lam = np.zeros(4)
    phot = np.zeros(4, np.int64)
    s = start
    if not start_is_candidate:
        s += math.floor(math.log(uniform_pos(state)) / log1mq)
    while s < n:
        if n_out + 4 > cap:
            return n_out, s
        counters[0] += 1
        v = log[s]
        x = v & 1
        a = (v >> 1) & 1
        mu = mus[(v >> 2) & 3]
        eve = 0
        if eve_frac > 0.0 and uniform(state) < eve_frac:
            eve = 1
            counters[1] += 1
            eb = 1 if uniform(state) < 0.5 else 0
            if eb != a:
                x = 1 if uniform(state) < 0.5 else 0
            a = eb
        bb = 0 if uniform(state) < p_zb else 1  # used by the active receiver only
        base = mu * eta_ch
        for i in range(ndet):
            if passive:
                db = i >> 1
                dx = i & 1
                p_arm = p_zb if db == 0 else 1.0 - p_zb
            else:
                db = bb
                dx = i
                p_arm = 1.0
            p_bit = (1.0 - e_mis if dx == x else e_mis) if db == a else 0.5
            lam[i] = base * eff[i] * p_arm * p_bit
            phot[i] = 0
        # zero-truncated Poisson(lam_max) number of virtual photons, by inversion
        u = uniform(state) * q
        p = math.exp(-lam_max) * lam_max
        k = 1
        cum = p
        while u > cum and k < 64:
            k += 1
            p *= lam_max / k
            cum += p
        for _ in range(k):
            w = uniform(state) * lam_max
            c = 0.0
            for i in range(ndet):
                c += lam[i]
                if w < c:
                    phot[i] += 1
                    break
        t_slot = (slot0 + s) * period
        for i in range(ndet):
            if phot[i] > 0:
                counters[2] += 1
                out_t[n_out] = np.int64(round(t_slot + _jitter(state, sigma, p_tail, tau)))
                out_det[n_out] = i
                out_ch[n_out] = 1 + i if passive else 1 + 2 * bb + i
                out_slot[n_out] = slot0 + s
                out_eve[n_out] = eve
                n_out += 1
        s += 1 + math.floor(math.log(uniform_pos(state)) / log1mq)
    return n_out, n


@njit(cache=True)
def dark_kernel(state, next_dark, rates_per_ps, t_stop, passive, p_zb):
    """Dark counts of every detector up to ``t_stop`` (ps, float). ``next_dark`` holds each
    detector's next dark-count time and is advanced (carried across chunks)."""
    ndet = rates_per_ps.shape[0]
    total = 0
    for i in range(ndet):
        if rates_per_ps[i] > 0:
            total += int((t_stop - next_dark[i]) * rates_per_ps[i] * 2.0 + 16)
    t_out = np.empty(max(total, 0), np.int64)
    det = np.empty(max(total, 0), np.int8)
    ch = np.empty(max(total, 0), np.int16)
    n = 0
    for i in range(ndet):
        r = rates_per_ps[i]
        if r <= 0:
            continue
        while next_dark[i] < t_stop and n < total:
            t_out[n] = np.int64(round(next_dark[i]))
            det[n] = i
            if passive:
                ch[n] = 1 + i
            else:
                ch[n] = 1 + 2 * (0 if uniform(state) < p_zb else 1) + i
            n += 1
            next_dark[i] += exponential(state) / r
    return t_out[:n], det[:n], ch[:n]


@njit(cache=True)
def _flush_afterpulses(
    state,
    d,
    lim,
    strict,
    last_click,
    pend_t,
    pend_ch,
    n_pend,
    dead,
    p_ap,
    tau_ap,
    passive,
    p_zb,
    o_t,
    o_ch,
    o_slot,
    o_eve,
    o_org,
    m,
    counters,
):
    """Emit detector ``d``'s pending afterpulses up to ``lim`` (``< lim`` if strict), in time
    order, each subject to dead time and able to spawn the next one. Returns the new count m."""
    while n_pend[d] > 0 and m < o_t.shape[0]:
        kmin = 0
        for kk in range(1, n_pend[d]):
            if pend_t[d, kk] < pend_t[d, kmin]:
                kmin = kk
        ta = pend_t[d, kmin]
        if ta > lim or (strict and ta == lim):
            break
        ca = pend_ch[d, kmin]
        n_pend[d] -= 1
        pend_t[d, kmin] = pend_t[d, n_pend[d]]
        pend_ch[d, kmin] = pend_ch[d, n_pend[d]]
        if ta - last_click[d] < dead:
            continue
        last_click[d] = ta
        o_t[m] = ta
        o_ch[m] = ca
        o_slot[m] = -1
        o_eve[m] = 0
        o_org[m] = ORIGIN_AFTERPULSE
        m += 1
        counters[1] += 1
        if p_ap > 0.0 and uniform(state) < p_ap and n_pend[d] < pend_t.shape[1]:
            pend_t[d, n_pend[d]] = ta + np.int64(round(dead + tau_ap * exponential(state)))
            bb = 0 if uniform(state) < p_zb else 1
            pend_ch[d, n_pend[d]] = ca if passive else 1 + 2 * bb + d
            n_pend[d] += 1
    return m


@njit(cache=True)
def deadtime_kernel(
    state,
    t,
    det,
    ch,
    slot,
    eve,
    origin,
    boundary,
    last_click,
    pend_t,
    pend_ch,
    n_pend,
    dead,
    p_ap,
    tau_ap,
    passive,
    p_zb,
    counters,
):
    """Apply dead time and afterpulsing to time-sorted clicks with t < boundary, per detector.

    State carried across chunks: ``last_click`` (per detector), pending afterpulses ``pend_t``,
    ``pend_ch`` (per detector, up to 8), ``n_pend``. Every pending afterpulse before ``boundary``
    is emitted here, so successive calls produce time-disjoint outputs. Returns the accepted
    events (unsorted: afterpulses interleave) and the index of the first event >= boundary.
    ``counters``: [dead_time_losses, afterpulses_emitted].
    """
    n = t.shape[0]
    cap = 2 * n + 1024
    o_t = np.empty(cap, np.int64)
    o_ch = np.empty(cap, np.int16)
    o_slot = np.empty(cap, np.int64)
    o_eve = np.empty(cap, np.int8)
    o_org = np.empty(cap, np.int8)
    m = 0
    j = 0
    while j < n and t[j] < boundary and m + 1 < cap:
        d = det[j]
        m = _flush_afterpulses(
            state,
            d,
            t[j],
            False,
            last_click,
            pend_t,
            pend_ch,
            n_pend,
            dead,
            p_ap,
            tau_ap,
            passive,
            p_zb,
            o_t,
            o_ch,
            o_slot,
            o_eve,
            o_org,
            m,
            counters,
        )
        if t[j] - last_click[d] >= dead and m < cap:
            last_click[d] = t[j]
            o_t[m] = t[j]
            o_ch[m] = ch[j]
            o_slot[m] = slot[j]
            o_eve[m] = eve[j]
            o_org[m] = origin[j]
            m += 1
            if p_ap > 0.0 and uniform(state) < p_ap and n_pend[d] < pend_t.shape[1]:
                pend_t[d, n_pend[d]] = t[j] + np.int64(round(dead + tau_ap * exponential(state)))
                pend_ch[d, n_pend[d]] = (
                    ch[j] if passive else 1 + 2 * (0 if uniform(state) < p_zb else 1) + d
                )
                n_pend[d] += 1
        else:
            counters[0] += 1
        j += 1
    for d in range(n_pend.shape[0]):
        m = _flush_afterpulses(
            state,
            d,
            boundary,
            True,
            last_click,
            pend_t,
            pend_ch,
            n_pend,
            dead,
            p_ap,
            tau_ap,
            passive,
            p_zb,
            o_t,
            o_ch,
            o_slot,
            o_eve,
            o_org,
            m,
            counters,
        )
    return o_t[:m], o_ch[:m], o_slot[:m], o_eve[:m], o_org[:m], j


@dataclass
class SimChunk:
    """One stretch of the run: Alice's log of its slots and Bob's events recorded in it."""

    slot_start: int
    alice: np.ndarray  # uint8 per slot
    bob: EventChunk  # Bob's clock, sorted
    truth_slot: np.ndarray  # int64 per event: the slot a signal click came from, else -1
    truth_origin: np.ndarray  # int8: ORIGIN_SIGNAL / DARK / AFTERPULSE / SYNC
    truth_eve: np.ndarray  # int8: 1 if the pulse was intercepted by Eve


@dataclass
class SimTruth:
    """Counters of what happened (simulation truth; never used for key lengths)."""

    n_slots: int = 0
    slots_per_class: list[int] = field(default_factory=lambda: [0, 0, 0])
    candidates: int = 0
    eve_intercepts: int = 0
    signal_clicks: int = 0
    dark_clicks: int = 0
    afterpulses: int = 0
    dead_time_losses: int = 0
    sync_edges: int = 0
    events_before_bob_start: int = 0
    n_events: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _bob_clock(t: np.ndarray, cfg: SimConfig) -> np.ndarray:
    tf = t.astype(np.float64)
    corr = tf * (cfg.drift_ppm * 1e-6)
    if cfg.wander_ps:
        corr += cfg.wander_ps * np.sin(2 * np.pi * tf / (cfg.wander_period_s * 1e12))
    return t + np.int64(cfg.time_offset_ps) + np.round(corr).astype(np.int64)


def simulate(cfg: SimConfig, n_slots: int, truth: SimTruth | None = None) -> Iterator[SimChunk]:
    """Simulate ``n_slots`` slots; yield one :class:`SimChunk` per 2**22 slots (memory O(chunk)).

    ``truth`` (if given) is filled with counters as the run proceeds.
    """
    if n_slots < 0:
        raise ValueError("n_slots must be >= 0")
    truth = truth if truth is not None else SimTruth()
    rng = np.random.default_rng(cfg.seed)
    period = cfg.slot_period_ps
    passive = cfg.receiver == "passive"
    ndet = cfg.n_detectors
    eff = np.asarray(cfg.efficiency, np.float64)
    mus = np.asarray([*cfg.intensities, 0.0], np.float64)
    eta_ch = cfg.channel_transmittance
    lam_max = max(cfg.intensities) * eta_ch * float(eff.max(initial=0.0))
    p_zb = cfg.bob_p_z
    thr = alice_thresholds(cfg.p_z, cfg.intensity_probs)
    table = alice_table(thr)
    rates = np.asarray(cfg.dark_count_hz, np.float64) * 1e-12
    dark_state = new_state(rng)
    next_dark = np.array([exponential(dark_state) / r if r > 0 else 0.0 for r in rates])
    dead = np.int64(round(cfg.dead_time_ns * 1000.0))
    last_click = np.full(ndet, np.iinfo(np.int64).min // 2, np.int64)
    pend_t = np.zeros((ndet, _MAX_PENDING), np.int64)
    pend_ch = np.zeros((ndet, _MAX_PENDING), np.int16)
    n_pend = np.zeros(ndet, np.int64)
    guard = int(8 * cfg.jitter_sigma_ps) + 2
    carry = None
    sig_counters = np.zeros(3, np.int64)
    dt_counters = np.zeros(2, np.int64)
    sync_div = cfg.sync_divider
    sync_lo = 0
    class_counts = np.zeros(3, np.int64)

    for slot0 in range(0, max(n_slots, 1), SIM_CHUNK_SLOTS):
        n = min(SIM_CHUNK_SLOTS, n_slots - slot0)
        if n <= 0:
            break
        last = slot0 + n >= n_slots
        st = new_state(rng)
        log = np.empty(n, np.uint8)
        alice_log_kernel(st, log, thr, table, class_counts)
        truth.n_slots += n
        truth.slots_per_class = [int(x) for x in class_counts]

        parts = []
        start = 0
        resumed = False
        while start < n:
            cap = int(n * (1 - math.exp(-lam_max)) * 1.2) + 4096
            bt = np.empty(cap, np.int64)
            bd = np.empty(cap, np.int8)
            bc = np.empty(cap, np.int16)
            bs = np.empty(cap, np.int64)
            be = np.empty(cap, np.int8)
            m, start = signal_kernel(
                st,
                log,
                slot0,
                start,
                resumed,
                period,
                lam_max,
                mus,
                eta_ch,
                eff,
                passive,
                p_zb,
                cfg.misalignment,
                cfg.eve_fraction,
                cfg.jitter_sigma_ps,
                cfg.jitter_tail_prob,
                cfg.jitter_tail_ps,
                bt,
                bd,
                bc,
                bs,
                be,
                sig_counters,
            )
            parts.append((bt[:m], bd[:m], bc[:m], bs[:m], be[:m], np.zeros(m, np.int8)))
            resumed = True
        t_stop = (slot0 + n) * period
        dt, dd, dc = dark_kernel(st, next_dark, rates, t_stop, passive, p_zb)
        truth.dark_clicks += len(dt)
        parts.append(
            (
                dt,
                dd,
                dc,
                np.full(len(dt), -1, np.int64),
                np.zeros(len(dt), np.int8),
                np.ones(len(dt), np.int8),
            )
        )
        if carry is not None:
            parts.append(carry)
        t, d, c, s, e, o = (np.concatenate([p[i] for p in parts]) for i in range(6))
        order = np.argsort(t, kind="stable")
        t, d, c, s, e, o = t[order], d[order], c[order], s[order], e[order], o[order]
        boundary = np.int64(2**62) if last else np.int64(math.floor(t_stop) - guard)
        ot, och, osl, oev, oorg, k = deadtime_kernel(
            st,
            t,
            d,
            c,
            s,
            e,
            o,
            boundary,
            last_click,
            pend_t,
            pend_ch,
            n_pend,
            dead,
            cfg.afterpulse_prob,
            cfg.afterpulse_tau_ps,
            passive,
            p_zb,
            dt_counters,
        )
        carry = (t[k:], d[k:], c[k:], s[k:], e[k:], o[k:])
        if sync_div:
            # clock edges whose time falls in [previous boundary, boundary)
            lo = math.ceil((sync_lo - cfg.sync_delay_ps) / period)
            hi = n_slots if last else math.ceil((boundary - cfg.sync_delay_ps) / period)
            first = -(-max(lo, 0) // sync_div) * sync_div
            ss = np.arange(first, min(hi, n_slots), sync_div, dtype=np.int64)
            sync_lo = int(boundary)
            sync_t = np.round(ss * period).astype(np.int64) + np.int64(cfg.sync_delay_ps)
            truth.sync_edges += len(ss)
            ot = np.concatenate([ot, sync_t])
            och = np.concatenate([och, np.full(len(ss), CLOCK_CHANNEL, np.int16)])
            osl = np.concatenate([osl, np.full(len(ss), -1, np.int64)])
            oev = np.concatenate([oev, np.zeros(len(ss), np.int8)])
            oorg = np.concatenate([oorg, np.full(len(ss), ORIGIN_SYNC, np.int8)])
        order = np.argsort(ot, kind="stable")
        tb = _bob_clock(ot[order], cfg)
        keep = tb >= 0
        truth.events_before_bob_start += int((~keep).sum())
        ev = EventChunk(t=tb[keep], ch=och[order][keep])
        truth.n_events += len(ev)
        truth.candidates = int(sig_counters[0])
        truth.eve_intercepts = int(sig_counters[1])
        truth.signal_clicks = int(sig_counters[2])
        truth.dead_time_losses = int(dt_counters[0])
        truth.afterpulses = int(dt_counters[1])
        yield SimChunk(
            slot_start=slot0,
            alice=log,
            bob=ev,
            truth_slot=osl[order][keep],
            truth_origin=oorg[order][keep],
            truth_eve=oev[order][keep],
        )


def simulate_to_recording(
    cfg: SimConfig, seconds: float, out: str | Path, *, progress=None
) -> tuple[Path, SimTruth]:
    """Simulate ``seconds`` of the link and write it as a qkdpp recording at ``out``."""
    n_slots = round(seconds * cfg.clock_rate_hz)
    truth = SimTruth()
    meta = cfg.link_meta()
    with RecordingWriter(out, meta) as w:
        for chunk in simulate(cfg, n_slots, truth):
            w.write_alice(chunk.alice)
            w.write_bob(chunk.bob)
            if progress is not None:
                progress(len(chunk.alice))
        w.meta["truth"] = truth.as_dict()
        w.meta["duration_s"] = seconds
    return w.path, truth
