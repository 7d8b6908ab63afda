"""`sarssm focus` on real-layout Maya4 products: blocks that follow wide chunks, column ranges,
the output's attributes, and (slow) a 20,000 x 25,000 product within 2 GB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sarssm.cli import main
from sarssm.data.store import open_product
from sarssm.deploy import blocks as blocks_module
from sarssm.deploy.blocks import block_plan
from sarssm.deploy.focus import focus_product, load_focuser
from sarssm.errors import ConfigError
from sarssm.focus.rda import focus_rc
from sarssm.models import build_model
from sarssm.physics.geometry import get_preset
from sarssm.sim.maya4_layout import write_sparse_product

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Path:
    """A real-layout `demo` product of 1024 x 2048 chunked 512 x 1024 (wider than a block),
    with point-target blocks; read-only."""
    folder = tmp_path_factory.mktemp("wide")
    return write_sparse_product(folder, 1024, 2048, geometry=get_preset("demo"), blocks=3,
                                block_shape=(256, 16), chunks=(512, 1024))  # fmt: skip


def lti() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("demo-tiny", state_dim=8).eval()


def test_blocks_follow_the_input_chunks(wide, demo_product, tmp_path, monkeypatch):
    ref, model = load_focuser("reference"), load_focuser(lti())
    product = open_product(wide)
    # chunks 1024 wide: the widest divisor within the memory budget (the reference's a
    # multiple of its 256-column RCMC grid); segments in whole chunk rows
    assert block_plan(ref, product, "rc", "conv") == (1024, 1024, (512, 1024))
    assert block_plan(model, product, "rc", "conv") == (1024, 1024, (512, 1024))
    assert block_plan(model, product, "rc", "conv", block_rows=700)[1] == 700
    per_column = blocks_module.block_bytes_per_column(ref, product, "rc", "conv", 512)
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 600 * per_column)
    assert block_plan(ref, product, "rc", "conv")[0] == 512
    monkeypatch.setattr(blocks_module, "REWRITE_CHUNK_BYTES", 0)  # large chunks: one per block
    assert block_plan(ref, product, "rc", "conv")[2] == (512, 512)
    assert block_plan(ref, product, "rc", "conv", block_columns=300)[:2] == (512, 1024)
    # sarssm's own narrow chunks (256 x 16): the defaults, in whole chunks
    own = open_product(demo_product)
    assert block_plan(model, own, "rc", "conv")[:2] == (16, 256)  # the whole product
    assert block_plan(ref, own, "rc", "conv") == (16, 256, (256, 16))
    odd = write_sparse_product(tmp_path, 512, 400, geometry=get_preset("demo"), blocks=0,
                               chunks=(128, 24))  # fmt: skip
    assert block_plan(model, open_product(odd), "rc", "conv") == (72, 512, (128, 24))
    tall = write_sparse_product(tmp_path, 7000, 64, geometry=get_preset("demo"), blocks=0,
                                chunks=(3000, 64))  # fmt: skip
    assert block_plan(model, open_product(tall), "rc", "conv")[1] == 3000  # whole chunk rows


def test_wide_chunk_blocks_equal_the_whole_product(wide, tmp_path, monkeypatch):
    monkeypatch.setattr(blocks_module, "REWRITE_CHUNK_BYTES", 0)
    s = focus_product("reference", wide, tmp_path / "out.zarr")
    out, src = open_product(tmp_path / "out.zarr"), open_product(wide)
    assert s["block_columns"] == 1024 and out.array("az").chunks == (512, 1024)
    whole = focus_rc(src.read("rc"), src.geometry)["az"]
    np.testing.assert_allclose(out.read("az"), whole, rtol=0, atol=1e-5 * np.abs(whole).max())
    for name in ("raw", "rc", "rcmc"):  # copied file by file: the chunks as stored
        for f in sorted((wide / name).rglob("*")):
            if f.is_file():
                assert (tmp_path / "out.zarr" / name / f.relative_to(wide / name)).read_bytes() == (
                    f.read_bytes()
                )


@pytest.mark.parametrize("model", ["reference", "lti"])
def test_a_column_range_is_focused_as_in_the_whole_product(wide, tmp_path, model):
    focuser = load_focuser("reference" if model == "reference" else lti())
    full = focus_product(focuser, wide, tmp_path / "full.zarr")
    part = focus_product(focuser, wide, tmp_path / "part.zarr", columns="300:700")
    assert part["columns"] == [300, 700] and full["columns"] == [0, 2048]
    a, b = open_product(tmp_path / "full.zarr"), open_product(tmp_path / "part.zarr")
    np.testing.assert_array_equal(
        b.read("az", cols=slice(300, 700)), a.read("az", cols=slice(300, 700))
    )
    assert not np.any(b.read("az", cols=slice(0, 300))) and not np.any(
        b.read("az", cols=slice(700, None))
    )
    assert b.attrs["focused_by"]["columns"] == [300, 700] and "columns" not in a.attrs["focused_by"]
    with pytest.raises(ConfigError, match=r"--columns 2000:3000: not a column range"):
        focus_product(focuser, wide, tmp_path / "bad.zarr", columns=(2000, 3000))
    with pytest.raises(ConfigError, match=r"--columns '5': expected A:B"):
        focus_product(focuser, wide, tmp_path / "bad.zarr", columns="5")


def test_a_maya4_output_keeps_its_records_and_records_its_geometry(wide, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["focus", "--model", "reference", "--input", str(wide), "--out", str(out),
            "--columns", "0:256", "--geometry", "window_alpha=1.0"]  # fmt: skip
    assert main(argv) == 0
    dst, src = open_product(out / wide.name), open_product(wide, ["window_alpha=1.0"])
    assert dst.geometry == src.geometry and dst.geometry.window_alpha == 1.0
    full = dst.full_attrs()
    assert full["metadata"] == src.full_attrs()["metadata"] and "ephemeris" in full
    assert main(["inspect", str(out / wide.name)]) == 0
    assert "window alpha 1.0" in capsys.readouterr().out
    assert main([*argv[:6], str(tmp_path / "o2"), "--columns", "9"]) == 2
    assert "--columns '9': expected A:B" in capsys.readouterr().err


@pytest.mark.slow
def test_a_20000_by_25000_product_is_inspected_and_focused_within_2_gb(tmp_path):
    """`benchmarks/large_product.py` on the full-size sparse product (open and inspect of the
    whole product; both focusings on 4096 columns, one column of stored chunks among them):
    every step, each its own process, peaks under 2 GB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, str(ROOT / "benchmarks" / "large_product.py"), "--columns",
            "4096:8192", "--work", str(tmp_path / "work"), "--out", str(tmp_path)]  # fmt: skip
    subprocess.run(argv, check=True, env=env, cwd=ROOT, capture_output=True)
    report = json.loads((tmp_path / "large_product.json").read_text())
    assert report["shape"] == [20_000, 25_000] and report["dense_columns"] == [4096, 8192]
    steps = {r["step"]: r for r in report["results"]}
    assert set(steps) == {"write", "open", "inspect", "focus reference", "focus student"}
    for name, r in steps.items():
        assert r["peak_rss_mb"] < 2048, f"{name}: peak RSS {r['peak_rss_mb']:.0f} MB"
    for name in ("focus reference", "focus student"):
        assert "(focused: False)" in steps[name]["output"][-1]  # the target block is outside
        assert "zero outside the columns: True" in steps[name]["output"][-1]
