"""Shared fixtures: demo products and a small selective teacher trained on them (once)."""

from __future__ import annotations

from pathlib import Path

import pytest

# The teacher's training overrides (small and fast; gate selectivity like the demo teacher).
TEACHER = [
    "model.preset=demo-teacher",
    "model.selectivity=gate",
    "model.model_dim=4",
    "model.state_dim=16",
    "model.num_layers=3",
    "data.patch_size=[128, 1]",
    "data.stride=[128, 1]",
    "data.loss_margin=16",
    "data.samples_per_epoch=64",
    "data.batch_size=8",
    "data.norm_patches=16",
    "data.split.val_fraction=0.2",
    "data.split.test_fraction=0.2",
    "optim.lr=0.01",
    "trainer.max_epochs=2",
    "trainer.figure_every_n_epochs=0",
    "trainer.progress_bar=false",
    "logging.tensorboard=false",
]
# The matching student-side data overrides (same patches and split as the teacher).
DATA = [o for o in TEACHER if o.startswith("data.")]


@pytest.fixture(scope="session")
def kd_data(tmp_path_factory) -> Path:
    from sarssm.sim.simulate import simulate

    out = tmp_path_factory.mktemp("kd_data")
    simulate(out, "demo", "mixed", n_products=5, seed=11, snr_db=30.0, progress=False)
    return out


@pytest.fixture(scope="session")
def kd_teacher(tmp_path_factory, kd_data) -> Path:
    """A teacher run folder (best/, checkpoints/best_model.pth, config.yaml)."""
    from sarssm.train.run import resolve_config, train

    out = tmp_path_factory.mktemp("kd_teacher") / "teacher"
    cfg = resolve_config(None, [*TEACHER, f"data.path={kd_data}", f"save_dir={out}"])
    train(cfg)
    return out


def student_overrides(kd_data: Path, kd_teacher: Path, save_dir: Path, *extra: str) -> list[str]:
    return [
        f"save_dir={save_dir}",
        f"data.path={kd_data}",
        f"teacher.checkpoint={kd_teacher / 'best'}",
        f"teacher.config={kd_teacher / 'config.yaml'}",
        "model.preset=demo-tiny",
        "model.state_dim=8",
        *DATA,
        "optim.lr=0.01",
        "distillation.curriculum_epochs=0",
        "trainer.max_epochs=2",
        "trainer.progress_bar=false",
        "trainer.log_every_n_steps=1",
        "logging.tensorboard=false",
        "monitor.every_n_steps=1",
        "baseline=false",
        *extra,
    ]
