"""8N1 UART reference, one array element per clock cycle: the spec of ``hdl/rtl/uart.v``.

A frame is ``C = clks_per_bit`` cycles of each of: start bit (0), 8 data bits LSB first, stop
bit (1). The idle line is high (1).

Transmitter (:func:`uart_tx_line`): byte k is preceded by ``idle_cycles[k]`` idle cycles, then
its 10*C frame cycles follow immediately; nothing is appended after the last stop bit.

Receiver (:func:`uart_rx_bytes`), a state machine over the per-cycle line samples (the line
before cycle 0 counts as idle high):

- Idle: a start is a falling edge, ``line[j-1] == 1 and line[j] == 0``. A line that stays low
  (a break) starts nothing until it has been high again.
- Bit k (0 = start, 1..8 = data LSB first, 9 = stop) is sampled once, at cycle
  ``j + C // 2 + k * C``: the middle of the bit (for even C the later of the two middle cycles).
- Glitch rejection: if the start sample is high the start was a glitch; the receiver is idle
  again from the next cycle. So a low pulse of at most ``C // 2`` cycles from an idle line is
  ignored, and one of more cycles is received as a start bit.
- Stop sample low: framing error; the byte is dropped and counted. Either way the receiver is idle
  from the cycle after the stop sample and looks for the next falling edge (after a low stop bit
  the line must go high before a new start is seen).
- A frame whose stop sample lies beyond the end of ``line`` is not reported.

The RTL adds a two-flop synchroniser in front of this machine, which delays everything by two
cycles and changes no byte.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check_divisor(clks_per_bit: int) -> int:
    c = int(clks_per_bit)
    if c < 2:
        raise ValueError(f"clks_per_bit: must be >= 2, got {clks_per_bit}")
    return c


def uart_tx_line(
    data: bytes, clks_per_bit: int, idle_cycles: int | Sequence[int] = 0
) -> np.ndarray:
    """Line level (uint8 0/1) per clock cycle sending ``data`` 8N1.

    ``idle_cycles``: idle-high cycles before each byte, one int for all bytes or one per byte.
    """
    c = _check_divisor(clks_per_bit)
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    n = buf.size
    idle = np.broadcast_to(np.asarray(idle_cycles, dtype=np.int64), (n,))
    if n and idle.min() < 0:
        raise ValueError("idle_cycles: must be >= 0")
    bits = np.ones((n, 10), dtype=np.uint8)
    bits[:, 0] = 0
    bits[:, 1:9] = np.unpackbits(buf[:, None], axis=1, bitorder="little")
    out = np.ones(int(idle.sum()) + n * 10 * c, dtype=np.uint8)
    pos = 0
    for k in range(n):
        pos += int(idle[k])
        out[pos : pos + 10 * c] = np.repeat(bits[k], c)
        pos += 10 * c
    return out


def uart_rx_bytes(line: np.ndarray, clks_per_bit: int) -> tuple[bytes, int]:
    """Bytes received from a per-cycle ``line`` and the number of framing errors (module doc)."""
    c = _check_divisor(clks_per_bit)
    x = np.asarray(line).astype(bool)
    n = x.size
    prev = np.concatenate(([True], x[:-1]))
    falls = np.flatnonzero(prev & ~x)
    weights = 1 << np.arange(8)
    out = bytearray()
    errors = 0
    i = 0  # first cycle at which the receiver is idle
    while True:
        f = int(np.searchsorted(falls, i))
        if f == falls.size:
            break
        j = int(falls[f])
        s0 = j + c // 2
        if s0 >= n:
            break
        if x[s0]:  # glitch
            i = s0 + 1
            continue
        stop = s0 + 9 * c
        if stop >= n:
            break
        if x[stop]:
            out.append(int(x[s0 + c : stop : c] @ weights))
        else:
            errors += 1
        i = stop + 1
    return bytes(out), errors
