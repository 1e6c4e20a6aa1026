"""Independent oracle for the finite-key length (issue 4): a straight transcription of the papers.

Written from the papers and the issue text only, without reference to ``postproc.estimate``, so
that a test can compare the two line by line. Plain Python floats and ``math``; no numpy.

Two-decoy: Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eqs. (1)-(5), with the roles
of the bases swapped as the issue asks (key from Z, phase error from X):

    n^+-_{Z,k} = e^k / p_k (n_{Z,k} +- delta(n_Z, eps)),     delta(n, eps) = sqrt(n/2 ln(1/eps))
    s_{Z,0} >= tau_0 (mu2 n^-_{Z,mu3} - mu3 n^+_{Z,mu2}) / (mu2 - mu3)                     (2)
    s_{Z,1} >= tau_1 mu1 [n^-_{Z,mu2} - n^+_{Z,mu3}
               - (mu2^2 - mu3^2)/mu1^2 (n^+_{Z,mu1} - s_{Z,0}/tau_0)]
               / (mu1 (mu2 - mu3) - mu2^2 + mu3^2)                                         (3)
    v_{X,1} <= tau_1 (m^+_{X,mu2} - m^-_{X,mu3}) / (mu2 - mu3)                            (4)
    phi_Z  <= v_{X,1}/s_{X,1} + gamma(eps_sec, v_{X,1}/s_{X,1}, s_{X,1}, s_{Z,1})          (5)
    gamma(a,b,c,d) = sqrt((c+d)(1-b)b/(c d ln 2) log2((c+d)/(c d (1-b) b) 21^2/a^2))
    l = floor(s_{Z,0} + s_{Z,1}(1 - h(phi_Z)) - lambda_EC - 6 log2(21/eps_sec) - log2(2/eps_cor))

One-decoy: Rusca, Boaron, Gruenenfelder, Martin, Zbinden, APL 112, 171104 (2018), App. A, with
n^+- as above (the e^k/p_k factor of Lim, which the printed (A18) drops):

    s^u_{Z,0} = 2 [tau_0 e^mu2/p_mu2 (m_{Z,mu2} + delta(m_Z, eps)) + delta(n_Z, eps)]      (A16)
    s^l_{Z,1} = tau_1 mu1 / (mu2 (mu1 - mu2)) [n^-_{Z,mu2} - mu2^2/mu1^2 n^+_{Z,mu1}
                - (mu1^2 - mu2^2)/mu1^2 s^u_{Z,0}/tau_0]                                    (A17)
    s^l_{Z,0} = tau_0 / (mu1 - mu2) (mu1 n^-_{Z,mu2} - mu2 n^+_{Z,mu1})                    (A19)
    v^u_{X,1} = tau_1 / (mu1 - mu2) (m^+_{X,mu1} - m^-_{X,mu2})                            (A22)
    phi, gamma as Lim (21^2/eps_sec^2, as the issue says; the printed (A21) reads 2^21)
    l = floor(s_{Z,0} + s_{Z,1}(1 - h(phi_Z)) - lambda_EC - 6 log2(19/eps_sec) - log2(2/eps_cor))

The issue's conventions: eps = eps_sec/21 (two-decoy) or eps_sec/19 (one-decoy) in every
Hoeffding term; n^-, m^- unclipped; s0, s1 (and their X twins) clipped at 0, the clipped s0 is
what enters s1; v_{X,1} clipped to [0, m_X]; phi capped at 0.5; l floored and clipped at 0.

Cases the papers leave undefined, resolved here as the limit or the conservative value:
- s_{X,1} = 0 or s_{Z,1} = 0: ratio and gamma undefined (reported nan), phi = 0.5.
- b = v/s >= 1: gamma = inf; for any b >= 0.5 phi is at the cap 0.5.
- b = 0: gamma = 0 (its limit; see the notes on why this is the issue's, not a rigorous, value).
- log2 argument of gamma <= 1 (only for eps_sec close to 1): gamma = 0. The log is taken as a
  sum of logs, because a^2 underflows to 0 for eps_sec below ~1e-154.
"""

from __future__ import annotations

import math

PHI_CAP = 0.5


def h2(x: float) -> float:
    """Binary entropy in bits, h(0) = h(1) = 0."""
    if x <= 0.0 or x >= 1.0:
        return 0.0
    return -x * math.log2(x) - (1.0 - x) * math.log2(1.0 - x)


def delta(n: float, eps: float) -> float:
    """Hoeffding deviation sqrt(n/2 ln(1/eps))."""
    return math.sqrt(n / 2.0 * math.log(1.0 / eps))


def tau(j: int, mu: list[float], p: list[float]) -> float:
    """Probability that Alice sends a j-photon state."""
    return sum(pk * math.exp(-mk) * mk**j for mk, pk in zip(mu, p, strict=True)) / math.factorial(j)


def gamma_lim(a: float, b: float, c: float, d: float) -> float:
    """Lim 2014's gamma(a, b, c, d) with 21^2/a^2; 0 at b <= 0 (its limit), inf at b >= 1."""
    if b <= 0.0:
        return 0.0
    if b >= 1.0:
        return math.inf
    # as a sum of logs: the quotient overflows for a subnormal b
    log2_arg = (math.log2(c + d) - math.log2(c) - math.log2(d) - math.log2(1.0 - b)
                - math.log2(b) + 2.0 * math.log2(21.0 / a))
    if log2_arg <= 0.0:
        return 0.0
    return math.sqrt((c + d) * (1.0 - b) * b / (c * d * math.log(2.0)) * log2_arg)


def phase_error(eps_sec: float, v_x1: float, s_x1: float,
                s_z1: float) -> tuple[float, float, float]:
    """(ratio b, gamma, phi capped at 0.5); b and gamma are reported as nan when undefined."""
    if s_x1 <= 0.0 or s_z1 <= 0.0:
        return math.nan, math.nan, PHI_CAP
    b = v_x1 / s_x1
    g = gamma_lim(eps_sec, b, s_x1, s_z1)
    return b, g, min(b + g, PHI_CAP)


def _pm(mu: list[float], p: list[float], counts: list[float], dev: float):
    minus = [math.exp(mk) / pk * (c - dev) for mk, pk, c in zip(mu, p, counts, strict=True)]
    plus = [math.exp(mk) / pk * (c + dev) for mk, pk, c in zip(mu, p, counts, strict=True)]
    return minus, plus


def lim2014(mu, p, n_z, m_z, n_x, m_x, eps_sec) -> dict:
    mu1, mu2, mu3 = mu
    eps = eps_sec / 21.0
    t0, t1 = tau(0, mu, p), tau(1, mu, p)
    d_nz, d_nx, d_mx = delta(sum(n_z), eps), delta(sum(n_x), eps), delta(sum(m_x), eps)
    nz_m, nz_p = _pm(mu, p, n_z, d_nz)
    nx_m, nx_p = _pm(mu, p, n_x, d_nx)
    mx_m, mx_p = _pm(mu, p, m_x, d_mx)

    def s0(nm, np_):
        return max(0.0, t0 * (mu2 * nm[2] - mu3 * np_[1]) / (mu2 - mu3))

    def s1(nm, np_, s_0):
        num = nm[1] - np_[2] - (mu2**2 - mu3**2) / mu1**2 * (np_[0] - s_0 / t0)
        return max(0.0, t1 * mu1 * num / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2))

    s_z0 = s0(nz_m, nz_p)
    s_x0 = s0(nx_m, nx_p)
    s_z1 = s1(nz_m, nz_p, s_z0)
    s_x1 = s1(nx_m, nx_p, s_x0)
    v_x1 = t1 * (mx_p[1] - mx_m[2]) / (mu2 - mu3)
    v_x1 = min(max(v_x1, 0.0), float(sum(m_x)))
    return dict(eps_hoeffding=eps, tau0=t0, tau1=t1, delta_n_Z=d_nz, delta_n_X=d_nx,
                delta_m_X=d_mx, delta_m_Z=None, n_Z_minus=nz_m, n_Z_plus=nz_p,
                n_X_minus=nx_m, n_X_plus=nx_p, m_X_minus=mx_m, m_X_plus=mx_p, m_Z_plus=None,
                s_Z0_upper=None, s_X0_upper=None, s_Z0=s_z0, s_Z1=s_z1, s_X0=s_x0, s_X1=s_x1,
                v_X1=v_x1, penalty_bits=6 * math.log2(21.0 / eps_sec))


def rusca2018(mu, p, n_z, m_z, n_x, m_x, eps_sec) -> dict:
    mu1, mu2 = mu
    eps = eps_sec / 19.0
    t0, t1 = tau(0, mu, p), tau(1, mu, p)
    d_nz, d_nx = delta(sum(n_z), eps), delta(sum(n_x), eps)
    d_mz, d_mx = delta(sum(m_z), eps), delta(sum(m_x), eps)
    nz_m, nz_p = _pm(mu, p, n_z, d_nz)
    nx_m, nx_p = _pm(mu, p, n_x, d_nx)
    mx_m, mx_p = _pm(mu, p, m_x, d_mx)
    _, mz_p = _pm(mu, p, m_z, d_mz)

    def s0_upper(m_plus_mu2, d_n):  # (A16) with k = mu2; m_plus already carries e^k/p_k
        return 2.0 * (t0 * m_plus_mu2 + d_n)

    def s0_lower(nm, np_):  # (A19)
        return max(0.0, t0 / (mu1 - mu2) * (mu1 * nm[1] - mu2 * np_[0]))

    def s1(nm, np_, s0u):  # (A17)
        num = nm[1] - mu2**2 / mu1**2 * np_[0] - (mu1**2 - mu2**2) / mu1**2 * s0u / t0
        return max(0.0, t1 * mu1 / (mu2 * (mu1 - mu2)) * num)

    s_z0u = s0_upper(mz_p[1], d_nz)
    s_x0u = s0_upper(mx_p[1], d_nx)
    s_z1 = s1(nz_m, nz_p, s_z0u)
    s_x1 = s1(nx_m, nx_p, s_x0u)
    v_x1 = t1 / (mu1 - mu2) * (mx_p[0] - mx_m[1])  # (A22)
    v_x1 = min(max(v_x1, 0.0), float(sum(m_x)))
    return dict(eps_hoeffding=eps, tau0=t0, tau1=t1, delta_n_Z=d_nz, delta_n_X=d_nx,
                delta_m_X=d_mx, delta_m_Z=d_mz, n_Z_minus=nz_m, n_Z_plus=nz_p,
                n_X_minus=nx_m, n_X_plus=nx_p, m_X_minus=mx_m, m_X_plus=mx_p, m_Z_plus=mz_p,
                s_Z0_upper=s_z0u, s_X0_upper=s_x0u, s_Z0=s0_lower(nz_m, nz_p), s_Z1=s_z1,
                s_X0=s0_lower(nx_m, nx_p), s_X1=s_x1, v_X1=v_x1,
                penalty_bits=6 * math.log2(19.0 / eps_sec))


def finite_key_oracle(protocol: str, mu, p_mu, n_Z, m_Z, n_X, m_X, eps_sec: float,
                      eps_cor: float, lambda_EC: float) -> dict:
    """Every bound and the key length (before any QBER abort) for one block."""
    mu, p = [float(x) for x in mu], [float(x) for x in p_mu]
    n_z, m_z = [float(x) for x in n_Z], [float(x) for x in m_Z]
    n_x, m_x = [float(x) for x in n_X], [float(x) for x in m_X]
    fn = {"lim2014": lim2014, "rusca2018": rusca2018}[protocol]
    r = fn(mu, p, n_z, m_z, n_x, m_x, eps_sec)
    b, g, phi = phase_error(eps_sec, r["v_X1"], r["s_X1"], r["s_Z1"])
    penalty = r["penalty_bits"] + math.log2(2.0 / eps_cor)
    raw = r["s_Z0"] + r["s_Z1"] * (1.0 - h2(phi)) - lambda_EC - penalty
    r.update(phase_ratio=b, gamma=g, phi_Z=phi, penalty_bits=penalty,
             key_length_unrounded=raw, key_length=max(0, math.floor(raw)))
    return r
