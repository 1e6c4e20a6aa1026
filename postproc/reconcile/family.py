"""The code families: which (nb, mb, Z, seed) codes exist, built once and cached on disk.

Two constructions (:mod:`postproc.reconcile.construct`), told apart by the name prefix:
``qc<nb>x<mb>z<Z>s<seed>`` = version 1 (hand-shaped 2 / 3 / high degree profile; frozen, the HDL
benches use its ``hw`` codes) and ``de<nb>x<mb>z<Z>s<seed>`` = version 2 (degree profiles optimised
by density evolution for our min-sum decoder, :mod:`postproc.reconcile.profiles`).

``n32k`` (default): version 1, nb = 256 block columns, Z = 128, n = 32768, rates 0.375 .. 0.953.
``de32k``: the same shape with version 2; its codes have a clearly lower round-one FER at equal
rate, but with the blind protocol's reveal rounds the efficiency after all rounds is the same as
n32k's (bench figures in the README / team notes), so the default is unchanged for now.
``de64k``: the version-2 base graphs lifted with Z = 256 (n = 65536). ``bp32k``: version 2 with
the belief-propagation profile shape (``bp`` names), for a sum-product decoder: DE and the
``ldpc`` BpDecoder decode it far better than any min-sum code of the same rate, min-sum far
worse. ``sp64k`` / ``sp128k``: version 3 (``sp`` names, for the sum-product decoder): nb = 512
block columns (twice the block rows at equal rate, so the BP-DE-optimised profiles of
:data:`~postproc.reconcile.profiles.SP_PROFILES` with column degrees up to 36 can be lifted
4-cycle-free), a denser set of rates (mb grows ~12 % per code, so the blind protocol shortens
less), lifted with Z = 128 (n = 65536) and Z = 256 (n = 131072) from the same base graphs.
``hw``:
version 1, nb = 24, Z = 32 (n = 768), rates 1/2, 2/3, 3/4, 5/6, for the Verilog decoder tests;
any other lifting is available through :func:`get_code`.

Codes are built deterministically from their parameters (see :mod:`postproc.reconcile.construct`)
the first time they are needed and stored as JSON (exponent matrix + puncturing order) and alist
(readable by ``ldpc.alist.alist2numpy``) in the cache directory ``$QKDPP_CACHE`` or
``$XDG_CACHE_HOME/qkdpp/ldpc`` (default ``~/.cache/qkdpp/ldpc``); later calls load them.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path

from postproc.errors import ConfigError
from postproc.reconcile.construct import build_code, build_code_de, build_code_sp, profile_for
from postproc.reconcile.qc import QCCode, write_alist

# version-3 rates: 1 - mb / 512, mb ~12 % apart (0.953 .. 0.375)
SP_MB = (24, 27, 30, 34, 38, 43, 48, 54, 61, 69, 78, 88, 100, 113, 128, 145, 164, 186, 210, 238,
         270, 320)
FAMILIES: dict[str, dict] = {
    "n32k": {
        "nb": 256,
        "Z": 128,
        "mb": (12, 18, 26, 36, 48, 62, 78, 96, 116, 138, 160),
        "seed": 2012,
    },
    "hw": {"nb": 24, "Z": 32, "mb": (4, 6, 8, 12), "seed": 2009},
    "de32k": {
        "nb": 256,
        "Z": 128,
        "mb": (12, 18, 26, 36, 48, 62, 78, 96, 116, 138, 160),
        "seed": 2026,
        "kind": "de",
    },
    "bp32k": {
        "nb": 256,
        "Z": 128,
        "mb": (12, 18, 26, 36, 48, 62, 78, 96, 116, 138, 160),
        "seed": 2026,
        "kind": "bp",
    },
    "de64k": {
        "nb": 256,
        "Z": 256,
        "mb": (12, 18, 26, 36, 48, 62, 78, 96, 116, 138, 160),
        "seed": 2026,
        "kind": "de",
    },
    "sp64k": {
        "nb": 512,
        "Z": 128,
        "mb": SP_MB,
        "seed": 2026,
        "kind": "sp",
    },
    "sp128k": {
        "nb": 512,
        "Z": 256,
        "mb": SP_MB,
        "seed": 2026,
        "kind": "sp",
    },
}
DEFAULT_FAMILY = "n32k"
KINDS = ("qc", "de", "bp", "sp")


def cache_dir() -> Path:
    root = os.environ.get("QKDPP_CACHE")
    if root:
        return Path(root) / "ldpc"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "qkdpp" / "ldpc"


def code_name(nb: int, mb: int, Z: int, seed: int, kind: str = "qc") -> str:
    """Cache/protocol name of a code; ``kind`` "qc" = version-1, "de" = version-2 construction."""
    if kind not in KINDS:
        raise ConfigError(f"code kind {kind!r} (have: {', '.join(KINDS)})")
    return f"{kind}{nb}x{mb}z{Z}s{seed}"


def parse_name(name: str) -> tuple[int, int, int, int]:
    """Inverse of :func:`code_name` without the kind (raises ConfigError for a malformed name)."""
    try:
        if name[:2] not in KINDS:
            raise ValueError(name)
        rest = name[2:]
        nb, rest = rest.split("x", 1)
        mb, rest = rest.split("z", 1)
        Z, seed = rest.split("s", 1)
        return int(nb), int(mb), int(Z), int(seed)
    except ValueError as exc:
        raise ConfigError(
            f"code name {name!r}: expected <kind><nb>x<mb>z<Z>s<seed>, kind one of {KINDS}"
        ) from exc


def _profile_matches(code: QCCode) -> bool:
    """A cached version-2 code still has the column degrees of the current profile table (a
    table revision changes the codes but not their names; such a stale entry is rebuilt)."""
    if code.name[:2] not in ("de", "bp", "sp"):
        return True
    n2, info = profile_for(code.nb, code.mb, code.name[:2])
    want = Counter({2: n2, **info})
    return Counter(int(d) for d in (code.base >= 0).sum(axis=0)) == want


@lru_cache(maxsize=64)
def get_code(name: str) -> QCCode:
    """The code called ``name`` (see :func:`code_name`), from the disk cache or built once."""
    nb, mb, Z, seed = parse_name(name)
    path = cache_dir() / f"{name}.json"
    if path.is_file():
        try:
            code = QCCode.from_json(json.loads(path.read_text()))
            if code.base.shape == (mb, nb) and code.Z == Z and _profile_matches(code):
                return code
        except (ValueError, KeyError):
            pass  # a damaged cache entry is rebuilt below
    build = {"qc": build_code, "sp": build_code_sp}.get(name[:2], build_code_de)
    code = build(name, nb, mb, Z, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        code.save_json(tmp)
        tmp.replace(path)
        write_alist(path.with_suffix(".alist"), code.H)
    except OSError:
        pass  # read-only cache: keep the in-memory code
    return code


def family_codes(family: str = DEFAULT_FAMILY) -> list[QCCode]:
    """All codes of a family, highest rate first."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown code family {family!r} (have: {', '.join(FAMILIES)})")
    p = FAMILIES[family]
    kind = p.get("kind", "qc")
    return [get_code(code_name(p["nb"], mb, p["Z"], p["seed"], kind)) for mb in p["mb"]]
