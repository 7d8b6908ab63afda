"""`sarssm train`: build the data, the model and the Trainer from a config, fit, export, report.

A run writes into `save_dir`:
  config.yaml          the resolved config (after overrides and flags), seed included
  best/, last/         model.safetensors + model.yaml + normalization.json (+ info.yaml)
  checkpoints/         Lightning checkpoints: best_model.pth, last.ckpt (resumes the run)
  logs/                TensorBoard logs; figures/ validation figures (PNG)
  metrics.json         validation and test metrics of the best model
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import signal
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
from sarssm.errors import ConfigError, RunInterrupted
from sarssm.io import atomic_write_text
from sarssm.train.config import TrainConfig

log = logging.getLogger(__name__)


def resolve_config(
    path: str | Path | None, overrides: list[str] | None = None, **flags: Any
) -> TrainConfig:
    """defaults < YAML file < `key=value` overrides < CLI flags (dotted keys, None = not set).

    An override of `model.preset` starts the model from that preset: the keys a preset defines
    (`sarssm.models.config.PRESET_KEYS`, and the derived delay, reference and pre-filter) are
    dropped from the YAML's model section, with a warning, so the new preset is not silently
    mixed with the old one's settings; other overrides still apply on top.
    """
    data = load_yaml(path) if path else {}
    set_flags = [f"{key}={json.dumps(value)}" for key, value in flags.items() if value is not None]
    later = list(overrides or []) + set_flags
    data = _reset_model_for_preset(data, later)
    data = apply_overrides(data, list(overrides or []))
    data = apply_overrides(data, set_flags)
    return from_source(TrainConfig, data, str(path) if path else "config")


def _reset_model_for_preset(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    from sarssm.config import parse_override
    from sarssm.models.config import DERIVED_KEYS, PRESET_KEYS

    if not any(parse_override(o)[0] == ["model", "preset"] for o in overrides):
        return data
    model = data.get("model")
    if not isinstance(model, dict):
        return data
    dropped = [k for k in model if k in PRESET_KEYS + DERIVED_KEYS]
    if dropped:
        log.warning(
            "model.preset is overridden: the config's model keys %s are dropped (the preset "
            "defines them); set them again on the command line to keep them",
            dropped,
        )
    return {**data, "model": {k: v for k, v in model.items() if k not in dropped}}


def train(
    config: TrainConfig,
    resume: bool = False,
    extra_callbacks: list | None = None,
    simulate: bool = False,
) -> dict[str, Any] | None:
    """Fit, export best/ and last/, evaluate the best model; returns the metrics dict
    (None on DDP ranks other than 0).

    `extra_callbacks` are added to the Trainer's (for monitoring, or tests that interrupt).
    `simulate`: make `data.simulate`'s products in `data.path` when it holds none (else a
    missing or empty data folder is an error).
    """
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor

    from sarssm.data.datamodule import SarDataModule
    from sarssm.models import build_model
    from sarssm.models import resolve_config as resolve_model
    from sarssm.models.config import reference_from_data
    from sarssm.train.callbacks import ExportCallback, FigureCallback
    from sarssm.train.module import FocusingModule

    save_dir = Path(config.save_dir)
    ckpt_dir = check_run_dir(save_dir, resume, "--save-dir", config)
    # Lightning's own use of a deprecated torch API; nothing for a user to act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    L.seed_everything(config.seed, workers=True, verbose=False)

    model_config = resolve_model(config.model)
    scaler = _saved_scaler(save_dir) if resume else None
    datamodule = SarDataModule(
        config.data,
        model_config,
        scaler=scaler,
        simulate=simulate,
        reference_from_data=reference_from_data(config.model),
    )
    datamodule.prepare_data()
    datamodule.setup("fit")  # the data are checked before the run writes anything
    model_config = datamodule.model  # with `model.reference: data`, the training products'
    save_yaml(config, save_dir / "config.yaml")
    if not resume:
        datamodule.scaler.save(save_dir / "normalization.json")

    net = build_model(model_config)
    module = FocusingModule(
        net,
        config.loss,
        to_dict(config.optim),
        to_dict(config.schedule),
        loss_margin=config.data.loss_margin,
    )
    tc = config.trainer
    checkpoint, last = checkpoints(ckpt_dir, "val/loss")
    callbacks = [
        checkpoint,
        last,
        EarlyStopping(monitor="val/loss", mode="min", patience=tc.early_stopping_patience),
        LearningRateMonitor(logging_interval="step"),
        ExportCallback(save_dir, datamodule.scaler),
    ]
    if tc.figure_every_n_epochs:
        callbacks.append(FigureCallback(save_dir / "figures", tc.figure_every_n_epochs))
    callbacks += list(extra_callbacks or [])
    trainer = fit(module, datamodule, config, callbacks, resume)
    metrics = evaluate_best(trainer, module, datamodule, checkpoint.best_model_path)
    if not trainer.is_global_zero:
        return None  # other DDP ranks: rank 0 reports
    atomic_write_text(save_dir / "metrics.json", json.dumps(metrics, indent=2))
    return metrics


# Keys a resumed run may change: where things are and how the run is executed, not what it
# computes (`check_resume`). Dotted prefixes: "logging." covers the section.
RESUMABLE = (
    "save_dir",
    "data.path",
    "data.num_workers",
    "data.pin_memory",
    "data.cache_mb",
    "trainer.max_epochs",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.progress_bar",
    "trainer.log_every_n_steps",
    "trainer.max_nonfinite_steps",
    "logging.",
    "teacher.",
)


def check_run_dir(save_dir: Path, resume: bool, flag: str, config: Any = None) -> Path:
    """Make `save_dir` ready (creatable, writable, not a product) and return its checkpoints/
    folder; refuses `--resume` without a run, a new run over an old one (`flag` names the
    option that chooses another folder) and, with `config`, a resume whose config or
    checkpoint is not the run's (`check_resume`). Nothing is written before these checks."""
    from sarssm.io import prepare_output_dir

    prepare_output_dir(save_dir, flag)
    ckpt_dir = Path(save_dir) / "checkpoints"
    last_ckpt = ckpt_dir / "last.ckpt"
    if resume and not last_ckpt.is_file():
        raise ConfigError(f"--resume: no checkpoint to resume from at {last_ckpt}")
    if not resume and last_ckpt.is_file():
        raise ConfigError(
            f"{save_dir} already holds a run; pass --resume to continue it or choose another {flag}"
        )
    if resume and config is not None:
        check_resume(Path(save_dir), config)
    return ckpt_dir


def check_resume(save_dir: Path, config: Any, model: Any = None) -> None:
    """Refuse to resume the run in `save_dir` with a config that computes something else than
    the one it started with (`config.yaml`; only the `RESUMABLE` keys may change) or from a
    checkpoint that is unreadable or holds another model than `model` (a resolved
    `ModelConfig`; default: the config's, which `distill` replaces with the student it builds
    from the teacher's reference)."""
    from sarssm.models import resolve_config as resolve_model
    from sarssm.models.config import DERIVED_KEYS, reference_from_data
    from sarssm.train.checkpoint import check_checkpoint_model

    saved_file = save_dir / "config.yaml"
    if saved_file.is_file():
        saved = from_dict(type(config), load_yaml(saved_file), str(saved_file))
        old, new = _flat(_resolved(saved)), _flat(_resolved(config))
        changed = [
            k
            for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k) and not any(_under(k, r) for r in RESUMABLE)
        ]
        if changed:
            shown = ", ".join(
                f"{k} (run: {old.get(k)!r}, now: {new.get(k)!r})" for k in changed[:4]
            )
            more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
            raise ConfigError(
                f"--resume: the config differs from the run's {saved_file} in {shown}{more}; a "
                "run resumes with the config it started with (only where it runs and how long "
                "may change, e.g. trainer.max_epochs): start a new run in another folder"
            )
    last = save_dir / "checkpoints" / "last.ckpt"
    if model is not None:
        check_checkpoint_model(last, model, "the config")
        return
    # `model.reference: data`: the reference (and what follows from it) is the run's data's
    ignore = DERIVED_KEYS if reference_from_data(config.model) else ()
    check_checkpoint_model(last, resolve_model(config.model).resolved(), "the config", ignore)


def _resolved(config: Any) -> dict[str, Any]:
    """The config as a dict with its model resolved (a preset and its keys spelled out)."""
    from sarssm.models import resolve_config as resolve_model

    data = to_dict(config)
    data["model"] = to_dict(resolve_model(config.model).resolved())
    return data


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    if not isinstance(data, dict) or not data:
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _under(key: str, allowed: str) -> bool:
    return key.startswith(allowed) if allowed.endswith(".") else key == allowed


def fit(
    module,
    datamodule,
    config: Any,
    callbacks: list,
    resume: bool,
    label: str = "",
    unused_parameters: bool = False,
):
    """Build the Trainer from `config.trainer` and `config.logging`, fit (from last.ckpt when
    resuming) and keep the CSV log's earlier rows; returns the Trainer. Progress: a bar in a
    terminal (`trainer.progress_bar`), else one line per epoch headed by `label`.

    Shared by training and distillation: checkpoints are written atomically
    (`AtomicCheckpointIO`), steps with a non-finite loss or gradient are skipped
    (`NonFiniteGuard`, `trainer.max_nonfinite_steps`), the samplers shard the data across DDP
    ranks themselves, and Ctrl-C ends with `RunInterrupted` saying how to resume.
    `unused_parameters`: some trained parameters may take no part in a step (distillation's
    staged projections); DDP is then told to look for them."""
    import lightning as L

    from sarssm.train.checkpoint import AtomicCheckpointIO, read_checkpoint
    from sarssm.train.faults import NonFiniteGuard
    from sarssm.train.progress import progress_callbacks

    save_dir = Path(config.save_dir)
    tc = config.trainer
    shown, bar = progress_callbacks(tc.progress_bar, label or save_dir.name)
    guard = NonFiniteGuard(tc.max_nonfinite_steps, save_dir / "checkpoints")
    strategy = tc.strategy
    if unused_parameters and strategy == "ddp":
        strategy = "ddp_find_unused_parameters_true"
    trainer = L.Trainer(
        max_epochs=tc.max_epochs,
        accelerator=tc.accelerator,
        devices=tc.devices,
        num_nodes=tc.num_nodes,
        strategy=strategy,
        precision=tc.precision,
        gradient_clip_val=tc.gradient_clip_val or None,
        log_every_n_steps=tc.log_every_n_steps,
        limit_val_batches=tc.limit_val_batches,
        deterministic=tc.deterministic,
        enable_progress_bar=bar,
        enable_model_summary=False,
        logger=_loggers(config, save_dir),
        callbacks=[*callbacks, guard, *shown],
        default_root_dir=save_dir,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # the samplers shard by rank (SarDataModule.shard)
    )
    csv_log = save_dir / "logs" / "csv" / "metrics.csv"
    earlier = _read_csv(csv_log) if resume else []  # the CSV logger starts its file anew
    last_ckpt = save_dir / "checkpoints" / "last.ckpt"
    start_epoch = read_checkpoint(last_ckpt)["epoch"] + 1 if resume else 0
    try:
        trainer.fit(
            module,
            datamodule=datamodule,
            ckpt_path=str(last_ckpt) if resume else None,
            weights_only=True,
        )
    except SystemExit:  # Lightning's answer to Ctrl-C: a graceful stop, then exit(1)
        if not trainer.interrupted:
            raise
        with contextlib.suppress(ValueError):  # (the main thread only) Lightning ignored it
            signal.signal(signal.SIGINT, signal.default_int_handler)
        raise RunInterrupted(interrupted_message(trainer, last_ckpt)) from None
    if earlier and trainer.is_global_zero:
        fields = _merge_csv_log(csv_log, earlier, start_epoch)
        for logger in trainer.loggers:  # later rows (validate, test) follow the merged header
            if hasattr(getattr(logger, "experiment", None), "metrics_keys"):
                logger.experiment.metrics_keys = fields
    return trainer


def interrupted_message(trainer, last_ckpt: Path) -> str:
    """What an interrupted run has kept and how to continue it."""
    where = f"in epoch {trainer.current_epoch + 1}"
    if not last_ckpt.is_file():
        return (
            f"training stopped {where}, before its first checkpoint; nothing to resume "
            f"({last_ckpt} does not exist): run the command again without --resume"
        )
    return (
        f"training stopped {where}; the run's last checkpoint is {last_ckpt} (written at the "
        "end of each epoch): add --resume to the same command to continue from it"
    )


def checkpoints(ckpt_dir: Path, monitor: str) -> tuple[Any, Any]:
    """The best checkpoint `best_model.pth` (the earlier pipeline's name, which its commands
    pass on) and `last.ckpt` (what `--resume` reads); both Lightning checkpoints."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    best = ModelCheckpoint(
        dirpath=ckpt_dir, filename="best_model", monitor=monitor, mode="min", save_top_k=1
    )
    best.FILE_EXTENSION = ".pth"
    # no monitor, top 1: the latest epoch's checkpoint, replaced every epoch
    last = ModelCheckpoint(
        dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False
    )
    return best, last


def evaluate_best(trainer, module, datamodule, best_path: str) -> dict[str, Any]:
    """Validation and test metrics of the best checkpoint (patch windows)."""
    from sarssm.train.checkpoint import read_checkpoint

    if best_path:
        module.load_state_dict(read_checkpoint(best_path)["state_dict"])
    out: dict[str, Any] = {"best_checkpoint": Path(best_path).name if best_path else None}
    for stage, run in (("val", trainer.validate), ("test", trainer.test)):
        if not datamodule.splits.get(stage):
            continue
        results = run(module, datamodule=datamodule, verbose=False)
        out[stage] = {k.split("/", 1)[1]: float(v) for k, v in results[0].items()}
    return out


def _saved_scaler(save_dir: Path):
    from sarssm.data.normalize import ComplexScaler

    return ComplexScaler.load(save_dir / "normalization.json")


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _merge_csv_log(path: Path, earlier: list[dict[str, str]], start_epoch: int) -> list[str]:
    """The interrupted run's rows of the epochs its checkpoint holds (before `start_epoch`,
    where the resumed run starts: not those of an epoch cut short, nor of its evaluation),
    then the resumed run's rows: every epoch once, in order. Written to a temporary name and
    renamed; returns the header (sorted, as Lightning's CSV logger keeps its keys)."""
    later = _read_csv(path)
    steps = [int(r["step"]) for r in later if (r.get("step") or "").isdigit()]
    first_step = min(steps) if steps else float("inf")

    def held(row: dict[str, str]) -> bool:  # rows without an epoch (learning rates): by step
        epoch, step = row.get("epoch") or "", row.get("step") or ""
        if epoch.isdigit():
            return int(epoch) < start_epoch
        return step.isdigit() and int(step) < first_step

    kept = [r for r in earlier if held(r)]
    fields = sorted({k for r in kept + later for k in r if k is not None})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(kept + later)
    atomic_write_text(path, buf.getvalue())
    return fields


def _loggers(config: Any, save_dir: Path) -> list:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    loggers: list = [CSVLogger(save_dir, name="logs", version="csv")]
    if config.logging.tensorboard:
        loggers.append(TensorBoardLogger(save_dir, name="logs", version="tensorboard"))
    if config.logging.wandb != "off":
        try:
            import wandb  # noqa: F401
            from lightning.pytorch.loggers import WandbLogger
        except ImportError:
            log.warning(
                "logging.wandb=%s but wandb is not installed; skipping", config.logging.wandb
            )
        else:
            loggers.append(
                WandbLogger(
                    project=config.logging.project,
                    save_dir=str(save_dir),
                    offline=config.logging.wandb == "offline",
                )
            )
    return loggers
