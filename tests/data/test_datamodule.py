from pathlib import Path

import numpy as np
import pytest
import torch

from sarssm.config import from_dict
from sarssm.data.datamodule import DataConfig, SarDataModule
from sarssm.data.patches import ProductCache
from sarssm.data.store import open_product
from sarssm.errors import ConfigError, ProductError
from sarssm.models import resolve_config


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> Path:
    from sarssm.sim.simulate import simulate

    out = tmp_path_factory.mktemp("dm")
    simulate(out, "demo", "mixed", n_products=6, seed=11, snr_db=25.0, progress=False)
    return out


def make_dm(path: Path, model: str | dict = "demo-tiny", **changes) -> SarDataModule:
    data = {
        "path": str(path),
        "patch_size": [128, 2],
        "stride": [64, 2],
        "samples_per_epoch": 16,
        "batch_size": 4,
        "norm_patches": 32,
        "loss_margin": 16,
        "split": {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 1},
    }
    data.update(changes)
    dm = SarDataModule(from_dict(DataConfig, data, "data"), resolve_config(model))
    dm.setup("fit")
    return dm


def test_batches_hold_the_signal_its_slant_range_and_the_target(products):
    dm = make_dm(products)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "y", "slant_range", "labelled", "loc"}
    assert bool(batch["labelled"].all())  # every product here has its target
    assert batch["x"].shape == (8, 128, 1) and batch["x"].dtype == torch.complex64
    assert batch["y"].shape == (8, 128) and batch["y"].dtype == torch.complex64
    assert batch["slant_range"].shape == (8,) and batch["slant_range"].dtype == torch.float64
    # check one sequence against the product on disk, scaled by the fitted scales
    p, r, c = batch["loc"][0].tolist()
    entry = dm.splits["train"][p]
    product = open_product(entry.path)
    rc = product.read("rc", rows=slice(r, r + 128), cols=slice(c, c + 1))[:, 0]
    az = product.read("az", rows=slice(r, r + 128), cols=slice(c, c + 1))[:, 0]
    np.testing.assert_allclose(batch["x"][0, :, 0].numpy(), rc / dm.scaler.input_scale, rtol=1e-6)
    np.testing.assert_allclose(batch["y"][0].numpy(), az / dm.scaler.target_scale, rtol=1e-6)
    geo = product.geometry
    assert float(batch["slant_range"][0]) == geo.near_range_m + c * geo.range_spacing_m
    # the second column of the patch sits one range bin further
    assert float(batch["slant_range"][1] - batch["slant_range"][0]) == pytest.approx(
        geo.range_spacing_m
    )


def test_range_neighbours_are_channels_and_keep_off_the_edges(products):
    dm = make_dm(products, model={"preset": "demo-tiny", "range_neighbours": 2})
    locs, xs = [], []
    for batch in dm.train_dataloader():
        locs.append(batch["loc"])
        xs.append(batch["x"])
    loc, x = torch.cat(locs), torch.cat(xs)
    assert x.shape[-1] == 5
    cols = loc[:, 2]
    assert int(cols.min()) >= 2 and int(cols.max()) + 2 <= 16 - 2  # every neighbour exists
    p, r, c = loc[0].tolist()
    rc = open_product(dm.splits["train"][p].path).read("rc", rows=slice(r, r + 128))
    for i in range(5):  # channel i is column c - 2 + i
        np.testing.assert_allclose(
            x[0, :, i].numpy(), rc[:, c - 2 + i] / dm.scaler.input_scale, rtol=1e-6
        )


ALL = {"val_fraction": 0.0, "test_fraction": 0.0}  # one product, all for training


def test_products_the_model_cannot_read_are_refused(products, tmp_path):
    import shutil

    with pytest.raises(ProductError, match=r"the model reads level 'rcmc'.*levels"):
        from sarssm.data.store import write_product

        src = open_product(sorted(products.glob("*.zarr"))[0])
        write_product(tmp_path / "a" / "p.zarr", {"rc": src.read("rc"), "az": src.read("az")},
                      src.attrs)  # fmt: skip
        make_dm(tmp_path / "a", model={"preset": "demo-tiny", "input_level": "rcmc"}, split=ALL)
    attrs = dict(open_product(sorted(products.glob("*.zarr"))[0]).attrs)
    del attrs["geometry"]
    shutil.rmtree(tmp_path / "a")
    write_product(tmp_path / "b" / "p.zarr", {"rc": src.read("rc"), "az": src.read("az")}, attrs)
    with pytest.raises(ProductError, match=r"no 'geometry' attribute.*slant range"):
        make_dm(tmp_path / "b", split=ALL)
    far = {**attrs, "geometry": {**src.attrs["geometry"], "near_range_m": 90_000.0}}
    write_product(tmp_path / "c" / "p.zarr", {"rc": src.read("rc"), "az": src.read("az")}, far)
    with pytest.raises(ConfigError, match=r"slant range 90\.000-.*outside the model's"):
        make_dm(tmp_path / "c", split=ALL)


def test_splits_are_disjoint_and_scaler_uses_training_products_only(products):
    dm = make_dm(products)
    names = {k: {e.path.name for e in v} for k, v in dm.splits.items()}
    assert not (names["train"] & names["val"] or names["train"] & names["test"])
    assert len(names["train"]) + len(names["val"]) + len(names["test"]) == 6
    # the scales are RMS amplitudes of the training products' rc and az
    rms_in = np.sqrt(
        np.mean([np.mean(np.abs(open_product(e.path).read("rc")) ** 2) for e in dm.splits["train"]])
    )
    assert dm.scaler.input_scale == pytest.approx(rms_in, rel=0.25)
    assert np.isfinite(dm.scaler.target_scale) and dm.scaler.target_scale > 0


def test_normalised_input_has_unit_rms_over_training_patches(products):
    dm = make_dm(products, samples_per_epoch=64)
    x = torch.cat([b["x"][..., 0] for b in dm.train_dataloader()])
    assert float(x.abs().square().mean().sqrt()) == pytest.approx(1.0, rel=0.2)


def test_eval_loaders_tile_the_held_out_products(products):
    dm = make_dm(products)
    locs = torch.cat([b["loc"] for b in dm.val_dataloader()])
    rows = sorted({int(r) for r in locs[:, 1]})
    assert rows == [0, 64, 128]  # 256 rows, length 128, stride 64
    assert len(dm.test_dataloader()) > 0


def test_training_draws_change_with_the_epoch(products):
    dm = make_dm(products)
    loader = dm.train_dataloader()
    first = torch.cat([b["loc"] for b in loader])
    loader.sampler.set_epoch(1)
    second = torch.cat([b["loc"] for b in loader])
    assert not torch.equal(first, second)


def test_bad_data_config_is_rejected(products, tmp_path):
    with pytest.raises(ConfigError, match="loss_margin"):
        make_dm(products, loss_margin=64)
    with pytest.raises(ConfigError, match="patch_size"):
        make_dm(products, patch_size=[0, 1])
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(DataConfig, {"pach_size": [1, 1]}, "data")
    with pytest.raises(Exception, match="no"):
        make_dm(tmp_path)  # an empty folder: no products


def test_product_cache_is_bounded(products):
    paths = sorted(products.glob("*.zarr"))
    one = open_product(paths[0])
    nbytes = int(np.prod(one.shape)) * 8
    cache = ProductCache(max_bytes=2 * nbytes)
    for path in paths[:4]:
        cache.read(path, "rc", slice(0, 4), slice(0, 1))
    assert len(cache) == 2  # the oldest products were evicted
    direct = one.read("rc", rows=slice(5, 9), cols=slice(2, 3))
    np.testing.assert_array_equal(cache.read(paths[0], "rc", slice(5, 9), slice(2, 3)), direct)
