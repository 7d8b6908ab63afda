"""`sarssm inspect`: the report of real (simulated, stored) products, and its errors."""

import json

import numpy as np
import pytest
import zarr

from sarssm.cli import main
from sarssm.data.store import open_product, write_product
from sarssm.errors import ProductError
from sarssm.eval.inspect import inspect_path
from sarssm.eval.pointtarget import measure_point_target, measure_product
from sarssm.eval.theory import default_half_window, theory_for_geometry
from sarssm.physics.geometry import get_preset
from sarssm.sim.simulate import simulate_product

TARGET_KEYS = {
    "row",
    "col",
    "irw_samples",
    "irw_theory_samples",
    "irw_ratio",
    "pslr_db",
    "pslr_theory_db",
    "islr_db",
    "phase_error_rad",
    "position_error_samples",
    "amplitude_error_db",
}


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    root = tmp_path_factory.mktemp("products")
    g = get_preset("demo").replace(n_range=8)
    paths = []
    for seed in (3, 4):
        sim = simulate_product(g, "points", seed, preset="demo")
        paths.append(write_product(root / f"p{seed}.zarr", sim.arrays, sim.attrs))
    return root, paths


def run_cli(capsys, *argv):
    code = main(["inspect", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_single_product_json(products, capsys):
    _, (path, _) = products
    code, out, err = run_cli(capsys, path, "--json")
    assert code == 0, err
    report = json.loads(out)
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    assert report["path"] == str(path)
    assert len(report["products"]) == 1 and report["products"][0]["path"] == str(path)
    assert report["attrs"]["seed"] == attrs["seed"] and report["attrs"]["preset"] == "demo"
    assert report["arrays"]["az"] == {"shape": [256, 8], "dtype": "complex64", "chunks": [256, 8]}
    assert set(report["arrays"]) == {"rc", "rcmc", "az"}
    geo = report["geometry"]
    assert geo["prf_hz"] == 1717.0
    assert geo["ka_hz_per_s"][0] < geo["ka_hz_per_s"][1]
    theory = theory_for_geometry(get_preset("demo"))
    assert report["theory"]["pslr_db"] == pytest.approx(theory.pslr_db)
    targets = report["point_targets"]
    assert len(targets) == len(attrs["point_targets"]) > 0
    for t in targets:
        assert TARGET_KEYS <= set(t)
        assert t["irw_ratio"] == pytest.approx(1.0, abs=0.05)
        assert t["pslr_db"] == pytest.approx(theory.pslr_db, abs=1.0)
        assert abs(t["phase_error_rad"]) < 0.1
        assert abs(t["position_error_samples"]) < 0.1


def test_measure_product_reads_blocks_like_the_whole_image(products):
    # measure_product reads a row block per target; the whole-image measurement must agree
    _, (path, _) = products
    product = open_product(path)
    az = product.read("az")
    theory = theory_for_geometry(product.geometry)
    results = measure_product(product)
    assert len(results) == len(product.point_targets)
    for t, r in zip(product.point_targets, results, strict=True):
        q = measure_point_target(
            az, t["row"], t["col"], t["amplitude"], t["phase_rad"],
            half_window=default_half_window(theory, 10.0), irw_theory_samples=theory.irw_samples,
        )  # fmt: skip
        assert (r["row"], r["col"]) == (t["row"], t["col"])
        assert r["irw_samples"] == pytest.approx(q.irw_samples, rel=1e-6)
        assert r["pslr_db"] == pytest.approx(q.azimuth.pslr_db, abs=1e-6)
        assert r["phase_error_rad"] == pytest.approx(q.phase_error_rad, abs=1e-9)
        assert r["position_error_samples"] == pytest.approx(q.position_error_samples, abs=1e-9)
        assert r["irw_theory_samples"] == pytest.approx(theory.irw_samples)
        assert r["pslr_theory_db"] == pytest.approx(theory.pslr_db)


def test_measure_product_rejects_targets_outside(products):
    _, (path, _) = products
    with pytest.raises(ProductError, match="outside"):
        measure_product(open_product(path), targets=[{"row": 400.0, "col": 1}])


def test_folder_lists_every_product(products, capsys):
    root, paths = products
    code, out, err = run_cli(capsys, root, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [p["path"] for p in report["products"]] == [str(p) for p in paths]
    assert "point_targets" not in report  # only a single product is repeated at the top level
    assert inspect_path(root)["products"][1]["point_targets"]


def test_human_output_is_an_aligned_table(products, capsys):
    _, (path, _) = products
    code, out, _ = run_cli(capsys, path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"product {path}"
    assert any(
        "theory (effective weighting)" in line and "PSLR -26.89 dB" in line for line in lines
    )
    header = next(i for i, line in enumerate(lines) if "IRW/theory" in line)
    n = len(open_product(path).point_targets)
    table = lines[header : header + 1 + n]
    assert len({len(line) for line in table}) == 1  # right-aligned: same width
    for name in ("preset demo", "scene points", "seed 3", "TBP", "aperture", "chunks"):
        assert name in out


def test_theory_table(capsys):
    code, out, _ = run_cli(capsys, "--theory")
    assert code == 0
    assert "rectangular" in out and "-13.26" in out and "-42.68" in out
    code, out, _ = run_cli(capsys, "--theory", "--json")
    rows = json.loads(out)["theory"]
    assert any(r["weighting"] == "demo: effective (window x antenna)" for r in rows)


def write_raw_group(path, arrays, attrs):
    group = zarr.open_group(str(path), mode="w")
    for name, data in arrays.items():
        group.create_array(name, shape=data.shape, dtype=data.dtype)[...] = data
    group.attrs.update(attrs)


@pytest.mark.parametrize(
    "case",
    ["missing", "file", "empty-folder", "corrupt", "no-az", "real-array", "no-path"],
)
def test_bad_input_is_one_line_and_exit_2(case, products, tmp_path, capsys):
    _, (good, _) = products
    attrs = dict(zarr.open_group(str(good), mode="r").attrs)
    rc = np.ones((256, 8), np.complex64)
    target = tmp_path / "bad.zarr"
    expect = {
        "missing": "no such",
        "file": "not",
        "empty-folder": "no products",
        "corrupt": "corrupt",
        "no-az": "'az'",
        "real-array": "float32",
        "no-path": "PATH",
    }[case]
    if case == "file":
        target = tmp_path / "notes.txt"
        target.write_text("hello")
    elif case == "empty-folder":
        target = tmp_path / "empty"
        target.mkdir()
    elif case == "corrupt":
        write_product(target, {"az": rc}, attrs)
        (target / "zarr.json").write_text("{ not json")
    elif case == "no-az":
        write_product(target, {"rc": rc}, attrs)
    elif case == "real-array":
        write_raw_group(target, {"az": np.ones((256, 8), np.float32)}, attrs)
    argv = [] if case == "no-path" else [target]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("sarssm inspect: error:") and expect in err


def test_unfocused_target_is_reported_not_fatal(products, tmp_path, capsys):
    # a flat az (nothing focused) is valid data: each target says why it has no values
    _, (good, _) = products
    attrs = dict(zarr.open_group(str(good), mode="r").attrs)
    path = write_product(tmp_path / "flat.zarr", {"az": np.ones((256, 8), np.complex64)}, attrs)
    code, out, err = run_cli(capsys, path, "--json")
    assert code == 0, err
    targets = json.loads(out)["point_targets"]
    assert len(targets) == len(attrs["point_targets"])
    for t in targets:
        assert TARGET_KEYS <= set(t)
        assert t["irw_samples"] is None and t["pslr_db"] is None
        assert "main lobe" in t["error"]
    code, out, _ = run_cli(capsys, path)
    assert code == 0 and "not measured" in out
