"""The code families: which (nb, mb, Z, seed) codes exist, built once and cached on disk.

``n32k`` (default): nb = 256 block columns, Z = 128, n = 32768, rates 0.375 .. 0.953 (QBER 0.5 % to
11 % with rate adaptation). ``hw``: nb = 24, Z = 32 (n = 768), rates 1/2, 2/3, 3/4, 5/6, for the
Verilog decoder tests; any other lifting is available through :func:`get_code`.

Codes are built deterministically from their parameters (see :mod:`postproc.reconcile.construct`)
the first time they are needed and stored as JSON (exponent matrix + puncturing order) and alist
(readable by ``ldpc.alist.alist2numpy``) in the cache directory ``$QKDPP_CACHE`` or
``$XDG_CACHE_HOME/qkdpp/ldpc`` (default ``~/.cache/qkdpp/ldpc``); later calls load them.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from postproc.errors import ConfigError
from postproc.reconcile.construct import build_code
from postproc.reconcile.qc import QCCode, write_alist

FAMILIES: dict[str, dict] = {
    "n32k": {
        "nb": 256,
        "Z": 128,
        "mb": (12, 18, 26, 36, 48, 62, 78, 96, 116, 138, 160),
        "seed": 2012,
    },
    "hw": {"nb": 24, "Z": 32, "mb": (4, 6, 8, 12), "seed": 2009},
}
DEFAULT_FAMILY = "n32k"


def cache_dir() -> Path:
    root = os.environ.get("QKDPP_CACHE")
    if root:
        return Path(root) / "ldpc"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "qkdpp" / "ldpc"


def code_name(nb: int, mb: int, Z: int, seed: int) -> str:
    return f"qc{nb}x{mb}z{Z}s{seed}"


def parse_name(name: str) -> tuple[int, int, int, int]:
    """Inverse of :func:`code_name` (raises ConfigError for a malformed name)."""
    try:
        rest = name.removeprefix("qc")
        nb, rest = rest.split("x", 1)
        mb, rest = rest.split("z", 1)
        Z, seed = rest.split("s", 1)
        return int(nb), int(mb), int(Z), int(seed)
    except ValueError as exc:
        raise ConfigError(f"code name {name!r}: expected qc<nb>x<mb>z<Z>s<seed>") from exc


@lru_cache(maxsize=64)
def get_code(name: str) -> QCCode:
    """The code called ``name`` (see :func:`code_name`), from the disk cache or built once."""
    nb, mb, Z, seed = parse_name(name)
    path = cache_dir() / f"{name}.json"
    if path.is_file():
        try:
            code = QCCode.from_json(json.loads(path.read_text()))
            if code.base.shape == (mb, nb) and code.Z == Z:
                return code
        except (ValueError, KeyError):
            pass  # a damaged cache entry is rebuilt below
    code = build_code(name, nb, mb, Z, seed)
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
    return [get_code(code_name(p["nb"], mb, p["Z"], p["seed"])) for mb in p["mb"]]
