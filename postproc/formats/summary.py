"""One streaming pass over a source: the figures ``qkdpp info`` prints."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from postproc.events import DEFAULT_CHUNK_RECORDS, TimeTagReader


def summarize(reader: TimeTagReader, *, n_first: int = 5,
              chunk_records: int = DEFAULT_CHUNK_RECORDS,
              advance: Callable[[int], None] | None = None) -> dict:
    """Count events per channel, specials and gaps; first events; duration and rates.

    ``duration_ps`` is the span of the photon times (max - min, so unsorted sources are fine).
    """
    m = reader.meta
    per_ch: dict[int, int] = {}
    first_t: list[int] = []
    first_ch: list[int] = []
    n_events = n_markers = n_sync = n_ofl = n_gaps = missed = 0
    t_min = t_max = None
    advanced = 0
    for c in reader.chunks(chunk_records):
        if len(c):
            ch, cnt = np.unique(c.ch, return_counts=True)
            for k, v in zip(ch.tolist(), cnt.tolist(), strict=True):
                per_ch[k] = per_ch.get(k, 0) + v
            lo, hi = int(c.t.min()), int(c.t.max())
            t_min = lo if t_min is None else min(t_min, lo)
            t_max = hi if t_max is None else max(t_max, hi)
            if len(first_t) < n_first:
                k = n_first - len(first_t)
                first_t += c.t[:k].tolist()
                first_ch += c.ch[:k].tolist()
        n_events += len(c)
        sp = c.specials
        n_markers += int(sp.marker_t.size)
        n_sync += int(sp.sync_t.size)
        n_ofl += int(sp.n_overflows)
        n_gaps += int(sp.gap_start.size)
        missed += int(sp.gap_missed[sp.gap_missed > 0].sum()) if sp.gap_missed.size else 0
        if advance is not None:  # progress in records (the unit of the declared total)
            done = getattr(reader, "records_read", n_events)
            advance(done - advanced)
            advanced = done
    duration = 0 if t_min is None else t_max - t_min
    records = getattr(reader, "records_read", n_events)
    out = {
        "path": m.path,
        "format": m.format,
        "record_type": m.record_type,
        "resolution_ps": m.resolution_ps,
        "sync_period_ps": m.sync_period_ps,
        "dtime_resolution_ps": m.dtime_resolution_ps,
        "n_records": int(records),
        "n_records_declared": m.n_records_declared,
        "n_events": n_events,
        "events_per_channel": {str(k): v for k, v in sorted(per_ch.items())},
        "n_overflows": n_ofl,
        "n_markers": n_markers,
        "n_sync": n_sync,
        "n_gaps": n_gaps,
        "n_missed": missed,
        "first_times_ps": first_t,
        "first_channels": first_ch,
        "t_first_ps": t_min,
        "t_last_ps": t_max,
        "duration_ps": int(duration),
        "rate_hz": n_events / (duration * 1e-12) if duration > 0 else None,
        "rates_hz_per_channel": {str(k): v / (duration * 1e-12) for k, v in sorted(per_ch.items())}
        if duration > 0 else {},
    }
    for attr in ("n_invalid", "n_backward", "n_errors"):
        if hasattr(reader, attr):
            out[attr] = int(getattr(reader, attr))
    return out
