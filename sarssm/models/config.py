"""Model configuration (`ModelConfig`) and the named presets.

A model is a focusing operator of one range column (with `range_neighbours` columns on each
side as extra input channels): linear in the signal, conditioned on the column's slant range
through an exact pre-filter (`sarssm.models.conditioning`), with no input that does not scale
with the signal. Its output delay, pre-filter length and reference geometry follow from its
data preset unless given:

- `reference`: the preset's mid-swath column; slant ranges accepted: the swath widened by 25 %
  of its width on each side. A training config may say `reference: data` instead (real
  products, whose V and PRF differ between acquisitions): `sarssm train` then takes it from the
  training products (`ReferenceGeometry.from_geometries`), and the saved model holds it;
  `resolve_config` reads `data` as the preset's until then (`reference_from_data`);
- `prefilter_taps` J: the shortest pre-filter fitting that interval to -40 dB;
- `delay` (causal): the reference column's delay for `delay_floor_db` plus J;
- `memory` M: three times that. Every mode's amplitude falls 40 dB within M samples (a floor on
  its decay rate, `sarssm.models.ops.discretize_zoh`), so the model's response is as finite
  as the focusing kernel's, whatever lags the training columns happened to constrain.

`resolved()` fills them in; a built model and its saved `model.yaml` hold the resolved values.

Seed-size presets follow the earlier design's table (model_dim / state_dim / num_layers):
teacher 64/540/6 (selective), standard 64/540/6, compressed 32/256/4, tiny 16/128/3,
ultra 1/64/2, for Sentinel-1 stripmap data (aperture about 821 samples, TBP about 489). Demo
presets are sized for the `demo` data (aperture about 64 samples, TBP about 38):

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
from sarssm.models.conditioning import (
    DELAY_FLOOR_DB,
    ReferenceGeometry,
    auto_taps,
    reference_delay,
)

SELECTIVITY = ("none", "scan", "gate")
DIRECTIONS = ("causal", "bidirectional")
INITS = ("inv", "lin", "band")
ACTIVATIONS = ("none", "modrelu")
GEOMETRY = ("prefilter", "none")
INPUT_LEVELS = ("rc", "rcmc")
SCANS = ("auto", "sequential", "chunked", "doubling")
# Keys a preset defines: a preset chosen later (an override) resets them (`with_preset`).
PRESET_KEYS = (
    "model_dim",
    "state_dim",
    "num_layers",
    "selectivity",
    "direction",
    "data_preset",
    "input_level",
    "range_neighbours",
    "activation",
)
DERIVED_KEYS = ("reference", "prefilter_taps", "delay", "memory")
REFERENCE_FROM_DATA = "data"  # model.reference of a training config: from its training products
# Memory over the focusing window d_ref + J. On the demo teacher (30 epochs) 2 gave test NMSE
# -28.4 dB, 3 gave -29.8 dB (none: -30.8 dB on 256-row products, but -15 dB on 1024-row ones).
MEMORY_FACTOR = 3


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a `SarSSM` (see `sarssm.models.stack`)."""

    name: str = "custom"
    input_level: Literal["rc", "rcmc"] = "rc"  # the product level the model reads
    range_neighbours: int = 0  # k: columns m-k..m+k feed column m (on-line RCM correction)
    model_dim: int = 16  # H, channels of every block
    state_dim: int = 64  # N, complex modes per channel (per side if bidirectional)
    num_layers: int = 4  # residual blocks
    selectivity: Literal["none", "scan", "gate"] = "none"  # none: LTI S4D; scan/gate: selective
    direction: Literal["causal", "bidirectional"] = "causal"
    delay: int | None = None  # d, output delay (causal); None: from the reference geometry
    delay_floor_db: float = DELAY_FLOOR_DB  # truncation floor the automatic delay is chosen for
    memory: int | None = None  # M: every mode decays 40 dB within M samples; None: 3 (d_ref + J)
    geometry: Literal["prefilter", "none"] = "prefilter"  # per-column range conditioning
    reference: ReferenceGeometry | None = None  # None: the data preset's mid-swath column
    prefilter_taps: int | None = None  # J (2J + 1 taps); None: shortest fit to -40 dB
    init: Literal["inv", "lin", "band"] = "band"  # pole initialisation (band: best for chirps)
    band: float = 0.6  # normalised Doppler band Ba / PRF used by init "band"
    dt_min: float = 1e-3  # range of the initial step sizes
    dt_max: float = 1e-1
    dropout: float = 0.0
    activation: Literal["none", "modrelu"] = "none"  # modrelu: scale-free (threshold ~ RMS)
    scan: Literal["auto", "sequential", "chunked", "doubling"] = "auto"  # selective scan
    scan_chunk: int = 64  # T of the chunked and doubling scans
    scan_block: int | None = 256  # time steps of [B, block, H, N] state held at once
    checkpoint: bool = False  # recompute each scan block in the backward pass (less memory)
    data_preset: str = "demo"  # geometry preset the model is sized for (TBP, column length)

    def __post_init__(self) -> None:
        for key in ("model_dim", "state_dim", "num_layers", "scan_chunk"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{key} must be an integer >= 1, got {value!r}")
        for key in ("range_neighbours", "delay", "prefilter_taps", "scan_block", "memory"):
            value = getattr(self, key)
            if value is None and key != "range_neighbours":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"model.{key} must be an integer >= 0, got {value!r}")
        if self.scan_block == 0:
            raise ConfigError("model.scan_block must be >= 1 (or null: the whole column)")
        if self.memory == 0:
            raise ConfigError("model.memory must be >= 1 samples (or null: from the geometry)")
        choices = {
            "selectivity": SELECTIVITY,
            "direction": DIRECTIONS,
            "init": INITS,
            "activation": ACTIVATIONS,
            "geometry": GEOMETRY,
            "input_level": INPUT_LEVELS,
            "scan": SCANS,
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"model.{key}: {getattr(self, key)!r} is not one of {allowed}")
        if self.direction == "bidirectional" and self.delay not in (None, 0):
            raise ConfigError(
                f"model.delay must be 0 for a bidirectional model (it sees the whole column), "
                f"got {self.delay}"
            )
        if not self.delay_floor_db < 0:
            raise ConfigError(f"model.delay_floor_db must be < 0 dB, got {self.delay_floor_db}")
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
    def input_channels(self) -> int:
        """C: the input column and its 2k neighbours."""
        return 2 * self.range_neighbours + 1

    @property
    def pole_budget(self) -> int:
        """Total complex poles: layers x width x modes (x2 sides if bidirectional)."""
        sides = 2 if self.direction == "bidirectional" else 1
        return self.num_layers * self.model_dim * self.state_dim * sides

    def resolved(self) -> ModelConfig:
        """A copy with `reference`, `prefilter_taps` and `delay` filled in (see the module
        docstring); explicit values are kept."""
        ref = self.reference or ReferenceGeometry.from_preset(self.data_preset)
        taps = self.prefilter_taps
        if taps is None:
            taps = auto_taps(ref) if self.geometry == "prefilter" else 0
        delay, memory = self.delay, self.memory
        if delay is None or memory is None:
            focus = reference_delay(ref, self.delay_floor_db) + taps
            if delay is None:
                delay = focus if self.direction == "causal" else 0
            if memory is None:
                memory = MEMORY_FACTOR * focus
        derived = (ref, taps, delay, memory)
        if derived == (self.reference, self.prefilter_taps, self.delay, self.memory):
            return self
        return dataclasses.replace(
            self, reference=ref, prefilter_taps=taps, delay=delay, memory=memory
        )

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with `changes` applied (validated; unknown keys raise ConfigError).

        Derived keys (reference, prefilter_taps, delay) that are not given are reset to
        automatic when a key they follow from changes (data_preset, geometry, direction,
        delay_floor_db), so a resolved config never keeps a stale value.
        """
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ConfigError(f"model: unknown key(s) {unknown}; allowed: {sorted(fields)}")
        data = {f: getattr(self, f) for f in fields}
        data.update(changes)
        follows = {
            "reference": ("data_preset",),
            "prefilter_taps": ("data_preset", "geometry", "reference"),
            "delay": ("data_preset", "geometry", "reference", "prefilter_taps", "direction"),
        }
        follows["delay"] += ("delay_floor_db",)
        follows["memory"] = follows["delay"]
        for key, bases in follows.items():
            if key not in changes and any(
                b in changes and changes[b] != getattr(self, b) for b in bases
            ):
                data[key] = None
        if isinstance(data["reference"], ReferenceGeometry):
            data["reference"] = dataclasses.asdict(data["reference"])
        return from_dict(ModelConfig, data, "model")


# Seed presets read rcmc: on s1-stripmap (migration up to 0.73 bins) the best per-column linear
# filter reaches -48.9 dB from rcmc, -11 dB from one rc column and -20 dB from rc +-2
# (`benchmarks/range_context.py`); rc with range_neighbours is the option for data without RCMC.
_SEED = dict(data_preset="s1-stripmap", input_level="rcmc", range_neighbours=0)
_DEMO = dict(data_preset="demo", input_level="rc", range_neighbours=0)

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


def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """'demo-teacher:selectivity=gate,model_dim=8' -> ('demo-teacher', {...}): a preset and
    config overrides, so a variant (the demo teacher's gate) is named in one string."""
    from sarssm.config import parse_override

    name, _, rest = spec.partition(":")
    overrides = {}
    for item in filter(None, rest.split(",")):
        keys, value = parse_override(item)
        overrides[".".join(keys)] = value
    return name, overrides


def config_differences(a: ModelConfig, b: ModelConfig) -> list[str]:
    """Keys where two resolved model configs differ (the name aside)."""
    from sarssm.config import to_dict

    da, db = to_dict(a.resolved()), to_dict(b.resolved())
    return [k for k in da if k != "name" and da[k] != db.get(k)]


def describe_differences(
    saved: ModelConfig,
    expected: ModelConfig,
    labels: tuple[str, str],
    ignore: tuple[str, ...] = (),
) -> str | None:
    """The first keys where two model configs differ (`ignore` aside), each with both values
    under `labels`, e.g. "delay (checkpoint: 51, the config: 60)"; None when they agree."""
    diff = [k for k in config_differences(saved, expected) if k not in ignore]
    if not diff:
        return None
    a, b = saved.resolved(), expected.resolved()
    return ", ".join(
        f"{k} ({labels[0]}: {getattr(a, k)!r}, {labels[1]}: {getattr(b, k)!r})" for k in diff[:4]
    ) + (f" and {len(diff) - 4} more" if len(diff) > 4 else "")


def reference_from_data(spec: Any) -> bool:
    """Whether a model spec (a training config's `model` mapping) asks for its reference
    geometry from the training products (`reference: data`)."""
    return isinstance(spec, dict) and spec.get("reference") == REFERENCE_FROM_DATA


def resolve_config(spec: ModelConfig | str | dict[str, Any], **overrides: Any) -> ModelConfig:
    """A config from a `ModelConfig`, a preset name or a mapping (a mapping may name a
    `preset` to start from), with keyword `overrides` applied on top. `reference: data` in a
    mapping is left to `sarssm train` (`reference_from_data`): here the preset's applies."""
    if isinstance(spec, ModelConfig):
        config = spec
    elif isinstance(spec, str):
        config = get_config(spec)
    elif isinstance(spec, dict):
        data = dict(spec)
        if reference_from_data(data):
            del data["reference"]
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
