"""`sarssm models`: the model presets with their size, cost and pole budget.

Examples:
    sarssm models                 # table of every preset
    sarssm models --json          # the same as JSON
    sarssm models --length 1024   # conv-mode MACs for 1024-sample columns
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the model presets: parameters, MACs per sample, pole budget",
        description=(
            "Print every model preset with its parameter count (real scalars), MACs per "
            "output sample in step and conv mode, compression against its teacher, and its "
            "pole budget (layers x width x modes) next to the TBP of the data it is sized for."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--length",
        type=int,
        default=None,
        help="column length L for conv-mode MACs (default: each preset's data column length)",
    )
    parser.set_defaults(func=run)


def _fmt(value: Any, spec: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, spec)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of `sarssm.models.preset_table` rows."""
    header = (
        f"{'preset':<16} {'H/N/layers':>11} {'select':>6} {'input':>7} {'delay':>5} "
        f"{'floor dB':>8} {'taps':>4} {'params':>10} {'ratio':>7} {'MACs step':>11} "
        f"{'MACs conv':>11} {'L':>5} {'poles':>7} {'data TBP':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        dims = f"{r['model_dim']}/{r['state_dim']}/{r['num_layers']}"
        lines.append(
            f"{r['name']:<16} {dims:>11} {r['selectivity']:>6} {r['input']:>7} {r['delay']:>5} "
            f"{_fmt(r['truncation_floor_db'], '.1f'):>8} {r['prefilter_taps']:>4} "
            f"{r['params']:>10,} {_fmt(r['compression'], '.1f'):>7} "
            f"{_fmt(r['macs_step']):>11} {_fmt(r['macs_conv']):>11} {r['length']:>5} "
            f"{r['pole_budget']:>7,} {r['data_tbp']:>8.0f}"
        )
    lines.append(
        "MACs: real multiply-accumulates per output sample (complex multiply = 4), conv mode "
        "with a cached kernel on L-sample columns; ratio: teacher params / params; poles: "
        "layers x width x modes (x2 if bidirectional); n/a: a layer without a MAC count.\n"
        "input: the level and range neighbours read; delay: output delay in samples; floor: "
        "the truncation floor that delay implies (output energy a causal model cannot reach, "
        "n/a if bidirectional); taps: the per-column range pre-filter's length."
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from sarssm.errors import ConfigError
    from sarssm.models.cost import preset_table

    if args.length is not None and args.length < 1:
        raise ConfigError(f"--length must be >= 1, got {args.length}")
    rows = preset_table(args.length)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0
