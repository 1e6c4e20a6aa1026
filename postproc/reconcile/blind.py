"""Blind, rate-adaptive syndrome reconciliation (Martinez-Mateo et al. 2012) between Alice and Bob.

Frame layout: a code of length n carries ``N = n - p - s`` key bits; ``p`` positions are punctured
(Alice fills them with fresh random bits and never sends them; untainted positions, see
:mod:`postproc.reconcile.construct`) and ``s`` are shortened (value 0, known to both). All frames of
one batch share the code and the layout, chosen by :func:`choose_layout` from a coarse QBER hint.
For the 8-bit decoder the shortened bits are whole block columns where possible
(``ReconcileConfig.short_columns``, :class:`SubCode`): a shortened bit has error 0, so Bob decodes
the code without those columns (same syndrome, fewer edges per iteration), exactly as if he had
pinned them on the full code; the messages only carry the positions of the full code.

Exchange (one batch; every message is a frozen dataclass, every step a pure party-side function):

1. Alice: :func:`alice_start` -> :class:`SyndromeMsg` (code, layout, packed syndromes).
2. Bob: :func:`bob_start` decodes every frame; he answers :class:`BobReply` with the per-frame
   success flags and, for each failed frame, the ``reveal`` positions he asks for: first the
   remaining punctured positions (last punctured first), then key bits chosen from his failed
   decoding (``ReconcileConfig.reveal``: by default the bits it decided against the channel,
   then the smallest ``|posterior|``); ``D`` bits per round for 9 rounds, then doubling
   (:meth:`Layout.reveal_after`). A round gives up after ``stall`` iterations without progress.
3. Alice: :func:`alice_reveal` -> :class:`RevealMsg` with the values at those positions.
4. Bob: :func:`bob_continue` pins the revealed bits and continues decoding the still failing
   frames from where their last round stopped (warm restart: the float decoder's messages and
   posteriors are kept, the revealed bits' channel LLRs are swapped for certainties; the 8-bit
   ``decoder="fast"`` pins them exactly, see :mod:`postproc.reconcile.decoder_fast`); back to 3
   until every frame decoded or ``max_rounds`` decoding rounds were made; the last
   :class:`BobReply` has ``final=True``. Frames that still fail are discarded by both parties
   (:func:`alice_finish`, :func:`bob_finish`) and counted, never passed on.

Leakage (added to the caller's :class:`~postproc.ledger.LeakageLedger` by both parties, so their
ledgers agree): ``syndrome`` = frames * (m - p) and ``revealed`` = every revealed bit. The syndrome
carries m bits, but with untainted puncturing the p punctured columns of H are independent, so p of
them are used up by Alice's fresh random punctured bits and only ``m - p`` concern the key
(Martinez-Mateo et al. 2012); a revealed punctured bit gives that bit back (+1). Shortened bits are
public constants (no leakage). Bob's success flags and requested positions are functions of the
error pattern only (min-sum is symmetric in the transmitted word: posterior magnitudes and
"decided against the channel" depend on the errors alone), not of Alice's key. The 8-bit decoder
decodes the error pattern itself (its integer ties would otherwise depend on the word; tested).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from functools import cached_property

import numba
import numpy as np
from numba import prange

from postproc.bits import pack_bits, unpack_bits
from postproc.errors import ConfigError, ProtocolError
from postproc.infotheory import binary_entropy
from postproc.ledger import LeakageLedger
from postproc.reconcile.decoder import (
    channel_llr,
    decode_layered_fixed,
    decode_minsum_warm,
    minsum_messages,
    quantize_llr,
)
from postproc.reconcile.decoder_bp import decode_bp_warm
from postproc.reconcile.decoder_fast import (
    FastState,
    decode_fast_warm,
    error_state_bits,
    fast_syndrome,
    hard_bits,
    pin_bits,
    reveal_pick,
)
from postproc.reconcile.family import DEFAULT_FAMILY, family_codes, get_code
from postproc.reconcile.qc import QCCode

# known bits (shortened, revealed) in the float decoder: far beyond any channel LLR
_KNOWN_LLR = 40.0
# reveal rounds of constant size before the reveal size starts doubling
FLAT_ROUNDS = 9


@dataclass(frozen=True)
class ReconcileConfig:
    """Parameters of the blind protocol (both parties must use the same ones)."""

    family: str = DEFAULT_FAMILY
    f_start: float = 1.15  # efficiency the first round aims at (rounds add reveals)
    # each reveal round adds this much to f (reveal size per frame). Measured on n32k, 100 frames
    # per point (f at 0.5 / 1 / 3 / 5 / 8 %): 0.03 with 9 flat rounds 1.386 / 1.348 / 1.241 /
    # 1.183 / 1.158, against 1.412 / 1.359 / 1.252 / 1.188 / 1.161 with 0.04 and 6 flat rounds,
    # for 10-20 % more iterations and 0-3 more round trips
    f_step: float = 0.03
    max_rounds: int = 16  # decoding rounds per frame, including the first
    flat_rounds: int = FLAT_ROUNDS  # reveal rounds of size D before the size doubles
    # at most this fraction of n punctured. Measured on n32k (README): revealing Bob's least
    # reliable key bits helps our min-sum decoder far more than puncturing + opening punctured
    # bits (f 1.33 vs 1.48 at QBER 1 %), so the default adapts the rate by shortening only;
    # 0.08 gives Martinez-Mateo's punctured-first blind protocol.
    max_punct_frac: float = 0.0
    # shorten whole block columns (Z bits each; the remainder < Z spread over the rest as
    # before) so that the 8-bit decoder runs on the sub-code without them (shortened bits have
    # error 0: H e = H_sub e_sub) instead of paying their edges every iteration. None = on for
    # decoder "fast" only: the other decoders keep their layout (and results) unless asked.
    short_columns: bool | None = None
    # with short_columns, where the first-round rate R* (see choose_layout) is >= this, take the
    # next higher-rate code and shorten more columns (None: never): the sparser sub-code decodes
    # better and costs less per key bit at high rate. Measured on n32k (fast, same process; f
    # and whole-exchange Mbit/s against the usual code): 1 % (two seeds, 1500 frames) f 1.288 /
    # 1.282 vs 1.296 / 1.294, +16 / +21 %; 2 % 1.250 / 1.251 vs 1.263 / 1.262, +9 / +10 %;
    # 0.8 % (1000) 1.309 vs 1.318, +9 %; 1.5 % 1.259 vs 1.273, +0 %; but 2.5 % +0.008, 3 %
    # +0.012, 5 % +0.013 in f. R* = 0.922 / 0.907 / 0.871 / 0.837 at 0.8 / 1 / 1.5 / 2 %,
    # 0.806 / 0.778 / 0.670 at 2.5 / 3 / 5 %.
    short_up_rate: float | None = 0.82
    max_iter: int = 60
    alpha: float = 0.875  # 7/8, the same factor as the fixed-point default
    # float decoder: give up a round after this many iterations without progress (3: half the
    # iterations of 12 at 3 % QBER, f +0.003; a warm restart keeps what the round found)
    stall: int = 3
    # "float" (min-sum float32), "fixed" (decode_layered_fixed), "bp" (layered sum-product,
    # decoder_bp; meant for the bp32k family, same warm restart as "float") or "fast" (8-bit
    # min-sum, decoder_fast: the fixed-point arithmetic with a warm restart and exact pins; Bob
    # decodes the error pattern, see _decode)
    decoder: str = "float"
    # float decoder: after a failed round keep the messages and posteriors and continue with the
    # revealed bits pinned (warm restart) instead of decoding from scratch
    warm: bool = True
    # which key bits Bob asks for after a failed round: "flipped" = the bits his decoding
    # flipped against the channel, then in index order; "posterior" = smallest |posterior|
    # (float decoder; the fixed one always uses "flipped"); "mixed" = flipped ones first, each
    # group by smallest |posterior|. Measured on n32k (100 frames, f): mixed 1.412 / 1.289 /
    # 1.188 at 0.5 / 2 / 5 %, flipped 1.443 / 1.288 / 1.190; posterior alone is worst at 1 %.
    reveal: str = "mixed"
    llr_scale: float = 4.0  # fixed point: channel LLR * llr_scale, rounded
    post_bits: int = 8
    msg_bits: int = 6
    # decoder "fast" (8-bit posteriors): its own quantisation, normalisation and stall (the
    # "fixed" fields above stay the Verilog decoder's). None = the defaults of fast_params:
    # scale 4, msg_bits 6, offset 1 for codes of rate >= 0.75, else 0.
    # Measured on n32k, 200 frames per point, f at 1 / 3 / 8 % with scale 4, msg_bits 6, no
    # offset: 1.315 / 1.230 / 1.168; msg_bits 5: 1.396 / 1.370 / 1.379; msg_bits 7: 1.354
    # (1 frame lost) / 1.229 / 1.163; scale 3 ~ 4; scale 6: 1.358 / 1.283 / 1.286; norm 3/4:
    # 1.303 / 1.234 / 1.229; 13/16: 1.303 / 1.224 / 1.197. Offset 1 vs 0: 0.5 % 1.348 vs 1.401,
    # 1 % 1.305 vs 1.315, 2 % 1.268 vs 1.278, 3 % 1.226 vs 1.230 (rates 0.81-0.95), but 5 %
    # 1.181 vs 1.177, 8 % 1.193 vs 1.168 (rates 0.70, 0.55). msg_bits 7 + scale 5 lowers f at
    # 8 / 11 % (1.162 / 1.153 against 1.169 / 1.157) but lost 10 of 1000 frames at 5 %
    # (msg_bits 6: 0 of the same 1000), and 1 of 200 at 1 %: not used.
    fast_scale: float | None = None
    fast_msg_bits: int | None = None
    fast_norm: tuple[int, int] = (7, 3)  # message = (min * num) >> shift
    # codes of rate < fast_low_rate use fast_norm_low instead (None: fast_norm everywhere).
    # Measured on n32k, 300 frames per point, f / iterations per frame, 7/8 -> 15/16: rate 0.46
    # (10 / 11 %) 1.167 / 48.2 -> 1.154 / 34.7, 1.156 / 41.3 -> 1.151 / 29.7; rate 0.55 (8 / 9 %)
    # 1.168 / 41.8 -> 1.165 / 38.0, 1.157 / 37.0 -> 1.156 / 34.8; but rate 0.63 (6 / 7 %)
    # 1.171 -> 1.184, 1.163 -> 1.175 and rate 0.70 (5 %) 1.179 -> 1.207. 29/32 lies between;
    # 13/16 and 27/32 are much worse at 8-11 % (f 1.18-1.20, 47-56 iterations).
    fast_norm_low: tuple[int, int] | None = (15, 4)
    fast_low_rate: float = 0.6
    fast_offset: int | None = None
    # give up a round after this many iterations without progress: 2 instead of 3 saves 10-25 %
    # of the iterations for f +0.002-0.004 (200 frames, 0.5-11 %)
    fast_stall: int = 2
    # from this decoding round on (None: never) a round gives up after fast_stall + 1: frames
    # still failing there are the hard ones. Measured at 0.5 % (rate 0.95), 3000 frames, two
    # seeds: None lost 1 of 3000 (f 1.3597 / 1.3578, 38.8 / 38.3 iterations per frame), 8 lost
    # none (f 1.3588 / 1.3565, 39.8 / 39.3); fast_stall 3 in every round also lost none but cost
    # 31 % more iterations (50.8); at 1 %: f 1.3075 vs 1.3078, 37.1 vs 37.0 iterations.
    fast_late_round: int | None = 8
    # per-round limits of the 8-bit decoder: entry r - 1 applies to decoding round r (rounds past
    # the end: fast_stall / fast_late_round and max_iter). Stall 0 = no stall stop. Measured on
    # n32k, 1000 frames, f / iterations per frame, stall 1 in rounds 1-5 instead of 2: 0.5 %
    # 1.360 / 40.1 -> 1.373 / 30.7, 1 % 1.304 / 36.9 -> 1.312 / 27.1, 2 % 1.268 / 37.5 -> 1.275
    # / 27.3 (300 frames, 3 % +0.005, 5 % +0.015): fast_hopeless below costs less f.
    fast_stall_rounds: tuple[int, ...] = ()
    fast_iter_rounds: tuple[int, ...] = ()
    # on codes of rate >= fast_hopeless_rate, a round of a frame that is very unlikely to
    # succeed stops after at most fast_hopeless_iter iterations: round one (at f_start these
    # codes never decode in round one: 0 of 200 frames at 0.5-4 %), and later rounds of frames
    # whose smallest odd-check count in their previous round was >= fast_hopeless times their
    # count at the first iteration (the syndrome weight estimates the errors left; at 0.5-3 %,
    # >= 0.7 was followed by a successful round in 0-2 % of the cases, >= 0.8 in 0 %). A
    # failed round's reveal picks are about as good after fewer iterations. None: off.
    # Measured on n32k, 1000 frames, f / iterations per frame, off -> 0.8 / 4: 0.5 % 1.359 /
    # 40.0 -> 1.357 / 35.9, 1 % 1.309 / 37.3 -> 1.309 / 32.8, 2 % 1.268 / 37.6 -> 1.269 / 32.3,
    # 3 % 1.226 / 37.4 -> 1.231 / 29.5, 4 % 1.215 / 38.1 -> 1.219 / 29.0; 0.7 / 4: 35.1 / 31.7 /
    # 29.9 / 26.5 / 25.8 iterations but f +0.006 / +0.001 / +0.003 / +0.007 / +0.007; 0.7 / 5:
    # 37.1 / 33.9 / 32.2 / 28.5 / 27.0, f +0.000 / +0.001 / +0.000 / +0.004 / +0.006.
    fast_hopeless: float | None = 0.8
    fast_hopeless_iter: int = 4
    fast_hopeless_rate: float = 0.75

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise ConfigError(f"max_rounds must be >= 1, got {self.max_rounds}")
        if self.reveal not in ("flipped", "posterior", "mixed"):
            raise ConfigError(f"reveal must be flipped/posterior/mixed, got {self.reveal!r}")
        if self.decoder not in ("float", "fixed", "bp", "fast"):
            raise ConfigError(
                f"decoder must be 'float', 'fixed', 'bp' or 'fast', got {self.decoder!r}")
        if self.fast_msg_bits is not None and not 2 <= self.fast_msg_bits <= 7:
            raise ConfigError(f"fast_msg_bits must lie in 2..7, got {self.fast_msg_bits}")
        if any(x < 0 for x in self.fast_stall_rounds) or any(
                x < 1 for x in self.fast_iter_rounds):
            raise ConfigError("fast_stall_rounds must be >= 0 and fast_iter_rounds >= 1")
        if not 0.0 < self.f_step < 1.0 or self.f_start <= 0.0:
            raise ConfigError("f_start must be > 0 and 0 < f_step < 1")


def fast_params(cfg: ReconcileConfig, code: QCCode) -> tuple[float, int, int]:
    """(LLR scale, msg_bits, offset) of the 8-bit decoder for ``code``: the ``cfg.fast_*``
    fields, or by code rate where they are None (see ReconcileConfig)."""
    scale = cfg.fast_scale if cfg.fast_scale is not None else 4.0
    bits = cfg.fast_msg_bits if cfg.fast_msg_bits is not None else 6
    off = cfg.fast_offset if cfg.fast_offset is not None else (1 if code.rate >= 0.75 else 0)
    return float(scale), int(bits), int(off)


def fast_norm_of(cfg: ReconcileConfig, code: QCCode) -> tuple[int, int]:
    """(norm_num, norm_shift) of the 8-bit decoder for ``code`` (see ReconcileConfig)."""
    if cfg.fast_norm_low is not None and code.rate < cfg.fast_low_rate:
        return int(cfg.fast_norm_low[0]), int(cfg.fast_norm_low[1])
    return int(cfg.fast_norm[0]), int(cfg.fast_norm[1])


def fast_round_limits(cfg: ReconcileConfig, rnd: int) -> tuple[int, int]:
    """(stall, max_iter) of the 8-bit decoder in decoding round ``rnd`` (1-based)."""
    sched = cfg.fast_stall_rounds
    if rnd <= len(sched):
        stall = sched[rnd - 1]
    else:
        late = cfg.fast_late_round is not None and rnd >= cfg.fast_late_round
        stall = cfg.fast_stall + late
    its = cfg.fast_iter_rounds
    return int(stall), int(its[rnd - 1] if rnd <= len(its) else cfg.max_iter)


@dataclass(frozen=True)
class Layout:
    """Where the key, punctured and shortened bits sit in a frame (derived, never sent)."""

    code: QCCode
    n_punct: int
    n_short: int
    reveal_size: int
    punct_pos: np.ndarray = field(repr=False)
    short_pos: np.ndarray = field(repr=False)
    key_pos: np.ndarray = field(repr=False)
    flat_rounds: int = FLAT_ROUNDS
    # block columns whose Z bits are all shortened (make_layout(short_columns=True)), increasing
    short_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)

    @property
    def n_key(self) -> int:
        return int(self.key_pos.size)

    @cached_property
    def sub(self) -> SubCode:
        """The code without the shortened block columns and the layout in its positions."""
        return sub_code(self)

    def reveal_after(self, rnd: int) -> int:
        """Bits revealed per failing frame after decoding round ``rnd`` (1-based): ``D`` for the
        first ``flat_rounds`` rounds, then doubling (``2D, 4D, ...``), so a few rounds step
        finely around the hint and the rest cover a badly wrong hint; capped so that at least
        half of the key bits stay unrevealed. Both parties compute it from the round number."""
        budget = self.n_punct + self.n_key // 2
        done = 0
        for r in range(1, rnd + 1):
            flat = self.flat_rounds
            nominal = self.reveal_size * (1 if r <= flat else 2 ** (r - flat))
            d = min(nominal, budget - done)
            done += d
        return max(d, 0)


@dataclass(frozen=True)
class SubCode:
    """A layout seen from the code with its shortened block columns removed (the same m checks;
    block column ``j`` of ``code`` is column ``cols[j]`` of the full code). A shortened bit has
    error 0, so ``H e = H_sub e_sub``: decoding the sub-code is decoding the full code with
    those bits pinned, without their edges. Positions map block-wise and increasingly, so
    orders (key order, "lowest position first" ties) are the same in both."""

    code: QCCode
    cols: np.ndarray  # int64 full block column of each sub block column
    key_pos: np.ndarray  # int64, in sub-code positions (same order as Layout.key_pos)
    short_pos: np.ndarray  # int64, the shortened bits left in the sub-code (pinned)
    punct_pos: np.ndarray  # int64
    identity: bool  # no column removed: positions are the full code's

    def to_full(self, pos: np.ndarray) -> np.ndarray:
        """Full-code positions of sub-code positions ``pos`` (any shape, same dtype)."""
        if self.identity:
            return pos
        Z = self.code.Z
        return (self.cols[pos // Z] * Z + pos % Z).astype(pos.dtype, copy=False)

    def to_sub(self, full: QCCode, pos: np.ndarray) -> np.ndarray:
        """Sub-code positions of full-code positions ``pos`` (none of them in a removed
        column)."""
        if self.identity:
            return pos
        Z = self.code.Z
        inv = np.full(full.nb, -1, dtype=np.int64)
        inv[self.cols] = np.arange(self.cols.size)
        j = inv[pos // Z]
        if pos.size and j.min() < 0:
            raise ValueError("to_sub: a position lies in a removed block column")
        return (j * Z + pos % Z).astype(pos.dtype, copy=False)


_SUB_CODES: dict[tuple[str, bytes], QCCode] = {}


def _sub_qc(code: QCCode, removed: np.ndarray, keep: np.ndarray) -> QCCode:
    """``code`` with only the block columns ``keep`` (the others: ``removed``): built once per
    (code, columns), never per frame (its layer tables are derived from it on every decoder
    call)."""
    key = (code.digest(), removed.astype(np.int64).tobytes())
    sub = _SUB_CODES.get(key)
    if sub is None:
        tag = hashlib.sha256(key[1]).hexdigest()[:8]
        sub = QCCode(name=f"{code.name}-x{removed.size}c{tag}", base=code.base[:, keep],
                     Z=code.Z, seed=code.seed)
        if len(_SUB_CODES) >= 64:
            _SUB_CODES.clear()
        _SUB_CODES[key] = sub
    return sub


def sub_code(layout: Layout, remove: bool = True) -> SubCode:
    """See :class:`SubCode` (use ``layout.sub``, cached per layout); ``remove=False``: the full
    code itself (every shortened bit pinned)."""
    code = layout.code
    if layout.short_cols.size == 0 or not remove:
        return SubCode(code, np.arange(code.nb, dtype=np.int64),
                       layout.key_pos.astype(np.int64), layout.short_pos.astype(np.int64),
                       layout.punct_pos.astype(np.int64), True)
    keep = np.setdiff1d(np.arange(code.nb), layout.short_cols).astype(np.int64)
    sub = _sub_qc(code, layout.short_cols, keep)
    view = SubCode(sub, keep, np.zeros(0, np.int64), np.zeros(0, np.int64),
                   np.zeros(0, np.int64), False)
    removed = np.zeros(code.n, dtype=bool)
    removed.reshape(code.nb, code.Z)[layout.short_cols] = True
    short_left = layout.short_pos[~removed[layout.short_pos]].astype(np.int64)
    return SubCode(sub, keep, view.to_sub(code, layout.key_pos.astype(np.int64)),
                   view.to_sub(code, short_left),
                   view.to_sub(code, layout.punct_pos.astype(np.int64)), False)


# which whole block columns make_layout(short_columns=True) shortens: "low" = the lowest-degree
# information columns first, "high" = the highest-degree first, "even" = spread evenly over
# all information columns (within a degree class the picks are spread evenly too), "bal" = the
# lowest degree first, keeping the sub-code's check degrees even. Measured on n32k, decoder
# "fast", 1000 frames (f, edge-iterations per frame vs the bit-spread layout): "bal" 1.349 vs
# 1.363 at 0.5 %, 1.297 vs 1.307 (-22 % edge-iterations) at 1 %, 1.262 vs 1.267 (-12 %) at 2 %,
# 1.216 vs 1.226 (-11 %) at 3 %, 1.177 vs 1.179 (-3 %) at 5 %, 1.166 vs 1.168 (+1 %) at 8 %,
# 1.160 vs 1.158 (-2 %) at 11 %; "low" about the same f (worse at 0.5 / 3 %), "even" worse,
# "high" much worse (1.338 at 1 %, 300 frames). Both parties must use the same rule.
SHORT_COLUMN_RULE = "bal"
# ... except where the layout's first-round rate is >= this ("even" there): at 0.5 % (rate
# 0.948) "bal" lost 1 of 6000 frames (4 of 6000 with proto4's iteration caps; they decode in
# round 17), "even" none (bit-spread: none, 1 undetected), f 1.362 vs 1.360 (bits 1.358)
SHORT_EVEN_RATE = 0.94


def _spread(items: np.ndarray, k: int) -> np.ndarray:
    """``k`` of ``items`` spread evenly (the first one included), in their order."""
    return items[np.floor(np.arange(k) * (items.size / max(k, 1))).astype(np.int64)]


def _short_columns(code: QCCode, punct: np.ndarray, k: int, rule: str) -> np.ndarray:
    """``k`` (at most) block columns to shorten whole: information columns (degree > 2: never
    the degree-2 staircase that carries the parity) holding no punctured bit."""
    deg = (code.base >= 0).sum(axis=0)
    has_p = np.zeros(code.nb, dtype=bool)
    has_p[np.unique(punct // code.Z)] = True
    cand = np.nonzero((deg > 2) & ~has_p)[0]
    k = min(k, cand.size)
    if k <= 0:
        return np.zeros(0, np.int64)

    if rule == "even":
        return np.sort(_spread(cand, k)).astype(np.int64)
    if rule == "bal":
        # lowest degree first; within a class, greedily the column whose checks have the most
        # edges left (the check degrees of the sub-code stay as even as possible)
        # (ties: the lowest column)
        rows = (code.base >= 0).astype(np.int64)
        rdeg = rows.sum(axis=1)
        left = np.ones(cand.size, dtype=bool)
        chosen = np.empty(k, dtype=np.int64)
        for t in range(k):
            dmin = deg[cand[left]].min()
            score = np.where(left & (deg[cand] == dmin), rdeg @ rows[:, cand], -1)
            best = int(np.argmax(score))  # first maximum: the lowest column
            chosen[t] = cand[best]
            left[best] = False
            rdeg -= rows[:, cand[best]]
        return np.sort(chosen)
    if rule not in ("low", "high"):
        raise ConfigError(f"short column rule must be low/high/even/bal, got {rule!r}")
    out: list[np.ndarray] = []
    for d in sorted(np.unique(deg[cand]), reverse=rule == "high"):
        cls = cand[deg[cand] == d]
        take = min(k, cls.size)
        out.append(_spread(cls, take))
        k -= take
        if k == 0:
            break
    return np.sort(np.concatenate(out)).astype(np.int64)


def make_layout(
    code: QCCode, n_punct: int, n_short: int, reveal_size: int, flat_rounds: int = FLAT_ROUNDS,
    short_columns: bool = False,
) -> Layout:
    """Punctured = first ``n_punct`` of the code's untainted order; shortened = ``n_short``
    positions spread evenly over the remaining ones; key = the rest, increasing.
    ``short_columns``: shorten ``n_short // Z`` whole information block columns
    (:data:`SHORT_COLUMN_RULE`, or "even" at first-round rates >= :data:`SHORT_EVEN_RATE`)
    and spread only the remainder."""
    if n_punct < 0 or n_short < 0 or n_punct > code.puncture_order.size:
        raise ProtocolError(
            f"layout: n_punct={n_punct} (max {code.puncture_order.size}), n_short={n_short}"
        )
    if n_punct + n_short >= code.n:
        raise ProtocolError(f"layout: n_punct + n_short = {n_punct + n_short} >= n = {code.n}")
    punct = np.sort(code.puncture_order[:n_punct])
    free = np.setdiff1d(np.arange(code.n), punct)
    cols = np.zeros(0, np.int64)
    if short_columns and n_short >= code.Z:
        r1 = (code.n - code.m - n_short) / (code.n - n_punct - n_short)  # first-round rate
        rule = "even" if r1 >= SHORT_EVEN_RATE else SHORT_COLUMN_RULE
        cols = _short_columns(code, punct, n_short // code.Z, rule)
    whole = (cols[:, None] * code.Z + np.arange(code.Z)).reshape(-1)
    if whole.size:
        free = np.setdiff1d(free, whole)
    rest = n_short - whole.size
    short = _spread(free, rest) if rest else np.zeros(0, np.int64)
    key = np.setdiff1d(free, short)
    if whole.size:
        short = np.sort(np.concatenate([whole, short]))
    return Layout(code, int(n_punct), int(n_short), int(reveal_size), punct, short, key,
                  int(flat_rounds), cols)


def uses_short_columns(cfg: ReconcileConfig) -> bool:
    """Whether :func:`choose_layout` shortens whole block columns for ``cfg``."""
    return cfg.decoder == "fast" if cfg.short_columns is None else bool(cfg.short_columns)


def choose_layout(qber_hint: float, cfg: ReconcileConfig) -> Layout:
    """Code and layout for a batch at (roughly) ``qber_hint``.

    Target first-round rate ``R* = 1 - f_start h(q)``. Reveal size per round
    ``D = f_step h(q) N``; we puncture ``p = min((max_rounds - 1) D, untainted set,
    max_punct_frac n)`` bits so that the reveal rounds have punctured bits to open, take the
    lowest-rate code that reaches ``R*`` with those ``p`` and shorten ``s`` bits to hit it:
    ``(R0 n - s) / (n - p - s) = R*``; with ``cfg.short_columns`` (default: for the 8-bit
    decoder) ``s // Z`` of them as whole block columns (:func:`make_layout`), and where
    ``R* >= cfg.short_up_rate`` the next higher-rate code, shortened further to the same ``R*``.
    """
    q = float(qber_hint)
    if not 0.0 < q < 0.5:
        raise ConfigError(f"qber_hint must lie in (0, 0.5), got {q}")
    h = float(binary_entropy(q))
    r_star = 1.0 - cfg.f_start * h
    codes = sorted(family_codes(cfg.family), key=lambda c: c.rate)
    cols = uses_short_columns(cfg)
    up = cols and cfg.short_up_rate is not None and r_star >= cfg.short_up_rate

    def fit(code: QCCode) -> tuple[int, float]:
        n, m = code.n, code.m
        d_est = int(np.ceil(cfg.f_step * h * n))
        p = int(min((cfg.max_rounds - 1) * d_est, code.puncture_order.size,
                    cfg.max_punct_frac * n))
        return p, (n - m - r_star * (n - p)) / (1.0 - r_star)

    for k, code in enumerate([*codes, codes[-1]]):
        p, s = fit(code)
        if s >= 0 or code is codes[-1]:
            if up and s >= 0 and k + 1 < len(codes):
                code = codes[k + 1]
                p, s = fit(code)
            n = code.n
            s = max(0, round(s))
            n_key = n - p - s
            reveal = max(1, int(np.ceil(cfg.f_step * h * n_key)))
            return make_layout(code, p, s, reveal, cfg.flat_rounds, cols)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class SyndromeMsg:
    """Alice -> Bob: the syndromes of a batch of frames and the layout to use."""

    code: str
    code_digest: str
    n_frames: int
    n_punct: int
    n_short: int
    reveal_size: int
    qber_hint: float
    syndromes: np.ndarray  # uint8, packed frames * m bits (frame-major)
    # the layout shortens whole block columns (make_layout(short_columns=True)): Bob derives
    # the same layout whatever his decoder
    short_columns: bool = False


@dataclass(frozen=True)
class BobReply:
    """Bob -> Alice: per-frame success after a decoding round, and reveal requests."""

    round: int
    final: bool
    ok: np.ndarray  # uint8 per frame (1 = decoded)
    frames: np.ndarray  # int32, frames asking for reveals
    positions: np.ndarray  # int32, Layout.reveal_after(round) per asking frame (frame-major)


@dataclass(frozen=True)
class RevealMsg:
    """Alice -> Bob: the values at the requested positions (packed, same order)."""

    round: int
    values: np.ndarray  # uint8 packed


@dataclass
class AliceState:
    layout: Layout
    frames: np.ndarray  # uint8 (frames x n): key + Alice's random punctured bits, shortened = 0
    revealed: np.ndarray  # bool (frames x n)
    round: int = 0
    done: bool = False
    ok: np.ndarray | None = None


@dataclass
class BobState:
    layout: Layout
    cfg: ReconcileConfig
    llr: np.ndarray | None  # float32 (frames x n), known bits at +-_KNOWN_LLR (None: "fast")
    synd: np.ndarray  # uint8 (frames x m)
    decoded: np.ndarray  # uint8 (frames x n); "fast": frames x 0 (decisions from its state)
    ok: np.ndarray  # bool (frames)
    revealed: np.ndarray  # bool (frames x dec.code.n): known bits, in the decoder's positions
    noisy: np.ndarray  # uint8 (frames x N): Bob's key bits as received
    pending: np.ndarray  # int32 frames awaiting reveal values
    pending_pos: np.ndarray  # int32 (len(pending) x reveal_size)
    post: np.ndarray | None = None  # float32 (frames x n) posteriors after the last round
    # the code the decoder runs on ("fast": without the shortened block columns) and the layout
    # in its positions (pending_pos and revealed use them)
    dec: SubCode | None = None
    msgs: np.ndarray | None = None  # float32 messages (warm restart), see decode_minsum_warm
    round: int = 1
    rounds_used: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    iterations: int = 0
    # decoder "fast": 8-bit state of the error-pattern decoding (decoder_fast.error_state_bits)
    # and the channel LLR magnitude of the key bits
    fast: FastState | None = None
    mag: float = 0.0
    decode_cpu: float = 0.0  # CPU seconds (all threads) inside the decoder, state build included
    # decoder "fast", per frame: odd-check count at the first iteration, and the smallest one in
    # the frame's last round (0: unknown); see ReconcileConfig.fast_hopeless
    fast_bad0: np.ndarray | None = None
    fast_bad: np.ndarray | None = None


def _ledger_syndrome(ledger: LeakageLedger, layout: Layout, n_frames: int) -> None:
    ledger.add("syndrome", n_frames * (layout.code.m - layout.n_punct))


def alice_start(
    key_frames: np.ndarray,
    qber_hint: float,
    rng: np.random.Generator,
    ledger: LeakageLedger,
    cfg: ReconcileConfig | None = None,
    layout: Layout | None = None,
) -> tuple[AliceState, SyndromeMsg]:
    """Alice's first step. ``key_frames``: uint8 0/1 (frames x N) with ``N = layout.n_key`` (use
    :func:`choose_layout` to learn N first); ``rng`` draws the punctured filler bits."""
    cfg = cfg or ReconcileConfig()
    layout = layout or choose_layout(qber_hint, cfg)
    k = np.asarray(key_frames, dtype=np.uint8)
    if k.ndim != 2 or k.shape[1] != layout.n_key:
        raise ProtocolError(f"key_frames: shape {k.shape}, expected (frames, {layout.n_key})")
    code = layout.code
    frames = np.zeros((k.shape[0], code.n), dtype=np.uint8)
    _scatter_key(np.ascontiguousarray(k), layout.key_pos.astype(np.int64), frames)
    frames[:, layout.punct_pos] = rng.integers(0, 2, (k.shape[0], layout.n_punct), dtype=np.uint8)
    synd = fast_syndrome(code, frames)  # == code.syndrome(frames) (tested), ~20x cheaper
    _ledger_syndrome(ledger, layout, k.shape[0])
    msg = SyndromeMsg(
        code=code.name,
        code_digest=code.digest(),
        n_frames=int(k.shape[0]),
        n_punct=layout.n_punct,
        n_short=layout.n_short,
        reveal_size=layout.reveal_size,
        qber_hint=float(qber_hint),
        syndromes=pack_bits(synd.reshape(-1)),
        short_columns=bool(layout.short_cols.size),
    )
    revealed = np.empty(frames.shape, dtype=bool)
    _known_mask(layout.short_pos.astype(np.int64), revealed)
    return AliceState(layout, frames, revealed), msg


def _fast_start(state: BobState, which: np.ndarray) -> None:
    """(Re)start the 8-bit decoder of frames ``which`` cold, in the error domain: Bob decodes
    e = x ^ y of his word y with the channel magnitude, syndrome s ^ H y and the known bits
    pinned. So all his decoder sees, ties of the integer arithmetic included, is a function of
    the error pattern (fixed-point min-sum treats an exact 0 as positive: decoding y itself
    would not be exactly symmetric in the codeword). Built from his bits: this path keeps no
    float LLRs."""
    cfg, lay, dec = state.cfg, state.layout, state.dec
    scale = fast_params(cfg, lay.code)[0]  # by the full code's rate
    if np.array_equal(which, np.arange(state.ok.size)):  # all frames: no fancy-index copies
        noisy, synd, known = state.noisy, state.synd, state.revealed
    else:
        noisy, synd, known = state.noisy[which], state.synd[which], state.revealed[which]
    # H e = H_sub e_sub: the removed columns are shortened (error 0), same syndrome
    sub = error_state_bits(dec.code, noisy, dec.key_pos, state.mag, scale, synd, known)
    if state.fast is None:
        if which.size != state.ok.size:
            raise ProtocolError("fast decoder: the first round must decode every frame")
        state.fast = sub
        return
    # cold restart: the revealed key bits again, with their values (pinned bits read as flip)
    rows, pos = np.nonzero(state.revealed[which])
    vals = state.fast.flip[which][rows, pos]
    for name in ("post", "floor", "msgs", "synd", "flip"):
        getattr(state.fast, name)[which] = getattr(sub, name)
    state.fast.n_pinned += sub.n_pinned
    pin_bits(state.fast, which[rows], pos, vals)


def _fast_round(state: BobState, which: np.ndarray, stall: int, max_iter: int,
                kw: dict) -> tuple[np.ndarray, np.ndarray]:
    """One decoding round of the 8-bit decoder on frames ``which``; frames judged hopeless
    (ReconcileConfig.fast_hopeless) get at most ``fast_hopeless_iter`` iterations. Records each
    frame's odd-check counts (a function of the error pattern only, like every input of Bob's
    requests)."""
    cfg, code = state.cfg, state.layout.code
    if state.fast_bad is None:
        state.fast_bad0 = np.zeros(state.ok.size, np.int64)
        state.fast_bad = np.zeros(state.ok.size, np.int64)
    capped = np.zeros(which.size, dtype=bool)
    if cfg.fast_hopeless is not None and code.rate >= cfg.fast_hopeless_rate:
        if state.round == 1:
            capped[:] = True
        else:
            b0, b = state.fast_bad0[which], state.fast_bad[which]
            capped = (b0 > 0) & (b >= cfg.fast_hopeless * b0)
    it = np.zeros(which.size, dtype=np.int32)
    ok = np.zeros(which.size, dtype=bool)
    top = np.iinfo(np.int32).max
    for sel, mi in ((capped, min(max_iter, cfg.fast_hopeless_iter)), (~capped, max_iter)):
        if not sel.any():
            continue
        fr = which[sel]
        tr = np.full((fr.size, mi), top, dtype=np.int32)  # written only with stall > 0
        _, it[sel], ok[sel] = decode_fast_warm(state.fast, max_iter=mi, trace=tr, frames=fr,
                                               **kw)
        mn = tr.min(axis=1)
        state.fast_bad[fr] = np.where(mn == top, 0, mn)
        if state.round == 1:
            state.fast_bad0[fr] = np.where(tr[:, 0] == top, 0, tr[:, 0])
    return it, ok


def _decode(state: BobState, which: np.ndarray) -> None:
    cfg, code = state.cfg, state.layout.code
    if cfg.decoder == "fast":
        if state.fast is None or not cfg.warm:
            _fast_start(state, np.asarray(which, dtype=np.int64))
        _, bits, off = fast_params(cfg, code)
        stall, max_iter = fast_round_limits(cfg, state.round)
        nn, ns = fast_norm_of(cfg, code)
        it, ok = _fast_round(state, np.asarray(which, dtype=np.int64), stall, max_iter, dict(
            msg_bits=bits, norm_num=nn, norm_shift=ns, offset=off, stall=stall,
            hard=False))  # decisions only for the kept frames, at the end (bob_finish)
        out = None
    elif cfg.decoder in ("float", "bp"):
        if state.msgs is None:
            state.post = state.llr.copy()
            state.msgs = minsum_messages(code, state.llr.shape[0])
        elif not cfg.warm:  # cold restart of the frames decoded again
            state.post[which] = state.llr[which]
            state.msgs[which] = 0.0
        # in place in the full arrays: each frame's messages stay for its next round
        if cfg.decoder == "bp":
            out, it, ok = decode_bp_warm(code, state.post, state.msgs, state.synd,
                                         max_iter=cfg.max_iter, stall=cfg.stall, frames=which)
        else:
            out, it, ok = decode_minsum_warm(code, state.post, state.msgs, state.synd,
                                             max_iter=cfg.max_iter, alpha=cfg.alpha,
                                             stall=cfg.stall, frames=which)
    else:
        # In the error domain, like "fast": the fixed-point decoder reads an exact 0 as bit 0,
        # so decoding Bob's word itself would make his reveal requests depend on Alice's key
        # through ties. Decoding e = x ^ y (|LLR|, syndrome s ^ H y) sees only the errors.
        llr = state.llr[which]
        y = (llr < 0).astype(np.uint8)
        ql = np.abs(quantize_llr(llr, cfg.llr_scale, cfg.post_bits))
        e, it, ok = decode_layered_fixed(
            code.base, code.Z, ql, state.synd[which] ^ code.syndrome(y),
            max_iter=cfg.max_iter, post_bits=cfg.post_bits, msg_bits=cfg.msg_bits,
        )
        out = e ^ y
    if cfg.decoder != "fast":
        state.decoded[which] = out
    state.ok[which] = ok
    state.rounds_used[which] = state.round
    state.iterations += int(it.sum())


def _timed_decode(state: BobState, which: np.ndarray) -> None:
    t0 = time.process_time()
    _decode(state, which)
    state.decode_cpu += time.process_time() - t0


@numba.njit(cache=True, parallel=True)
def _reveal_pick(post, llr, decoded, revealed, keyp, frames, mode, k, out) -> None:
    """``out[j]``: the ``k`` key positions of frame ``frames[j]`` with the smallest score, in
    increasing position (ties at the threshold: lowest positions). Known bits never. Scores:
    mode 0 "flipped": decided against the channel first, then index order; 1 "posterior":
    |posterior|; 2 "mixed": decided against the channel first, each group by |posterior|."""
    n_key = keyp.size
    for j in prange(frames.size):
        f = frames[j]
        score = np.empty(n_key, dtype=np.float64)
        for t in range(n_key):
            v = keyp[t]
            neg = llr[f, v] < 0
            if revealed[f, v]:
                score[t] = np.inf
            elif mode == 0:
                flip = (decoded[f, v] != 0) != neg
                score[t] = t - n_key if flip else t
            else:
                p = post[f, v]
                a = np.float64(abs(p))
                score[t] = a - 1e6 if mode == 2 and (p < 0) != neg else a
        # k-th smallest score: a threshold from every 16th score bounds a small candidate set
        # (all scores <= it); exact whenever that set holds at least k scores
        samp = score[::16].copy()
        ks = min(samp.size - 1, (2 * k) // 16 + 8)
        est = np.partition(samp, ks)[ks]
        n_c = 0
        for t in range(n_key):
            n_c += score[t] <= est
        if n_c >= k:
            cand = np.empty(n_c, dtype=np.float64)
            c = 0
            for t in range(n_key):
                if score[t] <= est:
                    cand[c] = score[t]
                    c += 1
            thr = np.partition(cand, k - 1)[k - 1]
        else:
            thr = np.partition(score.copy(), k - 1)[k - 1]
        below = 0
        for t in range(n_key):
            below += score[t] < thr
        ties = k - below
        c = 0
        for t in range(n_key):
            x = score[t]
            if x < thr or (x == thr and ties > 0):
                if x == thr:
                    ties -= 1
                out[j, c] = keyp[t]
                c += 1


_REVEAL_MODES = {"flipped": 0, "posterior": 1, "mixed": 2}


# Scatter/gather of key bits between (frames x N) and (frames x n) arrays in one pass per frame:
# numpy's fancy column indexing of 1000 x 32768 arrays cost as much as a few decoder iterations.
@numba.njit(cache=True, parallel=True)
def _scatter_key(src, keyp, dst) -> None:
    for f in prange(src.shape[0]):
        d = dst[f]
        s = src[f]
        for t in range(keyp.size):
            d[keyp[t]] = s[t]


@numba.njit(cache=True, parallel=True)
def _gather_key(src, rows, keyp, dst) -> None:
    for j in prange(rows.size):
        d = dst[j]
        s = src[rows[j]]
        for t in range(keyp.size):
            d[t] = s[keyp[t]]


@numba.njit(cache=True, parallel=True)
def _count_errors(key, noisy, kept, out) -> None:
    """``out[j]``: bits where ``key[j]`` differs from ``noisy[kept[j]]`` (no frames x N
    temporaries: fresh pages cost more here than the count)."""
    for j in prange(kept.size):
        kj = key[j]
        nj = noisy[kept[j]]
        c = 0
        for t in range(kj.size):
            c += kj[t] != nj[t]
        out[j] = c


@numba.njit(cache=True, parallel=True)
def _known_mask(shortp, revealed) -> None:
    """Alice's known-bit mask: the shortened positions, in one pass per frame."""
    for f in prange(revealed.shape[0]):
        rf = revealed[f]
        for v in range(rf.size):
            rf[v] = False
        for t in range(shortp.size):
            rf[shortp[t]] = True


@numba.njit(cache=True)
def _take_reveals(revealed, bits, frames, pos, d, vals) -> bool:
    """Mark the requested bits (``d`` positions per frame of ``frames``) known and read their
    values; False, with ``revealed`` unchanged, if one is already known or asked twice."""
    for t in range(pos.size):
        f = frames[t // d]
        if revealed[f, pos[t]]:
            for u in range(t):  # undo: they were all unknown
                revealed[frames[u // d], pos[u]] = False
            return False
        revealed[f, pos[t]] = True
        vals[t] = bits[f, pos[t]]
    return True


@numba.njit(cache=True, parallel=True)
def _bob_llr(y, keyp, shortp, mag, llr, revealed) -> None:
    """Bob's channel LLRs (``channel_llr`` at the key bits, known at the shortened ones, 0 at the
    punctured ones) and the known-bit mask, written once per frame."""
    with_llr = llr.shape[1] > 0  # (frames x 0: the known-bit mask only)
    for f in prange(y.shape[0]):
        lf = llr[f]
        rf = revealed[f]
        yf = y[f]
        for v in range(rf.size):
            rf[v] = False
        for v in range(lf.size):
            lf[v] = 0.0
        if with_llr:
            for t in range(keyp.size):
                lf[keyp[t]] = -mag if yf[t] != 0 else mag
            for t in range(shortp.size):
                lf[shortp[t]] = _KNOWN_LLR
        for t in range(shortp.size):
            rf[shortp[t]] = True


def _key_reveals(state: BobState, frames: np.ndarray, k: int) -> np.ndarray:
    """``k`` not yet known key positions per frame (rows, increasing) that Bob asks for after a
    failed round, by the rule ``cfg.reveal`` (the fixed-point path has no posterior: flipped)."""
    if state.fast is not None:  # the same rules on the int8 posteriors of the error pattern
        return reveal_pick(state.fast, state.revealed, state.dec.key_pos, frames,
                           _REVEAL_MODES[state.cfg.reveal], k)
    mode = _REVEAL_MODES[state.cfg.reveal] if state.post is not None else 0
    post = state.post if state.post is not None else state.llr
    out = np.empty((frames.size, k), dtype=np.int32)
    _reveal_pick(post, state.llr, state.decoded, state.revealed, state.layout.key_pos,
                 frames.astype(np.int64), mode, int(k), out)
    return out


def _reply(state: BobState) -> BobReply:
    failed = np.nonzero(~state.ok)[0].astype(np.int32)
    d = state.layout.reveal_after(state.round)
    final = failed.size == 0 or state.round >= state.cfg.max_rounds or d == 0
    if final:
        state.pending = np.zeros(0, np.int32)
        return BobReply(state.round, True, state.ok.astype(np.uint8), state.pending,
                        np.zeros(0, np.int32))
    lay = state.layout
    pos = np.empty((failed.size, d), dtype=np.int32)
    # punctured positions first (last punctured first), then key bits
    punct_rev = state.dec.punct_pos[::-1]
    n_p = np.zeros(failed.size, dtype=np.int64)
    for row, f in enumerate(failed) if lay.n_punct else ():
        open_p = punct_rev[~state.revealed[f, punct_rev]][:d]
        pos[row, : open_p.size] = open_p
        n_p[row] = open_p.size
    for np_k in np.unique(n_p):
        sel = np.nonzero(n_p == np_k)[0]
        if np_k < d:
            pos[sel, np_k:] = _key_reveals(state, failed[sel], d - int(np_k))
    state.pending = failed
    state.pending_pos = pos
    return BobReply(state.round, False, state.ok.astype(np.uint8), failed,
                    state.dec.to_full(pos.reshape(-1)))


def bob_start(
    msg: SyndromeMsg,
    bob_frames: np.ndarray,
    ledger: LeakageLedger,
    cfg: ReconcileConfig | None = None,
) -> tuple[BobState, BobReply]:
    """Bob's first step: ``bob_frames`` uint8 (frames x N) are his noisy key bits."""
    cfg = cfg or ReconcileConfig()
    code = get_code(msg.code)
    if code.digest() != msg.code_digest:
        raise ProtocolError(f"code {msg.code}: digest {code.digest()} != sent {msg.code_digest}")
    layout = make_layout(code, msg.n_punct, msg.n_short, msg.reveal_size, cfg.flat_rounds,
                         msg.short_columns)
    # the 8-bit decoder runs on the code without the shortened block columns; Bob's known-bit
    # mask, reveal picks and pins are in its positions (requests are mapped back in _reply)
    dec = layout.sub if cfg.decoder == "fast" else sub_code(layout, remove=False)
    y = np.asarray(bob_frames, dtype=np.uint8)
    if y.shape != (msg.n_frames, layout.n_key):
        raise ProtocolError(f"bob_frames: shape {y.shape}, expected ({msg.n_frames}, "
                            f"{layout.n_key})")
    synd = unpack_bits(msg.syndromes, msg.n_frames * code.m).reshape(msg.n_frames, code.m)
    _ledger_syndrome(ledger, layout, msg.n_frames)
    mag = channel_llr(np.zeros(1, np.uint8), msg.qber_hint)[0]  # the same float32 value
    revealed = np.empty((msg.n_frames, dec.code.n), dtype=bool)
    # the 8-bit decoder starts from Bob's bits (no frames x n float LLRs): an empty llr here
    llr = np.empty((msg.n_frames, 0 if cfg.decoder == "fast" else code.n), dtype=np.float32)
    _bob_llr(np.ascontiguousarray(y), dec.key_pos, dec.short_pos, mag, llr, revealed)
    state = BobState(
        layout=layout, cfg=cfg, llr=llr, synd=synd,
        decoded=np.zeros((msg.n_frames, 0) if cfg.decoder == "fast" else revealed.shape,
                         np.uint8), ok=np.zeros(msg.n_frames, bool),
        revealed=revealed, noisy=y.copy(), pending=np.zeros(0, np.int32),
        pending_pos=np.zeros((0, 0), np.int32),
        rounds_used=np.zeros(msg.n_frames, np.int32), mag=float(mag), dec=dec,
    )
    if cfg.decoder == "fast":
        state.llr = None
    _timed_decode(state, np.arange(msg.n_frames))
    return state, _reply(state)


def alice_reveal(
    state: AliceState, reply: BobReply, ledger: LeakageLedger
) -> RevealMsg | None:
    """Alice answers a reveal request (None once Bob's reply is final)."""
    if reply.round != state.round + 1:
        raise ProtocolError(f"BobReply.round: got {reply.round}, expected {state.round + 1}")
    # validate everything before touching the state: a rejected reply leaves Alice as she was
    ok = np.asarray(reply.ok, dtype=bool)
    if ok.shape != (state.frames.shape[0],):
        raise ProtocolError(f"BobReply.ok: {ok.shape[0]} flags for "
                            f"{state.frames.shape[0]} frames")
    if reply.final:
        state.round, state.ok, state.done = reply.round, ok, True
        return None
    d = state.layout.reveal_after(reply.round)
    frames = np.asarray(reply.frames, dtype=np.int64)
    pos = np.asarray(reply.positions, dtype=np.int64)
    if pos.size != frames.size * d:
        raise ProtocolError(f"BobReply.positions: {pos.size} != {frames.size} frames * {d}")
    if frames.size and (frames.min() < 0 or frames.max() >= state.frames.shape[0]):
        raise ProtocolError("BobReply.frames: frame index out of range")
    if pos.size and (pos.min() < 0 or pos.max() >= state.layout.code.n):
        raise ProtocolError("BobReply.positions: bit position out of range")
    vals = np.empty(pos.size, dtype=np.uint8)
    if not _take_reveals(state.revealed, state.frames, frames, pos, d, vals):
        raise ProtocolError("BobReply.positions: a requested bit is already known or repeated")
    state.round, state.ok = reply.round, ok
    ledger.add("revealed", int(pos.size))
    return RevealMsg(reply.round, pack_bits(vals))


def bob_continue(
    state: BobState, msg: RevealMsg, ledger: LeakageLedger
) -> BobReply:
    """Bob takes the revealed values, re-decodes the frames that asked, and replies."""
    if msg.round != state.round:
        raise ProtocolError(f"RevealMsg.round: got {msg.round}, expected {state.round}")
    d = state.pending_pos.shape[1]
    rows = np.repeat(state.pending.astype(np.int64), d)
    pos = state.pending_pos.reshape(-1).astype(np.int64)
    vals = unpack_bits(msg.values, pos.size)
    ledger.add("revealed", int(pos.size))
    state.revealed[rows, pos] = True
    if state.llr is not None:
        known = np.where(vals != 0, -_KNOWN_LLR, _KNOWN_LLR).astype(np.float32)
        if state.post is not None:
            # posterior = channel + messages: swap the channel part of the revealed bits
            state.post[rows, pos] += known - state.llr[rows, pos]
        state.llr[rows, pos] = known
    if state.fast is not None:  # pinned for good
        pin_bits(state.fast, rows, pos, vals)
    state.round += 1
    _timed_decode(state, state.pending.astype(np.int64))
    return _reply(state)


@dataclass(frozen=True)
class ReconcileResult:
    """One party's outcome: the kept frames' key bits and the counts."""

    key: np.ndarray  # uint8 (kept frames x N)
    kept: np.ndarray  # int64 indices of kept frames
    n_frames: int
    n_failed: int
    rounds: np.ndarray  # int32 decoding rounds per frame (Bob's side; empty for Alice)
    errors: np.ndarray  # int64 errors Bob corrected per kept frame (Bob's side; empty for Alice)
    iterations: int = 0  # decoder iterations over all frames and rounds (Bob's side)
    decode_cpu: float = 0.0  # CPU seconds in the decoder over all rounds (Bob's side)

    @property
    def observed_qber(self) -> float:
        """Error rate Bob corrected on the kept frames: the QBER hint for the next batch (Bob's
        side; it depends only on the error pattern, so he may send it to Alice)."""
        bits = self.key.size
        return float(self.errors.sum() / bits) if bits and self.errors.size else float("nan")


def alice_finish(state: AliceState) -> ReconcileResult:
    if not state.done or state.ok is None:
        raise ProtocolError("alice_finish: Bob's final reply has not been received")
    kept = np.nonzero(state.ok)[0]
    key = np.empty((kept.size, state.layout.n_key), dtype=np.uint8)
    _gather_key(state.frames, kept, state.layout.key_pos.astype(np.int64), key)
    return ReconcileResult(key, kept, state.frames.shape[0], int((~state.ok).sum()),
                           np.zeros(0, np.int32), np.zeros(0, np.int64))


def bob_finish(state: BobState) -> ReconcileResult:
    kept = np.nonzero(state.ok)[0]
    if state.fast is not None:  # a kept frame's state is that of its converged round
        key = hard_bits(state.fast, kept, state.dec.key_pos)
    else:
        key = np.empty((kept.size, state.layout.n_key), dtype=np.uint8)
        _gather_key(state.decoded, kept, state.layout.key_pos.astype(np.int64), key)
    errors = np.empty(kept.size, dtype=np.int64)
    _count_errors(key, state.noisy, kept, errors)
    return ReconcileResult(key, kept, state.ok.size, int((~state.ok).sum()),
                           state.rounds_used.copy(), errors, state.iterations, state.decode_cpu)


def reconcile_local(
    alice_keys: np.ndarray,
    bob_keys: np.ndarray,
    qber_hint: float,
    rng: np.random.Generator,
    cfg: ReconcileConfig | None = None,
    layout: Layout | None = None,
) -> tuple[ReconcileResult, ReconcileResult, LeakageLedger, LeakageLedger, int]:
    """Run the whole exchange in-process (tests, benchmarks). Returns both results, both ledgers
    and the number of messages exchanged."""
    cfg = cfg or ReconcileConfig()
    la, lb = LeakageLedger(), LeakageLedger()
    a_state, msg = alice_start(alice_keys, qber_hint, rng, la, cfg, layout)
    b_state, reply = bob_start(msg, bob_keys, lb, cfg)
    n_msgs = 2
    while True:
        rev = alice_reveal(a_state, reply, la)
        if rev is None:
            break
        reply = bob_continue(b_state, rev, lb)
        n_msgs += 2
    return alice_finish(a_state), bob_finish(b_state), la, lb, n_msgs
