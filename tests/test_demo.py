import json

from sarssm.demo import run_demo


def test_quick_demo_runs_every_stage_and_reuses_a_finished_run(tmp_path):
    lines: list[str] = []
    summary = run_demo(tmp_path / "demo", quick=True, echo=lines.append)
    text = "\n".join(lines)
    for stage in ("[1/4] data", "[2/4] reference processor", "[3/4] teacher", "[4/4] teacher"):
        assert stage in text
    assert (tmp_path / "demo" / "teacher" / "best" / "model.safetensors").is_file()
    saved = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert saved["teacher_test_products"]["mean"]["products"] >= 1
    assert set(saved["teacher_test_products"]["by_scene"]) <= {"mixed", "clutter"}
    assert summary["reference_point_targets"] == saved["reference_point_targets"]
    lines.clear()
    run_demo(tmp_path / "demo", quick=True, echo=lines.append)
    assert any("reusing the finished run" in line for line in lines)
