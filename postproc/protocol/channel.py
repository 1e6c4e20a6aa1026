"""Raw frame channels between Alice and Bob: in-process (threads) and TCP (two processes or hosts).

A channel moves opaque frames (``bytes``) in order; it neither authenticates nor decodes them (see
:mod:`postproc.protocol.auth`). On TCP each frame is sent as the marker ``b"QKPF"``, a
little-endian u32 length and the frame; a peer that closes mid-frame yields a "truncated frame"
:class:`ProtocolError`.

A TCP channel made with ``reconnect=True`` survives a broken connection: on a lost connection,
a bad marker or length (a dropped or corrupted byte puts the stream out of step) it closes the
socket, re-establishes the connection (the listening side accepts again, the connecting side
dials again, both within the timeout) and raises :class:`ChannelResetError`. Frames in flight are
lost; the authenticated layer retransmits what the peer has not acknowledged.
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
FRAME_MARKER = b"QKPF"
_HEAD = struct.Struct("<4sI")
_CLOSED = object()
RESET = object()  # a tap returning [RESET] simulates a dropped connection (tests)


class ChannelClosedError(ProtocolError):
    """The peer closed the link (cleanly or mid-frame): the session cannot continue."""


class ChannelTimeoutError(ProtocolError):
    """Nothing arrived from the peer within the timeout (a lost message or a stalled peer)."""


class ChannelResetError(ProtocolError):
    """The connection broke and was re-established: frames in flight may be lost."""


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
        self.resets = 0

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
            if f is RESET:
                self._reset()
            else:
                self._outbox.put(f)

    def _reset(self) -> None:
        """Simulated connection drop: frames in flight both ways are lost, both ends are told."""
        for q in (self._inbox, self._outbox):
            with q.mutex:
                closed = _CLOSED in q.queue
                q.queue.clear()
                if closed:
                    q.queue.append(_CLOSED)
            q.put(RESET)

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
        if item is RESET:
            self.resets += 1
            raise ChannelResetError(f"{self.name}: connection reset (frames in flight lost)")
        return item

    def close(self) -> None:
        self._outbox.put(_CLOSED)


class TcpChannel:
    """Marker- and length-prefixed frames over TCP; optionally re-established when broken.

    ``redial`` (set by :func:`listen` / :func:`connect` with ``reconnect=True``) returns a new
    connected socket; without it a broken connection is a :class:`ChannelClosedError`.
    """

    def __init__(
        self,
        sock: socket.socket,
        peer: str,
        redial: Callable[[], tuple[socket.socket, str]] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._sock = sock
        self.peer = peer
        self.bytes_sent = 0
        self.resets = 0
        self._redial = redial
        self._on_close = on_close
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _broken(self, why: str) -> ProtocolError:
        """Close the socket; reconnect if allowed. Returns the error for the caller to raise."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._redial is None:
            return ChannelClosedError(why)
        try:
            self._sock, self.peer = self._redial()
        except ProtocolError as exc:
            self._redial = None
            return ChannelClosedError(f"{why}; reconnecting failed: {exc}")
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.resets += 1
        return ChannelResetError(f"{why}; connection re-established with {self.peer}")

    def send(self, frame: bytes) -> None:
        if len(frame) > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
        try:
            self._sock.sendall(_HEAD.pack(FRAME_MARKER, len(frame)) + frame)
        except OSError as exc:
            raise self._broken(f"sending to {self.peer} failed: {exc}") from None
        self.bytes_sent += len(frame) + _HEAD.size

    def _read_exact(self, n: int, what: str, started: bool) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self._sock.recv(min(n - len(buf), 1 << 20))
            except TimeoutError:
                if buf or started:  # part of a frame and then silence: the stream is out of step
                    raise self._broken(
                        f"{what} from {self.peer} stalled after {len(buf)} of {n} bytes"
                    ) from None
                raise ChannelTimeoutError(
                    f"no data from {self.peer} within the timeout while reading {what}"
                ) from None
            except OSError as exc:
                raise self._broken(f"reading {what} from {self.peer} failed: {exc}") from None
            if not chunk:
                if not buf and not started:
                    raise self._broken(f"connection closed by {self.peer}")
                raise self._broken(
                    f"truncated frame from {self.peer}: {what} ended after {len(buf)} of {n} bytes"
                )
            buf += chunk
        return bytes(buf)

    def recv(self, timeout: float | None = None) -> bytes:
        self._sock.settimeout(timeout)
        marker, n = _HEAD.unpack(self._read_exact(_HEAD.size, "frame header", started=False))
        if marker != FRAME_MARKER:
            raise self._broken(f"bad frame marker {marker!r} from {self.peer} (stream out of step)")
        if n > MAX_FRAME_BYTES:
            raise self._broken(f"frame length {n} from {self.peer} exceeds {MAX_FRAME_BYTES}")
        # a frame has started: its body must follow promptly, whatever the caller's timeout
        self._sock.settimeout(max(timeout or 0.0, 30.0))
        return self._read_exact(n, "frame body", started=True)

    def close(self) -> None:
        self._redial = None
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._on_close is not None:
            self._on_close()


def listen(
    host: str, port: int, timeout: float | None = 60.0, *, reconnect: bool = False
) -> TcpChannel:
    """Wait for one peer to connect on ``host:port`` (with ``reconnect``: again after a break)."""
    server = socket.create_server((host, port), reuse_port=False)
    server.settimeout(timeout)

    def accept() -> tuple[socket.socket, str]:
        try:
            sock, addr = server.accept()
        except TimeoutError:
            raise ProtocolError(f"no peer connected to {host}:{port} within {timeout} s") from None
        except OSError as exc:
            raise ProtocolError(f"accepting on {host}:{port} failed: {exc}") from None
        return sock, f"{addr[0]}:{addr[1]}"

    try:
        sock, peer = accept()
    except BaseException:
        server.close()
        raise
    if not reconnect:
        server.close()
        return TcpChannel(sock, peer)
    return TcpChannel(sock, peer, redial=accept, on_close=server.close)


def connect(host: str, port: int, timeout: float = 60.0, *, reconnect: bool = False) -> TcpChannel:
    """Connect to a listening peer, retrying until ``timeout`` (the peer may start later)."""

    def dial() -> tuple[socket.socket, str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return socket.create_connection((host, port), timeout=10.0), f"{host}:{port}"
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise ProtocolError(f"cannot connect to {host}:{port}: {exc}") from None
                time.sleep(0.1)

    sock, peer = dial()
    return TcpChannel(sock, peer, redial=dial if reconnect else None)
