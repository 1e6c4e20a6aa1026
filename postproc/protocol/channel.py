"""Raw frame channels between Alice and Bob: in-process (threads) and TCP (two processes or hosts).

A channel moves opaque frames (``bytes``) in order; it neither authenticates nor decodes them (see
:mod:`postproc.protocol.auth`). On TCP each frame is sent as a little-endian u32 length followed
by the frame; a peer that closes mid-frame yields a "truncated frame" :class:`ProtocolError`.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import time
from collections.abc import Callable
from typing import Protocol

from postproc.errors import ProtocolError

MAX_FRAME_BYTES = 1 << 30
_LEN = struct.Struct("<I")
_CLOSED = object()


class ChannelClosedError(ProtocolError):
    """The peer closed the link (cleanly or mid-frame): the session cannot continue."""


class ChannelTimeoutError(ProtocolError):
    """Nothing arrived from the peer within the timeout (a lost message or a stalled peer)."""


class Channel(Protocol):
    """Ordered, unauthenticated frame transport."""

    def send(self, frame: bytes) -> None: ...

    def recv(self, timeout: float | None = None) -> bytes: ...

    def close(self) -> None: ...


# A tap sits on one direction of an in-process link (tests: a man in the middle). It receives
# each frame sent and returns the frames to deliver instead (none = drop, two = duplicate, ...).
Tap = Callable[[bytes], list[bytes]]


class InProcessChannel:
    """One end of an in-process link; make both ends with :meth:`pair`."""

    def __init__(self, inbox: queue.Queue, outbox: queue.Queue, tap: Tap | None, name: str) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self._tap = tap
        self.name = name
        self.bytes_sent = 0

    @classmethod
    def pair(
        cls, tap_ab: Tap | None = None, tap_ba: Tap | None = None
    ) -> tuple[InProcessChannel, InProcessChannel]:
        """(alice_end, bob_end); ``tap_ab`` sees Alice->Bob frames, ``tap_ba`` Bob->Alice."""
        ab: queue.Queue = queue.Queue()
        ba: queue.Queue = queue.Queue()
        return cls(ba, ab, tap_ab, "alice"), cls(ab, ba, tap_ba, "bob")

    def send(self, frame: bytes) -> None:
        self.bytes_sent += len(frame)
        frames = self._tap(bytes(frame)) if self._tap else [bytes(frame)]
        for f in frames:
            self._outbox.put(f)

    def recv(self, timeout: float | None = None) -> bytes:
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise ChannelTimeoutError(
                f"{self.name}: no message from the peer within {timeout:g} s (dropped or stalled)"
            ) from None
        if item is _CLOSED:
            self._inbox.put(_CLOSED)  # stay closed for later readers
            raise ChannelClosedError(f"{self.name}: channel closed by the peer")
        return item

    def close(self) -> None:
        self._outbox.put(_CLOSED)


class TcpChannel:
    """Length-prefixed frames over one TCP connection."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self._sock = sock
        self.peer = peer
        self.bytes_sent = 0
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, frame: bytes) -> None:
        if len(frame) > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
        try:
            self._sock.sendall(_LEN.pack(len(frame)) + frame)
        except OSError as exc:
            raise ChannelClosedError(f"sending to {self.peer} failed: {exc}") from None
        self.bytes_sent += len(frame) + _LEN.size

    def _read_exact(self, n: int, what: str, started: bool) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self._sock.recv(min(n - len(buf), 1 << 20))
            except TimeoutError:
                raise ChannelTimeoutError(
                    f"no data from {self.peer} within the timeout while reading {what}"
                ) from None
            except OSError as exc:
                raise ChannelClosedError(f"reading {what} from {self.peer} failed: {exc}") from None
            if not chunk:
                if not buf and not started:
                    raise ChannelClosedError(f"connection closed by {self.peer}")
                raise ChannelClosedError(
                    f"truncated frame from {self.peer}: {what} ended after {len(buf)} of {n} bytes"
                )
            buf += chunk
        return bytes(buf)

    def recv(self, timeout: float | None = None) -> bytes:
        self._sock.settimeout(timeout)
        (n,) = _LEN.unpack(self._read_exact(_LEN.size, "frame length", started=False))
        if n > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame length {n} from {self.peer} exceeds {MAX_FRAME_BYTES}")
        return self._read_exact(n, "frame body", started=True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def listen(host: str, port: int, timeout: float | None = 60.0) -> TcpChannel:
    """Wait for one peer to connect on ``host:port``."""
    with socket.create_server((host, port), reuse_port=False) as server:
        server.settimeout(timeout)
        try:
            sock, addr = server.accept()
        except TimeoutError:
            raise ProtocolError(f"no peer connected to {host}:{port} within {timeout} s") from None
    return TcpChannel(sock, f"{addr[0]}:{addr[1]}")


def connect(host: str, port: int, timeout: float = 60.0) -> TcpChannel:
    """Connect to a listening peer, retrying until ``timeout`` (the peer may start later)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=10.0)
            return TcpChannel(sock, f"{host}:{port}")
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise ProtocolError(f"cannot connect to {host}:{port}: {exc}") from None
            time.sleep(0.1)
