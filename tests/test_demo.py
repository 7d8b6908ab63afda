"""`sarssm demo --quick` end to end, and the stage bookkeeping that decides what reruns."""

import json
import math

import pytest

from sarssm.demo import STUDENTS, VARIANTS, Stages, run_demo
from sarssm.eval.evaluate import ENTRY_KEYS as REQUIRED

SECTIONS = (
    "## All metrics",
    "## Targets",
    "## Patch windows",
    "## By scene type",
    "## Point targets",
    "## Compression",
    "## Information retention",
    "## Distribution preservation",
    "## Figures",
)


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    lines: list[str] = []
    summary = run_demo(out, quick=True, echo=lines.append)
    return out, summary, lines


def test_quick_demo_writes_a_complete_report_with_finite_metrics(quick_demo):
    out, summary, lines = quick_demo
    text = "\n".join(lines)
    for n in range(1, 8):
        assert f"[{n}/7]" in text
    metrics = json.loads((out / "evaluation" / "metrics.json").read_text())
    names = ["teacher"] + [n for p in STUDENTS for n in (p, f"{p}-baseline")]
    names += [n for n, _ in VARIANTS] + ["reference", "pass-through"]
    assert list(metrics["models"]) == names
    for name, entry in metrics["models"].items():
        for key in REQUIRED:
            value = entry[key]
            if name == "reference" and key in ("nmse_db", "psnr_db"):
                assert value is None  # it made the ground truth: exact, -inf dB error
                continue
            assert value is not None and math.isfinite(value), (name, key)
        assert set(entry["by_scene"]) == {"mixed", "clutter", "points"}, name
    report = (out / "evaluation" / "report.md").read_text()
    for section in SECTIONS:
        assert section in report, section
    assert "**Quick mode" in report
    for rel in metrics["figures"].values():
        assert (out / "evaluation" / rel).is_file()
    assert summary["report"] == str(out / "evaluation" / "report.md")
    deployment = summary["deployment"]  # stage 7: stream == conv, exports, int8, speed
    assert max(r["stream_vs_conv_max_rel"] for r in deployment["focus"]) < 2e-5
    assert deployment["export"]["numpy_step_vs_conv_max_rel"] < 2e-5
    assert {"student.npz", "numpy_step.py", "student_conv.onnx", "student_step.pt"} <= set(
        deployment["export"]["files"]
    )
    assert math.isfinite(deployment["quantize"]["int_vs_float_nmse_db"])
    assert deployment["speed"]["stream_ms_min"] > 0
    assert "stream vs conv mode" in text
    assert "report:" in text
    retention = [r for r in report.splitlines() if r.startswith("| demo-tiny-")]
    for kind in ("linear", "pca_init", "attention"):
        assert any(f"| {kind} |" in r for r in retention), kind


def test_rerun_reuses_every_stage_and_says_so(quick_demo):
    out, _, _ = quick_demo
    lines: list[str] = []
    summary = run_demo(out, quick=True, echo=lines.append)
    stages = json.loads((out / "stages.json").read_text())
    assert set(summary["reused_stages"]) == set(stages)
    assert any(line.startswith("reused (inputs unchanged)") for line in lines)
    assert not any("training ->" in line for line in lines)


def test_stages_rerun_when_inputs_change_and_resume_when_interrupted(tmp_path):
    messages: list[str] = []
    stages = Stages(tmp_path / "stages.json", echo=messages.append)
    folder = tmp_path / "teacher"
    assert stages.begin("teacher", {"epochs": 2}, folder, "metrics.json") == "run"
    folder.mkdir()
    (folder / "metrics.json").write_text("{}")
    stages.finish("teacher", 1.0)
    again = Stages(tmp_path / "stages.json", echo=messages.append)  # a later invocation
    assert again.begin("teacher", {"epochs": 2}, folder, "metrics.json") == "reuse"
    assert again.reused == ["teacher"]
    # --quick then the full demo: other inputs, so the old run is removed, not reported
    assert again.begin("teacher", {"epochs": 30}, folder, "metrics.json") == "run"
    assert not folder.exists() and "inputs changed" in messages[-1]
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.ckpt").write_text("")
    assert again.begin("teacher", {"epochs": 30}, folder, "metrics.json") == "resume"
    forced = Stages(tmp_path / "stages.json", force=True, echo=messages.append)
    assert forced.begin("teacher", {"epochs": 30}, folder, "metrics.json") == "run"
    assert not folder.exists() and "--force" in messages[-1]
