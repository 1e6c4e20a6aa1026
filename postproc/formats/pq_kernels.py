"""PicoQuant TTTR record kernels: pure numba functions on numpy arrays.

Record layouts (32-bit little-endian words, bit 0 = least significant), as published by
PicoQuant (PicoQuant-Time-Tagged-File-Format-Demos, doc/apx_tttrrecords.html):

PicoHarp 300 T2 (``LAYOUT_PH_T2``)
    bits 31..28 channel (0..4; 5..14 are invalid), bits 27..0 time tag. Channel 15 is special:
    ``time & 0xF`` is the marker mask; a zero mask is an overflow that adds 210698240 to the
    time base. A marker's time is the full 28-bit field (its low 4 bits carry the mask, as
    PicoQuant's and ptufile's decoders do).
HydraHarp V1 T2 (``LAYOUT_HH1_T2``)
    bit 31 special, bits 30..25 channel, bits 24..0 time tag. Special channel 63 = overflow
    (one wrap of 33552000 per record, whatever the time field says), special channel 0 = sync,
    special channels 1..15 = marker mask.
HydraHarp V2 / TimeHarp 260 N/P / MultiHarp / PicoHarp 330 T2 (``LAYOUT_HH2_T2``)
    Same layout; an overflow record carries its count in the time field (0 counts as 1), each
    wrap is 33554432.
PicoHarp 300 T3 (``LAYOUT_PH_T3``)
    bits 31..28 channel (1..4 -> 0..3), bits 27..16 dtime, bits 15..0 nsync. Channel 15 special:
    ``dtime & 0xF`` marker mask, zero = overflow of 65536 syncs.
HydraHarp V1 T3 (``LAYOUT_HH1_T3``) / V2 and later T3 (``LAYOUT_HH2_T3``)
    bit 31 special, bits 30..25 channel, bits 24..10 dtime, bits 9..0 nsync. Special channel 63 =
    overflow of 1024 syncs (V1: one per record; V2: count in nsync, 0 counts as 1); special
    channels 1..15 = marker mask.
TimeHarp 200 .t3r (``LAYOUT_T3R``)
    bits 15..0 time tag (global clock), bits 27..16 data (dtime), bits 29..28 route (channel),
    bit 30 valid. Valid = photon. Invalid with ``data & 0x800`` = overflow of 65536 clocks,
    otherwise ``data & 7`` = marker mask.

Channels are numbered as ptufile reports photons: the raw channel field for T2 and HydraHarp T3,
field - 1 for PicoHarp T3, the route for .t3r.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LAYOUT_PH_T2 = 0
LAYOUT_HH1_T2 = 1
LAYOUT_HH2_T2 = 2
LAYOUT_PH_T3 = 10
LAYOUT_HH1_T3 = 11
LAYOUT_HH2_T3 = 12
LAYOUT_T3R = 13
T2_LAYOUTS = {"picoharp": LAYOUT_PH_T2, "hydraharp1": LAYOUT_HH1_T2, "hydraharp2": LAYOUT_HH2_T2}

KIND_PHOTON = 0
KIND_OVERFLOW = 1
KIND_MARKER = 2
KIND_SYNC = 3
KIND_INVALID = 4

PH_T2_WRAP = 210698240
HH1_T2_WRAP = 33552000
HH2_T2_WRAP = 33554432
PH_T3_WRAP = 65536
HH_T3_WRAP = 1024
T3R_WRAP = 65536
MAX_OVERFLOW_COUNT = 127  # per written overflow record, see encode_hh2_t2


@njit(cache=True)
def _decode_t2_words(words, layout, ofl, time, channel, kind):
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        if layout == LAYOUT_PH_T2:
            c = w >> 28
            tt = w & 0x0FFFFFFF
            if c == 15:
                m = tt & 0xF
                if m == 0:
                    ofl += PH_T2_WRAP
                    kind[i] = KIND_OVERFLOW
                    channel[i] = 0
                else:
                    kind[i] = KIND_MARKER
                    channel[i] = m
            elif c <= 4:
                kind[i] = KIND_PHOTON
                channel[i] = c
            else:
                kind[i] = KIND_INVALID
                channel[i] = c
        else:
            c = (w >> 25) & 63
            tt = w & 0x1FFFFFF
            if w >> 31:
                if c == 63:
                    if layout == LAYOUT_HH1_T2:
                        ofl += HH1_T2_WRAP
                    else:
                        ofl += HH2_T2_WRAP * (tt if tt != 0 else 1)
                    kind[i] = KIND_OVERFLOW
                    channel[i] = 0
                elif c == 0:
                    kind[i] = KIND_SYNC
                    channel[i] = 0
                elif c <= 15:
                    kind[i] = KIND_MARKER
                    channel[i] = c
                else:
                    kind[i] = KIND_INVALID
                    channel[i] = c
            else:
                kind[i] = KIND_PHOTON
                channel[i] = c
        time[i] = ofl + tt
    return ofl


def decode_t2_words(
    words: np.ndarray, layout: str = "hydraharp2", overflow_in: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Decode PicoQuant T2 records one output per input word (the ``tag_decoder`` reference).

    Parameters:
        words: uint32 records as stored in the file (little-endian words).
        layout: ``"hydraharp2"`` (HydraHarp V2, TimeHarp 260, MultiHarp, PicoHarp 330),
            ``"hydraharp1"`` (HydraHarp V1) or ``"picoharp"`` (PicoHarp 300); see the module
            docstring for the bit fields.
        overflow_in: accumulated overflow time base (in time-tag units) carried from the
            previous words.

    Returns ``(time, channel, kind, overflow_out)``:
        time: int64, ``overflow + time_field`` in time-tag units, where ``overflow`` already
            includes the record's own overflow increment (an overflow record reports the new
            base plus its time field, exactly as ptufile does). The base is a 64-bit count
            (a Verilog twin needs 64-bit accumulators; it cannot overflow in practice).
        channel: int16, the photon channel field; the marker mask (1..15) for markers; 0 for
            sync and overflow records; the raw channel field for invalid records.
        kind: uint8, 0 photon, 1 overflow, 2 marker, 3 sync (HydraHarp layouts only),
            4 invalid (a special HydraHarp record with channel 16..62, a PicoHarp channel
            field 5..14).
        overflow_out: the overflow base after the last word.
    """
    if layout not in T2_LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(T2_LAYOUTS)}, not {layout!r}")
    w = np.ascontiguousarray(words, dtype=np.uint32)
    time = np.empty(w.shape[0], np.int64)
    channel = np.empty(w.shape[0], np.int16)
    kind = np.empty(w.shape[0], np.uint8)
    ofl = _decode_t2_words(w, T2_LAYOUTS[layout], np.int64(overflow_in), time, channel, kind)
    return time, channel, kind, int(ofl)


@njit(cache=True)
def _t2_hh_chunk(words, v1, ofl, num, den, t_ph, ch_ph, sp_t, sp_kind, sp_ch):
    # HydraHarp layouts; the photon path comes first and stays branch-light
    n_ph = 0
    n_sp = 0
    n_ofl = 0
    n_bad = 0
    first_bad = -1
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        tt = w & 0x1FFFFFF
        c = w >> 25
        if c < 64:  # special bit clear: a photon
            u = ofl + tt
            if den == 1:
                t_ph[n_ph] = u * num
            else:
                t_ph[n_ph] = (u * num) // den
            ch_ph[n_ph] = c
            n_ph += 1
            continue
        c -= 64
        if c == 63:
            if v1:
                ofl += HH1_T2_WRAP
            else:
                ofl += HH2_T2_WRAP * (tt if tt != 0 else 1)
            n_ofl += 1
            continue
        if c > 15:
            n_bad += 1
            if first_bad < 0:
                first_bad = i
            continue
        u = ofl + tt
        sp_t[n_sp] = u * num if den == 1 else (u * num) // den
        sp_kind[n_sp] = KIND_SYNC if c == 0 else KIND_MARKER
        sp_ch[n_sp] = c
        n_sp += 1
    return n_ph, n_sp, ofl, n_ofl, n_bad, first_bad


@njit(cache=True)
def _t2_ph_chunk(words, ofl, num, den, t_ph, ch_ph, sp_t, sp_kind, sp_ch):
    n_ph = 0
    n_sp = 0
    n_ofl = 0
    n_bad = 0
    first_bad = -1
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        c = w >> 28
        tt = w & 0x0FFFFFFF
        if c <= 4:
            u = ofl + tt
            if den == 1:
                t_ph[n_ph] = u * num
            else:
                t_ph[n_ph] = (u * num) // den
            ch_ph[n_ph] = c
            n_ph += 1
            continue
        if c != 15:
            n_bad += 1
            if first_bad < 0:
                first_bad = i
            continue
        m = tt & 0xF
        if m == 0:
            ofl += PH_T2_WRAP
            n_ofl += 1
            continue
        u = ofl + tt
        sp_t[n_sp] = u * num if den == 1 else (u * num) // den
        sp_kind[n_sp] = KIND_MARKER
        sp_ch[n_sp] = m
        n_sp += 1
    return n_ph, n_sp, ofl, n_ofl, n_bad, first_bad


@njit(cache=True)
def t2_chunk(words, layout, ofl, num, den, t_ph, ch_ph, sp_t, sp_kind, sp_ch):
    """Decode a chunk of T2 words, compacting photons and special records.

    Times are converted to ps as ``(units * num) // den``. Returns
    ``(n_photons, n_specials, overflow_out, n_overflow_records, n_invalid, first_invalid)``;
    overflow records are not stored in ``sp_*`` (only counted). Bit-exact with
    :func:`decode_t2_words` (the tests check it).
    """
    if layout == LAYOUT_PH_T2:
        return _t2_ph_chunk(words, ofl, num, den, t_ph, ch_ph, sp_t, sp_kind, sp_ch)
    return _t2_hh_chunk(words, layout == LAYOUT_HH1_T2, ofl, num, den, t_ph, ch_ph, sp_t,
                        sp_kind, sp_ch)


@njit(cache=True)
def t3_chunk(words, layout, ofl, period_ps, dres_ps, t_ph, ch_ph, ns_ph, dt_ph, sp_ns, sp_ch):
    """Decode a chunk of T3 words (PicoHarp, HydraHarp V1/V2+, TimeHarp 200 .t3r).

    ``nsync`` is the overflow base plus the record's sync field; the photon time is
    ``round(nsync * period_ps) + round(dtime * dres_ps)`` (float64, so exact to 1 ps while
    ``nsync * period_ps`` < 2**53 ps, about 2.5 hours). Markers are stored as (nsync, mask).
    Returns ``(n_photons, n_markers, overflow_out, n_overflow_records, n_invalid, first_invalid)``.
    """
    n_ph = 0
    n_sp = 0
    n_ofl = 0
    n_bad = 0
    first_bad = -1
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        photon = False
        marker = 0
        if layout == LAYOUT_PH_T3:
            c = w >> 28
            dt = (w >> 16) & 0xFFF
            ns = w & 0xFFFF
            if c == 15:
                marker = dt & 0xF
                if marker == 0:
                    ofl += PH_T3_WRAP
                    n_ofl += 1
                    continue
            elif 1 <= c <= 4:
                photon = True
                c -= 1
        elif layout == LAYOUT_T3R:
            ns = w & 0xFFFF
            dt = (w >> 16) & 0xFFF
            c = (w >> 28) & 3
            if (w >> 30) & 1:
                photon = True
            elif dt & 0x800:
                ofl += T3R_WRAP
                n_ofl += 1
                continue
            else:
                marker = dt & 7
        else:
            c = (w >> 25) & 63
            dt = (w >> 10) & 0x7FFF
            ns = w & 0x3FF
            if (w >> 31) == 0:
                photon = True
            elif c == 63:
                if layout == LAYOUT_HH1_T3:
                    ofl += HH_T3_WRAP
                else:
                    ofl += HH_T3_WRAP * (ns if ns != 0 else 1)
                n_ofl += 1
                continue
            elif 1 <= c <= 15:
                marker = c
        if photon:
            n = ofl + ns
            ns_ph[n_ph] = n
            dt_ph[n_ph] = dt
            ch_ph[n_ph] = c
            t_ph[n_ph] = np.int64(n * period_ps + 0.5) + np.int64(dt * dres_ps + 0.5)
            n_ph += 1
        elif marker != 0:
            sp_ns[n_sp] = ofl + ns
            sp_ch[n_sp] = marker
            n_sp += 1
        else:
            n_bad += 1
            if first_bad < 0:
                first_bad = i
    return n_ph, n_sp, ofl, n_ofl, n_bad, first_bad


@njit(cache=True)
def count_hh2_t2_words(t_units, ofl_in):
    """Number of words ``encode_hh2_t2`` writes for these events (overflow records included)."""
    n = 0
    ofl = ofl_in
    for i in range(t_units.shape[0]):
        u = t_units[i]
        if u < ofl:
            return n + 1
        k = (u - ofl) // HH2_T2_WRAP
        n += (k + MAX_OVERFLOW_COUNT - 1) // MAX_OVERFLOW_COUNT + 1
        ofl += k * HH2_T2_WRAP
    return n


@njit(cache=True)
def encode_hh2_t2(t_units, ch, is_marker, ofl_in, out):
    """Encode events (time in units, ascending) as HydraHarp V2 T2 words with overflow counts.

    ``out`` must hold ``count_hh2_t2_words(t_units, ofl_in)`` words.

    ``is_marker`` selects special marker records (``ch`` = mask 1..15); others are photons on
    channel ``ch`` (0..63). Returns ``(n_words, overflow_base_out, first_unsorted)``; stops at the
    first event earlier than the current overflow base (``first_unsorted`` >= 0).

    An overflow record carries at most 127 wraps: ptufile (2026.2) multiplies count by wrap in
    32 bits, so larger counts, though valid, would read back wrong there.
    """
    n = 0
    ofl = ofl_in
    for i in range(t_units.shape[0]):
        u = t_units[i]
        if u < ofl:
            return n, ofl, i
        k = (u - ofl) // HH2_T2_WRAP
        while k > 0:
            step = k if k < MAX_OVERFLOW_COUNT else MAX_OVERFLOW_COUNT
            out[n] = np.uint32((1 << 31) | (63 << 25) | step)
            n += 1
            ofl += step * HH2_T2_WRAP
            k -= step
        tt = u - ofl
        if is_marker[i]:
            out[n] = np.uint32((1 << 31) | ((ch[i] & 63) << 25) | tt)
        else:
            out[n] = np.uint32(((ch[i] & 63) << 25) | tt)
        n += 1
    return n, ofl, -1
