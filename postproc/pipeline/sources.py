"""Where each party's data comes from: a recording on disk or the simulator, block by block.

Alice's iterator yields only her modulation log, Bob's only his detections (turned into slots by
sifting's Bob-side functions). In the demo the simulator plays the physical link in its own
thread and feeds the two parties through two separate bounded queues.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from postproc.pipeline.sifting import AliceBlock

_END = object()


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


@dataclass
class QueueFeed:
    """An iterator over items a producer thread puts into a bounded queue."""

    q: queue.Queue
    name: str

    def __iter__(self) -> Iterator:
        while True:
            item = self.q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class SimulatedLink:
    """Runs the simulator in a thread; Alice's and Bob's data leave through separate queues."""

    def __init__(self, sim_cfg, n_slots: int, block_slots: int, chunk_slots: int) -> None:
        depth = 2 * max(1, block_slots // chunk_slots) + 4  # >= 2 blocks: no lock-step deadlock
        self.alice = QueueFeed(queue.Queue(depth), "alice")
        self.bob = QueueFeed(queue.Queue(depth), "bob")
        self.sim_cfg = sim_cfg
        self.n_slots = n_slots
        self.truth = None
        self.sim_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="link", daemon=True)

    def start(self) -> SimulatedLink:
        self._thread.start()
        return self

    def _run(self) -> None:
        import time

        from postproc.pipeline.stages import simulate

        t0 = time.perf_counter()
        try:
            for alice_log, bob_events, truth in simulate(self.sim_cfg, self.n_slots):
                self.alice.q.put(alice_log)
                self.bob.q.put(bob_events)
                self.truth = truth
        except BaseException as exc:  # surfaces in both parties' iterators
            self.alice.q.put(exc)
            self.bob.q.put(exc)
        finally:
            self.sim_seconds = time.perf_counter() - t0
            self.alice.q.put(_END)
            self.bob.q.put(_END)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
