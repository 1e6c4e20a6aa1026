"""BBM92 sifting: delay search and coincidence finding between two parties' detector streams.

Delay search (as qcrypto's pfind): both parties' times are folded modulo ``L * bin`` into ``L``
bins and cross-correlated by FFT; the peak gives the delay modulo the fold period at bin
resolution (choose the fold period larger than twice the delay range). The fine delay is then the
median of the time differences of the pairs found within two coarse bins of it.

Coincidences: a merge walk over both sorted streams pairs each Alice click with the nearest unused
Bob click within +/- window/2 of the delay. A party's clicks on two detectors within one window of
each other are a multi-click: the pair then gets a random bit (squashing) and is counted. Sifting
keeps the pairs whose detector bases agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import fft as sfft

from postproc.errors import ConfigError, QkdppError
from postproc.recording import Recording


@dataclass
class CoincidenceOptions:
    window_ps: float = 400.0
    max_delay_ps: float = 1.0e9
    coarse_bin_ps: int = 4096
    search_span_ps: int = 200_000_000_000  # data used for the delay search (200 ms)
    seed: int = 0


@dataclass
class Bbm92Result:
    delay_ps: int
    delay_score: float
    singles_a: int
    singles_b: int
    coincidences: int
    accidentals_estimate: float
    multi_clicks: int
    n: np.ndarray  # sifted per basis
    m: np.ndarray  # errors per basis
    bits_a: np.ndarray
    bits_b: np.ndarray
    basis: np.ndarray

    def qber(self, basis: int) -> float:
        return float(self.m[basis]) / self.n[basis] if self.n[basis] else float("nan")

    def as_dict(self) -> dict:
        return {
            "delay_ps": self.delay_ps,
            "delay_score": self.delay_score,
            "singles_a": self.singles_a,
            "singles_b": self.singles_b,
            "coincidences": self.coincidences,
            "accidentals_estimate": self.accidentals_estimate,
            "multi_clicks": self.multi_clicks,
            "sifted_Z": int(self.n[0]),
            "sifted_X": int(self.n[1]),
            "errors_Z": int(self.m[0]),
            "errors_X": int(self.m[1]),
            "qber_Z": self.qber(0),
            "qber_X": self.qber(1),
        }


def find_delay(ta: np.ndarray, tb: np.ndarray, opts: CoincidenceOptions) -> tuple[int, float]:
    """Delay d with Bob's click ~ Alice's click + d, |d| <= max_delay_ps."""
    B = int(opts.coarse_bin_ps)
    L = sfft.next_fast_len(int(2.5 * opts.max_delay_ps / B) + 1, real=True)
    fold = L * B
    t0 = int(min(ta[0], tb[0]))
    a = np.bincount(((ta - t0) % fold) // B, minlength=L).astype(np.float64)
    b = np.bincount(((tb - t0) % fold) // B, minlength=L).astype(np.float64)
    corr = sfft.irfft(np.conj(sfft.rfft(a)) * sfft.rfft(b), L)
    # two neighbouring bins share a peak that straddles a bin edge
    pair = corr + np.roll(corr, -1)
    k = int(np.argmax(pair))
    med = float(np.median(corr))
    noise = float(np.median(np.abs(corr - med))) * 1.4826 or 1.0
    score = (pair[k] - 2 * med) / (noise * np.sqrt(2))
    coarse = k * B + B // 2 + B // 2  # centre of the two bins
    coarse = (coarse + fold // 2) % fold - fold // 2
    if abs(coarse) > opts.max_delay_ps + 2 * B:
        raise QkdppError(f"delay search: peak at {coarse} ps is outside the search range")
    diffs = _nearby_differences(ta, tb, coarse, 2 * B)
    if len(diffs) < 10:
        raise QkdppError("delay search: too few coincidences near the correlation peak")
    return int(np.median(diffs)), float(score)


@njit(cache=True)
def _nearby_differences(ta, tb, delay, half):
    out = np.empty(min(ta.shape[0], tb.shape[0]) * 4 + 16, np.int64)
    n = 0
    j = 0
    for i in range(ta.shape[0]):
        lo = ta[i] + delay - half
        while j < tb.shape[0] and tb[j] < lo:
            j += 1
        k = j
        while k < tb.shape[0] and tb[k] <= ta[i] + delay + half and n < out.shape[0]:
            out[n] = tb[k] - ta[i]
            n += 1
            k += 1
    return out[:n]


@njit(cache=True)
def coincidence_kernel(ta, ca, tb, cb, delay, half, out_a, out_b):
    """Pair Alice click i with the nearest unused Bob click j, |tb - ta - delay| <= half.
    Returns the number of pairs (indices into ta/tb in out_a/out_b)."""
    n = 0
    j0 = 0
    used = np.zeros(tb.shape[0], np.bool_)
    for i in range(ta.shape[0]):
        lo = ta[i] + delay - half
        hi = ta[i] + delay + half
        while j0 < tb.shape[0] and tb[j0] < lo:
            j0 += 1
        best = -1
        bestd = half + 1
        k = j0
        while k < tb.shape[0] and tb[k] <= hi:
            if not used[k]:
                d = abs(tb[k] - ta[i] - delay)
                if d < bestd:
                    bestd = d
                    best = k
            k += 1
        if best >= 0:
            used[best] = True
            out_a[n] = i
            out_b[n] = best
            n += 1
    return n


@njit(cache=True)
def _multi(t, ch, window):
    """1 where another detector of the same party clicked within ``window`` of this click."""
    out = np.zeros(t.shape[0], np.bool_)
    for i in range(1, t.shape[0]):
        if t[i] - t[i - 1] <= window and ch[i] != ch[i - 1]:
            out[i] = True
            out[i - 1] = True
    return out


def coincidences(
    ta: np.ndarray,
    ca: np.ndarray,
    tb: np.ndarray,
    cb: np.ndarray,
    detmap: dict,
    opts: CoincidenceOptions,
    delay_ps: int | None = None,
) -> Bbm92Result:
    """Sift two parties' streams (sorted times, channels) given ``detmap[ch] = (basis, bit)``."""
    score = float("nan")
    if delay_ps is None:
        span = int(opts.search_span_ps)
        sa = ta[: np.searchsorted(ta, ta[0] + span)]
        sb = tb[: np.searchsorted(tb, tb[0] + span)]
        delay_ps, score = find_delay(sa, sb, opts)
    half = int(opts.window_ps // 2)
    cap = min(len(ta), len(tb))
    ia = np.empty(cap, np.int64)
    ib = np.empty(cap, np.int64)
    n = coincidence_kernel(ta, ca, tb, cb, np.int64(delay_ps), np.int64(half), ia, ib)
    ia, ib = ia[:n], ib[:n]
    # accidentals: the same walk at a delay far off the peak
    n_acc = coincidence_kernel(
        ta,
        ca,
        tb,
        cb,
        np.int64(delay_ps + 50 * opts.window_ps + 7919),
        np.int64(half),
        np.empty(cap, np.int64),
        np.empty(cap, np.int64),
    )
    lut_basis = np.full(256, 255, np.uint8)
    lut_bit = np.zeros(256, np.uint8)
    for c, (b, x) in detmap.items():
        lut_basis[c], lut_bit[c] = b, x
    ba, xa = lut_basis[ca[ia]], lut_bit[ca[ia]].copy()
    bb, xb = lut_basis[cb[ib]], lut_bit[cb[ib]].copy()
    rng = np.random.default_rng(opts.seed)
    multi_a = _multi(ta, ca, np.int64(opts.window_ps))[ia]
    multi_b = _multi(tb, cb, np.int64(opts.window_ps))[ib]
    xa[multi_a] = rng.integers(0, 2, int(multi_a.sum()), dtype=np.uint8)
    xb[multi_b] = rng.integers(0, 2, int(multi_b.sum()), dtype=np.uint8)
    keep = ba == bb
    basis = ba[keep]
    bits_a, bits_b = xa[keep], xb[keep]
    nb = np.bincount(basis, minlength=2)[:2]
    mb = np.bincount(basis[bits_a != bits_b], minlength=2)[:2]
    return Bbm92Result(
        delay_ps=int(delay_ps),
        delay_score=score,
        singles_a=len(ta),
        singles_b=len(tb),
        coincidences=int(n),
        accidentals_estimate=float(n_acc),
        multi_clicks=int(multi_a.sum() + multi_b.sum()),
        n=nb,
        m=mb,
        bits_a=bits_a,
        bits_b=bits_b,
        basis=basis,
    )


def sift_bbm92_recording(rec: Recording, opts: CoincidenceOptions | None = None) -> Bbm92Result:
    """Coincidence sifting of a merged-stream BBM92 recording (channel map in meta.json)."""
    opts = opts or CoincidenceOptions()
    try:
        dets = rec.meta["detectors"]
        parties = {int(d["channel"]): d["party"] for d in dets}
        detmap = {int(d["channel"]): (int(d["basis"]), int(d["bit"])) for d in dets}
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{rec.path}: meta.json detectors need channel/party/basis/bit") from exc
    ca_set = np.array([c for c, p in parties.items() if p == "A"])
    cb_set = np.array([c for c, p in parties.items() if p == "B"])
    ta, ca, tb, cb = [], [], [], []
    for c in rec.iter_bob():
        ma, mb = np.isin(c.ch, ca_set), np.isin(c.ch, cb_set)
        ta.append(c.t[ma])
        ca.append(c.ch[ma])
        tb.append(c.t[mb])
        cb.append(c.ch[mb])
    cat = np.concatenate
    return coincidences(cat(ta), cat(ca), cat(tb), cat(cb), detmap, opts)
