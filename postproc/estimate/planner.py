"""Planner: optimise intensities and probabilities of a decoy-BB84 link for the finite-key length.

Given :class:`LinkParameters` (distance, fibre loss, detector efficiency, dark counts,
misalignment, block size N = pulses sent, eps_sec, eps_cor, clock rate, f_EC), the planner
computes the expected counts (:mod:`.channel`) and maximises the finite-key length of
:func:`postproc.estimate.finite_key` over

- lim2014: mu1, mu2, p_mu1, p_mu2, p_Z (mu3 fixed, default 0 = vacuum),
- rusca2018: mu1, mu2, p_mu1, p_Z,

with lambda_EC = f n_Z h(QBER_Z), using multi-start Nelder-Mead (scipy.optimize) on the unfloored
length, as SatQuMA does with its own optimiser. The chosen point is then evaluated by the public
``finite_key`` (validation, floor, clips, abort rules), so the reported length is exactly what the
estimator would grant for those expected counts.
"""

# Field names follow the papers' notation (s_Z0, v_X1, lambda_EC, ...).
# ruff: noqa: N815

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize

from postproc.errors import ConfigError
from postproc.estimate.asymptotic import asymptotic_decoy_rate, gllp_ideal_rate
from postproc.estimate.bounds import BOUNDS
from postproc.estimate.channel import LinkParameters, expected_counts
from postproc.estimate.finite_key import (
    FiniteKeyResult,
    finite_key,
    penalty_bits,
    unrounded_length,
)
from postproc.infotheory import binary_entropy

MU_MAX = 1.5
_INFEASIBLE = 1e300

# Starting points (mu1, mu2, p_mu1, p_mu2 | -, p_Z); the best optimum over all starts is kept.
_STARTS = {
    "lim2014": [(0.5, 0.1, 0.7, 0.2, 0.9), (0.4, 0.15, 0.5, 0.3, 0.8), (0.7, 0.2, 0.8, 0.1, 0.95)],
    "rusca2018": [(0.5, 0.15, 0.7, 0.9), (0.4, 0.2, 0.5, 0.8), (0.7, 0.1, 0.8, 0.95)],
}


@dataclass
class PlanResult:
    """Optimised settings, expected counts and the key they yield. ``to_dict()`` is JSON-able."""

    protocol: str
    link: dict
    transmittance: float
    mu: list[float]
    p_mu: list[float]
    p_Z: float
    expected_counts: dict
    lambda_EC: float
    key_length: int
    abort_reason: str | None
    key_rate_per_pulse: float
    secret_key_rate_bps: float
    block_duration_s: float
    asymptotic_rate_per_pulse: float
    gllp_ideal_rate_per_pulse: float
    finite_key: dict

    def to_dict(self) -> dict:
        return asdict(self)


def planning_lambda_ec(n_Z: list[float], m_Z: list[float], f_ec: float) -> float:
    """f * n_Z * h(QBER_Z), the error-correction leakage assumed when planning."""
    n = sum(n_Z)
    return f_ec * n * float(binary_entropy(sum(m_Z) / n)) if n > 0 else 0.0


def settings_from_vector(protocol: str, x, mu3: float):
    """(mu, p_mu, p_Z) from an optimiser vector, or None if it violates a constraint."""
    if protocol == "lim2014":
        mu1, mu2, p1, p2, pz = (float(v) for v in x)
        mu, p_mu = [mu1, mu2, mu3], [p1, p2, 1.0 - p1 - p2]
        ok = mu2 > mu3 and mu1 > mu2 + mu3
    else:
        mu1, mu2, p1, pz = (float(v) for v in x)
        mu, p_mu = [mu1, mu2], [p1, 1.0 - p1]
        ok = mu2 > 0.0 and mu1 > mu2
    ok = ok and mu[0] <= MU_MAX and all(p > 0.0 for p in p_mu) and 0.0 < pz < 1.0
    return (mu, p_mu, pz) if ok else None


def _objective_factory(protocol: str, link: LinkParameters, mu3: float):
    eta = link.transmittance
    pen = penalty_bits(protocol, link.eps_sec, link.eps_cor)
    bounds_fn = BOUNDS[protocol]

    def objective(x) -> float:
        s = settings_from_vector(protocol, x, mu3)
        if s is None:
            return _INFEASIBLE
        mu, p_mu, pz = s
        c = expected_counts(mu, p_mu, pz, eta, link.dark_count_prob, link.misalignment,
                            link.block_size)
        if sum(c["n_Z"]) <= 0.0 or sum(c["n_X"]) <= 0.0:
            return _INFEASIBLE
        b = bounds_fn(mu, p_mu, c["n_Z"], c["m_Z"], c["n_X"], c["m_X"], link.eps_sec)
        lam = planning_lambda_ec(c["n_Z"], c["m_Z"], link.f_ec)
        ell = unrounded_length(b, lam, pen)
        # The estimator aborts above qber_max whatever l is: score such points as no key, with
        # a slope back towards the allowed region.
        excess = max(sum(c["m_Z"]) / sum(c["n_Z"]), sum(c["m_X"]) / sum(c["n_X"])) \
            - link.qber_max
        if excess > 0:
            return abs(ell) + 1.0 + link.block_size * excess
        return -ell

    return objective


def evaluate_plan(protocol: str, link: LinkParameters, mu: list[float], p_mu: list[float],
                  p_Z: float) -> tuple[FiniteKeyResult, dict, float]:
    """Finite-key result for given settings on a link (expected counts as observed counts)."""
    c = expected_counts(mu, p_mu, p_Z, link.transmittance, link.dark_count_prob,
                        link.misalignment, link.block_size)
    lam = planning_lambda_ec(c["n_Z"], c["m_Z"], link.f_ec)
    res = finite_key(protocol, mu, p_mu, c["n_Z"], c["m_Z"], c["n_X"], c["m_X"], link.eps_sec,
                     link.eps_cor, lam, qber_max=link.qber_max)
    return res, c, lam


def _start_vector(protocol: str, start, mu3: float) -> np.ndarray:
    x0 = np.array(start, dtype=float)
    if protocol == "lim2014":
        x0[1] = max(x0[1], mu3 + 0.05)
        x0[0] = max(x0[0], x0[1] + mu3 + 0.1)
    return x0


def plan(link: LinkParameters, protocol: str = "lim2014", mu3: float = 0.0) -> PlanResult:
    """Optimise the settings of ``protocol`` on ``link`` for the finite-key length."""
    if protocol not in BOUNDS:
        raise ConfigError(f"protocol: expected one of {', '.join(BOUNDS)}, got {protocol!r}")
    if not (math.isfinite(mu3) and 0.0 <= mu3 < 0.1):
        raise ConfigError(f"mu3: the weak/vacuum intensity must be in [0, 0.1), got {mu3!r}")
    objective = _objective_factory(protocol, link, mu3)
    best_x, best_f = None, math.inf
    for start in _STARTS[protocol]:
        x0 = _start_vector(protocol, start, mu3)
        res = minimize(objective, x0, method="Nelder-Mead",
                       options={"xatol": 1e-7, "fatol": 1e-3, "maxiter": 4000,
                                "maxfev": 8000, "adaptive": True})
        if res.fun < best_f:
            best_x, best_f = res.x, float(res.fun)
    if best_f >= 0.0:
        # No positive key anywhere: report the first starting point rather than a degenerate
        # corner the optimiser drifted to on a flat objective.
        best_x = _start_vector(protocol, _STARTS[protocol][0], mu3)
    mu, p_mu, p_Z = settings_from_vector(protocol, best_x, mu3)
    fk, counts, lam = evaluate_plan(protocol, link, mu, p_mu, p_Z)
    duration = link.block_size / link.clock_rate_hz
    eta = link.transmittance
    args = (p_Z, eta, link.dark_count_prob, link.misalignment, link.f_ec)
    return PlanResult(
        protocol=protocol,
        link=link.as_dict(),
        transmittance=eta,
        mu=mu,
        p_mu=p_mu,
        p_Z=p_Z,
        expected_counts=counts,
        lambda_EC=lam,
        key_length=fk.key_length,
        abort_reason=fk.abort_reason,
        key_rate_per_pulse=fk.key_length / link.block_size,
        secret_key_rate_bps=fk.key_length / duration,
        block_duration_s=duration,
        asymptotic_rate_per_pulse=asymptotic_decoy_rate(protocol, mu, p_mu, *args),
        gllp_ideal_rate_per_pulse=gllp_ideal_rate(mu, p_mu, *args),
        finite_key=fk.to_dict(),
    )
