"""Gradient and weight statistics of the student, logged to every logger of the run
(TensorBoard, CSV, Weights & Biases when installed), with the earlier pipeline's names:

    gradients/student/layer_{i}/norm    L2 norm of block i's gradients
    gradients/student/total_norm        L2 norm of all the student's gradients (before clipping)
    weights/student/layer_{i}/mean|std  mean and std of block i's real parameter values
"""

from __future__ import annotations

import math

import lightning as L
import torch


def student_statistics(net: torch.nn.Module) -> dict[str, float]:
    """The statistics above for a model with blocks `blocks.i` (gradients where present)."""
    out: dict[str, float] = {}
    total = 0.0
    for _name, p in net.named_parameters():
        if p.grad is not None:
            total += float(p.grad.detach().double().square().sum())
    for i, block in enumerate(net.blocks):
        grads = [p.grad.detach().double() for p in block.parameters() if p.grad is not None]
        if grads:
            out[f"gradients/student/layer_{i}/norm"] = math.sqrt(
                sum(float(g.square().sum()) for g in grads)
            )
        values = torch.cat([p.detach().double().reshape(-1) for p in block.parameters()])
        out[f"weights/student/layer_{i}/mean"] = float(values.mean())
        out[f"weights/student/layer_{i}/std"] = float(values.std())
    out["gradients/student/total_norm"] = math.sqrt(total)
    return out


class GradientTracker(L.Callback):
    """Logs `student_statistics` every `every_n_steps` optimiser steps (0: never)."""

    def __init__(self, every_n_steps: int = 50) -> None:
        self.every = int(every_n_steps)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self.every <= 0 or trainer.global_step % self.every:
            return
        stats = student_statistics(pl_module.net)
        pl_module.log_dict(stats, on_step=True, on_epoch=False, batch_size=1)
