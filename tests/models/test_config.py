"""ModelConfig validation, presets and build_model overrides."""

from __future__ import annotations

import pytest

from sarssm.config import load_yaml, save_yaml
from sarssm.errors import ConfigError
from sarssm.models import build_model, get_config, preset_names, resolve_config
from sarssm.models.conditioning import reference_delay
from sarssm.models.cost import data_stats
from sarssm.models.s4d import S4D
from sarssm.models.selective import SelectiveSSM

SEED_TABLE = {
    "teacher": (64, 540, 6, "scan"),
    "standard": (64, 540, 6, "none"),
    "compressed": (32, 256, 4, "none"),
    "tiny": (16, 128, 3, "none"),
    "ultra": (1, 64, 2, "none"),
}


def test_seed_presets_follow_the_table():
    for name, (H, N, layers, sel) in SEED_TABLE.items():
        c = get_config(name).resolved()
        assert (c.model_dim, c.state_dim, c.num_layers, c.selectivity) == (H, N, layers, sel)
        assert c.data_preset == "s1-stripmap" and (c.input_level, c.range_neighbours) == ("rcmc", 0)
        aperture = data_stats(c.data_preset)["aperture"]
        J = c.prefilter_taps
        # half the reference aperture plus the window's tail, plus the pre-filter's half
        assert aperture / 2 < c.delay - J < aperture / 2 + 40
        assert c.delay == reference_delay(c.reference, c.delay_floor_db) + J


def test_demo_presets_are_sized_for_the_demo_data():
    demo = [n for n in preset_names() if n.startswith("demo-")]
    assert demo == [f"demo-{n}" for n in SEED_TABLE]
    stats = data_stats("demo")
    for name in demo:
        c = get_config(name).resolved()
        assert c.data_preset == "demo" and c.input_level == "rc" and c.range_neighbours == 0
        assert stats["aperture"] / 2 < c.delay - c.prefilter_taps < stats["aperture"]
        assert c.pole_budget >= stats["tbp"]  # an LTI model needs poles of the order of TBP
        assert c.state_dim >= 32  # one channel of 32-64 modes fits the matched filter
    assert get_config("demo-teacher").selectivity == "scan"


@pytest.mark.parametrize("name", [n for n in preset_names() if n.startswith("demo-")])
def test_every_demo_preset_builds_and_runs(name):
    import torch

    model = build_model(name).eval()
    layer = model.blocks[0].ssm
    assert isinstance(layer, SelectiveSSM if name == "demo-teacher" else S4D)
    with torch.no_grad():
        y = model(torch.randn(1, 40, 1, dtype=torch.cfloat), torch.tensor([66_300.0]))
    assert y.shape == (1, 40) and torch.isfinite(y).all()


def test_overrides_and_mappings():
    m = build_model("tiny", model_dim=3, state_dim=5, num_layers=1, delay=0, dropout=0.1)
    c = m.config
    assert (c.model_dim, c.state_dim, c.num_layers, c.delay, c.dropout) == (3, 5, 1, 0, 0.1)
    assert m.blocks[0].ssm.kernel.C.shape == (3, 5, 2)
    c = resolve_config({"preset": "demo-tiny", "init": "lin"}, state_dim=9)
    assert (c.name, c.init, c.state_dim, c.model_dim) == ("demo-tiny", "lin", 9, 4)
    c = resolve_config({"model_dim": 2, "state_dim": 3, "num_layers": 1})
    assert c.name == "custom" and c.delay is None  # automatic until resolved
    assert c.resolved().delay == get_config("demo-tiny").resolved().delay
    # going bidirectional drops the streaming delay
    assert resolve_config("demo-tiny", direction="bidirectional").resolved().delay == 0
    with pytest.raises(ConfigError, match="delay must be 0 for a bidirectional"):
        resolve_config("demo-tiny", direction="bidirectional", delay=4)


def test_derived_keys_follow_the_data_preset_unless_given():
    demo = get_config("demo-tiny").resolved()
    moved = demo.replace(data_preset="s1-stripmap").resolved()
    assert moved.reference.range_m == 850_000.0 and moved.delay > 400
    kept = demo.replace(data_preset="s1-stripmap", delay=7, prefilter_taps=3).resolved()
    assert (kept.delay, kept.prefilter_taps) == (7, 3)
    assert demo.resolved() is demo  # resolving twice changes nothing
    assert demo.replace(geometry="none").resolved().prefilter_taps == 0


@pytest.mark.parametrize(
    "change,match",
    [
        ({"model_dim": 0}, "model_dim must be an integer >= 1"),
        ({"state_dim": 2.5}, "state_dim"),
        ({"selectivity": "mamba"}, "selectivity"),
        ({"init": "hippo"}, "init"),
        ({"delay": -1}, "delay"),
        ({"dt_min": 0.5, "dt_max": 0.1}, "dt_min <= dt_max"),
        ({"dropout": 1.0}, "dropout"),
        ({"band": 0.0}, "band"),
        ({"activation": "relu"}, "activation"),
        ({"data_preset": "ers"}, "data_preset"),
        ({"range_neighbours": -1}, "range_neighbours"),
        ({"input_level": "az"}, "input_level"),
        ({"geometry": "position"}, "geometry"),
        ({"norm": True}, "unknown key"),
        ({"delay_floor_db": 3.0}, "delay_floor_db"),
        ({"scan": "fast"}, "scan"),
        ({"scan_block": 0}, "scan_block"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_bad_values_raise_config_error(change, match):
    with pytest.raises(ConfigError, match=match):
        resolve_config("demo-tiny", **change)


def test_unknown_preset_and_bad_spec():
    with pytest.raises(ConfigError, match=r"unknown model preset 'huge'.*demo-tiny"):
        build_model("huge")
    with pytest.raises(ConfigError, match="expected a ModelConfig"):
        resolve_config(3)
    with pytest.raises(ConfigError, match=r"model: unknown key\(s\) \['width'\]"):
        resolve_config({"width": 3})


@pytest.mark.parametrize("resolved", [False, True])
def test_yaml_round_trip(tmp_path, resolved):
    c = resolve_config("demo-compressed", init="inv", activation="modrelu")
    c = c.resolved() if resolved else c
    save_yaml(c, tmp_path / "m.yaml")
    assert resolve_config(load_yaml(tmp_path / "m.yaml")) == c
