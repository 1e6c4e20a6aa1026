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


# Version 3 ("sp" names, families ``sp64k`` / ``sp128k``): profiles for the sum-product decoder,
# nb = 512 block columns, found by BP density evolution (``density_evolution.optimise_sp``: hill
# climb over degrees 3 .. 40 on the coarse BP grid ``SP_SEARCH`` (0.1 nat), profiles whose
# 4-cycle-free lifting at Z = 128 would be crowded rejected, see ``lifting_load``). Anchor rates
# (mb 24, 44, 72, 104, 148, 208, 272: 80-150 evaluations each) were searched from the bp32k shape;
# the others started from the nearest anchor's node fractions ("start") with 4-20 evaluations
# (``python -m postproc.reconcile.density_evolution --sp=128 512 MB`` runs a full search).
# Comment: BP threshold p* and f* = (1 - R) / h(p*) on that grid (the bp32k shape: f* 1.13 at
# mb 44, 1.16 at 256 x 18). Frozen like DE_PROFILES (a changed entry changes that code).
SP_PROFILES: dict[tuple[int, int], tuple[int, dict[int, int]]] = {
    (512, 24): (22, {3: 294, 7: 2, 8: 63, 9: 35, 11: 23, 14: 73}),  # p* 0.00452 f* 1.1238
    # p* 0.00524 f* 1.1161 (start: 512x24)
    (512, 27): (26, {3: 292, 8: 62, 9: 30, 11: 23, 14: 72, 22: 5, 25: 2}),
    # p* 0.00597 f* 1.1121 (start: 512x24)
    (512, 30): (29, {3: 290, 7: 25, 8: 62, 9: 23, 14: 72, 18: 11}),
    # p* 0.00693 f* 1.1123 (start: 512x24)
    (512, 34): (33, {3: 287, 7: 2, 8: 62, 9: 34, 11: 23, 14: 33, 16: 33, 28: 5}),
    # p* 0.00808 f* 1.0947 (start: 512x44)
    (512, 38): (37, {3: 294, 5: 1, 8: 80, 10: 14, 11: 15, 18: 71}),
    # p* 0.00951 f* 1.0831 (start: 512x44)
    (512, 43): (42, {3: 291, 5: 1, 8: 79, 10: 14, 11: 15, 20: 51, 22: 19}),
    # p* 0.01093 f* 1.0785 (start: 512x44)
    (512, 48): (47, {3: 287, 5: 1, 8: 78, 10: 14, 11: 15, 20: 51, 25: 19}),
    # p* 0.01274 f* 1.0711 (start: 512x44)
    (512, 54): (53, {3: 284, 4: 3, 5: 1, 8: 77, 10: 14, 11: 15, 20: 37, 25: 18, 28: 10}),
    # p* 0.01494 f* 1.0635 (start: 512x72)
    (512, 61): (60, {3: 268, 4: 12, 6: 9, 8: 75, 10: 14, 11: 14, 20: 20, 28: 32, 36: 8}),
    # p* 0.01749 f* 1.0602 (start: 512x72)
    (512, 69): (68, {3: 275, 6: 9, 8: 74, 10: 14, 11: 14, 20: 19, 28: 31, 36: 8}),
    # p* 0.02041 f* 1.0600 (start: 512x72)
    (512, 78): (77, {3: 269, 6: 9, 8: 72, 10: 14, 11: 14, 20: 19, 28: 30, 36: 8}),
    # p* 0.02384 f* 1.0577 (start: 512x72)
    (512, 88): (87, {3: 263, 6: 9, 8: 70, 10: 14, 11: 13, 20: 18, 28: 30, 36: 8}),
    # p* 0.02809 f* 1.0575 (start: 512x104)
    (512, 100): (99, {3: 256, 6: 24, 8: 65, 11: 1, 20: 54, 32: 13}),
    # p* 0.03299 f* 1.0551 (start: 512x104)
    (512, 113): (112, {3: 248, 6: 23, 8: 63, 11: 1, 20: 52, 32: 13}),
    # p* 0.03875 f* 1.0570 (start: 512x148)
    (512, 128): (127, {3: 238, 6: 28, 8: 55, 11: 2, 20: 51, 22: 11}),
    # p* 0.04586 f* 1.0546 (start: 512x148)
    (512, 145): (144, {3: 228, 6: 27, 8: 53, 11: 2, 20: 48, 22: 10}),
    # p* 0.05432 f* 1.0521 (start: 512x148)
    (512, 164): (163, {3: 216, 6: 26, 8: 50, 11: 2, 20: 46, 22: 9}),
    # p* 0.06522 f* 1.0444 (start: 512x208)
    (512, 186): (185, {3: 202, 8: 60, 10: 11, 11: 2, 20: 41, 36: 11}),
    # p* 0.07773 f* 1.0407 (start: 512x208)
    (512, 210): (209, {3: 188, 8: 55, 10: 10, 20: 40, 36: 10}),
    # p* 0.09315 f* 1.0402 (start: 512x208)
    (512, 238): (237, {3: 170, 8: 51, 10: 9, 20: 36, 36: 9}),
    # p* 0.11347 f* 1.0334 (start: 512x272)
    (512, 270): (269, {3: 143, 8: 40, 10: 8, 11: 11, 20: 28, 32: 13}),
    # p* 0.14781 f* 1.0342 (start: 512x272)
    (512, 320): (319, {3: 114, 8: 31, 10: 6, 11: 9, 20: 23, 32: 10}),
}
