"""The training config: one YAML file, validated on load, every key documented in
`configs/demo/teacher.yaml`. Precedence: defaults < YAML < `key=value` overrides < CLI flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sarssm.data.datamodule import DataConfig
from sarssm.errors import ConfigError
from sarssm.train.optim import OptimConfig
from sarssm.train.schedule import ScheduleConfig


@dataclass
class TrainerConfig:
    """Lightning Trainer settings (devices, DDP and precision are a flag away)."""

    max_epochs: int = 30
    accelerator: str = "cpu"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"  # "ddp" for several devices or nodes
    precision: str = "32-true"
    gradient_clip_val: float = 1.0
    early_stopping_patience: int = 10  # validation epochs without improvement of val/loss
    log_every_n_steps: int = 10
    figure_every_n_epochs: int = 5  # validation figure (PNG); 0: never
    limit_val_batches: float | int = 1.0
    deterministic: bool = True
    progress_bar: bool = True
    # optimiser steps in a row with a non-finite loss or gradient (each skipped) that stop
    # the run, saving checkpoints/last_good.ckpt (`sarssm.train.faults`)
    max_nonfinite_steps: int = 10

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ConfigError(f"trainer.max_epochs must be >= 1, got {self.max_epochs}")
        for name, low in (
            ("gradient_clip_val", 0),
            ("early_stopping_patience", 1),
            ("figure_every_n_epochs", 0),
            ("log_every_n_steps", 1),
        ):
            value = getattr(self, name)
            if not value >= low:  # NaN fails too
                raise ConfigError(f"trainer.{name} must be >= {low}, got {value!r}")
        if self.max_nonfinite_steps < 1:
            raise ConfigError(
                f"trainer.max_nonfinite_steps must be >= 1, got {self.max_nonfinite_steps}"
            )


@dataclass
class LoggingConfig:
    tensorboard: bool = True
    wandb: Literal["off", "online", "offline"] = "off"  # used only when wandb is installed
    project: str = "sarssm"


@dataclass
class TrainConfig:
    """A whole training run."""

    seed: int = 0
    save_dir: str = "runs/teacher"
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "demo-teacher"})
    data: DataConfig = field(default_factory=DataConfig)
    loss: dict[str, float] = field(default_factory=lambda: {"complex_mse": 1.0})
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def __post_init__(self) -> None:
        from sarssm.models.config import resolve_config
        from sarssm.train.losses import WeightedSumLoss

        WeightedSumLoss(self.loss)  # unknown loss names and bad weights fail at load time
        resolve_config(self.model)  # so do unknown presets and impossible model dimensions
