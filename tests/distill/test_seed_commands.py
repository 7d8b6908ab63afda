"""The earlier pipeline's commands run as printed in its README (Quick Start 1-5, the three
Performance Optimization Tips, the diagnostics), from a copy of the repository root, each with
a small-size override appended (demo data, one epoch)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEACHER_CMD = "python training_script.py --config training/training_configs/s4_ssm_complex.yaml"
STUDENT = [
    """python training/distillation_script.py \\
    --teacher_config training/training_configs/s4_ssm_complex.yaml \\
    --teacher_checkpoint results/s4_ssm_results/checkpoints/best_model.pth \\
    --student_config training/training_configs/s4_ssm_student.yaml \\
    --save_dir results/s4_ssm_distilled_standard \\
    --temperature 2.5 \\
    --alpha 0.8 \\
    --beta 0.15 \\
    --curriculum_epochs 15""",
    """python training/distillation_script.py \\
    --teacher_config training/training_configs/s4_ssm_complex.yaml \\
    --teacher_checkpoint results/s4_ssm_results/checkpoints/best_model.pth \\
    --student_config training/training_configs/s4_ssm_student.yaml \\
    --student_model_dim 16 \\
    --student_state_dim 128 \\
    --student_num_layers 4 \\
    --progressive_coupling \\
    --stage_epochs 20 \\
    --temperature 3.0 \\
    --alpha 0.7 \\
    --beta 0.2 \\
    --save_dir results/s4_ssm_progressive""",
    """python training/distillation_script.py \\
    --teacher_config training/training_configs/s4_ssm_complex.yaml \\
    --teacher_checkpoint results/s4_ssm_results/checkpoints/best_model.pth \\
    --student_config training/training_configs/s4_ssm_student.yaml \\
    --student_model_dim 1 \\
    --student_state_dim 64 \\
    --student_num_layers 2 \\
    --progressive_coupling \\
    --enhanced_projections \\
    --stage_epochs 25 \\
    --curriculum_epochs 20 \\
    --temperature 2.0 \\
    --alpha 0.8 \\
    --beta 0.15 \\
    --num_epochs 200 \\
    --save_dir results/s4_ssm_ultra_compressed""",
    """python training/distillation_script.py \\
    --teacher_config training/training_configs/s4_ssm_complex.yaml \\
    --teacher_checkpoint results/s4_ssm_results/checkpoints/best_model.pth \\
    --student_config training/training_configs/s4_ssm_student.yaml \\
    --preserve_distribution \\
    --variance_weight 0.2 \\
    --moment_weight 0.15 \\
    --confidence_weight 0.08 \\
    --dynamic_temperature \\
    --save_dir results/s4_ssm_distribution_preserved""",
]
TIPS = [  # these three share the default save_dir results/s4_ssm_distilled
    """python training/distillation_script.py \\
    --alpha 0.7 \\
    --beta 0.25 \\
    --gamma 0.05 \\
    --temperature 2.0 \\
    --curriculum_epochs 20 \\
    --num_epochs 300 \\
    --learning_rate 5e-5""",
    """python training/distillation_script.py \\
    --alpha 0.9 \\
    --beta 0.1 \\
    --gamma 0.0 \\
    --temperature 3.0 \\
    --curriculum_epochs 5 \\
    --num_epochs 100 \\
    --learning_rate 1e-3""",
    """python training/distillation_script.py \\
    --student_model_dim 1 \\
    --student_state_dim 32 \\
    --student_num_layers 2 \\
    --progressive_coupling \\
    --enhanced_projections \\
    --preserve_distribution \\
    --stage_epochs 30 \\
    --curriculum_epochs 25 \\
    --alpha 0.8 \\
    --beta 0.15 \\
    --gamma 0.05""",
]
SMALL_DATA = [
    "data.simulate=null",
    "data.patch_size=[128, 1]",
    "data.stride=[128, 1]",
    "data.loss_margin=16",
    "data.samples_per_epoch=16",
    "data.batch_size=8",
    "data.norm_patches=8",
    "data.split.val_fraction=0.2",
    "data.split.test_fraction=0.2",
    "trainer.progress_bar=false",
    "trainer.figure_every_n_epochs=0",
    "logging.tensorboard=false",
]
SMALL_TEACHER = [
    "model.preset=demo-teacher",
    "model.selectivity=gate",
    "model.state_dim=16",
    "trainer.max_epochs=1",
    *SMALL_DATA,
]


def split(command: str) -> list[str]:
    return command.replace("\\\n", " ").split()


def run(cwd: Path, argv: list[str]) -> subprocess.CompletedProcess:
    assert argv[0] == "python"
    proc = subprocess.run(
        [sys.executable, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def seed_root(tmp_path_factory, kd_data) -> Path:
    """A copy of the repository's entry points with the teacher of Quick Start 1 trained."""
    root = tmp_path_factory.mktemp("seed_root")
    shutil.copytree(ROOT / "training", root / "training")
    shutil.copy(ROOT / "training_script.py", root / "training_script.py")
    run(root, split(TEACHER_CMD) + SMALL_TEACHER + [f"data.path={kd_data}"])
    assert (root / "results/s4_ssm_results/checkpoints/best_model.pth").is_file()
    return root


def small_student(kd_data: Path) -> list[str]:
    teacher = [f"teacher.train.{o}" for o in [*SMALL_TEACHER, f"data.path={kd_data}"]]
    student = ["model.preset=demo-tiny", f"data.path={kd_data}", *SMALL_DATA, "baseline=false"]
    return ["--num_epochs", "1", *teacher, *student]


@pytest.mark.parametrize("index", range(len(STUDENT)))
def test_quick_start_distillation_commands_run(seed_root, kd_data, index):
    argv = split(STUDENT[index])
    run(seed_root, argv + small_student(kd_data))
    save = seed_root / argv[argv.index("--save_dir") + 1]
    assert (save / "final_student_model" / "model.safetensors").is_file()
    assert (save / "metrics.json").is_file()


def test_performance_tips_run(seed_root, kd_data):
    save = seed_root / "results" / "s4_ssm_distilled"
    for tip in TIPS:
        shutil.rmtree(save, ignore_errors=True)
        run(seed_root, split(tip) + small_student(kd_data))
        assert (save / "final_student_model" / "model.safetensors").is_file()


def test_the_seed_diagnostics_run(seed_root, kd_data):
    # the earlier pipeline's module paths and argument names
    code = (
        "from training.distillation_example import compare_models\n"
        "compare_models(teacher_config='results/s4_ssm_results/config.yaml',\n"
        "               student_config='training/training_configs/s4_ssm_student.yaml')\n"
        "from training.knowledge_distillation import test_feature_extraction\n"
        "test_feature_extraction(teacher_path='results/s4_ssm_results/checkpoints/best_model.pth',\n"
        "    student_config='training/training_configs/s4_ssm_student.yaml')\n"
        "from training.distribution_preserving_distillation import analyze_distributions\n"
        "analyze_distributions(model_path='results/s4_ssm_results/best',\n"
        f"    data={str(kd_data)!r})\n"
    )
    proc = run(seed_root, ["python", "-c", code])
    assert "compression" in proc.stdout
    assert "stage 4:" in proc.stdout
    assert "collapse ratio" in proc.stdout
