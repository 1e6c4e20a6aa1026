"""Alice/Bob slot offset by FFT cross-correlation (the prepare-and-measure analogue of qcrypto's
pfind).

Bob announces the slots of his detections (in his own numbering); Alice correlates them with her
intensity pattern: a detection is likelier in a signal slot than in a decoy or vacuum slot, so
``C(delta) = sum_j w(alice_slot = bob_slot_j + delta)`` with ``w = mu(class) - mean`` peaks at the
true offset. Only what Bob announces anyway (detection slots) and what Alice reveals later anyway
(intensity classes of kept slots) enters, never a key bit. Windows of Bob's slots are correlated
by zero-padded real FFTs and their correlations summed until enough detections took part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from postproc.errors import QkdppError


@dataclass(frozen=True)
class OffsetResult:
    offset_slots: int  # alice_slot = bob_slot + offset_slots
    score: float  # peak height in noise standard deviations
    n_detections: int  # detections that took part
    runner_up: float  # second-highest peak, in noise standard deviations


def find_offset(
    bob_slots: np.ndarray,
    alice_log: np.ndarray,
    log_start: int,
    intensities: list[float],
    *,
    max_offset_slots: int,
    window_slots: int = 1 << 20,
    min_detections: int = 20_000,
    max_windows: int = 32,
    min_score: float = 8.0,
) -> OffsetResult:
    """Find ``delta`` in ``[-max_offset_slots, max_offset_slots]`` with Alice slot = Bob slot +
    delta. ``bob_slots`` sorted (Bob's numbering); ``alice_log[i]`` is slot ``log_start + i``."""
    mu = np.asarray([*intensities, 0.0][:4], np.float64)
    cls = (alice_log >> 2) & 3
    counts = np.bincount(cls, minlength=4).astype(np.float64)
    mean = float(counts @ mu / max(1.0, counts.sum()))
    var = float(counts @ (mu - mean) ** 2 / max(1.0, counts.sum()))
    if var <= 0:
        raise QkdppError("offset search needs decoy modulation (all slots have one intensity)")
    weight = (mu - mean).astype(np.float64)
    R = int(max_offset_slots)
    bob_slots = np.asarray(bob_slots, np.int64)
    if len(bob_slots) == 0:
        raise QkdppError("offset search: no detections")
    W = int(window_slots)
    n_fft = sfft.next_fast_len(W + 2 * R + 1, real=True)
    acc = None
    used = 0
    # skip the first R slots: with a positive offset Bob recorded before Alice sent anything
    lo = int(bob_slots[0])
    if int(bob_slots[-1]) - lo > 2 * R + W:
        lo += R
    for _ in range(max_windows):
        i0 = int(np.searchsorted(bob_slots, lo))
        i1 = int(np.searchsorted(bob_slots, lo + W))
        if i0 >= len(bob_slots):
            break
        b = np.zeros(n_fft)
        np.add.at(b, bob_slots[i0:i1] - lo, 1.0)
        a = np.zeros(n_fft)
        # a[i] = weight of Alice slot lo - R + i, i in [0, W + 2R)
        s_lo = lo - R
        j0 = max(s_lo, log_start)
        j1 = min(lo + W + R, log_start + len(alice_log))
        if j1 > j0:
            a[j0 - s_lo : j1 - s_lo] = weight[cls[j0 - log_start : j1 - log_start]]
        spec = np.conj(sfft.rfft(b)) * sfft.rfft(a)
        acc = spec if acc is None else acc + spec
        used += i1 - i0
        lo += W
        if used >= min_detections:
            break
    corr = sfft.irfft(acc, n_fft)[: 2 * R + 1]  # corr[R + delta]
    best = int(np.argmax(corr))
    med = float(np.median(corr))
    # robust noise scale (the peak is one point among 2R + 1)
    noise = float(np.median(np.abs(corr - med))) * 1.4826 or 1e-300
    score = (corr[best] - med) / noise
    masked = corr.copy()
    masked[max(0, best - 2) : best + 3] = -np.inf
    runner = (float(masked.max()) - med) / noise if len(corr) > 5 else 0.0
    if score < min_score:
        raise QkdppError(
            f"offset search found no clear peak (score {score:.1f} < {min_score} from {used} "
            "detections): is the offset within the search range and the link working?"
        )
    return OffsetResult(best - R, float(score), used, float(runner))
