"""Authenticated channel: honest round trips, and every attack refused without a crash."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pytest

from postproc.errors import BlockAbortedError, ProtocolError
from postproc.protocol import channel as ch
from postproc.protocol.auth import ACCEPTED_KEPT, AuthenticatedChannel, AuthKeys
from postproc.protocol.codec import message


@message(60010)
@dataclass(frozen=True)
class Ping:
    n: int
    data: np.ndarray


def _pair(tap_ab=None, tap_ba=None, secret_bytes: int = 4096, timeout: float = 2.0):
    secret = AuthKeys.generate_secret(np.random.default_rng(1), secret_bytes)
    a_raw, b_raw = ch.InProcessChannel.pair(tap_ab, tap_ba)
    alice = AuthenticatedChannel(a_raw, "alice", AuthKeys.from_secret(secret), timeout=timeout)
    bob = AuthenticatedChannel(b_raw, "bob", AuthKeys.from_secret(secret), timeout=timeout)
    return alice, bob


def _ping(n: int) -> Ping:
    return Ping(n, np.arange(n, dtype=np.int64))


def test_round_trip_both_directions_and_accounting() -> None:
    alice, bob = _pair()
    for n in range(5):
        alice.send(_ping(n))
        got = bob.recv(Ping)
        assert got.n == n and got.data.tolist() == list(range(n))
        bob.send(_ping(n + 100))
        assert alice.recv(Ping).n == n + 100
    assert alice.stats.pad_bits_used == [5 * 64, 5 * 64] == bob.stats.pad_bits_used
    assert alice.available_bits()[0] == bob.available_bits()[1]


def _tamper_at(k: int, fn):
    count = {"n": 0}

    def tap(frame: bytes) -> list[bytes]:
        i = count["n"]
        count["n"] += 1
        return fn(frame, i) if i == k else [frame]

    return tap


def _flip(frame: bytes, i: int) -> list[bytes]:
    f = bytearray(frame)
    f[58] ^= 0x01  # inside the codec payload (auth header 36 + codec header 16)
    return [bytes(f)]


def _recover(alice: AuthenticatedChannel, bob: AuthenticatedChannel, block: int) -> None:
    """Both sides move on to ``block``; traffic there must work again."""
    alice.begin_block(block)
    bob.begin_block(block)
    alice.send(_ping(7))
    assert bob.recv(Ping).n == 7
    bob.send(_ping(8))
    assert alice.recv(Ping).n == 8


def test_tampered_message_is_rejected_and_next_block_works() -> None:
    alice, bob = _pair(tap_ab=_tamper_at(1, _flip))
    alice.send(_ping(1))
    bob.recv(Ping)
    alice.send(_ping(2))
    with pytest.raises(ProtocolError, match="authentication failed: bad tag on message seq 1"):
        bob.recv(Ping)
    bob.abort("tag mismatch")
    with pytest.raises(BlockAbortedError, match="peer aborted block 0: tag mismatch"):
        alice.recv(Ping)
    _recover(alice, bob, 1)
    assert bob.stats.rejected == 1


def test_duplicate_is_dropped_and_old_replay_is_rejected() -> None:
    """A byte-exact copy of a recent frame (retransmission or replay) is never acted on twice;
    a replay older than the remembered window, or an old seq with other bytes, is refused."""
    frames: list[bytes] = []
    alice, bob = _pair(tap_ab=lambda f: frames.append(f) or [f], timeout=0.5)
    alice.send(_ping(1))
    bob.channel._inbox.put(frames[0])  # Eve replays it at once
    assert bob.recv(Ping).n == 1
    alice.send(_ping(2))
    assert bob.recv(Ping).n == 2  # the copy was dropped, not delivered
    assert bob.stats.duplicates == 1 and bob.stats.rejected == 0
    for i in range(ACCEPTED_KEPT):
        alice.send(_ping(3 + i))
        bob.recv(Ping)
    bob.channel._inbox.put(frames[0])
    with pytest.raises(ProtocolError, match="replayed or reordered message: seq 0"):
        bob.recv(Ping)
    forged = bytearray(frames[-1])
    forged[-1] ^= 1
    bob.channel._inbox.put(bytes(forged))
    with pytest.raises(ProtocolError, match="replayed or reordered message"):
        bob.recv(Ping)


def test_reordered_messages_are_rejected() -> None:
    held: list[bytes] = []

    def swap(frame: bytes) -> list[bytes]:
        if not held and len(swap.seen) == 0:
            swap.seen.append(1)
            held.append(frame)
            return []
        out = [frame, *held]
        held.clear()
        return out

    swap.seen = []
    alice, bob = _pair(tap_ab=swap)
    alice.send(_ping(1))
    alice.send(_ping(2))
    with pytest.raises(ProtocolError, match="message 1 arrived where message 0 was due"):
        bob.recv(Ping)
    bob.abort("out of order")
    with pytest.raises(BlockAbortedError):
        alice.recv(Ping)
    # the late original of message 0 belongs to the aborted block: ignored, not a new abort
    _recover(alice, bob, 1)
    assert bob.stats.ignored_stale >= 1


def test_truncated_message_is_rejected() -> None:
    alice, bob = _pair(tap_ab=_tamper_at(0, lambda f, i: [f[: len(f) // 2]]))
    alice.send(_ping(30))
    with pytest.raises(ProtocolError, match="truncated"):
        bob.recv(Ping)
    bob.abort("truncated")
    with pytest.raises(BlockAbortedError):
        alice.recv(Ping)
    _recover(alice, bob, 1)


def test_dropped_message_is_detected() -> None:
    alice, bob = _pair(tap_ab=_tamper_at(0, lambda f, i: []), timeout=0.2)
    alice.send(_ping(1))
    alice.send(_ping(2))
    with pytest.raises(ProtocolError, match="message 1 arrived where message 0 was due"):
        bob.recv(Ping)
    with pytest.raises(ProtocolError, match=r"no message from the peer within 0\.2 s"):
        bob.recv(Ping)


def test_reflected_message_is_rejected() -> None:
    alice, bob = _pair()
    frames: list[bytes] = []
    alice.channel._tap = lambda f: frames.append(f) or [f]
    alice.send(_ping(1))
    bob.recv(Ping)
    bob.channel._outbox.put(frames[0])  # Eve sends Alice's own frame back to her
    with pytest.raises(ProtocolError, match="reflected or misrouted"):
        alice.recv(Ping)


def test_unexpected_type_and_future_block() -> None:
    alice, bob = _pair()
    alice.send(_ping(1))
    with pytest.raises(ProtocolError, match="expected AuthKeys, got Ping"):
        bob.recv(AuthKeys)
    alice.begin_block(3)
    alice.send(_ping(2))
    with pytest.raises(ProtocolError, match="peer is already in block 3"):
        bob.recv(Ping)
    bob.begin_block(3)
    assert bob.recv(Ping).n == 2


def test_pad_exhaustion_and_replenishment() -> None:
    hk = 2 * 40
    alice, bob = _pair(secret_bytes=hk + 2 * 16 * 8)
    for _ in range(16):
        alice.send(_ping(0))
        bob.recv(Ping)
    with pytest.raises(ProtocolError, match="authentication key exhausted"):
        alice.send(_ping(0))
    key = bytes(range(64))
    alice.replenish(key)
    bob.replenish(key)
    alice.send(_ping(3))
    assert bob.recv(Ping).n == 3
    assert alice.stats.replenished_bits == 512


def test_pad_is_never_reused() -> None:
    keys = AuthKeys.from_secret(bytes(4096))
    stream = keys.pads[0]
    stream.pad(3)
    stream.discard_before(4)
    with pytest.raises(ProtocolError, match="already used"):
        stream.pad(3)


def test_tcp_round_trip_and_truncation() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = AuthKeys.generate_secret(np.random.default_rng(2), 4096)
    result: dict = {}

    def server() -> None:
        raw = ch.listen("127.0.0.1", port, timeout=10)
        bob = AuthenticatedChannel(raw, "bob", AuthKeys.from_secret(secret), timeout=10)
        result["first"] = bob.recv(Ping).n
        bob.send(_ping(5))
        try:
            bob.recv(Ping)
        except ProtocolError as exc:
            result["error"] = str(exc)
        raw.close()

    th = threading.Thread(target=server)
    th.start()
    raw = ch.connect("127.0.0.1", port, timeout=10)
    alice = AuthenticatedChannel(raw, "alice", AuthKeys.from_secret(secret), timeout=10)
    alice.send(_ping(4))
    assert alice.recv(Ping).n == 5
    # then hang up mid-frame
    raw._sock.sendall(ch.FRAME_MARKER + (1000).to_bytes(4, "little") + b"partial")
    raw.close()
    th.join(10)
    assert result["first"] == 4
    assert "truncated frame" in result["error"]
