"""`sarssm simulate` through a real subprocess: products on disk, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sarssm.data.store import list_products, open_product

ROOT = Path(__file__).resolve().parents[2]


def sarssm(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sarssm", "simulate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_simulate_writes_readable_products(tmp_path):
    out = tmp_path / "data"
    result = sarssm(
        "--preset",
        "demo",
        "--scene",
        "mixed",
        "--products",
        "2",
        "--out",
        str(out),
        "--seed",
        "7",
        "--snr-db",
        "25",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    paths = list_products(out)
    assert [p.name for p in paths] == ["demo-mixed-seed7-0000.zarr", "demo-mixed-seed7-0001.zarr"]
    for line, path in zip(lines, paths, strict=True):
        product = open_product(path)
        assert str(path) in line and "256x16" in line
        assert f"targets={len(product.point_targets)}" in line
        assert product.attrs["snr_db"] == 25.0 and product.attrs["seed"] in (7, 8)
        assert np.isfinite(product.read("az")).all()
    assert result.stderr == ""  # --quiet: no progress bar

    again = sarssm(
        "--preset",
        "demo",
        "--scene",
        "mixed",
        "--products",
        "1",
        "--out",
        str(out),
        "--seed",
        "7",
        "--quiet",
    )
    assert again.returncode == 2
    assert "demo-mixed-seed7-0000.zarr already exists" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "s9"], "unknown preset 's9'"),
        (["--scene", "forest"], "unknown scene 'forest'"),
        (["--products", "0"], "number of products must be >= 1"),
        (["--snr-db", "nan"], "snr_db must be a finite number"),
        (["--scene", "image", "--image", "/no/such.png"], "image file not found"),
        (["--scene", "image"], "needs an image file"),
        (["--near-range-m", "0"], "near_range_m must be a positive"),
        (["--rows", "0"], "n_azimuth must be a positive integer"),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, args, message):
    result = sarssm("--out", str(tmp_path / "o"), "--quiet", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
