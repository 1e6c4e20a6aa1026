"""Cascade baseline: correctness and accounting."""

import numpy as np
import pytest

from postproc.infotheory import binary_entropy
from postproc.ledger import LeakageLedger
from postproc.reconcile.cascade import block_sizes, cascade


def test_block_sizes():
    assert block_sizes("original", 0.05, 10_000) == [15, 30, 60, 120]
    assert block_sizes("yan", 0.05, 10_000) == [16, 80] + [5000] * 8
    assert block_sizes("original", 0.0001, 100) == [100] * 4  # capped at n


@pytest.mark.parametrize("variant", ["original", "yan"])
@pytest.mark.parametrize("qber", [0.01, 0.05, 0.1])
def test_cascade_corrects_and_counts(variant, qber):
    rng = np.random.default_rng(int(qber * 100))
    n = 4096
    x = rng.integers(0, 2, n, dtype=np.uint8)
    e = (rng.random(n) < qber).astype(np.uint8)
    ledger = LeakageLedger()
    r = cascade(x, x ^ e, qber, rng, variant, ledger)
    assert r.residual_errors == int((r.corrected != x).sum())
    if variant == "yan":  # 10 passes leave no error at these sizes (Yan et al.)
        assert r.residual_errors == 0
    else:
        assert r.residual_errors <= 2
    assert ledger.entries == {"cascade_parity": r.parity_bits}
    # at least the Shannon bound, at most a loose multiple of it
    assert n * binary_entropy(e.mean()) <= r.parity_bits <= 1.6 * n * binary_entropy(qber) + 64
    assert r.round_trips >= len(block_sizes(variant, qber, n))


def test_cascade_without_errors_asks_only_block_parities():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, 1000, dtype=np.uint8)
    r = cascade(x, x.copy(), 0.05, rng, "original")
    assert r.residual_errors == 0
    assert r.round_trips == 4
    assert r.parity_bits == sum(-(-1000 // k) for k in block_sizes("original", 0.05, 1000))
