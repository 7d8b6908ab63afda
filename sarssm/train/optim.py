"""AdamW parameter groups: SSM dynamics, no-decay parameters and the rest.

Three groups, each trainable parameter in exactly one, checked in this order:
    ssm       parameters tagged `p._ssm = True` (the state matrix A and the step size dt of the
              SSM layers): lr * ssm_lr_scale, weight decay 0. Decay would pull the poles and
              time scales towards zero, and a smaller lr keeps the kernels stable (as in S4).
    no_decay  p.ndim < 2, names ending in "bias" and skip terms named "D" (also stored as
              [H, 2] real pairs): lr, weight decay 0.
    decay     everything else (projections, mixing and head weights): lr, weight_decay.
Frozen parameters (requires_grad False, e.g. a teacher) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sarssm.errors import ConfigError

GROUP_NAMES = ("ssm", "no_decay", "decay")


@dataclass
class OptimConfig:
    """AdamW settings."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    ssm_lr_scale: float = 0.1  # lr of the `_ssm` group relative to lr
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"optim.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not self.ssm_lr_scale > 0:
            raise ConfigError(f"optim.ssm_lr_scale must be > 0, got {self.ssm_lr_scale!r}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"optim.{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not self.eps > 0:
            raise ConfigError(f"optim.eps must be > 0, got {self.eps!r}")


def param_group_name(name: str, p: nn.Parameter) -> str:
    """The group ('ssm', 'no_decay' or 'decay') of parameter `name`."""
    if getattr(p, "_ssm", False) is True:
        return "ssm"
    leaf = name.rsplit(".", 1)[-1]
    if p.ndim < 2 or name.endswith("bias") or leaf == "D":
        return "no_decay"
    return "decay"


def build_param_groups(
    model: nn.Module, lr: float, weight_decay: float, ssm_lr_scale: float = 0.1
) -> list[dict[str, Any]]:
    """Optimiser parameter groups (see the module docstring); empty groups are omitted.

    Each group dict has keys name, params, param_names, lr, weight_decay; `named_parameters`
    yields shared parameters once, so each parameter is in exactly one group.
    """
    settings = {
        "ssm": (lr * ssm_lr_scale, 0.0),
        "no_decay": (lr, 0.0),
        "decay": (lr, weight_decay),
    }
    groups: dict[str, dict[str, Any]] = {
        g: {"name": g, "params": [], "param_names": [], "lr": s[0], "weight_decay": s[1]}
        for g, s in settings.items()
    }
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        group = groups[param_group_name(name, p)]
        group["params"].append(p)
        group["param_names"].append(name)
    return [g for g in groups.values() if g["params"]]


def summarize_param_groups(groups: list[dict[str, Any]]) -> str:
    """One line per group: name, tensors, scalar parameters (complex counts 2), lr, decay."""
    lines = []
    for g in groups:
        n = sum(p.numel() * (2 if p.is_complex() else 1) for p in g["params"])
        lines.append(
            f"{g.get('name', '?'):<9} {len(g['params']):>4} tensors {n:>10,} params "
            f"lr {g['lr']:.3g} weight_decay {g['weight_decay']:.3g}"
        )
    return "\n".join(lines)


def build_optimizer(model: nn.Module, config: OptimConfig | dict[str, Any]) -> torch.optim.AdamW:
    """AdamW over `build_param_groups(model, ...)`; `config` is an OptimConfig or a mapping."""
    if not isinstance(config, OptimConfig):
        from sarssm.config import from_dict

        config = from_dict(OptimConfig, config, "optim")
    groups = build_param_groups(model, config.lr, config.weight_decay, config.ssm_lr_scale)
    if not groups:
        raise ConfigError("optimizer: the model has no trainable parameters")
    return torch.optim.AdamW(
        groups, lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps
    )
