"""``qkdpp simulate --out DIR``: simulate a QKD link and write a qkdpp recording."""

from __future__ import annotations

import argparse
import json
import time

from postproc.errors import ConfigError
from postproc.progress import progress


def _floats(text: str, n: int | None = None) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if n is not None and len(vals) != n:
        raise argparse.ArgumentTypeError(f"expected {n} comma-separated numbers, got {text!r}")
    return vals


def _per_detector(vals: tuple[float, ...] | None, n: int, name: str) -> tuple[float, ...] | None:
    if vals is None:
        return None
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise ConfigError(f"--{name}: give 1 or {n} values for this receiver")
    return vals


def _run(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        raise ConfigError("--seconds must be positive")
    if args.protocol == "bbm92":
        from postproc.sim.bbm92 import PairConfig, simulate_pairs_to_recording

        pcfg = PairConfig(
            pair_rate_hz=args.pair_rate_hz,
            distance_a_km=args.distance_a_km,
            distance_b_km=args.distance_km,
            misalignment=args.misalignment,
            delay_ps=args.offset_ps if args.offset_ps is not None else 123_456,
            seed=args.seed,
        )
        t0 = time.perf_counter()
        _, truth = simulate_pairs_to_recording(pcfg, args.seconds, args.out)
        wall = time.perf_counter() - t0
        out = {
            "out": str(args.out),
            "protocol": "bbm92",
            "seconds": args.seconds,
            "wall_s": wall,
            **truth,
        }
    else:
        from postproc.sim import SimConfig, simulate_to_recording

        recv = args.receiver
        n_det = 4 if recv == "passive" else 2
        kw = dict(
            clock_rate_hz=args.clock_rate_hz,
            distance_km=args.distance_km,
            fibre_loss_db_per_km=args.fibre_loss_db_per_km,
            extra_loss_db=args.extra_loss_db,
            misalignment=args.misalignment,
            receiver=recv,
            p_z=args.p_z,
            eve_fraction=args.eve_fraction,
            drift_ppm=args.drift_ppm,
            dead_time_ns=args.dead_time_ns,
            afterpulse_prob=args.afterpulse_prob,
            jitter_sigma_ps=args.jitter_ps,
            seed=args.seed,
        )
        if args.intensities:
            kw["intensities"] = args.intensities
        if args.intensity_probs:
            kw["intensity_probs"] = args.intensity_probs
        if args.offset_ps is not None:
            kw["time_offset_ps"] = int(args.offset_ps)
        kw["efficiency"] = _per_detector(args.efficiency, n_det, "efficiency") or (0.2,) * n_det
        kw["dark_count_hz"] = _per_detector(args.dark_hz, n_det, "dark-hz") or (500.0,) * n_det
        cfg = SimConfig(**kw)
        t0 = time.perf_counter()
        n_slots = round(args.seconds * cfg.clock_rate_hz)
        with progress("simulating", total=n_slots) as advance:
            _, truth = simulate_to_recording(cfg, args.seconds, args.out, progress=advance)
        wall = time.perf_counter() - t0
        out = {
            "out": str(args.out),
            "protocol": "bb84-decoy",
            "seconds": args.seconds,
            "wall_s": wall,
            "link_s_per_wall_s": args.seconds / wall,
            **truth.as_dict(),
        }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"wrote {out['out']} ({out['protocol']}, {args.seconds:g} s of link)")
        for k, v in out.items():
            if k not in ("out", "protocol", "seconds"):
                print(f"  {k:28s} {v:.4g}" if isinstance(v, float) else f"  {k:28s} {v}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate a QKD link into a recording", description=__doc__)
    p.add_argument("--out", required=True, help="recording directory to write")
    p.add_argument("--seconds", type=float, default=0.1, help="link time to simulate (s)")
    p.add_argument("--protocol", choices=("bb84", "bbm92"), default="bb84")
    p.add_argument("--distance-km", type=float, default=25.0, help="fibre length (to Bob)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--clock-rate-hz", type=float, default=1e9)
    p.add_argument("--intensities", type=lambda s: _floats(s, 3), help="mu1,mu2,mu3")
    p.add_argument("--intensity-probs", type=lambda s: _floats(s, 3), help="p1,p2,p3")
    p.add_argument("--p-z", type=float, default=0.9, help="Z basis probability")
    p.add_argument("--fibre-loss-db-per-km", type=float, default=0.2)
    p.add_argument("--extra-loss-db", type=float, default=3.0)
    p.add_argument("--misalignment", type=float, default=0.01)
    p.add_argument("--receiver", choices=("passive", "active"), default="passive")
    p.add_argument("--efficiency", type=_floats, help="per detector (or one value)")
    p.add_argument("--dark-hz", type=_floats, help="dark count rate per detector (or one value)")
    p.add_argument("--dead-time-ns", type=float, default=10.0)
    p.add_argument("--afterpulse-prob", type=float, default=0.01)
    p.add_argument("--jitter-ps", type=float, default=30.0, help="Gaussian jitter sigma")
    p.add_argument("--offset-ps", type=int, help="Bob's clock minus Alice's (ps)")
    p.add_argument("--drift-ppm", type=float, default=0.0)
    p.add_argument("--eve-fraction", type=float, default=0.0, help="intercept-resend fraction")
    p.add_argument("--pair-rate-hz", type=float, default=2e6, help="bbm92: pair rate")
    p.add_argument("--distance-a-km", type=float, default=5.0, help="bbm92: fibre to Alice")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run)
