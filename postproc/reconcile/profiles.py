"""Density-evolution-optimised degree profiles of the version-2 ("de") base graphs.

``DE_PROFILES[(nb, mb)] = (n2, {degree: columns})``: ``n2`` degree-2 staircase columns and the
information columns per degree, found by :func:`postproc.reconcile.density_evolution.
optimise_profile` (normalised min-sum, alpha = 7/8 as our decoder, flooding DE capped at 150
iterations, target error probability 1e-7): ``python -m postproc.reconcile.density_evolution 256
12 18 ...`` prints these lines. The comment gives the DE threshold p* and f* = (1 - R) / h(p*).
Frozen: the codes of a family are a function of this table, so changing an entry changes the
codes (:func:`postproc.reconcile.family.get_code` rebuilds a cached code whose column degrees
no longer match its entry). Entries marked (a) come from a first search run whose convergence
test looked at the extrinsic messages instead of the decisions (their p* is a lower bound).
"""

from __future__ import annotations

DE_PROFILES: dict[tuple[int, int], tuple[int, dict[int, int]]] = {
    (256, 12): (3, {3: 177, 5: 16, 8: 8, 9: 17, 10: 30, 12: 5}),  # p* 0.00339 f* 1.4340
    (256, 18): (17, {3: 167, 5: 15, 8: 29, 9: 7, 10: 9, 12: 7, 16: 5}),  # p* 0.00576 f* 1.3758 (a)
    (256, 26): (25, {3: 173, 8: 28, 9: 4, 10: 11, 12: 12, 25: 3}),  # p* 0.00939 f* 1.3239
    (256, 36): (35, {3: 168, 8: 26, 10: 9, 12: 7, 14: 7, 20: 4}),  # p* 0.01454 f* 1.2833
    (256, 48): (47, {3: 159, 8: 25, 10: 9, 12: 6, 14: 6, 20: 4}),  # p* 0.02162 f* 1.2465
    (256, 62): (61, {3: 140, 6: 16, 8: 23, 10: 4, 12: 6, 25: 6}),  # p* 0.03098 f* 1.2154
    (256, 78): (70, {3: 143, 8: 22, 10: 7, 12: 5, 16: 5, 20: 4}),  # p* 0.04335 f* 1.1835
    (256, 96): (95, {3: 115, 6: 7, 8: 19, 10: 7, 12: 5, 20: 3, 25: 5}),  # p* 0.05915 f* 1.1572
    (256, 116): (92, {3: 124, 8: 20, 10: 12, 20: 3, 25: 5}),  # p* 0.07914 f* 1.1352
    (256, 138): (110, {3: 110, 8: 20, 10: 6, 12: 5, 25: 5}),  # p* 0.10490 f* 1.1130
    (256, 160): (67, {3: 150, 5: 5, 6: 4, 8: 19, 10: 6, 20: 4, 25: 1}),  # p* 0.12464 f* 1.1519
}


def bp_profile(nb: int, mb: int) -> tuple[int, dict[int, int]]:
    """Profile shape for a belief-propagation (sum-product) decoder: full staircase, then 65 %
    degree-3, 20 % degree-8 and 15 % degree-20 information columns (degree 2mb/3 below 26 block
    rows: denser columns leave no 4-cycle-free lifting at Z = 128). Hand-picked from a few DE (BP)
    candidates at rate 0.90 (256 x 26): BP threshold f* 1.11 (the min-sum-optimised entry: 1.27
    under BP, and this shape gives 1.72 under min-sum); BP f* 1.16 at 256 x 18 (with degree 18),
    1.06 at 256 x 78. Checked with the ``ldpc``
    package's BpDecoder (serial, 100 iterations) on 8 frames at n = 32768: 8/8 decoded at
    f 1.25, 7/8 at 1.18, 2/8 at 1.13; our min-sum 0/8 at all three."""
    from postproc.reconcile.density_evolution import profile_counts

    n2 = mb - 1
    dh = 20 if mb >= 26 else 2 * mb // 3
    return n2, profile_counts(nb - n2, {3: 0.65, 8: 0.20, dh: 0.15})
