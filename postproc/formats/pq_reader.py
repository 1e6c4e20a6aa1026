"""Streaming decoder of PicoQuant 32-bit TTTR records, shared by PTU and the legacy formats."""

from __future__ import annotations

import numpy as np

from postproc.events import EventChunk, SpecialEvents
from postproc.formats import pq_kernels as K  # noqa: N812  (K.<layout constant> reads better)
from postproc.formats.base import BlockFileReader, BufferPool, rational_ps, warn

T2_LAYOUTS = (K.LAYOUT_PH_T2, K.LAYOUT_HH1_T2, K.LAYOUT_HH2_T2)


class PqRecordReader(BlockFileReader):
    """Decode 32-bit PicoQuant records with one of the layouts of ``pq_kernels``.

    The overflow base is carried across chunks. Sync records (HydraHarp T2 special channel 0)
    go to ``specials.sync_t``, markers to ``specials.marker_t/marker_mask``; overflow records
    are counted in ``specials.n_overflows``. Invalid records are skipped with a FormatWarning
    naming their byte offset.
    """

    record_bytes = 4
    raw_dtype = np.dtype("<u4")

    def __init__(self, meta, data_offset: int, layout: int, declared: int | None,
                 declared_field: str | None) -> None:
        self.meta = meta
        self.data_offset = data_offset
        self.layout = layout
        self.is_t2 = layout in T2_LAYOUTS
        if self.is_t2:
            self._num, self._den = rational_ps(meta.resolution_ps, meta.path, "resolution")
        self._check_size(declared, declared_field)
        self._ofl = 0
        self.n_invalid = 0
        if self.is_t2:  # t, ch, sp_t, sp_kind, sp_ch
            self._pool = BufferPool((np.int64, np.int16, np.int64, np.uint8, np.int16))
        else:  # t, ch, nsync, dtime, sp_ns, sp_ch
            self._pool = BufferPool((np.int64, np.int16, np.int64, np.int16, np.int64, np.int16))

    def _reset(self) -> None:
        self._ofl = 0
        self.n_invalid = 0

    def _decode(self, raw: np.ndarray, first_record: int) -> EventChunk:
        n = raw.shape[0]
        if self.is_t2:
            t, ch, sp_t, sp_kind, sp_ch = self._pool.take(n)
            n_ph, n_sp, self._ofl, n_ofl, n_bad, first_bad = K.t2_chunk(
                raw, self.layout, self._ofl, self._num, self._den, t, ch, sp_t, sp_kind, sp_ch)
            is_sync = sp_kind[:n_sp] == K.KIND_SYNC
            specials = SpecialEvents(
                marker_t=sp_t[:n_sp][~is_sync].copy(),
                marker_mask=sp_ch[:n_sp][~is_sync].copy(),
                sync_t=sp_t[:n_sp][is_sync].copy(),
                n_overflows=int(n_ofl),
            )
            chunk = EventChunk(t[:n_ph], ch[:n_ph], specials, first_record=first_record)
        else:
            t, ch, ns, dt, sp_ns, sp_ch = self._pool.take(n)
            n_ph, n_sp, self._ofl, n_ofl, n_bad, first_bad = K.t3_chunk(
                raw, self.layout, self._ofl, float(self.meta.sync_period_ps),
                float(self.meta.dtime_resolution_ps), t, ch, ns, dt, sp_ns, sp_ch)
            period = float(self.meta.sync_period_ps)
            marker_t = np.floor(sp_ns[:n_sp] * period + 0.5).astype(np.int64)
            specials = SpecialEvents(marker_t=marker_t, marker_mask=sp_ch[:n_sp].copy(),
                                     n_overflows=int(n_ofl))
            chunk = EventChunk(t[:n_ph], ch[:n_ph], specials, nsync=ns[:n_ph],
                               dtime=dt[:n_ph], first_record=first_record)
        if n_bad:
            self.n_invalid += int(n_bad)
            offset = self.data_offset + 4 * (first_record + int(first_bad))
            warn(self.meta.path, offset, "record",
                 f"{n_bad} invalid {self.meta.record_type} record(s) in this chunk, first "
                 f"0x{int(raw[first_bad]):08x}; skipped")
        return chunk
