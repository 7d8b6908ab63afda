import json

from sarssm.demo import run_demo


def test_quick_demo_runs_every_stage_and_reuses_a_finished_run(tmp_path):
    lines: list[str] = []
    summary = run_demo(tmp_path / "demo", quick=True, echo=lines.append)
    text = "\n".join(lines)
    stages = ("[1/6] data", "[2/6] reference", "[3/6] teacher", "[4/6] teacher", "[5/6] teacher")
    stages += ("[6/6] distillation",)
    for stage in stages:
        assert stage in text
    assert (tmp_path / "demo" / "teacher" / "best" / "model.safetensors").is_file()
    saved = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert saved["teacher_test_products"]["mean"]["products"] >= 1
    assert set(saved["teacher_test_products"]["by_scene"]) <= {"mixed", "clutter"}
    assert summary["reference_point_targets"] == saved["reference_point_targets"]
    checks = saved["operator_checks"]
    assert [c["scale"] for c in checks["scale"]] == [1e-4, 1e-2, 1.0, 1e2, 1e4]
    spread = [c["nmse_db"] for c in checks["scale"]]
    assert max(spread) - min(spread) < 0.1  # even a barely trained teacher is scale-free
    assert {c["where"] for c in checks["range"]} == {"below_swath", "mid_swath", "above_swath"}
    assert [c["rows"] for c in checks["length"]] == [256, 1024]
    assert checks["dark_band"]["gap_rows"] > 0
    student = saved["students"]["demo-tiny"]
    for side in ("teacher", "student", "baseline"):
        assert student[side]["mean"]["products"] >= 1, side
    final = tmp_path / "demo" / "students" / "demo-tiny" / "final_student_model"
    assert (final / "model.safetensors").is_file()
    lines.clear()
    run_demo(tmp_path / "demo", quick=True, echo=lines.append)
    assert sum("reusing the finished run" in line for line in lines) == 2
