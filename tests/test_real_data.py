"""End to end on a folder of real-layout Maya4 products (no `geometry` attribute, no point
targets, V and PRF differing between acquisitions): `inspect`, `train` (its reference
geometry from the training products), `distill`, `evaluate` and `focus`, with the published
split's list files (one product missing: a partial download) and year / polarisation
filters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from sarssm.cli import main
from sarssm.data.store import open_product

# A one-layer model on 128-row patches, one epoch (seconds)
TINY = [
    "model.state_dim=16",
    "model.num_layers=1",
    "data.patch_size=[128, 1]",
    "data.stride=[128, 1]",
    "data.loss_margin=16",
    "data.samples_per_epoch=64",
    "data.batch_size=8",
    "data.norm_patches=16",
    "optim.lr=0.01",
    "trainer.max_epochs=1",
    "trainer.figure_every_n_epochs=0",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
    "logging.tensorboard=false",
]


def ordered(folder: Path) -> list[str]:
    return sorted((p.name for p in folder.glob("*.zarr")), key=lambda n: n[-11:-5])


@pytest.fixture(scope="module")
def split_files(maya4_dir, tmp_path_factory) -> dict[str, Path]:
    """train (3 vv of 2023, 1 missing, 1 vh the filter drops), validation, test."""
    names = ordered(maya4_dir)
    folder = tmp_path_factory.mktemp("split")
    lines = {
        "train": [*names[:3], "s1a-s1-raw-s-vv-20230101t000000-20230101t000010-000001-0000aa",
                  names[5]],
        "val": [names[3][:-5]],
        "test": [names[4]],
    }  # fmt: skip
    files = {}
    for split, listed in lines.items():
        files[split] = folder / f"{split}_files.txt"
        files[split].write_text("\n".join(listed) + "\n")
    return files


def split_overrides(files: dict[str, Path]) -> list[str]:
    return [
        f"data.split.train_file={files['train']}",
        f"data.split.val_file={files['val']}",
        f"data.split.test_file={files['test']}",
        "data.split.filters.years=[2023, 2024]",
        "data.split.filters.polarizations=[vv]",
    ]


def test_train_distill_evaluate_focus_on_real_layout_products(
    maya4_dir, split_files, tmp_path, capsys
):
    names = ordered(maya4_dir)
    data = str(maya4_dir)
    # not in the packets: the processor's window (sarssm's default 0.75), given on every command
    geometry = ["--geometry", "window_alpha=0.7", "--geometry", "antenna_length_m=12.3"]

    assert main(["inspect", data, *geometry]) == 0
    assert capsys.readouterr().out.count("Level-0: 256 records") == 6

    teacher = tmp_path / "teacher"
    argv = ["train", "--config", "configs/demo/teacher.yaml", "--data", data, "--save-dir",
            str(teacher), "model.preset=demo-tiny", "model.reference=data", *TINY,
            *split_overrides(split_files), *geometry]  # fmt: skip
    assert main([*argv, "--strict"]) == 2  # the missing product is refused with --strict
    assert "1 of 5 listed products are not among the 6 found" in capsys.readouterr().err
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "warning: data.split.train_file" in out and "1 listed products left out" in out
    assert "model.reference from the 3 training products" in out
    model = yaml.safe_load((teacher / "best" / "model.yaml").read_text())["model"]
    v = [open_product(maya4_dir / n).geometry.velocity_mps for n in names[:3]]
    assert model["reference"]["velocity_mps"] == pytest.approx(float(np.median(v)))
    assert model["reference"]["window_alpha"] == 0.7  # --geometry reached the training data
    assert yaml.safe_load((teacher / "config.yaml").read_text())["model"]["reference"] == "data"
    assert main([*argv, "--resume", "trainer.max_epochs=2"]) == 0  # the data's reference again
    capsys.readouterr()
    resumed = yaml.safe_load((teacher / "last" / "model.yaml").read_text())["model"]
    assert resumed["reference"] == model["reference"]

    student = tmp_path / "student"
    argv = ["distill", "--student_config", "configs/demo/student.yaml", "--teacher_config",
            str(teacher / "config.yaml"), "--teacher_checkpoint", str(teacher / "best"),
            "--save_dir", str(student), "--data", data, "model.preset=demo-tiny",
            "model.state_dim=8", *TINY[1:], "baseline=false", "distillation.curriculum_epochs=0",
            *split_overrides(split_files), *geometry]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    student_model = yaml.safe_load((student / "final_student_model" / "model.yaml").read_text())[
        "model"
    ]
    assert student_model["reference"] == model["reference"]  # the teacher's, from its data
    assert main([*argv, "--resume", "trainer.max_epochs=2"]) == 0  # checked against the same
    capsys.readouterr()

    # quantize: calibrated on the run's listed training products, measured on its held-out one,
    # with the same --geometry (recorded, and it changes the slant ranges the student sees)
    quantized = {}
    for name, extra in (("same", []), ("moved", ["--geometry", "near_range_m=66800"])):
        quantized[name] = tmp_path / f"int8-{name}"
        argv = ["quantize", "--model", str(student), "--data", data, "--out",
                str(quantized[name]), *geometry, *extra, "--json"]  # fmt: skip
        assert main(argv) == 0
        capsys.readouterr()
    info = {k: json.loads((v / "quantization.json").read_text()) for k, v in quantized.items()}
    assert info["same"]["data"]["calibration"] == names[:3]
    assert info["same"]["data"]["geometry_overrides"] == {
        "window_alpha": 0.7,
        "antenna_length_m": 12.3,
    }
    assert info["moved"]["data"]["geometry_overrides"]["near_range_m"] == 66800.0
    float_nmse = [info[k]["quality"]["float"]["nmse_db"] for k in ("same", "moved")]
    assert np.isfinite(float_nmse).all() and float_nmse[0] != float_nmse[1]

    evaluation = tmp_path / "evaluation"
    argv = ["evaluate", "--model", f"teacher={teacher}", "--model", f"student={student}",
            "--data", data, "--products", str(split_files["test"]), "--out", str(evaluation),
            *geometry, "--json"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["products"] == [names[4]]
    for entry in ("teacher", "student", "reference"):
        m = metrics["models"][entry]
        assert m["point_targets"] == 0 and m["pslr_db"] is None and np.isfinite(m["nmse_db"])
        assert list(m["by_scene"]) == ["maya4 s1 vv"]
    report = (evaluation / "report.md").read_text()
    assert "| maya4 s1 vv NMSE |" in report.replace("entry | ", "")

    focused = tmp_path / "focused"
    argv = ["focus", "--model", str(student), "--input", data, "--out", str(focused),
            "--products", str(split_files["val"]), *geometry]  # fmt: skip
    assert main(argv) == 0
    out = open_product(focused / names[3])
    src = open_product(maya4_dir / names[3])
    assert out.attrs["focused_by"]["model_sha256"] and "geometry" in out.attrs
    assert out.geometry == src.geometry.replace(window_alpha=0.7)  # the one it was focused with
    assert len(out.full_attrs()["metadata"]["data"]) == 256  # the Level-0 records kept
    assert np.abs(out.read("az")).max() > 0
    np.testing.assert_array_equal(out.read("rc"), src.read("rc"))
