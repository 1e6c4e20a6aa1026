"""Discretised density evolution (DE) on the binary symmetric channel for the code ensembles our
construction produces, and a threshold search over their degree profiles.

Ensemble (a two-edge-type ensemble, the shape :mod:`postproc.reconcile.construct` builds):
``n2`` degree-2 *staircase* columns (edge type S; they form a path, so they never close a cycle
among themselves), *information* columns of degrees ``d`` in given counts (edge type I), and check
rows of a few types, each with ``s`` in {0, 1, 2} staircase sockets and ``dI`` information sockets.
Messages are tracked per edge type (all-zero word, which is no loss on the BSC: min-sum and BP are
symmetric), flooding schedule.

Messages live on a uniform LLR grid ``k * delta``, ``k = -K .. K`` (saturating at ``+-K``):

* ``rule="minsum"``: normalised min-sum, check output ``alpha * min |in| * prod sign(in)``.
  For independent inputs with ``A_i(t) = P(L_i >= t)``, ``B_i(t) = P(L_i <= -t)`` the output obeys
  ``P(min >= t, sign +) = (prod (A_i + B_i) + prod (A_i - B_i)) / 2`` (the same with ``-`` for the
  negative sign), so the check step is exact on the grid and O(K). The scaling by ``alpha`` splits
  each mass between the two neighbouring grid points (mean preserving). Min-sum is homogeneous in
  the LLRs, so the channel magnitude is a free unit: the channel sits at ``+-C`` grid steps.
* ``rule="bp"``: belief propagation; the check step combines inputs pairwise with the quantised
  box-plus table ``Q(2 atanh(tanh(a/2) tanh(b/2)))`` (Richardson & Urbanke's discretised DE) and
  the channel LLR ``log((1-p)/p)`` is rounded to the grid. Slower (powers ``x^(box k)`` are
  memoised per iteration: the check types of a staircase ensemble share most of them); used for
  the known-answer checks and the search of the version-3 "sp" profiles (:func:`optimise_sp`).

Variable nodes add the channel and ``d - 1`` incoming messages (FFT convolution, saturated once at
the end: the float decoder does not saturate). A run succeeds when the error probability of the
variable-to-check messages falls below ``tol`` within ``max_iter`` iterations; the threshold ``p*``
is the largest crossover probability that succeeds (bisection). The asymptotic efficiency of a rate
``R`` ensemble is ``f* = (1 - R) / h(p*)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numba
import numpy as np

from postproc.infotheory import binary_entropy


@dataclass(frozen=True)
class Ensemble:
    """Two-edge-type ensemble: ``n2`` staircase (degree-2) columns, information columns
    ``info = ((degree, count), ...)`` and check types ``checks = ((s, dI, count), ...)``.
    Counts are numbers of (base-graph) columns/rows; only their ratios matter to DE."""

    n2: int
    info: tuple[tuple[int, int], ...]
    checks: tuple[tuple[int, int, int], ...]
    name: str = field(default="", compare=False)

    @property
    def n_cols(self) -> int:
        return self.n2 + sum(c for _, c in self.info)

    @property
    def n_rows(self) -> int:
        return sum(c for _, _, c in self.checks)

    @property
    def rate(self) -> float:
        return 1.0 - self.n_rows / self.n_cols

    def validate(self) -> None:
        e_s = sum(s * c for s, _, c in self.checks)
        e_i = sum(d * c for _, d, c in self.checks)
        if e_s != 2 * self.n2:
            raise ValueError(f"ensemble {self.name}: {e_s} staircase sockets != 2 * {self.n2}")
        if e_i != sum(d * c for d, c in self.info):
            raise ValueError(f"ensemble {self.name}: info sockets of checks and columns differ")

    @classmethod
    def from_base(cls, B: np.ndarray, n2: int, name: str = "") -> Ensemble:
        """Ensemble of a 0/1 base graph whose first ``n2`` columns are the staircase."""
        B = np.asarray(B) != 0
        deg = B.sum(axis=0)
        info: dict[int, int] = {}
        for d in deg[n2:]:
            info[int(d)] = info.get(int(d), 0) + 1
        s = B[:, :n2].sum(axis=1)
        dI = B[:, n2:].sum(axis=1)
        types: dict[tuple[int, int], int] = {}
        for a, b in zip(s, dI, strict=True):
            types[(int(a), int(b))] = types.get((int(a), int(b)), 0) + 1
        return cls(
            n2=int(n2),
            info=tuple(sorted(info.items())),
            checks=tuple((a, b, c) for (a, b), c in sorted(types.items())),
            name=name,
        )

    @classmethod
    def regular(cls, dv: int, dc: int) -> Ensemble:
        """The regular (dv, dc) ensemble (no staircase)."""
        return cls(n2=0, info=((dv, dc),), checks=((0, dc, dv),), name=f"({dv},{dc})")


def staircase_ensemble(mb: int, nb: int, info: dict[int, int], n2: int | None = None) -> Ensemble:
    """The ensemble :func:`postproc.reconcile.construct.base_graph_profile` builds: ``n2`` (default
    ``mb - 1``) staircase columns on rows ``0 .. n2``, info edges spread as evenly as possible
    over the rows after the staircase edges (check degrees on one or two consecutive values)."""
    n2 = mb - 1 if n2 is None else n2
    s = np.zeros(mb, dtype=np.int64)
    for c in range(n2):
        s[c] += 1
        s[c + 1] += 1
    e_i = sum(d * c for d, c in info.items())
    tot = int(s.sum()) + e_i
    # row totals as even as possible, then info = total - staircase
    row_tot = np.full(mb, tot // mb, dtype=np.int64)
    row_tot[: tot % mb] += 1
    # give the larger totals to the rows with more staircase edges is irrelevant for DE; but the
    # info part must be >= 0: fill greedily, lightest total first
    dI = np.zeros(mb, dtype=np.int64)
    left = e_i
    w = s.copy()
    while left:
        r = int(np.argmin(w))
        dI[r] += 1
        w[r] += 1
        left -= 1
    types: dict[tuple[int, int], int] = {}
    for a, b in zip(s, dI, strict=True):
        types[(int(a), int(b))] = types.get((int(a), int(b)), 0) + 1
    return Ensemble(
        n2=n2,
        info=tuple(sorted((int(d), int(c)) for d, c in info.items() if c > 0)),
        checks=tuple((a, b, c) for (a, b), c in sorted(types.items())),
        name=f"stair{mb}x{nb}",
    )


# ---------------------------------------------------------------------------------------------
# grid operations


def _tails(x: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """A[t] = P(k >= t), B[t] = P(k <= -t) for t = 1 .. K (index t - 1)."""
    A = np.cumsum(x[K + 1 :][::-1])[::-1]
    B = np.cumsum(x[:K])  # x[0] is k = -K; B[t] for t = K .. 1 -> reverse
    return A, B[::-1]


def _minsum_check(
    inputs: list[tuple[np.ndarray, int]], K: int, alpha: float, offset: float = 0.0
) -> np.ndarray:
    S = np.ones(K)
    D = np.ones(K)
    for x, m in inputs:
        if m == 0:
            continue
        A, B = _tails(x, K)
        S *= (A + B) ** m
        D *= (A - B) ** m
    Gp = np.append((S + D) * 0.5, 0.0)
    Gm = np.append((S - D) * 0.5, 0.0)
    pp = Gp[:-1] - Gp[1:]  # P(out = +t), t = 1 .. K
    pm = Gm[:-1] - Gm[1:]
    lo, w = _scale_map(K, alpha, offset)
    idx = np.concatenate([K + lo, np.minimum(K + lo + 1, 2 * K), K - lo,
                          np.maximum(K - lo - 1, 0)])
    out = np.bincount(idx, np.concatenate([pp * (1 - w), pp * w, pm * (1 - w), pm * w]),
                      minlength=2 * K + 1)
    out[K] += max(0.0, 1.0 - Gp[0] - Gm[0])
    return out


@lru_cache(maxsize=64)
def _scale_map(K: int, alpha: float, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude t = 1 .. K -> max(alpha t - offset, 0), split between floor and floor + 1."""
    tgt = np.maximum(alpha * np.arange(1, K + 1) - offset, 0.0)
    lo = np.floor(tgt).astype(np.int64)
    return lo, tgt - lo


@lru_cache(maxsize=8)
def _boxplus_table(K: int, delta: float) -> np.ndarray:
    v = np.arange(-K, K + 1) * delta
    ta = np.tanh(v / 2)
    prod = np.clip(np.outer(ta, ta), -1 + 1e-15, 1 - 1e-15)
    out = 2 * np.arctanh(prod) / delta
    return (np.clip(np.rint(out), -K, K) + K).astype(np.int32)


@numba.njit(cache=True)
def _boxplus(a: np.ndarray, b: np.ndarray, T: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[0])
    for i in range(a.shape[0]):
        ai = a[i]
        if ai < 1e-300:
            continue
        for j in range(b.shape[0]):
            out[T[i, j]] += ai * b[j]
    return out


def _bp_check(inputs: list[tuple[np.ndarray, int]], K: int, delta: float) -> np.ndarray:
    T = _boxplus_table(K, delta)
    acc: np.ndarray | None = None
    for x, m in inputs:
        # x^(box m) by repeated squaring
        base, e = x, m
        while e:
            if e & 1:
                acc = base if acc is None else _boxplus(acc, base, T)
            e >>= 1
            if e:
                base = _boxplus(base, base, T)
    if acc is None:  # degree-1 check: output is "no information"
        acc = np.zeros(2 * K + 1)
        acc[K] = 1.0
    return acc


def _saturate(full: np.ndarray, lo_index: int, K: int) -> np.ndarray:
    """Fold a pmf on k = lo_index .. into the saturating grid -K .. K."""
    full = np.maximum(full, 0.0)
    a, b = -K - lo_index, K - lo_index  # indices of -K and +K in ``full``
    out = np.zeros(2 * K + 1)
    i0, i1 = max(a, 0), min(b, full.shape[0] - 1)
    out[i0 + lo_index + K : i1 + lo_index + K + 1] = full[i0 : i1 + 1]
    if a > 0:
        out[0] += full[:a].sum()
    if b + 1 < full.shape[0]:
        out[2 * K] += full[b + 1:].sum()
    s = out.sum()
    return out / s if s > 0 else out


def _var_nodes(ch: np.ndarray, y: np.ndarray, degs: list[int], K: int) -> list[np.ndarray]:
    """For each d in ``degs``: saturate(ch * y^(d-1)) (convolutions, FFT)."""
    dmax = max(degs)
    span = (dmax - 1) * (2 * K) + ch.shape[0]  # support length of ch * y^(dmax-1)
    P = 1 << int(np.ceil(np.log2(span + 1)))
    Y = np.fft.rfft(y, P)
    Cf = np.fft.rfft(ch, P)
    chK = (ch.shape[0] - 1) // 2
    out = []
    for d in degs:
        full = np.fft.irfft(Cf * Y ** (d - 1), P)[: (d - 1) * 2 * K + ch.shape[0]]
        out.append(_saturate(full, -(d - 1) * K - chK, K))
    return out


def _err(x: np.ndarray, K: int) -> float:
    return float(x[:K].sum() + 0.5 * x[K])


@dataclass(frozen=True)
class DEConfig:
    rule: str = "minsum"
    alpha: float = 0.875
    offset: float = 0.0  # min-sum: subtracted from the check magnitude, in nats (LLR units)
    steps: int = 8  # min-sum: grid steps per channel LLR unit
    max_llr: float = 30.0  # saturation (channel units for min-sum, nats for BP)
    delta: float = 0.05  # BP grid step
    max_iter: int = 200
    tol: float = 1e-7


def converges(ens: Ensemble, p: float, cfg: DEConfig = DEConfig()) -> tuple[bool, int, float]:
    """Run DE at crossover ``p``; returns (converged, iterations, final error probability)."""
    if cfg.rule == "minsum":
        K = round(cfg.max_llr * cfg.steps)
        C = cfg.steps
        ch = np.zeros(2 * C + 1)
        ch[0], ch[2 * C] = p, 1.0 - p

        # with an offset the LLR scale matters: the channel log((1-p)/p) sits at C steps
        off = cfg.offset * C / float(np.log((1 - p) / p))

        def check(inp):
            return _minsum_check(inp, K, cfg.alpha, off)
    elif cfg.rule == "bp":
        K = round(cfg.max_llr / cfg.delta)
        C = round(np.log((1 - p) / p) / cfg.delta)
        ch = np.zeros(2 * C + 1)
        ch[0], ch[2 * C] = p, 1.0 - p

        T = _boxplus_table(K, cfg.delta)
        powers: dict[tuple[int, int], np.ndarray] = {}

        def power(x: np.ndarray, k: int) -> np.ndarray:
            # x^(box k), memoised per iteration (keyed by the array's identity): the check types
            # of a staircase ensemble need neighbouring powers, which share most halvings
            key = (id(x), k)
            if key not in powers:
                if k == 1:
                    powers[key] = x
                else:
                    powers[key] = _boxplus(power(x, k // 2), power(x, k - k // 2), T)
            return powers[key]

        def check(inp):
            parts = [power(x, m) for x, m in inp if m > 0]
            if not parts:
                return _bp_check([], K, cfg.delta)
            acc = parts[0]
            for y in parts[1:]:
                acc = _boxplus(acc, y, T)
            return acc
    else:
        raise ValueError(f"DEConfig.rule: {cfg.rule!r} (expected 'minsum' or 'bp')")
    degs = [d for d, _ in ens.info]
    e_i = sum(d * c for d, c in ens.info)
    lam = np.array([d * c / e_i for d, c in ens.info])
    e_s = 2 * ens.n2
    chK = _saturate(ch, -C, K)
    xS = chK.copy()
    xI = chK.copy()
    hist: list[float] = []
    for it in range(1, cfg.max_iter + 1):
        if cfg.rule == "bp":
            powers.clear()
        yS = np.zeros(2 * K + 1)
        yI = np.zeros(2 * K + 1)
        for s, dI, cnt in ens.checks:
            if s and e_s:
                yS += (s * cnt / e_s) * check([(xS, s - 1), (xI, dI)])
            if dI:
                yI += (dI * cnt / e_i) * check([(xS, s), (xI, dI - 1)])
        xs_new = _var_nodes(ch, yS, [2], K)[0] if e_s else xS
        xI = sum(w * v for w, v in zip(lam, _var_nodes(ch, yI, degs, K), strict=True))
        xS = xs_new
        pe = (e_s * _err(xS, K) + e_i * _err(xI, K)) / (e_s + e_i)
        hist.append(pe)
        stuck = it > 60 and pe > 0.9999 * hist[-41]
        if pe < 1e-3 or stuck or it == cfg.max_iter:
            # success is judged on the decisions (posteriors): an extrinsic message can stay
            # wrong on a small floor (min-sum keeps staircase messages bounded by
            # alpha / (1 - alpha) channel units) while every decision is right
            post = _posterior_error(ens, ch, yS, yI, K)
            if post < cfg.tol:
                return True, it, post
        if stuck:
            return False, it, pe
    return False, cfg.max_iter, hist[-1]


def _posterior_error(ens: Ensemble, ch: np.ndarray, yS: np.ndarray, yI: np.ndarray,
                     K: int) -> float:
    """Bit error probability of the decisions, averaged over the variable nodes."""
    tot = ens.n2 * _err(_var_nodes(ch, yS, [3], K)[0], K) if ens.n2 else 0.0
    degs = [d for d, _ in ens.info]
    for (_, c), x in zip(ens.info, _var_nodes(ch, yI, [d + 1 for d in degs], K), strict=True):
        tot += c * _err(x, K)
    return tot / ens.n_cols


def threshold(
    ens: Ensemble, cfg: DEConfig = DEConfig(), lo: float = 1e-4, hi: float = 0.2,
    rel_tol: float = 0.004,
) -> float:
    """Largest crossover probability at which DE converges (bisection in log p)."""
    ens.validate()
    if not converges(ens, lo, cfg)[0]:
        return lo
    if converges(ens, hi, cfg)[0]:
        return hi
    while hi / lo > 1.0 + rel_tol:
        mid = float(np.sqrt(lo * hi))
        if converges(ens, mid, cfg)[0]:
            lo = mid
        else:
            hi = mid
    return lo


def h_inverse(y: float) -> float:
    """The p in [0, 1/2] with h(p) = y."""
    a, b = 0.0, 0.5
    for _ in range(60):
        m = 0.5 * (a + b)
        if binary_entropy(m) < y:
            a = m
        else:
            b = m
    return 0.5 * (a + b)


def efficiency(ens: Ensemble, cfg: DEConfig = DEConfig()) -> tuple[float, float]:
    """(threshold p*, asymptotic efficiency f* = (1 - R) / h(p*))."""
    p = threshold(ens, cfg, lo=h_inverse((1 - ens.rate) / 1.6), hi=h_inverse(1 - ens.rate))
    return p, (1.0 - ens.rate) / float(binary_entropy(p))


# ---------------------------------------------------------------------------------------------
# profile search

DEGREES = (3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 20, 25, 30)


def profile_counts(k: int, weights: dict[int, float]) -> dict[int, int]:
    """Integer column counts (summing to ``k``) closest to the node fractions ``weights``
    (largest-remainder rounding, ties to the lower degree)."""
    degs = sorted(d for d, w in weights.items() if w > 0)
    tot = sum(weights[d] for d in degs)
    raw = np.array([weights[d] / tot * k for d in degs])
    cnt = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - cnt), kind="stable")
    for i in order[: k - int(cnt.sum())]:
        cnt[i] += 1
    return {d: int(c) for d, c in zip(degs, cnt, strict=True) if c > 0}


def lifting_load(mb: int, n2: int, info: dict[int, int]) -> float:
    """How crowded a 4-cycle-free lifting of this profile gets (compare with ``Z ln(Z / 2)``).

    Columns are lifted highest degree first; a new block of a degree-d column must avoid, for
    each of the d - 1 blocks already placed in it, the shift differences that block-row pair has
    taken, about (row pairs used so far) / (row pairs) each. The load is the largest (d - 1) x
    that average over the degree classes (staircase last): a free shift is left while it stays
    well below Z ln(Z / 2) (expected free shifts ~ Z exp(-load / Z))."""
    npairs = mb * (mb - 1) / 2
    used = 0.0
    load = 0.0
    for d in sorted(info, reverse=True):
        used += info[d] * d * (d - 1) / 2
        load = max(load, (d - 1) * used / npairs)
    return max(load, (used + n2) / npairs)


def optimise_profile(
    nb: int, mb: int, seed: int = 0, evals: int = 150, cfg: DEConfig | None = None,
    start: dict[int, float] | None = None, n2: int | None = None, log=None,
    scan_n2: bool = True, degrees: tuple[int, ...] = DEGREES, max_load: float | None = None,
) -> tuple[dict[int, int], int, float]:
    """Stochastic hill climb over the information-column degree counts (and the number of
    staircase columns) of an ``mb x nb`` base graph, maximising the DE threshold. A candidate is
    first tried just above the current best threshold (one DE run, which rejects most), and only
    a success is bisected further. ``degrees``: the allowed information-column degrees (those
    above ``mb`` dropped); ``max_load``: reject profiles whose :func:`lifting_load` exceeds it
    (dense high-degree columns leave no 4-cycle-free lifting). Returns (info counts, n2,
    threshold)."""
    cfg = cfg or DEConfig(max_iter=150)
    rng = np.random.default_rng(seed)
    degs = [d for d in degrees if d <= mb]
    n2 = mb - 1 if n2 is None else n2
    if start is None:
        start = {3: 0.76, 8: 0.12, 10: 0.04, 12: 0.03, 20: 0.02, 25: 0.03}
    w: dict[int, float] = {}
    for d, x in start.items():  # degrees above mb fold into the largest allowed one
        dd = max(e for e in degs if e <= d) if d >= degs[0] else degs[0]
        w[dd] = w.get(dd, 0.0) + x
    cur = profile_counts(nb - n2, w)
    rate = 1.0 - mb / nb

    def thr(info: dict[int, int], n2_: int, lo: float, hi: float) -> float:
        return threshold(staircase_ensemble(mb, nb, info, n2_), cfg, lo=lo, hi=hi)

    hi0 = h_inverse(1.0 - rate)
    lo0 = h_inverse((1 - rate) / 3.0)
    best = thr(cur, n2, lo0, hi0)
    cur_n2 = n2
    if scan_n2:  # a shorter staircase (fewer degree-2 columns) is often far better at low rate
        for frac in (0.8, 0.6, 0.45, 0.3):
            c_n2 = round(frac * (mb - 1))
            cand = profile_counts(nb - c_n2, {d: c / (nb - n2) for d, c in cur.items()})
            t = thr(cand, c_n2, lo0, hi0)
            if t > best:
                best, cur_n2, cur = t, c_n2, cand
        n2 = cur_n2
    for it in range(evals):
        cand = dict(cur)
        c_n2 = cur_n2
        move = rng.random()
        k_step = max(1, int(rng.integers(1, max(2, (nb - c_n2) // 12))))
        if move < 0.25 and mb > 4:
            big = max(2, mb // 10)
            dn = int(rng.integers(1, big + 1)) * int(rng.choice([-1, 1]))
            c_n2 = int(np.clip(cur_n2 + dn, 0, mb - 1))
            if c_n2 == cur_n2:
                continue
            # keep nb: the freed/used columns go to/from degree 3 (or the lowest present)
            lowd = min(cand)
            cand[lowd] = cand.get(lowd, 0) + (cur_n2 - c_n2)
            if cand[lowd] < 0:
                continue
        else:
            src = int(rng.choice(list(cand)))
            dst = int(rng.choice(degs))
            if dst == src:
                continue
            k_step = min(k_step, cand[src])
            cand[src] -= k_step
            cand[dst] = cand.get(dst, 0) + k_step
        cand = {d: c for d, c in cand.items() if c > 0}
        if max_load is not None and lifting_load(mb, c_n2, cand) > max_load:
            continue
        # edges must fit: every row at least 2 info sockets + staircase, check degree sane
        ens = staircase_ensemble(mb, nb, cand, c_n2)
        probe = best * 1.004
        if not converges(ens, probe, cfg)[0]:
            continue
        t = threshold(ens, cfg, lo=probe, hi=min(hi0, best * 1.25))
        cur, cur_n2, best = cand, c_n2, t
        if log:
            log(f"  {it}: n2={cur_n2} {sorted(cur.items())} p*={best:.5f} "
                f"f*={(1 - rate) / binary_entropy(best):.4f}")
    return cur, cur_n2, best


# BP search (version-3 "sp" profiles): degrees up to 40, the discretised BP DE on a coarse grid
# (delta 0.1 nat, saturation 20 nats: ~1-2 s per run at check degree 60, rankings as at 0.05)
SP_DEGREES = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 22, 25, 28, 32, 36, 40)
SP_SEARCH = DEConfig(rule="bp", delta=0.1, max_llr=20.0, max_iter=200)


def sp_max_load(Z: int) -> float:
    """Largest :func:`lifting_load` accepted for a lifting size ``Z``: 0.6 Z ln(Z / 2) (measured:
    load 267 lifts at Z = 128 and fails at 64, 470 fails at 128)."""
    return 0.6 * Z * float(np.log(Z / 2))


def optimise_sp(nb: int, mb: int, Z: int, evals: int = 150, log=None,
                start: dict[int, float] | None = None) -> tuple[dict[int, int], int, float]:
    """BP hill climb for one version-3 base graph: full staircase, start from the ``bp32k`` shape
    (65 % degree 3, 20 % degree 8, 15 % degree 20) with the heavy degree lowered until the profile
    lifts at ``Z``; returns (info counts, n2, threshold p*)."""
    if start is None:
        dh = min(20, mb)
        while True:
            start = {3: 0.65, 8: 0.20, dh: 0.15}
            if lifting_load(mb, mb - 1, profile_counts(nb - mb + 1, start)) <= sp_max_load(Z):
                break
            dh -= 1
    return optimise_profile(nb, mb, seed=mb, evals=evals, cfg=SP_SEARCH, start=start, log=log,
                            scan_n2=False, degrees=SP_DEGREES, max_load=sp_max_load(Z))


def main(argv: list[str] | None = None) -> None:
    """Re-derive the profile tables: ``python -m postproc.reconcile.density_evolution [--evals=N]
    [--sp=Z] NB MB ...`` prints ``(nb, mb): (n2, {degree: columns}), p*, f*`` per base graph
    (min-sum table; with ``--sp=Z`` the BP table for lifting size Z)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    evals = 150
    sp_z = 0
    while argv and argv[0].startswith("--"):
        key, _, val = argv.pop(0).partition("=")
        if key == "--evals":
            evals = int(val)
        elif key == "--sp":
            sp_z = int(val)
        else:
            raise SystemExit(f"density_evolution: unknown option {key}")
    args = [int(a) for a in argv]
    nb, mbs = args[0], args[1:]
    for mb in mbs:
        if sp_z:
            info, n2, p = optimise_sp(nb, mb, sp_z, evals=evals)
        else:
            info, n2, p = optimise_profile(nb, mb, seed=mb, evals=evals)
        f = (mb / nb) / float(binary_entropy(p))
        print(f"    ({nb}, {mb}): ({n2}, {dict(sorted(info.items()))}),  # p* {p:.5f} f* {f:.4f}",
              flush=True)


if __name__ == "__main__":
    main()
