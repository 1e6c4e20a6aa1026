"""Entangled-pair (BBM92) link: a CW pair source between two passive 4-detector receivers.

Pairs are emitted as a Poisson process (rate ``pair_rate_hz``) in the state |Phi+>: each photon
reaches its receiver with probability eta_fibre * eta_detector, picks a basis at a 50/50 (or p_z)
splitter, and in equal bases the two bits agree except for the misalignment error; in different
bases they are independent. Clicks get Gaussian jitter; dark counts are Poisson per detector; every
detector has a dead time. One time tagger records both receivers (Alice on channels 1-4, Bob on
5-8); Bob's channels lag by ``delay_ps`` (fibre and cable difference). Multi-pair accidentals follow
from the Poisson emission times.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numba import njit

from postproc.errors import ConfigError
from postproc.events import EventChunk
from postproc.recording import RecordingWriter
from postproc.sim.bb84 import deadtime_kernel
from postproc.sim.rng import exponential, new_state, normal, uniform

BBM92_DETECTORS = [
    {"channel": 1 + 4 * p + 2 * b + x, "party": "AB"[p], "basis": b, "bit": x}
    for p in (0, 1)
    for b in (0, 1)
    for x in (0, 1)
]
CHUNK_PS = 10_000_000_000  # 10 ms of emission per chunk


@dataclass(frozen=True)
class PairConfig:
    pair_rate_hz: float = 2e6
    distance_a_km: float = 5.0
    distance_b_km: float = 25.0
    fibre_loss_db_per_km: float = 0.2
    extra_loss_db: float = 2.0  # per receiver
    efficiency: float = 0.25
    dark_count_hz: float = 1000.0
    dead_time_ns: float = 50.0
    jitter_sigma_ps: float = 40.0  # per detector
    misalignment: float = 0.02
    p_z: float = 0.5  # splitter ratio at both receivers
    delay_ps: int = 123_456  # Bob's clicks lag Alice's by this
    seed: int = 1

    def __post_init__(self) -> None:
        for name in (
            "pair_rate_hz",
            "distance_a_km",
            "distance_b_km",
            "dark_count_hz",
            "dead_time_ns",
            "jitter_sigma_ps",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"pair source parameter {name} must be non-negative")
        for name in ("efficiency", "misalignment", "p_z"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"pair source parameter {name} must be in [0, 1]")

    def eta(self, party: int) -> float:
        km = self.distance_a_km if party == 0 else self.distance_b_km
        db = km * self.fibre_loss_db_per_km + self.extra_loss_db
        return 10 ** (-db / 10) * self.efficiency


@njit(cache=True)
def pair_kernel(
    state,
    t_next,
    t_stop,
    rate_per_ps,
    eta_a,
    eta_b,
    p_z,
    e_mis,
    sigma,
    delay,
    out_t,
    out_det,
    out_pair,
):
    """Emit the clicks of pairs created before ``t_stop``; returns (n_out, t_next)."""
    n = 0
    cap = out_t.shape[0] - 2
    pair = 0
    while t_next < t_stop and n < cap:
        a = 0 if uniform(state) < p_z else 1
        b = 0 if uniform(state) < p_z else 1
        xa = 1 if uniform(state) < 0.5 else 0
        if a == b:
            xb = xa ^ (1 if uniform(state) < e_mis else 0)
        else:
            xb = 1 if uniform(state) < 0.5 else 0
        pair += 1
        if uniform(state) < eta_a:
            out_t[n] = np.int64(round(t_next + sigma * normal(state)))
            out_det[n] = 2 * a + xa
            out_pair[n] = pair
            n += 1
        if uniform(state) < eta_b:
            out_t[n] = np.int64(round(t_next + delay + sigma * normal(state)))
            out_det[n] = 4 + 2 * b + xb
            out_pair[n] = pair
            n += 1
        t_next += exponential(state) / rate_per_ps
    return n, t_next


def simulate_pairs_to_recording(
    cfg: PairConfig, seconds: float, out: str | Path
) -> tuple[Path, dict]:
    """Simulate ``seconds`` of the pair link into a recording (Alice's log is empty)."""
    rng = np.random.default_rng(cfg.seed)
    st = new_state(rng)
    rate = cfg.pair_rate_hz * 1e-12
    t_end = int(seconds * 1e12)
    t_next = exponential(st) / rate if rate > 0 else float(t_end)
    dark = cfg.dark_count_hz * 1e-12
    dead = np.int64(round(cfg.dead_time_ns * 1000))
    last = np.full(8, -(2**62), np.int64)
    pend_t = np.zeros((8, 1), np.int64)
    pend_ch = np.zeros((8, 1), np.int16)
    n_pend = np.zeros(8, np.int64)
    counters = np.zeros(2, np.int64)
    truth = {"pairs_expected": cfg.pair_rate_hz * seconds, "dark_clicks": 0, "clicks": 0}
    carry = None
    meta = {
        "protocol": "bbm92",
        "detectors": BBM92_DETECTORS,
        "source": "simulated",
        "simulator": asdict(cfg),
        "duration_s": seconds,
    }
    guard = int(8 * cfg.jitter_sigma_ps) + abs(cfg.delay_ps) + 2
    with RecordingWriter(out, meta) as w:
        for c0 in range(0, t_end, CHUNK_PS):
            c1 = min(c0 + CHUNK_PS, t_end)
            last_chunk = c1 >= t_end
            cap = int((c1 - c0) * rate * 2.5) + 1024
            bt = np.empty(cap, np.int64)
            bd = np.empty(cap, np.int8)
            bp = np.empty(cap, np.int64)
            parts_t, parts_d = [], []
            while t_next < c1:
                m, t_next = pair_kernel(
                    st,
                    t_next,
                    float(c1),
                    rate,
                    cfg.eta(0),
                    cfg.eta(1),
                    cfg.p_z,
                    cfg.misalignment,
                    cfg.jitter_sigma_ps,
                    float(cfg.delay_ps),
                    bt,
                    bd,
                    bp,
                )
                parts_t.append(bt[:m].copy())
                parts_d.append(bd[:m].copy())
            if dark > 0:  # Poisson processes: a Poisson count of uniform times per detector
                counts = rng.poisson(dark * (c1 - c0), 8)
                truth["dark_clicks"] += int(counts.sum())
                parts_t.append(rng.integers(c0, c1, int(counts.sum()), dtype=np.int64))
                parts_d.append(np.repeat(np.arange(8, dtype=np.int8), counts))
            if carry is not None:
                parts_t.append(carry[0])
                parts_d.append(carry[1])
            t = np.concatenate([np.zeros(0, np.int64), *parts_t])
            d = np.concatenate([np.zeros(0, np.int8), *parts_d])
            order = np.argsort(t, kind="stable")
            t, d = t[order], d[order]
            ch = (d + 1).astype(np.int16)
            zeros = np.zeros(len(t), np.int64)
            boundary = np.int64(2**62) if last_chunk else np.int64(c1 - guard)
            ot, och, _, _, _, k = deadtime_kernel(
                st,
                t,
                d,
                ch,
                zeros,
                zeros.astype(np.int8),
                zeros.astype(np.int8),
                boundary,
                last,
                pend_t,
                pend_ch,
                n_pend,
                dead,
                0.0,
                0.0,
                True,
                0.5,
                counters,
            )
            carry = (t[k:], d[k:])
            o = np.argsort(ot, kind="stable")
            ot, och = ot[o], och[o]
            keep = (ot >= 0) & (ot < t_end)
            w.write_bob(EventChunk(t=ot[keep], ch=och[keep]))
            truth["clicks"] += int(keep.sum())
        truth["dead_time_losses"] = int(counters[0])
        w.meta["truth"] = truth
    return w.path, truth


def expected_coincidences(cfg: PairConfig, seconds: float, window_ps: float) -> dict:
    """Expected true coincidences, accidentals and QBER of the sifted key (dead time ignored)."""
    from scipy import stats

    g = stats.norm.cdf(window_ps / 2, scale=math.sqrt(2) * cfg.jitter_sigma_ps) * 2 - 1
    true = cfg.pair_rate_hz * seconds * cfg.eta(0) * cfg.eta(1) * g
    single_a = cfg.pair_rate_hz * cfg.eta(0) + 4 * cfg.dark_count_hz
    single_b = cfg.pair_rate_hz * cfg.eta(1) + 4 * cfg.dark_count_hz
    acc = single_a * single_b * window_ps * 1e-12 * seconds
    same = cfg.p_z**2 + (1 - cfg.p_z) ** 2
    sifted = (true + acc) * same
    errors = (true * cfg.misalignment + acc * 0.5) * same
    return {"true": true, "accidental": acc, "sifted": sifted, "qber": errors / sifted}
