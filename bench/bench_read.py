"""Decode throughput of qkdpp's PTU reader against ptufile on the same file, and peak memory.

A synthetic HydraHarp V2 T2 PTU file (4 channels, ~1 overflow record per 8 photons) is written
to /tmp. Throughput: a full streaming pass of ``open_timetag(...).chunks()`` against
``ptufile.PtuFile(...).decode_records()`` (both read the file from the page cache), best of
``--repeat``. Memory: peak traced heap (tracemalloc: numpy buffers included) of a full pass on
the throughput file and on a large file (>= 2 GB; ``--quick`` uses 256 MB and says so): flat
means independent of the file size.
"""

from __future__ import annotations

import argparse
import os
import struct
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

DESCRIPTION = "PTU decode throughput vs ptufile, and peak memory on a large file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=None,
                        help="records of the throughput file (default 64M, quick 8M)")
    parser.add_argument("--big-gb", type=float, default=None,
                        help="size of the memory-test file in GB (default 2.1, quick 0.25)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/tmp", help="where the generated files go")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    # `qkdpp bench read --quick` puts --quick among the bench's own options
    parser.add_argument("--quick", dest="quick_here", action="store_true", help="short run")


def _words(n: int, rng: np.random.Generator) -> np.ndarray:
    """HydraHarp V2 T2 words: ascending photons within a wrap, an overflow every ~8 records."""
    ch = rng.integers(0, 4, n, dtype=np.uint32)
    tt = np.sort(rng.integers(0, 1 << 25, n, dtype=np.uint32))
    words = (ch << 25) | tt
    ofl = rng.random(n) < 0.125
    words[ofl] = np.uint32((1 << 31) | (63 << 25) | 1)
    return words


def write_synthetic_ptu(path: Path, n_records: int, seed: int = 7) -> None:
    """Stream a PTU T2 file of ``n_records`` words (header from qkdpp's writer)."""
    from postproc.events import EventChunk
    from postproc.formats.ptu import read_tags, write_ptu_t2

    write_ptu_t2(path, [EventChunk(np.zeros(0, np.int64), np.zeros(0, np.int16))],
                 comment="qkdpp bench_read synthetic file")
    _, offset = read_tags(path)
    rng = np.random.default_rng(seed)
    with open(path, "r+b") as fh:
        raw = fh.read(offset)
        at = raw.find(b"TTResult_NumberOfRecords") + 40
        fh.seek(at)
        fh.write(struct.pack("<q", n_records))
        fh.seek(offset)
        fh.truncate()
        block = 1 << 22
        base = _words(block, rng)
        for a in range(0, n_records, block):
            m = min(block, n_records - a)
            fh.write(base[:m].tobytes())


def _qkdpp_pass(path: Path) -> tuple[int, int]:
    from postproc.formats import open_timetag

    r = open_timetag(path)
    n = 0
    for c in r.chunks():
        n += len(c)
    return r.records_read, n


def _ptufile_pass(path: Path) -> int:
    import ptufile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ptufile.PtuFile(path) as p:
            return int(p.decode_records().size)


def _best(fn, path: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(path)
        best = min(best, time.perf_counter() - t0)
    return best


def _peak_mb(fn, path: Path) -> float:
    tracemalloc.start()
    fn(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def run(args: argparse.Namespace) -> dict:
    quick = bool(args.quick or getattr(args, "quick_here", False))
    n = args.records or ((8 << 20) if quick else (64 << 20))
    big_gb = args.big_gb or (0.25 if quick else 2.1)
    n_big = int(big_gb * 1e9) // 4
    d = Path(args.dir)
    small = d / f"qkdpp_bench_read_{os.getpid()}_small.ptu"
    big = d / f"qkdpp_bench_read_{os.getpid()}_big.ptu"
    try:
        write_synthetic_ptu(small, n)
        records, events = _qkdpp_pass(small)  # warm-up: numba cache load, page cache
        assert records == n
        assert _ptufile_pass(small) == n
        t_ours = _best(_qkdpp_pass, small, args.repeat)
        t_ref = _best(_ptufile_pass, small, args.repeat)
        mem_small = _peak_mb(_qkdpp_pass, small)
        mem_ref = _peak_mb(_ptufile_pass, small)
        write_synthetic_ptu(big, n_big)
        t0 = time.perf_counter()
        mem_big = _peak_mb(_qkdpp_pass, big)
        t_big = time.perf_counter() - t0
        big_bytes = big.stat().st_size
    finally:
        if not args.keep:
            for p in (small, big):
                p.unlink(missing_ok=True)
    return {
        "quick": quick,
        "records": n,
        "photons": events,
        "qkdpp_records_per_s": n / t_ours,
        "ptufile_records_per_s": n / t_ref,
        "ratio_vs_ptufile": t_ref / t_ours,
        "peak_mb_qkdpp_small": mem_small,
        "peak_mb_ptufile_small": mem_ref,
        "small_file_mb": (n * 4) / 1e6,
        "big_file_gb": big_bytes / 1e9,
        "peak_mb_qkdpp_big": mem_big,
        "big_pass_records_per_s_traced": n_big / t_big,
    }


def format_text(r: dict) -> str:
    lines = [
        f"PTU T2 decode, {r['records']:,} records ({r['small_file_mb']:.0f} MB, "
        f"{r['photons']:,} photons){' [quick]' if r['quick'] else ''}",
        f"  qkdpp    {r['qkdpp_records_per_s'] / 1e6:8.1f} M records/s",
        f"  ptufile  {r['ptufile_records_per_s'] / 1e6:8.1f} M records/s",
        f"  ratio    {r['ratio_vs_ptufile']:8.2f} x ptufile",
        f"peak traced memory: qkdpp {r['peak_mb_qkdpp_small']:.0f} MB, ptufile "
        f"{r['peak_mb_ptufile_small']:.0f} MB on the {r['small_file_mb']:.0f} MB file; "
        f"qkdpp {r['peak_mb_qkdpp_big']:.0f} MB on a {r['big_file_gb']:.2f} GB file"
        + (" (quick: small 'big' file)" if r["quick"] else ""),
    ]
    return "\n".join(lines)
