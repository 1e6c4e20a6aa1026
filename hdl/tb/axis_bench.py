"""Shared bench helpers: pytest-side runner and cocotb-side AXI-Stream source, sink and metrics.

Pytest side: ``run_bench`` builds one Icarus simulation per parameter set in
``hdl/build/<build_name>`` and runs the cocotb tests of a bench module in it. Bench settings that
are not HDL parameters travel as JSON in the ``BENCH_PARAMS`` environment variable; the cocotb test
writes its measurements (cycles per item, item counts) to ``metrics.json`` in the build folder.

cocotb side: ``AxisSource`` drives a stream with random ``tvalid`` gaps (and junk payload while
``tvalid`` is low), ``AxisSink`` applies random ``tready`` back-pressure and checks that the DUT
holds ``tvalid`` and its payload until the handshake. Both record the simulation cycle of every
handshake, from which cycles per item are measured.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

HDL_DIR = Path(__file__).resolve().parents[1]
ROOT = HDL_DIR.parent
RTL_DIR = HDL_DIR / "rtl"
BUILD_DIR = HDL_DIR / "build"
CLK_PERIOD_NS = 10


# --------------------------------------------------------------------------- pytest side


def have_iverilog() -> bool:
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def run_bench(
    toplevel: str,
    test_module: str,
    build_name: str,
    *,
    parameters: Mapping[str, int] | None = None,
    settings: Mapping[str, object] | None = None,
    vectors: Mapping[str, np.ndarray] | None = None,
    sources: Sequence[Path] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> dict:
    """Build ``toplevel`` with ``parameters`` in hdl/build/<build_name>, run the cocotb tests of
    ``test_module`` (a ``tb.<name>`` module) and return the metrics the bench wrote.

    ``vectors`` (stimulus and the reference function's expected output, computed here in the
    pytest process so each simulation does not pay for importing and compiling the reference)
    are saved to vectors.npz in the build folder; the cocotb side reads them with
    ``bench_vectors()``.

    Under pytest a failing cocotb test raises ``SystemExit`` (the cocotb runner's behaviour).
    """
    from cocotb_tools.runner import get_runner

    build_dir = BUILD_DIR / build_name
    build_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = build_dir / "metrics.json"
    metrics_path.unlink(missing_ok=True)
    vectors_path = build_dir / "vectors.npz"
    np.savez(vectors_path, **dict(vectors or {}))
    # the simulator's Python inherits sys.path: make `tb.*` and `postproc` importable there
    if str(HDL_DIR) not in sys.path:
        sys.path.insert(0, str(HDL_DIR))
    if importlib.util.find_spec("postproc") is None:
        sys.path.insert(0, str(ROOT))
    srcs = list(sources) if sources is not None else [RTL_DIR / f"{toplevel}.v"]
    runner = get_runner("icarus")
    runner.build(
        sources=srcs,
        hdl_toplevel=toplevel,
        parameters=dict(parameters or {}),
        build_dir=build_dir,
        timescale=("1ns", "1ps"),
        always=True,
    )
    env = {
        "BENCH_PARAMS": json.dumps({**(parameters or {}), **(settings or {})}),
        "BENCH_METRICS": str(metrics_path),
        "BENCH_VECTORS": str(vectors_path),
    }
    env.update(extra_env or {})
    runner.test(
        hdl_toplevel=toplevel,
        test_module=test_module,
        build_dir=build_dir,
        test_dir=build_dir,
        extra_env=env,
        timescale=("1ns", "1ps"),
    )
    return json.loads(metrics_path.read_text()) if metrics_path.exists() else {}


# --------------------------------------------------------------------------- cocotb side


def bench_params() -> dict:
    """The HDL parameters plus bench settings of this run (from ``BENCH_PARAMS``)."""
    return json.loads(os.environ.get("BENCH_PARAMS", "{}"))


def bench_vectors() -> dict[str, np.ndarray]:
    """The stimulus and expected outputs ``run_bench`` saved for this run."""
    with np.load(os.environ["BENCH_VECTORS"]) as z:
        return {k: z[k] for k in z.files}


def write_metrics(metrics: Mapping[str, object]) -> None:
    """Merge ``metrics`` into the run's metrics.json (read back by ``run_bench``)."""
    path = os.environ.get("BENCH_METRICS")
    if not path:
        return
    p = Path(path)
    old = json.loads(p.read_text()) if p.exists() else {}
    old.update(metrics)
    p.write_text(json.dumps(old, indent=1, sort_keys=True))


def uint(handle) -> int:
    """Unsigned integer value of a signal (raises on X/Z, which a bench must never see)."""
    v = handle.value
    to_u = getattr(v, "to_unsigned", None)
    return to_u() if to_u is not None else int(v)


def cycle_now() -> int:
    from cocotb.simtime import get_sim_time

    return int(get_sim_time("ns")) // CLK_PERIOD_NS


def start_clock(dut) -> None:
    """A 10 ns clock on ``dut.clk``."""
    import cocotb
    from cocotb.clock import Clock

    cocotb.start_soon(Clock(dut.clk, CLK_PERIOD_NS, unit="ns").start())


async def reset(dut, cycles: int = 4) -> None:
    """Synchronous active-high ``dut.rst`` for ``cycles``. Create the sources and sinks first, so
    that the DUT's inputs are defined when reset ends."""
    from cocotb.triggers import RisingEdge

    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


class AxisSource:
    """Drives ``<prefix>_tvalid`` and the payload ``fields`` of an AXI-Stream input.

    Before each beat, with probability ``p_gap``, ``tvalid`` stays low for 1..``max_gap`` cycles
    while the payload carries random junk (the DUT must ignore it). Once raised, ``tvalid`` and the
    payload hold until ``tready`` was high at a clock edge.
    """

    def __init__(
        self,
        dut,
        prefix: str,
        fields: Sequence[str] = ("tdata",),
        *,
        rng: random.Random,
        p_gap: float = 0.3,
        max_gap: int = 4,
    ) -> None:
        self.clk = dut.clk
        self.valid = getattr(dut, f"{prefix}_tvalid")
        self.ready = getattr(dut, f"{prefix}_tready")
        self.fields = [(f, getattr(dut, f"{prefix}_{f}")) for f in fields]
        self.widths = [len(h) for _, h in self.fields]
        self.rng = rng
        self.p_gap = p_gap
        self.max_gap = max_gap
        self.cycles: list[int] = []
        self.valid.value = 0

    def idle(self) -> None:
        self.valid.value = 0

    async def send(self, columns: Mapping[str, Sequence[int]]) -> None:
        """Send beats; ``columns`` maps each field name to its per-beat integers."""
        from cocotb.triggers import RisingEdge

        edge = RisingEdge(self.clk)
        cols = [columns[f] for f, _ in self.fields]
        n = len(cols[0])
        rng = self.rng
        for k in range(n):
            if self.p_gap and rng.random() < self.p_gap:
                self.valid.value = 0
                for (_, h), w in zip(self.fields, self.widths, strict=True):
                    h.value = rng.getrandbits(w)
                for _ in range(rng.randint(1, self.max_gap)):
                    await edge
            for (_, h), col in zip(self.fields, cols, strict=True):
                h.value = int(col[k])
            self.valid.value = 1
            while True:
                await edge
                if self.ready.value:
                    break
            self.cycles.append(cycle_now())
        self.valid.value = 0


class AxisSink:
    """Applies random ``tready`` back-pressure to an AXI-Stream output and collects its beats.

    ``tready`` is low with probability ``p_stall`` in each cycle. It also asserts the AXI-Stream
    rule that a source holds ``tvalid`` and its payload until the handshake.
    """

    def __init__(
        self,
        dut,
        prefix: str,
        fields: Sequence[str] = ("tdata",),
        *,
        rng: random.Random,
        p_stall: float = 0.3,
    ) -> None:
        self.clk = dut.clk
        self.valid = getattr(dut, f"{prefix}_tvalid")
        self.ready = getattr(dut, f"{prefix}_tready")
        self.names = list(fields)
        self.handles = [getattr(dut, f"{prefix}_{f}") for f in fields]
        self.rng = rng
        self.p_stall = p_stall
        self.beats: list[tuple[int, ...]] = []
        self.cycles: list[int] = []
        self.ready.value = 0
        self._task = None

    def start(self) -> None:
        import cocotb

        self._task = cocotb.start_soon(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.ready.value = 0

    async def clk_edge(self) -> None:
        from cocotb.triggers import RisingEdge

        await RisingEdge(self.clk)

    def column(self, name: str) -> list[int]:
        i = self.names.index(name)
        return [b[i] for b in self.beats]

    async def _run(self) -> None:
        from cocotb.triggers import RisingEdge

        edge = RisingEdge(self.clk)
        pending: tuple[int, ...] | None = None  # payload offered but not taken at the last edge
        while True:
            r = self.p_stall == 0 or self.rng.random() >= self.p_stall
            self.ready.value = int(r)
            await edge
            if not self.valid.value:
                assert pending is None, "DUT dropped tvalid before the handshake"
                continue
            beat = tuple(uint(h) for h in self.handles)
            if pending is not None:
                assert beat == pending, (
                    f"DUT changed its payload before the handshake: {pending} -> {beat}"
                )
            if r:
                self.beats.append(beat)
                self.cycles.append(cycle_now())
                pending = None
            else:
                pending = beat

    async def wait_for(self, n_beats: int, timeout_cycles: int) -> None:
        """Wait until ``n_beats`` beats were collected; fail after ``timeout_cycles``."""
        from cocotb.triggers import RisingEdge

        edge = RisingEdge(self.clk)
        for _ in range(timeout_cycles):
            if len(self.beats) >= n_beats:
                return
            await edge
        raise AssertionError(
            f"timeout: {len(self.beats)} of {n_beats} output beats after {timeout_cycles} cycles"
        )


def cycles_per_item(source: AxisSource, sink: AxisSink, n_items: int, skip_in: int = 0) -> float:
    """Cycles from the first accepted input beat to the last output beat, per item."""
    first = source.cycles[skip_in]
    return (sink.cycles[-1] - first + 1) / n_items


def words_of(bits: np.ndarray, width: int) -> list[int]:
    """Consecutive ``width``-bit groups of a 0/1 array as integers (bit c of a word = element c of
    its group): the layout of an RTL beat that carries ``width`` bits."""
    b = np.asarray(bits, dtype=np.uint8).reshape(-1, width)
    packed = np.packbits(b, axis=1, bitorder="little")
    return [int.from_bytes(r.tobytes(), "little") for r in packed]


def mismatch_report(name: str, got: Sequence[int], want: Sequence[int], limit: int = 5) -> str:
    bad = [i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w]
    lines = [f"{name}: {len(got)} got vs {len(want)} expected, {len(bad)} mismatches"]
    for i in bad[:limit]:
        lines.append(f"  item {i}: got {got[i]:#x} expected {want[i]:#x}")
    return "\n".join(lines)


def assert_equal(name: str, got: Sequence[int], want: Sequence[int]) -> None:
    """Item-by-item equality with a readable report of the first mismatches."""
    got = [int(x) for x in got]
    want = [int(x) for x in want]
    assert got == want, mismatch_report(name, got, want)
