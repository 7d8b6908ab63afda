"""`sarssm benchmark`: streaming and conv-mode speed and memory of models, beside the classical
processor (line-by-line matched filter and the block range-Doppler processor).

Example:
    sarssm benchmark --model runs/demo/students/demo-tiny --model demo-teacher:selectivity=gate \
        --columns 1000,25700 --threads 1 --json runs/bench/streaming.json
"""

from __future__ import annotations

import argparse
import json


def _columns(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"--columns: integers separated by commas, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--columns: positive integers, got {text!r}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="ms per azimuth line (stream), columns/s (conv), memory, against the classical "
        "processor",
        description="Each case runs in its own child process. Stream: ms per line over "
        "single-line pushes (min and median), state and weight bytes against the arithmetic "
        "minimum, peak RSS, RSS growth, the bandwidth floor. Conv: whole columns per second "
        "(and the folded single-kernel form of LTI students). Classical: the line-by-line "
        "matched filter and the block range-Doppler processor. Conv speed-ups are relative "
        "to the first --model.",
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[NAME=]DIR|PRESET",
        help="a model folder, or a preset with overrides (demo-tiny, "
        "'ultra:model_dim=2,state_dim=4,num_layers=4'), optionally named "
        "('published=ultra:model_dim=2'); repeat for several",
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads of every case")
    p.add_argument(
        "--columns", type=_columns, default=[1000, 25700], help="line widths W, comma-separated"
    )
    p.add_argument("--lines", type=int, default=200, help="timed single-line pushes per case")
    p.add_argument(
        "--growth-lines", type=int, default=0, help="further lines pushed to measure RSS growth"
    )
    p.add_argument(
        "--no-classical", action="store_true", help="skip the matched filter and block processor"
    )
    p.add_argument("--block-lines", type=int, default=2048, help="lines of the block processor")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sarssm.deploy.benchmark import format_tables, run_suite
    from sarssm.errors import ConfigError
    from sarssm.io import atomic_write_text

    for flag in ("threads", "lines", "block_lines"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.growth_lines < 0:
        raise ConfigError(f"--growth-lines must be >= 0, got {args.growth_lines}")
    report = run_suite(
        args.model,
        args.columns,
        threads=args.threads,
        lines=args.lines,
        growth_lines=args.growth_lines,
        classical=not args.no_classical,
        block_lines=args.block_lines,
    )
    print(format_tables(report))
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
