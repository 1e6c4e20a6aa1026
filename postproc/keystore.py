"""The per-party secret key store: one SQLite file, mode 0600, crash-safe, consume-once.

Each privacy-amplified block is one row: key id (UUID, the same on both parties), block id, length
in bits, creation time, eps_sec, eps_cor, QBER, leaked bits and the key bytes. Keys leave the store
exactly once, either whole (:meth:`KeyStore.take`) or in byte slices for key delivery:

* :meth:`KeyStore.reserve` (the side that hands out new keys, e.g. the master SAE's KME) carves
  slices from the oldest keys, front to back, inside one ``BEGIN IMMEDIATE`` transaction, so
  concurrent callers (threads or processes) never receive overlapping bytes;
* :meth:`KeyStore.claim` (the peer side) hands out a named slice (key, offset, size) once and
  refuses any slice that overlaps one already delivered.

Delivered bytes are overwritten with zeros in the row, and a row whose bytes are all delivered is
deleted (``PRAGMA secure_delete`` overwrites freed pages). Every change is one transaction in WAL
mode with ``synchronous=FULL``: a crash leaves either the state before or after it.

Each key also gets ``ref``, the top 60 bits of SHA-256(key id): a short public handle the key
delivery layer puts into key IDs. Key bytes never appear in a repr, a log or an exception message.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from postproc.errors import QkdppError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    ref INTEGER NOT NULL UNIQUE,
    block_id INTEGER NOT NULL,
    n_bits INTEGER NOT NULL,
    created REAL NOT NULL,
    eps_sec REAL NOT NULL,
    eps_cor REAL NOT NULL,
    qber REAL NOT NULL,
    leak_bits INTEGER NOT NULL,
    key BLOB NOT NULL,
    next_byte INTEGER NOT NULL DEFAULT 0,
    delivered_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS keys_order ON keys (block_id, created, key_id);
CREATE TABLE IF NOT EXISTS deliveries (
    ref INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    holder TEXT NOT NULL,
    delivered REAL NOT NULL,
    PRIMARY KEY (ref, offset)
);
"""


class KeyStoreError(QkdppError):
    """A key store operation failed; the message names the store and the key id, never bytes."""


class KeyUnavailableError(KeyStoreError):
    """The requested key or slice does not exist or was already delivered."""


class InsufficientKeyError(KeyStoreError):
    """Not enough undelivered key material for the request."""


def key_ref(key_id: uuid.UUID) -> int:
    """Top 60 bits of SHA-256 of the 16 UUID bytes: the public short handle of a stored key."""
    return int.from_bytes(hashlib.sha256(key_id.bytes).digest()[:8], "big") >> 4


@dataclass(frozen=True)
class StoredKey:
    """A key taken whole from the store (``key`` is excluded from repr)."""

    key_id: uuid.UUID
    block_id: int
    n_bits: int
    created: float
    eps_sec: float
    eps_cor: float
    qber: float
    leak_bits: int
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class KeySlice:
    """Bytes [offset, offset + len(key)) of the stored key ``key_id`` (``key`` not in repr)."""

    key_id: uuid.UUID
    ref: int
    offset: int
    key: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.key)


@dataclass(frozen=True)
class KeyInfo:
    """Metadata of a stored key (no key bytes)."""

    key_id: uuid.UUID
    block_id: int
    n_bits: int
    created: float
    eps_sec: float
    eps_cor: float
    qber: float
    leak_bits: int
    remaining_bytes: int


def _create_private(path: Path) -> None:
    # create the file 0600 before SQLite opens it; SQLite gives -wal/-shm the same mode
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class KeyStore:
    """SQLite key store of one party. Thread-safe; several processes may share the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise KeyStoreError(f"{self.path}: is a directory, expected a key store file")
        try:
            _create_private(self.path)
        except OSError as exc:
            raise KeyStoreError(f"{self.path}: cannot create key store ({exc.strerror})") from None
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                row = self._db.execute(
                    "SELECT value FROM meta WHERE name = 'schema_version'"
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                    )
                elif int(row[0]) != SCHEMA_VERSION:
                    raise KeyStoreError(
                        f"{self.path}: schema version {row[0]}, this qkdpp reads {SCHEMA_VERSION}"
                    )
        except sqlite3.DatabaseError as exc:
            raise KeyStoreError(f"{self.path}: not a usable key store ({exc})") from None
        for suffix in ("-wal", "-shm"):
            side = Path(f"{self.path}{suffix}")
            if side.exists():
                os.chmod(side, 0o600)

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------
    class _Tx:
        def __init__(self, store: KeyStore) -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            try:
                self.store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.store._lock.release()
                raise
            return self.store._db

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            try:
                self.store._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
            finally:
                self.store._lock.release()

    def _transaction(self) -> KeyStore._Tx:
        return KeyStore._Tx(self)

    # -- adding -------------------------------------------------------------------------------
    def add(
        self,
        key_id: uuid.UUID,
        block_id: int,
        key: bytes,
        n_bits: int,
        *,
        eps_sec: float,
        eps_cor: float,
        qber: float,
        leak_bits: int,
    ) -> None:
        """Store one key (``n_bits`` bits packed little-endian in ``key``), durably."""
        if not isinstance(key_id, uuid.UUID):
            raise KeyStoreError(f"{self.path}: key_id must be a uuid.UUID, got {type(key_id)}")
        key = bytes(key)
        if n_bits < 1 or len(key) != (n_bits + 7) // 8:
            raise KeyStoreError(
                f"{self.path}: key {key_id}: {len(key)} bytes do not hold n_bits={n_bits}"
            )
        if not (0 < eps_sec < 1 and 0 < eps_cor < 1 and 0 <= qber <= 0.5 and leak_bits >= 0):
            raise KeyStoreError(
                f"{self.path}: key {key_id}: eps_sec/eps_cor must be in (0, 1), qber in [0, 0.5],"
                " leak_bits >= 0"
            )
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO keys (key_id, ref, block_id, n_bits, created, eps_sec, eps_cor,"
                    " qber, leak_bits, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        str(key_id),
                        key_ref(key_id),
                        int(block_id),
                        int(n_bits),
                        time.time(),
                        float(eps_sec),
                        float(eps_cor),
                        float(qber),
                        int(leak_bits),
                        key,
                    ),
                )
        except sqlite3.IntegrityError:
            raise KeyStoreError(f"{self.path}: key id {key_id} is already stored") from None

    # -- inspecting ---------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM keys").fetchone()[0]

    def stored_bits(self) -> int:
        """Undelivered key bits (whole undelivered bytes of every stored key)."""
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(length(key) - next_byte), 0) FROM keys"
            ).fetchone()
        return 8 * int(row[0])

    def count_available(self, size_bytes: int) -> int:
        """How many slices of ``size_bytes`` :meth:`reserve` could still hand out."""
        if size_bytes < 1:
            raise KeyStoreError(f"{self.path}: size_bytes must be >= 1, got {size_bytes}")
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM((length(key) - next_byte) / ?), 0) FROM keys", (size_bytes,)
            ).fetchone()
        return int(row[0])

    def info(self) -> Iterator[KeyInfo]:
        """Metadata of every stored key, oldest block first (no key bytes)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key_id, block_id, n_bits, created, eps_sec, eps_cor, qber, leak_bits,"
                " length(key) - delivered_bytes FROM keys ORDER BY block_id, created, key_id"
            ).fetchall()
        for r in rows:
            yield KeyInfo(uuid.UUID(r[0]), *r[1:])

    def key_ids(self) -> list[uuid.UUID]:
        return [k.key_id for k in self.info()]

    # -- taking -------------------------------------------------------------------------------
    def take(self, key_id: uuid.UUID) -> StoredKey:
        """Remove and return a whole key that has not been partly delivered."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT block_id, n_bits, created, eps_sec, eps_cor, qber, leak_bits, key,"
                " delivered_bytes FROM keys WHERE key_id = ?",
                (str(key_id),),
            ).fetchone()
            if row is None:
                raise KeyUnavailableError(f"{self.path}: no key {key_id} (absent or taken)")
            if row[8]:
                raise KeyUnavailableError(f"{self.path}: key {key_id} was partly delivered")
            db.execute("DELETE FROM keys WHERE key_id = ?", (str(key_id),))
        return StoredKey(key_id, *row[:8])

    def reserve(self, count: int, size_bytes: int, holder: str) -> list[KeySlice]:
        """Carve ``count`` slices of ``size_bytes`` from the oldest keys, all or nothing.

        A slice never spans two stored keys; keys that the peer role has claimed from are
        skipped. Raises :class:`InsufficientKeyError` if the store
        cannot supply all of them (nothing is consumed then)."""
        if count < 1 or size_bytes < 1:
            raise KeyStoreError(f"{self.path}: count and size_bytes must be >= 1")
        out: list[KeySlice] = []
        with self._transaction() as db:
            rows = db.execute(
                "SELECT key_id, ref, next_byte, length(key) FROM keys"
                " WHERE length(key) - next_byte >= ? AND delivered_bytes = next_byte"
                " ORDER BY block_id, created, key_id",
                (size_bytes,),
            ).fetchall()
            plan: list[tuple[str, int, int, int]] = []  # key_id, ref, first offset, n slices
            need = count
            for kid, ref, nxt, length in rows:
                take = min(need, (length - nxt) // size_bytes)
                plan.append((kid, ref, nxt, take))
                need -= take
                if need == 0:
                    break
            if need:
                raise InsufficientKeyError(
                    f"{self.path}: {count} keys of {8 * size_bytes} bits requested,"
                    f" {count - need} available"
                )
            now = time.time()
            for kid, ref, nxt, take in plan:
                end = nxt + take * size_bytes
                blob = bytearray(
                    db.execute("SELECT key FROM keys WHERE key_id = ?", (kid,)).fetchone()[0]
                )
                for off in range(nxt, end, size_bytes):
                    piece = bytes(blob[off : off + size_bytes])
                    out.append(KeySlice(uuid.UUID(kid), ref, off, piece))
                    db.execute(
                        "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
                        (ref, off, size_bytes, holder, now),
                    )
                blob[nxt:end] = bytes(end - nxt)
                self._update_after_delivery(db, kid, blob, end - nxt, next_byte=end)
        return out

    def claim(self, ref: int, offset: int, size_bytes: int, holder: str) -> KeySlice:
        """Hand out bytes [offset, offset + size_bytes) of the key with this ``ref``, once."""
        return self.claim_many([(ref, offset, size_bytes)], holder)[0]

    def claim_many(self, slices: list[tuple[int, int, int]], holder: str) -> list[KeySlice]:
        """:meth:`claim` for several (ref, offset, size_bytes) slices, all or nothing."""
        with self._transaction() as db:
            return [self._claim_one(db, ref, off, size, holder) for ref, off, size in slices]

    def _claim_one(
        self, db: sqlite3.Connection, ref: int, offset: int, size_bytes: int, holder: str
    ) -> KeySlice:
        row = db.execute(
            "SELECT key_id, key, next_byte FROM keys WHERE ref = ?", (int(ref),)
        ).fetchone()
        if row is None:
            raise KeyUnavailableError(f"{self.path}: no stored key with ref {ref:#x}")
        kid, blob, nxt = row[0], bytearray(row[1]), row[2]
        if offset < 0 or size_bytes < 1 or offset + size_bytes > len(blob):
            raise KeyUnavailableError(
                f"{self.path}: slice [{offset}, {offset + size_bytes}) outside key {kid}"
            )
        overlap = db.execute(
            "SELECT 1 FROM deliveries WHERE ref = ? AND offset < ? AND offset + size > ?",
            (int(ref), offset + size_bytes, offset),
        ).fetchone()
        if overlap is not None or offset < nxt:
            raise KeyUnavailableError(
                f"{self.path}: slice [{offset}, {offset + size_bytes}) of key {kid}"
                " was already delivered"
            )
        data = bytes(blob[offset : offset + size_bytes])
        db.execute(
            "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
            (int(ref), offset, size_bytes, holder, time.time()),
        )
        blob[offset : offset + size_bytes] = bytes(size_bytes)
        self._update_after_delivery(db, kid, blob, size_bytes, next_byte=nxt)
        return KeySlice(uuid.UUID(kid), int(ref), offset, data)

    @staticmethod
    def _update_after_delivery(
        db: sqlite3.Connection, kid: str, blob: bytearray, n_new: int, *, next_byte: int
    ) -> None:
        db.execute(
            "UPDATE keys SET key = ?, next_byte = ?, delivered_bytes = delivered_bytes + ?"
            " WHERE key_id = ?",
            (bytes(blob), next_byte, n_new, kid),
        )
        done = db.execute(
            "SELECT delivered_bytes >= length(key) FROM keys WHERE key_id = ?", (kid,)
        ).fetchone()[0]
        if done:
            db.execute("DELETE FROM keys WHERE key_id = ?", (kid,))
