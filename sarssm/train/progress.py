"""Progress of a Trainer run: a compact bar in a terminal, one line per epoch anywhere else.

When stderr is not a terminal (a log file, CI), a redrawn bar writes every redraw into the log,
so `EpochLines` prints one line per finished epoch instead.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

from sarssm.progress import apply_verbosity, is_terminal, is_verbose

# Shown after the epoch number, in this order, where the run logs them.
LINE_KEYS = (
    ("train/loss_epoch", "loss"),
    ("train_total_loss", "loss"),
    ("val/loss", "val loss"),
    ("val_student_loss", "val loss"),
    ("val/nmse_db", "val NMSE dB"),
)


class CompactBar(TQDMProgressBar):
    """Lightning's bar without `v_num` and with only the loss, so it keeps its width."""

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        if is_verbose():
            return super().get_metrics(trainer, pl_module)
        items = super().get_metrics(trainer, pl_module)
        return {k: v for k, v in items.items() if k in ("train/loss_step", "train_total_loss")}


class EpochLines(L.Callback):
    """One line per finished epoch: `label epoch e/E  loss ...  val NMSE dB ...  (s)`."""

    def __init__(self, label: str = "", echo=None) -> None:
        self.label = label
        self.echo = echo or (lambda text: print(text, flush=True))
        self._start = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        self.echo(epoch_line(self.label, trainer, time.perf_counter() - self._start))


def epoch_line(label: str, trainer: L.Trainer, seconds: float) -> str:
    metrics = trainer.callback_metrics
    parts = [f"{label} epoch {trainer.current_epoch + 1}/{trainer.max_epochs}".strip()]
    shown = set()
    for key, name in LINE_KEYS:
        if key in metrics and name not in shown:
            parts.append(f"{name} {float(metrics[key]):.4g}")
            shown.add(name)
    parts.append(f"{seconds:.1f} s")
    return "  ".join(parts)


def progress_callbacks(enabled: bool, label: str = "") -> tuple[list[L.Callback], bool]:
    """(callbacks, enable_progress_bar) for a Trainer: a compact bar in a terminal when
    `enabled`, otherwise one line per epoch. Also hides Lightning's chatter unless verbose."""
    apply_verbosity()
    if enabled and is_terminal():
        return [CompactBar()], True
    return [EpochLines(label)], False
