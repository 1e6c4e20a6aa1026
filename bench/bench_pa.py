"""``qkdpp bench pa``: Toeplitz privacy amplification, exact additive-FFT path vs a numpy rfft.

The baseline is the plain float FFT convolution a first implementation would write: rfft of the
key and the reversed seed padded to the next power of two >= the full product length, multiply,
irfft, round, take the middle l bits mod 2. Both run on the same random block in the same process;
their outputs are compared. The fast path runs ``--repeat`` times (the machine is shared, so
figures are noisy): the table shows the best wall time and the range; "per core" is n divided by
the CPU seconds of the process (all threads), the throughput one core of work gives. The speedup
divides the baseline's time by the median fast run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from postproc.amplify import toeplitz_hash, toeplitz_seed
from postproc.amplify.toeplitz import reverse_bits
from postproc.bits import pack_bits, unpack_bits

DESCRIPTION = "Toeplitz PA throughput: exact additive FFT over GF(2^64) vs numpy rfft baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=float, nargs="+", help="input block sizes in bits")
    parser.add_argument("--ratio", type=float, default=0.5, help="output/input length (l / n)")
    parser.add_argument("--seed", type=int, default=1, help="random generator seed")
    parser.add_argument("--no-baseline", action="store_true", help="skip the rfft baseline")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the fast path per size")
    parser.add_argument("--threads", type=int, default=2, help="threads of the fast path")


def rfft_baseline(key: np.ndarray, n: int, seed: np.ndarray, l: int) -> np.ndarray:
    n_seed = n + l - 1
    size = 1 << (n + n_seed - 2).bit_length()
    x = unpack_bits(key, n).astype(np.float64)
    fx = np.fft.rfft(x, size)
    del x
    r = unpack_bits(reverse_bits(seed, n_seed), n_seed).astype(np.float64)
    fr = np.fft.rfft(r, size)
    del r
    fx *= fr
    del fr
    conv = np.fft.irfft(fx, size)
    del fx
    bits = np.rint(conv[n - 1 : n - 1 + l]).astype(np.int64) & 1
    return pack_bits(bits.astype(np.uint8))


def _time(fn, *args) -> tuple[float, float, np.ndarray]:
    """(wall seconds, CPU seconds of this process, result): the CPU time shows the work done
    when the shared machine is busy."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, out


def run(args: argparse.Namespace) -> dict:
    sizes = [int(s) for s in (args.sizes or ([1e6, 1e7] if args.quick else [1e6, 1e7, 1e8]))]
    rng = np.random.default_rng(args.seed)
    # warm the numba kernels (compiled or loaded from cache) outside the timings, at a size that
    # takes the radix step (columns and coset rows) as the large blocks do
    warm = 1 << 21
    warm_seed = toeplitz_seed(np.random.default_rng(0), warm, warm // 2)
    toeplitz_hash(np.zeros(warm // 8, np.uint8), warm, warm_seed, warm // 2)
    rows = []
    for n in sizes:
        l = max(1, int(n * args.ratio))
        key = rng.integers(0, 256, (n + 7) // 8, dtype=np.uint8)
        if n % 8:
            key[-1] &= (1 << (n % 8)) - 1
        seed = toeplitz_seed(rng, n, l)
        runs = [
            _time(lambda *a: toeplitz_hash(*a, threads=args.threads), key, n, seed, l)
            for _ in range(max(1, args.repeat))
        ]
        out = runs[0][2]
        if any(not np.array_equal(r[2], out) for r in runs):
            raise AssertionError("toeplitz_hash gave different outputs on the same input")
        walls = [r[0] for r in runs]
        cpus = [r[1] for r in runs]
        t_fast = min(walls)
        c_fast = cpus[walls.index(t_fast)]
        row = {
            "n_bits": n,
            "l_bits": l,
            "threads": args.threads,
            "fast_s": t_fast,
            "fast_cpu_s": c_fast,
            "fast_s_all": walls,
            "fast_cpu_s_all": cpus,
            "fast_mbit_s": n / t_fast / 1e6,
            "fast_mbit_s_range": [n / max(walls) / 1e6, n / min(walls) / 1e6],
            "fast_mbit_s_per_core": n / c_fast / 1e6,
            "fast_mbit_s_per_core_range": [n / max(cpus) / 1e6, n / min(cpus) / 1e6],
        }
        if not args.no_baseline:
            t_base, c_base, base = _time(rfft_baseline, key, n, seed, l)
            row.update(
                baseline_s=t_base,
                baseline_cpu_s=c_base,
                baseline_mbit_s=n / t_base / 1e6,
                # against the median fast run, not the best one
                speedup=t_base / float(np.median(walls)),
                speedup_cpu=c_base / float(np.median(cpus)),
                outputs_equal=bool(np.array_equal(out, base)),
            )
        rows.append(row)
    return {"ratio_l_over_n": args.ratio, "repeat": max(1, args.repeat), "rows": rows}


def format_text(result: dict) -> str:
    lines = [
        f"Toeplitz PA, l = {result['ratio_l_over_n']} n; fast path: best wall of"
        f" {result['repeat']} runs (Mbit/s = n / wall, range over the runs; per core = n / CPU s)",
        f"{'n bits':>11} {'fast s':>7} {'cpu s':>6} {'Mbit/s':>7} {'range':>13} {'per core':>15}"
        f" {'rfft s':>7} {'cpu s':>6} {'Mbit/s':>6} {'speedup':>7} {'cpu':>6} {'equal':>5}",
    ]
    for r in result["rows"]:
        lo, hi = r["fast_mbit_s_range"]
        clo, chi = r["fast_mbit_s_per_core_range"]
        base = (
            f"{r['baseline_s']:7.2f} {r['baseline_cpu_s']:6.2f} {r['baseline_mbit_s']:6.1f}"
            f" {r['speedup']:6.1f}x {r['speedup_cpu']:5.1f}x {r['outputs_equal']!s:>5}"
            if "baseline_s" in r
            else "  (no baseline)"
        )
        lines.append(
            f"{r['n_bits']:11d} {r['fast_s']:7.3f} {r['fast_cpu_s']:6.2f} {r['fast_mbit_s']:7.1f}"
            f" {lo:6.1f}-{hi:<6.1f} {r['fast_mbit_s_per_core']:6.1f} ({clo:.0f}-{chi:.0f})"
            f" {base}"
        )
    return "\n".join(lines)
