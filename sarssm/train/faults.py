"""Numerical faults in training: a step whose loss or gradient is not finite is skipped.

`NonFiniteGuard` looks at every optimiser step after the backward pass: when the loss or any
gradient holds NaN or Inf, it drops the step's gradients (the optimiser then changes nothing:
AdamW skips parameters without a gradient, so no weight, moment or decay moves), counts the
step and logs `train/skipped_steps` (the count so far, at every step). After
`max_in_a_row` such steps in a row (`trainer.max_nonfinite_steps`) it saves the weights, which
are those of the last good step, as `checkpoints/last_good.ckpt` and stops the run with a
`NumericalFaultError`. Under DDP the ranks decide together (a step is skipped on every rank
when it is bad on any), so they stay in step.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch

from sarssm.errors import NumericalFaultError

log = logging.getLogger(__name__)
LAST_GOOD = "last_good.ckpt"


def finite(values: list[torch.Tensor]) -> bool:
    """Whether every entry of every tensor is finite (complex ones through their real view),
    decided on the tensors' device and read back once (one sync per step on a GPU)."""
    flags = [torch.isfinite(torch.view_as_real(v) if v.is_complex() else v).all() for v in values]
    return bool(torch.stack(flags).all()) if flags else True


class NonFiniteGuard(L.Callback):
    """Skips optimiser steps with a non-finite loss or gradient; stops after `max_in_a_row`."""

    def __init__(self, max_in_a_row: int, checkpoint_dir: Path, echo=None) -> None:
        if max_in_a_row < 1:
            raise ValueError(f"max_in_a_row must be >= 1, got {max_in_a_row}")
        self.max_in_a_row = int(max_in_a_row)
        self.checkpoint_dir = Path(checkpoint_dir)
        self.echo = echo or (lambda text: print(text, flush=True))
        self.skipped = 0  # in all (kept across a resume)
        self.in_a_row = 0
        self._loss: torch.Tensor | None = None  # the last backward pass's loss

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        self._loss = loss.detach()

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        grads = [p.grad for p in params if p.grad is not None]
        loss = [] if self._loss is None else [self._loss]
        bad = not finite([*loss, *grads])
        self._loss = None
        if trainer.world_size > 1:  # one decision for every rank
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            for p in params:
                p.grad = None  # nothing to apply: the optimiser leaves these parameters alone
            self.skipped += 1
            self.in_a_row += 1
        else:
            self.in_a_row = 0
        # every step, so that whichever step the loggers write carries the count so far
        pl_module.log("train/skipped_steps", float(self.skipped), on_step=True, on_epoch=False)
        if not bad:
            return
        where = f"epoch {trainer.current_epoch}, step {trainer.global_step}"
        if trainer.is_global_zero:
            log.warning("non-finite loss or gradient at %s: step skipped", where)
            self.echo(
                f"warning: non-finite loss or gradient at {where}: step skipped "
                f"({self.in_a_row} in a row, {self.skipped} in all; the run stops at "
                f"{self.max_in_a_row} in a row)"
            )
        if self.in_a_row >= self.max_in_a_row:
            path = self.checkpoint_dir / LAST_GOOD
            trainer.save_checkpoint(path, weights_only=False)
            raise NumericalFaultError(
                f"training stopped at {where}: {self.in_a_row} optimiser steps in a row had a "
                f"non-finite loss or gradient (trainer.max_nonfinite_steps="
                f"{self.max_in_a_row}; {self.skipped} skipped in all). The weights before them "
                f"are saved in {path}; lower optim.lr or check the data for NaN/Inf, then "
                "start again"
            )

    def state_dict(self) -> dict[str, int]:
        return {"skipped": self.skipped, "in_a_row": self.in_a_row}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.skipped = int(state_dict.get("skipped", 0))
        self.in_a_row = int(state_dict.get("in_a_row", 0))
