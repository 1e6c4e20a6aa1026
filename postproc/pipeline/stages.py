"""The pipeline's calls into the other stages, in one place: reconciliation, estimation, PA.

Each is imported when first used, so the protocol package itself does not depend on them.
"""

from __future__ import annotations

import types
from functools import lru_cache

import numpy as np

from postproc.pipeline.config import PipelineConfig


@lru_cache(maxsize=1)
def reconcile_api() -> types.SimpleNamespace:
    """Blind LDPC reconciliation party functions (postproc.reconcile.blind) and their config."""
    from postproc.reconcile import blind
    from postproc.reconcile.family import get_code

    return types.SimpleNamespace(
        config=blind.ReconcileConfig(),
        choose_layout=blind.choose_layout,
        alice_start=blind.alice_start,
        alice_reveal=blind.alice_reveal,
        alice_finish=blind.alice_finish,
        bob_start=blind.bob_start,
        bob_continue=blind.bob_continue,
        bob_finish=blind.bob_finish,
        SyndromeMsg=blind.SyndromeMsg,
        BobReply=blind.BobReply,
        RevealMsg=blind.RevealMsg,
        get_code=get_code,
    )


def finite_key_for(
    cfg: PipelineConfig,
    n_Z: list[int],
    m_Z: list[int],
    n_X: list[int],
    m_X: list[int],
    lambda_ec: int,
):  # -> postproc.estimate.FiniteKeyResult
    """The finite-key length from observed counts and the ledger total (never simulation truth)."""
    from postproc.estimate import finite_key

    return finite_key(
        cfg.protocol,
        list(cfg.mu),
        list(cfg.p_mu),
        n_Z,
        m_Z,
        n_X,
        m_X,
        cfg.eps_sec,
        cfg.eps_cor,
        float(lambda_ec),
        qber_max=cfg.qber_max,
    )


def toeplitz_seed(rng: np.random.Generator, n_bits: int, out_bits: int) -> np.ndarray:
    from postproc.amplify import toeplitz_seed as _seed

    return _seed(rng, n_bits, out_bits)


def amplify(key_packed: np.ndarray, n_bits: int, seed: np.ndarray, out_bits: int) -> np.ndarray:
    """Toeplitz privacy amplification (postproc.amplify, exact fast path)."""
    from postproc.amplify import toeplitz_hash

    return toeplitz_hash(key_packed, n_bits, seed, out_bits)


def simulate(sim_cfg, n_slots: int):  # -> Iterator[(alice log, Bob EventChunk, SimTruth)]
    """The link simulator (postproc.sim), chunk by chunk."""
    from postproc.sim import SimTruth
    from postproc.sim import simulate as _simulate

    truth = SimTruth()
    for chunk in _simulate(sim_cfg, n_slots, truth):
        yield chunk.alice, chunk.bob, truth


def open_store(path):  # -> postproc.keystore.KeyStore
    """One party's SQLite key store (postproc.keystore)."""
    from postproc.keystore import KeyStore

    return KeyStore(path)


def read_key(store, key_id: str) -> bytes | None:
    """The stored bytes of ``key_id`` without consuming it (None if absent)."""
    import uuid

    return store.peek(uuid.UUID(key_id))


def bob_blocks_from_events(events, meta: dict, block_slots: int):  # -> Iterator[BobBlock]
    """Bob's time tags -> slots (clock recovery, gating, detector map) by sifting, per block."""
    from postproc.sift.bob import bob_blocks

    return bob_blocks(events, meta, block_slots)
