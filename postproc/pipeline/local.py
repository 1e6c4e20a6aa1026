"""Run Alice and Bob as two threads over an in-process authenticated channel (demo, tests).

Each thread gets only its own party's data iterator and its own key store; the only link between
them is the :class:`~postproc.protocol.channel.InProcessChannel` pair, optionally tapped by a
man in the middle (tests).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from postproc.pipeline.config import PipelineConfig
from postproc.pipeline.parties import AliceParty, BlockCallback, BobParty
from postproc.pipeline.report import SessionReport
from postproc.pipeline.sifting import AliceBlock, BobRun
from postproc.protocol.auth import AuthenticatedChannel, AuthKeys
from postproc.protocol.channel import InProcessChannel, Tap


@dataclass
class PairResult:
    alice: SessionReport
    bob: SessionReport
    link_s: float = 0.0
    channels: tuple[AuthenticatedChannel, AuthenticatedChannel] | None = None  # (tests)


def run_pair(
    alice_blocks: Iterable[AliceBlock],
    bob_run: BobRun,
    cfg: PipelineConfig,
    *,
    alice_store: Any = None,
    bob_store: Any = None,
    seed: int | None = None,
    initial_secret: bytes | None = None,
    tap_ab: Tap | None = None,
    tap_ba: Tap | None = None,
    on_block: BlockCallback | None = None,
) -> PairResult:
    """Alice in this thread, Bob in another; returns both session reports.

    ``initial_secret`` stands for the pre-shared authentication secret (drawn from ``seed`` if not
    given). Alice's and Bob's random generators are independent streams of ``seed``.
    """
    ss = np.random.SeedSequence(seed)
    s_secret, s_alice, s_bob = ss.spawn(3)
    secret = initial_secret or AuthKeys.generate_secret(
        np.random.default_rng(s_secret), cfg.initial_secret_bytes
    )
    a_raw, b_raw = InProcessChannel.pair(tap_ab, tap_ba)
    kw = {"timeout": cfg.timeout_s, "retransmit_s": cfg.retransmit_s}
    a_chan = AuthenticatedChannel(
        a_raw, "alice", AuthKeys.from_secret(secret, tag_bits=cfg.auth_tag_bits), **kw
    )
    b_chan = AuthenticatedChannel(
        b_raw, "bob", AuthKeys.from_secret(secret, tag_bits=cfg.auth_tag_bits), **kw
    )
    alice = AliceParty(a_chan, cfg, alice_store, np.random.default_rng(s_alice), on_block)
    bob = BobParty(b_chan, cfg, bob_store, np.random.default_rng(s_bob))
    failure: list[BaseException] = []

    def bob_main() -> None:
        try:
            bob.run(bob_run)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
        finally:
            b_raw.close()

    th = threading.Thread(target=bob_main, name="bob", daemon=True)
    th.start()
    try:
        alice.run(alice_blocks)
    finally:
        a_raw.close()
        th.join()
    if failure:
        raise failure[0]
    return PairResult(alice.report, bob.report, channels=(a_chan, b_chan))
