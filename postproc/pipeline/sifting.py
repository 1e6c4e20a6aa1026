"""Each party's data as the protocol sees it, and the split of sifted bits by basis.

Alice holds her modulation log, cut into blocks of slots (:class:`AliceBlock`). Bob holds his
detections of the run after clock recovery, gating and squashing (sifting's ``BobDetections``, in
his own slot numbering); :class:`BobRun` hands out the detections of one block once Bob knows
where Alice's block lies in his numbering (Alice slot = Bob slot + offset, the offset Alice finds
on the first block). The basis-reconciliation messages and party functions are sifting's
(:mod:`postproc.sift.bb84`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from postproc.events import EventChunk


@dataclass
class AliceBlock:
    """Alice's modulation log for one block (one byte per slot, layout of the recording)."""

    block: int
    first_slot: int
    log: np.ndarray  # uint8


@dataclass(repr=False)
class Sifted:
    """One party's sifted bits by basis, with the intensity class of each position."""

    z_bits: np.ndarray
    z_class: np.ndarray
    x_bits: np.ndarray
    x_class: np.ndarray

    def __repr__(self) -> str:  # key material stays out of logs and tracebacks
        return f"Sifted(z={self.z_bits.shape[0]} bits, x={self.x_bits.shape[0]} bits)"

    @classmethod
    def from_side(cls, side) -> Sifted:
        z = side.basis == 0
        bits = np.asarray(side.bits, np.uint8)
        klass = np.asarray(side.intensity, np.uint8)
        return cls(bits[z], klass[z], bits[~z], klass[~z])

    def counts(self, n_classes: int) -> tuple[list[int], list[int]]:
        return (
            np.bincount(self.z_class, minlength=n_classes)[:n_classes].tolist(),
            np.bincount(self.x_class, minlength=n_classes)[:n_classes].tolist(),
        )


class BobRun:
    """Bob's detections of a whole run (his slot numbering), served block by block.

    ``detections`` is sifting's ``BobDetections`` (sorted ``slot``, ``basis``, ``bit``,
    ``double``, ``stats``), or a callable producing it on first use (so that, in the demo, Bob's
    clock recovery starts only once his events have arrived).
    """

    def __init__(self, detections) -> None:
        self._det = detections
        self.offset = 0  # Alice slot = Bob slot + offset, as last announced by Alice
        self._next_lo = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        """Compute the detections in a background thread (Bob's clock recovery then overlaps
        with Alice preparing her first block); :attr:`detections` waits for it."""
        if not callable(self._det) or self._thread is not None:
            return

        def work() -> None:
            try:
                self._det = self._det()
            except BaseException as exc:  # re-raised where the detections are needed
                self._error = exc

        self._thread = threading.Thread(target=work, name="bob-detections", daemon=True)
        self._thread.start()

    @property
    def detections(self):
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            if self._error is not None:
                raise self._error
        if callable(self._det):
            self._det = self._det()
        return self._det

    def block(self, first_slot: int, n_slots: int):
        """Bob's detections in Alice's slots [first_slot, first_slot + n_slots), never reused."""
        det = self.detections
        lo = first_slot - self.offset
        hi = first_slot + n_slots - self.offset
        if self._next_lo is not None:
            lo = max(lo, self._next_lo)
        hi = max(hi, lo)
        self._next_lo = hi
        i, j = np.searchsorted(det.slot, [lo, hi], side="left")
        return det.take(slice(int(i), int(j)))


def bob_run_from_events(
    events: Callable[[], Iterable[EventChunk]] | Iterable[EventChunk],
    meta: dict,
    *,
    seed: int | None = None,
    materialise: bool = False,
) -> BobRun:
    """Bob's run from his time tags via sifting (clock recovery pass, then slotting pass).

    ``events`` is a callable returning a fresh iterator (a recording, read twice) or, with
    ``materialise``, a one-shot iterable (the simulator's queue) that is kept in memory.
    """
    from postproc.pipeline.stages import bob_detections

    def make():
        if materialise:
            chunks = [(c.t, c.ch) for c in events]  # type: ignore[union-attr]
            return bob_detections(meta, lambda: iter(chunks), seed)
        return bob_detections(meta, lambda: ((c.t, c.ch) for c in events()), seed)

    return BobRun(make)
