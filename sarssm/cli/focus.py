"""`sarssm focus`: focus whole products (every column) with a model or the reference processor.

Examples:
    sarssm focus --model runs/demo/students/demo-tiny --input runs/demo/data/test --out focused
    sarssm focus --model runs/demo/teacher --input one.zarr --out one-focused.zarr
    sarssm focus --model reference --input data/ --out reference/ --block-columns 256
    sarssm focus --model runs/demo/students/demo-tiny --input data/ --out out/ --mode stream
    sarssm focus --model reference --input data/ --out out/ --workers 4     # 4 processes
    sarssm focus --model runs/demo/teacher --input /shared/data --out /shared/out \
        --scheduler tcp://scheduler-host:8786                              # a Dask cluster
    sarssm focus --model reference --input /archive/maya4 --products test_files.txt \
        --out focused/ --columns 0:4096          # real Maya4 products, their first 4096 columns
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sarssm.cli import add_geometry_flag, add_products_flags, geometry_flags, listed_products
from sarssm.deploy.focus import BLOCK_COLUMNS, BLOCK_ROWS, LEVELS, MODES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "focus",
        help="focus whole products with a model or the reference processor",
        description="Focus every column of each product of --input with a model (or the "
        "reference range-Doppler processor) in blocks of columns and rows that bound memory, "
        "and write each as a new product: the input's arrays and attributes, `az` replaced by "
        "the focused image, `focused_by` added. A folder input writes OUT/NAME.zarr per "
        "product; a single product writes --out itself when it ends in .zarr. Products that "
        "fail are reported and the others still finish (exit code 2 if any failed).",
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="DIR|reference",
        help="a model folder (best/, final_student_model/, or a run folder holding one) "
        "with its normalization.json, or `reference`",
    )
    p.add_argument(
        "--input", required=True, metavar="PRODUCT_OR_FOLDER", help="a product or a folder"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (or NAME.zarr)")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="conv",
        help="conv: exact block-wise conv mode; stream: line by line (LTI students only)",
    )
    p.add_argument(
        "--level",
        choices=LEVELS,
        help="input level (default: the model's input_level; the reference: rc)",
    )
    p.add_argument(
        "--block-columns",
        type=int,
        help=f"columns per block (default: {BLOCK_COLUMNS} in whole chunks of the input; where "
        "its chunks are wider, the widest divisor of the chunk width that fits 512 MiB of "
        "working memory; the reference: multiples of 256)",
    )
    p.add_argument(
        "--block-rows",
        type=int,
        help=f"rows per segment (default: {BLOCK_ROWS} in whole chunk rows; causal models; the "
        "reference and bidirectional models read whole columns)",
    )
    p.add_argument(
        "--columns",
        metavar="A:B",
        help="focus only columns A..B-1 of each product (the output keeps the product's shape, "
        "az zero elsewhere; focused_by.columns records it)",
    )
    add_geometry_flag(p)
    add_products_flags(p)
    p.add_argument("--overwrite", action="store_true", help="replace existing output products")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the outputs that already exist and were focused by the same model and mode "
        "(an output is complete once it exists: each is renamed into place when finished); "
        "focus the others",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="focus this many products at a time, each in its own process (a local Dask "
        "cluster; 1: one after the other in this process)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="the scheduler of an existing Dask cluster (tcp://HOST:PORT): its workers focus "
        "the products, which must be at the same paths on every machine",
    )
    p.set_defaults(func=run)


def targets(source: str, out: str, products: list[Path]) -> list[Path]:
    """The output path of each product: --out itself for one product and an --out ending in
    .zarr, else OUT/NAME.zarr (two products of the same name are refused)."""
    from sarssm.data.store import is_product
    from sarssm.errors import ConfigError

    if is_product(Path(source)) and out.endswith(".zarr"):
        return [Path(out)]
    paths = [Path(out) / p.name for p in products]
    seen: dict[Path, Path] = {}
    for product, path in zip(products, paths, strict=True):
        if path in seen:
            raise ConfigError(
                f"--input {source}: {seen[path]} and {product} would both be written to {path}"
            )
        seen[path] = product
    return paths


def pending(
    focuser, products: list[Path], outs: list[Path], resume: bool, mode: str
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(the (product, output) pairs to focus, a line per output kept): with `resume`, an
    output focused by the same model and mode is kept."""
    from sarssm.deploy.focus import same_focus

    jobs, kept = [], []
    for product, out in zip(products, outs, strict=True):
        if resume and out.exists() and same_focus(out, focuser, mode):
            kept.append(f"kept {out} (focused before by the same model; --resume)")
        else:
            jobs.append((product, out))
    return jobs, kept


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sarssm.data.store import list_products
    from sarssm.deploy.blocks import parse_columns
    from sarssm.deploy.focus import focus_product, load_focuser
    from sarssm.errors import ConfigError, SarssmError
    from sarssm.io import prepare_output_dir
    from sarssm.progress import is_terminal

    if args.resume and args.overwrite:
        raise ConfigError("--resume keeps finished outputs and --overwrite replaces them: pick one")
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    options = {
        "mode": args.mode,
        "level": args.level,
        "block_columns": args.block_columns,
        "block_rows": args.block_rows,
        "overwrite": args.overwrite,
        "geometry_overrides": geometry_flags(args),
        "columns": args.columns,
    }
    if args.columns is not None:
        parse_columns(args.columns)  # a malformed range fails before any work
    products = listed_products(args, list_products(args.input))
    outs = targets(args.input, args.out, products)
    for folder in sorted({out.parent for out in outs}):
        prepare_output_dir(folder, "--out")
    focuser = load_focuser(args.model)
    jobs, kept = pending(focuser, products, outs, args.resume, args.mode)
    for line in kept:
        print(line, flush=True)
    if args.workers > 1 or args.scheduler:
        return run_on_cluster(args, focuser, jobs, len(products), options)
    failed = 0
    bar = tqdm(
        total=len(jobs), desc="focus", unit="product", file=sys.stderr,
        disable=not is_terminal(), leave=False,
    )  # fmt: skip

    terminal = not bar.disable

    def say(text: str, error: bool = False) -> None:
        stream = sys.stderr if error else sys.stdout
        if bar.disable:  # off a terminal, or after the bar is closed
            print(text, file=stream, flush=True)
        else:
            bar.write(text, file=stream)

    for path, out in jobs:
        name = path.name

        def progress(done: int, total: int, name: str = name) -> None:
            bar.set_postfix_str(f"{name[:40]} {done}/{total} columns")

        bar.set_postfix_str(name[:40])
        try:
            s = focus_product(focuser, path, out, progress=progress, **options)
        except (SarssmError, OSError) as exc:
            failed += 1
            message = " ".join(str(exc).split())
            say(f"sarssm focus: {name}: error: {message}", error=True)
        else:
            if not terminal:
                say(focused_line(name, s))
        bar.update()
    bar.close()
    if failed:
        say(f"sarssm focus: {failed} of {len(jobs)} product(s) failed", error=True)
        return 2
    if terminal:
        print(f"focused {len(jobs)} product(s) into {args.out}")
    return 0


def focused_line(name: str, s: dict) -> str:
    """One product's line: where it went, its shape, engine, level and time."""
    rows, cols = s["shape"]
    return (
        f"focused {name} -> {s['out']} ({rows} x {cols}, {s['mode']} {s['engine']}, "
        f"level {s['level']}, {s['seconds']:.2f} s)"
    )


def run_on_cluster(
    args: argparse.Namespace,
    focuser,
    jobs: list[tuple[Path, Path]],
    total: int,
    options: dict,
) -> int:
    """The products of `jobs` as Dask tasks (`sarssm.deploy.cluster`, each focused with
    `focus_product`'s `options`): a line per product as it finishes; exit code 2 if any
    failed."""
    from sarssm.deploy.cluster import focus_on_cluster

    def report(r: dict) -> None:
        if r["ok"]:
            print(focused_line(r["product"], r), flush=True)
        else:
            print(f"sarssm focus: {r['product']}: error: {r['error']}", file=sys.stderr, flush=True)

    where = f"the cluster at {args.scheduler}" if args.scheduler else f"{args.workers} processes"
    print(f"focusing {len(jobs)} product(s) on {where}", flush=True)
    model = "reference" if focuser.is_reference else str(Path(focuser.folder).resolve())
    results = focus_on_cluster(
        model, jobs, options, args.workers, args.scheduler, report, bool(args.verbose)
    )
    failed = sum(not r["ok"] for r in results)
    if failed:
        print(f"sarssm focus: {failed} of {total} product(s) failed", file=sys.stderr)
        return 2
    return 0
