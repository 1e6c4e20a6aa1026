"""qkdpp's own recording format: one run of a link, Bob's events plus Alice's modulation log.

A recording is a directory::

    meta.json        manifest: format name + version, counts, link metadata, sha256 per data file
    bob_t.i64        Bob's detection times, int64 little-endian picoseconds
    bob_ch.i16       Bob's channel of each event, int16 little-endian
    bob_special.i64  side records (markers, sync, overflows, lost-event gaps), rows of 5 int64
    alice.u8         Alice's modulation log, one uint8 per slot (layout below)

Alice's log byte per slot: bit0 = bit value, bit1 = basis (0 = Z, 1 = X), bits2-3 = intensity class
(0 = mu1 signal, 1 = mu2 decoy, 2 = mu3 vacuum/weak; 3 is invalid), bits4-7 = 0.

A ``bob_special.i64`` row is ``(kind, event_index, a, b, c)``: the record belongs to the chunk that
holds event ``event_index`` (the count of events written before it); kind 0 marker (a = t,
b = mask), 1 sync (a = t), 2 overflows (a = count), 3 gap (a = start, b = stop, c = missed).

Data files are written and read chunk by chunk, so memory stays O(chunk) whatever the length of the
run. ``meta.json`` is written last (atomically), so a directory without it is an unfinished
recording. :func:`open_recording` checks every file's size and sha256 against the manifest and
raises :class:`~postproc.errors.FormatError` naming the file on any mismatch.

The link metadata keys the simulator writes and sifting reads (all optional to the format itself):
``slot_period_ps``, ``clock_rate_hz``, ``protocol`` ("bb84-decoy", "bbm92"), ``detectors`` (list of
``{"channel", "basis", "bit"}``), ``clock_channel``, ``intensities`` ([mu1, mu2, mu3]),
``intensity_probs``, ``p_z``, ``simulator`` (parameters + seed) and ``truth`` (simulation truth,
never used for key lengths).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from postproc.errors import FormatError
from postproc.events import CHANNEL_DTYPE, TIME_DTYPE, EventChunk, SpecialEvents

FORMAT_NAME = "qkdpp-recording"
FORMAT_VERSION = 1
META_FILE = "meta.json"

# logical name -> (file name, numpy dtype, items per row)
DATA_FILES: dict[str, tuple[str, str, int]] = {
    "bob_t": ("bob_t.i64", "<i8", 1),
    "bob_ch": ("bob_ch.i16", "<i2", 1),
    "bob_special": ("bob_special.i64", "<i8", 5),
    "alice": ("alice.u8", "u1", 1),
}

SPECIAL_MARKER, SPECIAL_SYNC, SPECIAL_OVERFLOW, SPECIAL_GAP = 0, 1, 2, 3

ALICE_BIT = 0x01
ALICE_BASIS = 0x02
ALICE_INTENSITY_SHIFT = 2
ALICE_INTENSITY_MASK = 0x0C
_HASH_BLOCK = 1 << 22


def encode_alice(bit: np.ndarray, basis: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """Pack per-slot (bit, basis, intensity class) into Alice's log bytes."""
    out = np.asarray(bit, dtype=np.uint8) & 1
    out |= (np.asarray(basis, dtype=np.uint8) & 1) << 1
    out |= (np.asarray(intensity, dtype=np.uint8) & 3) << ALICE_INTENSITY_SHIFT
    return out


def decode_alice(log: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split Alice's log bytes into (bit, basis, intensity class), each uint8."""
    log = np.asarray(log, dtype=np.uint8)
    return log & 1, (log >> 1) & 1, (log >> ALICE_INTENSITY_SHIFT) & 3


def _check_alice(log: np.ndarray, where: str, offset: int) -> None:
    bad = (log & 0xF0) | ((log & ALICE_INTENSITY_MASK) == ALICE_INTENSITY_MASK)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FormatError(
            f"invalid modulation byte 0x{int(log[i]):02x} at slot {offset + i} "
            "(bits 4-7 must be 0, intensity class 0..2)",
            source=where,
            offset=offset + i,
            field="alice",
        )


def _specials_rows(sp: SpecialEvents, event_index: int) -> np.ndarray:
    rows = []
    n = len(sp.marker_t)
    if n:
        r = np.zeros((n, 5), np.int64)
        r[:, 0], r[:, 1] = SPECIAL_MARKER, event_index
        r[:, 2], r[:, 3] = sp.marker_t, sp.marker_mask
        rows.append(r)
    n = len(sp.sync_t)
    if n:
        r = np.zeros((n, 5), np.int64)
        r[:, 0], r[:, 1], r[:, 2] = SPECIAL_SYNC, event_index, sp.sync_t
        rows.append(r)
    if sp.n_overflows:
        rows.append(np.array([[SPECIAL_OVERFLOW, event_index, sp.n_overflows, 0, 0]], np.int64))
    n = len(sp.gap_start)
    if n:
        r = np.zeros((n, 5), np.int64)
        r[:, 0], r[:, 1] = SPECIAL_GAP, event_index
        r[:, 2], r[:, 3], r[:, 4] = sp.gap_start, sp.gap_stop, sp.gap_missed
        rows.append(r)
    return np.concatenate(rows) if rows else np.zeros((0, 5), np.int64)


def _specials_from_rows(rows: np.ndarray) -> SpecialEvents:
    kind = rows[:, 0]
    m, s, o, g = (rows[kind == k] for k in (0, 1, 2, 3))
    return SpecialEvents(
        marker_t=m[:, 2].astype(TIME_DTYPE),
        marker_mask=m[:, 3].astype(np.int16),
        sync_t=s[:, 2].astype(TIME_DTYPE),
        n_overflows=int(o[:, 2].sum()),
        gap_start=g[:, 2].astype(TIME_DTYPE),
        gap_stop=g[:, 3].astype(TIME_DTYPE),
        gap_missed=g[:, 4].astype(np.int64),
    )


class _HashedFile:
    """An output file that hashes what it writes."""

    def __init__(self, path: Path, dtype: str) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.fh: BinaryIO = open(path, "wb")  # noqa: SIM115 (closed in close())
        self.sha = hashlib.sha256()
        self.count = 0

    def write(self, arr: np.ndarray) -> None:
        buf = np.ascontiguousarray(arr, dtype=self.dtype).tobytes()
        self.fh.write(buf)
        self.sha.update(buf)
        self.count += len(buf) // self.dtype.itemsize

    def close(self) -> None:
        self.fh.close()


class RecordingWriter:
    """Stream a recording to ``path``: call :meth:`write_bob` / :meth:`write_alice` in any
    interleaving, then :meth:`close` (or use it as a context manager) to write ``meta.json``."""

    def __init__(self, path: str | Path, meta: dict) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        stale = self.path / META_FILE
        if stale.exists():
            stale.unlink()  # an overwritten recording is unfinished until close()
        self.meta = json.loads(json.dumps(meta))  # JSON-able copy, caught early
        self._files = {
            key: _HashedFile(self.path / name, dtype)
            for key, (name, dtype, _) in DATA_FILES.items()
        }
        self.n_events = 0
        self.n_slots = 0
        self._last_t: int | None = None
        self.t_sorted = True
        self._closed = False

    def write_bob(self, chunk: EventChunk) -> None:
        t = np.asarray(chunk.t, dtype=TIME_DTYPE)
        ch = np.asarray(chunk.ch, dtype=CHANNEL_DTYPE)
        if t.shape != ch.shape or t.ndim != 1:
            raise FormatError("t and ch must be 1-D of equal length", source=self.path)
        if len(t):
            if self.t_sorted and (
                (self._last_t is not None and t[0] < self._last_t) or np.any(np.diff(t) < 0)
            ):
                self.t_sorted = False
            self._last_t = int(t[-1])
        self._files["bob_special"].write(_specials_rows(chunk.specials, self.n_events).ravel())
        self._files["bob_t"].write(t)
        self._files["bob_ch"].write(ch)
        self.n_events += len(t)

    def write_alice(self, log: np.ndarray) -> None:
        log = np.asarray(log)
        if log.dtype != np.uint8 or log.ndim != 1:
            raise FormatError(
                f"Alice's log must be 1-D uint8, got {log.dtype} {log.shape}",
                source=self.path,
                field="alice",
            )
        _check_alice(log, str(self.path), self.n_slots)
        self._files["alice"].write(log)
        self.n_slots += len(log)

    def close(self) -> Path:
        if self._closed:
            return self.path
        files = {}
        for key, f in self._files.items():
            f.close()
            name, dtype, _ = DATA_FILES[key]
            files[key] = {
                "name": name,
                "dtype": dtype,
                "items": f.count,
                "bytes": f.count * f.dtype.itemsize,
                "sha256": f.sha.hexdigest(),
            }
        manifest = {
            **self.meta,
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "n_events": self.n_events,
            "n_slots": self.n_slots,
            "t_sorted": self.t_sorted,
            "files": files,
        }
        tmp = self.path / (META_FILE + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path / META_FILE)
        self._closed = True
        return self.path

    def abort(self) -> None:
        for f in self._files.values():
            f.close()
        self._closed = True

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_recording(
    path: str | Path,
    meta: dict,
    bob_chunks: Iterable[EventChunk],
    alice_chunks: Iterable[np.ndarray],
) -> Path:
    """Write a recording and return its directory.

    The two iterables are consumed alternately, one chunk of each at a time, so two views of one
    generator (e.g. a simulator producing Bob's and Alice's chunk of the same stretch together)
    need to buffer only one chunk.
    """
    with RecordingWriter(path, meta) as w:
        bob_it, alice_it = iter(bob_chunks), iter(alice_chunks)
        bob_done = alice_done = False
        while not (bob_done and alice_done):
            if not bob_done:
                c = next(bob_it, None)
                if c is None:
                    bob_done = True
                else:
                    w.write_bob(c)
            if not alice_done:
                a = next(alice_it, None)
                if a is None:
                    alice_done = True
                else:
                    w.write_alice(a)
    return w.path


@dataclass
class Recording:
    """An opened, verified recording. Data are read lazily chunk by chunk."""

    path: Path
    meta: dict

    @property
    def n_events(self) -> int:
        return int(self.meta["n_events"])

    @property
    def n_slots(self) -> int:
        return int(self.meta["n_slots"])

    def _file(self, key: str) -> Path:
        return self.path / self.meta["files"][key]["name"]

    def _memmap(self, key: str) -> np.ndarray:
        info = self.meta["files"][key]
        if info["items"] == 0:
            return np.zeros(0, dtype=info["dtype"])
        return np.memmap(self._file(key), dtype=info["dtype"], mode="r")

    def iter_bob(self, chunk_records: int = 1 << 20) -> Iterator[EventChunk]:
        """Bob's events in order, ``chunk_records`` at a time, with their side records."""
        if chunk_records <= 0:
            raise ValueError("chunk_records must be positive")
        t_all, ch_all = self._memmap("bob_t"), self._memmap("bob_ch")
        sp_all = self._memmap("bob_special").reshape(-1, 5)
        sp_index = sp_all[:, 1]
        n = self.n_events
        start = 0
        while True:
            stop = min(start + chunk_records, n)
            last = stop >= n
            # a side record goes with the chunk holding its event; trailing ones with the last
            lo = np.searchsorted(sp_index, start, side="left")
            hi = len(sp_index) if last else np.searchsorted(sp_index, stop, side="left")
            specials = _specials_from_rows(np.array(sp_all[lo:hi]))
            yield EventChunk(
                t=np.array(t_all[start:stop], dtype=TIME_DTYPE),
                ch=np.array(ch_all[start:stop], dtype=CHANNEL_DTYPE),
                specials=specials,
                first_record=start,
            )
            if last:
                return
            start = stop

    def iter_alice(self, chunk_slots: int = 1 << 24, start: int = 0) -> Iterator[np.ndarray]:
        """Alice's log from slot ``start`` on, ``chunk_slots`` slots at a time."""
        if chunk_slots <= 0:
            raise ValueError("chunk_slots must be positive")
        log = self._memmap("alice")
        for s in range(start, self.n_slots, chunk_slots):
            yield np.array(log[s : s + chunk_slots], dtype=np.uint8)

    def read_alice(self, start: int, stop: int) -> np.ndarray:
        """Alice's log bytes of slots ``start <= slot < stop`` (clipped to the recording)."""
        start, stop = max(0, start), min(self.n_slots, stop)
        if stop <= start:
            return np.zeros(0, np.uint8)
        return np.array(self._memmap("alice")[start:stop], dtype=np.uint8)


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            sha.update(block)
    return sha.hexdigest()


def open_recording(path: str | Path, *, verify: bool = True) -> Recording:
    """Open a recording directory; check its manifest, file sizes and (if ``verify``) sha256."""
    path = Path(path)
    meta_path = path / META_FILE
    if not path.is_dir():
        raise FormatError("not a recording directory", source=path)
    if not meta_path.is_file():
        raise FormatError("no meta.json (not a recording, or an unfinished one)", source=path)
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"unreadable manifest: {exc}", source=meta_path) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise FormatError(f"format is not {FORMAT_NAME!r}", source=meta_path, field="format")
    if meta.get("version") != FORMAT_VERSION:
        raise FormatError(
            f"unsupported version {meta.get('version')!r} (this qkdpp reads {FORMAT_VERSION})",
            source=meta_path,
            field="version",
        )
    files = meta.get("files")
    if not isinstance(files, dict) or set(files) != set(DATA_FILES):
        raise FormatError(f"files must list {sorted(DATA_FILES)}", source=meta_path, field="files")
    for key, (name, dtype, per_row) in DATA_FILES.items():
        info = files[key]
        if info.get("name") != name or info.get("dtype") != dtype:
            raise FormatError(f"unexpected entry {info!r}", source=meta_path, field=f"files.{key}")
        fpath = path / name
        if not fpath.is_file():
            raise FormatError("data file missing", source=fpath)
        size = fpath.stat().st_size
        if size != info["bytes"] or info["bytes"] != info["items"] * np.dtype(dtype).itemsize:
            raise FormatError(
                f"size {size} bytes, manifest says {info['bytes']} (truncated or altered)",
                source=fpath,
                offset=min(size, info["bytes"]),
            )
        if info["items"] % per_row:
            raise FormatError("item count not a whole number of rows", source=meta_path)
        if verify and _sha256_file(fpath) != info["sha256"]:
            raise FormatError("sha256 does not match the manifest (corrupt file)", source=fpath)
    if files["bob_t"]["items"] != meta["n_events"] or files["bob_ch"]["items"] != meta["n_events"]:
        raise FormatError("event files disagree with n_events", source=meta_path, field="n_events")
    if files["alice"]["items"] != meta["n_slots"]:
        raise FormatError("alice.u8 disagrees with n_slots", source=meta_path, field="n_slots")
    return Recording(path=path, meta=meta)


def is_recording(path: str | Path) -> bool:
    """True if ``path`` is a directory whose manifest names the qkdpp recording format."""
    meta_path = Path(path) / META_FILE
    try:
        return json.loads(meta_path.read_text()).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False
