"""The distillation config: one YAML file (the student config), validated on load.

Precedence: defaults < the student YAML < `key=value` overrides < CLI flags. Overrides of the
form `teacher.train.KEY=VALUE` apply to the teacher's training config (`teacher.config`).
Every key is documented in `configs/demo/student.yaml`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from sarssm.data.datamodule import DataConfig
from sarssm.errors import ConfigError
from sarssm.train.config import LoggingConfig, TrainerConfig
from sarssm.train.optim import OptimConfig
from sarssm.train.schedule import ScheduleConfig

PROJECTIONS = ("linear", "pca_init", "attention")


def _weight(where: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{where} must be >= 0, got {value!r}")


@dataclass
class TeacherSource:
    """Where the frozen teacher comes from."""

    config: str | None = None  # the teacher's training YAML (as given to `sarssm train`)
    checkpoint: str | None = None  # a best/ folder, a Lightning .ckpt or a .pth checkpoint


@dataclass
class FeatureWeights:
    """Terms of the feature loss on [Re, Im] features of every coupled layer pair."""

    mse: float = 1.0
    cosine: float = 0.02  # 1 - cosine similarity along the feature axis
    moment: float = 0.01  # squared distance of per-channel mean and variance

    def __post_init__(self) -> None:
        for name in ("mse", "cosine", "moment"):
            _weight(f"distillation.feature.{name}", getattr(self, name))


@dataclass
class WeightsConfig:
    """total = alpha GT + beta distillation + gamma features (+ distribution terms)."""

    alpha: float = 0.8  # ground truth (the `loss` mapping)
    beta: float = 0.15  # output distillation: complex MSE against the teacher (+ energy term)
    gamma: float = 0.05  # feature loss over the coupled layers
    # Temperature only acts on the energy term: for an MSE, scaling both outputs by 1/T and the
    # loss by T^2 changes nothing. The energy term is KL(p_T(teacher) || p_T(student)), p_T the
    # softmax over azimuth of |y|^2 / (T mean|y_teacher|^2) per column, times T^2.
    temperature: float = 2.5
    dynamic_temperature: bool = False  # cosine anneal of T from `temperature` to 1 over the run
    energy_weight: float = 0.05  # weight of the energy term inside the distillation loss
    curriculum_epochs: int = 15  # GT-only epochs, then a linear ramp over as many epochs
    feature: FeatureWeights = field(default_factory=FeatureWeights)

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma", "energy_weight"):
            _weight(f"distillation.{name}", getattr(self, name))
        if self.alpha + self.beta + self.gamma == 0:
            raise ConfigError(
                "distillation: alpha + beta + gamma = 0 leaves nothing to learn from; give at "
                "least one of --alpha, --beta, --gamma a positive weight"
            )
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"distillation.temperature must be > 0, got {self.temperature!r}")
        if self.curriculum_epochs < 0:
            raise ConfigError(
                f"distillation.curriculum_epochs must be >= 0, got {self.curriculum_epochs}"
            )


@dataclass
class ProgressiveConfig:
    """Which layers are coupled, when, and through what."""

    enabled: bool = False  # staged coupling; off: every strategic pair from the first epoch
    stage_epochs: int = 20  # epochs per stage
    # Learnable projections from student to teacher width; off: the teacher's channels are
    # averaged in groups down to the student's width (fixed, nothing learned).
    enhanced_projections: bool = False
    projection_type: Literal["linear", "pca_init", "attention"] = "pca_init"
    pca_batches: int = 8  # training batches of teacher features behind the PCA

    def __post_init__(self) -> None:
        if self.stage_epochs < 1:
            raise ConfigError(f"progressive.stage_epochs must be >= 1, got {self.stage_epochs}")
        if self.projection_type not in PROJECTIONS:
            raise ConfigError(
                f"progressive.projection_type {self.projection_type!r} not in {PROJECTIONS}"
            )
        if self.pca_batches < 1:
            raise ConfigError(f"progressive.pca_batches must be >= 1, got {self.pca_batches}")


@dataclass
class DistributionConfig:
    """Distribution-preserving terms against the ground truth (the teacher where unlabelled)."""

    enabled: bool = False
    variance_weight: float = 0.1  # (var(yhat) / var(y) - 1)^2 of Re, Im
    moment_weight: float = 0.1  # mean, variance, skewness, kurtosis of Re, Im and |.|
    confidence_weight: float = 0.05  # quantiles 0.5, 0.9, 0.99 of |yhat| against |y|

    def __post_init__(self) -> None:
        for name in ("variance_weight", "moment_weight", "confidence_weight"):
            _weight(f"distribution.{name}", getattr(self, name))


@dataclass
class BeyondConfig:
    """Methods beyond the earlier pipeline's."""

    # (a) epochs of teacher-forced per-layer alignment before end-to-end distillation
    teacher_forced_epochs: int = 0
    # (b) start the student from the teacher's highest-energy modes (modal truncation)
    init_from_teacher: bool = False

    def __post_init__(self) -> None:
        if self.teacher_forced_epochs < 0:
            raise ConfigError(
                f"beyond.teacher_forced_epochs must be >= 0, got {self.teacher_forced_epochs}"
            )


@dataclass
class MonitorConfig:
    """Gradient and weight statistics of the student every n optimiser steps (0: off)."""

    every_n_steps: int = 50

    def __post_init__(self) -> None:
        if self.every_n_steps < 0:
            raise ConfigError(f"monitor.every_n_steps must be >= 0, got {self.every_n_steps}")


@dataclass
class DistillConfig:
    """A whole distillation run."""

    seed: int = 0
    save_dir: str = "runs/student"
    teacher: TeacherSource = field(default_factory=TeacherSource)
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "demo-tiny"})
    data: DataConfig = field(default_factory=DataConfig)
    unlabeled_data: str | None = None  # (c) products with the input level only (no `az`)
    loss: dict[str, float] = field(default_factory=lambda: {"complex_mse": 1.0})
    distillation: WeightsConfig = field(default_factory=WeightsConfig)
    progressive: ProgressiveConfig = field(default_factory=ProgressiveConfig)
    distribution: DistributionConfig = field(default_factory=DistributionConfig)
    beyond: BeyondConfig = field(default_factory=BeyondConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    baseline: bool = True  # also train the student without distillation (alpha 1, beta gamma 0)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def __post_init__(self) -> None:
        from sarssm.models.config import resolve_config
        from sarssm.train.losses import WeightedSumLoss

        WeightedSumLoss(self.loss)
        cfg = resolve_config(self.model)
        if cfg.selectivity != "none":
            raise ConfigError(
                f"model: a student is LTI (selectivity none), got selectivity "
                f"{cfg.selectivity!r}; set model.selectivity=none"
            )
