from pathlib import Path

import numpy as np
import pytest
import torch

from sarssm.config import from_dict
from sarssm.data.datamodule import DataConfig, SarDataModule
from sarssm.data.patches import ProductCache
from sarssm.data.store import open_product
from sarssm.errors import ConfigError


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> Path:
    from sarssm.sim.simulate import simulate

    out = tmp_path_factory.mktemp("dm")
    simulate(out, "demo", "mixed", n_products=6, seed=11, snr_db=25.0, progress=False)
    return out


def make_dm(path: Path, **changes) -> SarDataModule:
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
    dm = SarDataModule(from_dict(DataConfig, data, "data"))
    dm.setup("fit")
    return dm


def test_batches_hold_signal_positional_channel_and_target(products):
    dm = make_dm(products)
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (8, 128, 2) and batch["x"].dtype == torch.complex64
    assert batch["y"].shape == (8, 128) and batch["y"].dtype == torch.complex64
    # check one sequence against the product on disk, scaled by the fitted scales
    p, r, c = batch["loc"][0].tolist()
    entry = dm.splits["train"][p]
    product = open_product(entry.path)
    rc = product.read("rc", rows=slice(r, r + 128), cols=slice(c, c + 1))[:, 0]
    az = product.read("az", rows=slice(r, r + 128), cols=slice(c, c + 1))[:, 0]
    np.testing.assert_allclose(batch["x"][0, :, 0].numpy(), rc / dm.scaler.input_scale, rtol=1e-6)
    np.testing.assert_allclose(batch["y"][0].numpy(), az / dm.scaler.target_scale, rtol=1e-6)
    pos = batch["x"][0, :, 1].numpy()
    # azimuth position runs linearly over the product rows, range position is constant
    np.testing.assert_allclose(pos.imag, 2 * (r + np.arange(128)) / (entry.rows - 1) - 1, atol=1e-6)
    assert np.ptp(pos.real) == 0 and -1 <= pos.real[0] <= 1
    # the second column of the patch sits one range bin further: larger range position
    assert batch["x"][1, 0, 1].real > batch["x"][0, 0, 1].real


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
