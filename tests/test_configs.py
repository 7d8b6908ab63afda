from pathlib import Path

import pytest

from sarssm.config import to_dict
from sarssm.models.config import resolve_config as resolve_model
from sarssm.train.run import resolve_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "sarssm" / "configs").rglob("*.yaml"))
CONFIGS += sorted((ROOT / "training" / "training_configs").glob("*.yaml"))


def is_student(path: Path) -> bool:
    import yaml

    return "distillation" in yaml.safe_load(path.read_text())


def test_the_shipped_configs_are_found():
    names = {p.relative_to(p.parents[1]).as_posix() for p in CONFIGS}
    assert {"configs/teacher.yaml", "demo/teacher.yaml", "demo/student.yaml"} <= names
    seed = {"s4_ssm_complex.yaml", "s4_ssm_student.yaml", "s4_ssm_complex_smaller_cols.yaml"}
    assert seed <= {p.name for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads_and_sets_every_key(path):
    import yaml

    from sarssm.distill.run import resolve_config as resolve_student

    cfg = resolve_student(path) if is_student(path) else resolve_config(path)
    model = resolve_model(cfg.model)
    assert model.model_dim >= 1
    raw = yaml.safe_load(path.read_text())
    resolved = to_dict(cfg)
    # every section of the resolved config is written out in the file (documented there)
    sections = ["data", "optim", "schedule", "trainer", "logging"]
    if is_student(path):
        sections += ["teacher", "distillation", "progressive", "distribution", "beyond", "monitor"]
        assert model.selectivity == "none"
    for section in sections:
        assert set(resolved[section]) == set(raw[section]), section


def test_demo_config_trains_the_gate_teacher_on_demo_data():
    cfg = resolve_config(next(p for p in CONFIGS if p.parent.name == "demo" and not is_student(p)))
    assert resolve_model(cfg.model).selectivity == "gate"
    assert cfg.data.simulate is not None and cfg.data.simulate.preset == "demo"


def test_seed_configs_chain_teacher_to_student():
    from sarssm.distill.run import resolve_config as resolve_student

    teacher = resolve_config(ROOT / "training/training_configs/s4_ssm_complex.yaml")
    student = resolve_student(ROOT / "training/training_configs/s4_ssm_student.yaml")
    assert resolve_model(teacher.model).selectivity != "none"  # the teacher is selective
    assert student.teacher.config == "training/training_configs/s4_ssm_complex.yaml"
    assert student.teacher.checkpoint == f"{teacher.save_dir}/checkpoints/best_model.pth"
    assert student.data.path == teacher.data.path
    small = resolve_config(ROOT / "training/training_configs/s4_ssm_complex_smaller_cols.yaml")
    assert resolve_model(small.model).model_dim < resolve_model(teacher.model).model_dim
