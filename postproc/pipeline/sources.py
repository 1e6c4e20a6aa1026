"""Where each party's data comes from: a recording on disk or the simulator, block by block.

Alice's iterator yields only her modulation log, Bob's only his detections (turned into slots by
sifting's Bob-side functions). In the demo the simulator plays the physical link first: it keeps
Alice's log (packed two slots per byte) and Bob's time tags apart, then the parties run, each on
its own half. (Bob's clock recovery needs his whole run, so the link cannot be streamed into the
lock-step protocol without holding Alice's log anyway; simulating first also keeps the simulator's
time out of the pipeline's real-time factor.)
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np

from postproc.events import EventChunk
from postproc.pipeline.sifting import AliceBlock


def alice_blocks(chunks: Iterable[np.ndarray], block_slots: int) -> Iterator[AliceBlock]:
    """Cut Alice's log (any chunking) into whole blocks of ``block_slots`` slots."""
    buf: list[np.ndarray] = []
    have = 0
    block = 0
    for chunk in chunks:
        buf.append(np.asarray(chunk, dtype=np.uint8))
        have += chunk.shape[0]
        while have >= block_slots:
            data = np.concatenate(buf) if len(buf) > 1 else buf[0]
            yield AliceBlock(block, block * block_slots, data[:block_slots])
            rest = data[block_slots:]
            buf, have = ([rest] if rest.size else []), rest.size
            block += 1


T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    Alice's next block (reading or unpacking her log: numpy work that releases the GIL) is then
    prepared while the protocol waits for Bob, instead of after. Exceptions reach the consumer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer
            put((_DONE, exc))
            return
        put((_DONE, None))

    th = threading.Thread(target=produce, name="prefetch", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, tuple) and len(item) == 2 and item[0] is _DONE:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()


class SimulatedLink:
    """The simulated link run to completion: Alice's log and Bob's time tags, kept apart."""

    def __init__(self, sim_cfg, n_slots: int) -> None:
        from postproc.pipeline.stages import simulate

        self._alice: list[np.ndarray] = []  # two slots per byte: low nibble = even slot
        self._alice_slots: list[int] = []
        self.bob_events: list[EventChunk] = []
        self.truth = None
        t0 = time.perf_counter()
        for alice_log, bob_events, truth in simulate(sim_cfg, n_slots):
            self._alice.append(_pack_nibbles(alice_log))
            self._alice_slots.append(int(alice_log.shape[0]))
            self.bob_events.append(bob_events)
            self.truth = truth
        self.sim_seconds = time.perf_counter() - t0

    def alice_chunks(self) -> Iterator[np.ndarray]:
        """Alice's log, chunk by chunk (unpacked on the fly)."""
        for packed, n in zip(self._alice, self._alice_slots, strict=True):
            yield _unpack_nibbles(packed, n)


def _pack_nibbles(log: np.ndarray) -> np.ndarray:
    """Alice's log bytes use bits 0-3 only: store two slots per byte."""
    log = np.asarray(log, np.uint8)
    if log.shape[0] % 2:
        log = np.concatenate([log, np.zeros(1, np.uint8)])
    return log[0::2] | (log[1::2] << 4)


def _unpack_nibbles(packed: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(2 * packed.shape[0], np.uint8)
    out[0::2] = packed & 0x0F
    out[1::2] = packed >> 4
    return out[:n]
