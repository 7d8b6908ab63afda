"""Learning-rate schedule: linear warm-up, then a cosine decay to a floor.

The multiplier f(s) of the base lr after s optimiser steps (W warm-up steps, T total steps,
r = min_lr_ratio):

    s <  W:       f = (s + 1) / (W + 1)                  linear, from 1/(W+1) up towards 1
    W <= s <= T:  f = r + (1 - r) (1 + cos(pi (s - W) / (T - W))) / 2     from 1 down to r
    s >  T:       f = r

f(T) = r exactly. The warm-up starts at 1/(W+1), not 0, so that the first step is not wasted
with a zero lr. T must be the real number of optimiser steps of the run (see
`total_optimizer_steps`): a T too large leaves the run at a high lr, one too small parks it at
the floor early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sarssm.errors import ConfigError


@dataclass
class ScheduleConfig:
    """Warm-up share and lr floor; the total step count comes from the run itself."""

    warmup_fraction: float = 0.05  # W = int(warmup_fraction * T)
    min_lr_ratio: float = 0.01  # final lr / base lr

    def __post_init__(self) -> None:
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ConfigError(
                f"schedule.warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}"
            )
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"schedule.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")

    def warmup_steps(self, total_steps: int) -> int:
        return int(self.warmup_fraction * total_steps)


def _check(total_steps: int, warmup_steps: int, min_lr_ratio: float) -> None:
    if total_steps < 1:
        raise ConfigError(f"schedule: total_steps must be >= 1, got {total_steps!r}")
    if not 0 <= warmup_steps < total_steps:
        raise ConfigError(
            f"schedule: warmup_steps must be in [0, total_steps={total_steps}), "
            f"got {warmup_steps!r}"
        )
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ConfigError(f"schedule: min_lr_ratio must be in [0, 1], got {min_lr_ratio!r}")


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """The lr multiplier f(step) (see the module docstring)."""
    _check(total_steps, warmup_steps, min_lr_ratio)
    if step < 0:
        raise ConfigError(f"schedule: step must be >= 0, got {step!r}")
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if step >= total_steps:
        return float(min_lr_ratio)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # in [0, 1)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosine:
    """`warmup_cosine` as a callable object (its settings survive the scheduler's state_dict)."""

    def __init__(self, total_steps: int, warmup_steps: int, min_lr_ratio: float) -> None:
        _check(total_steps, warmup_steps, min_lr_ratio)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_lr_ratio = float(min_lr_ratio)

    def __call__(self, step: int) -> float:
        return warmup_cosine(step, self.total_steps, self.warmup_steps, self.min_lr_ratio)


def build_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, min_lr_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR applying f to every group's own base lr; call `.step()` after each optimiser step.

    With Lightning, return it with interval 'step' so that it advances per optimiser step.
    """
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, WarmupCosine(total_steps, warmup_steps, min_lr_ratio)
    )


def total_optimizer_steps(
    max_epochs: int, batches_per_epoch: int, accumulate_grad_batches: int = 1
) -> int:
    """Optimiser steps of a run: max_epochs * ceil(batches_per_epoch / accumulate_grad_batches).

    The last partial accumulation of an epoch still steps (as Lightning does).
    """
    for name, v in (
        ("max_epochs", max_epochs),
        ("batches_per_epoch", batches_per_epoch),
        ("accumulate_grad_batches", accumulate_grad_batches),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"schedule: {name} must be an integer >= 1, got {v!r}")
    return max_epochs * math.ceil(batches_per_epoch / accumulate_grad_batches)
