"""End-to-end distillation on tiny data: artefacts, teacher untouched, stages, resume,
refusals, and every flag really reaching the run."""

import csv
import json
from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from sarssm.distill.run import distill, resolve_config
from sarssm.errors import ConfigError

from .conftest import student_overrides


def run(kd_data, kd_teacher, save_dir, *extra, resume=False, callbacks=None):
    cfg = resolve_config(None, student_overrides(kd_data, kd_teacher, save_dir, *extra))
    return distill(cfg, resume=resume, echo=lambda *_: None, extra_callbacks=callbacks)


class StopAtEpoch(L.Callback):
    """Interrupts the run as epoch `n` starts (after epoch n - 1's checkpoint)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.n:
            raise RuntimeError("simulated interruption")


def csv_rows(save_dir: Path) -> list[dict]:
    with open(save_dir / "logs" / "csv" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def epoch_values(save_dir: Path, key: str) -> list[float]:
    return [float(r[key]) for r in csv_rows(save_dir) if r.get(key)]


def test_a_run_writes_every_artefact_and_leaves_the_teacher_alone(kd_data, kd_teacher, tmp_path):
    from sarssm.models import load_model

    before = load_file(str(kd_teacher / "best" / "model.safetensors"))
    save = tmp_path / "kd"
    metrics = run(
        kd_data, kd_teacher, save, "baseline=true",
        "progressive.enhanced_projections=true", "progressive.projection_type=linear",
    )  # fmt: skip
    for name in ("config.yaml", "teacher.yaml", "metrics.json", "normalization.json"):
        assert (save / name).is_file(), name
    for name in ("final_student_model", "best", "last"):
        assert {"model.safetensors", "model.yaml", "normalization.json"} <= {
            p.name for p in (save / name).iterdir()
        }, name
    assert (save / "checkpoints" / "best_model.pth").is_file()
    assert (save / "checkpoints" / "last.ckpt").is_file()
    student = load_model(save / "final_student_model")
    assert student.config.selectivity == "none" and student.config.model_dim == 4
    # the teacher: bit-identical after the run, and in no student artefact
    after = load_file(str(kd_teacher / "best" / "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)
    weights = load_file(str(save / "final_student_model" / "model.safetensors"))
    assert set(weights) == set(student.state_dict())
    ckpt = torch.load(save / "checkpoints" / "last.ckpt", weights_only=True)
    keys = set(ckpt["state_dict"])
    assert any(k.startswith("projections.") for k in keys)  # projections are in the checkpoint
    assert all(k.startswith(("net.", "projections.")) for k in keys)  # the teacher is not
    assert not any("projections" in k for k in weights)  # and not in the student
    # the optimiser holds the projections and nothing of the teacher
    n_opt = sum(len(g["params"]) for g in ckpt["optimizer_states"][0]["param_groups"])
    n_trainable = len([k for k in keys if not k.endswith(".A")])
    assert n_opt == n_trainable
    # metrics of teacher, student and baseline on whole held-out products
    for side in ("teacher", "student", "baseline"):
        assert metrics[side]["mean"]["products"] >= 1, side
        assert "nmse_db" in metrics[side]["mean"]
    assert (
        json.loads((save / "metrics.json").read_text())["student"]["params"]
        == metrics["student"]["params"]
    )
    assert (save / "baseline" / "final_student_model").is_dir()
    assert set(metrics["retention"]) == {"t1_s0", "t2_s1"}
    # the seed's metric names
    header = set(csv_rows(save)[0])
    for name in ("total", "student", "distillation", "feature"):
        assert f"train_{name}_loss" in header and f"val_{name}_loss" in header
    for name in ("curriculum/alpha", "curriculum/beta", "curriculum/gamma", "curriculum/phase",
                 "progressive/stage", "progressive/num_couplings",
                 "gradients/student/layer_0/norm", "gradients/student/total_norm",
                 "weights/student/layer_1/mean", "weights/student/layer_1/std"):  # fmt: skip
        assert name in header, name


def test_projections_learn(kd_data, kd_teacher, tmp_path):
    save = tmp_path / "kd"
    run(kd_data, kd_teacher, save, "progressive.enhanced_projections=true",
        "progressive.projection_type=attention", "trainer.max_epochs=1")  # fmt: skip
    ckpt = torch.load(save / "checkpoints" / "last.ckpt", weights_only=True)
    from sarssm.distill.projections import FeatureProjection

    fresh = FeatureProjection(4, 4, "attention")
    trained = {k.split(".", 2)[2]: v for k, v in ckpt["state_dict"].items()
               if k.startswith("projections.t1_s0.")}  # fmt: skip
    assert set(trained) == set(fresh.state_dict())
    torch.manual_seed(0)
    assert not torch.equal(trained["linear.weight"], fresh.state_dict()["linear.weight"])


def test_stages_advance_and_survive_resume(kd_data, kd_teacher, tmp_path):
    extra = ["progressive.enabled=true", "progressive.stage_epochs=1", "trainer.max_epochs=3"]
    full = tmp_path / "full"
    run(kd_data, kd_teacher, full, *extra)
    stages = epoch_values(full, "progressive/stage")
    assert stages == [0.0, 1.0, 2.0]
    assert epoch_values(full, "progressive/num_couplings") == [1.0, 2.0, 2.0]
    # interrupted after two epochs, resumed: the same stages, the same weights
    part = tmp_path / "part"
    with pytest.raises(RuntimeError, match="simulated interruption"):
        run(kd_data, kd_teacher, part, *extra, callbacks=[StopAtEpoch(2)])
    ckpt = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["distill_schedule"] == {"epoch": 1, "progressive_stage": 1, "curriculum_phase": 2}
    run(kd_data, kd_teacher, part, *extra, resume=True)
    assert epoch_values(part, "progressive/stage") == stages
    a = load_file(str(full / "last" / "model.safetensors"))
    b = load_file(str(part / "last" / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_curriculum_weights_reach_the_log(kd_data, kd_teacher, tmp_path):
    save = tmp_path / "kd"
    run(kd_data, kd_teacher, save, "distillation.curriculum_epochs=1", "trainer.max_epochs=3",
        "distillation.alpha=0.6", "distillation.beta=0.3", "distillation.gamma=0.1")  # fmt: skip
    assert epoch_values(save, "curriculum/alpha") == pytest.approx([1.0, 1.0, 0.6])
    assert epoch_values(save, "curriculum/beta") == pytest.approx([0.0, 0.0, 0.3])
    assert epoch_values(save, "curriculum/phase") == [0.0, 1.0, 2.0]


def test_refusals_come_before_training(kd_data, kd_teacher, tmp_path):
    with pytest.raises(ConfigError, match="must be >= 0"):
        run(kd_data, kd_teacher, tmp_path / "a", "distillation.beta=-0.1")
    with pytest.raises(ConfigError, match="alpha \\+ beta \\+ gamma = 0"):
        run(kd_data, kd_teacher, tmp_path / "b", "distillation.alpha=0", "distillation.beta=0",
            "distillation.gamma=0")  # fmt: skip
    with pytest.raises(ConfigError, match="does not match its teacher config"):
        cfg = resolve_config(None, student_overrides(kd_data, kd_teacher, tmp_path / "c"))
        distill(cfg, teacher_overrides=["model.model_dim=8"], echo=lambda *_: None)
    with pytest.raises(ConfigError, match="data preset"):
        run(kd_data, kd_teacher, tmp_path / "d", "model.preset=tiny")
    with pytest.raises(ConfigError, match="selectivity"):
        run(kd_data, kd_teacher, tmp_path / "e", "model.selectivity=gate")
    assert not (tmp_path / "c" / "checkpoints").exists()


def test_a_lightning_checkpoint_works_as_teacher(kd_data, kd_teacher, tmp_path):
    ckpt = kd_teacher / "checkpoints" / "best_model.pth"
    save = tmp_path / "kd"
    extra = [f"teacher.checkpoint={ckpt}", "trainer.max_epochs=1"]
    metrics = run(kd_data, kd_teacher, save, *extra)
    assert metrics["teacher"]["params"] > metrics["student"]["params"]
    with pytest.raises(ConfigError, match="does not match"):
        cfg = resolve_config(None, student_overrides(kd_data, kd_teacher, tmp_path / "x", *extra))
        distill(cfg, teacher_overrides=["model.selectivity=scan"], echo=lambda *_: None)


def test_small_pole_budget_warns_with_a_size(kd_data, kd_teacher, tmp_path):
    lines = []
    cfg = resolve_config(
        None,
        student_overrides(kd_data, kd_teacher, tmp_path / "kd", "model.preset=demo-ultra",
                          "model.state_dim=4", "trainer.max_epochs=1"),
    )  # fmt: skip
    distill(cfg, echo=lines.append)
    import math

    from sarssm.models.cost import data_stats

    need = math.ceil(data_stats("demo")["tbp"] / 2)  # 2 layers x width 1
    warning = [line for line in lines if "pole budget" in line]
    assert warning and f"state_dim >= {need} at width 1" in warning[0]


def test_unlabelled_products_join_training_only(kd_data, kd_teacher, tmp_path):
    from sarssm.distill.data import DistillDataModule
    from sarssm.distill.teacher import load_teacher
    from sarssm.sim.simulate import simulate

    rc_only = tmp_path / "rc"
    simulate(rc_only, "demo", "clutter", 2, 500, snr_db=30.0, progress=False, levels=["rc"])
    teacher = load_teacher(str(kd_teacher / "config.yaml"), str(kd_teacher / "best"))
    cfg = resolve_config(None, student_overrides(kd_data, kd_teacher, tmp_path / "kd"))
    dm = DistillDataModule(cfg.data, teacher.net.config, teacher.scaler, str(rc_only))
    dm.setup("fit")
    flags = [e.labelled for e in dm.splits["train"]]
    assert flags.count(False) == 2 and all(e.labelled for e in dm.splits["val"])
    seen = torch.cat([b["labelled"] for b in dm.train_dataloader()])
    assert bool((~seen).any()) and bool(seen.any())
    metrics = run(kd_data, kd_teacher, tmp_path / "kd2", f"unlabeled_data={rc_only}",
                  "trainer.max_epochs=1")  # fmt: skip
    assert metrics["student"]["mean"]["products"] >= 1


class TeacherMode(L.Callback):
    """Records the teacher's mode and gradient flags at every training batch."""

    def __init__(self) -> None:
        self.seen: set[tuple[bool, bool]] = set()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        t = pl_module._teacher
        self.seen.add((t.training, any(p.requires_grad for p in t.parameters())))


def test_the_teacher_stays_frozen_in_eval_mode(kd_data, kd_teacher, tmp_path):
    spy = TeacherMode()
    run(kd_data, kd_teacher, tmp_path / "kd", "trainer.max_epochs=1", callbacks=[spy])
    assert spy.seen == {(False, False)}
