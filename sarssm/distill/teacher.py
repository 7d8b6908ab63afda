"""The frozen teacher: loaded from a `best/` folder or a Lightning checkpoint, checked against
its training config, out of every gradient and every student artefact."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sarssm.errors import ConfigError
from sarssm.models.config import describe_differences

log = logging.getLogger(__name__)


@dataclass
class Teacher:
    net: Any  # sarssm.models.SarSSM, frozen, eval mode
    scaler: Any  # sarssm.data.normalize.ComplexScaler of its training data
    train_config: Any | None  # sarssm.train.config.TrainConfig (None: a folder without one)
    source: str


def freeze(net: torch.nn.Module) -> torch.nn.Module:
    """No gradients, eval mode (dropout off) for good."""
    net.requires_grad_(False)
    return net.eval()


def load_teacher(
    config_path: str | None, checkpoint: str | None, overrides: list[str] | None = None
) -> Teacher:
    """The teacher of `checkpoint` (a saved model folder, or a Lightning `.ckpt`/`.pth`),
    checked against the model of its training config `config_path` (with `overrides`)."""
    from sarssm.models import resolve_config as resolve_model
    from sarssm.models.config import DERIVED_KEYS, reference_from_data
    from sarssm.train.run import resolve_config

    if not checkpoint:
        raise ConfigError(
            "distill: no teacher checkpoint (--teacher_checkpoint or teacher.checkpoint)"
        )
    path = Path(checkpoint)
    if not path.exists():
        raise ConfigError(
            f"teacher checkpoint not found: {path} (train the teacher first, e.g. "
            "`python training_script.py --config training/training_configs/s4_ssm_complex.yaml`)"
        )
    train_config = resolve_config(config_path, overrides) if config_path else None
    expected = resolve_model(train_config.model).resolved() if train_config else None
    # `model.reference: data`: the reference is the one the teacher's training data gave
    from_data = train_config is not None and reference_from_data(train_config.model)
    net, scaler = load_any_model(path, None if from_data else expected)
    if expected is not None:
        ignore = DERIVED_KEYS if from_data else ()
        pairs = describe_differences(net.config, expected, ("checkpoint", "config"), ignore)
        if pairs:
            raise ConfigError(
                f"teacher checkpoint {path} does not match its teacher config {config_path}: "
                f"they differ in {pairs}"
            )
    return Teacher(freeze(net), scaler, train_config, str(path))


def load_any_model(path: str | Path, expected: Any = None):
    """(model, scaler) from a saved model folder or a Lightning checkpoint (`.ckpt`/`.pth`,
    loaded with weights_only=True; its model config is the one it records, or `expected`)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"model not found: {path}")
    return _from_folder(path) if path.is_dir() else _from_checkpoint(path, expected)


def _from_folder(path: Path):
    from sarssm.data.normalize import ComplexScaler
    from sarssm.models import load_model

    norm = path / "normalization.json"
    if not norm.is_file():
        raise ConfigError(f"teacher folder {path} has no normalization.json (not a best/ folder?)")
    return load_model(path), ComplexScaler.load(norm)


def _from_checkpoint(path: Path, expected: Any):
    from sarssm.data.normalize import ComplexScaler
    from sarssm.models import SarSSM
    from sarssm.train.checkpoint import read_checkpoint, recorded_model

    ckpt = read_checkpoint(path)  # weights-only: a pickle of other objects is refused
    saved = recorded_model(ckpt, path)
    if expected is None:
        if saved is None:
            raise ConfigError(
                f"checkpoint {path} does not record its model config: give the training config"
            )
        expected = saved
    elif saved is not None:
        pairs = describe_differences(saved, expected, ("checkpoint", "config"))
        if pairs:
            raise ConfigError(
                f"checkpoint {path} does not match its config: the model it records differs "
                f"in {pairs}"
            )
    state = {k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    net = SarSSM(expected)
    want = net.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    shapes = [k for k in want if k in state and state[k].shape != want[k].shape]
    if missing or extra or shapes:
        raise ConfigError(
            f"teacher checkpoint {path} does not match its teacher config (model "
            f"{expected.name!r}): missing {missing[:4]}, unexpected {extra[:4]}, other shapes "
            f"{shapes[:4]}"
        )
    net.load_state_dict(state)
    scales = ckpt.get("SarDataModule") or {}
    norm = path.parent.parent / "normalization.json"
    if scales:
        scaler = ComplexScaler(**scales)
    elif norm.is_file():
        scaler = ComplexScaler.load(norm)
    else:
        raise ConfigError(f"teacher checkpoint {path}: no normalisation in it nor at {norm}")
    return net, scaler


def check_student(teacher: Any, student: Any, data_presets: set[str]) -> list[str]:
    """Refuse a student the teacher cannot teach; return warnings (pole budget)."""
    from sarssm.models.cost import data_stats

    t, s = teacher.resolved(), student.resolved()
    if t.data_preset != s.data_preset:
        raise ConfigError(
            f"the teacher was trained for data preset {t.data_preset!r} but the student is sized "
            f"for {s.data_preset!r}: distil from a teacher of the same data"
        )
    other = sorted(p for p in data_presets if p and p != t.data_preset)
    if other:
        raise ConfigError(
            f"the teacher was trained on data preset {t.data_preset!r} but the products to "
            f"distil on are {other}"
        )
    radar = ("wavelength_m", "velocity_mps", "prf_hz")
    differ = [
        f"{k} {getattr(s.reference, k):g} vs {getattr(t.reference, k):g}"
        for k in radar
        if getattr(s.reference, k) != getattr(t.reference, k)
    ]
    if differ:
        raise ConfigError(
            f"the student's model.reference is of another radar than the teacher's "
            f"({', '.join(differ)}): leave model.reference unset, and it takes the teacher's"
        )
    if s.input_level != t.input_level or s.range_neighbours > t.range_neighbours:
        raise ConfigError(
            f"the student reads {s.input_level} +-{s.range_neighbours} columns but the teacher "
            f"reads {t.input_level} +-{t.range_neighbours}: a student reads the teacher's level "
            "and at most its range neighbours"
        )
    warnings = []
    tbp = data_stats(s.data_preset)["tbp"]
    if s.pole_budget < tbp:
        per = s.num_layers * s.model_dim * (2 if s.direction == "bidirectional" else 1)
        need = math.ceil(tbp / per)
        warnings.append(
            f"student pole budget {s.pole_budget} (layers x width x modes) is below the data's "
            f"time-bandwidth product {tbp:.0f}: it cannot hold the focusing kernel; "
            f"state_dim >= {need} at width {s.model_dim} and {s.num_layers} layers would suffice"
        )
    return warnings
