"""``qkdpp plan --distance-km D [...] [--json]``: optimise decoy intensities and probabilities.

Prints the settings (mu, p_mu, p_Z) that maximise the finite-key length for the link, the
expected counts, the key length per block and the secret key rate, with the asymptotic rates
for comparison.
"""

from __future__ import annotations

import argparse
import json

from postproc.estimate.channel import LinkParameters
from postproc.estimate.finite_key import PROTOCOLS
from postproc.estimate.planner import PlanResult, plan

_DEFAULT = LinkParameters()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan",
        help="optimise decoy settings of a fibre link for the finite-key rate",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    p.add_argument("--distance-km", type=float, required=True, help="fibre length")
    p.add_argument("--protocol", choices=PROTOCOLS, default="lim2014")
    p.add_argument("--fiber-loss", type=float, default=_DEFAULT.fiber_loss_db_per_km,
                   help="fibre attenuation in dB/km (default %(default)s)")
    p.add_argument("--extra-loss-db", type=float, default=_DEFAULT.extra_loss_db,
                   help="receiver/connector loss in dB (default %(default)s)")
    p.add_argument("--detector-efficiency", type=float, default=_DEFAULT.detector_efficiency,
                   help="default %(default)s")
    p.add_argument("--dark-count", type=float, default=_DEFAULT.dark_count_prob,
                   help="dark/background count probability per pulse (default %(default)s)")
    p.add_argument("--misalignment", type=float, default=_DEFAULT.misalignment,
                   help="optical error probability (default %(default)s)")
    p.add_argument("--block-size", type=float, default=_DEFAULT.block_size,
                   help="pulses sent per block N (default %(default)g)")
    p.add_argument("--eps-sec", type=float, default=_DEFAULT.eps_sec)
    p.add_argument("--eps-cor", type=float, default=_DEFAULT.eps_cor)
    p.add_argument("--clock-rate", type=float, default=_DEFAULT.clock_rate_hz,
                   help="pulse rate in Hz (default %(default)g)")
    p.add_argument("--f-ec", type=float, default=_DEFAULT.f_ec,
                   help="error-correction efficiency assumed (default %(default)s)")
    p.add_argument("--qber-max", type=float, default=_DEFAULT.qber_max)
    p.add_argument("--mu3", type=float, default=0.0,
                   help="fixed weakest intensity for lim2014 (default 0 = vacuum)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=run)


def format_text(r: PlanResult) -> str:
    link = r.link
    c = r.expected_counts
    lines = [
        f"link: {link['distance_km']:g} km x {link['fiber_loss_db_per_km']:g} dB/km"
        f" + {link['extra_loss_db']:g} dB, detector efficiency {link['detector_efficiency']:g},"
        f" dark count {link['dark_count_prob']:g}, misalignment {link['misalignment']:g}"
        f" -> transmittance {r.transmittance:.4g}",
        f"block: N = {link['block_size']:.4g} pulses at {link['clock_rate_hz']:.4g} Hz"
        f" ({r.block_duration_s:.4g} s), eps_sec {link['eps_sec']:g}, eps_cor {link['eps_cor']:g},"
        f" f_EC {link['f_ec']:g}",
        f"protocol: {r.protocol}",
        "mu:   " + ", ".join(f"{v:.4f}" for v in r.mu),
        "p_mu: " + ", ".join(f"{v:.4f}" for v in r.p_mu),
        f"p_Z:  {r.p_Z:.4f}",
        "expected n_Z: " + ", ".join(f"{v:.4g}" for v in c["n_Z"]),
        "expected m_Z: " + ", ".join(f"{v:.4g}" for v in c["m_Z"]),
        "expected n_X: " + ", ".join(f"{v:.4g}" for v in c["n_X"]),
        "expected m_X: " + ", ".join(f"{v:.4g}" for v in c["m_X"]),
        f"lambda_EC (f n_Z h(QBER_Z)): {r.lambda_EC:.6g} bits",
        f"key length: {r.key_length} bits per block"
        + (f" (no key: {r.abort_reason})" if r.abort_reason else ""),
        f"secret key rate: {r.secret_key_rate_bps:.6g} bit/s"
        f" ({r.key_rate_per_pulse:.4g} bit/pulse)",
        f"asymptotic decoy rate (same estimators): {r.asymptotic_rate_per_pulse:.4g} bit/pulse",
        f"asymptotic GLLP rate (perfect decoys):   {r.gllp_ideal_rate_per_pulse:.4g} bit/pulse",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    link = LinkParameters(
        distance_km=args.distance_km,
        fiber_loss_db_per_km=args.fiber_loss,
        extra_loss_db=args.extra_loss_db,
        detector_efficiency=args.detector_efficiency,
        dark_count_prob=args.dark_count,
        misalignment=args.misalignment,
        block_size=args.block_size,
        eps_sec=args.eps_sec,
        eps_cor=args.eps_cor,
        clock_rate_hz=args.clock_rate,
        f_ec=args.f_ec,
        qber_max=args.qber_max,
    )
    result = plan(link, args.protocol, mu3=args.mu3)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_text(result))
    return 0
