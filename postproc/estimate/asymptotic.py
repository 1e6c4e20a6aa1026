"""Asymptotic (infinite-key) decoy-state key rates, for comparison with the finite-key length.

- :func:`asymptotic_decoy_rate`: the GLLP rate with the *same* decoy estimators as the finite-key
  analysis but no statistical fluctuations (deviations and gamma set to 0, no penalties), per
  pulse sent. The finite-key l/N converges to it as N grows, which the tests check.
- :func:`gllp_ideal_rate`: the GLLP rate with the true vacuum and single-photon yields of the
  channel model (infinitely many decoys), an upper reference for any decoy estimator.

Both use lambda_EC = f n_Z h(QBER_Z) per pulse, as the planner does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from postproc.estimate.bounds import BOUNDS
from postproc.estimate.channel import detection_probability, error_probability, expected_counts
from postproc.infotheory import binary_entropy


def asymptotic_decoy_rate(
    protocol: str,
    mu: Sequence[float],
    p_mu: Sequence[float],
    p_Z: float,
    eta: float,
    dark_count_prob: float,
    misalignment: float,
    f_ec: float,
) -> float:
    """Secret bits per pulse sent in the infinite-key limit (clipped at 0)."""
    c = expected_counts(mu, p_mu, p_Z, eta, dark_count_prob, misalignment, 1.0)
    b = BOUNDS[protocol](list(mu), list(p_mu), c["n_Z"], c["m_Z"], c["n_X"], c["m_X"], 1.0,
                         asymptotic=True)
    n_z = sum(c["n_Z"])
    lam = f_ec * n_z * binary_entropy(sum(c["m_Z"]) / n_z)
    h = binary_entropy(min(b["phi_Z"], 0.5))
    return max(b["s_Z0"] + b["s_Z1"] * (1.0 - h) - lam, 0.0)


def gllp_ideal_rate(
    mu: Sequence[float],
    p_mu: Sequence[float],
    p_Z: float,
    eta: float,
    dark_count_prob: float,
    misalignment: float,
    f_ec: float,
) -> float:
    """GLLP with the channel's true Y0, Y1 and e1 (perfect decoy estimation), bits per pulse."""
    y0 = dark_count_prob
    # Exact single-photon yield and error rate of the channel model (not a Poisson mean of 1).
    y1 = 1.0 - (1.0 - y0) * (1.0 - eta)
    e1 = (0.5 * y0 + misalignment * (1.0 - y0) * eta) / y1
    secret = q_tot = err_tot = 0.0
    for k, p in zip(mu, p_mu, strict=True):
        secret += p * math.exp(-k) * (y0 + k * y1 * (1.0 - binary_entropy(e1)))
        q_tot += p * detection_probability(k, eta, y0)
        err_tot += p * error_probability(k, eta, y0, misalignment)
    lam = f_ec * q_tot * binary_entropy(err_tot / q_tot)
    return max(p_Z * p_Z * (secret - lam), 0.0)
