"""The earlier pipeline's diagnostics, with its names and arguments, computed for real.

compare_models(teacher_config=, student_config=)        architecture and cost side by side
test_feature_extraction(teacher_path=, student_config=)  taps, couplings per stage, projections
analyze_distributions(model_path=, data=)                moments, collapse ratio, histograms
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

COST_ROWS = (
    "model_dim", "state_dim", "num_layers", "selectivity", "direction", "delay", "input",
    "params", "macs_step", "macs_conv", "pole_budget", "data_tbp",
)  # fmt: skip


def _teacher_model(teacher_config: str | Path) -> Any:
    """A teacher model config from a training YAML, a model folder or a checkpoint."""
    from sarssm.models import resolve_config
    from sarssm.train.run import resolve_config as train_config

    path = Path(teacher_config)
    if path.is_dir() or path.suffix in (".pth", ".ckpt"):
        from sarssm.distill.teacher import load_any_model

        return load_any_model(path)[0].config
    return resolve_config(train_config(path).model)


def _student_model(student_config: str | Path | None, overrides: list[str] | None = None) -> Any:
    from sarssm.distill.run import resolve_config
    from sarssm.models import resolve_config as resolve_model

    return resolve_model(resolve_config(student_config, overrides).model)


def compare_models(
    teacher_config: str | Path, student_config: str | Path, echo=print
) -> dict[str, dict[str, Any]]:
    """Architecture and cost of the teacher and the student, side by side (printed)."""
    from sarssm.models import SarSSM, model_cost

    teacher = model_cost(SarSSM(_teacher_model(teacher_config)))
    student = model_cost(SarSSM(_student_model(student_config)))
    echo(f"{'':<14} {'teacher':>14} {'student':>14}")
    for key in COST_ROWS:
        a, b = teacher.get(key), student.get(key)
        echo(f"{key:<14} {_fmt(a):>14} {_fmt(b):>14}")
    ratio = teacher["params"] / max(student["params"], 1)
    echo(f"{'compression':<14} {'':>14} {ratio:>13.1f}x")
    return {"teacher": teacher, "student": student, "compression": ratio}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def test_feature_extraction(
    teacher_path: str | Path, student_config: str | Path, echo=print, length: int = 256
) -> dict[str, Any]:
    """Run both models on one simulated column batch; report every tap's shape, the coupled
    pairs of each stage and the projection each pair would use."""
    from sarssm.distill.projections import FeatureProjection, GroupMean
    from sarssm.distill.run import resolve_config
    from sarssm.distill.schedule import coupling_stages
    from sarssm.distill.teacher import load_any_model
    from sarssm.models import build_model

    teacher, _ = load_any_model(teacher_path)
    cfg = resolve_config(student_config)
    student = build_model(cfg.model)
    tc, sc = teacher.config, student.config
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, length, tc.input_channels, 2, generator=gen)
    x = torch.view_as_complex(x)
    r0 = torch.full((2,), tc.reference.range_m, dtype=torch.float64)
    k = tc.range_neighbours - sc.range_neighbours
    with torch.no_grad():
        _, t_feats = teacher(x, r0, return_features=True)
        _, s_feats = student(x[..., k : k + sc.input_channels], r0, return_features=True)
    taps = {
        "teacher": {name: list(f.shape) for name, f in t_feats.items()},
        "student": {name: list(f.shape) for name, f in s_feats.items()},
    }
    for side, shapes in taps.items():
        echo(f"{side} taps: " + ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items()))
    stages = coupling_stages(tc.num_layers, sc.num_layers)
    prog = cfg.progressive
    if prog.enhanced_projections:
        proj = FeatureProjection(sc.model_dim, tc.model_dim, prog.projection_type)
        kind = f"{prog.projection_type} student {sc.model_dim} -> teacher {tc.model_dim}"
    elif sc.model_dim <= tc.model_dim:
        proj = GroupMean(tc.model_dim, sc.model_dim)
        kind = f"group mean teacher {tc.model_dim} -> student {sc.model_dim} (fixed)"
    else:
        proj = None
        kind = (
            f"none: the student ({sc.model_dim}) is wider than the teacher ({tc.model_dim}); "
            "distillation needs --enhanced_projections"
        )
    n_params = sum(p.numel() for p in proj.parameters()) if proj is not None else 0
    for i, pairs in enumerate(stages):
        text = ", ".join(f"teacher blocks.{t} <-> student blocks.{s}" for t, s in pairs)
        echo(f"stage {i + 1}: {text}")
    echo(f"projection per pair: {kind}, {n_params} parameters")
    if not prog.enabled:
        echo("progressive coupling is off: every pair of the last stage from the first epoch")
    return {
        "taps": taps,
        "stages": [[list(p) for p in pairs] for pairs in stages],
        "projection": kind,
        "projection_params": n_params,
    }


def analyze_distributions(
    model_path: str | Path,
    data: str | Path | None = None,
    data_loader: Any = None,
    out: str | Path | None = None,
    echo=print,
) -> dict[str, Any]:
    """Moments of Re, Im and |.| of the model's output against the ground truth, the collapse
    ratio, and a histogram PNG (in `out`, when given).

    `data`: a product folder or a list of product paths (each focused whole); `data_loader`:
    an iterable of
    batches as `SarDataModule` gives them (normalised units)."""
    from sarssm.distill.teacher import load_any_model
    from sarssm.eval.metrics import collapse_ratio, distribution_stats

    net, scaler = load_any_model(model_path)
    net.eval()
    preds, targets = [], []
    if data is not None:
        from sarssm.data.store import list_products, open_product
        from sarssm.eval.products import predict_product

        paths = data if isinstance(data, (list, tuple)) else list_products(Path(data))
        for path in paths:
            product = open_product(path)
            if "az" not in product.levels:
                continue
            preds.append(predict_product(net, product, scaler).reshape(-1))
            targets.append(product.read("az").reshape(-1))
    elif data_loader is not None:
        with torch.no_grad():
            for batch in data_loader:
                k = net.config.range_neighbours
                c = batch["x"].shape[-1] // 2
                y = net(batch["x"][..., c - k : c + k + 1], batch.get("slant_range"))
                preds.append(y.reshape(-1).numpy())
                targets.append(batch["y"].reshape(-1).numpy())
    else:
        raise ValueError("analyze_distributions: give data= (a product folder) or data_loader=")
    if not preds:
        raise ValueError(f"analyze_distributions: no labelled products in {data}")
    p, t = np.concatenate(preds), np.concatenate(targets)
    sp, st = distribution_stats(p), distribution_stats(t)
    result: dict[str, Any] = {
        "collapse_ratio": float(collapse_ratio(p, t)),
        "prediction": {k: float(v) for k, v in sp.items()},
        "ground_truth": {k: float(v) for k, v in st.items()},
    }
    echo(f"{'':<16} {'prediction':>12} {'ground truth':>12}")
    for key in st:
        echo(f"{key:<16} {float(sp[key]):>12.4g} {float(st[key]):>12.4g}")
    echo(f"collapse ratio std(pred)/std(gt) = {result['collapse_ratio']:.4f}")
    if out is not None:
        result["figure"] = str(_histograms(p, t, Path(out) / "distributions.png"))
        echo(f"histograms: {result['figure']}")
    return result


def _histograms(pred: np.ndarray, target: np.ndarray, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (name, f) in zip(
        axes, (("Re", np.real), ("Im", np.imag), ("|.|", np.abs)), strict=True
    ):
        a, b = f(target), f(pred)
        lo, hi = np.percentile(np.concatenate([a, b]), [0.1, 99.9])
        bins = np.linspace(lo, hi, 80)
        ax.hist(a, bins=bins, histtype="step", label="ground truth", density=True)
        ax.hist(b, bins=bins, histtype="step", label="prediction", density=True)
        ax.set_yscale("log")
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    from sarssm.train.callbacks import save_png

    save_png(fig, path)
    plt.close(fig)
    return path


test_feature_extraction.__test__ = False  # a diagnostic, not a pytest test
