"""End-to-end training on tiny simulated data: the loss falls, outputs are complete, resume
continues exactly where an uninterrupted run would be."""

from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from sarssm.errors import ConfigError
from sarssm.train.run import resolve_config, train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    from sarssm.sim.simulate import simulate

    out = tmp_path_factory.mktemp("train_data")
    simulate(out, "demo", "mixed", n_products=5, seed=3, snr_db=30.0, progress=False)
    return out


def tiny_config(data_dir: Path, save_dir: Path, *extra: str):
    overrides = [
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
        "trainer.figure_every_n_epochs=1",
        "trainer.progress_bar=false",
        "trainer.log_every_n_steps=1",
        "logging.tensorboard=false",
        *extra,
    ]
    return resolve_config(
        None, overrides, **{"data.path": str(data_dir), "save_dir": str(save_dir)}
    )


def test_two_epochs_lower_the_loss_and_write_every_output(data_dir, tmp_path):
    import csv

    cfg = tiny_config(data_dir, tmp_path / "run")
    metrics = train(cfg)
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.json", "normalization.json"):
        assert (run / name).is_file(), name
    for folder in ("best", "last"):
        assert {p.name for p in (run / folder).iterdir()} >= {
            "model.safetensors",
            "model.yaml",
            "normalization.json",
        }
    assert list((run / "figures").glob("*.png"))
    assert {"nmse_db", "psnr_db", "ssim", "collapse_ratio"} <= set(metrics["test"])
    rows = list(csv.DictReader(open(run / "logs" / "csv" / "metrics.csv")))
    epoch_loss = [float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")]
    assert len(epoch_loss) == 2 and epoch_loss[1] < epoch_loss[0]
    lrs = [float(r["lr-AdamW/ssm"]) for r in rows if r.get("lr-AdamW/ssm")]
    assert lrs and max(lrs) <= 0.01 * 0.1 + 1e-12  # SSM group: lr x ssm_lr_scale


class StopAfterFirstEpoch(L.Callback):
    """Interrupts the run as the second epoch starts (after the first epoch's checkpoint)."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated interruption")


def test_resume_continues_exactly(data_dir, tmp_path):
    straight = tiny_config(data_dir, tmp_path / "straight")
    train(straight)
    broken = tiny_config(data_dir, tmp_path / "broken")
    with pytest.raises(RuntimeError, match="simulated interruption"):
        train(broken, extra_callbacks=[StopAfterFirstEpoch()])
    assert (tmp_path / "broken" / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "broken" / "metrics.json").exists()
    with pytest.raises(ConfigError, match="--resume"):
        train(broken)  # a run is there: refuse to start over silently
    train(broken, resume=True)
    a = load_file(tmp_path / "straight" / "last" / "model.safetensors")
    b = load_file(tmp_path / "broken" / "last" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_resume_without_a_run_is_a_clear_error(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(tiny_config(data_dir, tmp_path / "none"), resume=True)


def test_config_precedence_and_validation(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\ntrainer:\n  max_epochs: 7\nmodel:\n  preset: demo-tiny\n")
    cfg = resolve_config(path, ["trainer.max_epochs=9", "seed=4"], **{"trainer.max_epochs": 11})
    assert cfg.trainer.max_epochs == 11 and cfg.seed == 4
    assert resolve_config(path, ["seed=4"]).trainer.max_epochs == 7
    with pytest.raises(ConfigError, match="unknown key"):
        resolve_config(path, ["trainer.max_epoch=3"])
    with pytest.raises(ConfigError, match="unknown model preset"):
        resolve_config(path, ["model.preset=huge"])
    with pytest.raises(ConfigError, match="loss"):
        resolve_config(path, ["loss.nonsense=1.0"])


def test_ddp_on_two_cpu_processes(data_dir, tmp_path):
    """`trainer.devices=2 trainer.strategy=ddp` trains with two processes and reports once."""
    import os
    import subprocess
    import sys

    from sarssm.models import load_model

    cmd = [sys.executable, "-m", "sarssm", "train", "--config", "configs/demo/teacher.yaml",
           "--data", str(data_dir), "--save-dir", str(tmp_path / "ddp"), "--max-epochs", "1",
           "model.preset=demo-tiny", "model.state_dim=16", "model.num_layers=1",
           "data.patch_size=[128, 1]", "data.loss_margin=16", "data.samples_per_epoch=32",
           "data.batch_size=8", "data.norm_patches=16", "data.split.val_fraction=0.2",
           "data.split.test_fraction=0.2", "trainer.devices=2", "trainer.strategy=ddp",
           "trainer.progress_bar=false", "logging.tensorboard=false"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("saved to") == 1  # rank 0 alone reports
    assert (tmp_path / "ddp" / "metrics.json").is_file()
    assert load_model(tmp_path / "ddp" / "best") is not None


def test_loggers_follow_the_config(tmp_path, monkeypatch):
    import builtins

    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from sarssm.train.run import _loggers

    cfg = resolve_config(None, ["logging.tensorboard=false"])
    assert [type(x) for x in _loggers(cfg, tmp_path)] == [CSVLogger]
    cfg = resolve_config(None, ["logging.wandb=offline"])
    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("no wandb here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    kinds = [type(x) for x in _loggers(cfg, tmp_path)]
    assert kinds == [CSVLogger, TensorBoardLogger]  # wandb missing: skipped, not a crash


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_resume_keeps_the_best_score_and_the_log(data_dir, tmp_path, dropout):
    """An interrupted run resumed ends as the uninterrupted one: same weights (dropout
    included), same best epoch and score, and a CSV log holding every epoch once."""
    import csv

    import yaml

    extra = (f"model.dropout={dropout}", "trainer.max_epochs=3")
    straight = tiny_config(data_dir, tmp_path / "straight", *extra)
    train(straight)
    broken = tiny_config(data_dir, tmp_path / "broken", *extra)
    with pytest.raises(RuntimeError, match="simulated interruption"):
        train(broken, extra_callbacks=[StopAfterFirstEpoch()])
    train(broken, resume=True)
    runs = {}
    for name in ("straight", "broken"):
        root = tmp_path / name
        info = yaml.safe_load((root / "best" / "info.yaml").read_text())
        with open(root / "logs" / "csv" / "metrics.csv") as f:
            epochs = [r["epoch"] for r in csv.DictReader(f) if r.get("val/loss")]
        weights = load_file(root / "last" / "model.safetensors")
        runs[name] = (info, epochs, weights)
    (info_a, epochs_a, a), (info_b, epochs_b, b) = runs["straight"], runs["broken"]
    assert info_a["epoch"] == info_b["epoch"]
    assert info_a["val/loss"] == pytest.approx(info_b["val/loss"], rel=1e-5)
    assert epochs_b == epochs_a  # earlier epochs kept, none twice
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_a_preset_override_resets_the_keys_its_preset_defines(caplog):
    """`model.preset=demo-tiny` on top of a config that sets `selectivity: gate` gives
    demo-tiny's own selectivity (with a warning naming the key), unless the override sets it."""
    from sarssm.models import resolve_config as resolve_model

    cfg = resolve_config("configs/demo/teacher.yaml", ["model.preset=demo-tiny"])
    assert resolve_model(cfg.model).selectivity == "none"
    assert "selectivity" in caplog.text
    both = ["model.preset=demo-tiny", "model.selectivity=gate"]
    assert (
        resolve_model(resolve_config("configs/demo/teacher.yaml", both).model).selectivity == "gate"
    )
    assert (
        resolve_model(resolve_config("configs/demo/teacher.yaml", []).model).selectivity == "gate"
    )
