"""The ``qkdpp`` command line. Each sub-command lives in ``postproc/commands/<name>.py``.

A command module defines ``register(subparsers)`` which adds its parser and sets ``func`` to a
function taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from postproc import __version__
from postproc.errors import QkdppError

COMMAND_MODULES = [  # in data-flow order, as `qkdpp --help` lists them
    "postproc.commands.info",
    "postproc.commands.convert",
    "postproc.commands.acquire",
    "postproc.commands.simulate",
    "postproc.commands.sift",
    "postproc.commands.finite_key",
    "postproc.commands.plan",
    "postproc.commands.demo",
    "postproc.commands.process",
    "postproc.commands.party",
    "postproc.commands.kms",
    "postproc.commands.bench",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qkdpp", description="QKD post-processing: time tags in, secret keys out."
    )
    parser.add_argument("--version", action="version", version=f"qkdpp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except QkdppError as exc:
        print(f"qkdpp {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
