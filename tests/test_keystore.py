"""Key store: durability, 0600, consume-once, concurrent reservations, no key bytes in text."""

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from postproc.keystore import (
    InsufficientKeyError,
    KeyStore,
    KeyStoreError,
    KeyUnavailableError,
    key_ref,
)

META = {"eps_sec": 1e-10, "eps_cor": 1e-15, "qber": 0.02, "leak_bits": 1234}
SECRET = bytes(range(7, 7 + 64))  # recognisable bytes to look for in texts


def _fill(store: KeyStore, n_keys: int, n_bytes: int, seed: int = 0) -> list[uuid.UUID]:
    ids = [uuid.UUID(int=(seed << 64) + i + 1, version=4) for i in range(n_keys)]
    for i, kid in enumerate(ids):
        key = bytes((i * 31 + j * 7 + seed) % 256 for j in range(n_bytes))
        store.add(kid, block_id=i, key=key, n_bits=8 * n_bytes, **META)
    return ids


def test_add_take_round_trip_and_metadata(tmp_path):
    with KeyStore(tmp_path / "alice.db") as store:
        kid = uuid.uuid4()
        store.add(kid, 7, SECRET, 8 * len(SECRET) - 3, **META)
        assert len(store) == 1 and store.stored_bits() == 8 * len(SECRET)
        (info,) = store.info()
        assert (info.block_id, info.n_bits, info.qber, info.leak_bits) == (7, 509, 0.02, 1234)
        got = store.take(kid)
        assert got.key == SECRET and got.key_id == kid and got.eps_sec == 1e-10
        assert len(store) == 0
        with pytest.raises(KeyUnavailableError, match=str(kid)):
            store.take(kid)


def test_file_mode_0600_including_wal(tmp_path):
    path = tmp_path / "k.db"
    with KeyStore(path) as store:
        _fill(store, 2, 16)
        for p in (path, Path(f"{path}-wal")):
            assert p.exists()
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o600


def test_key_bytes_never_in_repr_or_errors(tmp_path):
    with KeyStore(tmp_path / "k.db") as store:
        kid = uuid.uuid4()
        store.add(kid, 1, SECRET, 8 * len(SECRET), **META)
        with pytest.raises(KeyStoreError) as exc:
            store.add(kid, 1, SECRET, 8 * len(SECRET), **META)
        (piece,) = store.reserve(1, 32, "sae")
        texts = [repr(piece), str(piece), repr(store), str(exc.value)]
        for text in texts:
            assert SECRET[:32].hex() not in text and repr(SECRET[:8])[2:-1] not in text
        with pytest.raises(KeyUnavailableError) as exc2:
            store.take(kid)
        assert "partly delivered" in str(exc2.value) and SECRET[:4].hex() not in str(exc2.value)


def test_rejects_bad_input(tmp_path):
    with KeyStore(tmp_path / "k.db") as store:
        with pytest.raises(KeyStoreError, match="n_bits"):
            store.add(uuid.uuid4(), 1, b"\x00\x00", 17, **META)
        with pytest.raises(KeyStoreError, match="uuid"):
            store.add("not-a-uuid", 1, b"\x00", 8, **META)
        with pytest.raises(KeyStoreError, match="qber"):
            store.add(uuid.uuid4(), 1, b"\x00", 8, **{**META, "qber": 0.7})
    with pytest.raises(KeyStoreError, match="cannot create"):
        KeyStore(tmp_path / "missing-dir" / "k.db")
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(KeyStoreError, match=r"junk\.db"):
        KeyStore(bad)


def test_reserve_consumes_front_to_back_and_zeroes(tmp_path):
    path = tmp_path / "k.db"
    with KeyStore(path) as store:
        ids = _fill(store, 3, 40)
        assert store.count_available(16) == 3 * 2
        first = store.reserve(3, 16, "sae-a")
        assert [(s.key_id, s.offset) for s in first] == [(ids[0], 0), (ids[0], 16), (ids[1], 0)]
        assert store.count_available(16) == 3 and store.stored_bits() == 8 * (8 + 24 + 40)
        expected = bytes((0 * 31 + j * 7) % 256 for j in range(40))
        assert first[1].key == expected[16:32]
        with pytest.raises(InsufficientKeyError, match="4 keys of 128 bits"):
            store.reserve(4, 16, "sae-a")
        assert store.count_available(16) == 3  # all or nothing
        store.reserve(3, 16, "sae-a")
        assert store.count_available(16) == 0
    raw = sqlite3.connect(path).execute("SELECT key, next_byte FROM keys").fetchall()
    for blob, nxt in raw:
        assert blob[:nxt] == bytes(nxt)  # delivered bytes are overwritten


def test_claim_returns_same_bytes_once(tmp_path):
    with KeyStore(tmp_path / "a.db") as a, KeyStore(tmp_path / "b.db") as b:
        ids = _fill(a, 2, 64)
        assert _fill(b, 2, 64) == ids
        slices = a.reserve(4, 24, "master")
        for s in slices:
            assert s.ref == key_ref(s.key_id)
            assert b.claim(s.ref, s.offset, s.size, "slave").key == s.key
            with pytest.raises(KeyUnavailableError, match="already delivered"):
                b.claim(s.ref, s.offset, s.size, "slave")
        with pytest.raises(KeyUnavailableError, match="already delivered"):
            b.claim(slices[0].ref, 8, 24, "slave")  # overlaps a delivered slice
        with pytest.raises(KeyUnavailableError, match="outside"):
            b.claim(slices[0].ref, 60, 24, "slave")
        with pytest.raises(KeyUnavailableError, match="no stored key"):
            b.claim(12345, 0, 8, "slave")


def test_fully_delivered_key_is_deleted(tmp_path):
    with KeyStore(tmp_path / "a.db") as a:
        (kid,) = _fill(a, 1, 32)
        for s in a.reserve(2, 16, "m"):
            assert s.key_id == kid
        assert len(a) == 0


def test_concurrent_reservations_never_overlap(tmp_path):
    path = tmp_path / "k.db"
    with KeyStore(path) as store:
        _fill(store, 20, 256)
    got: list[tuple[int, int]] = []
    errors: list[Exception] = []

    def worker():
        local = KeyStore(path)  # separate connections contend through SQLite locking
        try:
            for _ in range(10):
                got.extend((s.ref, s.offset) for s in local.reserve(2, 32, "t"))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            local.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(got) == 120 and len(set(got)) == 120


def test_crash_mid_write_leaves_store_consistent(tmp_path):
    path = tmp_path / "k.db"
    with KeyStore(path) as store:
        ids = _fill(store, 3, 32)
    code = f"""
import os, uuid
from postproc.keystore import KeyStore
s = KeyStore({str(path)!r})
tx = s._transaction()
db = tx.__enter__()
db.execute("UPDATE keys SET key = zeroblob(32), next_byte = 32")
db.execute("DELETE FROM keys WHERE block_id = 2")
os._exit(9)  # the process dies inside the transaction
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, check=False)
    assert proc.returncode == 9
    with KeyStore(path) as store:
        assert store.key_ids() == ids
        assert store.count_available(32) == 3
        assert store.take(ids[2]).key == bytes((2 * 31 + j * 7) % 256 for j in range(32))
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
