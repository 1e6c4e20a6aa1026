"""Cascade (interactive parity-based reconciliation), the baseline the LDPC stage is compared to.

Variants (block sizes ``k_i`` per pass for an estimated QBER ``q``; see Martinez-Mateo, Pacher
et al., "Demystifying the information reconciliation protocol Cascade", 2015, and B. Rijsman's
cascade-python study):

- ``original`` (Brassard-Salvail): 4 passes, ``k1 = ceil(0.73/q)``, ``k_i = 2 k_{i-1}``;
- ``yan`` (Yan et al. 2008): 10 passes, ``k1 = ceil(0.80/q)``, ``k2 = 5 k1``, ``k_i = n/2``.

Each pass shuffles the key with a permutation both parties derive from a shared seed, splits it
into blocks and compares block parities; an odd block is bisected (BINARY) and the error found is
flipped; the flip makes the blocks containing that bit in every other pass odd again, and they
are bisected too (the cascade effect). All bisections that are pending at the same moment advance
together, so one round trip carries one parity question for each of them.

Accounting: every parity bit Alice discloses counts (``parity_bits``, which also goes into the
ledger as ``cascade_parity``), and every question/answer exchange counts one round trip. Alice's
side is simulated by her key (she only ever answers parity questions about index sets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from postproc.errors import ConfigError
from postproc.ledger import LeakageLedger

VARIANTS = ("original", "yan")


def block_sizes(variant: str, qber: float, n: int) -> list[int]:
    """Block size of every pass for ``variant`` at estimated QBER ``qber`` on ``n`` bits."""
    q = max(float(qber), 1e-5)
    if variant == "original":
        k1 = math.ceil(0.73 / q)
        ks = [k1 * 2**i for i in range(4)]
    elif variant == "yan":
        k1 = math.ceil(0.80 / q)
        ks = [k1, 5 * k1] + [max(1, n // 2)] * 8
    else:
        raise ConfigError(f"unknown Cascade variant {variant!r} (have: {', '.join(VARIANTS)})")
    return [max(1, min(k, n)) for k in ks]


@dataclass(frozen=True)
class CascadeResult:
    """Bob's corrected key and the cost of getting it."""

    corrected: np.ndarray  # uint8, Bob's key after Cascade
    parity_bits: int  # parity bits disclosed by Alice
    round_trips: int  # question/answer exchanges
    residual_errors: int  # errors left (known only in simulation; Cascade cannot see them)


def cascade(
    alice: np.ndarray,
    bob: np.ndarray,
    qber: float,
    rng: np.random.Generator,
    variant: str = "yan",
    ledger: LeakageLedger | None = None,
) -> CascadeResult:
    """Run Cascade between Alice's and Bob's keys (uint8 0/1, same length)."""
    x = np.asarray(alice, dtype=np.uint8)
    y = np.asarray(bob, dtype=np.uint8).copy()
    n = x.size
    if y.size != n:
        raise ConfigError(f"bob: length {y.size} != alice length {n}")
    sizes = block_sizes(variant, qber, n)
    perms: list[np.ndarray] = []
    where: list[np.ndarray] = []  # position of each bit inside pass p's permuted order
    a_par: list[np.ndarray] = []  # Alice's top-level block parities (once asked)
    b_par: list[np.ndarray] = []  # Bob's current top-level block parities
    parity_bits = 0
    round_trips = 0

    def block_parity(v: np.ndarray, perm: np.ndarray, k: int) -> np.ndarray:
        nblk = -(-n // k)
        pad = np.zeros(nblk * k, dtype=np.uint8)
        pad[:n] = v[perm]
        return (pad.reshape(nblk, k).sum(axis=1) & 1).astype(np.uint8)

    for p, k in enumerate(sizes):
        perm = rng.permutation(n)
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        perms.append(perm)
        where.append(inv)
        a_par.append(block_parity(x, perm, k))
        b_par.append(block_parity(y, perm, k))
        parity_bits += a_par[p].size
        round_trips += 1
        # active bisections: [pass, start, end) in permuted order, odd error count inside
        active: list[list[int]] = [
            [p, int(b) * k, min(n, (int(b) + 1) * k)]
            for b in np.nonzero(a_par[p] != b_par[p])[0]
        ]
        while active:
            round_trips += 1
            parity_bits += sum(1 for s in active if s[2] - s[1] > 1)
            flips: list[int] = []
            nxt: list[list[int]] = []
            for pp, start, end in active:
                if end - start > 1:
                    mid = (start + end) // 2
                    idx = perms[pp][start:mid]
                    if (int(x[idx].sum()) ^ int(y[idx].sum())) & 1:
                        end = mid
                    else:
                        start = mid
                if end - start == 1:
                    flips.append(int(perms[pp][start]))
                else:
                    nxt.append([pp, start, end])
            for bit in set(flips):
                y[bit] ^= 1
                for q_ in range(p + 1):
                    b_par[q_][where[q_][bit] // sizes[q_]] ^= 1
                # a bisection whose interval holds the flipped bit is no longer valid
                nxt = [s for s in nxt if not (s[1] <= where[s[0]][bit] < s[2])]
            # every odd top-level block not already being bisected starts a bisection
            busy = {(s[0], s[1] // sizes[s[0]]) for s in nxt}
            for q_ in range(p + 1):
                for b in np.nonzero(a_par[q_] != b_par[q_])[0]:
                    if (q_, int(b)) not in busy:
                        kq = sizes[q_]
                        nxt.append([q_, int(b) * kq, min(n, (int(b) + 1) * kq)])
            active = nxt
    if ledger is not None:
        ledger.add("cascade_parity", parity_bits)
    return CascadeResult(y, parity_bits, round_trips, int((x != y).sum()))
