"""`sarssm evaluate`: every metric for models, the reference processor and a pass-through.

Examples:
    sarssm evaluate --model runs/demo/teacher --model runs/demo/students/demo-tiny \
        --data runs/demo/data --out runs/demo/evaluation
    sarssm evaluate --model runs/maya4/teacher --data /archive/maya4 \
        --products test_files.txt --out runs/maya4/evaluation   # the published test split
"""

from __future__ import annotations

import argparse
import json

from sarssm.cli import add_geometry_flag, add_products_flags, geometry_flags, listed_products


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="compare models, the reference processor and a pass-through on whole products",
        description="Focus every product of --data with each model (whole products, every "
        "column), and compare with the ground truth `az`: complex NMSE, coherence, PSNR, SSIM, "
        "collapse ratio, distributions, point targets against the reference processor, cost "
        "and latency, on whole-product and 1000 x 1 patch windows. Writes metrics.json, "
        "report.md and figures/ into --out.",
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="a model folder (best/, final_student_model/, or a run folder holding "
        "one); repeat for several",
    )
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="DIR",
        help="a product (.zarr) or a folder of products; repeat for several",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--margin",
        type=int,
        help="rows left out at each column end (default: half the longest synthetic aperture)",
    )
    p.add_argument("--patch-rows", type=int, default=1000, help="rows of the patch windows")
    p.add_argument(
        "--teacher",
        help="the entry the compression table compares against "
        "(default: the first selective model, else the first model)",
    )
    p.add_argument("--json", action="store_true", help="print metrics.json instead of the table")
    add_geometry_flag(p)
    add_products_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sarssm.eval.evaluate import run_evaluation
    from sarssm.eval.report import main_table

    quiet = args.json
    overrides = geometry_flags(args)
    metrics = run_evaluation(
        args.model,
        args.data,
        args.out,
        margin=args.margin,
        patch_rows=args.patch_rows,
        teacher=args.teacher,
        echo=(lambda *_: None) if quiet else print,
        geometry_overrides=overrides,
        select=lambda paths: listed_products(args, paths),
    )
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(main_table(metrics))
    print(f"\nwrote {args.out}/metrics.json, {args.out}/report.md, {args.out}/figures/")
    return 0
