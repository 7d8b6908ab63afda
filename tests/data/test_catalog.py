from pathlib import Path

import pytest

from sarssm.data.catalog import Filters, SplitConfig, product_metadata, split_products
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
    with pytest.raises(ConfigError, match="not found"):
        split_products(paths, SplitConfig(train=["nope.zarr"]))
    with pytest.raises(ConfigError, match="more than one split"):
        split_products(paths, SplitConfig(train=["p0.zarr"], val=["p0.zarr"]))


def test_too_few_products_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"too few|none for training"):
        split_products([Path("a.zarr"), Path("b.zarr")], SplitConfig())
    with pytest.raises(ConfigError, match="leave training data"):
        SplitConfig(val_fraction=0.5, test_fraction=0.5)
