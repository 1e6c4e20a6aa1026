"""Decoy-state finite-key bounds: two-decoy (Lim et al. 2014) and one-decoy (Rusca et al. 2018).

References
----------
- [Lim14] C. C. W. Lim, M. Curty, N. Walenta, F. Xu, H. Zbinden, "Concise security bounds for
  practical decoy-state quantum key distribution", PRA 89, 022307 (2014), arXiv:1311.7129.
- [Rus18] D. Rusca, A. Boaron, F. Grünenfelder, A. Martin, H. Zbinden, "Finite-key analysis for
  the 1-decoy state QKD protocol", APL 112, 171104 (2018), arXiv:1801.03443, appendix A.

Naming: the key comes from the Z basis, the phase error from the X basis (the papers' roles of
X and Z are swapped relative to this; only the names differ). Intensities are ordered
``mu = [mu1, mu2, mu3]`` (signal, decoy, vacuum/weak; mu1 > mu2 + mu3, mu2 > mu3 >= 0) for the
two-decoy protocol and ``mu = [mu1, mu2]`` (mu1 > mu2 > 0) for the one-decoy protocol.

Conventions (the papers leave them open; they move the result by percent to orders of magnitude):

- Hoeffding deviation ``delta(n, eps) = sqrt(n/2 * ln(1/eps))`` with ``n`` the *total* count of the
  basis (detections n_Z, n_X or errors m_X, m_Z), and ``eps = eps_sec/21`` (two-decoy) or
  ``eps = eps_sec/19`` (one-decoy) in every such term.
- ``n^{+-}_{B,k} = e^k/p_k (n_{B,k} +- delta)`` and likewise ``m^{+-}``. The lower deviations
  n^-, m^- are used as they are, **not** clipped at 0 (``Conventions.clip_hoeffding_lower``).
- s_{B,0} and s_{B,1} (lower bounds) are clipped at 0.
- v_{X,1} (upper bound) is clipped to ``[0, sum_k m_{X,k}]``: the single-photon errors cannot
  exceed all observed X errors, a deterministic and therefore valid bound (SatQuMA does the same).
- phi_Z^u = v_{X,1}/s_{X,1} + gamma(eps_sec, v_{X,1}/s_{X,1}, s_{Z,1}, s_{X,1}) with
  ``gamma(a,b,c,d) = sqrt((c+d)(1-b)b/(c d ln 2) * log2((c+d)/(c d (1-b) b) * 21^2/a^2))``
  (Lim14 eq. for gamma; the one-decoy protocol uses the same gamma, 21^2 included), and phi_Z^u
  is capped at 0.5 *after* adding gamma. gamma is taken as 0 at b = 0 (its limit) and its log
  argument is floored at 1 (so gamma is real). If s_{X,1} = 0 or s_{Z,1} = 0, phi_Z^u = cap.
- ``phi_Z_sampling`` (always reported; used only with ``Conventions(sampling_phase_bound=True)``)
  is a rigorous sampling bound at every ratio (:func:`sampling_phase_bound`). It exposes the
  weak spot of the default: at v_{X,1} = 0 gamma, hence phi_Z^u, is 0, and for v_{X,1} below a
  few tens of errors Lim's gamma is below the exact hypergeometric tail.
- One-decoy vacuum upper bound from the decoy-intensity (mu2) errors [Rus18 eq. A16]:
  ``s^u_{B,0} = 2 (tau0 e^{mu2}/p_{mu2} (m_{B,mu2} + delta(m_B, eps)) + delta(n_B, eps))``,
  used in s_{B,1} [A17]; the vacuum term of the key is the lower bound
  ``s_{Z,0} = tau0/(mu1-mu2) (mu1 n^-_{Z,mu2} - mu2 n^+_{Z,mu1})`` [A19], clipped at 0.
- ``asymptotic=True`` (for the infinite-key comparison rate) sets every delta and gamma to 0.
- The key length itself (floor, clip at 0, penalties) is applied in :mod:`.finite_key`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Conventions:
    """Open choices of the finite-key analysis. The defaults are the specification (issue 4).

    ``klenm()`` is the variant of the public KlenM/Finite-key-Decoy-state-QKD code, used only to
    reproduce its published number; do not use it for keys.
    """

    clip_hoeffding_lower: bool = False
    """Clip the raw lower deviations n - delta, m - delta at 0 before scaling (KlenM: True)."""
    clip_v_to_errors: bool = True
    """Clip v_{X,1} from above at the total observed X errors (KlenM: False)."""
    phase_error_cap: float = 0.5
    """Cap on phi_Z^u including gamma (KlenM: 1.0). h() is always evaluated at min(phi, 0.5)."""
    phase_error_max: float | None = None
    """Abort (no key) if phi_Z^u exceeds this (KlenM: 0.1)."""
    abort_if_v_exceeds_s: bool = False
    """Abort if s_{X,1} <= 0 or s_{X,1} < v_{X,1} (KlenM: True)."""
    sampling_phase_bound: bool = False
    """Conservative option, off by default (the issue specifies Lim's gamma): use
    max(phi_Z^u, phi_Z_sampling), the latter a rigorous sampling bound valid at every ratio,
    including v_{X,1} = 0 where Lim's gamma vanishes (see :func:`sampling_phase_bound`)."""

    @classmethod
    def klenm(cls) -> Conventions:
        return cls(
            clip_hoeffding_lower=True,
            clip_v_to_errors=False,
            phase_error_cap=1.0,
            phase_error_max=0.1,
            abort_if_v_exceeds_s=True,
        )

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_CONVENTIONS = Conventions()


def hoeffding_delta(n: float, eps: float) -> float:
    """delta(n, eps) = sqrt(n/2 ln(1/eps)): deviation of one intensity's count from its mean."""
    return math.sqrt(n / 2.0 * math.log(1.0 / eps))


def tau(n: int, mu: list[float], p_mu: list[float]) -> float:
    """tau_n = sum_k p_k e^{-k} k^n / n!: probability that Alice sends an n-photon state."""
    return sum(p * math.exp(-k) * k**n for k, p in zip(mu, p_mu, strict=True)) / math.factorial(n)


def gamma_term(a: float, b: float, c: float, d: float) -> float:
    """gamma(a, b, c, d) of Lim14 (random sampling without replacement), 21^2/a^2 included.

    a = eps_sec, b = observed single-photon error ratio, c, d = the two single-photon counts.
    """
    if b <= 0.0:
        return 0.0
    if b >= 1.0 or c <= 0.0 or d <= 0.0:
        return math.inf
    pref = (c + d) * (1.0 - b) * b / (c * d * math.log(2.0))
    # log2 of (c+d)/(c d (1-b) b) * 21^2/a^2 as a sum of logs: a^2 underflows for eps_sec <
    # ~1e-154, and the quotient overflows to inf for a subnormal b (then pref * inf = NaN).
    log_arg = (math.log2(c + d) - math.log2(c) - math.log2(d) - math.log2(1.0 - b)
               - math.log2(b) + 2.0 * math.log2(21.0 / a))
    return math.sqrt(pref * max(log_arg, 0.0))


def _kl(b: float, p: float) -> float:
    """Binary relative entropy D(b || p) in nats (0 ln 0 = 0), for 0 <= b < p < 1."""
    out = (1.0 - b) * math.log((1.0 - b) / (1.0 - p))
    return out + b * math.log(b / p) if b > 0.0 else out


def sampling_phase_bound(b: float, c: float, d: float, eps: float) -> float:
    """Upper bound on the error rate of the d unsampled events when a random sample of c of the
    c + d events shows error ratio b, failing with probability at most eps.

    If the c + d events hold K errors (rate p = K/(c+d)), the sample is drawn without replacement
    and Chernoff's bound holds for it as for sampling with replacement (Hoeffding 1963, Thm. 4):
    Pr[sample ratio <= b] <= exp(-c D(b||p)) for b < p. With p_u the largest p such that
    c D(b||p) <= ln(1/eps), the unsampled rate is at most p_u + (p_u - b) c/d. Unlike Lim's gamma
    (an approximation of Fung et al.'s bound that vanishes at b = 0 and is below the exact
    hypergeometric tail when v_{X,1} is a few tens of errors or less) this is valid at any b.
    """
    if c <= 0.0 or d <= 0.0 or b >= 1.0:
        return math.inf
    b = max(b, 0.0)
    target = math.log(1.0 / eps) / c
    lo, hi = b, 1.0
    for _ in range(200):  # bisection on the increasing D(b||.) over (b, 1)
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if _kl(b, mid) <= target:
            lo = mid
        else:
            hi = mid
    return hi + (hi - b) * c / d


def _scaled(count: float, delta: float, k: float, p: float, sign: int, clip: bool) -> float:
    raw = count + sign * delta
    if clip and raw < 0.0:
        raw = 0.0
    return math.exp(k) / p * raw


def _pm(counts, delta, mu, p_mu, clip):
    minus = [_scaled(c, delta, k, p, -1, clip) for c, k, p in zip(counts, mu, p_mu, strict=True)]
    plus = [_scaled(c, delta, k, p, +1, False) for c, k, p in zip(counts, mu, p_mu, strict=True)]
    return minus, plus


def _phase_error(v_x1: float, s_x1: float, s_z1: float, eps_sec: float, eps: float,
                 conv: Conventions, asymptotic: bool = False):
    """(phi_Z^u capped, ratio b = v/s, gamma, sampling bound capped)."""
    cap = conv.phase_error_cap
    if s_x1 <= 0.0 or s_z1 <= 0.0:
        return cap, math.nan, math.nan, cap
    b = v_x1 / s_x1
    if asymptotic:
        return min(b, cap), b, 0.0, min(b, cap)
    g = gamma_term(eps_sec, b, s_z1, s_x1)
    phi_s = min(sampling_phase_bound(b, s_x1, s_z1, eps), cap)
    phi = min(b + g, cap)
    return (max(phi, phi_s) if conv.sampling_phase_bound else phi), b, g, phi_s


def lim2014_bounds(
    mu: list[float],
    p_mu: list[float],
    n_Z: list[float],
    m_Z: list[float],
    n_X: list[float],
    m_X: list[float],
    eps_sec: float,
    conv: Conventions = DEFAULT_CONVENTIONS,
    asymptotic: bool = False,
) -> dict:
    """Every intermediate bound of the two-decoy analysis [Lim14]. Inputs are not validated.

    ``asymptotic=True`` sets every deviation and gamma to 0 (infinite-key decoy estimates).
    """
    mu1, mu2, mu3 = mu
    eps = eps_sec / 21.0
    nZ, nX, mX = sum(n_Z), sum(n_X), sum(m_X)
    t0, t1 = tau(0, mu, p_mu), tau(1, mu, p_mu)
    dnZ, dnX, dmX = (
        (0.0, 0.0, 0.0)
        if asymptotic
        else (hoeffding_delta(nZ, eps), hoeffding_delta(nX, eps), hoeffding_delta(mX, eps))
    )
    nZm, nZp = _pm(n_Z, dnZ, mu, p_mu, conv.clip_hoeffding_lower)
    nXm, nXp = _pm(n_X, dnX, mu, p_mu, conv.clip_hoeffding_lower)
    mXm, mXp = _pm(m_X, dmX, mu, p_mu, conv.clip_hoeffding_lower)

    def s0(nm, npl):
        return max(t0 * (mu2 * nm[2] - mu3 * npl[1]) / (mu2 - mu3), 0.0)

    def s1(nm, npl, s_0):
        bracket = nm[1] - npl[2] - (mu2**2 - mu3**2) / mu1**2 * (npl[0] - s_0 / t0)
        return max(mu1 * t1 * bracket / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2), 0.0)

    s_Z0 = s0(nZm, nZp)
    s_Z1 = s1(nZm, nZp, s_Z0)
    s_X0 = s0(nXm, nXp)
    s_X1 = s1(nXm, nXp, s_X0)
    v_X1 = max(t1 * (mXp[1] - mXm[2]) / (mu2 - mu3), 0.0)
    if conv.clip_v_to_errors:
        v_X1 = min(v_X1, mX)
    phi, ratio, g, phi_s = _phase_error(v_X1, s_X1, s_Z1, eps_sec, eps, conv, asymptotic)
    return {
        "eps_hoeffding": eps,
        "tau0": t0,
        "tau1": t1,
        "delta_n_Z": dnZ,
        "delta_n_X": dnX,
        "delta_m_X": dmX,
        "delta_m_Z": None,
        "n_Z_minus": nZm,
        "n_Z_plus": nZp,
        "n_X_minus": nXm,
        "n_X_plus": nXp,
        "m_X_minus": mXm,
        "m_X_plus": mXp,
        "m_Z_plus": None,
        "s_Z0_upper": None,
        "s_X0_upper": None,
        "s_Z0": s_Z0,
        "s_Z1": s_Z1,
        "s_X0": s_X0,
        "s_X1": s_X1,
        "v_X1": v_X1,
        "phase_ratio": ratio,
        "gamma": g,
        "phi_Z": phi,
        "phi_Z_sampling": phi_s,
    }


def rusca2018_bounds(
    mu: list[float],
    p_mu: list[float],
    n_Z: list[float],
    m_Z: list[float],
    n_X: list[float],
    m_X: list[float],
    eps_sec: float,
    conv: Conventions = DEFAULT_CONVENTIONS,
    asymptotic: bool = False,
) -> dict:
    """Every intermediate bound of the one-decoy analysis [Rus18]. Inputs are not validated.

    ``asymptotic=True`` sets every deviation and gamma to 0 (infinite-key decoy estimates).
    """
    mu1, mu2 = mu
    eps = eps_sec / 19.0
    nZ, nX, mZ, mX = sum(n_Z), sum(n_X), sum(m_Z), sum(m_X)
    t0, t1 = tau(0, mu, p_mu), tau(1, mu, p_mu)
    if asymptotic:
        dnZ = dnX = dmZ = dmX = 0.0
    else:
        dnZ, dnX = hoeffding_delta(nZ, eps), hoeffding_delta(nX, eps)
        dmZ, dmX = hoeffding_delta(mZ, eps), hoeffding_delta(mX, eps)
    nZm, nZp = _pm(n_Z, dnZ, mu, p_mu, conv.clip_hoeffding_lower)
    nXm, nXp = _pm(n_X, dnX, mu, p_mu, conv.clip_hoeffding_lower)
    mXm, mXp = _pm(m_X, dmX, mu, p_mu, conv.clip_hoeffding_lower)
    _, mZp = _pm(m_Z, dmZ, mu, p_mu, conv.clip_hoeffding_lower)

    def s0_upper(m_plus_decoy, dn):
        # [Rus18 A16]: vacuum events err with probability 1/2; bound them by the decoy's errors.
        return 2.0 * (t0 * m_plus_decoy + dn)

    def s0_lower(nm, npl):
        # [Rus18 A19]
        return max(t0 / (mu1 - mu2) * (mu1 * nm[1] - mu2 * npl[0]), 0.0)

    def s1_lower(nm, npl, s0u):
        # [Rus18 A17]
        bracket = nm[1] - (mu2 / mu1) ** 2 * npl[0] - (mu1**2 - mu2**2) / mu1**2 * s0u / t0
        return max(t1 * mu1 / (mu2 * (mu1 - mu2)) * bracket, 0.0)

    s_Z0u = s0_upper(mZp[1], dnZ)
    s_X0u = s0_upper(mXp[1], dnX)
    s_Z0 = s0_lower(nZm, nZp)
    s_X0 = s0_lower(nXm, nXp)
    s_Z1 = s1_lower(nZm, nZp, s_Z0u)
    s_X1 = s1_lower(nXm, nXp, s_X0u)
    # [Rus18 A22]
    v_X1 = max(t1 / (mu1 - mu2) * (mXp[0] - mXm[1]), 0.0)
    if conv.clip_v_to_errors:
        v_X1 = min(v_X1, mX)
    phi, ratio, g, phi_s = _phase_error(v_X1, s_X1, s_Z1, eps_sec, eps, conv, asymptotic)
    return {
        "eps_hoeffding": eps,
        "tau0": t0,
        "tau1": t1,
        "delta_n_Z": dnZ,
        "delta_n_X": dnX,
        "delta_m_X": dmX,
        "delta_m_Z": dmZ,
        "n_Z_minus": nZm,
        "n_Z_plus": nZp,
        "n_X_minus": nXm,
        "n_X_plus": nXp,
        "m_X_minus": mXm,
        "m_X_plus": mXp,
        "m_Z_plus": mZp,
        "s_Z0_upper": s_Z0u,
        "s_X0_upper": s_X0u,
        "s_Z0": s_Z0,
        "s_Z1": s_Z1,
        "s_X0": s_X0,
        "s_X1": s_X1,
        "v_X1": v_X1,
        "phase_ratio": ratio,
        "gamma": g,
        "phi_Z": phi,
        "phi_Z_sampling": phi_s,
    }


BOUNDS = {"lim2014": lim2014_bounds, "rusca2018": rusca2018_bounds}
N_INTENSITIES = {"lim2014": 3, "rusca2018": 2}
EPS_DIVISOR = {"lim2014": 21.0, "rusca2018": 19.0}
