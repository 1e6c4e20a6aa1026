"""Observed decoy-state counts per basis and intensity from sifted per-detection arrays.

Alice's modulation log has one byte per slot: bit0 = bit value, bit1 = basis (0 = Z, 1 = X),
bits2-3 = intensity class (0 = mu1 signal, 1 = mu2 decoy, 2 = mu3 vacuum/weak). After sifting,
each kept detection has Alice's byte and Bob's bit; an error is Alice's bit != Bob's bit. X-basis
errors are known once the X bits are disclosed; Z-basis errors per intensity once error
correction has run (the one-decoy bound needs them; the two-decoy bound only needs n_Z).
"""

# Field names follow the papers' notation (n_Z, m_X, ...).
# ruff: noqa: N815

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from postproc.errors import ConfigError

BASIS_Z, BASIS_X = 0, 1


@dataclass(frozen=True)
class DecoyCounts:
    """Detections n and errors m per intensity (index = intensity class), per basis."""

    n_Z: list[int]
    m_Z: list[int]
    n_X: list[int]
    m_X: list[int]

    def as_dict(self) -> dict[str, list[int]]:
        return asdict(self)


def _as_int_array(name: str, a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ConfigError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise ConfigError(f"{name}: expected integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def tally(basis, intensity, error, n_intensities: int) -> DecoyCounts:
    """Count detections and errors per (basis, intensity) of sifted events.

    ``basis`` (0 = Z, 1 = X), ``intensity`` (0 .. n_intensities-1) and ``error`` (0/1) are equal
    length 1-D integer or bool arrays, one entry per sifted detection.
    """
    if n_intensities not in (2, 3):
        raise ConfigError(f"n_intensities: expected 2 or 3, got {n_intensities!r}")
    b = _as_int_array("basis", basis)
    k = _as_int_array("intensity", intensity)
    e = _as_int_array("error", error)
    if not (b.size == k.size == e.size):
        raise ConfigError(
            f"basis/intensity/error: lengths differ ({b.size}, {k.size}, {e.size})"
        )
    for name, arr, hi in (("basis", b, 1), ("intensity", k, n_intensities - 1), ("error", e, 1)):
        if arr.size and (arr.min() < 0 or arr.max() > hi):
            bad = int(np.flatnonzero((arr < 0) | (arr > hi))[0])
            raise ConfigError(f"{name}[{bad}]: value {int(arr[bad])} outside 0..{hi}")
    idx = b * n_intensities + k
    n = np.bincount(idx, minlength=2 * n_intensities)
    m = np.bincount(idx, weights=e, minlength=2 * n_intensities).astype(np.int64)
    z, x = slice(0, n_intensities), slice(n_intensities, 2 * n_intensities)
    return DecoyCounts(n_Z=n[z].tolist(), m_Z=m[z].tolist(), n_X=n[x].tolist(),
                       m_X=m[x].tolist())


def tally_alice_log(alice_log, bob_bits, n_intensities: int) -> DecoyCounts:
    """Counts from the Alice log bytes of the sifted detections and Bob's bits for them."""
    log = _as_int_array("alice_log", alice_log)
    bob = _as_int_array("bob_bits", bob_bits)
    if log.size != bob.size:
        raise ConfigError(f"alice_log/bob_bits: lengths differ ({log.size}, {bob.size})")
    if log.size and (log.min() < 0 or log.max() > 0x0F):
        bad = int(np.flatnonzero((log < 0) | (log > 0x0F))[0])
        raise ConfigError(f"alice_log[{bad}]: byte {int(log[bad]):#04x} has bits 4-7 set")
    return tally((log >> 1) & 1, (log >> 2) & 3, (log & 1) ^ bob, n_intensities)
