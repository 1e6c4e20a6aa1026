"""Clock recovery from detection times: slot frequency, phase and its drift over a run.

1. Acquisition: the periodogram ``Z(f) = |sum_j exp(2 pi i f t_j)|`` of the first detections is
   maximised over ``f0 (1 +/- max_ppm)``; the span is then widened four-fold per stage with a grid
   around the previous peak, until it covers ``acq_detections`` detections.
2. Tracking: the run is cut into blocks (``block_ps``, merged until each has ``min_block_count``
   detections); each block's phasor at the acquired frequency gives its phase, the phases are
   unwrapped, and the slot phase ``u(t) = f (t - t_ref) - phi(t)`` is piecewise linear through the
   block centres. Slot k's centre is where ``u = k``; numbering starts near ``t / T0`` so that the
   remaining Alice/Bob offset is small.

Each linear piece becomes one parameter set of the sifting kernel (t_anchor, slot_anchor,
period_q16), see :mod:`postproc.sift.kernel`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numba import njit

from postproc.errors import QkdppError


@njit(cache=True)
def _periodogram(t, t_ref, f_grid):
    out = np.empty(f_grid.shape[0])
    for g in range(f_grid.shape[0]):
        f = f_grid[g]
        c = 0.0
        s = 0.0
        for j in range(t.shape[0]):
            ph = 2.0 * np.pi * (f * float(t[j] - t_ref) % 1.0)
            c += np.cos(ph)
            s += np.sin(ph)
        out[g] = c * c + s * s
    return out


@njit(cache=True)
def _accumulate_blocks(t, t_ref, f, block_ps, first_block, re, im, cnt, tsum):
    """Add each detection's phasor (at frequency f) to its block; blocks start at t_ref."""
    nb = re.shape[0]
    for j in range(t.shape[0]):
        b = (t[j] - t_ref) // block_ps - first_block
        if b < 0 or b >= nb:
            continue
        ph = 2.0 * np.pi * (f * float(t[j] - t_ref) % 1.0)
        re[b] += np.cos(ph)
        im[b] += np.sin(ph)
        cnt[b] += 1
        tsum[b] += float(t[j] - t_ref)


@dataclass
class ClockModel:
    """Piecewise-linear slot clock. Segment i covers Bob times [start[i], start[i+1])."""

    seg_start: np.ndarray  # int64 ps (seg_start[0] is -2**62)
    t_anchor: np.ndarray  # int64 ps: Bob's time of slot slot_anchor[i]'s centre
    slot_anchor: np.ndarray  # int64, Bob's slot numbering
    period_q16: np.ndarray  # int64, 2**-16 ps
    frequency_hz: float  # acquired mean slot rate
    n_blocks: int
    phase_rms_ps: float  # scatter of block phases around a straight line (wander + noise)

    @property
    def period_ps(self) -> float:
        return 1e12 / self.frequency_hz

    def segment_of(self, t: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.seg_start, t, side="right") - 1


def _acquire(t: np.ndarray, f0: float, max_ppm: float, acq_n: int) -> tuple[float, int]:
    """Frequency (per ps) from the first detections, hierarchically."""
    t_ref = int(t[0])
    n = min(len(t), 2048)
    span = float(t[n - 1] - t_ref) + 1.0
    half = f0 * max_ppm * 1e-6
    step = 0.2 / span
    f_grid = np.arange(f0 - half, f0 + half + step, step)
    f_best = float(f_grid[np.argmax(_periodogram(t[:n], t_ref, f_grid))])
    while n < min(len(t), acq_n):
        n = min(len(t), n * 4)
        new_span = float(t[n - 1] - t_ref) + 1.0
        # previous uncertainty ~ step; search +/- 2 old steps in new, finer steps
        f_grid = f_best + np.arange(-2 * step, 2 * step + 0.2 / new_span, 0.2 / new_span)
        step = 0.2 / new_span
        f_best = float(f_grid[np.argmax(_periodogram(t[:n], t_ref, f_grid))])
    return f_best, t_ref


def recover_clock(
    detection_chunks: Iterable[np.ndarray],
    nominal_period_ps: float,
    *,
    max_ppm: float = 20.0,
    block_ps: int = 1_000_000_000,
    min_block_count: int = 64,
    acq_detections: int = 1 << 15,
) -> ClockModel:
    """Recover the slot clock from Bob's detection times (int64 ps, sorted), given as chunks.

    The chunks are consumed once; memory is O(chunk + number of blocks) after acquisition, which
    keeps the first ``acq_detections`` times.
    """
    f0 = 1.0 / nominal_period_ps
    it = iter(detection_chunks)
    head: list[np.ndarray] = []
    n_head = 0
    for c in it:
        head.append(np.asarray(c, np.int64))
        n_head += len(c)
        if n_head >= acq_detections:
            break
    if n_head < 16:
        raise QkdppError(f"clock recovery needs detections; found only {n_head}")
    t_head = np.concatenate(head)
    f, t_ref = _acquire(t_head, f0, max_ppm, acq_detections)

    # tracking: blocks are allocated as they are needed (a few per second per ms of block)
    re = np.zeros(0)
    im = np.zeros(0)
    cnt = np.zeros(0, np.int64)
    tsum = np.zeros(0)

    def add(tc: np.ndarray) -> None:
        nonlocal re, im, cnt, tsum
        if not len(tc):
            return
        need = int((int(tc[-1]) - t_ref) // block_ps) + 1
        if need > len(re):
            grow = max(need, 2 * len(re))
            re, im = np.resize(re, grow), np.resize(im, grow)
            re[len(cnt) :] = 0
            im[len(cnt) :] = 0
            cnt = np.concatenate([cnt, np.zeros(grow - len(cnt), np.int64)])
            tsum = np.concatenate([tsum, np.zeros(grow - len(tsum))])
        _accumulate_blocks(tc, t_ref, f, block_ps, 0, re, im, cnt, tsum)

    add(t_head)
    for c in it:
        add(np.asarray(c, np.int64))

    # merge blocks until each holds min_block_count detections
    mre, mim, mcnt, mt = [], [], [], []
    acc = [0.0, 0.0, 0, 0.0]
    for b in range(len(cnt)):
        acc[0] += re[b]
        acc[1] += im[b]
        acc[2] += int(cnt[b])
        acc[3] += tsum[b]
        if acc[2] >= min_block_count:
            mre.append(acc[0])
            mim.append(acc[1])
            mcnt.append(acc[2])
            mt.append(acc[3] / acc[2])
            acc = [0.0, 0.0, 0, 0.0]
    if acc[2] > 0:
        if mcnt:  # fold the remainder into the last block
            mre[-1] += acc[0]
            mim[-1] += acc[1]
            mt[-1] = (mt[-1] * mcnt[-1] + acc[3]) / (mcnt[-1] + acc[2])
            mcnt[-1] += acc[2]
        else:
            mre.append(acc[0])
            mim.append(acc[1])
            mcnt.append(acc[2])
            mt.append(acc[3] / acc[2])
    phi = np.unwrap(np.arctan2(mim, mre)) / (2 * np.pi)  # cycles
    centres = np.asarray(mt)  # ps relative to t_ref
    # slot phase u(c) = f c - phi; slot numbering offset so that slot ~ t / T0
    u = f * centres - phi
    k0 = round((t_ref + centres[0] - u[0] / f) * f0)  # slot index of the u = 0 edge
    nseg = len(centres)
    if nseg == 1:
        slopes = np.array([f])
    else:
        slopes = np.diff(u) / np.diff(centres)
        slopes = np.append(slopes, slopes[-1])
    if np.any(slopes <= 0):
        raise QkdppError("clock recovery failed: non-monotonic slot phase (too few detections?)")
    seg_start = np.empty(nseg, np.int64)
    seg_start[0] = -(2**62)
    seg_start[1:] = np.round(t_ref + centres[1:]).astype(np.int64)
    t_anchor = np.empty(nseg, np.int64)
    slot_anchor = np.empty(nseg, np.int64)
    period_q16 = np.empty(nseg, np.int64)
    for i in range(nseg):
        k = math.floor(u[i] + 0.5)
        slot_anchor[i] = k + k0
        t_anchor[i] = round(t_ref + centres[i] + (k - u[i]) / slopes[i])
        period_q16[i] = round(65536.0 / slopes[i])
    resid = (phi - np.polyval(np.polyfit(centres, phi, 1), centres)) if nseg > 2 else np.zeros(1)
    return ClockModel(
        seg_start=seg_start,
        t_anchor=t_anchor,
        slot_anchor=slot_anchor,
        period_q16=period_q16,
        frequency_hz=f * 1e12,
        n_blocks=nseg,
        phase_rms_ps=float(np.sqrt(np.mean(resid**2)) / f),
    )
