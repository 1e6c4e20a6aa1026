"""``qkdpp finite-key INPUT.json [--json]``: decoy-state finite-key length from observed counts.

INPUT.json keys: ``protocol`` ("lim2014" or "rusca2018"), ``mu``, ``p_mu``, ``n_Z``, ``m_Z``,
``n_X``, ``m_X`` (lists per intensity, same order as mu; counts may be floats), ``eps_sec``,
``eps_cor``, ``lambda_EC`` (bits disclosed by error correction and verification); optional
``qber_max`` (abort threshold, default 0.11) and ``sampling_phase_bound`` (bool, default false:
also apply the rigorous sampling phase-error bound, see ``Conventions``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from postproc.errors import ConfigError, FormatError
from postproc.estimate import finite_key
from postproc.estimate.bounds import Conventions
from postproc.estimate.finite_key import DEFAULT_QBER_MAX, FiniteKeyResult

REQUIRED = ("protocol", "mu", "p_mu", "n_Z", "m_Z", "n_X", "m_X", "eps_sec", "eps_cor",
            "lambda_EC")
OPTIONAL = ("qber_max", "sampling_phase_bound")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finite-key",
        help="secret key length and decoy-state bounds from observed counts",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    p.add_argument("input", type=Path, help="JSON file with the counts and security parameters")
    p.add_argument("--json", action="store_true", help="print every bound as JSON")
    p.set_defaults(func=run)


def load_input(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg}", source=path, offset=exc.pos) from None
    if not isinstance(data, dict):
        raise FormatError("expected a JSON object", source=path)
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise FormatError(f"missing key(s) {', '.join(missing)}", source=path, field=missing[0])
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise FormatError(f"unknown key(s) {', '.join(unknown)}", source=path, field=unknown[0])
    return data


def evaluate(data: dict, source: Path | str = "input") -> FiniteKeyResult:
    sampling = data.get("sampling_phase_bound", False)
    if not isinstance(sampling, bool):
        raise ConfigError(f"{source}: sampling_phase_bound: expected true or false, "
                          f"got {sampling!r}")
    try:
        return finite_key(**{k: data[k] for k in REQUIRED},
                          qber_max=data.get("qber_max", DEFAULT_QBER_MAX),
                          conventions=Conventions(sampling_phase_bound=sampling))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def format_text(r: FiniteKeyResult) -> str:
    d = r.to_dict()
    rows = [
        ("protocol", d["protocol"]),
        ("key_length", f"{d['key_length']} bits"),
        ("abort_reason", d["abort_reason"]),
        ("QBER Z / X", f"{_fmt(d['qber_Z'])} / {_fmt(d['qber_X'])} (max {d['qber_max']})"),
        ("QBER Z per mu", _fmt(d["qber_Z_per_intensity"])),
        ("QBER X per mu", _fmt(d["qber_X_per_intensity"])),
    ]
    for name in ("eps_hoeffding", "delta_n_Z", "delta_n_X", "delta_m_X", "delta_m_Z",
                 "n_Z_minus", "n_Z_plus", "n_X_minus", "n_X_plus", "m_X_minus", "m_X_plus",
                 "m_Z_plus", "tau0", "tau1", "s_Z0_upper", "s_X0_upper", "s_Z0", "s_Z1",
                 "s_X0", "s_X1", "v_X1", "phase_ratio", "gamma", "phi_Z", "phi_Z_sampling",
                 "lambda_EC",
                 "penalty_bits", "key_length_unrounded"):
        if d[name] is not None:
            rows.append((name, _fmt(d[name])))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v if isinstance(v, str) else _fmt(v)}" for k, v in rows)


def run(args: argparse.Namespace) -> int:
    result = evaluate(load_input(args.input), args.input)
    print(result.to_json(indent=2) if args.json else format_text(result))
    return 0
