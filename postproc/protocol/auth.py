"""The authenticated classical channel: Wegman-Carter tags on every frame, per direction.

Each direction (Alice->Bob, Bob->Alice) has its own secret hash key (an :class:`AuthHasher`, kept
for the session) and its own one-time-pad stream. Message number ``seq`` of a direction is tagged
``AuthHasher(frame bytes) XOR pad[seq]`` where ``pad[seq]`` is bytes ``seq*P .. (seq+1)*P`` of
that direction's pad stream (P = tag bytes). A pad is therefore tied to one sequence number and the
sender's sequence numbers only grow: no pad ever tags two messages. The pad streams start from the
pre-shared initial secret and are replenished, identically on both sides, from key set aside from
each block (:meth:`AuthenticatedChannel.replenish`). Consumption (pads used, including those of
sequence numbers skipped by a lost message) is counted in :class:`AuthStats`.

Frame layout (little-endian)::

    0  magic b"QKPA" | 4 version u8 | 5 direction u8 (0 = A->B, 1 = B->A) | 6 reserved u16
    8  seq u64 | 16 ack i64 (last seq accepted from the peer, -1 = none) | 24 block u64
    32 index u32 (message number within the block)
    36 codec frame (see :mod:`postproc.protocol.codec`) | tag (tag_bits / 8 bytes)

The receiver accepts a frame only if it parses, comes from the other direction, has
``seq > last accepted seq`` (so a replayed or reordered older frame is refused without touching
its pad), ``seq`` within a window of the last one, and a valid tag. Within a block it then requires
the message indices 0, 1, 2, ... in order, so a dropped or reordered message is detected even
though sequence numbers may legitimately skip (frames of an aborted block). Every refusal raises
:class:`ProtocolError` naming what was wrong; the party aborts the block (sending an
:class:`Abort`), and both sides move on to the next block. Frames that fail authentication but
claim an older block are counted and ignored, so a late replay cannot abort a later block.

Loss and reconnects. A sender keeps the frames the peer has not acknowledged (``ack`` in the
peer's frames); while it waits for the peer it retransmits them, byte for byte, after 1, 2, 4, ...
retransmission intervals of silence, and at once after the raw channel reports a reconnect
(:class:`~postproc.protocol.channel.ChannelResetError`). A retransmission is the same message
under the same tag, so it uses no new pad and reveals nothing new. The receiver drops a frame that
is a byte-exact copy of one of the last 64 it accepted (a retransmission or a
replay: it is never acted on twice; counted in ``AuthStats.duplicates``); any other frame with an
old sequence number is refused as replayed or reordered. A lost message is thus recovered without
aborting the block, as long as the sender goes on to wait for the peer; a lost message followed by
another from the same sender shows up as a gap in the message indices and aborts the block.

Security per forgery attempt: ``AuthHasher.forgery_bound(len(frame))`` (about 2^-64 with the
default 64-bit tags); attempts add up (union bound).

Two generals: a block's last message can be lost or refused after one side has its key. The
pipeline therefore never stores a key, nor refills the pads from it, until a key-sync exchange
has established that both sides hold it (:mod:`postproc.pipeline.parties`); pads are appended in
block order on both sides, so the pad streams stay identical whichever side commits first.
"""

from __future__ import annotations

import contextlib
import hmac
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from postproc.errors import BlockAbortedError, ProtocolError
from postproc.protocol import codec
from postproc.protocol.channel import Channel, ChannelResetError, ChannelTimeoutError
from postproc.protocol.uhash import AuthHasher

AUTH_MAGIC = b"QKPA"
AUTH_VERSION = 2
AUTH_HEADER = struct.Struct("<4sBBHQqQI")  # 36 bytes
ALICE, BOB = 0, 1
ROLES = {"alice": ALICE, "bob": BOB}
DEFAULT_TAG_BITS = 64
DEFAULT_LANES = 2
ACCEPTED_KEPT = 64  # accepted frames remembered to recognise retransmitted copies


@codec.message(1)
@dataclass(frozen=True)
class Abort:
    """Sent by a party that aborts the current block; the reason never contains key material."""

    block: int
    reason: str


class AuthenticationError(ProtocolError):
    """A frame failed authentication (bad tag, replay, reordering, reflection, malformed)."""


class AuthKeyExhaustedError(ProtocolError):
    """No unused one-time pad left for the next message: the session must stop."""


class PadStream:
    """Append-only one-time-pad stream of one direction; pad ``seq`` is a fixed slice of it."""

    def __init__(self, pad_bytes: int, initial: bytes) -> None:
        self.pad_bytes = pad_bytes
        self._buf = bytearray(initial)
        self._base = 0  # stream offset of _buf[0]; bytes below were used and are wiped
        self.appended_bytes = len(initial)

    def append(self, key: bytes) -> None:
        self._buf += key
        self.appended_bytes += len(key)

    def pad(self, seq: int) -> bytes:
        start = seq * self.pad_bytes
        if start < self._base:
            raise ProtocolError(f"one-time pad of message {seq} was already used (reuse refused)")
        end = start + self.pad_bytes
        if end > self._base + len(self._buf):
            raise AuthKeyExhaustedError(
                f"authentication key exhausted: message {seq} needs pad bytes {start}..{end}, "
                f"the pool holds {self._base + len(self._buf)}"
            )
        return bytes(self._buf[start - self._base : end - self._base])

    def discard_before(self, seq: int) -> None:
        """Forget (zero and drop) the pads of every message number below ``seq``."""
        cut = min(seq * self.pad_bytes - self._base, len(self._buf))
        if cut > 0:
            self._buf[:cut] = bytes(cut)
            del self._buf[:cut]
            self._base += cut

    def available_bits(self, next_seq: int) -> int:
        return 8 * max(0, self._base + len(self._buf) - next_seq * self.pad_bytes)

    @property
    def end(self) -> int:
        """Stream offset one past the last byte appended so far."""
        return self._base + len(self._buf)

    def same_as(self, other: PadStream) -> bool:
        """Both streams hold the same bytes at every offset both still hold (tests)."""
        lo, hi = max(self._base, other._base), min(self.end, other.end)
        a = self._buf[lo - self._base : hi - self._base]
        return hmac.compare_digest(bytes(a), bytes(other._buf[lo - other._base : hi - other._base]))


@dataclass
class AuthKeys:
    """Both directions' authentication keys held by one party (identical on both sides)."""

    hash_keys: tuple[bytes, bytes]  # (A->B, B->A)
    pads: tuple[PadStream, PadStream]
    tag_bits: int = DEFAULT_TAG_BITS
    lanes: int = DEFAULT_LANES

    @classmethod
    def from_secret(
        cls, secret: bytes, *, tag_bits: int = DEFAULT_TAG_BITS, lanes: int = DEFAULT_LANES
    ) -> AuthKeys:
        """Split a pre-shared secret: two hash keys, then half of the rest as pads per direction."""
        hk = AuthHasher.key_bytes(tag_bits, lanes)
        pad_bytes = tag_bits // 8
        rest = len(secret) - 2 * hk
        if rest < 2 * 16 * pad_bytes:
            raise ProtocolError(
                f"initial authentication secret of {len(secret)} bytes is too short: needs "
                f"{2 * hk} for hash keys and at least {2 * 16 * pad_bytes} for pads"
            )
        half = rest // 2
        pads_ab = secret[2 * hk : 2 * hk + half]
        pads_ba = secret[2 * hk + half : 2 * hk + 2 * half]
        return cls(
            (secret[:hk], secret[hk : 2 * hk]),
            (PadStream(pad_bytes, pads_ab), PadStream(pad_bytes, pads_ba)),
            tag_bits,
            lanes,
        )

    @staticmethod
    def generate_secret(rng: np.random.Generator, n_bytes: int = 1 << 16) -> bytes:
        """A fresh initial secret (tests and the demo stand in for out-of-band pre-sharing)."""
        return rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes()


@dataclass
class AuthStats:
    sent: int = 0
    received: int = 0
    rejected: int = 0
    ignored_stale: int = 0
    duplicates: int = 0  # byte-exact copies of accepted frames, dropped
    retransmitted: int = 0  # frames this side sent again (same bytes, same tag, no new pad)
    resets: int = 0  # raw-channel reconnects seen
    bytes_sent: int = 0  # frame bytes handed to the link, retransmissions included
    messaging_s: float = 0.0  # encoding, hashing, tagging, checking, decoding, handing to the link
    wait_s: float = 0.0  # blocked waiting for the peer's next frame
    pad_bits_used: list[int] = field(default_factory=lambda: [0, 0])  # per direction
    hash_key_bits: int = 0
    replenished_bits: int = 0
    rejections: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "received": self.received,
            "rejected": self.rejected,
            "ignored_stale": self.ignored_stale,
            "duplicates": self.duplicates,
            "retransmitted": self.retransmitted,
            "resets": self.resets,
            "bytes_sent": self.bytes_sent,
            "messaging_seconds": self.messaging_s,
            "wait_seconds": self.wait_s,
            "pad_bits_used_ab": self.pad_bits_used[0],
            "pad_bits_used_ba": self.pad_bits_used[1],
            "hash_key_bits": self.hash_key_bits,
            "replenished_bits": self.replenished_bits,
        }


class AuthenticatedChannel:
    """Typed messages over a raw :class:`Channel`, every frame Wegman-Carter authenticated."""

    def __init__(
        self,
        channel: Channel,
        role: str,
        keys: AuthKeys,
        *,
        timeout: float | None = 60.0,
        window: int = 1 << 16,
        retransmit_s: float = 2.0,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be 'alice' or 'bob', got {role!r}")
        self.channel = channel
        self.role = role
        self._out = ROLES[role]
        self._in = 1 - self._out
        self.keys = keys
        self._tag_bytes = keys.tag_bits // 8
        self._hash = [
            AuthHasher(k, tag_bits=keys.tag_bits, lanes=keys.lanes) for k in keys.hash_keys
        ]
        self.timeout = timeout
        self.window = window
        self.retransmit_s = retransmit_s
        self.block = 0
        self._send_seq = 0
        self._send_index = 0
        self._last_seq = -1
        self._recv_index = 0
        self._stash: tuple[int, int, Any] | None = None
        self._unacked: list[tuple[int, bytes]] = []  # (seq, frame) the peer has not acknowledged
        self._accepted: dict[int, bytes] = {}  # seq -> frame, the last ACCEPTED_KEPT accepted
        self.stats = AuthStats(hash_key_bits=8 * sum(len(k) for k in keys.hash_keys))

    # ------------------------------------------------------------------------------ blocks
    def begin_block(self, block: int) -> None:
        self.block = block
        self._send_index = 0
        self._recv_index = 0

    def replenish(self, key: bytes) -> None:
        """Append key set aside from a block: first half to A->B pads, second half to B->A."""
        half = len(key) // 2
        self.keys.pads[ALICE].append(key[:half])
        self.keys.pads[BOB].append(key[half : 2 * half])
        self.stats.replenished_bits += 16 * half

    def available_bits(self) -> tuple[int, int]:
        """Unused pad bits (this side's sending direction, receiving direction)."""
        return (
            self.keys.pads[self._out].available_bits(self._send_seq),
            self.keys.pads[self._in].available_bits(self._last_seq + 1),
        )

    # -------------------------------------------------------------------------------- send
    def send(self, msg: Any) -> None:
        t0 = time.perf_counter()
        try:
            self._send(msg)
        finally:
            self.stats.messaging_s += time.perf_counter() - t0

    def _send(self, msg: Any) -> None:
        seq = self._send_seq
        body = AUTH_HEADER.pack(
            AUTH_MAGIC,
            AUTH_VERSION,
            self._out,
            0,
            seq,
            self._last_seq,
            self.block,
            self._send_index,
        ) + codec.encode(msg)
        pads = self.keys.pads[self._out]
        pad = pads.pad(seq)
        tag = _xor(self._hash[self._out].hash(body), pad)
        self._send_seq += 1
        self._send_index += 1
        pads.discard_before(self._send_seq)
        self.stats.pad_bits_used[self._out] += 8 * len(pad)
        self.stats.sent += 1
        frame = body + tag
        self.stats.bytes_sent += len(frame)
        self._unacked.append((seq, frame))
        try:
            self.channel.send(frame)
        except ChannelResetError:
            self.stats.resets += 1
            self._retransmit()

    def _retransmit(self) -> None:
        """Send every unacknowledged frame again, unchanged (a reset during it: start over)."""
        for _ in range(8):
            try:
                for _seq, frame in self._unacked:
                    self.channel.send(frame)
                    self.stats.retransmitted += 1
                    self.stats.bytes_sent += len(frame)
                return
            except ChannelResetError:
                self.stats.resets += 1
        raise ProtocolError("the connection keeps breaking while retransmitting")

    def _acked(self, ack: int) -> None:
        if self._unacked and self._unacked[0][0] <= ack:
            self._unacked = [(q, f) for q, f in self._unacked if q > ack]

    def abort(self, reason: str) -> None:
        """Tell the peer this side aborts the current block (best effort: the link may be gone)."""
        with contextlib.suppress(ProtocolError):
            self.send(Abort(self.block, reason[:500]))

    # -------------------------------------------------------------------------------- recv
    def _reject(self, why: str) -> AuthenticationError:
        self.stats.rejected += 1
        self.stats.rejections.append(why)
        return AuthenticationError(why)

    def _open(self, frame: bytes) -> tuple[int, int, Any] | None:
        """Authenticate and decode one frame; None for an ignorable stale frame."""
        n_min = AUTH_HEADER.size + codec.HEADER_SIZE + self._tag_bytes
        if len(frame) < n_min:
            raise self._reject(f"truncated frame: {len(frame)} bytes, a frame has at least {n_min}")
        magic, version, direction, reserved, seq, ack, block, index = AUTH_HEADER.unpack_from(frame)
        if magic != AUTH_MAGIC:
            raise self._reject(f"bad frame magic {magic!r} at offset 0")
        if version != AUTH_VERSION:
            raise self._reject(
                f"frame version {version} at offset 4, this side speaks {AUTH_VERSION}"
            )
        if direction != self._in or reserved != 0:
            raise self._reject(
                f"frame direction {direction} at offset 5 is not the peer's ({self._in}): "
                "reflected or misrouted"
            )
        expected_len = (
            AUTH_HEADER.size
            + codec.frame_length(
                memoryview(frame)[AUTH_HEADER.size : AUTH_HEADER.size + codec.HEADER_SIZE]
            )
            + self._tag_bytes
        )
        if len(frame) != expected_len:
            raise self._reject(
                f"truncated or extended frame: {len(frame)} bytes, header announces {expected_len}"
            )
        stale = block < self.block
        if seq <= self._last_seq:
            if stale:
                self.stats.ignored_stale += 1
                return None
            if self._accepted.get(seq) == frame:
                self.stats.duplicates += 1
                return None
            raise self._reject(
                f"replayed or reordered message: seq {seq} <= last accepted seq {self._last_seq}"
            )
        if seq > self._last_seq + self.window:
            raise self._reject(f"seq {seq} is more than {self.window} ahead of {self._last_seq}")
        body = memoryview(frame)[: len(frame) - self._tag_bytes]
        pad = self.keys.pads[self._in].pad(seq)
        expect = _xor(self._hash[self._in].hash(bytes(body)), pad)
        if not _consteq(expect, frame[len(frame) - self._tag_bytes :]):
            if stale:
                self.stats.ignored_stale += 1
                return None
            raise self._reject(f"authentication failed: bad tag on message seq {seq} (tampered)")
        # authentic: the pads of this and every earlier sequence number are spent
        pads = self.keys.pads[self._in]
        self.stats.pad_bits_used[self._in] += 8 * pads.pad_bytes * (seq - self._last_seq)
        self._last_seq = seq
        pads.discard_before(seq + 1)
        self._acked(ack)
        self._accepted[seq] = bytes(frame)
        if len(self._accepted) > ACCEPTED_KEPT:
            del self._accepted[min(self._accepted)]
        try:
            msg = codec.decode(body[AUTH_HEADER.size :])
        except ProtocolError as exc:
            raise self._reject(f"authentic message seq {seq} does not decode: {exc}") from None
        return block, index, msg

    def recv(
        self, expect: type | tuple[type, ...] | None = None, timeout: float | None = None
    ) -> Any:
        """Next message of the current block; raises ProtocolError or BlockAbortedError."""
        while True:
            if self._stash is not None:
                opened = self._stash
                if opened[0] > self.block:
                    raise ProtocolError(
                        f"peer is already in block {opened[0]}; block {self.block} is abandoned"
                    )
                self._stash = None
            else:
                frame = self._next_frame(self.timeout if timeout is None else timeout)
                t0 = time.perf_counter()
                try:
                    opened = self._open(frame)
                finally:
                    self.stats.messaging_s += time.perf_counter() - t0
                if opened is None:
                    continue
            block, index, msg = opened
            if block < self.block:
                self.stats.ignored_stale += 1
                continue
            if block > self.block:
                self._stash = opened
                raise ProtocolError(
                    f"peer is already in block {block}; block {self.block} is abandoned"
                )
            if index != self._recv_index:
                due = self._recv_index
                self._recv_index = index + 1
                raise self._reject(
                    f"block {block}: message {index} arrived where message {due} was due "
                    "(dropped or reordered)"
                )
            self._recv_index += 1
            self.stats.received += 1
            if isinstance(msg, Abort):
                raise BlockAbortedError(f"peer aborted block {block}: {msg.reason}")
            if expect is not None and not isinstance(msg, expect):
                names = (
                    "/".join(t.__qualname__ for t in expect)
                    if isinstance(expect, tuple)
                    else expect.__qualname__
                )
                raise self._reject(
                    f"block {block}: expected {names}, got {type(msg).__qualname__} (out of step)"
                )
            return msg

    def _next_frame(self, timeout: float | None) -> bytes:
        """The next raw frame; while waiting, retransmit unacknowledged frames (backing off)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = self.retransmit_s
        while True:
            wait = interval if deadline is None else min(interval, deadline - time.monotonic())
            t0 = time.perf_counter()
            try:
                frame = self.channel.recv(max(wait, 0.0))
            except ChannelResetError:
                self.stats.wait_s += time.perf_counter() - t0
                self.stats.resets += 1
                self._retransmit()
                continue
            except ChannelTimeoutError:
                self.stats.wait_s += time.perf_counter() - t0
                if deadline is not None and time.monotonic() >= deadline:
                    raise ChannelTimeoutError(
                        f"no message from the peer within {timeout:g} s (block {self.block})"
                    ) from None
            else:
                self.stats.wait_s += time.perf_counter() - t0
                return frame
            if self._unacked:
                self._retransmit()
            interval = min(2 * interval, 60.0)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def _consteq(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
