"""Whole-product evaluation: focus every column of a product with a model, compare with `az`.

The metric window is the whole product minus `margin` rows at each column end (rows whose
synthetic aperture leaves the column). SSIM is the 2-D 7x7 version over that image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch


@torch.no_grad()
def predict_product(
    net: torch.nn.Module,
    product: Any,  # sarssm.data.store.Product
    scaler: Any,  # sarssm.data.normalize.ComplexScaler
    batch_columns: int = 64,
    gain: complex = 1.0,
) -> np.ndarray:
    """The model's focused image [rows, cols] complex64, in the product's units.

    Every column is one sequence of the model's own input level and range neighbours
    (`sarssm.models.inputs`), zero beyond the product's range edges. `gain` multiplies the
    input and divides the output (a focusing operator is blind to it: f(a x) / a = f(x)).
    """
    from sarssm.models.inputs import product_inputs

    net.eval()
    param = next(net.parameters())
    cdtype = torch.complex128 if param.dtype == torch.float64 else torch.complex64
    rows, cols = product.shape
    out = np.empty((cols, rows), dtype=np.complex64)
    for c0 in range(0, cols, batch_columns):
        c1 = min(c0 + batch_columns, cols)
        x, r0 = product_inputs(net.config, product, cols=slice(c0, c1), scale=scaler.input_scale)
        xt = torch.from_numpy(x).to(param.device, cdtype) * gain
        rt = None if r0 is None else torch.from_numpy(r0)
        out[c0:c1] = (net(xt, rt) / gain).cpu().numpy()
    return (out.T * scaler.target_scale).astype(np.complex64)


def evaluate_product(
    pred: np.ndarray, product: Any, margin: int, target_level: str = "az"
) -> dict[str, Any]:
    """Image metrics over the product minus the margins, and point-target quality of the
    prediction next to the reference processor's (the product's own `az`)."""
    from sarssm.eval.metrics import evaluate_arrays
    from sarssm.eval.pointtarget import measure_product

    target = product.read(target_level)
    rows = slice(margin, target.shape[0] - margin)
    metrics = evaluate_arrays(pred[rows], target[rows], spatial_dims=2)
    out: dict[str, Any] = {
        k: metrics[k] for k in ("nmse_db", "coherence", "psnr_db", "ssim", "collapse_ratio")
    }
    inside = [t for t in product.point_targets if margin <= t["row"] < target.shape[0] - margin]
    model = measure_product(product, inside, image=pred)
    reference = measure_product(product, inside, level=target_level)
    targets = [
        {"row": m["row"], "col": m["col"], "model": m, "reference": r}
        for m, r in zip(model, reference, strict=True)
    ]
    out["distribution"] = {k[5:]: v for k, v in metrics.items() if k.startswith("dist/")}
    out["point_targets"] = targets
    return out


def scene_of(product: Any) -> str:
    """What the by-scene tables group a product under: a simulated product's scene, a real
    Maya4 product's swath and polarisation (`maya4 s1 vv`), else `None`."""
    scene = product.attrs.get("scene")
    if scene is not None:
        return str(scene)
    from sarssm.data.catalog import parse_group_name

    name = parse_group_name(product.name)
    return f"maya4 s{name['swath']} {name['polarization']}" if name else "None"


def evaluate_products(
    net: torch.nn.Module,
    paths: list[Path],
    scaler: Any,
    margin: int,
    geometry_overrides: Any = None,
) -> dict[str, Any]:
    """Per-product results and their means over `paths` (`geometry_overrides`: `--geometry`
    items or a dict applied to every product's geometry)."""
    from sarssm.data.store import open_product

    per_product = []
    for path in paths:
        product = open_product(path, geometry_overrides)
        pred = predict_product(net, product, scaler)
        result = evaluate_product(pred, product, margin)
        result["product"] = Path(path).name
        result["scene"] = scene_of(product)
        per_product.append(result)
    scenes = sorted({str(r["scene"]) for r in per_product})
    by_scene = {s: _mean([r for r in per_product if str(r["scene"]) == s]) for s in scenes}
    return {"mean": _mean(per_product), "by_scene": by_scene, "products": per_product}


def _mean(results: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("nmse_db", "coherence", "psnr_db", "ssim", "collapse_ratio")
    out = {k: float(np.mean([r[k] for r in results])) for k in keys} if results else {}
    return {**out, "products": len(results)}
