"""The pipeline's calls into the other stages, in one place: reconciliation, estimation, PA.

Each is imported when first used, so the protocol package itself does not depend on them.
"""

from __future__ import annotations

import types
from functools import lru_cache

import numpy as np

from postproc.pipeline.config import PipelineConfig


@lru_cache(maxsize=8)
def reconcile_api(f_start: float | None = None, mode: str = "fast") -> types.SimpleNamespace:
    """Blind LDPC reconciliation party functions (postproc.reconcile.blind) and their config:
    ``mode`` "fast" = n32k codes with the 8-bit min-sum decoder (``decoder="fast"``: 3-5x the
    float min-sum per core and a slightly smaller f); "efficient" = bp32k codes with the
    sum-product decoder and finer reveal steps (the settings measured in the README)."""
    from postproc.reconcile import blind
    from postproc.reconcile.family import get_code

    preset: dict = {"decoder": "fast"}
    if mode == "efficient":
        preset = {"family": "bp32k", "decoder": "bp", "f_start": 1.06, "f_step": 0.015}
    if f_start is not None:
        preset["f_start"] = f_start
    config = blind.ReconcileConfig(**preset)
    return types.SimpleNamespace(
        config=config,
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


def snapshot_keys(path) -> dict:  # -> dict[uuid.UUID, bytes]
    """Every key in the store at ``path``, read from a private copy (the store is not consumed).

    The copy is made with SQLite's online backup into a 0700 temporary directory, opened with the
    key store's own API, emptied with ``take`` and deleted.
    """
    import os
    import sqlite3
    import tempfile
    from pathlib import Path

    from postproc.keystore import KeyStore

    with tempfile.TemporaryDirectory(prefix="qkdpp-keycmp-") as tmp:
        copy = Path(tmp) / "copy.sqlite"
        src, dst = sqlite3.connect(path), sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        os.chmod(copy, 0o600)
        store = KeyStore(copy)
        try:
            return {k: store.take(k).key for k in store.key_ids()}
        finally:
            store.close()


@lru_cache(maxsize=1)
def sift_api() -> types.SimpleNamespace:
    """Basis reconciliation messages and party functions (postproc.sift.bb84)."""
    from postproc.sift import bb84

    return types.SimpleNamespace(
        SiftAnnounce=bb84.SiftAnnounce,
        SiftReply=bb84.SiftReply,
        bob_announce=bb84.bob_announce,
        alice_answer=bb84.alice_answer,
        bob_sifted=bb84.bob_sifted,
    )


def first_offset(
    announce, alice_log: np.ndarray, log_start: int, intensities: list[float], max_offset: int
):  # -> postproc.sift.offset.OffsetResult
    """Sifting's offset search on the first block, handed only the part of Alice's log it reads.

    ``find_offset`` correlates windows of 2^20 of Bob's slots, from his first detection + R on,
    until 20 000 detections took part, against Alice's slots within R of them; it also derives
    the decoy weights from the class counts of the log it is given. Handing it the whole block
    (1e8 slots) made those counts the dominant cost of the first block; the slice below covers
    every slot the windows touch (the weights then come from that slice: a constant shift of the
    correlation, the same peak).
    """
    from postproc.sift.bb84 import decode_announce
    from postproc.sift.offset import find_offset

    window, min_det, max_windows = 1 << 20, 20_000, 32  # find_offset's defaults
    slots_b, _ = decode_announce(announce)
    if slots_b.size:
        lo = int(slots_b[0])
        if int(slots_b[-1]) - lo > 2 * max_offset + window:
            lo += max_offset
        i0 = int(np.searchsorted(slots_b, lo))
        k = min(i0 + min_det - 1, slots_b.size - 1)
        n_win = min(max_windows, max(1, (int(slots_b[k]) - lo) // window + 1))
        a0 = max(log_start, lo - max_offset)
        a1 = min(log_start + alice_log.shape[0], lo + n_win * window + max_offset)
        if a1 - a0 >= window:
            alice_log, log_start = alice_log[a0 - log_start : a1 - log_start], a0
    return find_offset(slots_b, alice_log, log_start, intensities, max_offset_slots=max_offset)


def bob_detections(meta: dict, chunks, seed: int | None):  # -> BobDetections
    """Bob's side of sifting over his whole run: clock recovery, gating, squashing."""
    from postproc.sift.run import SiftOptions
    from postproc.sift.run import bob_detections as _bob_detections

    det, clock = _bob_detections(meta, chunks, SiftOptions(seed=seed or 0), "bob")
    det.stats["period_ps"] = clock.period_ps
    det.stats["clock_segments"] = clock.n_blocks
    return det
