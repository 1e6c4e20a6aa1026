"""Messages of the pipeline's own steps (session set-up, block framing, error counts, PA).

Sifting, reconciliation and verification messages are defined by their stages; all are registered
with the codec (type ids: 1-19 protocol, 20-39 pipeline, 40-59 sifting, 60-79 reconciliation).
"""

# Field names follow the papers' notation (n_Z, m_X, ...).
# ruff: noqa: N815

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from postproc.protocol.codec import message, register_lazy

PIPELINE_VERSION = 1


@message(20)
@dataclass(frozen=True)
class Hello:
    """Alice -> Bob at session start: the parameters both sides must share."""

    version: int
    protocol: str
    mu: list[float]
    p_mu: list[float]
    eps_sec: float
    eps_cor: float
    qber_max: float
    block_slots: int
    auth_replenish_bytes: int
    reconcile_mode: str


@message(21)
@dataclass(frozen=True)
class HelloAck:
    accepted: bool
    reason: str


@message(22)
@dataclass(frozen=True)
class BlockStart:
    """Alice -> Bob: process slots [first_slot, first_slot + n_slots) as block ``block``."""

    block: int
    first_slot: int
    n_slots: int


@message(23)
@dataclass(frozen=True)
class EndOfSession:
    blocks: int


@message(24)
@dataclass(frozen=True)
class XBits:
    """Bob -> Alice: all his sifted X-basis bits (packed); they are never key."""

    block: int
    n_bits: int
    bits: np.ndarray  # uint8 packed


@message(25)
@dataclass(frozen=True)
class XErrors:
    """Alice -> Bob: X-basis errors per intensity class."""

    block: int
    m_X: list[int]


@message(26)
@dataclass(frozen=True)
class ZErrors:
    """Bob -> Alice: Z-basis errors per intensity class in the frames that decoded."""

    block: int
    m_Z: list[int]


@message(27)
@dataclass(frozen=True)
class Amplify:
    """Alice -> Bob: final length, Toeplitz seed (n + l - 1 bits) and the key id to store under."""

    block: int
    key_length: int
    seed: np.ndarray  # uint8 packed
    key_id: str


@message(29)
@dataclass(frozen=True)
class KeySync:
    """Alice -> Bob: the key ids Alice holds but has not stored (``final``: the session ends)."""

    block: int
    key_ids: list[str]
    final: bool


@message(30)
@dataclass(frozen=True)
class KeySyncAck:
    """Bob -> Alice: which of the listed keys Bob holds; he has stored them and dropped the rest."""

    block: int
    held: list[str]


# Sifting's and reconciliation's messages, registered by name and imported on first use.
register_lazy(40, "postproc.sift.bb84:SiftAnnounce")
register_lazy(41, "postproc.sift.bb84:SiftReply")
register_lazy(60, "postproc.reconcile.blind:SyndromeMsg")
register_lazy(61, "postproc.reconcile.blind:BobReply")
register_lazy(62, "postproc.reconcile.blind:RevealMsg")
