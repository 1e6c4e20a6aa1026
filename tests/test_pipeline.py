"""Two-party pipeline acceptance tests on a slot-level link model (tests/protocol_fakelink.py).

Alice and Bob run in two threads and share nothing but the authenticated in-process channel.
"""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("postproc.sift.bb84")
pytest.importorskip("postproc.reconcile.blind")
pytest.importorskip("postproc.amplify")

import threading

import numpy as np
from protocol_fakelink import fake_link
from protocol_faults import FaultTap

from postproc.errors import ConfigError, ProtocolError
from postproc.estimate import finite_key
from postproc.pipeline.config import PipelineConfig
from postproc.pipeline.local import run_pair
from postproc.pipeline.parties import AliceParty, BobParty
from postproc.protocol.auth import AuthenticatedChannel, AuthKeys
from postproc.protocol.channel import InProcessChannel
from postproc.protocol.verify import tag_bits_for

MU = (0.57, 0.25, 0.0)
P_MU = (0.4, 0.4, 0.2)
SLOTS = 1_000_000
CFG = PipelineConfig(mu=MU, p_mu=P_MU, block_slots=SLOTS, timeout_s=600.0)  # cold JIT under load


class DictStore:
    """Stand-in key store with the KeyStore.add signature (the SQLite store is tested by pa-kms)."""

    def __init__(self) -> None:
        self.keys: dict[uuid.UUID, tuple[int, bytes, int, dict]] = {}

    def add(self, key_id, block_id, key, n_bits, **meta) -> None:
        assert key_id not in self.keys
        self.keys[key_id] = (block_id, key, n_bits, meta)


def _link(n_blocks: int, **kw):
    return fake_link(
        n_blocks, SLOTS, mu=MU, p_mu=P_MU, p_z=0.7, eta=0.8, **{"offset": 137, "e_mis": 0.01, **kw}
    )


def _run(n_blocks: int, *, seed: int = 3, tap_ab=None, tap_ba=None, cfg=CFG, **link_kw):
    a_blocks, b_run = _link(n_blocks, seed=seed, **link_kw)
    sa, sb = DictStore(), DictStore()
    res = run_pair(
        a_blocks,
        b_run,
        cfg,
        alice_store=sa,
        bob_store=sb,
        seed=seed,
        tap_ab=tap_ab,
        tap_ba=tap_ba,
    )
    return res, sa, sb


def _assert_identical(res, sa: DictStore, sb: DictStore) -> None:
    assert sa.keys.keys() == sb.keys.keys()
    for k in sa.keys:
        assert sa.keys[k][:3] == sb.keys[k][:3]
    ok_blocks = [b for b in res.alice.blocks if b.aborted is None]
    assert sorted(sa.keys[uuid.UUID(b.key_id)][0] for b in ok_blocks) == [
        b.block for b in ok_blocks
    ]


def test_keys_identical_and_lengths_from_finite_key() -> None:
    res, sa, sb = _run(3)
    _assert_identical(res, sa, sb)
    ok = [b for b in res.alice.blocks if b.aborted is None]
    assert len(ok) >= 2 and res.alice.secret_bits > 0
    t = tag_bits_for(CFG.eps_cor)
    for a, b in zip(res.alice.blocks, res.bob.blocks, strict=True):
        # both sides saw the same counts and the same ledger
        assert (a.n_Z_key, a.m_Z, a.n_X, a.m_X, a.leakage) == (
            b.n_Z_key,
            b.m_Z,
            b.n_X,
            b.m_X,
            b.leakage,
        )
        if a.aborted:
            continue
        assert a.leakage["verification_tag"] == t and a.leakage["verification_outcome"] == 1
        assert (
            a.lambda_ec
            == a.leakage["total"]
            == sum(v for k, v in a.leakage.items() if k != "total")
        )
        fk = finite_key(
            "lim2014",
            list(MU),
            list(P_MU),
            a.n_Z_key,
            a.m_Z,
            a.n_X,
            a.m_X,
            CFG.eps_sec,
            CFG.eps_cor,
            float(a.lambda_ec),
            qber_max=CFG.qber_max,
        )
        assert a.key_length == fk.key_length > 0
        assert a.stored_bits + a.auth_bits == a.key_length
        assert 0.005 < a.qber_z < 0.03 and a.f_ec > 1.0


def test_efficient_reconciliation_mode_gives_identical_keys_and_smaller_f() -> None:
    """reconcile_mode "efficient" (bp32k + sum-product) on the same link: keys identical, and the
    reconciliation efficiency f below the fast mode's on every block."""
    fast, _, _ = _run(2, seed=5)
    res, sa, sb = _run(2, seed=5, cfg=CFG.replace(reconcile_mode="efficient"))
    _assert_identical(res, sa, sb)
    pairs = [
        (e.f_ec, f.f_ec)
        for e, f in zip(res.alice.blocks, fast.alice.blocks, strict=True)
        if e.aborted is None and f.aborted is None
    ]
    # (secret bits are not compared: in 1e6-slot blocks the whole-frame cut dominates them)
    assert pairs and all(e < f for e, f in pairs)


def test_unknown_reconcile_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="reconcile_mode"):
        CFG.replace(reconcile_mode="turbo")


def test_intercept_resend_aborts_every_block() -> None:
    res, sa, sb = _run(2, eve=True)
    assert all(b.aborted for b in res.alice.blocks + res.bob.blocks)
    assert all("QBER in the X basis" in b.aborted for b in res.alice.blocks)
    assert res.alice.secret_bits == res.bob.secret_bits == 0
    assert not sa.keys and not sb.keys


ATTACKS = {
    # A->B messages of block 0: 0 KeySync, 1 BlockStart, 2 SiftReply, 3 XErrors, 4 SyndromeMsg
    "tampered": ("corrupt", (0, 2), "authentication failed"),
    "truncated": ("truncate", (0, 4), "truncated"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attacked_block_aborts_cleanly_and_later_blocks_succeed(attack: str) -> None:
    kind, target, needle = ATTACKS[attack]
    tap = FaultTap(kind, {target})
    res, sa, sb = _run(2, tap_ab=tap)
    assert tap.hit == [target]
    first = res.bob.blocks[0]
    assert first.aborted is not None and needle in first.aborted
    assert res.alice.blocks[0].aborted is not None
    assert res.alice.blocks[1].aborted is None and res.alice.blocks[1].stored_bits > 0
    assert res.bob.auth["rejected"] >= 1
    _assert_identical(res, sa, sb)


def test_replayed_message_is_dropped_not_acted_on() -> None:
    tap = FaultTap("duplicate", {(0, 1)})
    res, sa, sb = _run(2, tap_ab=tap)
    assert tap.hit == [(0, 1)]
    assert res.bob.auth["duplicates"] >= 1 and res.bob.auth["rejected"] == 0
    assert all(b.aborted is None for b in res.alice.blocks + res.bob.blocks)
    _assert_identical(res, sa, sb)


def test_reordered_messages_abort_the_block() -> None:
    # A->B XErrors (3) and SyndromeMsg (4) go out back to back: XErrors is delivered after
    tap = FaultTap("reorder", {(0, 3)})
    res, sa, sb = _run(2, tap_ab=tap)
    assert "message 4 arrived where message 3 was due" in res.bob.blocks[0].aborted
    assert "peer aborted block 0" in res.alice.blocks[0].aborted
    assert res.alice.blocks[1].aborted is None and res.alice.blocks[1].stored_bits > 0
    assert res.bob.auth["ignored_stale"] >= 1  # the late XErrors of the aborted block
    _assert_identical(res, sa, sb)


def test_mismatched_parameters_are_refused() -> None:
    """Alice with eps_sec 1e-10, Bob with 1e-9: Bob refuses at Hello, nothing else happens."""
    a_blocks, b_run = _link(1)
    secret = AuthKeys.generate_secret(np.random.default_rng(0), 4096)
    ar, br = InProcessChannel.pair()
    a = AliceParty(
        AuthenticatedChannel(ar, "alice", AuthKeys.from_secret(secret), timeout=10),
        CFG,
        None,
        np.random.default_rng(1),
    )
    b = BobParty(
        AuthenticatedChannel(br, "bob", AuthKeys.from_secret(secret), timeout=10),
        CFG.replace(eps_sec=1e-9),
        None,
        np.random.default_rng(2),
    )
    errors: list[Exception] = []

    def bob_main() -> None:
        try:
            b.run(b_run)
        except ProtocolError as exc:
            errors.append(exc)

    th = threading.Thread(target=bob_main)
    th.start()
    with pytest.raises(ProtocolError, match="Bob refused the session: parameters differ: eps_sec"):
        a.run(a_blocks)
    th.join(10)
    assert errors and "eps_sec" in str(errors[0])


@pytest.mark.slow
def test_thousand_blocks_keys_identical() -> None:
    res, sa, sb = _run(1000, seed=11)
    _assert_identical(res, sa, sb)
    assert sum(1 for b in res.alice.blocks if b.aborted is None) >= 990


def test_alice_and_bob_over_tcp() -> None:
    """The same party code over a real TCP connection (two threads, two sockets)."""
    import socket

    from postproc.protocol import channel as chmod

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a_blocks, b_run = _link(2, seed=21)
    secret = AuthKeys.generate_secret(np.random.default_rng(5), 8192)
    sa, sb = DictStore(), DictStore()
    out: dict = {}

    def bob_main() -> None:
        raw = chmod.listen("127.0.0.1", port, timeout=30)
        chan = AuthenticatedChannel(raw, "bob", AuthKeys.from_secret(secret), timeout=600)
        try:
            out["bob"] = BobParty(chan, CFG, sb, np.random.default_rng(7)).run(b_run)
        finally:
            raw.close()

    th = threading.Thread(target=bob_main)
    th.start()
    raw = chmod.connect("127.0.0.1", port, timeout=30)
    chan = AuthenticatedChannel(raw, "alice", AuthKeys.from_secret(secret), timeout=600)
    try:
        alice = AliceParty(chan, CFG, sa, np.random.default_rng(8)).run(a_blocks)
    finally:
        raw.close()
        th.join(600)
    assert alice.secret_bits > 0 and alice.secret_bits == out["bob"].secret_bits
    assert sa.keys.keys() == sb.keys.keys() and all(sa.keys[k] == sb.keys[k] for k in sa.keys)


def test_block_too_small_for_a_frame_aborts_on_both_sides() -> None:
    """Alice cannot fill one LDPC frame: she tells Bob, who is waiting for the syndromes."""
    a_blocks, b_run = fake_link(2, 150_000, mu=MU, p_mu=P_MU, p_z=0.7, eta=0.8, seed=2)
    cfg = CFG.replace(block_slots=150_000)
    res = run_pair(a_blocks, b_run, cfg, seed=2)
    assert len(res.alice.blocks) == len(res.bob.blocks) == 2
    assert all("less than one frame" in b.aborted for b in res.alice.blocks + res.bob.blocks)


def test_silent_peer_stops_the_session_after_two_blocks() -> None:
    """Bob accepts the session and then says nothing: Alice gives up after two timed-out blocks."""
    from postproc.pipeline import messages as pm

    a_blocks, _ = _link(4)
    secret = AuthKeys.generate_secret(np.random.default_rng(0), 4096)
    ar, br = InProcessChannel.pair()
    bob = AuthenticatedChannel(br, "bob", AuthKeys.from_secret(secret), timeout=10)
    alice = AliceParty(
        AuthenticatedChannel(ar, "alice", AuthKeys.from_secret(secret), timeout=0.5),
        CFG,
        None,
        np.random.default_rng(1),
    )

    def bob_main() -> None:
        bob.recv(pm.Hello)
        bob.send(pm.HelloAck(True, ""))

    th = threading.Thread(target=bob_main)
    th.start()
    report = alice.run(a_blocks)
    th.join(10)
    assert len(report.blocks) == 2 and all("no message" in b.aborted for b in report.blocks)
    assert report.error is not None and "two consecutive blocks" in report.error


def test_sifted_repr_shows_no_bits() -> None:
    from postproc.pipeline.sifting import Sifted

    s = Sifted(np.array([1, 0, 1], np.uint8), np.zeros(3, np.uint8),
               np.array([1], np.uint8), np.zeros(1, np.uint8))
    assert repr(s) == "Sifted(z=3 bits, x=1 bits)"


def test_prefetch_keeps_order_and_raises_in_the_consumer() -> None:
    from postproc.pipeline.sources import prefetch

    assert list(prefetch(iter(range(50)), depth=2)) == list(range(50))

    def broken():
        yield 1
        raise ValueError("log unreadable at offset 7")

    it = prefetch(broken())
    assert next(it) == 1
    with pytest.raises(ValueError, match="offset 7"):
        next(it)


@pytest.mark.parametrize("offset", [-190_000, 199_000])
def test_first_offset_on_a_slice_finds_the_full_search_offset(offset: int) -> None:
    """The pipeline hands sifting's offset search only the slots it reads: same offset found."""
    from postproc.pipeline.stages import first_offset, sift_api
    from postproc.sift.offset import find_offset

    a_blocks, b_run = fake_link(
        1, 6_000_000, mu=MU, p_mu=P_MU, p_z=0.7, eta=0.05, offset=offset, seed=4
    )
    blk = a_blocks[0]
    det = b_run.block(0, blk.log.shape[0])
    det_shifted = b_run.detections.take(slice(None))
    announce = sift_api().bob_announce(det_shifted, 0)
    r = 200_000
    sliced = first_offset(announce, blk.log, 0, list(MU), r)
    slots_b = b_run.detections.slot
    full = find_offset(slots_b, blk.log, 0, list(MU), max_offset_slots=r)
    assert sliced.offset_slots == full.offset_slots == offset
    assert sliced.score > 8 and len(det.slot) > 20_000
