"""The `sarssm` command line: one parser per subcommand module; each module only parses and calls.

A subcommand module defines `register(subparsers)`, which adds its parser and sets
`func=run` on it. Modules import the heavy packages (torch, zarr) inside `run`, so that
`sarssm --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sarssm import __version__
from sarssm.errors import SarssmError

# Subcommand modules under sarssm.cli, in the order `sarssm --help` lists them.
COMMANDS = ["simulate", "inspect", "models", "train", "distill", "diagnose", "demo"]


def build_parser() -> argparse.ArgumentParser:
    """The full `sarssm` parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="sarssm",
        description="Train complex-valued SSMs that focus SAR data; simulate and inspect products.",
    )
    parser.add_argument("--version", action="version", version=f"sarssm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"sarssm.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sarssm.cli.{name}":
                continue  # subcommand not part of this build yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sarssm` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except SarssmError as exc:
        print(f"sarssm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sarssm {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        sys.stderr.close()
        return 0
    return int(result or 0)
