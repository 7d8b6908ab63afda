"""`sarssm demo`: simulate, process, train and evaluate on the embedded `demo` preset.

Example:
    sarssm demo --out runs/demo
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on the demo preset and report",
        description="Simulate demo products, report the reference processor, train the demo "
        "teacher, compare it with the reference processor on held-out products.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--config", help="teacher config (default: the packaged demo config)")
    p.add_argument("--quick", action="store_true", help="a smoke-sized run (seconds)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="teacher config overrides")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sarssm.demo import run_demo

    run_demo(args.out, args.config, args.overrides, quick=args.quick)
    return 0
