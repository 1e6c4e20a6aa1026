"""Expected decoy-state counts of a fibre link (the planner's channel model).

Model (standard weak-coherent-pulse BB84, as in Lim14 and the KlenM code): overall transmittance
``eta = eta_det * 10^(-(alpha L + extra_loss)/10)``; per pulse of intensity k

- detection probability ``Q_k = 1 - (1 - Y0) e^{-eta k}`` (Y0 = dark/background count probability),
- error probability ``E_k Q_k = Y0/2 + e_mis (1 - Y0)(1 - e^{-eta k})``.

Alice and Bob choose Z with probability p_Z each, so a pulse is sifted into Z with probability
p_Z^2 and into X with (1 - p_Z)^2 (mismatched bases are discarded). Over N pulses:
``n_{Z,k} = N p_k p_Z^2 Q_k``, ``m_{Z,k} = N p_k p_Z^2 E_k Q_k``, likewise X with (1-p_Z)^2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from postproc.errors import ConfigError


@dataclass(frozen=True)
class LinkParameters:
    """A fibre link and the finite-key settings used to plan it."""

    distance_km: float = 25.0
    fiber_loss_db_per_km: float = 0.2
    extra_loss_db: float = 0.0
    detector_efficiency: float = 0.2
    dark_count_prob: float = 6e-7
    misalignment: float = 0.01
    block_size: float = 1e10
    eps_sec: float = 1e-10
    eps_cor: float = 1e-15
    clock_rate_hz: float = 1e9
    f_ec: float = 1.16
    qber_max: float = 0.11

    def __post_init__(self) -> None:
        checks = {
            "distance_km": self.distance_km >= 0,
            "fiber_loss_db_per_km": self.fiber_loss_db_per_km >= 0,
            "extra_loss_db": self.extra_loss_db >= 0,
            "detector_efficiency": 0 < self.detector_efficiency <= 1,
            "dark_count_prob": 0 <= self.dark_count_prob < 1,
            "misalignment": 0 <= self.misalignment < 0.5,
            "block_size": self.block_size >= 1,
            "eps_sec": 0 < self.eps_sec < 1,
            "eps_cor": 0 < self.eps_cor < 1,
            "clock_rate_hz": self.clock_rate_hz > 0,
            "f_ec": self.f_ec >= 1,
            "qber_max": 0 < self.qber_max <= 0.5,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
                raise ConfigError(f"{name}: invalid link parameter {value!r}")

    @property
    def transmittance(self) -> float:
        loss_db = self.fiber_loss_db_per_km * self.distance_km + self.extra_loss_db
        return self.detector_efficiency * 10.0 ** (-loss_db / 10.0)

    def as_dict(self) -> dict:
        return asdict(self)


def detection_probability(mu: float, eta: float, y0: float) -> float:
    """Q_k = 1 - (1 - Y0) exp(-eta mu)."""
    return 1.0 - (1.0 - y0) * math.exp(-eta * mu)


def error_probability(mu: float, eta: float, y0: float, e_mis: float) -> float:
    """E_k Q_k = Y0/2 + e_mis (1 - Y0)(1 - exp(-eta mu)): probability of a detection in error."""
    return 0.5 * y0 + e_mis * (1.0 - y0) * (1.0 - math.exp(-eta * mu))


def expected_counts(
    mu: Sequence[float],
    p_mu: Sequence[float],
    p_Z: float,
    eta: float,
    dark_count_prob: float,
    misalignment: float,
    n_pulses: float,
) -> dict[str, list[float]]:
    """Expected n_Z, m_Z, n_X, m_X per intensity (floats), in the order of ``mu``."""
    out: dict[str, list[float]] = {"n_Z": [], "m_Z": [], "n_X": [], "m_X": []}
    for k, p in zip(mu, p_mu, strict=True):
        q = detection_probability(k, eta, dark_count_prob)
        e = error_probability(k, eta, dark_count_prob, misalignment)
        for basis, pb in (("Z", p_Z), ("X", 1.0 - p_Z)):
            sent = n_pulses * p * pb * pb
            out[f"n_{basis}"].append(sent * q)
            out[f"m_{basis}"].append(sent * e)
    return out
