"""The per-detection sifting kernel: timestamp -> slot, gate, detector -> (basis, bit), keep flag.

This is the reference of the hdl stream's ``sifter`` block; every step is integer arithmetic with
the widths given here, so a Verilog twin can match it bit for bit.

Parameters (one clock segment; the orchestration switches segments as the clock drifts):

* ``t_anchor`` int64 ps: Bob's time of the centre of slot ``slot_anchor``.
* ``slot_anchor`` int64: that slot's index.
* ``period_q16`` int64 >= 2**16: the slot period in units of 2**-16 ps (at least 1 ps, below
  2**47).
* ``gate_lo_q16 <= gate_hi_q16`` int64: the gate, a half-open window ``[lo, hi)`` around the slot
  centre in units of 2**-16 ps.
* ``chmap`` uint8[256]: per channel 0..255, bit 7 = "is a detector", bit 1 = basis (0 Z, 1 X),
  bit 0 = bit value. Channels outside 0..255 map to 0 (not a detector).

Per detection ``(t int64, ch int16)``::

    d     = t - t_anchor                       # precondition |d| < 2**46 (about 70 s)
    x     = (d << 16) + (period_q16 >> 1)      # int64, cannot overflow under the precondition
    k     = floor(x / period_q16)              # floor division (rounds towards -inf)
    r     = x - k * period_q16 - (period_q16 >> 1)   # residual to the slot centre, q16 ps,
                                               # in [-(P >> 1), P - (P >> 1))
    slot  = slot_anchor + k
    gate  = gate_lo_q16 <= r < gate_hi_q16
    m     = chmap[ch] if 0 <= ch <= 255 else 0
    flags = gate | (m >> 7) << 1 | ((m >> 1) & 1) << 2 | (m & 1) << 3     # uint8

Alice's side (``keep``): with her log byte ``a`` of ``slot`` (bit 1 = basis),
``keep = gate and detector and ((a >> 1) & 1) == basis`` sets flag bit 4. Flag bit 5 says the slot
lay inside the log given (otherwise keep is 0).

So ``flags``: bit0 in gate, bit1 detector channel, bit2 basis, bit3 bit value, bit4 keep, bit5 slot
inside Alice's log; bits 6-7 are 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FLAG_GATE = 0x01
FLAG_DETECTOR = 0x02
FLAG_BASIS = 0x04
FLAG_BIT = 0x08
FLAG_KEEP = 0x10
FLAG_IN_LOG = 0x20
CHMAP_DETECTOR = 0x80
D_LIMIT = 1 << 46


def make_chmap(detectors: list[dict]) -> np.ndarray:
    """The 256-entry channel map from ``[{"channel", "basis", "bit"}, ...]``."""
    chmap = np.zeros(256, np.uint8)
    for d in detectors:
        c = int(d["channel"])
        if not 0 <= c <= 255:
            raise ValueError(f"detector channel {c} outside 0..255")
        chmap[c] = CHMAP_DETECTOR | (int(d["basis"]) & 1) << 1 | (int(d["bit"]) & 1)
    return chmap


@njit(cache=True, inline="always")
def _slot_residual(t, t_anchor, period_q16, inv_period):
    """(k, r) of the docstring: floor division done with a float estimate (``inv_period`` =
    1 / period_q16) and an exact integer fix-up, so the result is the exact floor quotient."""
    x = ((t - t_anchor) << 16) + (period_q16 >> 1)
    k = np.int64(np.floor(x * inv_period))
    r = x - k * period_q16
    # the float quotient can be off by one either way near multiples of P
    while r < 0:
        k -= 1
        r += period_q16
    while r >= period_q16:
        k += 1
        r -= period_q16
    return k, r - (period_q16 >> 1)


@njit(cache=True)
def bob_kernel(
    t, ch, t_anchor, slot_anchor, period_q16, gate_lo_q16, gate_hi_q16, chmap, slot_out, flags_out
):
    """Bob's part for arrays of detections under one set of parameters (see module docstring)."""
    inv = 1.0 / period_q16
    for i in range(t.shape[0]):
        k, r = _slot_residual(t[i], t_anchor, period_q16, inv)
        slot_out[i] = slot_anchor + k
        c = ch[i]
        m = chmap[c] if 0 <= c <= 255 else np.uint8(0)
        f = 1 if (r >= gate_lo_q16 and r < gate_hi_q16) else 0
        f |= ((m >> 7) & 1) << 1
        f |= ((m >> 1) & 1) << 2
        f |= (m & 1) << 3
        flags_out[i] = f


@njit(cache=True)
def alice_keep(slot, flags, alice_log, log_start):
    """Alice's part: set FLAG_KEEP / FLAG_IN_LOG from her log (``alice_log[0]`` = ``log_start``)."""
    n_log = alice_log.shape[0]
    for i in range(slot.shape[0]):
        j = slot[i] - log_start
        f = flags[i] & 0x0F
        if 0 <= j < n_log:
            f |= FLAG_IN_LOG
            if (f & 3) == 3 and ((alice_log[j] >> 1) & 1) == ((f >> 2) & 1):
                f |= FLAG_KEEP
        flags[i] = f


@njit(cache=True)
def joined_kernel(
    t,
    ch,
    seg_start,
    t_anchor,
    slot_anchor,
    period_q16,
    gate_lo_q16,
    gate_hi_q16,
    chmap,
    alice_log,
    log_start,
    slot_out,
    flags_out,
):
    """Bob's and Alice's parts in one pass over time-sorted detections, switching clock
    segments as the time passes each ``seg_start`` (the single-place view of the hdl ``sifter``
    block). Identical results to :func:`bob_kernel` per segment followed by :func:`alice_keep`."""
    n_log = alice_log.shape[0]
    nseg = seg_start.shape[0]
    s = 0
    while s + 1 < nseg and t.shape[0] and t[0] >= seg_start[s + 1]:
        s += 1
    stop = seg_start[s + 1] if s + 1 < nseg else np.iinfo(np.int64).max
    ta, sa, P = t_anchor[s], slot_anchor[s], period_q16[s]
    inv = 1.0 / P
    for i in range(t.shape[0]):
        if t[i] >= stop:
            while s + 1 < nseg and t[i] >= seg_start[s + 1]:
                s += 1
            stop = seg_start[s + 1] if s + 1 < nseg else np.iinfo(np.int64).max
            ta, sa, P = t_anchor[s], slot_anchor[s], period_q16[s]
            inv = 1.0 / P
        k, r = _slot_residual(t[i], ta, P, inv)
        slot = sa + k
        slot_out[i] = slot
        c = ch[i]
        m = chmap[c] if 0 <= c <= 255 else np.uint8(0)
        f = 1 if (r >= gate_lo_q16 and r < gate_hi_q16) else 0
        f |= ((m >> 7) & 1) << 1
        f |= ((m >> 1) & 1) << 2
        f |= (m & 1) << 3
        j = slot - log_start
        if 0 <= j < n_log:
            f |= FLAG_IN_LOG
            if (f & 3) == 3 and ((alice_log[j] >> 1) & 1) == ((f >> 2) & 1):
                f |= FLAG_KEEP
        flags_out[i] = f


def sift_kernel(
    t: np.ndarray,
    ch: np.ndarray,
    *,
    t_anchor: int,
    slot_anchor: int,
    period_q16: int,
    gate_lo_q16: int,
    gate_hi_q16: int,
    chmap: np.ndarray,
    alice_log: np.ndarray | None = None,
    log_start: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference sifting kernel on arrays: returns ``(slot int64, flags uint8)``.

    Exactly the arithmetic of the module docstring; with ``alice_log`` also the keep flag.
    """
    t = np.ascontiguousarray(t, dtype=np.int64)
    ch = np.ascontiguousarray(ch, dtype=np.int16)
    if not (1 << 16) <= period_q16 < (1 << 47) or gate_lo_q16 > gate_hi_q16:
        raise ValueError("need 2**16 <= period_q16 < 2**47 and gate_lo_q16 <= gate_hi_q16")
    chmap = np.ascontiguousarray(chmap, dtype=np.uint8)
    if chmap.shape != (256,):
        raise ValueError("chmap must have 256 entries")
    if len(t) and np.abs(t - np.int64(t_anchor)).max() >= D_LIMIT:
        raise ValueError("a detection lies 2**46 ps or more from t_anchor")
    slot = np.empty(len(t), np.int64)
    flags = np.empty(len(t), np.uint8)
    bob_kernel(
        t,
        ch,
        np.int64(t_anchor),
        np.int64(slot_anchor),
        np.int64(period_q16),
        np.int64(gate_lo_q16),
        np.int64(gate_hi_q16),
        chmap,
        slot,
        flags,
    )
    if alice_log is not None:
        alice_keep(slot, flags, np.ascontiguousarray(alice_log, np.uint8), np.int64(log_start))
    return slot, flags


def sift_kernel_exact(
    t: int,
    ch: int,
    t_anchor: int,
    slot_anchor: int,
    period_q16: int,
    gate_lo_q16: int,
    gate_hi_q16: int,
    chmap: np.ndarray,
    alice_byte: int | None = None,
) -> tuple[int, int]:
    """The same kernel for one detection in plain Python integers (a readable second opinion)."""
    x = ((t - t_anchor) << 16) + (period_q16 >> 1)
    k = x // period_q16
    r = x - k * period_q16 - (period_q16 >> 1)
    m = int(chmap[ch]) if 0 <= ch <= 255 else 0
    flags = int(gate_lo_q16 <= r < gate_hi_q16) | (m >> 7) << 1 | ((m >> 1) & 1) << 2
    flags |= (m & 1) << 3
    if alice_byte is not None:
        flags |= FLAG_IN_LOG
        if flags & 3 == 3 and (alice_byte >> 1) & 1 == (flags >> 2) & 1:
            flags |= FLAG_KEEP
    return slot_anchor + k, flags
