"""Nothing lost: `train` and `focus` killed with SIGKILL mid-epoch and mid-write keep their
earlier artefacts intact and loadable, and `--resume` ends where an uninterrupted run does.
(`distill`: tests/distill/test_reliability.py.)

Measured here (2-core CPU, torch 2.13.0): a resumed run's weights, best epoch and metrics
equal the uninterrupted run's bit for bit; the tests allow rtol 1e-6, atol 1e-7 on weights.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from sarssm.cli import main

from .conftest import ROOT
from .conftest import train_argv as tiny_argv

KILLER = Path(__file__).with_name("killer.py")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def killed(argv: list[str], **kill) -> None:
    """Run `sarssm ARGV` in a child process that SIGKILLs itself at `kill` (killer.py)."""
    import os
    import subprocess

    spec = json.dumps({"argv": argv, "kill": kill})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(KILLER), spec], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=300)  # fmt: skip
    assert out.returncode == -9, out.stderr[-3000:]  # killed, not finished nor failed


def train_argv(data: Path, run: Path, *extra: str) -> list[str]:
    return tiny_argv(data, run, "trainer.max_epochs=3", *extra)


@pytest.fixture(scope="module")
def straight(rel_data, tmp_path_factory) -> Path:
    """The uninterrupted run (3 epochs), to compare the resumed ones with."""
    run = tmp_path_factory.mktemp("straight") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(train_argv(rel_data, run)) == 0
    finally:
        torch.set_num_threads(threads)
    return run


def assert_intact(run: Path, epoch: int) -> None:
    """The artefacts a run had written by the end of `epoch` are there and load."""
    import yaml

    from sarssm.data.normalize import ComplexScaler
    from sarssm.models import load_model
    from sarssm.train.checkpoint import read_checkpoint

    assert yaml.safe_load((run / "config.yaml").read_text())["save_dir"] == str(run)
    ComplexScaler.load(run / "normalization.json")
    for folder in ("best", "last"):
        load_model(run / folder)
        ComplexScaler.load(run / folder / "normalization.json")
    assert yaml.safe_load((run / "last" / "info.yaml").read_text())["epoch"] >= epoch
    ckpt = read_checkpoint(run / "checkpoints" / "last.ckpt")
    assert ckpt["epoch"] >= epoch
    read_checkpoint(run / "checkpoints" / "best_model.pth")
    assert not (run / "metrics.json").exists()


def assert_same_run(a: Path, b: Path) -> None:
    """Same final and best weights, best epoch and test metrics."""
    import yaml

    for folder in ("last", "best"):
        wa, wb = (
            load_file(a / folder / "model.safetensors"),
            load_file(b / folder / "model.safetensors"),
        )
        assert wa.keys() == wb.keys()
        for key in wa:
            torch.testing.assert_close(wa[key], wb[key], rtol=1e-6, atol=1e-7)
    info_a = yaml.safe_load((a / "best" / "info.yaml").read_text())
    info_b = yaml.safe_load((b / "best" / "info.yaml").read_text())
    assert info_a["epoch"] == info_b["epoch"]
    logs = [csv_log(r) for r in (a, b)]  # the resumed log: every epoch once, columns aligned
    assert logs[0].keys() == logs[1].keys()
    for key, value in logs[0].items():
        assert logs[1][key] == pytest.approx(value, rel=1e-5), key
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (a, b))
    assert ma["best_checkpoint"] == mb["best_checkpoint"]
    for key, value in ma["test"].items():
        assert mb["test"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def csv_log(run: Path) -> dict[tuple[str, str], float]:
    """(column, epoch or step) -> value of the epoch-level, test and per-step columns of a
    run's CSV log (each once)."""
    import csv

    keys = ("val/loss", "train/loss_epoch", "test/loss", "test/nmse_db")
    out: dict[tuple[str, str], float] = {}
    with open(run / "logs" / "csv" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            for key in keys:
                if row.get(key):
                    assert (key, row["epoch"]) not in out
                    out[key, row["epoch"]] = float(row[key])
            for key in ("lr-AdamW/decay", "train/loss_step"):  # logged by step
                if row.get(key):
                    assert (key, row["step"]) not in out
                    out[key, row["step"]] = float(row[key])
    return out


def test_train_killed_mid_epoch_resumes_to_the_same_weights(rel_data, straight, tmp_path):
    run = tmp_path / "run"
    killed(train_argv(rel_data, run), at="batch", epoch=1, batch=5)
    assert_intact(run, epoch=0)
    assert main([*train_argv(rel_data, run), "--resume"]) == 0
    assert_same_run(straight, run)


@pytest.mark.parametrize(
    "name",
    ["last.ckpt", pytest.param("best", marks=pytest.mark.slow),
     pytest.param("last", marks=pytest.mark.slow)],
)  # fmt: skip
def test_train_killed_mid_write_keeps_the_earlier_artefact(name, rel_data, straight, tmp_path):
    """Killed with epoch 1's `name` complete under its temporary name, before the rename: the
    epoch-0 one is still there and loads, and the resumed run ends as the straight one."""
    run = tmp_path / "run"
    killed(train_argv(rel_data, run), at="commit", name=name, nth=2)
    assert_intact(run, epoch=0)
    left = [p.name for p in run.rglob(f".{name}.*.tmp")]
    assert len(left) == 1  # the hidden temporary is all that remains of the write
    assert main([*train_argv(rel_data, run), "--resume"]) == 0
    assert_same_run(straight, run)


@pytest.mark.slow
def test_train_killed_writing_metrics_resumes_to_the_report(rel_data, straight, tmp_path):
    run = tmp_path / "run"
    killed(train_argv(rel_data, run), at="commit", name="metrics.json", nth=1)
    assert_intact(run, epoch=2)
    assert main([*train_argv(rel_data, run), "--resume"]) == 0  # nothing to train: evaluate
    assert_same_run(straight, run)


# --- focus -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def three(rel_data, tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("three")
    for p in sorted(rel_data.glob("*.zarr"))[:3]:
        shutil.copytree(p, data / p.name)
    return data


# one written block per product (16 columns; rc and rcmc are copied as files, not written), so
# the 2nd block is the second product's, after its copied arrays
@pytest.mark.parametrize("kill", [{"at": "block", "nth": 2}, {"at": "commit", "nth": 2}],
                         ids=["mid-block", "before-rename"])  # fmt: skip
def test_focus_killed_mid_write_then_resumed(kill, three, tmp_path, capsys):
    names = sorted(p.name for p in three.glob("*.zarr"))
    argv = ["focus", "--model", "reference", "--input", str(three), "--out"]
    assert main([*argv, str(tmp_path / "straight")]) == 0
    out = tmp_path / "out"
    if kill["at"] == "commit":
        kill = {**kill, "name": names[1], "nth": 1}
    killed([*argv, str(out)], **kill)
    from sarssm.data.store import list_products, open_product

    done = [p.name for p in list_products(out)]
    assert done == names[:1]  # the first product, whole; nothing of the second under its name
    np.testing.assert_array_equal(
        open_product(out / names[0]).read("az"),
        open_product(tmp_path / "straight" / names[0]).read("az"),
    )
    capsys.readouterr()
    assert main([*argv, str(out), "--resume"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"kept {out / names[0]}")
    assert sum(line.startswith("focused ") for line in lines) == 2
    for name in names:
        np.testing.assert_array_equal(
            open_product(out / name).read("az"),
            open_product(tmp_path / "straight" / name).read("az"),
        )
