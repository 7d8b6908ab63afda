"""Every flag of `sarssm distill` reaches its config key in both spellings, and every
behavioural key changes what the module computes on a fixed batch."""

import argparse

import pytest
import torch

from sarssm.cli.distill import SWITCHES, VALUE_FLAGS, add_arguments, flag_values
from sarssm.distill.module import DistillationModule
from sarssm.distill.run import resolve_config

SAMPLE = {
    "teacher_config": "t.yaml", "teacher_checkpoint": "ckpt", "save_dir": "out",
    "temperature": "3.5", "alpha": "0.6", "beta": "0.3", "gamma": "0.1",
    "curriculum_epochs": "7", "student_model_dim": "2", "student_state_dim": "12",
    "student_num_layers": "3", "stage_epochs": "9", "projection_type": "attention",
    "variance_weight": "0.3", "moment_weight": "0.2", "confidence_weight": "0.4",
    "num_epochs": "11", "learning_rate": "0.002", "batch_size": "4",
    "student_preset": "demo-ultra", "data": "somewhere", "unlabeled_data": "rc-only",
    "seed": "5", "energy_weight": "0.2", "teacher_forced_epochs": "3",
}  # fmt: skip


def parse(argv):
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(argv)


def resolved(args):
    return resolve_config(None, [], **flag_values(args))


def get(cfg, key):
    node = cfg
    for part in key.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


@pytest.mark.parametrize("dashed", [False, True])
def test_every_flag_sets_its_key(dashed):
    assert set(SAMPLE) == {f for f, *_ in VALUE_FLAGS}
    argv = []
    for flag, value in SAMPLE.items():
        argv += [f"--{flag.replace('_', '-') if dashed else flag}", value]
    for flag, *_ in SWITCHES:
        argv.append(f"--{flag.replace('_', '-') if dashed else flag}")
    cfg = resolved(parse(argv))
    for flag, key, kind, _ in VALUE_FLAGS:
        assert get(cfg, key) == kind(SAMPLE[flag]), flag
    for flag, key, _ in SWITCHES:
        assert get(cfg, key) is True, flag
    # student dims override the preset the same command names
    assert (cfg.model["preset"], cfg.model["model_dim"]) == ("demo-ultra", 2)


def test_flags_beat_the_config_file_which_beats_defaults(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("distillation:\n  alpha: 0.5\n  beta: 0.4\n")
    cfg = resolve_config(path, [], **{"distillation.alpha": 0.9})
    assert (cfg.distillation.alpha, cfg.distillation.beta, cfg.distillation.gamma) == (
        0.9, 0.4, 0.05,
    )  # fmt: skip
    path.write_text("distillation:\n  alhpa: 0.5\n")
    with pytest.raises(Exception, match="alhpa"):
        resolve_config(path, [])


def build(*overrides):
    from sarssm.models import build_model

    cfg = resolve_config(None, ["model.preset=demo-tiny", *overrides])
    torch.manual_seed(0)
    teacher = build_model("demo-teacher", selectivity="gate", state_dim=8, num_layers=3)
    torch.manual_seed(1)
    student = build_model(cfg.model)
    return DistillationModule(student, teacher.eval().requires_grad_(False), cfg, loss_margin=8)


def fixed_batch():
    g = torch.Generator().manual_seed(3)
    x = torch.view_as_complex(torch.randn(6, 64, 1, 2, generator=g))
    y = torch.view_as_complex(torch.randn(6, 64, 2, generator=g))
    r0 = torch.full((6,), 66_000.0, dtype=torch.float64)
    return {"x": x, "y": y, "slant_range": r0, "labelled": torch.ones(6, dtype=torch.bool)}


def loss_at(module, epoch):
    total, _ = module.losses(fixed_batch(), epoch)
    return float(total)


BEHAVIOUR = [  # (overrides, epoch at which the loss must differ from the defaults')
    (["distillation.alpha=0.3"], 40),
    (["distillation.beta=0.9"], 40),
    (["distillation.gamma=0.9"], 40),
    (["distillation.temperature=6.0"], 40),
    (["distillation.dynamic_temperature=true", "distillation.temperature=6.0"], 40),
    (["distillation.energy_weight=1.0"], 40),
    (["distillation.curriculum_epochs=50"], 40),
    (["progressive.enabled=true", "progressive.stage_epochs=50"], 40),  # stage 1: one pair
    (["progressive.enhanced_projections=true"], 40),
    (["progressive.enhanced_projections=true", "progressive.projection_type=linear"], 40),
    (["distribution.enabled=true"], 40),
    (["distribution.enabled=true", "distribution.variance_weight=2.0"], 40),
    (["distribution.enabled=true", "distribution.moment_weight=2.0"], 40),
    (["distribution.enabled=true", "distribution.confidence_weight=2.0"], 40),
    (["distillation.feature.cosine=1.0"], 40),
    (["distillation.feature.moment=1.0"], 40),
    (["model.model_dim=2"], 40),
    (["model.state_dim=8"], 40),
    (["model.num_layers=3"], 40),
]


@pytest.mark.parametrize("overrides,epoch", BEHAVIOUR, ids=[" ".join(o) for o, _ in BEHAVIOUR])
def test_every_behavioural_key_changes_the_loss(overrides, epoch):
    extra = ["distillation.curriculum_epochs=2"]
    base = build(*extra)
    changed = build(*extra, *overrides)
    assert loss_at(changed, epoch) != pytest.approx(loss_at(base, epoch), rel=1e-6)


def test_distribution_weights_compare_against_enabled_terms():
    base = build("distribution.enabled=true")
    for key in ("variance_weight", "moment_weight", "confidence_weight"):
        other = build("distribution.enabled=true", f"distribution.{key}=3.0")
        assert loss_at(other, 40) != pytest.approx(loss_at(base, 40), rel=1e-6), key


def test_teacher_forced_phase_trains_blocks_on_teacher_states():
    module = build("beyond.teacher_forced_epochs=2")
    assert module.forced_phase(1) and not module.forced_phase(2)
    total, terms = module.forced_losses(fixed_batch())
    assert set(terms) == {"forced_loss", "total_loss"}
    total.backward()
    assert module.net.blocks[0].ssm.kernel.C.grad is not None
    assert module.net.input_proj.weight.grad is None  # only the blocks and their maps learn
    assert module.forced["enc0"].linear.weight.grad is not None


def test_help_says_temperature_is_a_no_op_for_mse(capsys):
    from sarssm.cli import main

    with pytest.raises(SystemExit):
        main(["distill", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "exact no-op" in text and "--teacher_checkpoint" in text and "--teacher-checkpoint" in text
    )


def test_bad_weights_exit_2_with_the_key(capsys, tmp_path):
    from sarssm.cli import main

    code = main(["distill", "--beta", "-1", "--save_dir", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "distillation.beta" in err and "-1" in err
    assert not (tmp_path / "x").exists()
