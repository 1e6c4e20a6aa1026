"""LDPC code families compared at fixed rate: round-one frame error rate of the float min-sum
decoder (no puncturing, no shortening, no reveals), and the density-evolution threshold.

For each code (rate R) and each efficiency f of a grid, F frames of a BSC(p) with h(p) = (1-R)/f
(the same seeded error patterns for every family at equal n and rate) are decoded once with
``decode_minsum`` (max_iter 60, alpha 7/8: the protocol's defaults). ``f10`` is the efficiency
at which FER crosses 10 % (linear interpolation on the grid), the cleanest per-code figure: the
blind protocol then only adds reveals on top. ``de_f`` (``--de``) is the DE threshold efficiency
f* = (1-R)/h(p*) of the code's ensemble for normalised min-sum (flooding, 150 iterations).
"""

from __future__ import annotations

import argparse

import numpy as np

from postproc.reconcile import density_evolution as de
from postproc.reconcile.decoder import channel_llr, decode_minsum
from postproc.reconcile.family import FAMILIES, family_codes

DESCRIPTION = "LDPC families at fixed rate: round-one FER vs efficiency, DE thresholds"
F_GRID = (1.40, 1.32, 1.26, 1.21, 1.17, 1.13, 1.10, 1.07)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--families", nargs="+", default=["n32k", "de32k"])
    p.add_argument("--mb", type=int, nargs="+", default=None, help="block rows to test (rates)")
    p.add_argument("--frames", type=int, default=None, help="frames per point (100; quick 8)")
    p.add_argument("--de", action="store_true", help="also compute the DE threshold")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", dest="quick_here", action="store_true", help="short run (CI)")
    p.add_argument("--json", dest="json_here", action="store_true", help="print JSON")


def _p_of_f(rate: float, f: float) -> float:
    return de.h_inverse((1.0 - rate) / f)


def _f10(grid: list[float], fer: list[float]) -> float:
    """Smallest efficiency with FER <= 10 % (interpolated between grid points; grid descending).
    NaN when even the largest f fails."""
    best = float("nan")
    for i, (f, e) in enumerate(zip(grid, fer, strict=True)):
        if e > 0.1:
            if i > 0 and fer[i - 1] <= 0.1:
                f0, e0 = grid[i - 1], fer[i - 1]
                best = f0 + (f - f0) * (0.1 - e0) / (e - e0)
            break
        best = f
    return float(best)


def run(args: argparse.Namespace) -> dict:
    quick = bool(getattr(args, "quick", False) or getattr(args, "quick_here", False))
    frames = args.frames or (8 if quick else 100)
    mbs = args.mb or ([62] if quick else None)
    grid = list(F_GRID[1:6:2]) if quick else list(F_GRID)
    rows = []
    for fam in args.families:
        if fam not in FAMILIES:
            raise SystemExit(f"unknown family {fam!r}")
        for code in family_codes(fam):
            if mbs and code.mb not in mbs:
                continue
            fers, iters = [], []
            for f in grid:
                p = _p_of_f(code.rate, f)
                rng = np.random.default_rng([args.seed, code.n, code.m, int(f * 1000)])
                x = rng.integers(0, 2, (frames, code.n), dtype=np.uint8)
                y = x ^ (rng.random(x.shape) < p).astype(np.uint8)
                out, it, ok = decode_minsum(code, channel_llr(y, p), code.syndrome(x),
                                            max_iter=60, alpha=0.875)
                good = ok & (out == x).all(axis=1)
                fers.append(float(1.0 - good.mean()))
                iters.append(float(it.mean()))
            row = {
                "family": fam, "code": code.name, "rate": round(code.rate, 4), "n": code.n,
                "frames": frames, "f_grid": grid, "fer": fers, "iters": iters,
                "f10": _f10(grid, fers),
            }
            if args.de:
                B = (code.base >= 0).astype(np.int8)
                n2 = int(np.sum(B.sum(axis=0) == 2))
                ens = de.Ensemble.from_base(B, n2)
                row["de_f"] = round(de.efficiency(ens, de.DEConfig(max_iter=150))[1], 4)
            rows.append(row)
    return {"frames": frames, "rows": rows}


def format_text(result: dict) -> str:
    rows = result["rows"]
    if not rows:
        return "no codes selected"
    grid = rows[0]["f_grid"]
    head = f"{'family':8} {'code':22} {'rate':>6} {'f10':>6} {'de_f':>6}  " + " ".join(
        f"{'f=' + format(f, '.2f'):>7}" for f in grid)
    lines = [f"round-one FER, {result['frames']} frames per point", head]
    for r in rows:
        lines.append(
            f"{r['family']:8} {r['code']:22} {r['rate']:6.3f} {r['f10']:6.3f} "
            f"{r.get('de_f', float('nan')):6.3f}  "
            + " ".join(f"{e:7.3f}" for e in r["fer"]))
    return "\n".join(lines)
