"""Checks of time order that report, never reorder: sources keep their own event order."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def backward_steps(t, last):
    """Count events earlier than their predecessor (``last`` precedes ``t[0]``).

    Returns ``(count, first_index)`` with ``first_index`` -1 when time never goes back.
    """
    n = 0
    first = -1
    prev = last
    for i in range(t.shape[0]):
        if t[i] < prev:
            n += 1
            if first < 0:
                first = i
        prev = t[i]
    return n, first


def check_order(t: np.ndarray, last: int) -> tuple[int, int]:
    """Python-friendly wrapper of :func:`backward_steps` for int64 arrays."""
    n, first = backward_steps(np.ascontiguousarray(t, np.int64), np.int64(last))
    return int(n), int(first)
