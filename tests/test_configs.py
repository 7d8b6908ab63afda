from pathlib import Path

import pytest

from sarssm.config import to_dict
from sarssm.models.config import resolve_config as resolve_model
from sarssm.train.run import resolve_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "sarssm" / "configs").rglob("*.yaml"))


def test_the_shipped_configs_are_found():
    names = {p.relative_to(p.parents[1]).as_posix() for p in CONFIGS}
    assert {"configs/teacher.yaml", "demo/teacher.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads_and_sets_every_key(path):
    import yaml

    cfg = resolve_config(path)
    model = resolve_model(cfg.model)
    assert model.model_dim >= 1
    raw = yaml.safe_load(path.read_text())
    resolved = to_dict(cfg)
    # every section of the resolved config is written out in the file (documented there)
    for section in ("data", "optim", "schedule", "trainer", "logging"):
        assert set(resolved[section]) == set(raw[section]), section


def test_demo_config_trains_the_gate_teacher_on_demo_data():
    cfg = resolve_config(next(p for p in CONFIGS if p.parent.name == "demo"))
    assert resolve_model(cfg.model).selectivity == "gate"
    assert cfg.data.simulate is not None and cfg.data.simulate.preset == "demo"
