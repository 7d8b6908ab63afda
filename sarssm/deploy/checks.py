"""The demo's deployment stage: a trained LTI student streamed, exported and quantised.

On products the student never saw (the demo's new products):
1. `sarssm focus` in conv mode (the folded single kernel) and in stream mode (line by line):
   the largest difference between the two products over the peak, and the NMSE of each
   against the ground truth `az` (whole products less the evaluation margin);
2. `sarssm export` of every format, and the exported numpy step file (loaded from the export
   folder alone) streaming one product: its largest difference from the conv product;
3. `sarssm quantize` (W8A8, int16 state): the integer student's NMSE against the float one and
   both against `az`, on the run's held-out products;
4. speed on one thread at 25,700 columns (one Sentinel-1 raw line): ms per line of the
   student's stream and of the line-by-line matched filter (`sarssm.deploy.benchmark`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

LINE_COLUMNS = 25_700


def _rel_max(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def focus_checks(student: Path, products: list[Path], out: Path) -> list[dict[str, Any]]:
    """Conv and stream products of `student` over `products`, compared (item 1)."""
    from sarssm.data.store import open_product
    from sarssm.deploy.focus import focus_product, load_focuser
    from sarssm.eval.evaluate import default_margin
    from sarssm.eval.operator import nmse_db
    from sarssm.eval.products import scene_of

    focuser = load_focuser(student)
    rows = []
    for path in products:
        made = {}
        for mode in ("conv", "stream"):
            target = out / mode / path.name
            summary = focus_product(focuser, path, target, mode=mode, overwrite=True)
            made[mode] = (open_product(target).read("az"), summary["seconds"])
        product = open_product(path)
        truth = product.read("az")
        m = default_margin(product)
        window = slice(m, truth.shape[0] - m)
        conv, stream = made["conv"][0], made["stream"][0]
        rows.append(
            {
                "product": path.name,
                "scene": scene_of(product),
                "stream_vs_conv_max_rel": _rel_max(stream, conv),
                "conv_nmse_db": nmse_db(conv[window], truth[window]),
                "stream_nmse_db": nmse_db(stream[window], truth[window]),
                "conv_seconds": made["conv"][1],
                "stream_seconds": made["stream"][1],
            }
        )
    return rows


def export_check(student: Path, product: Path, conv_product: Path, out: Path) -> dict[str, Any]:
    """Every export format, then the exported numpy step file streaming `product` (item 2)."""
    from sarssm.data.store import open_product
    from sarssm.deploy.export import export_folder
    from sarssm.deploy.quantize_run import product_block
    from sarssm.eval.evaluate import model_folder
    from sarssm.models.io import load_config

    manifest = export_folder(student, out, formats="all", overwrite=True)
    spec = importlib.util.spec_from_file_location("exported_numpy_step", out / "numpy_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the copy in the export folder, not sarssm's own
    weights = module.load(out / "student.npz")
    config = load_config(model_folder(student))
    lines, r, p = product_block(config, product)  # the slant ranges conv mode conditions on
    stream = module.Stream(weights, r, columns=lines.shape[1])
    rows = [y for y in (stream.push(line) for line in lines) if y is not None]
    focused = np.concatenate([np.array(rows).reshape(-1, p.shape[1]), stream.flush()])
    conv = open_product(conv_product).read("az")
    return {
        "files": sorted(manifest["files"]),
        "bytes": int(sum(f["bytes"] for f in manifest["files"].values())),
        "numpy_step_vs_conv_max_rel": _rel_max(focused, conv),
        "product": p.name,
    }


def deployment_checks(
    student: Path,
    data: Path,
    new_products: list[Path],
    out: Path,
    quick: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Items 1-4 of the module docstring for the trained student folder `student`."""
    from sarssm.deploy.benchmark import Case, run_case
    from sarssm.deploy.quantize_run import quantize_model

    echo("      focus: conv mode and stream mode on the new products")
    focus = focus_checks(student, new_products, out / "focused")
    echo("      export: numpy, ONNX, TorchScript")
    first = new_products[0]
    export = export_check(student, first, out / "focused" / "conv" / first.name, out / "export")
    echo("      quantize: int8 weights and activations, int16 state")
    lines = 64 if quick else None
    q = quantize_model(
        student, data, out / "int8", calibration_lines=lines, overwrite=True, echo=lambda *_: None
    )
    echo(f"      speed: one thread, {LINE_COLUMNS:,} columns per line")
    speed_lines = 20 if quick else 200
    stream = run_case(Case("stream", str(student), LINE_COLUMNS, lines=speed_lines))
    mf = run_case(Case("matched_filter", columns=LINE_COLUMNS, lines=10))
    return {
        "student": str(student),
        "focus": focus,
        "export": export,
        "quantize": {
            "int_vs_float_nmse_db": q["quality"]["int_vs_float_nmse_db"],
            "float": q["quality"]["float"],
            "int": q["quality"]["int"],
            "bits": q["bits"],
            "held_out": len(q["quality"]["products"]),
        },
        "speed": {
            "columns": LINE_COLUMNS,
            "stream_ms_min": stream["ms_min"],
            "stream_ms_median": stream["ms_median"],
            "state_bytes": stream["state_bytes"],
            "weight_bytes": stream["weight_bytes"],
            "held_over_minimum": stream["held_over_minimum"],
            "matched_filter_ms_min": mf["ms_min"],
            "matched_filter_taps": mf["taps"],
        },
    }


def print_deployment_checks(checks: dict[str, Any], echo: Callable[[str], None] = print) -> None:
    worst = max(r["stream_vs_conv_max_rel"] for r in checks["focus"])
    nmse = ", ".join(f"{r['scene']} {r['stream_nmse_db']:.2f}" for r in checks["focus"])
    echo(f"      stream vs conv mode, largest difference over the peak: {worst:.1e}")
    echo(f"      stream-mode NMSE dB against az (new products): {nmse}")
    e = checks["export"]
    echo(
        f"      export: {len(e['files'])} files, {e['bytes'] / 1e6:.2f} MB; the exported numpy "
        f"step vs conv mode: {e['numpy_step_vs_conv_max_rel']:.1e} of the peak"
    )
    q = checks["quantize"]
    echo(
        f"      int8 (W8A8, int16 state) vs float: NMSE {q['int_vs_float_nmse_db']:.2f} dB; "
        f"against az: float {q['float']['nmse_db']:.2f} dB, int8 {q['int']['nmse_db']:.2f} dB "
        f"({q['held_out']} held-out products)"
    )
    s = checks["speed"]
    echo(
        f"      stream {s['stream_ms_min']:.2f} ms per {s['columns']:,}-column line (min; "
        f"median {s['stream_ms_median']:.2f}), state + weights "
        f"{(s['state_bytes'] + s['weight_bytes']) / 1e6:.1f} MB "
        f"({s['held_over_minimum']:.3f} x the minimum); line-by-line matched filter "
        f"({s['matched_filter_taps']} taps) {s['matched_filter_ms_min']:.2f} ms"
    )
