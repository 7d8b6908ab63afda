"""Bad input everywhere a user can give it: one line naming the file, field and value, exit
code 2, no traceback (unless --debug), and nothing written where it should not be."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from sarssm.cli import main

from .conftest import TINY_TRAIN, train_argv

UNWRITABLE = Path("/sys/sarssm-test-unwritable")  # read-only even for root


def fails(argv: list[str], capsys, *expected: str) -> str:
    """Run `sarssm ARGV`; assert exit code 2 and one stderr line holding every `expected`."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 or argv[0] == "focus", err  # focus adds a count line
    for text in expected:
        assert text in err, (text, err)
    return err


# --- products --------------------------------------------------------------------------------
def _copy(demo_product: Path, tmp_path: Path, name: str = "bad.zarr") -> Path:
    dst = tmp_path / "in" / name
    shutil.copytree(demo_product, dst)
    return dst


def _chunk_files(product: Path, level: str) -> list[Path]:
    return sorted(p for p in (product / level).rglob("*") if p.is_file() and p.name != "zarr.json")


def make_bad(kind: str, demo_product: Path, tmp_path: Path) -> Path:
    path = _copy(demo_product, tmp_path)
    group = zarr.open_group(str(path), mode="r+")
    if kind == "nan":
        group["rc"][5, 3] = np.complex64(complex(np.nan, 0))
    elif kind == "inf":
        group["rc"][7, 2] = np.complex64(complex(0, np.inf))
    elif kind in ("real", "rank", "shape"):
        shape = {"real": (256, 16), "rank": (256, 16, 2), "shape": (128, 16)}[kind]
        dtype = np.float32 if kind == "real" else np.complex64
        del group["rc"]
        group.create_array("rc", shape=shape, dtype=dtype)[...] = np.ones(shape, dtype)
    elif kind == "no_arrays":
        for name in list(group.array_keys()):
            del group[name]
    elif kind == "no_geometry":
        attrs = dict(group.attrs)
        attrs.pop("geometry")
        group.attrs.clear()
        group.attrs.update(attrs)
    elif kind == "truncated_chunk":
        chunk = _chunk_files(path, "rc")[0]
        chunk.write_bytes(chunk.read_bytes()[:50])
    elif kind == "corrupt_chunk":
        chunk = _chunk_files(path, "rc")[0]
        chunk.write_bytes(b"\x00garbage" * 40)
    elif kind == "corrupt_metadata":
        (path / "rc" / "zarr.json").write_text("{not json")
    return path


PRODUCT_CASES = {
    "nan": ("non-finite", "rc", "row 5, column 3"),
    "inf": ("non-finite", "rc", "row 7, column 2"),
    "real": ("'rc'", "float32", "expected complex"),
    "rank": ("'rc'", "not 2-D", "(256, 16, 2)"),
    "shape": ("different shapes", "(128, 16)", "(256, 16)"),
    "no_arrays": ("no product arrays",),
    "no_geometry": ("geometry",),
    "truncated_chunk": ("cannot read rc",),
    "corrupt_chunk": ("cannot read rc",),
    "corrupt_metadata": ("corrupt Zarr metadata",),
}


@pytest.mark.parametrize("kind", list(PRODUCT_CASES))
def test_bad_products_are_refused_by_focus_and_evaluate(kind, demo_product, tmp_path, capsys):
    bad = make_bad(kind, demo_product, tmp_path)
    out = tmp_path / "out"
    err = fails(["focus", "--model", "reference", "--input", str(bad), "--out", str(out)],
                capsys, str(bad), *PRODUCT_CASES[kind])  # fmt: skip
    assert "1 of 1 product(s) failed" in err
    assert not (out / bad.name).exists()  # nothing under the output's name
    fails(["evaluate", "--data", str(bad), "--out", str(tmp_path / "ev")], capsys, str(bad))


def test_debug_shows_the_traceback(demo_product, tmp_path, capsys):
    bad = make_bad("real", demo_product, tmp_path)
    assert main(["evaluate", "--data", str(bad), "--out", str(tmp_path / "ev"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "ProductError" in err
    assert err.strip().splitlines()[-1].startswith("sarssm evaluate: error: ")


def test_a_bad_product_in_the_training_data_is_named(rel_data, demo_product, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(rel_data, data)
    for p in sorted(data.glob("*.zarr")):
        zarr.open_group(str(p), mode="r+")["az"][0, 0] = np.complex64(complex(np.nan, 0))
    argv = ["train", "--config", "configs/demo/teacher.yaml", "--data", str(data),
            "--save-dir", str(tmp_path / "run"), *TINY_TRAIN]  # fmt: skip
    fails(argv, capsys, str(data), ": az holds", "non-finite")


# --- configs ---------------------------------------------------------------------------------
CONFIG_CASES = {
    "unknown key": ("trainer:\n  max_epoch: 3\n", ("unknown key(s) ['max_epoch']", "trainer")),
    "wrong type": ("trainer:\n  max_epochs: many\n", ("trainer.max_epochs", "'many'")),
    "impossible": ("trainer:\n  max_epochs: 0\n", ("trainer.max_epochs", "got 0")),
    "impossible nested": ("data:\n  loss_margin: 500\n", ("data.loss_margin 500",)),
    "not a mapping": ("- a\n- b\n", ("top level must be a mapping",)),
    "not yaml": ("trainer: [1, 2\n", ("not valid YAML",)),
    "bad model": ("model:\n  preset: huge\n", ("model preset", "huge")),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_train_configs_name_the_file_key_and_value(case, tmp_path, capsys):
    text, expected = CONFIG_CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    fails(["train", "--config", str(path), "--save-dir", str(tmp_path / "run")],
          capsys, str(path), *expected)  # fmt: skip
    assert not (tmp_path / "run").exists()


def test_bad_overrides_and_student_configs(tmp_path, capsys):
    fails(["train", "--config", "configs/demo/teacher.yaml", "optim.lr=-1",
           "--save-dir", str(tmp_path / "r")], capsys, "optim.lr must be > 0, got -1")  # fmt: skip
    fails(["train", "--config", "configs/demo/teacher.yaml", "trainer.max_nonfinite_steps=0"],
          capsys, "trainer.max_nonfinite_steps must be >= 1, got 0")  # fmt: skip
    student = tmp_path / "s.yaml"
    student.write_text("distillation:\n  alpha: -1\n")
    fails(["distill", "--student_config", str(student)], capsys, str(student), "alpha", "-1")


# --- paths -----------------------------------------------------------------------------------
def test_paths_that_do_not_exist(tmp_path, demo_product, capsys):
    missing = tmp_path / "missing"
    fails(["train", "--config", str(missing / "c.yaml")], capsys, "config file not found",
          str(missing / "c.yaml"))  # fmt: skip
    fails(["focus", "--model", "reference", "--input", str(missing), "--out", str(tmp_path / "o")],
          capsys, str(missing), "no such file or folder")  # fmt: skip
    fails(["focus", "--model", str(missing), "--input", str(demo_product), "--out",
           str(tmp_path / "o")], capsys, str(missing), "no such folder")  # fmt: skip
    fails(["evaluate", "--data", str(missing), "--out", str(tmp_path / "e")], capsys, str(missing))
    fails(["inspect", str(missing)], capsys, str(missing))
    fails(["distill", "--student_config", "configs/demo/student.yaml", "--teacher_checkpoint",
           str(missing), "--save_dir", str(tmp_path / "kd")], capsys,
          "teacher checkpoint not found", str(missing))  # fmt: skip


def test_a_mistyped_or_empty_data_folder_is_refused_not_filled(tmp_path, capsys):
    """The new-user case: a mistyped --data got 24 products simulated into it and exit 0."""
    typo = tmp_path / "dta"
    base = ["train", "--config", "configs/demo/teacher.yaml", "--save-dir", str(tmp_path / "r")]
    fails([*base, "--data", str(typo)], capsys, f"data.path {typo} does not exist", "--simulate")
    assert not typo.exists()
    assert list((tmp_path / "r").iterdir()) == []  # no config.yaml of a run that never ran
    empty = tmp_path / "empty"
    empty.mkdir()
    fails([*base, "--data", str(empty)], capsys, f"data.path {empty} holds no products")
    assert list(empty.iterdir()) == []
    afile = tmp_path / "afile"
    afile.write_text("x")
    fails([*base, "--data", str(afile)], capsys, str(afile), "is a file")


def test_simulate_only_when_asked_and_say_so(tmp_path, capsys):
    from sarssm.data.datamodule import SarDataModule
    from sarssm.models import resolve_config as resolve_model
    from sarssm.train.run import resolve_config

    cfg = resolve_config(
        "configs/demo/teacher.yaml",
        [f"data.path={tmp_path / 'sim'}", "data.simulate.products=2",
         "data.simulate.scenes=[points]"],
    )  # fmt: skip
    lines: list[str] = []
    dm = SarDataModule(cfg.data, resolve_model(cfg.model), simulate=True, echo=lines.append)
    dm.prepare_data()
    assert len(list((tmp_path / "sim").glob("*.zarr"))) == 2
    assert len(lines) == 1 and "simulating 2 demo products (2 points" in lines[0]
    assert "--simulate" in lines[0] and str(tmp_path / "sim") in lines[0]
    dm.prepare_data()  # products there now: nothing more
    assert len(lines) == 1


def test_a_file_where_a_folder_is_expected(tmp_path, demo_product, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    fails(["train", "--config", "configs/demo/teacher.yaml", "--save-dir", str(afile)],
          capsys, "--save-dir", str(afile), "is a file")  # fmt: skip
    fails(["train", "--config", "configs/demo/teacher.yaml", "--save-dir", str(afile / "run")],
          capsys, "--save-dir", str(afile), "is a file")  # fmt: skip
    fails(["simulate", "--out", str(afile / "data"), "--products", "1"], capsys, "--out",
          str(afile))  # fmt: skip
    fails(["focus", "--model", "reference", "--input", str(demo_product), "--out",
           str(afile / "o")], capsys, "--out", str(afile))  # fmt: skip
    fails(["evaluate", "--data", str(demo_product), "--out", str(afile)], capsys, "--out")
    fails(["distill", "--student_config", "configs/demo/student.yaml", "--teacher_checkpoint",
           str(tmp_path), "--save_dir", str(afile)], capsys, "--save_dir", "is a file")  # fmt: skip


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs a read-only /sys")
def test_an_unwritable_path(tmp_path, demo_product, capsys):
    fails(["train", "--config", "configs/demo/teacher.yaml", "--save-dir", str(UNWRITABLE)],
          capsys, "--save-dir", str(UNWRITABLE), "cannot write there")  # fmt: skip
    fails(["simulate", "--out", str(UNWRITABLE), "--products", "1"], capsys, "cannot write")
    fails(["focus", "--model", "reference", "--input", str(demo_product), "--out",
           str(UNWRITABLE)], capsys, "--out", "cannot write there")  # fmt: skip
    fails(["evaluate", "--data", str(demo_product), "--out", str(UNWRITABLE)], capsys, "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        fails(["simulate", "--out", str(ro / "x"), "--products", "1"], capsys, "cannot write")
    finally:
        ro.chmod(0o700)


def test_an_output_that_is_a_product_is_refused(tmp_path, demo_product, capsys):
    product = shutil.copytree(demo_product, tmp_path / "p.zarr")
    before = sorted(p.name for p in product.rglob("*"))
    fails(["train", "--config", "configs/demo/teacher.yaml", "--save-dir", str(product)],
          capsys, str(product), "is a product")  # fmt: skip
    fails(["evaluate", "--data", str(demo_product), "--out", str(product)], capsys, "is a product")
    fails(["focus", "--model", "reference", "--input", str(demo_product), "--out", str(product)],
          capsys, str(product), "already exists")  # fmt: skip
    assert sorted(p.name for p in product.rglob("*")) == before  # untouched
    # --overwrite replaces it
    assert main(["focus", "--model", "reference", "--input", str(demo_product), "--out",
                 str(product), "--overwrite"]) == 0  # fmt: skip
    sim = ["simulate", "--out", str(tmp_path / "sim"), "--products", "1", "--quiet"]
    assert main(sim) == 0
    capsys.readouterr()
    fails(sim, capsys, "demo-mixed-seed0-0000.zarr already exists")
    assert main([*sim, "--overwrite"]) == 0


# --- checkpoints and model folders -----------------------------------------------------------
def test_resume_with_another_model_is_refused_before_anything_is_written(
    trained_run, rel_data, tmp_path, capsys
):
    run = shutil.copytree(trained_run, tmp_path / "run")
    before = (run / "config.yaml").read_bytes()
    argv = train_argv(rel_data, run, "--resume", "model.state_dim=32", "trainer.max_epochs=2")
    fails(argv, capsys, str(run / "config.yaml"), "model.state_dim (run: 16, now: 32)")
    assert (run / "config.yaml").read_bytes() == before
    argv = train_argv(rel_data, run, "--resume", "optim.lr=0.5", "trainer.max_epochs=2")
    fails(argv, capsys, "optim.lr (run: 0.01, now: 0.5)")


def test_resume_from_a_checkpoint_of_another_model_is_refused(
    trained_run, rel_data, tmp_path, capsys
):
    run = shutil.copytree(trained_run, tmp_path / "run")
    (run / "config.yaml").unlink()  # no saved config: the checkpoint's own record decides
    argv = train_argv(rel_data, run, "--resume", "model.num_layers=2")
    fails(argv, capsys, str(run / "checkpoints" / "last.ckpt"), "num_layers (checkpoint: 1")


@pytest.mark.parametrize("damage", ["truncated", "not a checkpoint", "empty"])
def test_a_damaged_checkpoint_is_refused(damage, trained_run, rel_data, tmp_path, capsys):
    run = shutil.copytree(trained_run, tmp_path / "run")
    ckpt = run / "checkpoints" / "last.ckpt"
    data = ckpt.read_bytes()
    ckpt.write_bytes({"truncated": data[: len(data) // 2], "not a checkpoint": b"hello" * 100,
                      "empty": b""}[damage])  # fmt: skip
    fails(train_argv(rel_data, run, "--resume"), capsys, str(ckpt), "not a readable")


@pytest.mark.parametrize("damage", ["not safetensors", "truncated", "other architecture"])
def test_a_damaged_model_folder_is_refused(damage, trained_run, demo_product, tmp_path, capsys):
    model = shutil.copytree(trained_run / "best", tmp_path / "model")
    weights = model / "model.safetensors"
    if damage == "not safetensors":
        weights.write_bytes(b"\x80\x04K\x01.")  # a pickle
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:100])
    else:  # the config of another architecture beside these weights
        text = (model / "model.yaml").read_text().replace("num_layers: 1", "num_layers: 2")
        (model / "model.yaml").write_text(text)
    expected = "do not match" if damage == "other architecture" else "cannot read the weights"
    fails(["focus", "--model", str(model), "--input", str(demo_product), "--out",
           str(tmp_path / "o")], capsys, str(weights), expected)  # fmt: skip
    fails(["evaluate", "--model", str(model), "--data", str(demo_product), "--out",
           str(tmp_path / "e")], capsys, str(weights), expected)  # fmt: skip


def test_a_teacher_of_another_architecture_is_refused(trained_run, tmp_path, capsys):
    ckpt = trained_run / "checkpoints" / "best_model.pth"
    fails(["distill", "--student_config", "configs/demo/student.yaml", "--teacher_config",
           "configs/demo/teacher.yaml", "--teacher_checkpoint", str(ckpt), "--save_dir",
           str(tmp_path / "kd")], capsys, str(ckpt), "does not match")  # fmt: skip


def test_outputs_follow_the_umask(trained_run):
    """A run's outputs are as readable as any file the user writes (umask 022 here)."""
    mask = os.umask(0o022)
    os.umask(mask)
    if mask != 0o022:
        pytest.skip(f"the test process runs under umask {mask:o}")
    for name in ("metrics.json", "config.yaml", "normalization.json",
                 "best/model.safetensors", "best/model.yaml", "last/info.yaml",
                 "checkpoints/last.ckpt", "checkpoints/best_model.pth"):  # fmt: skip
        assert (trained_run / name).stat().st_mode & 0o777 == 0o644, name
    for name in ("best", "last", "checkpoints"):
        assert (trained_run / name).stat().st_mode & 0o777 == 0o755, name
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert "test" in metrics
