"""`sarssm evaluate`: every metric for each model, the reference processor and a pass-through.

Entries, each focused over whole products (every column, the model's delay removed by
`predict_product`):
- each `--model` folder (`best/`, `final_student_model/`, or a run folder holding one);
- `reference`: the classical range-Doppler processor (`sarssm.focus.rda`) run again on the
  product's `rc`. On simulated products the ground truth `az` *is* this processor's output, so
  its image metrics only show float rounding; its point-target quality and its cost are the
  figures to compare against. On a real product it is our processor against the archive's own;
- `pass-through`: the input level itself, scaled to the ground truth's energy (what a model
  that learnt nothing would score).

Windows (both reported, each labelled):
- `product`: the whole product less `margin` rows at each column end (rows whose synthetic
  aperture leaves the column; default half the longest 3-dB aperture);
- `patch`: the earlier pipeline's [P x 1] patches (P = 1000 rows, or the whole column window
  when the product is shorter), each with its own peak for PSNR and a 1-D SSIM, averaged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.errors import ConfigError, ProductError

# What every entry of metrics.json holds at least (docs/evaluation.md lists the rest).
ENTRY_KEYS = ("params", "macs_per_sample", "nmse_db", "psnr_db", "ssim", "coherence", "pslr_db",
              "irw_ratio", "islr_db", "phase_error_rad", "collapse_ratio",
              "latency_ms_per_column")  # fmt: skip
IMAGE_KEYS = ("nmse_db", "coherence", "psnr_db", "ssim", "collapse_ratio")
POINT_KEYS = ("pslr_db", "irw_ratio", "islr_db", "phase_error_rad")
PATCH_ROWS = 1000  # the earlier pipeline's patch length
HISTOGRAM_SAMPLES = 200_000  # values per entry kept for the distribution figure
MODEL_LEAVES = ("final_student_model", "best", "last")


@dataclass
class Entry:
    """One row of the comparison: a trained model, the reference processor or the pass-through."""

    name: str
    kind: str  # model | reference | pass-through
    path: Path | None = None
    net: Any = None
    scaler: Any = None
    results: list[dict[str, Any]] = field(default_factory=list)
    samples: list[np.ndarray] = field(default_factory=list)


# --- what to evaluate ---------------------------------------------------------------------
def model_folder(path: str | Path) -> Path:
    """The folder holding model.yaml: `path` itself, or its best/ or final_student_model/."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--model {path}: no such folder")
    if (path / "model.yaml").is_file():
        return path
    for leaf in MODEL_LEAVES:
        if (path / leaf / "model.yaml").is_file():
            return path / leaf
    leaves = ", ".join(leaf + "/" for leaf in MODEL_LEAVES)
    raise ConfigError(
        f"--model {path}: no model.yaml there or in {leaves} "
        "(pass a model folder written by `sarssm train` or `sarssm distill`)"
    )


def load_model_folder(where: str | Path, scales: bool = True) -> tuple[Path, Any, Any]:
    """(folder, model, its `ComplexScaler` or None without `scales`) of `--model DIR`
    (`model_folder` finds the folder); a missing normalization.json is a ConfigError."""
    from sarssm.data.normalize import ComplexScaler
    from sarssm.models import load_model

    folder = model_folder(where)
    scaler = None
    if scales:
        scale_file = folder / "normalization.json"
        if not scale_file.is_file():
            raise ConfigError(f"--model {where}: {scale_file} is missing (the model's scales)")
        scaler = ComplexScaler.load(scale_file)
    return folder, load_model(folder), scaler


def run_folder(folder: Path) -> Path:
    """The run a model folder belongs to: the folder above best/, final_student_model/ or
    last/, else the folder itself."""
    return folder.parent if folder.name in MODEL_LEAVES else folder


def default_name(folder: Path) -> str:
    """`teacher` for runs/demo/teacher/best, `demo-tiny-baseline` for .../demo-tiny/baseline/..."""
    run = run_folder(folder)
    if run.name == "baseline":
        return f"{run.parent.name}-baseline"
    return run.name


def load_entries(specs: list[str]) -> list[Entry]:
    """`--model [NAME=]DIR` -> loaded models (eval mode) with their normalisation."""
    entries: list[Entry] = []
    for spec in specs:
        name, sep, where = spec.partition("=")
        if not sep:
            name, where = "", spec
        folder, net, scaler = load_model_folder(where)
        name = name or default_name(folder)
        taken = {e.name for e in entries}
        base, n = name, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        entries.append(Entry(name, "model", folder, net, scaler))
    return entries


def default_margin(product: Any) -> int:
    """Half the longest 3-dB synthetic aperture of the product, in rows."""
    return math.ceil(float(np.max(product.geometry.aperture_samples())) / 2)


# --- predictions --------------------------------------------------------------------------
def predict(entry: Entry, product: Any, input_level: str) -> np.ndarray:
    from sarssm.eval.products import predict_product
    from sarssm.focus.rda import azimuth_compress, focus_rc

    if entry.kind == "model":
        return predict_product(entry.net, product, entry.scaler)
    if entry.kind == "reference":
        if "rc" in product.levels:
            return focus_rc(product.read("rc"), product.geometry)["az"].astype(np.complex64)
        return azimuth_compress(product.read("rcmc"), product.geometry).astype(np.complex64)
    x = product.read(input_level)
    y = product.read("az")
    gain = math.sqrt(float(np.sum(np.abs(y) ** 2)) / max(float(np.sum(np.abs(x) ** 2)), 1e-30))
    return (x * gain).astype(np.complex64)


def latency_ms_per_column(
    entry: Entry, product: Any, input_level: str, repeats: int = 5, min_seconds: float = 0.5
) -> float:
    """Best of at least `repeats` timed runs over the whole product (after one warm-up), and
    of as many more as fit in `min_seconds`, per column."""
    if entry.kind == "pass-through":
        return 0.0
    predict(entry, product, input_level)
    best, start, n = math.inf, time.perf_counter(), 0
    while n < repeats or time.perf_counter() - start < min_seconds:
        n += 1
        t0 = time.perf_counter()
        predict(entry, product, input_level)
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best / product.shape[1]


def reference_macs_per_sample(product: Any) -> float:
    """Real MACs per output sample of the reference processor, counted from its FFTs: per
    column two azimuth FFT/IFFT pairs and two filter products; RCMC as one range FFT/IFFT pair
    over the column block with its context, per Doppler bin."""
    from sarssm.focus.rda import BLOCK_COLUMNS, CONTEXT_COLUMNS, fft_length
    from sarssm.models.cost import fft_macs

    rows, cols = product.shape
    nfft = fft_length(product.geometry, rows)
    block = min(cols, BLOCK_COLUMNS)
    width = block + 2 * min(cols, CONTEXT_COLUMNS)
    nr = 1 << max(1, (2 * width - 1).bit_length())
    azimuth = 4 * fft_macs(nfft) + 2 * 4 * nfft  # per column
    rcmc = nfft * (2 * fft_macs(nr) + 4 * nr) / block  # per column
    return (azimuth + rcmc) / rows


# --- metrics ------------------------------------------------------------------------------
def patch_metrics(pred: np.ndarray, target: np.ndarray, rows: int) -> dict[str, Any]:
    """Mean NMSE, PSNR (per-patch peak) and 1-D SSIM over [rows x 1] patches of the window."""
    from sarssm.eval.metrics import evaluate_arrays

    n = min(rows, target.shape[0])
    values: dict[str, list[float]] = {k: [] for k in ("nmse_db", "psnr_db", "ssim")}
    for c in range(target.shape[1]):
        for r0 in range(0, target.shape[0] - n + 1, n):
            t = target[r0 : r0 + n, c]
            if not np.any(t):
                continue
            m = evaluate_arrays(pred[r0 : r0 + n, c], t, spatial_dims=1)
            for k in values:
                values[k].append(m[k])
    out: dict[str, Any] = {k: float(np.mean(v)) if v else None for k, v in values.items()}
    out.update(window=f"{n}x1", patches=len(values["nmse_db"]))
    return out


def product_metrics(
    pred: np.ndarray, product: Any, margin: int, patch_rows: int = PATCH_ROWS
) -> dict[str, Any]:
    """Image, distribution, patch and point-target metrics of one prediction."""
    from sarssm.eval.products import evaluate_product, scene_of

    out = evaluate_product(pred, product, margin)
    target = product.read("az")
    rows = slice(margin, target.shape[0] - margin)
    out["patch"] = patch_metrics(pred[rows], target[rows], patch_rows)
    out["product"] = product.name
    out["scene"] = scene_of(product)
    return out


def point_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over every measurable point target: the entry's values, the reference
    processor's on the same targets (the product's az), and their differences."""
    pairs = [t for r in results for t in r["point_targets"]]
    ok = [t for t in pairs if not t["model"]["error"] and not t["reference"]["error"]]
    out: dict[str, Any] = {"point_targets": len(pairs), "point_targets_measured": len(ok)}
    for key in POINT_KEYS:
        model = [t["model"][key] for t in ok if t["model"].get(key) is not None]
        ref = [t["reference"][key] for t in ok if t["reference"].get(key) is not None]
        if key == "phase_error_rad":
            model, ref = [abs(v) for v in model], [abs(v) for v in ref]
        out[key] = float(np.mean(model)) if model else None
        out[f"reference_{key}"] = float(np.mean(ref)) if ref else None
    deltas = [t["model"]["pslr_db"] - t["reference"]["pslr_db"] for t in ok]
    out["pslr_delta_db_max"] = float(np.max(np.abs(deltas))) if deltas else None
    return out


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over products of the image and patch metrics, and the point-target summary."""
    out: dict[str, Any] = {"products": len(results)}
    for key in IMAGE_KEYS:
        out[key] = float(np.mean([r[key] for r in results]))
    dist_keys = sorted({k for r in results for k in r.get("distribution", {})})
    out["distribution"] = {
        k: float(np.mean([r["distribution"][k] for r in results])) for k in dist_keys
    }
    out["patch"] = {
        "window": ", ".join(sorted({r["patch"]["window"] for r in results})),
        "patches": int(sum(r["patch"]["patches"] for r in results)),
        **{
            k: float(np.mean([r["patch"][k] for r in results if r["patch"][k] is not None]))
            for k in ("nmse_db", "psnr_db", "ssim")
        },
    }
    out.update(point_summary(results))
    return out


def entry_cost(entry: Entry, product: Any) -> dict[str, Any]:
    from sarssm.models import count_parameters, macs_per_sample

    if entry.kind == "model":
        cfg = entry.net.config
        return {
            "params": count_parameters(entry.net),
            "macs_per_sample": macs_per_sample(entry.net, "conv", product.shape[0]),
            "macs_step_per_sample": macs_per_sample(entry.net, "step"),
            "state_complex_per_column": int(cfg.pole_budget),
            "preset": cfg.name,
            "selectivity": cfg.selectivity,
            "input": cfg.input_level,
            "delay": int(cfg.delay),
        }
    if entry.kind == "reference":
        return {"params": 0, "macs_per_sample": reference_macs_per_sample(product)}
    return {"params": 0, "macs_per_sample": 0.0}


def keep_samples(entry: Entry, pred: np.ndarray, every: int) -> None:
    entry.samples.append(np.asarray(pred).reshape(-1)[::every])


# --- the whole evaluation -----------------------------------------------------------------
def evaluate(
    model_specs: list[str],
    data: str | Path | list[str | Path],
    margin: int | None = None,
    patch_rows: int = PATCH_ROWS,
    echo=print,
    geometry_overrides: Any = None,
    select: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate every entry on every product of `data`; returns (metrics, figure data).

    `geometry_overrides` (`--geometry` items or a dict) apply to every product's geometry;
    `select` narrows the products found (a function of the path list: `--products FILE`).
    Products without a point-target list (real ones) have their point-target metrics n/a.
    """
    from sarssm.data.store import list_products, open_product

    sources = data if isinstance(data, list) else [data]
    paths = []
    for source in sources:
        found = list_products(source)
        if not found:
            raise ProductError(f"--data {source}: no products (*.zarr groups) there")
        paths += [p for p in found if p not in paths]
    if select is not None:
        paths = select(paths)
    products = [open_product(p, geometry_overrides) for p in paths]
    for product in products:
        if "az" not in product.levels:
            raise ProductError(
                f"{product.path}: no 'az' array: evaluation needs the focused ground truth "
                f"(levels present: {product.levels})"
            )
    models = load_entries(model_specs)
    input_level = models[0].net.config.input_level if models else "rc"
    entries = [*models, Entry("reference", "reference"), Entry("pass-through", "pass-through")]
    total = sum(p.shape[0] * p.shape[1] for p in products)
    every = max(1, total // HISTOGRAM_SAMPLES)
    figure_product = pick_figure_product(products)
    figure: dict[str, Any] = {"product": figure_product.name, "predictions": {}}
    margins = {}
    from tqdm import tqdm

    from sarssm.progress import is_terminal

    steps = len(products) * len(entries)
    with tqdm(total=steps, desc="evaluate", leave=False, disable=not is_terminal()) as bar:
        for product in products:
            m = default_margin(product) if margin is None else int(margin)
            if not 0 <= 2 * m < product.shape[0]:
                raise ConfigError(
                    f"--margin {m} leaves no rows of {product.name} ({product.shape[0]} rows)"
                )
            margins[product.name] = m
            target = product.read("az")
            for entry in entries:
                bar.set_postfix_str(f"{entry.name} on {product.name}"[:60])
                pred = predict(entry, product, input_level)
                result = product_metrics(pred, product, m, patch_rows)
                entry.results.append(result)
                rows = slice(m, product.shape[0] - m)
                keep_samples(entry, pred[rows], every)
                if product is figure_product:
                    figure["predictions"][entry.name] = pred
                bar.update()
            figure.setdefault("target_samples", []).append(
                np.asarray(target[m : product.shape[0] - m]).reshape(-1)[::every]
            )
        figure["input"] = figure_product.read(input_level)
        figure["target"] = figure_product.read("az")
        figure["margin"] = margins[figure_product.name]
        figure["point_targets"] = figure_product.point_targets
        figure["geometry"] = figure_product.geometry
    timing = products[0]
    out: dict[str, Any] = {
        "data": ", ".join(str(s) for s in sources),
        "products": [p.name for p in products],
        "margins": margins,
        "input_level": input_level,
        "windows": {
            "product": "whole product less `margin` rows at each column end",
            "patch": f"[{patch_rows} x 1] patches (the column window when shorter), per-patch peak",
        },
        "latency_product": timing.name,
        "models": {},
    }
    for entry in entries:
        echo(f"timing {entry.name} on {timing.name}")
        summary = {
            "kind": entry.kind,
            "path": str(entry.path) if entry.path else None,
            **entry_cost(entry, timing),
            "latency_ms_per_column": latency_ms_per_column(entry, timing, input_level),
            **summarise(entry.results),
        }
        scenes = sorted({r["scene"] for r in entry.results})
        summary["by_scene"] = {
            s: summarise([r for r in entry.results if r["scene"] == s]) for s in scenes
        }
        summary["per_product"] = [
            {k: v for k, v in r.items() if k != "point_targets"} for r in entry.results
        ]
        summary["point_target_list"] = [
            {"product": r["product"], **t} for r in entry.results for t in r["point_targets"]
        ]
        summary["run"] = run_info(entry)
        out["models"][entry.name] = summary
        figure.setdefault("samples", {})[entry.name] = np.concatenate(entry.samples)
    figure["target_samples"] = np.concatenate(figure["target_samples"])
    return out, figure


def run_info(entry: Entry) -> dict[str, Any] | None:
    """What the model's run folder says about how it was made (distillation weights,
    projection, held-out feature retention), when the folder is inside a run."""
    import json

    import yaml

    if entry.path is None:
        return None
    run = run_folder(entry.path)
    info: dict[str, Any] = {}
    config = run / "config.yaml"
    if config.is_file():
        cfg = yaml.safe_load(config.read_text()) or {}
        d = cfg.get("distillation") or {}
        prog = cfg.get("progressive") or {}
        if d:
            info["weights"] = {k: d.get(k) for k in ("alpha", "beta", "gamma", "temperature")}
            info["projection"] = (
                prog.get("projection_type") if prog.get("enhanced_projections") else "group_mean"
            )
        info["epochs_max"] = (cfg.get("trainer") or {}).get("max_epochs")
    metrics = run / "metrics.json"
    if metrics.is_file():
        saved = json.loads(metrics.read_text())
        info["retention"] = saved.get("retention")
        info["epochs"] = saved.get("epochs")
    return info or None


def pick_figure_product(products: list[Any]) -> Any:
    """The product with the most point targets (the first one on a tie)."""
    return max(products, key=lambda p: len(p.point_targets))


def run_evaluation(
    model_specs: list[str],
    data: str | Path | list[str | Path],
    out: str | Path,
    margin: int | None = None,
    patch_rows: int = PATCH_ROWS,
    teacher: str | None = None,
    title: str = "sarssm evaluation",
    preface: str = "",
    echo=print,
    geometry_overrides: Any = None,
    select: Any = None,
) -> dict[str, Any]:
    """Evaluate (`evaluate`), then write out/metrics.json, out/report.md and
    out/figures/*.png."""
    import json

    from sarssm.eval.figures import write_figures
    from sarssm.eval.pointtarget import to_jsonable
    from sarssm.eval.report import write_report
    from sarssm.io import atomic_write_text, prepare_output_dir

    out = prepare_output_dir(out, "--out")  # before the work: a bad --out fails at once
    metrics, figure = evaluate(
        model_specs, data, margin, patch_rows, echo, geometry_overrides, select
    )
    metrics["figures"] = write_figures(figure, metrics, out)
    metrics = to_jsonable(metrics)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    write_report(metrics, metrics["figures"], out, teacher, title, preface)
    return metrics
