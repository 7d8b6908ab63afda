"""Product store: bit-exact round trips (Zarr 2 and 3), lazy reads, atomic writes, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

import sarssm.data.store as store
from sarssm.data.store import chunks_for, list_products, open_product, write_product
from sarssm.errors import ConfigError, ProductError
from sarssm.physics.geometry import get_preset


def random_arrays(shape=(300, 40), seed=0, levels=("rc", "rcmc", "az")) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        name: (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
        for name in levels
    }


ATTRS = {
    "preset": "demo",
    "seed": np.int64(3),  # numpy scalars are stored as plain JSON numbers
    "snr_db": None,
    "geometry": get_preset("demo").to_attrs(),
    "point_targets": [{"row": 100.25, "col": 3, "amplitude": 2.5, "phase_rad": -1.0}],
    "window": {"type": "generalized_hamming", "alpha": 0.75},
}


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_round_trip_is_bit_exact(tmp_path, zarr_format):
    arrays = random_arrays()
    arrays["az"][5, 5] = np.complex64(complex(np.float32(1e-38), -np.float32(3.4e38)))
    path = write_product(tmp_path / "p.zarr", arrays, ATTRS, zarr_format=zarr_format)
    product = open_product(path)
    assert product.name == "p.zarr" and product.path == path
    assert product.levels == ["rc", "rcmc", "az"]
    assert product.shape == (300, 40)
    for name, data in arrays.items():
        read = product.read(name)
        assert read.dtype == np.complex64
        assert read.tobytes() == data.tobytes()
    assert product.attrs["seed"] == 3 and product.attrs["snr_db"] is None
    assert product.attrs["geometry"] == ATTRS["geometry"]
    assert product.geometry == get_preset("demo")
    assert product.point_targets == ATTRS["point_targets"]
    assert zarr.open_group(str(path), mode="r").metadata.zarr_format == zarr_format


def test_lazy_block_reads_equal_slices_of_the_full_read(tmp_path):
    arrays = random_arrays(shape=(2100, 40))
    product = open_product(write_product(tmp_path / "p.zarr", arrays, ATTRS))
    lazy = product.array("rc")
    assert isinstance(lazy, zarr.Array)
    assert lazy.chunks == chunks_for((2100, 40)) == (1024, 16)
    full = product.read("rc")
    for rows, cols in [
        (slice(1000, 1100), slice(15, 17)),
        (slice(None), slice(7, 8)),
        (slice(2000, None), slice(None)),
    ]:
        np.testing.assert_array_equal(product.read("rc", rows=rows, cols=cols), full[rows, cols])
        np.testing.assert_array_equal(np.asarray(lazy[rows, cols]), full[rows, cols])


def test_failed_write_leaves_nothing_and_keeps_the_existing_product(tmp_path, monkeypatch):
    path = write_product(tmp_path / "p.zarr", random_arrays(seed=1), ATTRS)
    before = open_product(path).read("az")
    real_write = store.ProductWriter.write
    calls = []

    def failing_write(writer, name, data, *args):  # writes the first array, dies on the second
        calls.append(name)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real_write(writer, name, data, *args)

    monkeypatch.setattr(store.ProductWriter, "write", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        write_product(tmp_path / "new.zarr", random_arrays(seed=2), ATTRS)
    assert not (tmp_path / "new.zarr").exists()
    calls.clear()
    with pytest.raises(RuntimeError, match="disk full"):
        write_product(path, random_arrays(seed=2), ATTRS, overwrite=True)
    np.testing.assert_array_equal(open_product(path).read("az"), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.zarr"]  # no temporary leftovers


def test_existing_product_needs_overwrite(tmp_path):
    path = write_product(tmp_path / "p.zarr", random_arrays(seed=1), ATTRS)
    with pytest.raises(ProductError, match="already exists"):
        write_product(path, random_arrays(seed=2), ATTRS)
    write_product(path, random_arrays(seed=2), ATTRS, overwrite=True)
    np.testing.assert_array_equal(open_product(path).read("rc"), random_arrays(seed=2)["rc"])


def test_write_rejects_bad_input(tmp_path):
    good = random_arrays()
    cases = [
        ({"rc": good["rc"], "az": good["az"][:10]}, "shape"),
        ({"rc": good["rc"].real}, "complex"),
        ({"rc": good["rc"][None]}, "2-D"),
        ({"focused": good["rc"]}, "not one of"),
        ({}, "at least one"),
    ]
    for arrays, message in cases:
        with pytest.raises(ConfigError, match=message):
            write_product(tmp_path / "bad.zarr", arrays, {})
    with pytest.raises(ConfigError, match="snr_db"):
        write_product(tmp_path / "bad.zarr", good, {"snr_db": float("nan")})
    assert not (tmp_path / "bad.zarr").exists()


def test_reads_maya4_named_groups_without_sarssm_attributes(tmp_path):
    name = "s1a-s3-raw-s-vv-20200101t000000-20200101t000030-030000-037000.zarr"
    group = zarr.open_group(str(tmp_path / name), mode="w", zarr_format=2)
    data = random_arrays(shape=(64, 24), levels=("raw", "rc", "rcmc", "az"))
    for level, values in data.items():
        group.create_array(level, shape=values.shape, chunks=(32, 24), dtype="complex64")
        group[level][...] = values
    group.attrs.update({"mission": "S1A", "ephemeris": [[0.0, 1.0, 2.0]]})
    product = open_product(tmp_path / name)
    assert product.levels == ["raw", "rc", "rcmc", "az"]
    np.testing.assert_array_equal(product.read("raw", rows=slice(3, 9)), data["raw"][3:9])
    assert product.point_targets == []
    with pytest.raises(ProductError, match="no 'geometry' attribute"):
        _ = product.geometry
    assert list_products(tmp_path) == [tmp_path / name]


def test_list_products(tmp_path):
    for rel in ["b.zarr", "a.zarr", "sub/c.zarr"]:
        write_product(tmp_path / rel, random_arrays(shape=(8, 4)), {})
    (tmp_path / "notes").mkdir()
    (tmp_path / ".d.zarr.tmp").mkdir()  # an interrupted write's temporary folder is skipped
    found = list_products(tmp_path)
    assert found == [tmp_path / "a.zarr", tmp_path / "b.zarr", tmp_path / "sub" / "c.zarr"]
    assert list_products(tmp_path / "b.zarr") == [tmp_path / "b.zarr"]
    with pytest.raises(ProductError, match="no products"):
        list_products(tmp_path / "notes")
    with pytest.raises(ProductError, match="no such"):
        list_products(tmp_path / "missing")


def test_open_errors_name_the_path_and_problem(tmp_path):
    with pytest.raises(ProductError, match=r"missing\.zarr: no such product"):
        open_product(tmp_path / "missing.zarr")
    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(ProductError, match="not a Zarr group"):
        open_product(tmp_path / "file.zarr")
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(ProductError, match=r"empty\.zarr: not a readable Zarr group"):
        open_product(tmp_path / "empty.zarr")
    corrupt = write_product(tmp_path / "corrupt.zarr", random_arrays(shape=(8, 4)), {})
    (corrupt / "zarr.json").write_text("{garbage")
    with pytest.raises(ProductError, match=r"corrupt\.zarr: corrupt Zarr metadata"):
        open_product(corrupt)
    broken = write_product(tmp_path / "broken.zarr", random_arrays(shape=(8, 4)), {})
    (broken / "rc" / "zarr.json").write_text("{garbage")
    with pytest.raises(ProductError, match=r"broken\.zarr"):
        open_product(broken)
    product = open_product(
        write_product(tmp_path / "rc_only.zarr", {"rc": random_arrays()["rc"]}, {})
    )
    with pytest.raises(ProductError, match=r"no 'az' array \(levels present: \['rc'\]\)"):
        product.read("az")


def _group_with(tmp_path, name, arrays: dict[str, np.ndarray]):
    group = zarr.open_group(str(tmp_path / name), mode="w")
    for level, values in arrays.items():
        group.create_array(level, shape=values.shape, dtype=values.dtype)
        group[level][...] = values
    return tmp_path / name


def test_open_rejects_bad_arrays(tmp_path):
    c = np.ones((8, 4), np.complex64)
    cases = [
        ("real.zarr", {"rc": c, "az": np.ones((8, 4), np.float32)}, "'az' has dtype float32"),
        ("shapes.zarr", {"rc": c, "az": np.ones((8, 5), np.complex64)}, "different shapes"),
        ("cube.zarr", {"rc": np.ones((2, 8, 4), np.complex64)}, "not 2-D"),
        ("none.zarr", {"other": c}, "no product arrays"),
    ]
    for name, arrays, message in cases:
        with pytest.raises(ProductError, match=f"{name}.*{message}"):
            open_product(_group_with(tmp_path, name, arrays))


def test_attributes_are_plain_json_on_disk(tmp_path):
    path = write_product(tmp_path / "p.zarr", random_arrays(shape=(8, 4)), ATTRS)
    meta = json.loads((path / "zarr.json").read_text())
    assert meta["attributes"]["seed"] == 3
    assert meta["attributes"]["point_targets"][0]["row"] == 100.25


def test_fixture_products_open(demo_product_dir, demo_product):
    paths = list_products(demo_product_dir)
    assert len(paths) == 2 and paths[0] == demo_product
    product = open_product(demo_product)
    assert product.attrs["scene"] == "mixed" and product.point_targets
    assert product.read("az").shape == (256, 16)


def test_values_are_checked_in_row_slabs_to_the_last_row(tmp_path, monkeypatch):
    arrays = random_arrays(seed=3)
    rows = arrays["rc"].shape[0]
    arrays["rc"][rows - 1, 2] = np.complex64(complex(0.0, np.inf))
    path = write_product(tmp_path / "p.zarr", arrays, ATTRS)
    monkeypatch.setattr(store, "CHECK_BYTES", 1)  # one row at a time
    product = open_product(path)
    with pytest.raises(ProductError, match=rf"1 non-finite value\(s\).*row {rows - 1}, column 2"):
        product.read("rc")
    with pytest.raises(ProductError, match=rf"row {rows - 1}, column 2"):
        product.read("rc", rows=slice(rows - 3, rows), cols=slice(1, 4))
    assert np.isfinite(product.read("rc", rows=slice(0, rows - 1))).all()
