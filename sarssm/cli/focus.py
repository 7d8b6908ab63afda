"""`sarssm focus`: focus whole products (every column) with a model or the reference processor.

Examples:
    sarssm focus --model runs/demo/students/demo-tiny --input runs/demo/data/test --out focused
    sarssm focus --model runs/demo/teacher --input one.zarr --out one-focused.zarr
    sarssm focus --model reference --input data/ --out reference/ --block-columns 256
    sarssm focus --model runs/demo/students/demo-tiny --input data/ --out out/ --mode stream
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    p.add_argument("--block-columns", type=int, default=BLOCK_COLUMNS, help="columns per block")
    p.add_argument(
        "--block-rows",
        type=int,
        default=BLOCK_ROWS,
        help="rows per segment (causal models; the reference and bidirectional models read "
        "whole columns)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output products")
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


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sarssm.data.store import list_products
    from sarssm.deploy.focus import focus_product, load_focuser
    from sarssm.errors import SarssmError
    from sarssm.progress import is_terminal

    products = list_products(args.input)
    outs = targets(args.input, args.out, products)
    focuser = load_focuser("reference" if args.model == "reference" else Path(args.model))
    failed = 0
    bar = tqdm(
        total=len(products), desc="focus", unit="product", file=sys.stderr,
        disable=not is_terminal(), leave=False,
    )  # fmt: skip

    terminal = not bar.disable

    def say(text: str, error: bool = False) -> None:
        stream = sys.stderr if error else sys.stdout
        if not terminal or bar.disable:  # off a terminal, or after the bar is closed
            print(text, file=stream, flush=True)
        else:
            bar.write(text, file=stream)

    for path, out in zip(products, outs, strict=True):
        name = path.name

        def progress(done: int, total: int, name: str = name) -> None:
            bar.set_postfix_str(f"{name[:40]} {done}/{total} columns")

        bar.set_postfix_str(name[:40])
        try:
            s = focus_product(
                focuser,
                path,
                out,
                mode=args.mode,
                level=args.level,
                block_columns=args.block_columns,
                block_rows=args.block_rows,
                overwrite=args.overwrite,
                progress=progress,
            )
        except (SarssmError, OSError) as exc:
            failed += 1
            message = " ".join(str(exc).split())
            say(f"sarssm focus: {name}: error: {message}", error=True)
        else:
            if not terminal:
                rows, cols = s["shape"]
                say(
                    f"focused {name} -> {s['out']} ({rows} x {cols}, {s['mode']} "
                    f"{s['engine']}, level {s['level']}, {s['seconds']:.2f} s)"
                )
        bar.update()
    bar.close()
    if failed:
        say(f"sarssm focus: {failed} of {len(products)} product(s) failed", error=True)
        return 2
    if terminal:
        print(f"focused {len(products)} product(s) into {args.out}")
    return 0
