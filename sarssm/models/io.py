"""Save and load models: a folder with `model.safetensors` (weights) and `model.yaml` (config).

No pickle anywhere: weights go through safetensors, the config through strict YAML
(`sarssm.config.from_dict`), so a model folder can be opened from an untrusted source.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from sarssm.config import from_dict, to_dict
from sarssm.errors import ConfigError
from sarssm.io import atomic_dir
from sarssm.models.config import ModelConfig
from sarssm.models.errors import ModelFileError
from sarssm.models.stack import SarSSM

WEIGHTS = "model.safetensors"
CONFIG = "model.yaml"
FORMAT = "sarssm-model/2"
# Format 1 models read a positional channel (range + j azimuth position) as a second input and
# had no geometry conditioning: their weights mean something else, so they are refused.
OLD_FORMATS = {"sarssm-model/1": "fed a positional channel and had no range conditioning"}


def save_model(model: SarSSM, path: str | Path, overwrite: bool = True) -> Path:
    """Write `path/model.safetensors` and `path/model.yaml` atomically (a temporary folder
    renamed into place, replacing an existing one when `overwrite`). Returns `path`."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    text = yaml.safe_dump({"format": FORMAT, "model": to_dict(model.config)}, sort_keys=False)
    with atomic_dir(path, overwrite=overwrite) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        (tmp / CONFIG).write_text(text)
    return path


def load_config(path: str | Path) -> ModelConfig:
    """The `ModelConfig` stored in a model folder."""
    file = Path(path) / CONFIG
    if not file.is_file():
        raise ModelFileError(f"{file}: model config not found (is {path} a saved model folder?)")
    try:
        data = yaml.safe_load(file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{file}: not valid YAML ({exc})") from None
    if isinstance(data, dict) and data.get("format") in OLD_FORMATS:
        raise ModelFileError(
            f"{file}: a model saved in format {data['format']!r}, which "
            f"{OLD_FORMATS[data['format']]}; this version of sarssm reads {FORMAT!r} only: "
            "retrain it (sarssm train) to get a model of the current format"
        )
    if not isinstance(data, dict) or data.get("format") != FORMAT or "model" not in data:
        raise ModelFileError(f"{file}: not a sarssm model config (expected format {FORMAT!r})")
    try:
        return from_dict(ModelConfig, data["model"], f"{file}: model")
    except ConfigError as exc:
        raise ModelFileError(str(exc)) from None


def load_model(path: str | Path, device: str | torch.device = "cpu") -> SarSSM:
    """Rebuild the model saved by `save_model` (in eval mode, with the saved dtype)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = load_config(path)
    file = Path(path) / WEIGHTS
    if not file.is_file():
        raise ModelFileError(f"{file}: model weights not found")
    try:
        tensors = load_file(str(file), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{file}: cannot read the weights ({exc})") from None
    model = SarSSM(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{file}: weights do not match the config {config.name!r}: missing {missing[:5]}, "
            f"unexpected {extra[:5]}"
        )
    for name, value in tensors.items():
        if value.shape != expected[name].shape:
            raise ModelFileError(
                f"{file}: tensor {name!r} has shape {tuple(value.shape)} but the config "
                f"{config.name!r} needs {tuple(expected[name].shape)}"
            )
    dtypes = {v.dtype for v in tensors.values() if v.is_floating_point()}
    if dtypes - {torch.float32, torch.float64} or len(dtypes) > 1:
        raise ModelFileError(f"{file}: expected float32 or float64 weights, got {dtypes}")
    model = model.to(device=device, dtype=dtypes.pop() if dtypes else torch.float32)
    model.load_state_dict(tensors)
    return model.eval()
