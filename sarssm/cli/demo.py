"""`sarssm demo`: the whole pipeline on the embedded `demo` preset, ending in a report.

Example:
    sarssm demo --out runs/demo           # the full demo (about 20 minutes on 2 CPU cores)
    sarssm demo --out runs/quick --quick  # a smoke-sized run (minutes)
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="simulate, train, distil, evaluate and report on the demo preset",
        description="Simulate demo products, train the demo teacher, distil the four student "
        "presets and their no-distillation baselines, evaluate everything against the "
        "reference processor and write the report. Finished stages whose inputs did not "
        "change are reused (and listed); an interrupted demo resumes.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--config", help="teacher config (default: the packaged demo config)")
    p.add_argument("--quick", action="store_true", help="a smoke-sized run (minutes)")
    p.add_argument("--force", action="store_true", help="rerun every stage")
    p.add_argument("--workers", type=int, default=2, help="student runs at a time")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="teacher config overrides")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sarssm.demo import run_demo
    from sarssm.errors import ConfigError

    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    run_demo(
        args.out,
        args.config,
        args.overrides,
        quick=args.quick,
        force=args.force,
        workers=args.workers,
    )
    return 0
