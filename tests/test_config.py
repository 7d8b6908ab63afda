from dataclasses import dataclass, field
from typing import Literal

import pytest

from sarssm.config import apply_overrides, from_dict, load_yaml, save_yaml, to_dict
from sarssm.errors import ConfigError


@dataclass
class Inner:
    width: int = 4
    rate: float = 0.5


@dataclass
class Outer:
    name: str = "x"
    mode: Literal["a", "b"] = "a"
    size: tuple[int, int] = (8, 1)
    inner: Inner = field(default_factory=Inner)
    tag: str | None = None

    def __post_init__(self) -> None:
        if self.inner.width < 1:
            raise ConfigError(f"inner.width must be >= 1, got {self.inner.width}")


def test_from_dict_builds_nested_and_converts():
    cfg = from_dict(Outer, {"mode": "b", "size": [16, 2], "inner": {"rate": 1}})
    assert cfg.mode == "b" and cfg.size == (16, 2)
    assert isinstance(cfg.inner.rate, float) and cfg.inner.rate == 1.0
    assert cfg.tag is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nme": "y"}, "unknown key"),
        ({"inner": {"widht": 3}}, "config.inner: unknown key"),
        ({"mode": "c"}, "config.mode"),
        ({"size": [1, 2, 3]}, "expected 2 values"),
        ({"inner": {"width": "4"}}, "config.inner.width: expected an integer"),
        ({"inner": {"width": True}}, "expected an integer"),
        ({"inner": {"width": 0}}, "inner.width must be >= 1"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_from_dict_rejects_bad_input(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_overrides_take_precedence_and_parse_yaml_values():
    base = {"inner": {"width": 4}, "name": "x"}
    out = apply_overrides(base, ["inner.width=8", "name=teacher", "inner.rate=1e-3"])
    assert out == {"inner": {"width": 8, "rate": 1e-3}, "name": "teacher"}
    assert base["inner"]["width"] == 4  # the input is not modified
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(base, ["inner.width"])
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_overrides(base, ["name.sub=1"])


def test_yaml_round_trip(tmp_path):
    cfg = from_dict(Outer, {"size": [4, 4], "tag": "t"})
    save_yaml(cfg, tmp_path / "c.yaml")
    assert from_dict(Outer, load_yaml(tmp_path / "c.yaml")) == cfg
    assert to_dict(cfg)["size"] == [4, 4]


def test_load_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(scalar)
