"""`sarssm distill`: teacher, checks, data, student, Trainer; then the no-distillation baseline
and whole-product metrics of all three.

A run writes into `save_dir`:
  config.yaml              the resolved config (CLI > student config > defaults), seed included
  teacher.yaml             the teacher's source and resolved model
  final_student_model/     the best student: model.safetensors + model.yaml + normalization.json
  best/, last/             the same format, best by val_student_loss and after the last epoch
  checkpoints/             best_model.pth and last.ckpt: student, projections, optimiser, schedule
  baseline/                the same student trained with alpha 1, beta = gamma = 0 (a run folder)
  logs/                    CSV and TensorBoard logs
  metrics.json             teacher, student and baseline on the held-out products; retention
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

from sarssm.config import (
    apply_overrides,
    from_dict,
    from_source,
    load_yaml,
    save_yaml,
    to_dict,
)
from sarssm.distill.config import DistillConfig
from sarssm.errors import ConfigError
from sarssm.io import atomic_write_text

log = logging.getLogger(__name__)
TEACHER_PREFIX = "teacher.train."  # overrides of the teacher's training config


def split_overrides(overrides: list[str] | None) -> tuple[list[str], list[str]]:
    """(student overrides, teacher overrides without their `teacher.train.` prefix)."""
    student, teacher = [], []
    for text in overrides or []:
        if text.startswith(TEACHER_PREFIX):
            teacher.append(text[len(TEACHER_PREFIX) :])
        else:
            student.append(text)
    return student, teacher


def resolve_config(
    path: str | Path | None, overrides: list[str] | None = None, **flags: Any
) -> DistillConfig:
    """defaults < student YAML < `key=value` overrides < CLI flags (dotted keys; None: unset).

    A `model.preset` given later than the YAML resets the YAML's preset-defined model keys
    (as in `sarssm train`)."""
    from sarssm.train.run import _reset_model_for_preset

    data = load_yaml(path) if path else {}
    set_flags = [f"{key}={json.dumps(value)}" for key, value in flags.items() if value is not None]
    later = list(overrides or []) + set_flags
    data = _reset_model_for_preset(data, later)
    data = apply_overrides(data, list(overrides or []))
    data = apply_overrides(data, set_flags)
    return from_source(DistillConfig, data, str(path) if path else "config")


def baseline_config(config: DistillConfig) -> DistillConfig:
    """The same student, data, epochs and optimiser with alpha = 1, beta = gamma = 0 and none
    of the distillation extras (and only the labelled products)."""
    data = to_dict(config)
    data.update(save_dir=str(Path(config.save_dir) / "baseline"), baseline=False)
    data["unlabeled_data"] = None
    data["distillation"].update(alpha=1.0, beta=0.0, gamma=0.0, curriculum_epochs=0)
    data["distillation"]["energy_weight"] = 0.0
    data["progressive"]["enabled"] = False
    data["distribution"]["enabled"] = False
    data["beyond"] = {"teacher_forced_epochs": 0, "init_from_teacher": False}
    return from_dict(DistillConfig, data, "baseline")


def distill(
    config: DistillConfig,
    resume: bool = False,
    teacher_overrides: list[str] | None = None,
    extra_callbacks: list | None = None,
    echo=print,
) -> dict[str, Any] | None:
    """Run the distillation (and its baseline); returns metrics.json's content (None on DDP
    ranks other than 0)."""
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor

    from sarssm.distill.data import DistillDataModule
    from sarssm.distill.module import DistillationModule
    from sarssm.distill.monitor import GradientTracker
    from sarssm.distill.teacher import check_student, load_teacher
    from sarssm.models import build_model, count_parameters
    from sarssm.models import resolve_config as resolve_model
    from sarssm.train.callbacks import ExportCallback, export_model
    from sarssm.train.checkpoint import read_checkpoint
    from sarssm.train.run import check_resume, check_run_dir, checkpoints, fit

    save_dir = Path(config.save_dir)
    ckpt_dir = check_run_dir(save_dir, resume, "--save_dir")
    teacher = load_teacher(config.teacher.config, config.teacher.checkpoint, teacher_overrides)
    student_cfg = resolve_model(config.model).resolved()
    if not isinstance(config.model.get("reference"), dict):  # the teacher's (its data's)
        student_cfg = student_cfg.replace(reference=teacher.net.config.reference).resolved()
    if resume:  # against the student built above, whose reference may be the teacher's data's
        check_resume(save_dir, config, student_cfg)
    datamodule = DistillDataModule(
        config.data, teacher.net.config, teacher.scaler, config.unlabeled_data
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    presets = {
        str(_product_preset(e.path)) for split in datamodule.splits.values() for e in split
    } - {"None"}
    for warning in check_student(teacher.net.config, student_cfg, presets):
        log.warning(warning)
        echo(f"warning: {warning}")
    wide = student_cfg.model_dim > teacher.net.config.model_dim
    if wide and not config.progressive.enhanced_projections:
        raise ConfigError(
            f"the student ({student_cfg.model_dim} wide) is wider than the teacher "
            f"({teacher.net.config.model_dim}): its features need a learnable projection "
            "(--enhanced_projections)"
        )

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    L.seed_everything(config.seed, workers=True, verbose=False)
    echo("resolved configuration:\n" + _yaml(config))
    save_yaml(config, save_dir / "config.yaml")
    teacher_info = {"source": teacher.source, "model": to_dict(teacher.net.config)}
    atomic_write_text(save_dir / "teacher.yaml", _yaml(teacher_info))
    teacher.scaler.save(save_dir / "normalization.json")

    test_paths = [e.path for e in datamodule.splits.get("test", [])]
    margin = config.data.loss_margin
    teacher_metrics = _evaluate(
        teacher.net, test_paths, teacher.scaler, margin, config.data.geometry
    )
    if teacher_metrics:
        echo("teacher on held-out products: " + _line(teacher_metrics["mean"]))

    net = build_model(student_cfg)
    init_info = None
    if config.beyond.init_from_teacher and not resume:
        from sarssm.distill.init import init_from_teacher

        init_info = init_from_teacher(net, teacher.net)
    module = DistillationModule(net, teacher.net, config, loss_margin=margin)
    pca_share = None if resume else init_projections(module, datamodule, config)
    t_state = {k: v.clone() for k, v in teacher.net.state_dict().items()}

    monitor = "val_student_loss"
    best_ckpt, last = checkpoints(ckpt_dir, monitor)
    callbacks = [
        best_ckpt,
        last,
        EarlyStopping(monitor=monitor, mode="min", patience=config.trainer.early_stopping_patience),
        LearningRateMonitor(logging_interval="step"),
        ExportCallback(save_dir, teacher.scaler, monitor=monitor),
        GradientTracker(config.monitor.every_n_steps),
        *list(extra_callbacks or []),
    ]
    trainer = fit(module, datamodule, config, callbacks, resume, unused_parameters=True)
    # the baseline next, on every DDP rank (its Trainer joins the same processes); then rank 0
    # alone evaluates and reports
    base = _baseline(config, teacher_overrides) if config.baseline else None
    if not trainer.is_global_zero:
        return None
    for k, v in teacher.net.state_dict().items():
        if not torch.equal(v, t_state[k]):
            raise RuntimeError(f"the teacher's {k} changed during distillation")  # never expected
    if best_ckpt.best_model_path:
        module.load_state_dict(read_checkpoint(best_ckpt.best_model_path)["state_dict"])
    export_model(module.net, teacher.scaler, save_dir / "final_student_model")
    student_metrics = _evaluate(
        module.net, test_paths, teacher.scaler, margin, config.data.geometry
    )
    retention = projection_retention(module, datamodule)
    metrics: dict[str, Any] = {
        "teacher": {"params": count_parameters(teacher.net), **(teacher_metrics or {})},
        "student": {"params": count_parameters(module.net), **(student_metrics or {})},
        "best_checkpoint": Path(best_ckpt.best_model_path).name or None,
        "epochs": trainer.current_epoch,
        "retention": retention,
        "pca_share": pca_share,
        "init_from_teacher": init_info,
    }
    if config.baseline:
        metrics["baseline"] = (base or {}).get("student")
    if student_metrics:
        echo("student on held-out products: " + _line(student_metrics["mean"]))
    if metrics.get("baseline"):
        echo("baseline (no distillation):   " + _line(metrics["baseline"]["mean"]))
    atomic_write_text(save_dir / "metrics.json", json.dumps(metrics, indent=2))
    return metrics


def _baseline(config: DistillConfig, teacher_overrides: list[str] | None) -> dict | None:
    """The baseline run's metrics: read from baseline/metrics.json when it finished before,
    else trained now (resumed when it has a checkpoint); None on DDP ranks other than 0."""
    base_dir = Path(config.save_dir) / "baseline"
    base_metrics_file = base_dir / "metrics.json"
    if base_metrics_file.is_file():
        return json.loads(base_metrics_file.read_text())
    return distill(
        baseline_config(config),
        resume=(base_dir / "checkpoints" / "last.ckpt").is_file(),
        teacher_overrides=teacher_overrides,
        echo=lambda *_: None,
    )


def init_projections(module, datamodule, config: DistillConfig) -> dict[str, list[float]] | None:
    """PCA initialisation of the projections from teacher features of training batches (the
    first `pca_batches` of the epoch-0 draw); returns each pair's variance shares kept."""
    import torch

    prog = config.progressive
    wants_pca = prog.enhanced_projections and prog.projection_type == "pca_init"
    forced = bool(module.forced) and module.net.config.model_dim != module.teacher.config.model_dim
    if not (wants_pca or forced):
        return None
    feats: dict[str, list] = {}
    loader = datamodule.train_dataloader()
    with torch.no_grad():
        for n, batch in enumerate(loader):
            if n >= prog.pca_batches:
                break
            hidden, start, length = module.teacher.hidden_states(
                batch["x"], batch.get("slant_range")
            )
            for i, h in enumerate(hidden):  # h0, then the output of block i - 1
                key = "h0" if i == 0 else f"blocks.{i - 1}"
                feats.setdefault(key, []).append(h[:, start : start + length])
    stacked = {k: torch.cat(v, dim=0) for k, v in feats.items()}
    shares: dict[str, list[float]] = {}
    if wants_pca:
        for key, proj in module.projections.items():
            t_layer = int(key.split("_")[0][1:])
            shares[key] = proj.init_pca(stacked[f"blocks.{t_layer}"]).tolist()
    if forced:
        from sarssm.distill.schedule import matching_layer

        Lt, Ls = module.teacher.config.num_layers, module.net.config.num_layers
        first = 0
        for j in range(Ls):
            last = matching_layer(j, Ls, Lt)
            src = stacked["h0"] if first == 0 else stacked[f"blocks.{first - 1}"]
            module.forced[f"enc{j}"].init_pca(src, decoder=False)
            module.forced[f"dec{j}"].init_pca(stacked[f"blocks.{last}"], decoder=True)
            first = last + 1
    return shares


def projection_retention(module, datamodule, batches: int = 8) -> dict[str, dict[str, float]]:
    """Per coupled pair, on validation batches: the share of the teacher features' variance
    that the coupling reproduces (learnable: P s against t; group mean: the best linear
    reconstruction of t from the group means) and the PCA bound at the student's width."""
    import torch

    from sarssm.distill.projections import (
        GroupMean,
        complex_pca,
        explained_variance,
        least_squares_reconstruction,
    )

    if not datamodule.splits.get("val"):
        return {}
    s_list: dict[str, list] = {}
    t_list: dict[str, list] = {}
    module.eval()
    with torch.no_grad():
        for n, batch in enumerate(datamodule.val_dataloader()):
            if n >= batches:
                break
            x, r0 = batch["x"], batch.get("slant_range")
            _, t_feats = module.teacher(x, r0, return_features=True)
            _, s_feats = module.net(x[..., module.channels], r0, return_features=True)
            for key in module.projections:
                t_layer, s_layer = (int(v[1:]) for v in key.split("_"))
                s_list.setdefault(key, []).append(module._crop(s_feats[f"blocks.{s_layer}"]))
                t_list.setdefault(key, []).append(module._crop(t_feats[f"blocks.{t_layer}"]))
    out = {}
    torch.set_grad_enabled(False)
    for key, proj in module.projections.items():
        s, t = torch.cat(s_list[key]), torch.cat(t_list[key])
        if isinstance(proj, GroupMean):
            kind = "group_mean"
            est = least_squares_reconstruction(proj(t), t).reshape(t.shape)
        else:
            kind = proj.kind
            est = proj(s)
        _, _, share = complex_pca(t, module.net.config.model_dim)
        out[key] = {
            "projection": kind,
            "explained_variance": explained_variance(t, est),
            "pca_bound": float(share.sum()),
        }
    torch.set_grad_enabled(True)
    return out


def _evaluate(net, paths, scaler, margin, geometry=None) -> dict[str, Any] | None:
    from sarssm.eval.products import evaluate_products

    if not paths:
        return None
    result = evaluate_products(net, paths, scaler, margin, geometry)
    pt = [t for r in result["products"] for t in r.pop("point_targets")]
    result["point_targets"] = _point_summary(pt)
    return result


def _point_summary(targets: list[dict[str, Any]]) -> dict[str, float]:
    import numpy as np

    def mean(side: str, key: str) -> float | None:
        values = [t[side][key] for t in targets if t[side].get(key) is not None]
        if key == "phase_error_rad":
            values = [abs(v) for v in values]
        values = [v for v in values if np.isfinite(v)]
        return float(np.mean(values)) if values else None

    out: dict[str, float] = {"count": len(targets)}
    for side in ("model", "reference"):
        for key in ("pslr_db", "irw_samples", "phase_error_rad"):
            out[f"{side}_{key}"] = mean(side, key)
    return out


def _product_preset(path) -> str | None:
    from sarssm.data.store import open_product

    return open_product(path).attrs.get("preset")


def _line(m: dict[str, float]) -> str:
    keys = ("nmse_db", "psnr_db", "ssim", "collapse_ratio")
    return ", ".join(f"{k}={m[k]:.3f}" for k in keys if k in m)


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(to_dict(data), sort_keys=False)
