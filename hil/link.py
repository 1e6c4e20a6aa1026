"""Framed serial link to the acquisition controller: commands out, event chunks in.

Any pyserial device works: ``/dev/ttyUSB0``, ``/dev/ttyACM0`` (USB-CDC), the virtual time
tagger's pty, or URLs such as ``socket://host:port`` and ``loop://``. When the device disappears
(unplugged, read error) the link closes the port, reopens it with back-off until
``reconnect_timeout`` runs out, and resynchronises on the next frame delimiter; frames lost
meanwhile show up as missing frames and lost events in :attr:`SerialLink.stats`.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from hil.codec import encode_frame
from hil.decoder import LinkStats, StreamDecoder
from hil.protocol import (
    ACK_OK,
    FRAME_TYPE_NAMES,
    T_ACK,
    T_PING,
    T_PONG,
    T_QUERY_STATUS,
    T_SET_CHANNEL_MAP,
    T_SET_GATE,
    T_START,
    T_STATUS,
    T_STOP,
    Frame,
    Status,
    pack_channel_map,
    pack_gate,
    unpack_ack,
    unpack_status,
)
from postproc.errors import ProtocolError, QkdppError
from postproc.events import EventChunk


class LinkError(QkdppError):
    """The device could not be opened, vanished for good, or stopped answering."""


class Port(Protocol):
    """The part of a pyserial port the link uses."""

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def close(self) -> None: ...
    @property
    def in_waiting(self) -> int: ...


def serial_opener(device: str, baudrate: int = 921_600, timeout: float = 0.02
                  ) -> Callable[[], Port]:
    """Return a function that opens ``device`` (a path or a pyserial URL) in raw 8N1 mode."""
    import serial

    def open_port() -> Port:
        try:
            return serial.serial_for_url(device, baudrate=baudrate, timeout=timeout,
                                         write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"{device}: cannot open: {exc}") from exc

    return open_port


class SerialLink:
    """Commands and event chunks over one framed byte link."""

    def __init__(self, opener: Callable[[], Port], *, name: str = "link",
                 reconnect_timeout: float = 10.0, read_bytes: int = 1 << 18,
                 command_timeout: float = 1.0, command_retries: int = 3) -> None:
        self.name = name
        self._opener = opener
        self.reconnect_timeout = reconnect_timeout
        self.read_bytes = read_bytes
        self.command_timeout = command_timeout
        self.command_retries = command_retries
        self.decoder = StreamDecoder(synced=False)
        self.decoder.feed(b"")  # load the compiled codec now, not while the first reply waits
        self._seq = 0
        self._chunks: deque[EventChunk] = deque()
        self._control: deque[Frame] = deque()
        self._port: Port | None = opener()

    @property
    def stats(self) -> LinkStats:
        return self.decoder.stats

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- byte level -------------------------------------------------------------------------
    def _reconnect(self, why: Exception) -> None:
        if self._port is not None:
            with contextlib.suppress(Exception):  # the port is already broken
                self._port.close()
            self._port = None
        self.decoder.link_reset()
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.02
        while True:
            try:
                self._port = self._opener()
                return
            except LinkError as exc:
                if time.monotonic() + delay > deadline:
                    raise LinkError(f"{self.name}: lost ({why}); reconnect failed for "
                                    f"{self.reconnect_timeout:g} s: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _read_some(self, budget_s: float, eager: bool = False
                   ) -> tuple[bytes, Exception | None]:
        """Read what arrives within ``budget_s`` (up to read_bytes); stop at an I/O error.

        ``eager`` returns as soon as anything arrived (command replies); otherwise reads ask for
        at least 4 KiB, which the port returns earlier only at its own time-out.
        """
        import serial

        parts: list[bytes] = []
        got = 0
        end = time.monotonic() + budget_s
        error: Exception | None = None
        while got < self.read_bytes:
            try:
                if self._port is None:
                    raise serial.SerialException("port closed")
                floor = 1 if eager else 4096
                want = min(max(self._port.in_waiting, floor), self.read_bytes - got)
                data = self._port.read(want)
            except (serial.SerialException, OSError) as exc:
                error = exc
                break
            if data:
                parts.append(data)
                got += len(data)
                if eager:
                    break
            if time.monotonic() >= end:
                break
        return b"".join(parts), error

    def _write(self, data: bytes) -> None:
        import serial

        for _ in range(2):
            try:
                if self._port is None:
                    raise serial.SerialException("port closed")
                self._port.write(data)
                return
            except (serial.SerialException, OSError) as exc:
                self._reconnect(exc)
        raise LinkError(f"{self.name}: cannot write {len(data)} bytes")

    def poll(self, budget_s: float = 0.05, eager: bool = False) -> None:
        """Read for up to ``budget_s`` and queue decoded chunks and control frames."""
        data, error = self._read_some(budget_s, eager)
        if data:  # bytes read before an error are good: decode them before resynchronising
            res = self.decoder.feed(data)
            if len(res.chunk) or res.chunk.specials.gap_missed.shape[0]:
                self._chunks.append(res.chunk)
            self._control.extend(res.control)
        if error is not None:
            self._reconnect(error)

    # ---- commands ---------------------------------------------------------------------------
    def command(self, ftype: int, payload: bytes = b"") -> Frame:
        """Send a command and return its reply (ACK, STATUS or PONG), retrying on time-outs.

        Every command is idempotent, so a retry after a lost reply is harmless.
        """
        want = {T_QUERY_STATUS: T_STATUS, T_PING: T_PONG}.get(ftype, T_ACK)
        name = FRAME_TYPE_NAMES.get(ftype, hex(ftype))
        for _ in range(self.command_retries):
            seq = self._seq
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            self._control.clear()
            self._write(encode_frame(ftype, seq, payload))
            deadline = time.monotonic() + self.command_timeout
            while time.monotonic() < deadline:
                self.poll(0.01, eager=True)
                while self._control:
                    fr = self._control.popleft()
                    if fr.type != want:
                        continue
                    if want == T_PONG and fr.payload != payload:
                        continue
                    if want == T_ACK:
                        aseq, atype, result = unpack_ack(fr.payload)
                        if aseq != seq:
                            continue
                        if result != ACK_OK:
                            raise ProtocolError(f"{self.name}: {name} refused by the device "
                                                f"(type 0x{atype:02x}, result {result})")
                    return fr
        raise LinkError(f"{self.name}: no reply to {name} after {self.command_retries} tries")

    def start(self) -> None:
        self.command(T_START)

    def stop(self) -> None:
        self.command(T_STOP)

    def finish(self, quiet_s: float = 0.3) -> Iterator[EventChunk]:
        """STOP, yield the chunks still in flight until the link is quiet for ``quiet_s``, then
        ask the device how many events it sent and count any never received as lost."""
        self.stop()
        yield from self.chunks(idle_timeout=quiet_s)
        self.decoder.account_tail(self.status().sent_events)

    def ping(self, data: bytes = b"qkdpp") -> float:
        """Round-trip time in seconds."""
        t0 = time.perf_counter()
        self.command(T_PING, data)
        return time.perf_counter() - t0

    def status(self) -> Status:
        return unpack_status(self.command(T_QUERY_STATUS).payload)

    def set_gate(self, period_ps: int, offset_ps: int, width_ps: int) -> None:
        self.command(T_SET_GATE, pack_gate(period_ps, offset_ps, width_ps))

    def set_channel_map(self, mapping: dict[int, int | None]) -> None:
        self.command(T_SET_CHANNEL_MAP, pack_channel_map(mapping))

    # ---- events -----------------------------------------------------------------------------
    def chunks(self, *, seconds: float | None = None, n_events: int | None = None,
               idle_timeout: float | None = None) -> Iterator[EventChunk]:
        """Yield event chunks until ``seconds`` pass, ``n_events`` are accounted for (delivered
        or counted lost) or nothing arrives for ``idle_timeout`` seconds."""
        t0 = time.monotonic()
        last = t0
        accounted = 0
        while True:
            while self._chunks:
                c = self._chunks.popleft()
                accounted += len(c) + int(c.specials.gap_missed.sum())
                last = time.monotonic()
                yield c
            now = time.monotonic()
            if seconds is not None and now - t0 >= seconds:
                return
            if n_events is not None and accounted >= n_events:
                return
            if idle_timeout is not None and now - last >= idle_timeout:
                return
            self.poll(0.05)


def concat_chunks(chunks: list[EventChunk]) -> tuple[np.ndarray, np.ndarray]:
    """All events of ``chunks`` as two arrays (t, ch)."""
    if not chunks:
        return np.empty(0, np.int64), np.empty(0, np.int16)
    return np.concatenate([c.t for c in chunks]), np.concatenate([c.ch for c in chunks])
