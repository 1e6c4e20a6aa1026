"""``qkdpp bench NAME [--quick] [--json] [bench options]``: run a benchmark from ``bench/``.

A benchmark is ``bench/bench_<name>.py`` defining ``DESCRIPTION``, optionally
``add_arguments(parser)``, ``run(args) -> dict`` (JSON-able figures; ``args.quick`` selects the
short CI variant) and ``format_text(result) -> str``. Each benchmark measures a baseline in the same
run and reports the ratio, since a single absolute time on a shared machine means little.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from types import ModuleType

from postproc.errors import ConfigError

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def load(name: str) -> ModuleType:
    path = BENCH_DIR / f"bench_{name}.py"
    if not path.is_file():
        raise ConfigError(f"no benchmark {name!r} (have: {', '.join(available()) or 'none'})")
    spec = importlib.util.spec_from_file_location(f"qkdpp_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(name: str, extra: list[str], quick: bool, as_json: bool) -> dict:
    module = load(name)
    parser = argparse.ArgumentParser(prog=f"qkdpp bench {name}", description=module.DESCRIPTION)
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    args = parser.parse_args(extra)
    args.quick = quick
    result = module.run(args)
    print(json.dumps(result, indent=2) if as_json else module.format_text(result), flush=True)
    return result


def _main(args: argparse.Namespace) -> int:
    # REMAINDER swallows everything after NAME: take the shared flags back out of it.
    for flag in ("quick", "json"):
        if f"--{flag}" in args.extra:
            args.extra = [a for a in args.extra if a != f"--{flag}"]
            setattr(args, flag, True)
    names = available() if args.name == "all" else [args.name]
    if args.name == "all" and args.extra:
        raise ConfigError("bench all takes no benchmark-specific options")
    for name in names:
        run_one(name, args.extra, args.quick, args.json)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark from bench/ (or 'all')", description=__doc__)
    p.add_argument("name", help="benchmark name or 'all'")
    p.add_argument("--quick", action="store_true", help="short run (CI)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="options of the benchmark")
    p.set_defaults(func=_main)
