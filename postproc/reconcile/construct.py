"""Deterministic, seeded construction of the QC-LDPC code family.

Base graph: ``mb - 1`` degree-2 block columns form a staircase (a path, so degree-2 bits never close
a cycle among themselves), the other block columns get degree 3 or a higher degree ``dh`` in the
node fractions of :func:`degree_profile`; their block rows are picked progressive-edge-growth style
(always the currently lightest block row, ties broken by the seeded generator), which concentrates
the check degrees on one or two consecutive values as BSC-optimised ensembles do (Elkouss et al.
2009; Martinez-Mateo et al. 2012 use the same 2 / 3 / high-degree shape).

Lifting: each nonzero block gets a shift drawn from the seeded generator and rejected if it closes a
4-cycle (Fossorier's condition, see :func:`postproc.reconcile.qc.girth_at_least_6`), so the lifted
graph has girth >= 6.

Puncturing order: "untainted" puncturing (Elkouss et al. 2012): a bit is punctured only if none of
its checks already touches a punctured bit, so every check sees at most one punctured bit. Each
punctured bit then owns a private check, the punctured columns of H are linearly independent, and
the syndrome discloses ``m - p`` bits about the key (the other ``p`` are spent on Alice's fresh
random punctured symbols).
"""

from __future__ import annotations

import numpy as np

from postproc.errors import ConfigError
from postproc.reconcile.qc import QCCode


def degree_profile(nb: int, mb: int) -> np.ndarray:
    """Column degree of each block column (length ``nb``), deterministic in (nb, mb).

    Shape: ``mb - 1`` staircase columns of degree 2, then the information columns: a fraction
    of degree ``dh`` (grows as the rate falls, as in BSC-optimised ensembles), the rest degree 3.
    """
    k = nb - mb + 1
    rate = 1.0 - mb / nb
    if mb < 4:
        return np.array([2] * (mb - 1) + [mb] * k, dtype=np.int64)
    dh = int(min(mb, 12 if rate < 0.7 else 10 if rate < 0.85 else 8))
    frac_h = 0.20 if rate < 0.7 else 0.14 if rate < 0.85 else 0.10
    nh = round(frac_h * k)
    deg = [2] * (mb - 1) + [dh] * nh + [3] * (k - nh)
    return np.array(deg, dtype=np.int64)


def base_graph(nb: int, mb: int, rng: np.random.Generator) -> np.ndarray:
    """0/1 base graph (mb x nb) with the column degrees of :func:`degree_profile`."""
    deg = degree_profile(nb, mb)
    B = np.zeros((mb, nb), dtype=np.int8)
    for c in range(mb - 1):  # staircase of degree-2 columns
        B[c, c] = 1
        B[c + 1, c] = 1
    row_w = B.sum(axis=1).astype(np.int64)
    for c in range(mb - 1, nb):
        chosen: list[int] = []
        for _ in range(int(deg[c])):
            w = row_w.astype(np.float64) + rng.random(mb) * 0.5
            w[chosen] = np.inf
            r = int(np.argmin(w))
            chosen.append(r)
            row_w[r] += 1
        B[chosen, c] = 1
    return B


def lift(B: np.ndarray, Z: int, rng: np.random.Generator, tries: int = 200) -> np.ndarray:
    """Shifts for the nonzero blocks of ``B`` avoiding every 4-cycle; -1 elsewhere."""
    mb, nb = B.shape
    E = -np.ones((mb, nb), dtype=np.int32)
    # used[a][b]: shift differences E[a,j]-E[b,j] mod Z already present between block rows a < b
    used: dict[tuple[int, int], set[int]] = {}
    for j in range(nb):
        rows = np.nonzero(B[:, j])[0]
        placed: list[int] = []
        for a in rows:
            for _ in range(tries):
                s = int(rng.integers(Z))
                ok = True
                for b in placed:
                    key = (min(a, b), max(a, b))
                    d = (s - E[b, j]) % Z if a < b else (E[b, j] - s) % Z
                    if d in used.get(key, ()):
                        ok = False
                        break
                if ok:
                    break
            else:
                raise ConfigError(
                    f"lifting Z={Z} of a {mb}x{nb} base graph failed at block ({a},{j}): no "
                    "4-cycle-free shift left, use a larger Z"
                )
            E[a, j] = s
            for b in placed:
                key = (min(a, b), max(a, b))
                d = (s - E[b, j]) % Z if a < b else (E[b, j] - s) % Z
                used.setdefault(key, set()).add(int(d))
            placed.append(int(a))
    return E


def untainted_puncture_order(code: QCCode, rng: np.random.Generator) -> np.ndarray:
    """Greedy untainted puncturing set (each check touches at most one punctured bit), lowest
    column degree first, random order within a degree; returns the bit positions in the order they
    are punctured (a prefix of it is the punctured set for any ``p``)."""
    H = code.H.tocsc()
    col_deg = np.diff(H.indptr)
    order = np.lexsort((rng.random(code.n), col_deg))
    tainted = np.zeros(code.m, dtype=bool)
    chosen: list[int] = []
    for v in order:
        checks = H.indices[H.indptr[v] : H.indptr[v + 1]]
        if tainted[checks].any():
            continue
        chosen.append(int(v))
        tainted[checks] = True
    return np.array(chosen, dtype=np.int64)


def build_code(name: str, nb: int, mb: int, Z: int, seed: int) -> QCCode:
    """Build one code deterministically from (nb, mb, Z, seed)."""
    rng = np.random.default_rng(seed)
    B = base_graph(nb, mb, rng)
    E = lift(B, Z, rng)
    code = QCCode(name=name, base=E, Z=Z, seed=seed)
    punct = untainted_puncture_order(code, rng)
    return QCCode(name=name, base=E, Z=Z, seed=seed, puncture_order=punct)


# ---------------------------------------------------------------------------------------------
# version 2 ("de" family): density-evolution-optimised profiles


def base_graph_profile(
    nb: int, mb: int, n2: int, info: dict[int, int], rng: np.random.Generator
) -> np.ndarray:
    """0/1 base graph (mb x nb): ``n2`` staircase columns (0 .. n2-1 on rows c, c+1), then the
    information columns, highest degree first, with the counts of ``info`` (degree -> columns).

    Each edge goes to the row with the fewest edges so far (check degrees end up on one or two
    consecutive values, the ensemble :func:`~postproc.reconcile.density_evolution.
    staircase_ensemble` analyses); among those, to the row sharing the fewest columns with the rows
    this column already has (fewer base-graph 4-cycles, hence fewer constraints on the lifting);
    remaining ties by the seeded generator."""
    if n2 > mb - 1 or n2 < 0:
        raise ConfigError(f"base graph {mb}x{nb}: staircase of {n2} columns needs n2 <= mb - 1")
    if n2 + sum(info.values()) != nb:
        raise ConfigError(f"base graph {mb}x{nb}: {n2} staircase + {sum(info.values())} info "
                          f"columns != nb")
    if max(info) > mb:
        raise ConfigError(f"base graph {mb}x{nb}: column degree {max(info)} > mb")
    B = np.zeros((mb, nb), dtype=np.int8)
    for c in range(n2):
        B[c, c] = 1
        B[c + 1, c] = 1
    row_w = B.sum(axis=1).astype(np.int64)
    pair = np.zeros((mb, mb), dtype=np.int64)  # columns shared by two rows
    for c in range(n2):
        pair[c, c + 1] += 1
        pair[c + 1, c] += 1
    degs = [d for d in sorted(info, reverse=True) for _ in range(info[d])]
    for k, d in enumerate(degs):
        c = n2 + k
        chosen: list[int] = []
        for _ in range(d):
            share = pair[:, chosen].sum(axis=1) if chosen else np.zeros(mb, np.int64)
            key = row_w * 1_000_000.0 + share * 1000.0 + rng.random(mb)
            key[chosen] = np.inf
            r = int(np.argmin(key))
            chosen.append(r)
            row_w[r] += 1
        for a in chosen:
            for b in chosen:
                if a != b:
                    pair[a, b] += 1
        B[chosen, c] = 1
    return B


def profile_for(nb: int, mb: int, kind: str = "de") -> tuple[int, dict[int, int]]:
    """(staircase columns, {info degree: columns}) of the version-2 base graph ``mb x nb``.

    ``kind="bp"``: the belief-propagation shape of :func:`postproc.reconcile.profiles.bp_profile`
    (for a sum-product decoder; min-sum decodes it badly). ``kind="de"``: the
    density-evolution-optimised entry of :data:`postproc.reconcile.profiles.DE_PROFILES` when
    there is one, else the node fractions of the entry of nearest rate rescaled to ``nb``
    (degrees above ``mb`` folded into ``mb``). ``kind="sp"``: the same with
    :data:`postproc.reconcile.profiles.SP_PROFILES` (BP-optimised, version 3)."""
    from postproc.reconcile.density_evolution import profile_counts
    from postproc.reconcile.profiles import DE_PROFILES, SP_PROFILES, bp_profile

    if kind == "bp":
        return bp_profile(nb, mb)
    table = SP_PROFILES if kind == "sp" else DE_PROFILES
    if (nb, mb) in table:
        n2, info = table[(nb, mb)]
        return n2, dict(info)
    rate = 1.0 - mb / nb
    key = min(table, key=lambda k: (abs((1.0 - k[1] / k[0]) - rate), k))
    n2_ref, info_ref = table[key]
    n2 = min(mb - 1, round(n2_ref / key[1] * mb))
    w: dict[int, float] = {}
    for d, c in info_ref.items():
        dd = min(d, mb)
        w[dd] = w.get(dd, 0.0) + c
    return n2, profile_counts(nb - n2, w)


def build_code_de(name: str, nb: int, mb: int, Z: int, seed: int) -> QCCode:
    """Version-2 construction ("de" and "bp" names): the profile of :func:`profile_for` (kind =
    the name's prefix), the base graph of :func:`base_graph_profile`, the same 4-cycle-free
    lifting and untainted puncturing order."""
    rng = np.random.default_rng(seed)
    n2, info = profile_for(nb, mb, name[:2] if name[:2] == "bp" else "de")
    B = base_graph_profile(nb, mb, n2, info, rng)
    E = lift(B, Z, rng)
    code = QCCode(name=name, base=E, Z=Z, seed=seed)
    punct = untainted_puncture_order(code, rng)
    return QCCode(name=name, base=E, Z=Z, seed=seed, puncture_order=punct)


# ---------------------------------------------------------------------------------------------
# version 3 ("sp" names): profiles searched with BP density evolution for the sum-product
# decoder, more block rows (nb = 512), a lifting that draws among all free shifts


def lift_free(B: np.ndarray, Z: int, rng: np.random.Generator) -> np.ndarray:
    """Shifts for the nonzero blocks of ``B`` avoiding every 4-cycle, each drawn uniformly among
    *all* shifts still free (not :func:`lift`'s 200 random tries): the dense high-degree columns
    of the high-rate BP profiles need it at Z = 64 .. 128. Columns are lifted highest degree
    first (while most differences are still free); -1 for zero blocks."""
    mb, nb = B.shape
    E = -np.ones((mb, nb), dtype=np.int32)
    # used[a, b, d]: difference E[a,j] - E[b,j] = d (mod Z) taken by some column j (a != b)
    used = np.zeros((mb, mb, Z), dtype=bool)
    zr = np.arange(Z)
    deg = B.sum(axis=0)
    for j in sorted(range(nb), key=lambda c: (-int(deg[c]), c)):
        rows = np.nonzero(B[:, j])[0]
        placed: list[int] = []
        for a in rows:
            bad = np.zeros(Z, dtype=bool)
            for b in placed:  # s - E[b, j] must avoid used[a, b]
                bad |= used[a, b][(zr - E[b, j]) % Z]
            free = np.nonzero(~bad)[0]
            if free.size == 0:
                raise ConfigError(
                    f"lifting Z={Z} of a {mb}x{nb} base graph failed at block ({a},{j}): no "
                    "4-cycle-free shift left, use a larger Z or a sparser profile"
                )
            s = int(free[rng.integers(free.size)])
            E[a, j] = s
            for b in placed:
                used[a, b, (s - E[b, j]) % Z] = True
                used[b, a, (E[b, j] - s) % Z] = True
            placed.append(int(a))
    return E


def build_code_sp(name: str, nb: int, mb: int, Z: int, seed: int) -> QCCode:
    """Version-3 construction ("sp" names): the profile of :func:`profile_for` with kind "sp"
    (:data:`postproc.reconcile.profiles.SP_PROFILES`), the base graph of
    :func:`base_graph_profile`, the lifting of :func:`lift_free`, untainted puncturing. The base
    graph depends on (nb, mb, seed) only, so liftings with different Z share it."""
    rng = np.random.default_rng(seed)
    n2, info = profile_for(nb, mb, "sp")
    B = base_graph_profile(nb, mb, n2, info, rng)
    E = lift_free(B, Z, np.random.default_rng([seed, Z]))
    code = QCCode(name=name, base=E, Z=Z, seed=seed)
    punct = untainted_puncture_order(code, rng)
    return QCCode(name=name, base=E, Z=Z, seed=seed, puncture_order=punct)
