"""The LightningModule: only the science of focusing (loss, metrics, optimiser). The Trainer
does the engineering (devices, DDP, precision, checkpoints, logging, early stopping).

Batches come from `sarssm.data.datamodule.SarDataModule`: x [B, L, C] complex (normalised
signal and positional channel), y [B, L] complex (normalised target). The first and last
`loss_margin` samples of each patch lack half of their synthetic aperture in the input, so they
are left out of the loss and of the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from sarssm.errors import ConfigError


@dataclass
class OptimConfig:
    """AdamW with S4 parameter groups, linear warm-up then cosine decay over the whole run."""

    lr: float = 3e-3
    weight_decay: float = 0.01
    ssm_lr_scale: float = 0.1  # state matrix and step size: lr * ssm_lr_scale, no weight decay
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_fraction: float = 0.05  # of all optimiser steps
    min_lr_ratio: float = 0.02  # final lr / peak lr

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.ssm_lr_scale <= 0:
            raise ConfigError("optim.weight_decay must be >= 0 and optim.ssm_lr_scale > 0")
        if not 0 <= self.warmup_fraction < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError("optim.warmup_fraction must be in [0, 1), min_lr_ratio in [0, 1]")


class FocusingModule(L.LightningModule):
    """Learns rc -> az focusing with a sarSSM network and a weighted sum of losses."""

    def __init__(
        self,
        net: nn.Module,
        loss_weights: dict[str, float] | None = None,
        optim: dict[str, Any] | None = None,
        loss_margin: int = 0,
    ) -> None:
        super().__init__()
        from sarssm.config import from_dict
        from sarssm.train.losses import WeightedSumLoss

        self.save_hyperparameters(ignore=["net"])
        self.net = net
        self.criterion = WeightedSumLoss(loss_weights or {"complex_mse": 1.0})
        self.optim_config = from_dict(OptimConfig, optim or {}, "optim")
        self.loss_margin = int(loss_margin)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _crop(self, z: Tensor) -> Tensor:
        m = self.loss_margin
        return z[:, m : z.shape[1] - m] if m else z

    def _shared_step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, Tensor, Tensor]:
        pred = self._crop(self.net(batch["x"]))  # [B, L']
        target = self._crop(batch["y"])  # [B, L']
        loss, terms = self.criterion(pred, target)
        batch_size = pred.shape[0]
        on_step = stage == "train"
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_step=on_step,
            on_epoch=True,
            batch_size=batch_size,
            sync_dist=not on_step,
        )
        for name, value in terms.items():
            self.log(
                f"{stage}/{name}",
                value,
                on_step=False,
                on_epoch=True,
                batch_size=batch_size,
                sync_dist=True,
            )
        return loss, pred, target

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, _, _ = self._shared_step(batch, "train")
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _eval_step(self, batch: dict[str, Tensor], stage: str) -> None:
        from sarssm.eval.metrics import evaluate_arrays

        _, pred, target = self._shared_step(batch, stage)
        metrics = evaluate_arrays(pred.detach(), target, spatial_dims=1)  # SSIM per column
        keep = ("nmse_db", "coherence", "psnr_db", "ssim", "collapse_ratio")
        for key in keep:
            self.log(
                f"{stage}/{key}",
                float(metrics[key]),
                on_epoch=True,
                batch_size=pred.shape[0],
                sync_dist=True,
            )

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        norms = [p.grad.detach().norm() for p in self.net.parameters() if p.grad is not None]
        if norms:
            self.log("train/grad_norm", torch.stack(norms).norm(), on_step=True, on_epoch=False)

    def configure_optimizers(self) -> dict[str, Any]:
        from sarssm.train.optim import build_param_groups
        from sarssm.train.schedule import build_scheduler

        cfg = self.optim_config
        groups = build_param_groups(self.net, cfg.lr, cfg.weight_decay, cfg.ssm_lr_scale)
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        scheduler = build_scheduler(
            optimizer, total, int(cfg.warmup_fraction * total), cfg.min_lr_ratio
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
