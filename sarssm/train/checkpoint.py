"""Lightning checkpoints: written atomically under the umask, read weights-only, checked against
the model a run is configured with.

A checkpoint (`last.ckpt`, `best_model.pth`) is a `torch.save` file. It is read here with
`torch.load(weights_only=True)` alone, which refuses any pickled object other than tensors and
plain containers, so a checkpoint from an untrusted source runs no code; a file it cannot read
(truncated, not a checkpoint, a pickle of arbitrary objects) is a `ModelFileError` naming it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from sarssm.errors import ConfigError
from sarssm.models.errors import ModelFileError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer through `sarssm.io.atomic_write_bytes`: a temporary file
    renamed into place (an interrupted save keeps the previous checkpoint), with the
    permissions of an ordinary file under the umask."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        import torch

        from sarssm.io import atomic_write_bytes

        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(Path(path), buffer.getvalue())


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at `path`, loaded weights-only on the CPU; a missing, truncated or
    foreign file (or one holding pickled objects) is a `ModelFileError` naming it."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises assorted errors for truncated or foreign files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{path}: not a readable weights-only checkpoint ({type(exc).__name__}: {reason[:200]})"
        ) from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ModelFileError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return ckpt


def recorded_model(ckpt: dict[str, Any], path: str | Path) -> Any:
    """The `ModelConfig` a checkpoint records (`sarssm.train.module.record_model`), or None."""
    from sarssm.config import from_dict
    from sarssm.models import ModelConfig

    recorded = ckpt.get("sarssm_model")
    if not isinstance(recorded, dict) or "model" not in recorded:
        return None
    try:
        return from_dict(ModelConfig, recorded["model"], f"{path}: sarssm_model")
    except ConfigError as exc:
        raise ModelFileError(str(exc)) from None


def check_checkpoint_model(
    path: str | Path, model: Any, where: str, ignore: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Read the checkpoint at `path` and refuse it unless it holds model `model` (a resolved
    `ModelConfig`, the one `where` configures; keys `ignore` aside); returns the checkpoint."""
    from sarssm.models.config import describe_differences

    ckpt = read_checkpoint(path)
    saved = recorded_model(ckpt, path)
    if saved is None:
        raise ModelFileError(f"{path}: the checkpoint does not record its model config")
    pairs = describe_differences(saved, model, ("checkpoint", where), ignore)
    if pairs:
        raise ConfigError(f"{path}: the checkpoint holds another model than {where}: {pairs}")
    return ckpt
