"""A slot-level decoy-BB84 link model for the pipeline tests: each party's blocks, nothing shared.

Alice's log follows the recording layout; Bob's detections are already mapped to slots (what
sifting hands the protocol). Detection per class ``1 - exp(-mu eta) + y0``, bit error
``e_mis`` in the matching basis, random bits for dark counts, and optional intercept-resend on
every pulse (QBER 25 %). Bob's slot numbering is Alice's minus ``offset``, which Alice must
find (sifting's offset search) on the first block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from postproc.pipeline.sifting import AliceBlock, BobRun


@dataclass
class Detections:
    """Duck-typed stand-in for sifting's BobDetections (what BobRun hands out)."""

    slot: np.ndarray
    basis: np.ndarray
    bit: np.ndarray
    double: np.ndarray
    stats: dict = field(default_factory=dict)

    def take(self, sel: slice) -> Detections:
        return Detections(self.slot[sel], self.basis[sel], self.bit[sel], self.double[sel])


def fake_link(
    n_blocks: int,
    block_slots: int,
    *,
    mu: tuple[float, ...] = (0.5, 0.1, 0.0),
    p_mu: tuple[float, ...] = (0.7, 0.2, 0.1),
    p_z: float = 0.8,
    eta: float = 0.4,
    y0: float = 1e-4,
    e_mis: float = 0.015,
    eve: bool = False,
    seed: int = 0,
    offset: int = 0,
) -> tuple[list[AliceBlock], BobRun]:
    """Alice's blocks and Bob's run (Bob's slot numbering is Alice's minus ``offset``)."""
    rng = np.random.default_rng(seed)
    alice, bob = [], []
    for b in range(n_blocks):
        n = block_slots
        bit = rng.integers(0, 2, n, dtype=np.uint8)
        basis = (rng.random(n) >= p_z).astype(np.uint8)
        cls = rng.choice(len(mu), n, p=p_mu).astype(np.uint8)
        alice.append(AliceBlock(b, b * n, bit | (basis << 1) | (cls << 2)))
        p_sig = 1.0 - np.exp(-np.asarray(mu)[cls] * eta)
        sig = rng.random(n) < p_sig
        dark = ~sig & (rng.random(n) < y0)
        det = np.nonzero(sig | dark)[0]
        b_basis = (rng.random(det.size) >= p_z).astype(np.uint8)
        a_bit, a_basis = bit[det], basis[det]
        if eve:
            e_basis = rng.integers(0, 2, det.size, dtype=np.uint8)
            e_bit = np.where(e_basis == a_basis, a_bit, rng.integers(0, 2, det.size))
            state_basis, state_bit = e_basis, e_bit
        else:
            state_basis, state_bit = a_basis, a_bit
        flip = (rng.random(det.size) < e_mis).astype(np.uint8)
        b_bit = np.where(
            b_basis == state_basis, state_bit ^ flip, rng.integers(0, 2, det.size)
        ).astype(np.uint8)
        is_dark = dark[det]
        b_bit[is_dark] = rng.integers(0, 2, int(is_dark.sum()), dtype=np.uint8)
        bob.append((det.astype(np.int64) + b * n - offset, b_basis, b_bit))
    slot, basis, bits = (np.concatenate(x) for x in zip(*bob, strict=True))
    return alice, BobRun(Detections(slot, basis, bits, np.zeros(slot.size, bool)))
