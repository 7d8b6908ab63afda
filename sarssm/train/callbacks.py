"""Non-essential work around training: model export, validation figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from sarssm.io import atomic_dir, atomic_write_text


def export_model(net: torch.nn.Module, scaler: Any, path: Path, extra: dict | None = None) -> None:
    """Write `path/` = model.safetensors + model.yaml + normalization.json, atomically."""
    import yaml

    from sarssm.models import save_model

    with atomic_dir(Path(path), overwrite=True) as tmp:
        save_model(net, tmp)
        scaler.save(tmp / "normalization.json")
        if extra:
            atomic_write_text(tmp / "info.yaml", yaml.safe_dump(extra, sort_keys=False))


class ExportCallback(L.Callback):
    """Exports `best/` when the monitored validation metric improves and `last/` every epoch."""

    def __init__(self, save_dir: Path, scaler: Any, monitor: str = "val/loss") -> None:
        self.save_dir = Path(save_dir)
        self.scaler = scaler
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = -1

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None or not math.isfinite(float(score)) or float(score) >= self.best:
            return
        self.best, self.best_epoch = float(score), trainer.current_epoch
        info = {"epoch": self.best_epoch, self.monitor: self.best}
        export_model(pl_module.net, self.scaler, self.save_dir / "best", info)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            info = {"epoch": trainer.current_epoch, "global_step": trainer.global_step}
            export_model(pl_module.net, self.scaler, self.save_dir / "last", info)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = float(state_dict["best"])
        self.best_epoch = int(state_dict["best_epoch"])


class FigureCallback(L.Callback):
    """Every n epochs: amplitude (dB) of input, target, prediction and error of the validation
    batch with the brightest target (a point target when the split has one), one column per
    sequence, saved as PNG (and to TensorBoard when it is the logger)."""

    def __init__(self, out_dir: Path, every_n_epochs: int) -> None:
        self.out_dir = Path(out_dir)
        self.every = int(every_n_epochs)
        self._batch: dict[str, torch.Tensor] | None = None
        self._peak = -1.0

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *_) -> None:
        if trainer.sanity_checking:
            return
        peak = float(batch["y"].abs().max())
        if peak > self._peak:
            self._peak = peak
            self._batch = {k: v[:32].detach().cpu() for k, v in batch.items()}

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        if (
            self._batch is None
            or self.every <= 0
            or not trainer.is_global_zero
            or ((epoch + 1) % self.every != 0 and epoch + 1 != trainer.max_epochs)
        ):
            return
        with torch.no_grad():
            r0 = self._batch.get("slant_range")
            pred = pl_module.net(self._batch["x"].to(pl_module.device), r0).cpu()
        path = self.out_dir / f"val_epoch{epoch:04d}.png"
        y = self._batch["y"]
        figure = save_amplitude_figure(
            [self._batch["x"][..., self._batch["x"].shape[-1] // 2], y, pred, pred - y],
            ["input (centre column)", "target (az)", "prediction", "error"],
            path,
            f"epoch {epoch}: the validation batch with the brightest target",
        )
        experiment = getattr(trainer.logger, "experiment", None)
        if figure is not None and hasattr(experiment, "add_figure"):
            experiment.add_figure("val/amplitude", figure, global_step=trainer.global_step)
        self._batch, self._peak = None, -1.0


def save_amplitude_figure(
    images: list[torch.Tensor], titles: list[str], path: Path, suptitle: str = ""
):
    """Amplitude in dB of each [B, L] complex array (azimuth down, sequences across), relative
    to the target's peak (the input to its own), one colour scale and a colour bar; PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(3.5 * len(images) + 1, 5), squeeze=False)
    ref = float(images[1].abs().max()) if len(images) > 1 else 1.0
    shown = None
    for ax, image, title in zip(axes[0], images, titles, strict=True):
        amp = image.abs().numpy().T  # [L, B]
        db = 20 * np.log10(amp / (amp.max() if title.startswith("input") else ref) + 1e-6)
        shown = ax.imshow(db, aspect="auto", cmap="gray", vmin=-50, vmax=0, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("sequence (range column)")
        ax.set_ylabel("azimuth sample")
    fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    fig.colorbar(shown, cax=fig.add_axes((0.93, 0.12, 0.015, 0.76))).set_label(
        "dB re target peak (input: its own)"
    )
    save_png(fig, path)
    plt.close(fig)
    return fig


def save_png(fig, path: Path, dpi: int = 80) -> Path:
    """Write a matplotlib figure as PNG under a temporary name, then rename it into place
    (`sarssm.io.atomic_write_bytes`)."""
    import io

    from sarssm.io import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)
