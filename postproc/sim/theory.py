"""Closed-form expectations of the BB84 simulator, for testing it and for planning a link.

Per slot, given the state that reaches Bob (Alice's, or Eve's after intercept-resend) and, for the
active receiver, Bob's basis, each detector i receives Poisson(lambda_i) photons independently, so
it clicks inside the gate with probability

    q_i = 1 - (1 - g (1 - exp(-lambda_i))) (1 - p_dark,i),  p_dark,i = 1 - exp(-d_i * gate_width)

where g is the probability that the click's jitter (Gaussian + exponential tail) stays inside the
gate. Dead time and afterpulsing are not modelled here (set them to zero when comparing).
Everything is averaged exactly over Alice's basis/bit, Eve's choice and Bob's basis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from postproc.sim.config import SimConfig


def gate_acceptance(cfg: SimConfig, gate_half_ps: float) -> float:
    """P(-w <= jitter < w) for the simulator's jitter model (core clamped at 8 sigma ignored)."""
    w = gate_half_ps
    s = cfg.jitter_sigma_ps
    core = (1.0 if w > 0 else 0.0) if s == 0 else stats.norm.cdf(w / s) - stats.norm.cdf(-w / s)
    if cfg.jitter_tail_prob == 0:
        return float(core)
    tau = cfg.jitter_tail_ps
    if tau == 0:
        tail = core
    elif s == 0:
        tail = 1.0 - math.exp(-w / tau)
    else:
        d = stats.exponnorm(tau / s, scale=s)
        tail = d.cdf(w) - d.cdf(-w)
    return float((1 - cfg.jitter_tail_prob) * core + cfg.jitter_tail_prob * tail)


@dataclass
class ClassExpectation:
    """Per-slot probabilities for one intensity class, with the gate applied."""

    p_detect: float  # at least one detector clicks in the gate
    p_double: float  # two or more detectors click in the gate
    # single clicks in the basis Alice used, by basis: P(single click, basis matches) and
    # P(single click, basis matches, wrong bit)
    p_single_match: tuple[float, float]
    p_single_error: tuple[float, float]

    def qber(self, basis: int) -> float:
        return self.p_single_error[basis] / self.p_single_match[basis]


def _states(cfg: SimConfig):
    """(weight, alice_basis, alice_bit, state_basis, state_bit, bob_basis) with exact weights."""
    pz, pzb, f = cfg.p_z, cfg.bob_p_z, cfg.eve_fraction
    bob_bases = ((0, pzb), (1, 1 - pzb)) if cfg.receiver == "active" else ((-1, 1.0),)
    for a, pa in ((0, pz), (1, 1 - pz)):
        for x in (0, 1):
            for bb, pb in bob_bases:
                w = pa * 0.5 * pb
                yield w * (1 - f), a, x, a, x, bb
                for eb in (0, 1):
                    if eb == a:
                        yield w * f * 0.5, a, x, eb, x, bb
                    else:
                        for ex in (0, 1):
                            yield w * f * 0.25, a, x, eb, ex, bb


def _detectors(cfg: SimConfig, bb: int):
    """(basis, bit, efficiency, dark rate, arm probability) per detector."""
    out = []
    for i in range(cfg.n_detectors):
        if cfg.receiver == "passive":
            db, dx = i >> 1, i & 1
            arm = cfg.bob_p_z if db == 0 else 1 - cfg.bob_p_z
        else:
            db, dx, arm = bb, i, 1.0
        out.append((db, dx, cfg.efficiency[i], cfg.dark_count_hz[i], arm))
    return out


def expected(cfg: SimConfig, gate_half_ps: float) -> list[ClassExpectation]:
    """Expectations per intensity class (index 0, 1, 2) for gate [-w, w) around the slot centre."""
    g = gate_acceptance(cfg, gate_half_ps)
    width_s = 2 * gate_half_ps * 1e-12
    eta = cfg.channel_transmittance
    result = []
    for mu in cfg.intensities:
        p_det = p_dbl = 0.0
        s_match = [0.0, 0.0]
        s_err = [0.0, 0.0]
        for w, a, x, sa, sx, bb in _states(cfg):
            q = []
            for db, dx, eff, dark, arm in _detectors(cfg, bb):
                pbit = (1 - cfg.misalignment if dx == sx else cfg.misalignment) if db == sa else 0.5
                lam = mu * eta * eff * arm * pbit
                pd = 1 - math.exp(-dark * width_s)
                q.append((1 - (1 - g * (1 - math.exp(-lam))) * (1 - pd), db, dx))
            qs = np.array([v[0] for v in q])
            none = float(np.prod(1 - qs))
            singles = [qs[i] * np.prod(np.delete(1 - qs, i)) for i in range(len(qs))]
            p_det += w * (1 - none)
            p_dbl += w * (1 - none - sum(singles))
            for (_, db, dx), ps in zip(q, singles, strict=True):
                if db == a:
                    s_match[a] += w * ps
                    if dx != x:
                        s_err[a] += w * ps
        result.append(ClassExpectation(p_det, p_dbl, tuple(s_match), tuple(s_err)))
    return result
