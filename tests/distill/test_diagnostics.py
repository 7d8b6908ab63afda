"""The diagnostics against independent computations, as functions and subcommands."""

import json

import numpy as np
import pytest
import scipy.stats

from sarssm.cli import main
from sarssm.distill import diagnostics


@pytest.fixture
def student_yaml(tmp_path):
    path = tmp_path / "student.yaml"
    path.write_text("model:\n  preset: demo-tiny\nprogressive:\n  enabled: true\n")
    return path


def test_compare_models_reports_both_costs(kd_teacher, student_yaml, capsys):
    from sarssm.models import build_model, load_model, model_cost

    result = diagnostics.compare_models(
        teacher_config=kd_teacher / "config.yaml", student_config=student_yaml
    )
    teacher = load_model(kd_teacher / "best")
    assert result["teacher"] == model_cost(teacher)
    assert result["student"]["params"] == model_cost(build_model("demo-tiny"))["params"]
    assert result["compression"] == pytest.approx(
        result["teacher"]["params"] / result["student"]["params"]
    )
    assert "compression" in capsys.readouterr().out
    assert main(["compare-models", "--teacher_config", str(kd_teacher / "best"),
                 "--student-config", str(student_yaml), "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["student"]["model_dim"] == 4


def test_feature_extraction_lists_taps_stages_and_projections(kd_teacher, student_yaml, capsys):
    from sarssm.distill.schedule import coupling_stages

    result = diagnostics.test_feature_extraction(
        teacher_path=kd_teacher / "checkpoints" / "best_model.pth", student_config=student_yaml
    )
    assert result["taps"]["teacher"] == {f"blocks.{i}": [2, 256, 4] for i in range(3)}
    assert result["taps"]["student"] == {f"blocks.{i}": [2, 256, 4] for i in range(2)}
    assert result["stages"] == [[list(p) for p in s] for s in coupling_stages(3, 2)]
    assert "group mean" in result["projection"]
    assert main(["features", "--teacher_path", str(kd_teacher / "best"),
                 "--student_config", str(student_yaml)]) == 0  # fmt: skip
    assert "stage 4:" in capsys.readouterr().out


def test_distributions_match_numpy(kd_teacher, kd_data, tmp_path):
    from sarssm.data.normalize import ComplexScaler
    from sarssm.data.store import list_products, open_product
    from sarssm.eval.products import predict_product
    from sarssm.models import load_model

    result = diagnostics.analyze_distributions(
        model_path=kd_teacher / "best", data=kd_data, out=tmp_path
    )
    net = load_model(kd_teacher / "best")
    scaler = ComplexScaler.load(kd_teacher / "best" / "normalization.json")
    products = [open_product(p) for p in list_products(kd_data)]
    pred = np.concatenate([predict_product(net, p, scaler).ravel() for p in products])
    gt = np.concatenate([p.read("az").ravel() for p in products])
    for part, f in (("re", np.real), ("im", np.imag), ("abs", np.abs)):
        a = f(pred).astype(np.float64)
        assert result["prediction"][f"{part}/mean"] == pytest.approx(a.mean(), rel=1e-4, abs=1e-9)
        assert result["prediction"][f"{part}/skewness"] == pytest.approx(
            scipy.stats.skew(a), rel=1e-3, abs=1e-6
        )
        assert result["ground_truth"][f"{part}/kurtosis"] == pytest.approx(
            scipy.stats.kurtosis(f(gt).astype(np.float64)), rel=1e-3
        )
    std = lambda z: np.sqrt(np.mean(np.abs(z - z.mean()) ** 2))  # noqa: E731
    assert result["collapse_ratio"] == pytest.approx(std(pred) / std(gt), rel=1e-4)
    assert (tmp_path / "distributions.png").stat().st_size > 1000
    assert main(["distributions", "--model_path", str(kd_teacher / "best"),
                 "--data", str(kd_data)]) == 0  # fmt: skip
