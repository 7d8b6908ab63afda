"""Benchmark helpers: the median timer, the JSON report and one benchmark script end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sarssm import __version__, bench

ROOT = Path(__file__).resolve().parents[1]


def fake_clock(monkeypatch: pytest.MonkeyPatch, durations: list[float]) -> Callable[[], None]:
    """A clock that advances by the next of `durations` on each call of the returned fn."""
    now = [0.0]
    pending = list(durations)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: now[0])

    def fn() -> None:
        now[0] += pending.pop(0)

    return fn


def test_median_seconds_warmup_and_median(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two warm-up runs (100 s each, not timed), then 3, 1 and 2 s.
    fn = fake_clock(monkeypatch, [100.0, 100.0, 3.0, 1.0, 2.0])
    assert bench.median_seconds(fn, repeats=3, warmup=2) == 2.0


def test_median_seconds_call_count() -> None:
    calls = []
    bench.median_seconds(lambda: calls.append(1), repeats=4)
    assert len(calls) == 1 + 4
    calls.clear()
    bench.median_seconds(lambda: calls.append(1), repeats=2, warmup=0)
    assert len(calls) == 2


def test_median_seconds_slow_warmup_times_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fn = fake_clock(monkeypatch, [6.0, 7.0])  # a third call would pop from an empty list
    assert bench.median_seconds(fn, repeats=5, slow_s=5.0) == 7.0
    fn = fake_clock(monkeypatch, [4.0, 1.0, 2.0, 9.0])  # fast warm-up: all repeats
    assert bench.median_seconds(fn, repeats=3, slow_s=5.0) == 2.0


def test_write_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = [{"task": "x", "median_s": 0.5}]
    out = bench.write_report(
        "demo_bench",
        results,
        tmp_path / "out",
        quick=True,
        repeats=3,
        extra={"steps": 7},
        load_before=(0.1, 0.2, 0.3),
    )
    assert out == tmp_path / "out" / "demo_bench.json"
    assert sorted(p.name for p in out.parent.iterdir()) == ["demo_bench.json"]
    assert capsys.readouterr().out == f"wrote {out}\n"
    report = json.loads(out.read_text())
    assert list(report) == [
        "benchmark",
        "sarssm_version",
        "command",
        "quick",
        "repeats",
        "machine",
        "results",
        "steps",
    ]
    assert report["benchmark"] == "demo_bench"
    assert report["sarssm_version"] == __version__
    assert report["command"].startswith("python ")
    assert (report["quick"], report["repeats"], report["steps"]) == (True, 3, 7)
    assert report["results"] == results
    machine = report["machine"]
    assert {"python", "platform", "numpy", "cpu_count"} <= set(machine)
    assert machine["loadavg_before"] == [0.1, 0.2, 0.3]
    assert "loadavg_after" in machine and "loadavg" not in machine


def test_write_report_omits_none_and_rejects_clashes(tmp_path: Path) -> None:
    out = bench.write_report("fit", None, tmp_path, quick=None, repeats=None, extra={"runs": []})
    report = json.loads(out.read_text())
    assert set(report) == {"benchmark", "sarssm_version", "command", "machine", "runs"}
    assert "loadavg" in report["machine"]
    with pytest.raises(ValueError, match="clash"):
        bench.write_report("fit", [], tmp_path, quick=True, repeats=1, extra={"results": 1})


def test_reference_processor_script(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = ROOT / "benchmarks" / "reference_processor.py"
    cmd = [sys.executable, str(script), "--quick", "--repeats", "1", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "reference_processor.json"
    assert f"wrote {out}" in proc.stdout
    report = json.loads(out.read_text())
    assert report["benchmark"] == "reference_processor"
    assert (report["quick"], report["repeats"]) == (True, 1)
    tasks = {r["task"] for r in report["results"]}
    assert {"focus_rc", "simulate points", "simulate mixed"} <= tasks
    assert all(r["median_s"] > 0 for r in report["results"])
