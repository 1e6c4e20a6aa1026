"""Bench of hdl/rtl/uart.v against hil.uart.uart_tx_line and hil.uart.uart_rx_bytes.

TX: random bytes (with 0x00 and 0xFF) go in with random tvalid gaps, some longer than a frame so
the line goes idle; the txd waveform must equal uart_tx_line cycle for cycle, with the idle
cycles before each byte taken from the handshake cycles (so the DUT's tready timing is what
sets them; that it wastes no cycle is checked by the gap-free phase, exactly 10*CLKS_PER_BIT
cycles per byte). RX: rxd is driven per cycle from uart_tx_line of other random bytes with random
idle, some stop bits forced low (framing errors, sometimes with the next start right behind, so
no falling edge), short low glitches (<= CLKS_PER_BIT // 2 cycles, rejected) and a few longer
ones (received as start bits) in idle gaps; under random tready back-pressure the bytes and the
framing-error count must equal uart_rx_bytes. Both directions run at once. A last phase loops
txd back to rxd without gaps or back-pressure and measures cycles per byte end to end.
"""

from __future__ import annotations

import itertools
import random

import cocotb
import numpy as np
import pytest

from tb.axis_bench import (
    AxisSink,
    AxisSource,
    assert_equal,
    bench_params,
    bench_vectors,
    have_iverilog,
    reset,
    run_bench,
    start_clock,
    uint,
    write_metrics,
)

pytestmark = [
    pytest.mark.hdl,
    pytest.mark.skipif(not have_iverilog(), reason="Icarus Verilog not installed"),
]

DIVISORS = [4, 7]


def rx_line(n_bytes: int, c: int, seed: int, reference=None) -> dict:
    """A received line with framing errors and glitches, and the reference's verdict on it."""
    from hil.uart import uart_rx_bytes, uart_tx_line

    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, n_bytes, dtype=np.uint8)
    data[:4] = [0x00, 0xFF, 0x55, 0xAA]
    idle = np.where(rng.random(n_bytes) < 0.4, 0, rng.integers(1, 4 * c, n_bytes))
    line = uart_tx_line(data.tobytes(), c, idle_cycles=idle)
    ends = np.cumsum(idle + 10 * c)  # one past each stop bit
    for k in np.flatnonzero(rng.random(n_bytes) < 0.05):
        line[ends[k] - c : ends[k]] = 0
    n_glitch = 0
    for k in np.flatnonzero(idle > c + 1):
        start = ends[k - 1] if k else 0
        if rng.random() < 0.3:
            long = rng.random() < 0.1
            width = int(rng.integers(c // 2 + 1, c + 1) if long else rng.integers(1, c // 2 + 1))
            pos = start + int(rng.integers(0, idle[k] - width))
            line[pos : pos + width] = 0
            n_glitch += 1
    got, errors = (reference or uart_rx_bytes)(line, c)
    return {
        "rx_line": line,
        "rx_bytes": np.frombuffer(got, dtype=np.uint8),
        "rx_errors": np.array([errors]),
        "rx_glitches": np.array([n_glitch]),
        "rx_sent": np.array([n_bytes]),
    }


def vectors(n_bytes: int, c: int, seed: int, reference=None) -> dict:
    rng = np.random.default_rng(seed + 1)
    tx = rng.integers(0, 256, n_bytes, dtype=np.uint8)
    tx[:3] = [0x00, 0xFF, 0x01]
    loop = rng.integers(0, 256, 200, dtype=np.uint8)
    return {**rx_line(n_bytes, c, seed, reference), "tx_data": tx, "loop_data": loop}


# --------------------------------------------------------------------------- cocotb


class Wire:
    """Per cycle: drives rxd (from a line, or looped back from txd) and records txd and the
    framing-error pulses."""

    def __init__(self, dut) -> None:
        self.dut = dut
        self.txd: list[int] = []
        self.tready: list[int] = []
        self.err_pulses = 0
        self.overruns = 0
        self.loopback = False
        dut.rxd.value = 1

    async def run(self, line: list[int] | None = None) -> None:
        from cocotb.triggers import RisingEdge

        dut = self.dut
        edge = RisingEdge(dut.clk)
        it = iter(line or [])
        while True:
            await edge
            t = uint(dut.txd)
            self.txd.append(t)
            self.tready.append(uint(dut.s_axis_tready))
            self.err_pulses += uint(dut.rx_frame_err)
            self.overruns += uint(dut.rx_overrun)
            if self.loopback:
                dut.rxd.value = t
            else:
                dut.rxd.value = next(it, 1)


def check_txd(
    trace: list[int], tready: list[int], data: list[int], handshakes: list[int], c: int
) -> None:
    """txd equals uart_tx_line with the idle cycles the handshakes imply, and the DUT was ready
    in every idle cycle (so it never held a byte back while the line was idle)."""
    from hil.uart import uart_tx_line

    gaps = [0] + [b - a - 10 * c for a, b in itertools.pairwise(handshakes)]
    assert min(gaps) >= 0, f"handshakes closer than a frame: {min(gaps)}"
    want = uart_tx_line(bytes(data), c, idle_cycles=gaps).tolist()
    first = trace.index(0)
    assert set(trace[:first]) == {1}
    got = trace[first : first + len(want)]
    assert_equal("txd waveform", got, want)
    assert set(trace[first + len(want) :]) <= {1}
    idle = np.concatenate([np.r_[np.ones(g, bool), np.zeros(10 * c, bool)] for g in gaps])
    not_ready = [i for i in np.flatnonzero(idle) if not tready[first + i]]
    assert not not_ready, f"s_axis_tready low in {len(not_ready)} idle cycles"


@cocotb.test()
async def bench_uart(dut):
    p = bench_params()
    v = bench_vectors()
    c = p["CLKS_PER_BIT"]
    rng = random.Random(p["seed"])
    start_clock(dut)
    src = AxisSource(dut, "s_axis", rng=rng, p_gap=0.3, max_gap=15 * c)
    snk = AxisSink(dut, "m_axis", rng=rng, p_stall=0.3)
    wire = Wire(dut)
    await reset(dut)
    snk.start()
    line = v["rx_line"].tolist()
    wire_task = cocotb.start_soon(wire.run(line))
    tx_data = v["tx_data"].tolist()
    await src.send({"tdata": tx_data})
    # until the whole line was driven and its last byte could have come out; then compare (a
    # receiver that drops or invents bytes shows up as a count mismatch, not as a timeout)
    for _ in range(max(0, len(line) - len(wire.txd)) + 12 * c):
        await snk.clk_edge()
    check_txd(wire.txd, wire.tready, tx_data, src.cycles, c)
    assert_equal("rx bytes", snk.column("tdata"), v["rx_bytes"].tolist())
    errors = int(v["rx_errors"][0])
    assert_equal("framing errors", [uint(dut.rx_frame_errors), wire.err_pulses], [errors] * 2)
    assert wire.overruns == 0

    # gap-free loopback: txd -> rxd
    snk.stop()
    snk.beats.clear()
    snk.cycles.clear()
    snk.p_stall = 0.0
    snk.start()
    src.p_gap = 0.0
    src.cycles.clear()
    wire.txd.clear()
    wire.loopback = True
    loop = v["loop_data"].tolist()
    await src.send({"tdata": loop})
    await snk.wait_for(len(loop), timeout_cycles=12 * c * len(loop))
    wire_task.cancel()
    assert_equal("loopback bytes", snk.column("tdata"), loop)
    spacing = (src.cycles[-1] - src.cycles[0]) / (len(loop) - 1)
    assert spacing == 10 * c, f"back-to-back bytes {spacing} cycles apart, not {10 * c}"
    write_metrics(
        {
            "cycles_per_byte": (snk.cycles[-1] - src.cycles[0] + 1) / len(loop),
            "tx_cycles_per_byte": spacing,
            "tx_bytes": len(tx_data),
            "rx_line_bytes": int(v["rx_sent"][0]),
            "rx_bytes": len(v["rx_bytes"]),
            "rx_framing_errors": errors,
            "rx_glitches": int(v["rx_glitches"][0]),
            "loop_bytes": len(loop),
        }
    )


# --------------------------------------------------------------------------- pytest


def run_uart_bench(build, c, n_bytes=2500, *, sources=None, seed=11, reference=None):
    return run_bench(
        "uart",
        "tb.test_uart",
        build,
        parameters={"CLKS_PER_BIT": c},
        settings={"seed": seed},
        vectors=vectors(n_bytes, c, seed + c, reference),
        sources=sources,
    )


@pytest.mark.parametrize("c", DIVISORS)
def test_uart(c):
    m = run_uart_bench(f"uart_c{c}", c)
    assert m["tx_bytes"] + m["rx_line_bytes"] + m["loop_bytes"] >= 5000
    assert m["rx_framing_errors"] > 0 and m["rx_glitches"] > 0
    assert m["tx_cycles_per_byte"] == 10 * c
