"""The demo teacher's quality on held-out products (the full `make demo` run, minutes)."""

import pytest

from sarssm.demo import run_demo


@pytest.mark.slow
def test_demo_teacher_reaches_published_quality_without_collapse(tmp_path):
    summary = run_demo(tmp_path / "demo", echo=lambda *_: None)
    result = summary["teacher_test_products"]
    for scene, mean in [("all", result["mean"]), *result["by_scene"].items()]:
        assert mean["psnr_db"] >= 36.0, (scene, mean)
        assert mean["ssim"] >= 0.80, (scene, mean)
        assert 0.9 <= mean["collapse_ratio"] <= 1.1, (scene, mean)  # not collapsed to the mean
        assert mean["nmse_db"] <= -15.0, (scene, mean)
    for product in result["products"]:
        for target in product["point_targets"]:
            model, reference = target["model"], target["reference"]
            assert model["error"] is None
            assert model["pslr_db"] <= reference["pslr_db"] + 5.0  # sidelobes stay low
            assert model["irw_samples"] <= 1.1 * reference["irw_samples"]
