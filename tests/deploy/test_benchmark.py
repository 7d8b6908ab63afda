"""`sarssm benchmark` and its library: every case runs and reports what the tables print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sarssm.cli import main
from sarssm.deploy import benchmark
from sarssm.deploy.benchmark import Case, line_bytes, run_case
from sarssm.errors import SarssmError


def test_stream_case_reports_time_memory_and_floor() -> None:
    r = run_case(Case("stream", "demo-tiny", columns=64, lines=5, growth_lines=20), isolate=False)
    assert r["backend"] in ("numba", "numpy") and r["delay"] == 60
    assert 0 < r["ms_min"] <= r["ms_median"]
    assert r["state_bytes"] >= 8 * 2 * 4 * 32 * 64  # Ly H N W complex64
    assert 1.0 <= r["held_over_minimum"] <= 1.10
    assert r["rss_growth_bytes"] is not None and r["growth_lines"] == 20


def test_line_bytes_counts_state_twice_and_the_prefilter_once() -> None:
    from sarssm.deploy.stream import StreamingFocuser
    from sarssm.models import build_model

    model = build_model("demo-tiny").eval()
    W, J = 10, model.config.prefilter_taps
    ref = model.config.reference
    import numpy as np

    focuser = StreamingFocuser(model, W, np.full(W, ref.range_m))
    K = 2 * J + 1
    state = 8 * 2 * 4 * 32 * W
    assert line_bytes(focuser) == 2 * state + 8 * K * W + 8 * K * W + 8 * W + 16 * W


def test_conv_case_times_the_model_and_its_folded_form() -> None:
    r = run_case(Case("conv", "demo-ultra", lines=1, batch=4), isolate=False)
    assert r["length"] == 256 and r["batch"] == 4
    assert r["columns_per_s"] > 0 and r["folded_columns_per_s"] > 0
    gate = run_case(Case("conv", "demo-tiny:selectivity=gate", lines=1, batch=4), isolate=False)
    assert "folded_columns_per_s" not in gate  # selective: no single kernel
    both = Case("conv", "demo-ultra:direction=bidirectional", lines=1, batch=4)
    assert "folded_columns_per_s" not in run_case(both, isolate=False)  # not causal


def test_classical_cases() -> None:
    mf = run_case(Case("matched_filter", columns=16, lines=3), isolate=False)
    assert mf["taps"] > 780 and mf["ms_min"] > 0  # the s1-stripmap aperture, about 800 rows
    block = run_case(Case("block", columns=16, lines=1024), isolate=False)
    assert block["block_lines"] == 1024
    assert block["latency_s"] > 1024 / 1717.0


def test_isolated_case_reports_a_failing_child() -> None:
    with pytest.raises(SarssmError, match="unknown model preset"):
        run_case(Case("stream", "no-such-preset", columns=4, lines=1))


def test_cli_prints_tables_and_writes_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    flags = ["--columns", "32", "--lines", "3", "--no-classical", "--json", str(out)]
    code = main(
        ["benchmark", "--model", "demo-tiny:selectivity=gate", "--model", "demo-ultra", *flags]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "stream (one line per push" in text and "conv mode" in text
    report = json.loads(out.read_text())
    assert [r["model"] for r in report["stream"]] == ["demo-ultra"]  # the gate cannot stream
    assert report["conv"][0]["speedup_vs_first"] == 1.0
    assert report["conv"][1]["speedup_vs_first"] > 0


def test_cli_refuses_bad_flags(capsys) -> None:
    assert main(["benchmark", "--model", "demo-tiny", "--lines", "0"]) == 2
    assert "--lines must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["benchmark", "--model", "demo-tiny", "--columns", "a,b"])


def test_is_streamable_reads_folders_and_presets(tmp_path: Path) -> None:
    from sarssm.models import build_model, save_model

    assert benchmark.is_streamable("demo-tiny")
    assert not benchmark.is_streamable("demo-teacher")
    save_model(build_model("demo-ultra"), tmp_path / "m")
    assert benchmark.is_streamable(str(tmp_path / "m"))


def test_variant_config_changes_one_reference_field() -> None:
    spec = "ultra:model_dim=2,reference.range_min_m=820000,reference.range_max_m=880000"
    config = benchmark.variant_config(spec).resolved()
    assert config.model_dim == 2
    assert (config.reference.range_min_m, config.reference.range_max_m) == (820000, 880000)
    assert config.reference.range_m == 850000  # the preset's, kept
    assert config.prefilter_taps < benchmark.variant_config("ultra").resolved().prefilter_taps


def test_split_label() -> None:
    assert benchmark.split_label("demo-tiny") == ("demo-tiny", "demo-tiny")
    assert benchmark.split_label("p=ultra:model_dim=2") == ("p", "ultra:model_dim=2")
    assert benchmark.split_label("ultra:model_dim=2") == ("ultra:model_dim=2",) * 2
    assert benchmark.split_label("x=runs/a=b") == ("x", "runs/a=b")
