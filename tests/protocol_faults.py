"""Fault injection on the raw channel for the protocol tests: taps keyed on the authenticated
header (block, message index), so that a fault hits one message whatever the timing (the first
copy only: retransmissions pass), and a wire log to check that no pad tags two messages."""

from __future__ import annotations

import contextlib
import struct
import threading

from postproc.protocol.auth import AUTH_HEADER
from postproc.protocol.channel import RESET

KINDS = ("drop", "duplicate", "reorder", "corrupt", "truncate", "reset")


def header(frame: bytes) -> tuple[int, int, int, int]:
    """(seq, block, index, message type id) of an authenticated frame."""
    _m, _v, _d, _r, seq, _ack, block, index = AUTH_HEADER.unpack_from(frame)
    (type_id,) = struct.unpack_from("<H", frame, AUTH_HEADER.size + 6)
    return seq, block, index, type_id


class FaultTap:
    """One direction's tap: applies ``kind`` to the first copy of each targeted (block, index)
    (or (block, -type id): the first message of that type in the block).

    Every frame offered is logged (before any fault) in ``wire`` as (seq, frame), so a test can
    check that each sequence number, hence each one-time pad, only ever tagged one message.
    """

    def __init__(self, kind: str, targets: set[tuple[int, int]]) -> None:
        if kind not in KINDS:
            raise ValueError(kind)
        self.kind = kind
        self.targets = set(targets)
        self.hit: list[tuple[int, int]] = []
        self.wire: list[tuple[int, bytes]] = []
        self._held: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, frame: bytes) -> list:
        with self._lock:
            seq, block, index, type_id = header(frame)
            self.wire.append((seq, frame))
            out: list = []
            key = next((k for k in ((block, index), (block, -type_id)) if k in self.targets), None)
            if key is not None:
                self.targets.discard(key)
                self.hit.append(key)
                out = self._fault(frame)
            else:
                out = [frame]
                if self._held:  # a reordered frame goes out after the next one
                    out += self._held
                    self._held.clear()
            return out

    def _fault(self, frame: bytes) -> list:
        k = self.kind
        if k == "drop":
            return []
        if k == "duplicate":
            return [frame, frame]
        if k == "reorder":
            self._held.append(frame)
            return []
        if k == "corrupt":
            f = bytearray(frame)
            f[len(f) // 2] ^= 0x40
            return [bytes(f)]
        if k == "truncate":
            return [frame[: len(frame) // 2]]
        return [RESET]


def single_pad_use(*taps: FaultTap) -> None:
    """Assert that within a direction every sequence number carried one message only."""
    for tap in taps:
        seen: dict[int, bytes] = {}
        for seq, frame in tap.wire:
            assert seen.setdefault(seq, frame) == frame, f"seq {seq} tagged two messages"




class TcpFaultProxy:
    """A man in the middle on TCP: Alice connects here, it connects to Bob and relays frames,
    applying ``kind`` to the first copy of each targeted (block, index) of direction ``ab`` (A->B)
    or ``ba``: ``drop_byte`` / ``corrupt_byte`` (the stream goes out of step or fails
    authentication), ``disconnect`` (the frame is lost and both connections closed) or
    ``truncate`` (half the frame, then both connections closed). After a disconnect it accepts
    Alice's new connection and connects to Bob again.
    """

    def __init__(self, upstream: tuple[str, int], kind: str, targets: dict[str, set]) -> None:
        import socket

        self.upstream = upstream
        self.kind = kind
        self.targets = {d: set(t) for d, t in targets.items()}
        self.hit: list[tuple[str, int, int]] = []
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        self._server.close()

    def _serve(self) -> None:
        import socket

        while not self._stop:
            try:
                a, _ = self._server.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                a.close()
                continue
            self.connections += 1
            pair = (a, b)
            for src, dst, d in ((a, b, "ab"), (b, a, "ba")):
                threading.Thread(target=self._pump, args=(src, dst, d, pair), daemon=True).start()

    @staticmethod
    def _read(sock, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = sock.recv(n - len(buf))
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    @staticmethod
    def _hangup(pair) -> None:
        import socket

        for s in pair:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _pump(self, src, dst, d: str, pair) -> None:
        from postproc.protocol.channel import _HEAD

        while True:
            head = self._read(src, _HEAD.size)
            body = None if head is None else self._read(src, _HEAD.unpack(head)[1])
            if body is None:
                self._hangup(pair)
                return
            _seq, block, index, _t = header(body)
            with self._lock:
                hit = (block, index) in self.targets.get(d, set())
                if hit:
                    self.targets[d].discard((block, index))
                    self.hit.append((d, block, index))
            out = head + body
            if hit:
                if self.kind == "drop_byte":
                    out = head + body[:10] + body[11:]
                elif self.kind == "corrupt_byte":
                    out = head + body[:-3] + bytes([body[-3] ^ 0x01]) + body[-2:]
                elif self.kind == "truncate":
                    with contextlib.suppress(OSError):
                        dst.sendall(head + body[: len(body) // 2])
                    self._hangup(pair)
                    return
                else:  # disconnect
                    self._hangup(pair)
                    return
            try:
                dst.sendall(out)
            except OSError:
                self._hangup(pair)
                return


class RandomFaultTap(FaultTap):
    """Each frame offered (retransmissions included) suffers a random fault with probability
    ``rate``: many faults, several per block, in any combination."""

    def __init__(self, rate: float, seed: int, kinds: tuple[str, ...] = KINDS) -> None:
        import random

        super().__init__("drop", set())
        self.rate = rate
        self.kinds = kinds
        self._rng = random.Random(seed)

    def __call__(self, frame: bytes) -> list:
        with self._lock:
            seq, block, index, _t = header(frame)
            self.wire.append((seq, frame))
            if self._rng.random() < self.rate:
                self.kind = self._rng.choice(self.kinds)
                self.hit.append((block, index))
                return self._fault(frame)
            out = [frame, *self._held]
            self._held.clear()
            return out
