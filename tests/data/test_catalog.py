from pathlib import Path

import pytest

from sarssm.data.catalog import (
    Filters,
    SplitConfig,
    parse_group_name,
    product_metadata,
    read_product_list,
    split_products,
)
from sarssm.errors import ConfigError

MAYA4 = [
    "s1a-s1-raw-s-vv-20230105t101010-20230105t101030-046600-059999.zarr",
    "s1a-s1-raw-s-vh-20230105t101010-20230105t101030-046600-059999.zarr",
    "s1b-s3-raw-s-hh-20210712t050505-20210712t050525-038000-0a1b2c.zarr",
    "s1a-s2-raw-s-vv-20240320t000000-20240320t000020-053000-0ffff0.zarr",
]


def test_maya4_names_give_year_and_polarisation():
    meta = product_metadata(Path(MAYA4[2]))
    assert meta["year"] == 2021 and meta["polarization"] == "hh"
    assert meta["mission"] == "s1b" and meta["swath"] == "3" and meta["orbit"] == "038000"
    assert product_metadata(Path("sim.zarr"), {"polarization": "VV"}) == {"polarization": "vv"}


def test_filters_by_year_and_polarisation():
    paths = [Path(n) for n in MAYA4]
    cfg = SplitConfig(
        val_fraction=0.0,
        test_fraction=0.0,
        filters=Filters(years=[2023, 2024], polarizations=["VV"]),
    )
    out = split_products(paths, cfg)
    assert [p.name[:17] for p in out["train"]] == [MAYA4[0][:17], MAYA4[3][:17]]
    with pytest.raises(ConfigError, match="keep none"):
        split_products(paths, SplitConfig(filters=Filters(years=[1999])))
    with pytest.raises(ConfigError, match="polarisation"):
        Filters(polarizations=["xx"])


def test_fraction_split_is_disjoint_complete_and_seeded():
    paths = [Path(f"p{i:02d}.zarr") for i in range(20)]
    cfg = SplitConfig(val_fraction=0.2, test_fraction=0.1, seed=3)
    out = split_products(paths, cfg)
    sets = [set(out[k]) for k in ("train", "val", "test")]
    assert len(sets[1]) == 4 and len(sets[2]) == 2 and len(sets[0]) == 14
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert set.union(*sets) == set(paths)
    assert split_products(paths, cfg) == out  # same seed, same split
    assert split_products(paths, SplitConfig(val_fraction=0.2, test_fraction=0.1, seed=4)) != out


def test_explicit_split_and_its_errors():
    paths = [Path(f"p{i}.zarr") for i in range(4)]
    cfg = SplitConfig(train=["p0.zarr", "p1.zarr"], val=["p2.zarr"], test=["p3.zarr"])
    out = split_products(paths, cfg)
    assert [p.name for p in out["val"]] == ["p2.zarr"]
    with pytest.raises(ConfigError, match=r"data.split.train: 1 of 2 listed.*\(nope\); strict"):
        split_products(paths, SplitConfig(train=["p0.zarr", "nope.zarr"], strict=True))
    warned: list[str] = []
    out = split_products(paths, SplitConfig(train=["p0.zarr", "nope.zarr"]), warn=warned.append)
    assert out["train"] == [Path("p0.zarr")] and out["val"] == out["test"] == []
    assert len(warned) == 1 and "1 of 2 listed products are not among the 4 found" in warned[0]
    with pytest.raises(ConfigError, match="more than one split"):
        split_products(paths, SplitConfig(train=["p0.zarr"], val=["p0"]))
    twice = SplitConfig(train=["p0", "p0.zarr", "p1"], val=["p2.zarr"])  # one product, two forms
    assert split_products(paths, twice)["train"] == [Path("p0.zarr"), Path("p1.zarr")]


def test_too_few_products_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"too few|none for training"):
        split_products([Path("a.zarr"), Path("b.zarr")], SplitConfig())
    with pytest.raises(ConfigError, match="leave training data"):
        SplitConfig(val_fraction=0.5, test_fraction=0.5)


def test_split_list_files_partial_downloads_and_filters(tmp_path):
    """The published split's list files: names with or without .zarr, comments and blank
    lines; a listed product missing from the folder is counted and left out (or refused with
    strict); a listed product the filters leave out is counted too."""
    paths = [Path(n) for n in MAYA4]
    train = tmp_path / "train_files.txt"
    train.write_text(f"# train\n{MAYA4[0]}\n\n{MAYA4[1][:-5]}\ns1a-s1-raw-s-vv-gone.zarr\n")
    (tmp_path / "test_files.txt").write_text(f"data/{MAYA4[3]}\n")
    assert read_product_list(train) == [MAYA4[0], MAYA4[1][:-5], "s1a-s1-raw-s-vv-gone.zarr"]
    cfg = SplitConfig(
        train_file=str(train),
        test_file=str(tmp_path / "test_files.txt"),
        filters=Filters(polarizations=["vv"]),
    )
    warned: list[str] = []
    out = split_products(paths, cfg, warn=warned.append)
    assert out == {"train": [paths[0]], "val": [], "test": [paths[3]]}
    assert any("1 of 3 listed products are not among the 4 found" in w for w in warned)
    assert any("1 listed products left out by the filters" in w for w in warned)
    with pytest.raises(ConfigError, match=r"train_file .*train_files.txt: 1 of 3.*strict"):
        split_products(paths, SplitConfig(train_file=str(train), strict=True))
    with pytest.raises(ConfigError, match="no such product list file"):
        split_products(paths, SplitConfig(train_file=str(tmp_path / "nope.txt")))
    with pytest.raises(ConfigError, match="train and train_file are both given"):
        SplitConfig(train=[MAYA4[0]], train_file=str(train))


def test_filters_by_swath_and_group_names():
    paths = [Path(n) for n in MAYA4]
    cfg = SplitConfig(val_fraction=0.0, test_fraction=0.0, filters=Filters(swaths=[1, 2]))
    assert split_products(paths, cfg)["train"] == sorted([paths[0], paths[1], paths[3]])
    with pytest.raises(ConfigError, match="not stripmap beams 1-6"):
        Filters(swaths=[7])
    name = parse_group_name(MAYA4[2])
    assert name["swath"] == 3 and name["orbit"] == 38000 and name["start"].year == 2021
    assert parse_group_name("product-000.zarr") is None
