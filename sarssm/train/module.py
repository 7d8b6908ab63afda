"""The LightningModule: only the science of focusing (loss, metrics, optimiser). The Trainer
does the engineering (devices, DDP, precision, checkpoints, logging, early stopping).

Batches come from `sarssm.data.datamodule.SarDataModule`: x [B, L, C] complex (the model's
normalised input), slant_range [B] (metres), y [B, L] complex (normalised target). The first
and last `loss_margin` samples of each patch lack half of their synthetic aperture in the
input, so they are left out of the loss and of the metrics.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn


def record_model(checkpoint: dict[str, Any], net: nn.Module) -> None:
    """Store the network's config in a Lightning checkpoint (plain types, so a
    `weights_only=True` load reads it): a checkpoint then names the model it holds."""
    from sarssm.config import to_dict
    from sarssm.models.io import FORMAT

    checkpoint["sarssm_model"] = {"format": FORMAT, "model": to_dict(net.config)}


def save_run_state(checkpoint: dict[str, Any], net: nn.Module) -> None:
    """Checkpoint hook shared by training and distillation: the global torch generator (dropout
    draws from it, so a resumed run continues its stream; a ByteTensor, which a
    `weights_only=True` load accepts) and the network's config."""
    checkpoint["torch_rng_state"] = torch.get_rng_state()
    record_model(checkpoint, net)


def load_run_state(checkpoint: dict[str, Any]) -> None:
    """The inverse of `save_run_state` (the config needs no restoring)."""
    state = checkpoint.get("torch_rng_state")
    if state is not None:
        torch.set_rng_state(state)


def adamw_with_schedule(
    module: L.LightningModule, trained: nn.Module, optim_config: Any, schedule_config: Any
) -> dict[str, Any]:
    """`configure_optimizers` of a module that trains `trained`: AdamW groups
    (`sarssm.train.optim`) with a per-step warm-up cosine over the run's real step count."""
    from sarssm.train.optim import build_optimizer
    from sarssm.train.schedule import build_scheduler

    optimizer = build_optimizer(trained, optim_config)
    total = max(int(module.trainer.estimated_stepping_batches), 1)
    sched = schedule_config
    scheduler = build_scheduler(optimizer, total, sched.warmup_steps(total), sched.min_lr_ratio)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class FocusingModule(L.LightningModule):
    """Learns rc -> az focusing with a sarSSM network and a weighted sum of losses."""

    def __init__(
        self,
        net: nn.Module,
        loss_weights: dict[str, float] | None = None,
        optim: dict[str, Any] | None = None,
        schedule: dict[str, Any] | None = None,
        loss_margin: int = 0,
    ) -> None:
        super().__init__()
        from sarssm.config import from_dict
        from sarssm.train.losses import WeightedSumLoss
        from sarssm.train.optim import OptimConfig
        from sarssm.train.schedule import ScheduleConfig

        self.save_hyperparameters(ignore=["net"])
        self.net = net
        self.criterion = WeightedSumLoss(loss_weights or {"complex_mse": 1.0})
        self.optim_config = from_dict(OptimConfig, optim or {}, "optim")
        self.schedule_config = from_dict(ScheduleConfig, schedule or {}, "schedule")
        self.loss_margin = int(loss_margin)

    def forward(self, x: Tensor, slant_range: Tensor | None = None) -> Tensor:
        return self.net(x, slant_range)

    def _crop(self, z: Tensor) -> Tensor:
        m = self.loss_margin
        return z[:, m : z.shape[1] - m] if m else z

    def _shared_step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, Tensor, Tensor]:
        pred = self._crop(self.net(batch["x"], batch.get("slant_range")))  # [B, L']
        target = self._crop(batch["y"])  # [B, L']
        loss, terms = self.criterion(pred, target)
        batch_size = pred.shape[0]
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_step=stage == "train",
            on_epoch=True,
            batch_size=batch_size,
            sync_dist=True,
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

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        save_run_state(checkpoint, self.net)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        load_run_state(checkpoint)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        norms = [p.grad.detach().norm() for p in self.net.parameters() if p.grad is not None]
        if norms:
            self.log("train/grad_norm", torch.stack(norms).norm(), on_step=True, on_epoch=False)

    def configure_optimizers(self) -> dict[str, Any]:
        return adamw_with_schedule(self, self.net, self.optim_config, self.schedule_config)
