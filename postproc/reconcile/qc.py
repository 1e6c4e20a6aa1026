"""Quasi-cyclic LDPC codes: the base (exponent) matrix, its lifting, the QC syndrome, alist I/O.

A QC code is an ``mb x nb`` exponent matrix ``E`` and a lifting size ``Z``. Entry ``E[i, j] = -1``
is the all-zero ``Z x Z`` block; ``E[i, j] = s >= 0`` is the identity cyclically shifted by ``s``:
in the expanded parity-check matrix ``H`` (``m = mb Z`` rows, ``n = nb Z`` columns)

    H[i*Z + r, j*Z + (r + s) % Z] = 1   for r = 0 .. Z-1.

Check row ``i*Z + r`` thus touches, in block column ``j``, the bit ``j*Z + (r + E[i, j]) % Z``.
Bits and syndromes are numbered like the rows/columns of ``H``; packed forms use the qkdpp bit order
(``postproc.bits``). The Z rows of one block row never share a bit, which is what lets the layered
decoder (and the Verilog twin) update a whole block row ("layer") in parallel.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numba
import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class QCCode:
    """A QC-LDPC code: exponent matrix ``base`` (int32, -1 = zero block) and lifting ``Z``."""

    name: str
    base: np.ndarray
    Z: int
    seed: int = 0
    puncture_order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        b = np.ascontiguousarray(self.base, dtype=np.int32)
        if b.ndim != 2:
            raise ValueError(f"code {self.name}: base matrix must be 2-D, got shape {b.shape}")
        if b.min() < -1 or b.max() >= self.Z:
            raise ValueError(f"code {self.name}: shifts must lie in [-1, Z-1={self.Z - 1}]")
        object.__setattr__(self, "base", b)
        object.__setattr__(
            self, "puncture_order", np.ascontiguousarray(self.puncture_order, dtype=np.int64)
        )

    @property
    def mb(self) -> int:
        return int(self.base.shape[0])

    @property
    def nb(self) -> int:
        return int(self.base.shape[1])

    @property
    def n(self) -> int:
        return self.nb * self.Z

    @property
    def m(self) -> int:
        return self.mb * self.Z

    @property
    def rate(self) -> float:
        """Design rate 1 - m/n (H has full rank for every code we build; see tests)."""
        return 1.0 - self.m / self.n

    @cached_property
    def layers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(``layer_ptr``, ``ent_col``, ``ent_shift``): the nonzero blocks of each block row, in
        increasing block-column order; layer i owns entries ``layer_ptr[i]:layer_ptr[i+1]``."""
        ptr = [0]
        cols: list[int] = []
        shifts: list[int] = []
        for i in range(self.mb):
            for j in range(self.nb):
                if self.base[i, j] >= 0:
                    cols.append(j)
                    shifts.append(int(self.base[i, j]))
            ptr.append(len(cols))
        return (
            np.array(ptr, dtype=np.int64),
            np.array(cols, dtype=np.int64),
            np.array(shifts, dtype=np.int64),
        )

    @cached_property
    def H(self) -> sp.csr_matrix:
        """The expanded parity-check matrix (uint8 CSR, ``m x n``)."""
        rows, cols = [], []
        r = np.arange(self.Z)
        for i, j in zip(*np.nonzero(self.base >= 0), strict=True):
            s = int(self.base[i, j])
            rows.append(i * self.Z + r)
            cols.append(j * self.Z + (r + s) % self.Z)
        rr = np.concatenate(rows)
        cc = np.concatenate(cols)
        data = np.ones(len(rr), dtype=np.uint8)
        return sp.csr_matrix((data, (rr, cc)), shape=(self.m, self.n))

    def syndrome(self, bits: np.ndarray) -> np.ndarray:
        """Syndrome of one frame (length n) or a batch (frames x n); see :func:`qc_syndrome`."""
        return qc_syndrome(self.base, self.Z, bits)

    def digest(self) -> str:
        """Short content hash (base matrix and Z): both parties check they use the same code."""
        h = hashlib.sha256(self.base.tobytes() + self.Z.to_bytes(4, "little"))
        return h.hexdigest()[:16]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "Z": self.Z,
            "seed": self.seed,
            "base": self.base.tolist(),
            "puncture_order": self.puncture_order.tolist(),
        }

    @classmethod
    def from_json(cls, d: dict) -> QCCode:
        return cls(
            name=d["name"],
            base=np.array(d["base"], dtype=np.int32),
            Z=int(d["Z"]),
            seed=int(d.get("seed", 0)),
            puncture_order=np.array(d.get("puncture_order", []), dtype=np.int64),
        )

    def save_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), separators=(",", ":")))


@numba.njit(cache=True)
def _qc_syndrome_kernel(base: np.ndarray, Z: int, bits: np.ndarray, out: np.ndarray) -> None:
    mb, nb = base.shape
    for f in range(bits.shape[0]):
        for i in range(mb):
            for r in range(Z):
                out[f, i * Z + r] = 0
            for j in range(nb):
                s = base[i, j]
                if s < 0:
                    continue
                off = j * Z
                for r in range(Z):
                    c = r + s
                    if c >= Z:
                        c -= Z
                    out[f, i * Z + r] ^= bits[f, off + c]


def qc_syndrome(base: np.ndarray, Z: int, bits: np.ndarray) -> np.ndarray:
    """QC syndrome ``s = H x mod 2`` computed block by block (the reference of the Verilog
    ``syndrome`` block).

    Inputs: ``base`` int (mb x nb) exponent matrix (-1 = zero block, else shift 0..Z-1), ``Z`` the
    lifting size, ``bits`` uint8 0/1 of shape (n,) or (frames, n) with ``n = nb*Z``; bit ``k`` of
    the frame is ``bits[k]`` (unpacked; ``postproc.bits.unpack_bits`` gives this order from the
    wire). Output: uint8 0/1, shape (m,) or (frames, m), ``m = mb*Z``, with

        s[i*Z + r] = XOR over j with E[i,j] >= 0 of bits[j*Z + (r + E[i,j]) % Z].

    Pure function, no state; equivalent to ``(H @ x) % 2`` with :attr:`QCCode.H`.
    """
    base = np.ascontiguousarray(base, dtype=np.int32)
    x = np.asarray(bits, dtype=np.uint8)
    single = x.ndim == 1
    x2 = np.ascontiguousarray(x.reshape(1, -1) if single else x)
    n = base.shape[1] * Z
    if x2.shape[1] != n:
        raise ValueError(f"bits: frame length {x2.shape[1]} != n = nb*Z = {n}")
    out = np.zeros((x2.shape[0], base.shape[0] * Z), dtype=np.uint8)
    _qc_syndrome_kernel(base, int(Z), x2, out)
    return out[0] if single else out


def girth_at_least_6(base: np.ndarray, Z: int) -> bool:
    """True when the lifted graph has no 4-cycle: for every pair of block rows and block columns
    with all four blocks nonzero, E[a,j]-E[a,k]+E[b,k]-E[b,j] != 0 (mod Z) (Fossorier 2004)."""
    mb = base.shape[0]
    for a in range(mb):
        for b in range(a + 1, mb):
            both = np.nonzero((base[a] >= 0) & (base[b] >= 0))[0]
            d = (base[a, both].astype(np.int64) - base[b, both]) % Z
            if len(np.unique(d)) != len(d):
                return False
    return True


def write_alist(path: str | Path, H: sp.spmatrix) -> None:
    """Write ``H`` (m x n) in the alist layout that ``ldpc.alist.alist2numpy`` reads (the same
    text ``ldpc.alist.save_alist`` writes: first line ``m n``, then per-row column lists)."""
    Hc = sp.csr_matrix(H, dtype=np.uint8)
    Hc.sort_indices()
    Ht = sp.csr_matrix(Hc.T)
    Ht.sort_indices()
    m, n = Hc.shape
    rw = np.diff(Hc.indptr)
    cw = np.diff(Ht.indptr)
    lines = [f"{m} {n}", f"{int(rw.max())} {int(cw.max())}"]
    lines.append("".join(f"{int(w)} " for w in rw))
    lines.append("".join(f"{int(w)} " for w in cw))
    for i in range(m):
        lines.append("".join(f"{int(c) + 1} " for c in Hc.indices[Hc.indptr[i] : Hc.indptr[i + 1]]))
    for j in range(n):
        lines.append("".join(f"{int(r) + 1} " for r in Ht.indices[Ht.indptr[j] : Ht.indptr[j + 1]]))
    Path(path).write_text("\n".join(lines) + "\n")


def read_alist(path: str | Path) -> sp.csr_matrix:
    """Read an alist file in the layout of :func:`write_alist` into a sparse uint8 matrix."""
    text = Path(path).read_text().splitlines()
    try:
        m, n = (int(v) for v in text[0].split())
        rows, cols = [], []
        for i in range(m):
            for c in text[4 + i].split():
                rows.append(i)
                cols.append(int(c) - 1)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: malformed alist ({exc})") from exc
    return sp.csr_matrix((np.ones(len(rows), np.uint8), (rows, cols)), shape=(m, n))
