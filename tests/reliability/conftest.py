"""Shared fixtures of the reliability tests: a folder of tiny products and the overrides of a
training run that takes a few seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A one-layer demo-tiny on 128-row patches: two epochs in about 3 s on one CPU.
TINY_TRAIN = [
    "model.preset=demo-tiny",
    "model.state_dim=16",
    "model.num_layers=1",
    "model.dropout=0.0",
    "data.patch_size=[128, 1]",
    "data.stride=[128, 1]",
    "data.loss_margin=16",
    "data.samples_per_epoch=96",
    "data.batch_size=8",
    "data.norm_patches=16",
    "data.split.val_fraction=0.2",
    "data.split.test_fraction=0.2",
    "optim.lr=0.01",
    "trainer.max_epochs=2",
    "trainer.figure_every_n_epochs=0",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
    "logging.tensorboard=false",
]


@pytest.fixture(scope="session")
def rel_data(tmp_path_factory) -> Path:
    """Five `demo` products (256 x 16): enough for a train / val / test split. Read-only."""
    from sarssm.sim.simulate import simulate

    out = tmp_path_factory.mktemp("rel_data")
    simulate(out, "demo", "mixed", n_products=5, seed=5, snr_db=30.0, progress=False)
    return out


def train_argv(data: Path, run: Path, *extra: str) -> list[str]:
    """`sarssm train` of the tiny model on `data` into `run` (the demo config + TINY_TRAIN)."""
    return ["train", "--config", "configs/demo/teacher.yaml", "--data", str(data),
            "--save-dir", str(run), *TINY_TRAIN, *extra]  # fmt: skip


@pytest.fixture(scope="session")
def trained_run(rel_data, tmp_path_factory) -> Path:
    """A finished one-epoch run made by `sarssm train` (read-only: tests copy it)."""
    from sarssm.cli import main

    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(train_argv(rel_data, run, "trainer.max_epochs=1")) == 0
    return run


def tiny_train_config(data: Path, save_dir: Path, *extra: str):
    from sarssm.train.run import resolve_config

    return resolve_config(None, [*TINY_TRAIN, f"data.path={data}", f"save_dir={save_dir}", *extra])
