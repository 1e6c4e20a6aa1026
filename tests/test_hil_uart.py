"""8N1 UART reference: known waveforms, round trips, framing errors, glitch rejection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.uart import uart_rx_bytes, uart_tx_line


def test_known_waveform():
    # 0x35 = 0b00110101, LSB first: 1 0 1 0 1 1 0 0
    line = uart_tx_line(b"\x35", 2, idle_cycles=1)
    bits = [1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1]  # idle, start, data, stop
    assert line.tolist() == [1] + [b for b in bits[1:] for _ in range(2)]


def test_per_byte_idle_and_length():
    line = uart_tx_line(b"\x00\xff", 3, idle_cycles=[0, 5])
    assert line.size == 2 * 30 + 5
    assert line[0] == 0 and line[27:35].tolist() == [1] * 8 and line[35] == 0
    with pytest.raises(ValueError, match="idle_cycles"):
        uart_tx_line(b"\x00", 3, idle_cycles=-1)
    with pytest.raises(ValueError, match="clks_per_bit"):
        uart_tx_line(b"\x00", 1)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=40),
    c=st.sampled_from([2, 3, 4, 7, 8, 16]),
    idle=st.lists(st.integers(0, 20), min_size=40, max_size=40),
)
def test_round_trip(data, c, idle):
    line = uart_tx_line(data, c, idle_cycles=idle[: len(data)])
    assert uart_rx_bytes(line, c) == (data, 0)


def test_incomplete_frame_not_reported():
    line = uart_tx_line(b"\x41\x42", 4)
    # the second stop bit is sampled at cycle 40 + 4 // 2 + 9 * 4 = 78
    assert uart_rx_bytes(line[:79], 4) == (b"\x41\x42", 0)
    assert uart_rx_bytes(line[:78], 4) == (b"\x41", 0)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=20),
    c=st.sampled_from([3, 4, 7, 8]),
    bad=st.sets(st.integers(0, 19)),
)
def test_low_stop_bit_is_a_framing_error(data, c, bad):
    bad = {k for k in bad if k < len(data)}
    line = uart_tx_line(data, c, idle_cycles=c)  # one bit of idle: the next start is an edge
    for k in bad:
        end = (k + 1) * 11 * c
        line[end - c : end] = 0
    want = bytes(b for k, b in enumerate(data) if k not in bad)
    assert uart_rx_bytes(line, c) == (want, len(bad))


def test_break_without_idle_hides_next_start():
    # stop bit low and the next start bit right behind it: no falling edge, so the second byte's
    # start is not seen; the receiver resyncs on the first 1->0 edge inside its data bits
    c = 4
    line = uart_tx_line(b"\x00\xf0\x55", c, idle_cycles=[0, 0, 8])
    line[9 * c : 10 * c] = 0
    got, errors = uart_rx_bytes(line, c)
    assert errors >= 1 and got[-1:] == b"\x55"


@settings(max_examples=60, deadline=None)
@given(
    c=st.sampled_from([2, 3, 4, 7, 8, 16]),
    data=st.binary(min_size=1, max_size=10),
    frac=st.floats(0, 1),
)
def test_short_glitch_rejected_long_one_is_a_start(c, data, frac):
    width = 1 + int(frac * (c // 2 - 1))  # 1 .. c//2 cycles low
    gap = 12 * c
    line = uart_tx_line(data, c, idle_cycles=gap)
    starts = np.arange(len(data)) * (gap + 10 * c)
    for s in starts:
        line[s + 2 : s + 2 + width] = 0  # inside each idle gap
    assert uart_rx_bytes(line, c) == (data, 0)
    # one cycle longer than c//2 is sampled low: a start bit, then all-ones data and a good stop
    line = np.ones(30 * c, dtype=np.uint8)
    line[3 : 3 + c // 2 + 1] = 0
    assert uart_rx_bytes(line, c) == (b"\xff", 0)


def test_sample_point_is_mid_bit():
    # a data bit 0 that is low only in cycle C//2 of its slot is read as 0; one cycle off, as 1
    c = 7
    for offset, want in ((c // 2, 0xFE), (c // 2 - 1, 0xFF), (c // 2 + 1, 0xFF)):
        line = uart_tx_line(b"\xff", c, idle_cycles=2)
        line[2 + c + offset] = 0
        assert uart_rx_bytes(line, c) == (bytes([want]), 0)
