"""Alice and Bob: two state machines that share nothing but authenticated messages.

Per block (Alice drives; every arrow is one authenticated message)::

    A -> B  KeySync(pending key ids)          B -> A  KeySyncAck(held ids)   (see below)
    A -> B  BlockStart(slots)                 B -> A  SiftAnnounce(slots, bases)
    A -> B  SiftReply(keep, classes)          B -> A  XBits (all sifted X bits, never key)
    A -> B  XErrors(m_X per class)            -- abort here if QBER_X > qber_max --
    A -> B  SyndromeMsg                       B -> A  BobReply   (blind rounds: RevealMsg/BobReply)
    B -> A  ZErrors(m_Z per class, decoded frames)
    A -> B  VerifyRequest(seed, tag)          B -> A  VerifyResult(ok)
    both    finite_key(observed counts, lambda_EC = ledger total)
    A -> B  Amplify(l, Toeplitz seed, key id)
    both    the final key is held as pending (neither stored nor used for authentication yet)

Key sync (two generals). The last message of a block can be lost, refused or cut off by a
reconnect after one side has its key, so a key is not stored when it is made. At the start of
every block and at the end of the session Alice lists the ids of her pending keys (she holds a
key once hashed, right after sending Amplify); Bob stores those of them he holds, drops his other
pending keys (Alice cannot have them) and answers which ids he holds (stored now or earlier); Alice
stores those and drops the others. Bob can only hold keys Alice listed, and Alice stores only keys
Bob has stored, so after any lost, duplicated, reordered or refused message the stores hold the
same ids; an unanswered sync leaves Alice's keys pending for the next one. Storing a key means:
its first ``auth_replenish`` bits are appended to the authentication pads, the rest goes to the key
store; both sides do this in block order, so their pad streams stay identical.

Each side keeps its own :class:`~postproc.ledger.LeakageLedger`; they count the same disclosed
bits (syndromes, revealed bits, verification tag and outcome), so the key length both compute is
the same, and Bob checks it against Alice's. Any :class:`ProtocolError` (tampering, replay, loss,
inconsistency) aborts the block: the side that saw it sends an ``Abort`` and both continue with the
next block. Nothing but the messages passes between the parties.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from postproc.bits import pack_bits, unpack_bits
from postproc.errors import BlockAbortedError, ProtocolError, QkdppError
from postproc.infotheory import binary_entropy
from postproc.ledger import LeakageLedger
from postproc.pipeline import messages as pm
from postproc.pipeline import sifting
from postproc.pipeline.config import PipelineConfig
from postproc.pipeline.report import BOUND_FIELDS, BlockReport, SessionReport
from postproc.pipeline.stages import (
    amplify,
    finite_key_for,
    first_offset,
    reconcile_api,
    sift_api,
    toeplitz_seed,
)
from postproc.protocol import verify
from postproc.protocol.auth import AuthenticatedChannel, AuthenticationError, AuthKeyExhaustedError
from postproc.protocol.channel import ChannelClosedError, ChannelTimeoutError

QBER_HINT_MIN, QBER_HINT_MAX, QBER_HINT_DEFAULT = 0.005, 0.2, 0.02
BlockCallback = Callable[[BlockReport], None]


class _AbortError(Exception):
    """A block abort decided by this side's own computation (``notify``: tell the peer)."""

    def __init__(self, reason: str, notify: bool) -> None:
        super().__init__(reason)
        self.notify = notify


@contextmanager
def _timed(
    rep: BlockReport, stage: str, chan: AuthenticatedChannel | None = None
) -> Iterator[None]:
    """Wall time of a stage in ``rep.timings``; with ``chan``, the part of it spent waiting for
    the peer in ``rep.waits`` (the stage's own work is the difference)."""
    t0 = time.perf_counter()
    w0 = chan.stats.wait_s if chan is not None else 0.0
    try:
        yield
    finally:
        rep.timings[stage] = rep.timings.get(stage, 0.0) + time.perf_counter() - t0
        if chan is not None:
            rep.waits[stage] = rep.waits.get(stage, 0.0) + chan.stats.wait_s - w0


def _qber(n: list[int], m: list[int]) -> float | None:
    return sum(m) / sum(n) if sum(n) else None


def _hint(prev_qber_z: float | None, qber_x: float | None) -> float:
    q = prev_qber_z if prev_qber_z is not None else qber_x
    return float(np.clip(QBER_HINT_DEFAULT if q is None else q, QBER_HINT_MIN, QBER_HINT_MAX))


@dataclass(repr=False)
class _PendingKey:
    """A final key made but not yet stored (see the key sync above)."""

    block: int
    key: np.ndarray  # packed final key
    n_bits: int
    rep: BlockReport


def replenish_split(key_length: int, replenish_bytes: int) -> int:
    """Bits of a block's key that go to the authentication pads (both sides compute the same)."""
    want = 8 * replenish_bytes
    return min(want, (key_length // 2) // 16 * 16)


class _Party:
    role = ""

    def __init__(
        self,
        chan: AuthenticatedChannel,
        cfg: PipelineConfig,
        store,  # postproc.keystore.KeyStore or None
        rng: np.random.Generator,
        on_block: BlockCallback | None = None,
    ) -> None:
        self.chan = chan
        self.cfg = cfg
        self.store = store
        self.rng = rng
        self.on_block = on_block
        self.report = SessionReport(self.role, cfg.as_dict())
        self._prev_qber_z: float | None = None
        self._offset: int | None = None  # Alice slot = Bob slot + offset (Alice finds it)
        self._auth_failures = 0
        self._timeouts = 0
        self.n_classes = len(cfg.mu)
        self._pending: dict[str, _PendingKey] = {}
        self._stored_ids: set[str] = set()

    # ------------------------------------------------------------------------- key sync
    def _hold(self, rep: BlockReport, key: np.ndarray, n_bits: int, key_id: str) -> None:
        rep.key_id = key_id
        self._pending[key_id] = _PendingKey(rep.block, key, n_bits, rep)

    def _resolve(self, keep: set[str], ids: Iterable[str] | None = None) -> None:
        """Store the pending keys in ``keep``, drop the others among ``ids`` (default: all)."""
        todo = sorted(
            (k for k in (self._pending if ids is None else ids) if k in self._pending),
            key=lambda k: self._pending[k].block,
        )
        for key_id in todo:
            pk = self._pending.pop(key_id)
            if key_id in keep:
                pk.rep.aborted = None  # e.g. Alice failed after Amplify left: Bob has it, so keep
                with _timed(pk.rep, "store", self.chan):
                    self._store(pk.rep, pk.key, pk.n_bits, key_id)
                self._stored_ids.add(key_id)
            else:
                pk.rep.aborted = "key sync: the peer does not hold this block's key; dropped"
                pk.rep.stored_bits = pk.rep.auth_bits = 0
            pk.key[:] = 0
            self._emit(pk.rep)

    def _emit(self, rep: BlockReport) -> None:
        if self.on_block is not None:
            self.on_block(rep)

    # ------------------------------------------------------------------------ block wrapper
    def _run_block(self, rep: BlockReport, body: Callable[[BlockReport], None]) -> bool:
        """Run one block; return False when the session cannot go on."""
        t0 = time.perf_counter()
        m0, w0 = self.chan.stats.messaging_s, self.chan.stats.wait_s
        go_on = True
        try:
            body(rep)
            self._auth_failures = 0
            self._timeouts = 0
        except _AbortError as exc:
            rep.aborted = str(exc)
            if exc.notify:
                self.chan.abort(str(exc))
        except BlockAbortedError as exc:  # the peer aborted
            rep.aborted = str(exc)
        except ChannelClosedError as exc:
            rep.aborted = str(exc)
            self.report.error = str(exc)
            go_on = False
        except ProtocolError as exc:
            rep.aborted = f"protocol error: {exc}"
            self.chan.abort(str(exc))
            if isinstance(exc, ChannelTimeoutError):
                self._timeouts += 1
                if self._timeouts >= 2:  # the peer is gone or stuck: do not wait block after block
                    self.report.error = f"peer silent in two consecutive blocks: {exc}"
                    go_on = False
            elif isinstance(exc, AuthKeyExhaustedError):
                self.report.error = str(exc)
                go_on = False
            elif isinstance(exc, AuthenticationError):
                self._auth_failures += 1
                if self._auth_failures >= self.cfg.max_auth_failures:
                    self.report.error = (
                        f"{self._auth_failures} consecutive blocks failed authentication: "
                        "stopping (keys out of step or an active attacker)"
                    )
                    go_on = False
        except QkdppError as exc:  # a stage refused its input (e.g. no offset found)
            rep.aborted = str(exc)
            self.chan.abort(str(exc))
        if rep.aborted is not None:
            rep.stored_bits = 0
            rep.auth_bits = 0
        rep.timings["total"] = time.perf_counter() - t0
        rep.timings["messaging"] = self.chan.stats.messaging_s - m0
        rep.waits["total"] = self.chan.stats.wait_s - w0
        self.report.blocks.append(rep)
        if rep.key_id not in self._pending:  # else reported once the key sync resolves it
            self._emit(rep)
        return go_on

    def _handshake_recv(self, kind: type):
        """Hello / HelloAck: a refused frame (corrupted, cut, forged) is skipped, not fatal; the
        peer retransmits the genuine one while it waits."""
        for attempt in range(self.cfg.max_auth_failures):
            try:
                return self.chan.recv(kind)
            except AuthenticationError:
                if attempt + 1 == self.cfg.max_auth_failures:
                    raise
        raise AssertionError("unreachable")

    def _finish_report(self, t_start: float) -> SessionReport:
        self.report.processing_s = time.perf_counter() - t_start
        self.report.auth = self.chan.stats.as_dict()
        return self.report

    # --------------------------------------------------------------------- shared steps
    def _estimate(self, rep: BlockReport, ledger: LeakageLedger, n_key_bits: int):
        rep.leakage = ledger.as_dict()
        rep.lambda_ec = ledger.total
        ec = ledger.entries.get("syndrome", 0) + ledger.entries.get("revealed", 0)
        q = rep.qber_z
        if q and n_key_bits:
            rep.f_ec = ec / (n_key_bits * float(binary_entropy(q)))
        with _timed(rep, "estimate", self.chan):
            fk = finite_key_for(self.cfg, rep.n_Z_key, rep.m_Z, rep.n_X, rep.m_X, ledger.total)
        rep.bounds = {k: getattr(fk, k) for k in BOUND_FIELDS if hasattr(fk, k)}
        return fk

    def _store(self, rep: BlockReport, key_packed: np.ndarray, n_bits: int, key_id: str) -> None:
        """Split off the authentication refill, hand the rest to the key store."""
        a = replenish_split(n_bits, self.cfg.auth_replenish_bytes)
        bits = unpack_bits(key_packed, n_bits)
        auth_key = pack_bits(bits[:a]).tobytes()
        rest = bits[a:]
        self.chan.replenish(auth_key)
        rep.auth_bits = a
        rep.stored_bits = int(rest.size)
        if self.store is not None and rest.size:
            self.store.add(
                uuid.UUID(key_id),
                rep.block,
                pack_bits(rest).tobytes(),
                int(rest.size),
                eps_sec=self.cfg.eps_sec,
                eps_cor=self.cfg.eps_cor,
                qber=float(rep.qber_z or 0.0),
                leak_bits=int(rep.lambda_ec),
            )


class AliceParty(_Party):
    """Alice: holds only her modulation log; drives the blocks."""

    role = "alice"
    max_offset_slots = 1_100_000  # offset search range (slots) on the first block

    def run(self, blocks: Iterable[sifting.AliceBlock]) -> SessionReport:
        t_start = time.perf_counter()
        cfg = self.cfg
        self.chan.begin_block(0)
        self.chan.send(
            pm.Hello(
                pm.PIPELINE_VERSION,
                cfg.protocol,
                list(cfg.mu),
                list(cfg.p_mu),
                cfg.eps_sec,
                cfg.eps_cor,
                cfg.qber_max,
                cfg.block_slots,
                cfg.auth_replenish_bytes,
                cfg.reconcile_mode,
            )
        )
        ack = self._handshake_recv(pm.HelloAck)
        if not ack.accepted:
            raise ProtocolError(f"Bob refused the session: {ack.reason}")
        n = 0
        for blk in blocks:
            n = blk.block + 1
            self.chan.begin_block(blk.block)
            rep = BlockReport(blk.block, blk.first_slot, int(blk.log.shape[0]))
            if not self._run_block(rep, lambda r, blk=blk: self._block(r, blk)):
                break
        self._end(n)
        return self._finish_report(t_start)

    def _sync(self, block: int, final: bool) -> None:
        """Key sync: Bob stores what he holds of Alice's pending keys; Alice stores the same."""
        ids = sorted(self._pending, key=lambda k: self._pending[k].block)
        self.chan.send(pm.KeySync(block, ids, final))
        ack = self.chan.recv(pm.KeySyncAck)
        if ack.block != block or not set(ack.held) <= set(ids):
            raise ProtocolError(f"KeySyncAck for block {ack.block} lists keys that were not asked")
        self._resolve(set(ack.held), ids)

    def _end(self, n: int) -> None:
        """Final key sync, then EndOfSession; keys still unconfirmed after it are dropped."""
        if self.report.error is None or self._pending:
            for block in range(n, n + 3):
                self.chan.begin_block(block)
                try:
                    self._sync(block, final=True)
                    self.chan.send(pm.EndOfSession(block))
                    break
                except ChannelClosedError as exc:
                    self.report.error = self.report.error or str(exc)
                    break
                except (ProtocolError, BlockAbortedError) as exc:
                    self.chan.abort(str(exc))
                    if isinstance(exc, ChannelTimeoutError):
                        break
        if self._pending:
            self._resolve(set())
            for b in self.report.blocks:
                if b.aborted and b.aborted.startswith("key sync"):
                    b.aborted = "key sync at the end of the session failed; dropped"

    def _block(self, rep: BlockReport, blk: sifting.AliceBlock) -> None:
        cfg, chan, b = self.cfg, self.chan, blk.block
        self._sync(b, final=False)
        chan.send(pm.BlockStart(b, blk.first_slot, int(blk.log.shape[0])))
        sift = sift_api()
        with _timed(rep, "sift", self.chan):
            announce = chan.recv(sift.SiftAnnounce)
            found = None
            if self._offset is None:
                found = first_offset(
                    announce, blk.log, blk.first_slot, list(cfg.mu), self.max_offset_slots
                )
            reply, side, _ = sift.alice_answer(
                announce,
                blk.log,
                blk.first_slot,
                offset_slots=self._offset if found is None else found.offset_slots,
                intensities=list(cfg.mu),
                max_offset_slots=self.max_offset_slots,
            )
            chan.send(reply)
            sifted = sifting.Sifted.from_side(side)
        if found is not None:
            rep.sift_stats["offset_score"] = float(found.score)
        self._offset = reply.offset_slots
        rep.sift_stats["offset_slots"] = int(reply.offset_slots)
        rep.detections = announce.n
        rep.n_Z, rep.n_X = sifted.counts(self.n_classes)
        # parameter estimation: Bob discloses his X bits, Alice counts the errors per class
        with _timed(rep, "estimate", self.chan):
            xb = chan.recv(pm.XBits)
            if xb.block != b or xb.n_bits != sifted.x_bits.size:
                raise ProtocolError(
                    f"XBits: {xb.n_bits} bits for block {xb.block}, "
                    f"expected {sifted.x_bits.size} for {b}"
                )
            err = unpack_bits(xb.bits, xb.n_bits) != sifted.x_bits
            rep.m_X = np.bincount(sifted.x_class[err], minlength=self.n_classes).tolist()
            chan.send(pm.XErrors(b, rep.m_X))
        rep.qber_x = _qber(rep.n_X, rep.m_X)
        _check_x(rep, cfg)
        # reconciliation
        ledger = LeakageLedger()
        api = reconcile_api(cfg.reconcile_f_start, cfg.reconcile_mode)
        with _timed(rep, "reconcile", self.chan):
            hint = _hint(self._prev_qber_z, rep.qber_x)
            layout = api.choose_layout(hint, api.config)
            n_key = layout.n_key
            n_frames = sifted.z_bits.size // n_key
            if n_frames == 0:
                raise _AbortError(  # Bob is waiting for the syndromes: tell him
                    f"{sifted.z_bits.size} sifted Z bits, less than one frame ({n_key})",
                    notify=True,
                )
            used = n_frames * n_key
            state, msg = api.alice_start(
                sifted.z_bits[:used].reshape(n_frames, n_key),
                hint,
                self.rng,
                ledger,
                api.config,
                layout,
            )
            chan.send(msg)
            rep.reconcile_messages = 1
            while True:
                bob_reply = chan.recv(api.BobReply)
                rep.reconcile_messages += 1
                rev = api.alice_reveal(state, bob_reply, ledger)
                if rev is None:
                    break
                chan.send(rev)
                rep.reconcile_messages += 1
            result = api.alice_finish(state)
        rep.frames, rep.frames_failed = result.n_frames, result.n_failed
        key_bits = result.key.reshape(-1)
        key_cls = sifted.z_class[:used].reshape(n_frames, n_key)[result.kept].reshape(-1)
        rep.n_Z_key = np.bincount(key_cls, minlength=self.n_classes).tolist()
        zerr = chan.recv(pm.ZErrors)
        if zerr.block != b or len(zerr.m_Z) != self.n_classes:
            raise ProtocolError("ZErrors: wrong block or number of classes")
        rep.m_Z = [int(v) for v in zerr.m_Z]
        rep.qber_z = _qber(rep.n_Z_key, rep.m_Z)
        if key_bits.size == 0:
            raise _AbortError(f"all {result.n_frames} frames failed to reconcile", notify=False)
        key_packed = pack_bits(key_bits)
        # verification
        with _timed(rep, "verify", self.chan):
            chan.send(
                verify.alice_request(b, key_packed, key_bits.size, cfg.eps_cor, self.rng, ledger)
            )
            rep.verified = verify.alice_outcome(chan.recv(verify.VerifyResult), b, ledger)
        if not rep.verified:
            raise _AbortError("verification failed: reconciled keys differ", notify=False)
        self._prev_qber_z = rep.qber_z
        fk = self._estimate(rep, ledger, key_bits.size)
        rep.key_length = fk.key_length if fk.abort_reason is None else 0
        key_id = str(uuid.UUID(bytes=self.rng.bytes(16), version=4))
        if rep.key_length <= 0:
            chan.send(pm.Amplify(b, 0, np.zeros(0, np.uint8), key_id))
            raise _AbortError(f"finite key: {fk.abort_reason or 'no key'}", notify=False)
        with _timed(rep, "amplify", self.chan):
            seed = toeplitz_seed(self.rng, key_bits.size, rep.key_length)
            # send first: Bob hashes while Alice does. Should Alice fail before holding her key,
            # her next KeySync does not list it and Bob drops his copy.
            chan.send(pm.Amplify(b, rep.key_length, seed, key_id))
            final = amplify(key_packed, key_bits.size, seed, rep.key_length)
        self._hold(rep, final, rep.key_length, key_id)


def _check_x(rep: BlockReport, cfg: PipelineConfig) -> None:
    if rep.qber_x is None:
        raise _AbortError(
            "no sifted X-basis detections: phase error cannot be estimated", notify=False
        )
    if rep.qber_x > cfg.qber_max:
        raise _AbortError(
            f"QBER in the X basis {rep.qber_x:.4f} exceeds {cfg.qber_max:.4f}", notify=False
        )


class BobParty(_Party):
    """Bob: holds only his detections (already mapped to slots); follows Alice's blocks."""

    role = "bob"

    def run(self, run: sifting.BobRun) -> SessionReport:
        t_start = time.perf_counter()
        cfg = self.cfg
        run.start()
        self.chan.begin_block(0)
        hello = self._handshake_recv(pm.Hello)
        mine = pm.Hello(
            pm.PIPELINE_VERSION,
            cfg.protocol,
            list(cfg.mu),
            list(cfg.p_mu),
            cfg.eps_sec,
            cfg.eps_cor,
            cfg.qber_max,
            cfg.block_slots,
            cfg.auth_replenish_bytes,
            cfg.reconcile_mode,
        )
        if hello != mine:
            diff = [k for k in hello.__dataclass_fields__ if getattr(hello, k) != getattr(mine, k)]
            reason = f"parameters differ: {', '.join(diff)}"
            self.chan.send(pm.HelloAck(False, reason))
            raise ProtocolError(f"Alice's session parameters differ from Bob's: {reason}")
        self.chan.send(pm.HelloAck(True, ""))
        block = 0
        final_synced = False
        while True:
            self.chan.begin_block(block)
            try:
                sync = self.chan.recv((pm.KeySync, pm.EndOfSession))
                if isinstance(sync, pm.EndOfSession):
                    break
                self._on_sync(sync)
                if sync.final:
                    final_synced = True
                    self.chan.recv(pm.EndOfSession)
                    break
                start = self.chan.recv(pm.BlockStart)
            except ChannelClosedError as exc:
                if not final_synced:  # after the final sync a lost EndOfSession is harmless
                    self.report.error = str(exc)
                break
            except (ProtocolError, BlockAbortedError) as exc:
                # a lost, late or forged block start: give up this block, tell Alice
                rep = BlockReport(block, aborted=f"protocol error: {exc}")
                self.chan.abort(str(exc))
                self.report.blocks.append(rep)
                self._emit(rep)
                if isinstance(exc, ChannelTimeoutError):
                    self._timeouts += 1
                    if self._timeouts >= 2:
                        self.report.error = f"peer silent in two consecutive blocks: {exc}"
                        break
                block += 1
                continue
            rep = BlockReport(start.block, start.first_slot, start.n_slots)
            if not self._run_block(rep, lambda r, s=start: self._block(r, run, s)):
                break
            block = start.block + 1
        self._resolve(set())  # anything still pending: Alice has not confirmed it, so not stored
        return self._finish_report(t_start)

    def _on_sync(self, sync: pm.KeySync) -> None:
        listed = set(sync.key_ids)
        self._resolve(listed)
        held = [k for k in sync.key_ids if k in self._stored_ids]
        self.chan.send(pm.KeySyncAck(sync.block, held))

    def _block(self, rep: BlockReport, run: sifting.BobRun, start: pm.BlockStart) -> None:
        cfg, chan, b = self.cfg, self.chan, start.block
        sift = sift_api()
        with _timed(rep, "sift", self.chan):
            det = run.block(start.first_slot, start.n_slots)
            rep.detections = len(det.slot)
            rep.sift_stats = {"double_clicks": int(np.count_nonzero(det.double))}
            chan.send(sift.bob_announce(det, b))
            reply = chan.recv(sift.SiftReply)
            side = sift.bob_sifted(reply, det, b)
            run.offset = reply.offset_slots
            sifted = sifting.Sifted.from_side(side)
        rep.sift_stats["offset_slots"] = int(reply.offset_slots)
        rep.n_Z, rep.n_X = sifted.counts(self.n_classes)
        with _timed(rep, "estimate", self.chan):
            chan.send(pm.XBits(b, int(sifted.x_bits.size), pack_bits(sifted.x_bits)))
            xe = chan.recv(pm.XErrors)
            if xe.block != b or len(xe.m_X) != self.n_classes:
                raise ProtocolError("XErrors: wrong block or number of classes")
            rep.m_X = [int(v) for v in xe.m_X]
        rep.qber_x = _qber(rep.n_X, rep.m_X)
        _check_x(rep, cfg)
        ledger = LeakageLedger()
        api = reconcile_api(cfg.reconcile_f_start, cfg.reconcile_mode)
        with _timed(rep, "reconcile", self.chan):
            msg = chan.recv(api.SyndromeMsg)
            rep.reconcile_messages = 1
            n_key = msg_n_key(api, msg)
            used = msg.n_frames * n_key
            if used > sifted.z_bits.size or msg.n_frames < 1:
                raise ProtocolError(
                    f"SyndromeMsg: {msg.n_frames} frames of {n_key} bits, Bob "
                    f"has {sifted.z_bits.size} sifted Z bits"
                )
            raw = sifted.z_bits[:used].reshape(msg.n_frames, n_key)
            state, reply = api.bob_start(msg, raw, ledger, api.config)
            while True:
                chan.send(reply)
                rep.reconcile_messages += 1
                if reply.final:
                    break
                reply = api.bob_continue(state, chan.recv(api.RevealMsg), ledger)
                rep.reconcile_messages += 1
            result = api.bob_finish(state)
        rep.frames, rep.frames_failed = result.n_frames, result.n_failed
        key_bits = result.key.reshape(-1)
        cls = sifted.z_class[:used].reshape(msg.n_frames, n_key)[result.kept].reshape(-1)
        errs = raw[result.kept].reshape(-1) != key_bits
        rep.n_Z_key = np.bincount(cls, minlength=self.n_classes).tolist()
        rep.m_Z = np.bincount(cls[errs], minlength=self.n_classes).tolist()
        rep.qber_z = _qber(rep.n_Z_key, rep.m_Z)
        chan.send(pm.ZErrors(b, rep.m_Z))
        if key_bits.size == 0:
            raise _AbortError(f"all {result.n_frames} frames failed to reconcile", notify=False)
        key_packed = pack_bits(key_bits)
        with _timed(rep, "verify", self.chan):
            res = verify.bob_check(
                chan.recv(verify.VerifyRequest), b, key_packed, key_bits.size, cfg.eps_cor, ledger
            )
            chan.send(res)
        rep.verified = res.ok
        if not res.ok:
            raise _AbortError("verification failed: reconciled keys differ", notify=False)
        self._prev_qber_z = rep.qber_z
        fk = self._estimate(rep, ledger, key_bits.size)
        mine = fk.key_length if fk.abort_reason is None else 0
        amp = chan.recv(pm.Amplify)
        if amp.block != b or amp.key_length != mine:
            raise ProtocolError(
                f"Amplify.key_length {amp.key_length} differs from Bob's finite-key length {mine}"
            )
        rep.key_length = mine
        if mine <= 0:
            raise _AbortError(f"finite key: {fk.abort_reason or 'no key'}", notify=False)
        with _timed(rep, "amplify", self.chan):
            if amp.seed.size != (key_bits.size + mine - 1 + 7) // 8:
                raise ProtocolError("Amplify.seed is not n + l - 1 bits long")
            final = amplify(key_packed, key_bits.size, amp.seed, mine)
        self._hold(rep, final, mine, str(uuid.UUID(amp.key_id)))


def msg_n_key(api, msg) -> int:
    code = api.get_code(msg.code)
    return code.n - msg.n_punct - msg.n_short
