"""`sarssm inspect PATH [--json]`: metadata, arrays and point-target quality of products.

Examples:
    sarssm inspect data/demo/product-000.zarr
    sarssm inspect data/demo --json > report.json
    sarssm inspect --theory          # theoretical IRW / PSLR / ISLR of the weightings
    sarssm inspect /archive/maya4/s1a-s1-raw-s-vv-...zarr --geometry near_range_m=850000
"""

from __future__ import annotations

import argparse
import json
import sys

from sarssm.cli import add_geometry_flag, geometry_flags


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show a product's metadata, arrays and point-target quality",
        description=(
            "Print metadata, arrays (shape, dtype, chunks) and, for products with point targets, "
            "IRW, PSLR, ISLR, peak phase and position errors against the theory of the "
            "product's effective azimuth weighting (docs/quality.md). A real Maya4 product's "
            "geometry is read from its Level-0 packet records, which are shown too "
            "(docs/real-data.md)."
        ),
    )
    parser.add_argument("path", nargs="?", help="a product (.zarr group) or a folder of products")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead")
    parser.add_argument(
        "--theory",
        action="store_true",
        help="print the theoretical quality of the reference windows and of each preset",
    )
    add_geometry_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sarssm.errors import ConfigError
    from sarssm.eval.inspect import format_report, format_theory_table, inspect_path, theory_table

    overrides = geometry_flags(args)
    if args.theory:
        if args.json:
            print(json.dumps({"theory": theory_table()}, indent=2, allow_nan=False))
        else:
            print(format_theory_table())
        if args.path is None:
            return 0
    if args.path is None:
        raise ConfigError("give a product or folder PATH (or --theory)")
    report = inspect_path(args.path, overrides)
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False))
    else:
        print(format_report(report))
    unread = [p for p in report["products"] if p.get("geometry_error")]
    for p in unread:  # reported above with what the packets say; still an error
        print(f"sarssm inspect: error: {p['geometry_error']}", file=sys.stderr)
    return 2 if unread else 0
