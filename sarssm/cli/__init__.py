"""The `sarssm` command line: one parser per subcommand module; each module only parses and calls.

A subcommand module defines `register(subparsers)`, which adds its parser and sets
`func=run` on it. Modules import the heavy packages (torch, zarr) inside `run`, so that
`sarssm --help` stays fast.

Every long flag is accepted with dashes and with underscores (`--save-dir`, `--save_dir`), and
`key=value` config overrides may stand before, between or after the flags.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from sarssm import __version__
from sarssm.errors import RunInterrupted, SarssmError

# Subcommand modules under sarssm.cli, in the order `sarssm --help` lists them.
COMMANDS = [
    "simulate",
    "inspect",
    "models",
    "train",
    "distill",
    "evaluate",
    "diagnose",
    "focus",
    "export",
    "quantize",
    "benchmark",
    "demo",
]


class HelpFormatter(argparse.HelpFormatter):
    """Appends '(default: X)' to a flag's help where X says something (not None or False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or not action.option_strings
            or isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        ):
            return text
        return f"{text} (default: {default})"


class Parser(argparse.ArgumentParser):
    """argparse with the help formatter above on every subcommand."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The full `sarssm` parser with every available subcommand."""
    parser = Parser(
        prog="sarssm",
        description="Train complex-valued SSMs that focus SAR data; simulate and inspect products.",
        epilog="Flags take dashes or underscores (--save-dir or --save_dir); key=value "
        "overrides may come before or after them. `sarssm COMMAND --help` for each command.",
    )
    parser.add_argument("--version", action="version", version=f"sarssm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"sarssm.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sarssm.cli.{name}":
                continue  # subcommand not part of this build yet
            raise
        module.register(sub)
    for command in sub.choices.values():
        command.add_argument(
            "--verbose", action="store_true", help="show Lightning's own messages as well"
        )
        command.add_argument(
            "--debug",
            action="store_true",
            help="on an error, show the Python traceback as well as the one-line message",
        )
    return parser


def subcommand_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Subcommand name -> its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def normalise_flags(argv: list[str], known: set[str]) -> list[str]:
    """Spell each long flag as the parser knows it: `--save_dir` -> `--save-dir` and back."""
    out = []
    for i, token in enumerate(argv):
        if token == "--":
            return out + argv[i:]
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token.partition("=")
            if name not in known:
                for other in (name.replace("_", "-"), "--" + name[2:].replace("-", "_")):
                    if other in known:
                        name = other
                        break
            token = name + eq + value
        out.append(token)
    return out


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse with both flag spellings and `key=value` overrides anywhere after the command."""
    commands = subcommand_parsers(parser)
    at = next((i for i, t in enumerate(argv) if t in commands), None)
    if at is None:
        return parser.parse_args(argv)
    command = commands[argv[at]]
    rest = normalise_flags(argv[at + 1 :], set(command._option_string_actions))
    args, extra = parser.parse_known_args([*argv[: at + 1], *rest])
    if extra:
        overrides = [t for t in extra if "=" in t and not t.startswith("-")]
        if len(overrides) < len(extra) or not hasattr(args, "overrides"):
            bad = [t for t in extra if t not in overrides or not hasattr(args, "overrides")]
            command.error(f"unrecognized arguments: {' '.join(bad)}")
        args.overrides = [*(args.overrides or []), *overrides]
    return args


def add_geometry_flag(parser: argparse.ArgumentParser) -> None:
    """The repeatable `--geometry KEY=VALUE` of the commands that open products."""
    parser.add_argument(
        "--geometry",
        action="append",
        metavar="KEY=VALUE",
        help="replace a field of every product's geometry (repeatable), e.g. a Maya4 "
        "product's missing Level-0 field: --geometry near_range_m=850000; keys: the fields of "
        "sarssm.physics.Geometry (docs/real-data.md)",
    )


def geometry_flags(args: argparse.Namespace) -> dict:
    """`--geometry` items as {field: value}, checked now (a bad item exits 2 before any work)."""
    from sarssm.data.maya4 import geometry_overrides

    return geometry_overrides(getattr(args, "geometry", None) or [])


def add_products_flags(parser: argparse.ArgumentParser) -> None:
    """`--products FILE` (a product list file, as the published Maya4 split's) and `--strict`."""
    parser.add_argument(
        "--products",
        metavar="FILE",
        help="only the products this file lists (one name per line, with or without .zarr, "
        "e.g. Maya4's test_files.txt); listed products missing from the folder are left out "
        "with a warning",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse a listed product that is not in the folder (default: warn and go on)",
    )


def listed_products(args: argparse.Namespace, paths: list, where: str = "--products") -> list:
    """`paths` narrowed to `--products FILE` when given (`sarssm.data.catalog.select_listed`)."""
    if not getattr(args, "products", None):
        return paths
    from sarssm.data.catalog import read_product_list, select_listed
    from sarssm.errors import ConfigError

    names = read_product_list(args.products)
    found = select_listed(
        paths,
        names,
        f"{where} {args.products}",
        bool(args.strict),
        lambda text: print(f"warning: {text}", file=sys.stderr, flush=True),
    )
    if not found:
        raise ConfigError(f"{where} {args.products}: none of the listed products is there")
    return found


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sarssm` console script; returns the process exit code."""
    parser = build_parser()
    args = parse(parser, list(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from sarssm.progress import set_verbose

    set_verbose(bool(getattr(args, "verbose", False)))
    debug = bool(getattr(args, "debug", False))
    try:
        result = args.func(args)
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        sys.stderr.close()
        return 0
    except (SarssmError, RunInterrupted, KeyboardInterrupt, OSError) as exc:
        code = exit_code(exc)
        if code is None:
            raise  # not the user's input: a bug, shown with its traceback
        if debug:
            traceback.print_exc()
        print(f"sarssm {args.command}: {error_line(exc)}", file=sys.stderr)
        return code
    return int(result or 0)


def exit_code(exc: BaseException) -> int | None:
    """2 for bad input (a `SarssmError`, or a file-system error naming a file), 130 for an
    interruption; None for anything else (a bug: it keeps its traceback)."""
    if isinstance(exc, (RunInterrupted, KeyboardInterrupt)):
        return 130
    if isinstance(exc, SarssmError):
        return 2
    if isinstance(exc, OSError) and exc.filename is not None:
        return 2
    return None


def error_line(exc: BaseException) -> str:
    """The one line printed for an error (no traceback)."""
    if isinstance(exc, RunInterrupted):
        return f"interrupted: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, OSError) and not isinstance(exc, SarssmError):
        where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        return f"error: {where}: {exc.strerror or exc}"
    return "error: " + " ".join(str(exc).split())
