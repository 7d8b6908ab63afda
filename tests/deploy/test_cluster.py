"""`sarssm focus --workers N` and `--scheduler ADDRESS`: products focused as Dask tasks, in
worker processes of a local cluster or of an existing one (a scheduler and a worker started
here on localhost), each written atomically; a failed product is reported, the rest finish."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sarssm.cli import main
from sarssm.data.normalize import ComplexScaler
from sarssm.data.store import list_products, open_product
from sarssm.models import build_model, save_model

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def folder(demo_product_dir, tmp_path_factory) -> Path:
    """Three good products and, second in order, one without geometry."""
    data = tmp_path_factory.mktemp("cluster_in")
    good = sorted(demo_product_dir.glob("*.zarr"))
    shutil.copytree(good[0], data / "a.zarr")
    shutil.copytree(good[1], data / "c.zarr")
    shutil.copytree(good[0], data / "d.zarr")
    import zarr

    shutil.copytree(good[1], data / "b-bare.zarr")
    zarr.open_group(str(data / "b-bare.zarr"), mode="r+").attrs.clear()
    return data


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("cluster_model") / "demo-tiny"
    save_model(build_model("demo-tiny").eval(), path)
    ComplexScaler(2.0, 3.0).save(path / "normalization.json")
    return path


def assert_like_serial(out: Path, serial: Path) -> None:
    names = [p.name for p in list_products(serial)]
    assert [p.name for p in list_products(out)] == names == ["a.zarr", "c.zarr", "d.zarr"]
    for name in names:
        np.testing.assert_array_equal(open_product(out / name).read("az"),
                                      open_product(serial / name).read("az"))  # fmt: skip


def test_workers_focus_in_processes_and_report_a_failed_product(folder, model, tmp_path, capsys):
    base = ["focus", "--model", str(model), "--input", str(folder), "--block-columns", "5"]
    assert main([*base, "--out", str(tmp_path / "serial")]) == 2  # the bare product fails
    capsys.readouterr()
    out = tmp_path / "out"
    assert main([*base, "--out", str(out), "--workers", "2"]) == 2
    captured = capsys.readouterr()
    assert_like_serial(out, tmp_path / "serial")
    assert "focusing 4 product(s) on 2 processes" in captured.out
    assert sum(line.startswith("focused ") for line in captured.out.splitlines()) == 3
    err = captured.err.strip().splitlines()
    assert err[0].startswith("sarssm focus: b-bare.zarr: error: ") and "geometry" in err[0]
    assert err[-1] == "sarssm focus: 1 of 4 product(s) failed"
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no temporaries left
    # --resume on the cluster: the three finished ones are kept, the bare one fails again
    assert main([*base, "--out", str(out), "--workers", "2", "--resume"]) == 2
    captured = capsys.readouterr()
    assert captured.out.count("kept ") == 3 and "focusing 1 product(s)" in captured.out


def test_bad_cluster_flags_are_refused(folder, tmp_path, capsys):
    base = ["focus", "--model", "reference", "--input", str(folder), "--out", str(tmp_path / "o")]
    assert main([*base, "--workers", "0"]) == 2
    assert "--workers must be >= 1, got 0" in capsys.readouterr().err
    assert main([*base, "--scheduler", "nonsense://nowhere"]) == 2
    assert "--scheduler nonsense://nowhere: cannot reach the Dask scheduler" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_an_existing_cluster_given_by_its_scheduler_address(folder, model, tmp_path, capsys):
    """A scheduler and a worker (two processes) started apart, as on other machines; sarssm
    only connects to the scheduler's address."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    bin_dir = Path(sys.executable).parent
    scheduler = subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [str(bin_dir / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1",
         "--no-dashboard"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        base = ["focus", "--model", str(model), "--input", str(folder), "--block-columns", "5"]
        assert main([*base, "--out", str(tmp_path / "serial")]) == 2
        capsys.readouterr()
        out = tmp_path / "out"
        assert main([*base, "--out", str(out), "--scheduler", address]) == 2
        captured = capsys.readouterr()
        assert f"on the cluster at {address}" in captured.out
        assert_like_serial(out, tmp_path / "serial")
        assert "1 of 4 product(s) failed" in captured.err
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
        for proc in (worker, scheduler):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    time.sleep(0.1)
