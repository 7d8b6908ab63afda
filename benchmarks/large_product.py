"""A real-layout Maya4 product of 20,000 x 25,000 (16 GB nominal, sparse on disk): written,
opened, inspected and focused by blocks, each step in a fresh process, with its peak memory.

The product is `sarssm.sim.maya4_layout.write_sparse_product`'s: sarpyx's layout (Blosc zstd,
chunks of 4096 x 4096, one Level-0 record per line in `metadata`), every chunk absent except
three simulated point-target blocks. So that reading present chunks is measured too (a real
product has no absent chunks), the `rc` and `rcmc` columns of `--dense` (default 4096:8192,
one column of chunks) are filled with a repeating pattern: every chunk there is stored and
decoded (128 MiB each), yet compresses to little on disk.

Steps, each a child process whose peak resident set (`ru_maxrss` of its own, read at its end)
is reported:
  write      `write_sparse_product` and the dense columns
  open       `open_product` (its time alone is in the note), its decoded geometry,
             whole-column reads of rc (16 columns every 4096, and a strip of the dense columns)
  inspect    `sarssm inspect PRODUCT`
  reference  `sarssm focus --model reference` (the range-Doppler processor, by blocks)
  student    `sarssm focus --model STUDENT`: an LTI `s1-stripmap` student
             (`build_model("ultra", model_dim=2, state_dim=4, num_layers=4)`, unit scales)

    python benchmarks/large_product.py [--rows 20000] [--cols 25000] [--columns A:B]
        [--dense A:B] [--work DIR] [--out benchmarks/results]

`--columns` focuses only columns A..B-1 (`sarssm focus --columns`); open and inspect always
take the whole product.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from sarssm.bench import write_report
from sarssm.deploy.blocks import parse_columns

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 2048  # the bound on every step
PEAK = "PEAK_RSS_KB"

# Each step's child ends by printing its own peak RSS (resource.RUSAGE_SELF: this process only).
_FOOTER = f"""
import resource as _r
print("{PEAK}", _r.getrusage(_r.RUSAGE_SELF).ru_maxrss, flush=True)
"""


def child(code: str) -> dict[str, Any]:
    """Run `code` in a fresh Python; its wall time, peak RSS (MB) and last stdout lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + _FOOTER],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"step failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    lines = out.stdout.strip().splitlines()
    peak_kb = int(next(line.split()[1] for line in reversed(lines) if line.startswith(PEAK)))
    notes = [line for line in lines if not line.startswith(PEAK)]
    return {"seconds": seconds, "peak_rss_mb": peak_kb / 1024, "output": notes[-3:]}


def cli(*argv: str) -> str:
    """The code of a child that runs `sarssm ARGV` (exit code checked)."""
    return f"""
        import sys
        from sarssm.cli import main
        code = main({list(argv)!r})
        if code != 0:
            sys.exit(code)
    """


def write_step(work: Path, rows: int, cols: int, dense: tuple[int, int]) -> str:
    return f"""
        import numpy as np, zarr
        from sarssm.sim.maya4_layout import write_sparse_product
        path = write_sparse_product({str(work)!r}, {rows}, {cols})
        a, b = {dense}
        rng = np.random.default_rng(0)
        tile = (rng.standard_normal((64, 64)) + 1j * rng.standard_normal((64, 64)))
        tile = tile.astype(np.complex64)
        group = zarr.open_group(str(path), mode="r+")
        for name in ("rc", "rcmc"):
            arr = group[name]
            for r0 in range(0, {rows}, 4096):
                r1 = min({rows}, r0 + 4096)
                reps = (-(-(r1 - r0) // 64), -(-(b - a) // 64))
                arr[r0:r1, a:b] = np.tile(tile, reps)[: r1 - r0, : b - a]
        print(path)
    """


def open_step(path: Path, dense: tuple[int, int]) -> str:
    return f"""
        import time
        import zarr  # imported before the clock starts: the open alone is timed
        from sarssm.data.store import open_product
        t = time.perf_counter()
        product = open_product({str(path)!r})
        opened = time.perf_counter() - t
        g = product.geometry
        rows, cols = product.shape
        for c0 in range(0, cols, 4096):
            product.read("rc", slice(None), slice(c0, c0 + 16))
        a, b = {dense}
        block = product.read("rc", slice(None), slice(a, min(b, a + 256)))
        print(f"opened in {{opened:.2f}} s; {{rows}} x {{cols}}, PRF {{g.prf_hz:.4f}} Hz, "
              f"V {{g.velocity_mps:.2f}} m/s, near {{g.near_range_m:.1f}} m; "
              f"dense strip {{block.shape}}")
    """


def check_step(out: Path, columns: tuple[int, int]) -> str:
    """Peak |az| inside the focused columns at the middle point-target block, and whether az
    is zero outside them (a few strips)."""
    return f"""
        import numpy as np
        from sarssm.data.store import open_product
        p = open_product({str(out)!r})
        rows, cols = p.shape
        a, b = {columns}
        c = round(0.5 * (cols - 32))
        r = round(0.5 * (rows - 2048))
        inside = a <= c and c + 32 <= b
        peak = float(np.abs(p.read("az", slice(r, r + 2048), slice(c, c + 32))).max())
        outside = [x for x in (0, cols - 16) if not a <= x < b]
        zero = all(not np.any(p.read("az", slice(None), slice(x, x + 16))) for x in outside)
        print(f"peak |az| at the middle target block {{peak:.3g}} (focused: {{inside}}); "
              f"zero outside the columns: {{zero}}; focused_by {{p.attrs['focused_by']['model']}}")
    """


def student_folder(work: Path) -> Path:
    """The LTI s1-stripmap student, saved with unit scales."""
    from sarssm.data.normalize import ComplexScaler
    from sarssm.models import build_model, save_model

    folder = work / "student"
    net = build_model("ultra", model_dim=2, state_dim=4, num_layers=4)
    save_model(net, folder)
    ComplexScaler(1.0, 1.0).save(folder / "normalization.json")
    return folder


def span(text: str | None, cols: int) -> tuple[int, int]:
    """`A:B` (either end may be left out) as (A, B); all `cols` columns when not given."""
    if not text:
        return 0, cols
    a, b = parse_columns(text)
    return a, cols if b is None else b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--cols", type=int, default=25_000)
    parser.add_argument("--columns", help="focus only columns A:B (default: all)")
    parser.add_argument("--dense", default="4096:8192", help="columns A:B of stored chunks")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    load_before = os.getloadavg()
    work = Path(args.work or tempfile.mkdtemp(prefix="sarssm-large-"))
    work.mkdir(parents=True, exist_ok=True)
    columns, dense = span(args.columns, args.cols), span(args.dense, args.cols)
    col_flags = ["--columns", f"{columns[0]}:{columns[1]}"] if args.columns else []
    rows: list[dict[str, Any]] = []
    try:
        step = child(write_step(work / "data", args.rows, args.cols, dense))
        path = Path(step["output"][-1])
        rows.append({"step": "write", **step})
        disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        rows.append({"step": "open", **child(open_step(path, dense))})
        rows.append({"step": "inspect", **child(cli("inspect", str(path)))})
        student = student_folder(work)
        for name, model in (("reference", "reference"), ("student", str(student))):
            out = work / f"focused-{name}"
            argv = ["focus", "--model", model, "--input", str(path), "--out", str(out)]
            step = child(cli(*argv, *col_flags))
            focused = out / path.name
            step["output"] += child(check_step(focused, columns))["output"]
            rows.append({"step": f"focus {name}", **step})
            shutil.rmtree(out)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    print(f"product {args.rows} x {args.cols} ({disk / 1e6:.0f} MB on disk, dense columns "
          f"{dense[0]}:{dense[1]}), focused columns {columns[0]}:{columns[1]}")  # fmt: skip
    print(f"{'step':<16} {'seconds':>8} {'peak RSS MB':>12}  note")
    for r in rows:
        note = r["output"][-1] if r["output"] else ""
        print(f"{r['step']:<16} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12.0f}  {note[:110]}")
    worst = max(r["peak_rss_mb"] for r in rows)
    print(f"largest peak {worst:.0f} MB ({'under' if worst < LIMIT_MB else 'OVER'} {LIMIT_MB} MB)")
    write_report(
        "large_product",
        rows,
        args.out,
        quick=None,
        repeats=1,
        load_before=load_before,
        extra={
            "shape": [args.rows, args.cols],
            "columns": list(columns),
            "dense_columns": list(dense),
            "disk_bytes": disk,
            "limit_mb": LIMIT_MB,
            "largest_peak_mb": worst,
        },
    )


if __name__ == "__main__":
    main()
