"""`sarssm distill`: distil a trained teacher into an LTI student.

Accepts the earlier pipeline's flags in their spellings (underscores) and with dashes. Example:
    sarssm distill --student_config configs/demo/student.yaml --student_preset demo-tiny \
        --alpha 0.8 --beta 0.15 --gamma 0.05 --curriculum_epochs 2 --num_epochs 20
"""

from __future__ import annotations

import argparse

TEMPERATURE_HELP = (
    "temperature T (default 2.5). For the MSE terms it changes nothing: scaling both outputs "
    "by 1/T and the loss by T^2 is an exact no-op. T acts only on the energy term "
    "(distillation.energy_weight), a KL between the softmax over azimuth of |teacher|^2/T and "
    "of |student|^2/T in each column"
)

# flag -> (config key, type, help); the flags of the earlier distillation script first
VALUE_FLAGS: list[tuple[str, str, type, str]] = [
    ("teacher_config", "teacher.config", str, "the teacher's training YAML"),
    ("teacher_checkpoint", "teacher.checkpoint", str, "best/ folder, .ckpt or .pth of the teacher"),
    ("save_dir", "save_dir", str, "output folder"),
    ("temperature", "distillation.temperature", float, TEMPERATURE_HELP),
    ("alpha", "distillation.alpha", float, "weight of the ground-truth loss (default 0.8)"),
    ("beta", "distillation.beta", float, "weight of the output distillation loss (0.15)"),
    ("gamma", "distillation.gamma", float, "weight of the feature loss (0.05)"),
    ("curriculum_epochs", "distillation.curriculum_epochs", int,
     "ground-truth-only epochs, then a linear ramp to the weights over as many (15)"),
    ("student_model_dim", "model.model_dim", int, "student width H"),
    ("student_state_dim", "model.state_dim", int, "student modes per channel N"),
    ("student_num_layers", "model.num_layers", int, "student blocks"),
    ("stage_epochs", "progressive.stage_epochs", int, "epochs per coupling stage (20)"),
    ("projection_type", "progressive.projection_type", str,
     "learnable projection: linear, pca_init or attention (with --enhanced_projections)"),
    ("variance_weight", "distribution.variance_weight", float, "variance term weight (0.1)"),
    ("moment_weight", "distribution.moment_weight", float, "moment term weight (0.1)"),
    ("confidence_weight", "distribution.confidence_weight", float, "quantile term weight (0.05)"),
    ("num_epochs", "trainer.max_epochs", int, "epochs"),
    ("learning_rate", "optim.lr", float, "peak learning rate"),
    ("batch_size", "data.batch_size", int, "patches per batch"),
    ("student_preset", "model.preset", str, "start the student from this preset (demo-tiny, ...)"),
    ("data", "data.path", str, "product folder (labelled: rc and az)"),
    ("unlabeled_data", "unlabeled_data", str,
     "products with the input level only (no az), taught by the teacher alone"),
    ("seed", "seed", int, "seed of the run"),
    ("energy_weight", "distillation.energy_weight", float, "weight of the energy term (0.05)"),
    ("teacher_forced_epochs", "beyond.teacher_forced_epochs", int,
     "epochs of teacher-forced per-layer alignment first (0: off)"),
]  # fmt: skip
SWITCHES: list[tuple[str, str, str]] = [
    ("progressive_coupling", "progressive.enabled", "couple layers in four stages"),
    ("enhanced_projections", "progressive.enhanced_projections",
     "learnable projections (else the teacher's channels are averaged in groups)"),
    ("preserve_distribution", "distribution.enabled", "add the distribution-preserving terms"),
    ("dynamic_temperature", "distillation.dynamic_temperature",
     "anneal T from --temperature to 1 over the run (energy term only)"),
    ("init_from_teacher", "beyond.init_from_teacher",
     "initialise the student from the teacher's strongest modes"),
]  # fmt: skip


def _names(flag: str) -> list[str]:
    dashed = flag.replace("_", "-")
    return [f"--{flag}"] + ([f"--{dashed}"] if dashed != flag else [])


def add_arguments(p: argparse.ArgumentParser, student_config_default: str | None = None) -> None:
    p.add_argument(
        *_names("student_config"),
        dest="student_config",
        default=student_config_default,
        help="the student's distillation YAML (e.g. configs/demo/student.yaml)",
    )
    for flag, _, kind, text in VALUE_FLAGS:
        choices = ["linear", "pca_init", "attention"] if flag == "projection_type" else None
        p.add_argument(*_names(flag), dest=flag, type=kind, choices=choices, help=text)
    for flag, _, text in SWITCHES:
        p.add_argument(*_names(flag), dest=flag, action="store_true", default=None, help=text)
    p.add_argument("--resume", action="store_true", help="continue from save_dir/checkpoints")
    from sarssm.cli.train import add_data_flags

    add_data_flags(p)
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="dotted overrides of the student config; teacher.train.KEY=VALUE overrides the "
        "teacher's training config",
    )


def flag_values(args: argparse.Namespace) -> dict:
    """config key -> the flag's value (None where the flag was not given)."""
    from sarssm.cli.train import data_flags

    flags = {key: getattr(args, flag) for flag, key, _, _ in VALUE_FLAGS}
    flags.update({key: getattr(args, flag) for flag, key, _ in SWITCHES})
    flags.update(data_flags(args))
    return flags


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill",
        help="distil a teacher into an LTI student (with a no-distillation baseline)",
        description=(
            "Distil a frozen teacher into a student. Precedence: defaults < the student config "
            "< key=value overrides < the flags below. " + TEMPERATURE_HELP + "."
        ),
    )
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sarssm.distill.run import distill, resolve_config, split_overrides

    student, teacher = split_overrides(args.overrides)
    config = resolve_config(args.student_config, student, **flag_values(args))
    metrics = distill(config, resume=args.resume, teacher_overrides=teacher)
    if metrics is None:
        return 0
    print(
        f"saved to {config.save_dir}: final_student_model/, best/, last/, checkpoints/, "
        "metrics.json, config.yaml, logs/"
    )
    return 0
