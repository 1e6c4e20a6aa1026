"""Finite-key length from observed decoy-state counts: validation, abort rules, result record.

``finite_key(protocol, mu, p_mu, n_Z, m_Z, n_X, m_X, eps_sec, eps_cor, lambda_EC)`` returns a
:class:`FiniteKeyResult` with ``key_length`` (int) and every intermediate bound.

Key length (``protocol="lim2014"``, two decoys, penalty constant c = 21; ``"rusca2018"``, one
decoy, c = 19)::

    l = floor(s_Z0 + s_Z1 (1 - h(phi_Z^u)) - lambda_EC - 6 log2(c/eps_sec) - log2(2/eps_cor))

clipped at 0. The bounds s_Z0, s_Z1, v_X1, phi_Z^u and their conventions are documented in
:mod:`postproc.estimate.bounds`. h() is evaluated at min(phi_Z^u, 0.5).

lambda_EC is the number of bits disclosed by error correction and verification, i.e. the leakage
ledger's total (``LeakageLedger.total``); for planning, ``f * n_Z * h(QBER_Z)``.

Abort rules (``key_length = 0`` and ``abort_reason`` says why, the bounds are still returned):
the Z- or X-basis QBER (all intensities together) exceeds ``qber_max``; the unfloored length is
<= 0; or a rule of a non-default :class:`Conventions` variant fires.

Counts may be floats (expected values from a planner). Invalid input raises
:class:`postproc.errors.ConfigError` naming the field.
"""

# Field names follow the papers' notation (s_Z0, v_X1, lambda_EC, ...).
# ruff: noqa: N815

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from postproc.errors import ConfigError
from postproc.estimate.bounds import (
    BOUNDS,
    DEFAULT_CONVENTIONS,
    EPS_DIVISOR,
    N_INTENSITIES,
    Conventions,
)
from postproc.infotheory import binary_entropy
from postproc.ledger import LeakageLedger

PROTOCOLS = tuple(BOUNDS)
DEFAULT_QBER_MAX = 0.11


def qber_per_intensity(n: Sequence[float], m: Sequence[float]) -> list[float | None]:
    """m_k / n_k per intensity (None where n_k = 0)."""
    return [(mk / nk if nk > 0 else None) for nk, mk in zip(n, m, strict=True)]


def qber_total(n: Sequence[float], m: Sequence[float]) -> float | None:
    """sum(m) / sum(n) over all intensities of one basis (None if there are no detections)."""
    total = sum(n)
    return sum(m) / total if total > 0 else None


@dataclass
class FiniteKeyResult:
    """Outcome of one finite-key evaluation. ``to_dict()`` is JSON-serialisable."""

    protocol: str
    key_length: int
    abort_reason: str | None
    key_length_unrounded: float
    eps_sec: float
    eps_cor: float
    lambda_EC: float
    penalty_bits: float
    mu: list[float]
    p_mu: list[float]
    n_Z_total: float
    m_Z_total: float
    n_X_total: float
    m_X_total: float
    qber_Z: float
    qber_X: float
    qber_Z_per_intensity: list[float | None]
    qber_X_per_intensity: list[float | None]
    eps_hoeffding: float
    tau0: float
    tau1: float
    delta_n_Z: float
    delta_n_X: float
    delta_m_X: float
    delta_m_Z: float | None
    n_Z_minus: list[float]
    n_Z_plus: list[float]
    n_X_minus: list[float]
    n_X_plus: list[float]
    m_X_minus: list[float]
    m_X_plus: list[float]
    m_Z_plus: list[float] | None
    s_Z0_upper: float | None
    s_X0_upper: float | None
    s_Z0: float
    s_Z1: float
    s_X0: float
    s_X1: float
    v_X1: float
    phase_ratio: float
    gamma: float
    phi_Z: float
    phi_Z_sampling: float
    qber_max: float
    conventions: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain dict; NaN/inf (undefined ratios) become None so that the JSON is strict."""
        return {k: _json_safe(v) for k, v in asdict(self).items()}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    return v


def _finite_number(name: str, value, *, lo: float | None = None, lo_open: bool = False,
                   hi: float | None = None, hi_open: bool = False) -> float:
    # numbers.Real covers Python and numpy ints/floats; bools are rejected on purpose.
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ConfigError(f"{name}: must be finite, got {x!r}")
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise ConfigError(f"{name}: must be {'>' if lo_open else '>='} {lo}, got {x!r}")
    if hi is not None and (x > hi or (hi_open and x == hi)):
        raise ConfigError(f"{name}: must be {'<' if hi_open else '<='} {hi}, got {x!r}")
    return x


def _number_list(name: str, values, length: int, **limits) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        try:
            values = list(values)
        except TypeError:
            raise ConfigError(f"{name}: expected a list of {length} numbers") from None
    if len(values) != length:
        raise ConfigError(
            f"{name}: expected {length} values (one per intensity, same order as mu), "
            f"got {len(values)}"
        )
    return [_finite_number(f"{name}[{i}]", v, **limits) for i, v in enumerate(values)]


def validate_inputs(protocol, mu, p_mu, n_Z, m_Z, n_X, m_X, eps_sec, eps_cor, lambda_EC,
                    qber_max=DEFAULT_QBER_MAX):
    """Check every input and return them as floats/lists of floats; raise ConfigError naming
    the field otherwise."""
    if protocol not in BOUNDS:
        raise ConfigError(f"protocol: expected one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    k = N_INTENSITIES[protocol]
    if isinstance(mu, (str, bytes)) or not hasattr(mu, "__len__"):
        raise ConfigError(f"mu: expected a list of {k} intensities for {protocol}")
    if len(mu) != k:
        raise ConfigError(f"mu: {protocol} needs {k} intensities, got {len(mu)}")
    mu = _number_list("mu", mu, k, lo=0.0)
    if protocol == "lim2014":
        if not mu[1] > mu[2]:
            raise ConfigError(f"mu: need mu2 > mu3 (decoy above vacuum/weak), got {mu}")
        if not mu[0] > mu[1] + mu[2]:
            raise ConfigError(f"mu: need mu1 > mu2 + mu3, got {mu}")
    else:
        if not mu[1] > 0.0:
            raise ConfigError(f"mu: need mu2 > 0 (one-decoy has no vacuum state), got {mu}")
        if not mu[0] > mu[1]:
            raise ConfigError(f"mu: need mu1 > mu2, got {mu}")
    p_mu = _number_list("p_mu", p_mu, k, lo=0.0, lo_open=True, hi=1.0)
    if abs(sum(p_mu) - 1.0) > 1e-9:
        raise ConfigError(f"p_mu: probabilities must sum to 1, got sum {sum(p_mu)!r}")
    n_Z = _number_list("n_Z", n_Z, k, lo=0.0)
    m_Z = _number_list("m_Z", m_Z, k, lo=0.0)
    n_X = _number_list("n_X", n_X, k, lo=0.0)
    m_X = _number_list("m_X", m_X, k, lo=0.0)
    for basis, n, m in (("Z", n_Z, m_Z), ("X", n_X, m_X)):
        for i, (nk, mk) in enumerate(zip(n, m, strict=True)):
            if mk > nk:
                raise ConfigError(
                    f"m_{basis}[{i}]: more errors ({mk!r}) than detections n_{basis}[{i}] = {nk!r}"
                )
        if sum(n) <= 0.0:
            raise ConfigError(f"n_{basis}: no detections in the {basis} basis (all counts zero)")
    eps_sec = _finite_number("eps_sec", eps_sec, lo=0.0, lo_open=True, hi=1.0, hi_open=True)
    eps_cor = _finite_number("eps_cor", eps_cor, lo=0.0, lo_open=True, hi=1.0, hi_open=True)
    lambda_EC = _finite_number("lambda_EC", lambda_EC, lo=0.0)
    qber_max = _finite_number("qber_max", qber_max, lo=0.0, lo_open=True, hi=0.5)
    return protocol, mu, p_mu, n_Z, m_Z, n_X, m_X, eps_sec, eps_cor, lambda_EC, qber_max


def penalty_bits(protocol: str, eps_sec: float, eps_cor: float) -> float:
    """6 log2(c/eps_sec) + log2(2/eps_cor), c = 21 (lim2014) or 19 (rusca2018)."""
    return 6.0 * math.log2(EPS_DIVISOR[protocol] / eps_sec) + math.log2(2.0 / eps_cor)


def unrounded_length(b: dict, lambda_EC: float, penalty: float) -> float:
    """s_Z0 + s_Z1 (1 - h(min(phi, 1/2))) - lambda_EC - penalty, before floor and clip."""
    h = float(binary_entropy(min(b["phi_Z"], 0.5)))
    return b["s_Z0"] + b["s_Z1"] * (1.0 - h) - lambda_EC - penalty


def finite_key(
    protocol: str,
    mu: Sequence[float],
    p_mu: Sequence[float],
    n_Z: Sequence[float],
    m_Z: Sequence[float],
    n_X: Sequence[float],
    m_X: Sequence[float],
    eps_sec: float,
    eps_cor: float,
    lambda_EC: float | LeakageLedger,
    *,
    qber_max: float = DEFAULT_QBER_MAX,
    conventions: Conventions = DEFAULT_CONVENTIONS,
) -> FiniteKeyResult:
    """Secret key length of one block and every intermediate bound (see the module docstring).

    ``lambda_EC`` may be the block's :class:`LeakageLedger`; its ``total`` is used.
    """
    if isinstance(lambda_EC, LeakageLedger):
        lambda_EC = lambda_EC.total
    (protocol, mu, p_mu, n_Z, m_Z, n_X, m_X, eps_sec, eps_cor, lambda_EC,
     qber_max) = validate_inputs(protocol, mu, p_mu, n_Z, m_Z, n_X, m_X, eps_sec, eps_cor,
                                 lambda_EC, qber_max)
    b = BOUNDS[protocol](mu, p_mu, n_Z, m_Z, n_X, m_X, eps_sec, conventions)
    penalty = penalty_bits(protocol, eps_sec, eps_cor)
    l_real = unrounded_length(b, lambda_EC, penalty)
    q_Z, q_X = qber_total(n_Z, m_Z), qber_total(n_X, m_X)

    reason = None
    if q_Z > qber_max:
        reason = f"QBER in the Z basis {q_Z:.4f} exceeds the threshold {qber_max:.4f}"
    elif q_X > qber_max:
        reason = f"QBER in the X basis {q_X:.4f} exceeds the threshold {qber_max:.4f}"
    elif conventions.abort_if_v_exceeds_s and (b["s_X1"] <= 0 or b["s_X1"] < b["v_X1"]):
        reason = f"s_X1 = {b['s_X1']:.6g} is not above v_X1 = {b['v_X1']:.6g}"
    elif conventions.phase_error_max is not None and b["phi_Z"] > conventions.phase_error_max:
        reason = (f"phase error bound phi_Z = {b['phi_Z']:.4f} exceeds "
                  f"{conventions.phase_error_max:.4f}")
    elif l_real <= 0:
        extractable = max(l_real + lambda_EC + penalty, 0.0)
        reason = (
            f"no positive key length: s_Z0 + s_Z1 (1 - h(phi_Z)) = "
            f"{extractable:.1f} bits with s_Z1 = {b['s_Z1']:.1f}, "
            f"phi_Z = {b['phi_Z']:.4f}, does not exceed lambda_EC = {lambda_EC:.1f} plus the "
            f"security penalty {penalty:.1f}"
        )
    key_length = 0 if reason is not None else max(math.floor(l_real), 0)
    if reason is None and key_length == 0:
        reason = f"key length bound {l_real:.3f} floors to 0"

    return FiniteKeyResult(
        protocol=protocol,
        key_length=key_length,
        abort_reason=reason,
        key_length_unrounded=l_real,
        eps_sec=eps_sec,
        eps_cor=eps_cor,
        lambda_EC=lambda_EC,
        penalty_bits=penalty,
        mu=mu,
        p_mu=p_mu,
        n_Z_total=sum(n_Z),
        m_Z_total=sum(m_Z),
        n_X_total=sum(n_X),
        m_X_total=sum(m_X),
        qber_Z=q_Z,
        qber_X=q_X,
        qber_Z_per_intensity=qber_per_intensity(n_Z, m_Z),
        qber_X_per_intensity=qber_per_intensity(n_X, m_X),
        qber_max=qber_max,
        conventions=conventions.as_dict(),
        **b,
    )
