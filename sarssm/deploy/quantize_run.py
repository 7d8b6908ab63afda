"""`sarssm quantize`'s work: calibrate a trained student on its run's training products,
quantise it (`sarssm.deploy.quantize`), stream the held-out products through the float and the
integer student and measure both against the ground truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.deploy.quantize import (
    ACT_BITS,
    CLIP,
    FORMAT,
    QuantizedStream,
    calibrate,
    describe,
    product_gain,
    quantize,
    save_quantized,
)
from sarssm.errors import ConfigError, ProductError


# --- products: calibration, held-out quality, the whole run ----------------------------------
def product_block(
    config: Any, path: Path, max_lines: int | None = None, geometry_overrides: Any = None
) -> tuple[Any, ...]:
    """(lines [L, W] of the model's input level, slant ranges [W] or None, the product);
    `geometry_overrides` (`--geometry` items or a dict) replace fields of its geometry."""
    from sarssm.data.store import open_product
    from sarssm.models.inputs import product_geometry, slant_ranges

    product = open_product(path, geometry_overrides)
    if config.input_level not in product.levels:
        raise ProductError(
            f"{path}: the model reads level {config.input_level!r}, which the "
            f"product does not have (levels: {product.levels})"
        )
    rows = slice(None) if max_lines is None else slice(0, int(max_lines))
    lines = product.read(config.input_level, rows=rows)
    geo = product_geometry(product) if config.geometry != "none" else None
    r = slant_ranges(config, geo, np.arange(product.shape[1]), str(path))
    return lines, r, product


def run_split(folder: Path, data: str | Path) -> dict[str, list[Path]]:
    """The products of `data` split as the model's run split its own (`data.split` of the
    run's config.yaml; the default split when the model folder has none)."""
    from sarssm.config import from_dict, load_yaml
    from sarssm.data.catalog import MAYA4_NAME, SplitConfig, split_products
    from sarssm.data.store import list_products, open_product

    paths = list_products(data)
    if not paths:
        raise ProductError(f"--data {data}: no products (*.zarr) there")
    split = SplitConfig()
    for candidate in (folder / "config.yaml", folder.parent / "config.yaml"):
        if candidate.is_file():
            section = (load_yaml(candidate).get("data") or {}).get("split")
            if section is not None:
                split = from_dict(SplitConfig, section, f"{candidate}: data.split")
            break
    # as training splits them: the filters read a simulated product's attributes, not its name
    attrs = {p: open_product(p).attrs for p in paths if not MAYA4_NAME.search(p.name)}
    return split_products(paths, split, attrs)


def evaluate_quantized(
    arrays: dict[str, np.ndarray],
    q: dict[str, np.ndarray],
    config: Any,
    paths: list[Path],
    backend: str = "auto",
    geometry_overrides: Any = None,
) -> dict[str, Any]:
    """Both students over whole products (every line streamed, every column): NMSE of the
    integer output against the float one, and NMSE, PSNR and point-target PSLR of each against
    the product's `az`, over the product less `default_margin` rows at each column end."""
    from sarssm.deploy.stream import StreamingFocuser
    from sarssm.eval.evaluate import default_margin, point_summary
    from sarssm.eval.metrics import nmse_db
    from sarssm.eval.products import evaluate_product

    per: list[dict[str, Any]] = []
    for path in paths:
        lines, r, product = product_block(config, path, None, geometry_overrides)
        W = lines.shape[1]
        y = StreamingFocuser(arrays, W, r, backend=backend).focus(lines)
        z = QuantizedStream(q, r, W, backend, product_gain(q, lines)).focus(lines)
        margin = default_margin(product)
        rows = slice(margin, lines.shape[0] - margin)
        entry: dict[str, Any] = {
            "product": path.name,
            "scene": product.attrs.get("scene"),
            "int_vs_float_nmse_db": float(nmse_db(z[rows], y[rows])),
        }
        for name, pred in (("float", y), ("int", z)):
            result = evaluate_product(pred, product, margin)
            entry[name] = {
                "nmse_db": result["nmse_db"],
                "psnr_db": result["psnr_db"],
                **point_summary([result]),
            }
        per.append(entry)

    def mean(values: list[Any]) -> float | None:
        kept = [v for v in values if v is not None]
        return float(np.mean(kept)) if kept else None

    out: dict[str, Any] = {
        "products": per,
        "int_vs_float_nmse_db": mean([e["int_vs_float_nmse_db"] for e in per]),
    }
    for name in ("float", "int"):
        out[name] = {
            key: mean([e[name][key] for e in per]) for key in ("nmse_db", "psnr_db", "pslr_db")
        }
    return out


def quantize_model(
    model: str | Path,
    data: str | Path,
    out: str | Path | None = None,
    state_bits: int = 16,
    act_bits: int | dict[str, int] = ACT_BITS,
    clip: float | str = CLIP,
    calibration_lines: int | None = None,
    gain: bool = True,
    overwrite: bool = False,
    backend: str = "auto",
    echo: Callable[[str], None] = print,
    geometry_overrides: Any = None,
) -> dict[str, Any]:
    """`sarssm quantize`: calibrate a trained LTI student on the training products of `data`
    (its run's split), quantise it, measure it on the held-out products, write `out` (default
    int8/ beside the model folder). `geometry_overrides` (`--geometry` items or a dict) replace
    fields of every product's geometry. Returns what quantization.json holds."""
    from sarssm.data.maya4 import geometry_overrides as checked_overrides
    from sarssm.deploy.lti import check_lti, lti_arrays
    from sarssm.eval.evaluate import load_entries, run_folder

    overrides = checked_overrides(geometry_overrides or [])  # a bad item fails before any work
    entry = load_entries([str(model)])[0]
    check_lti(entry.net, "quantisation")
    arrays = lti_arrays(entry.net, entry.scaler)
    folder = Path(entry.path)
    run = run_folder(folder)
    target = Path(out) if out is not None else run / "int8"
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} already exists (pass --overwrite to replace it)")
    parts = run_split(folder, data)
    held_out = parts.get("test") or parts.get("val") or []
    if not parts["train"] or not held_out:
        raise ConfigError(
            f"--data {data}: the split leaves no training or no held-out products "
            f"({len(parts['train'])} train, {len(held_out)} held out)"
        )
    config = entry.net.config
    echo(f"calibrating {entry.name} on {len(parts['train'])} training products")
    input_rms = 1.0 if gain else None

    def blocks() -> Iterable[tuple[np.ndarray, np.ndarray | None]]:
        for path in parts["train"]:
            yield product_block(config, path, calibration_lines, overrides)[:2]

    stats = calibrate(arrays, blocks, calibration_lines, input_rms)
    q = quantize(arrays, stats, state_bits, clip, act_bits, input_rms=input_rms)
    echo(f"measuring on {len(held_out)} held-out products")
    quality = evaluate_quantized(arrays, q, config, held_out, backend, overrides)
    info = {
        "format": FORMAT,
        "source": {
            "model": str(folder),
            "name": entry.name,
            "preset": config.name,
            "normalization": str(folder / "normalization.json"),
        },
        "data": {
            "path": str(data),
            "calibration": [p.name for p in parts["train"]],
            "calibration_lines": calibration_lines,
            "held_out": [p.name for p in held_out],
            "geometry_overrides": overrides,
        },
        **describe(q),
        "stats": stats,
        "quality": quality,
    }
    save_quantized(q, info, target, overwrite)
    info["out"] = str(target)
    return info
