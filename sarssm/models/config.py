"""Model configuration (`ModelConfig`) and the named presets.

Seed-size presets follow the earlier design's table (model_dim / state_dim / num_layers):
teacher 64/540/6 (selective), standard 64/540/6, compressed 32/256/4, tiny 16/128/3,
ultra 1/64/2, for Sentinel-1 stripmap data (aperture about 821 samples, TBP about 489,
delay 410 = half the aperture).

Demo presets are sized for the `demo` data preset (aperture about 64 samples, TBP about 38,
delay 32). An LTI model needs a pole budget (layers x width x modes) of the order of the data's
TBP. One causal S4D channel with 64 band-initialised modes fits the demo matched filter to
-35 dB on the taps a delay of 32 can reach, 32 modes to -16 dB (docs/models.md), so every demo
preset keeps at least 32 modes per channel and a budget of at least 2 x 32 = 64 poles
(about 1.7 TBP):

    preset            H   N   layers  poles  selectivity
    demo-teacher     16  64   4       4096   scan
    demo-standard    16  64   4       4096   none
    demo-compressed   8  64   3       1536   none
    demo-tiny         4  32   2        256   none
    demo-ultra        1  32   2         64   none
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from sarssm.config import from_dict
from sarssm.errors import ConfigError

SELECTIVITY = ("none", "scan", "gate")
DIRECTIONS = ("causal", "bidirectional")
INITS = ("inv", "lin", "band")
ACTIVATIONS = ("modrelu", "none")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a `SarSSM` (see `sarssm.models.stack`)."""

    name: str = "custom"
    input_channels: int = 2  # C: the signal and the positional channel (range + j azimuth)
    model_dim: int = 16  # H, channels of every block
    state_dim: int = 64  # N, complex modes per channel (per side if bidirectional)
    num_layers: int = 4  # residual blocks
    selectivity: Literal["none", "scan", "gate"] = "none"  # none: LTI S4D; scan/gate: selective
    direction: Literal["causal", "bidirectional"] = "causal"
    delay: int = 32  # d, output delay in samples (causal); about half the data's aperture
    init: Literal["inv", "lin", "band"] = "band"  # pole initialisation (band: best for chirps)
    band: float = 0.6  # normalised Doppler band Ba / PRF used by init "band"
    dt_min: float = 1e-3  # range of the initial step sizes
    dt_max: float = 1e-1
    dropout: float = 0.0
    norm: bool = False  # RMS norm over channels before each SSM (scales |.|, keeps phase)
    activation: Literal["modrelu", "none"] = "modrelu"  # none: a fully linear model
    data_preset: str = "demo"  # geometry preset the model is sized for (TBP, column length)

    def __post_init__(self) -> None:
        for key in ("input_channels", "model_dim", "state_dim", "num_layers"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{key} must be an integer >= 1, got {value!r}")
        choices = {
            "selectivity": SELECTIVITY,
            "direction": DIRECTIONS,
            "init": INITS,
            "activation": ACTIVATIONS,
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"model.{key}: {getattr(self, key)!r} is not one of {allowed}")
        if isinstance(self.delay, bool) or not isinstance(self.delay, int) or self.delay < 0:
            raise ConfigError(f"model.delay must be an integer >= 0, got {self.delay!r}")
        if self.direction == "bidirectional" and self.delay != 0:
            raise ConfigError(
                f"model.delay must be 0 for a bidirectional model (it sees the whole column), "
                f"got {self.delay}"
            )
        if not 0 < self.dt_min <= self.dt_max:
            raise ConfigError(
                f"model: need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}"
            )
        if not 0 < self.band <= 1:
            raise ConfigError(f"model.band must be in (0, 1] cycles per sample, got {self.band}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        from sarssm.physics.geometry import PRESETS

        if self.data_preset not in PRESETS:
            raise ConfigError(
                f"model.data_preset {self.data_preset!r} is not one of {sorted(PRESETS)}"
            )

    @property
    def pole_budget(self) -> int:
        """Total complex poles: layers x width x modes (x2 sides if bidirectional)."""
        sides = 2 if self.direction == "bidirectional" else 1
        return self.num_layers * self.model_dim * self.state_dim * sides

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with `changes` applied (validated; unknown keys raise ConfigError)."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ConfigError(f"model: unknown key(s) {unknown}; allowed: {sorted(fields)}")
        data = {f: getattr(self, f) for f in fields}
        data.update(changes)
        # Switching a preset to bidirectional drops its streaming delay unless one is given.
        if changes.get("direction") == "bidirectional" and "delay" not in changes:
            data["delay"] = 0
        return from_dict(ModelConfig, data, "model")


_SEED = dict(delay=410, data_preset="s1-stripmap")
_DEMO = dict(delay=32, data_preset="demo")

PRESETS: dict[str, dict[str, Any]] = {
    "teacher": dict(model_dim=64, state_dim=540, num_layers=6, selectivity="scan", **_SEED),
    "standard": dict(model_dim=64, state_dim=540, num_layers=6, **_SEED),
    "compressed": dict(model_dim=32, state_dim=256, num_layers=4, **_SEED),
    "tiny": dict(model_dim=16, state_dim=128, num_layers=3, **_SEED),
    "ultra": dict(model_dim=1, state_dim=64, num_layers=2, **_SEED),
    "demo-teacher": dict(model_dim=16, state_dim=64, num_layers=4, selectivity="scan", **_DEMO),
    "demo-standard": dict(model_dim=16, state_dim=64, num_layers=4, **_DEMO),
    "demo-compressed": dict(model_dim=8, state_dim=64, num_layers=3, **_DEMO),
    "demo-tiny": dict(model_dim=4, state_dim=32, num_layers=2, **_DEMO),
    "demo-ultra": dict(model_dim=1, state_dim=32, num_layers=2, **_DEMO),
}


def preset_names() -> list[str]:
    """Every preset name, seed sizes first."""
    return list(PRESETS)


def teacher_of(name: str) -> str:
    """The teacher preset a preset's compression ratio is measured against."""
    return "demo-teacher" if get_config(name).data_preset == "demo" else "teacher"


def get_config(name: str) -> ModelConfig:
    """The `ModelConfig` of preset `name` (ConfigError listing the presets otherwise)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {preset_names()}")
    return ModelConfig(name=name, **PRESETS[name])


def resolve_config(spec: ModelConfig | str | dict[str, Any], **overrides: Any) -> ModelConfig:
    """A config from a `ModelConfig`, a preset name or a mapping (a mapping may name a
    `preset` to start from), with keyword `overrides` applied on top."""
    if isinstance(spec, ModelConfig):
        config = spec
    elif isinstance(spec, str):
        config = get_config(spec)
    elif isinstance(spec, dict):
        data = dict(spec)
        base = data.pop("preset", None)
        if base is not None:
            config = get_config(base).replace(**data) if data else get_config(base)
        else:
            config = from_dict(ModelConfig, data, "model")
    else:
        raise ConfigError(
            f"model: expected a ModelConfig, a preset name or a mapping, got {type(spec).__name__}"
        )
    return config.replace(**overrides) if overrides else config
