import numpy as np
import pytest
import torch

from sarssm.data.normalize import ComplexScaler
from sarssm.data.store import open_product
from sarssm.eval.products import evaluate_product, evaluate_products, predict_product
from sarssm.models import build_model


def test_evaluate_product_closed_forms(demo_product):
    product = open_product(demo_product)
    az = product.read("az")
    result = evaluate_product(az * 1.1, product, margin=32)
    assert result["nmse_db"] == pytest.approx(20 * np.log10(0.1), abs=1e-4)  # complex64
    assert result["collapse_ratio"] == pytest.approx(1.1, rel=1e-6)
    assert result["coherence"] == pytest.approx(1.0, abs=1e-9)
    assert result["point_targets"], "the mixed scene has point targets"
    for t in result["point_targets"]:
        m, r = t["model"], t["reference"]
        assert m["pslr_db"] == pytest.approx(r["pslr_db"], abs=1e-6)  # scaling keeps the shape
        assert m["amplitude_error_db"] == pytest.approx(
            r["amplitude_error_db"] + 20 * np.log10(1.1), abs=1e-4
        )


def test_unfocused_prediction_is_reported_not_raised(demo_product):
    product = open_product(demo_product)
    noise = np.random.default_rng(0).normal(size=product.shape) * 1e-9
    result = evaluate_product(noise.astype(np.complex64), product, margin=32)
    assert result["point_targets"]
    for t in result["point_targets"]:
        assert t["reference"]["error"] is None
        assert t["model"]["error"] or t["model"]["pslr_db"] is not None


def test_predict_product_matches_the_model_on_each_column(demo_product):
    torch.manual_seed(0)
    net = build_model("demo-tiny", state_dim=8, num_layers=1)
    product = open_product(demo_product)
    scaler = ComplexScaler(input_scale=2.0, target_scale=3.0)
    pred = predict_product(net, product, scaler, batch_columns=5)
    c = 7
    signal = product.read("rc")[:, c].astype(np.complex64) / 2.0
    geo = product.geometry
    r0 = torch.tensor([geo.near_range_m + c * geo.range_spacing_m], dtype=torch.float64)
    with torch.no_grad():
        expected = net(torch.from_numpy(signal)[None, :, None], r0).numpy()[0] * 3.0
    np.testing.assert_allclose(pred[:, c], expected, rtol=1e-5, atol=1e-6)


def test_predict_product_with_range_neighbours_pads_the_edges_with_zeros(demo_product):
    torch.manual_seed(0)
    net = build_model("demo-tiny", state_dim=8, num_layers=1, range_neighbours=1)
    product = open_product(demo_product)
    pred = predict_product(net, product, ComplexScaler(1.0, 1.0), batch_columns=4)
    rc = product.read("rc")
    geo = product.geometry
    for c in (0, 6, 15):  # the first and last columns see a zero neighbour
        cols = [rc[:, k] if 0 <= k < rc.shape[1] else np.zeros(rc.shape[0]) for k in
                (c - 1, c, c + 1)]  # fmt: skip
        x = torch.from_numpy(np.stack(cols, -1).astype(np.complex64))[None]
        r0 = torch.tensor([geo.near_range_m + c * geo.range_spacing_m], dtype=torch.float64)
        with torch.no_grad():
            expected = net(x, r0).numpy()[0]
        np.testing.assert_allclose(pred[:, c], expected, rtol=1e-5, atol=1e-6)


def test_evaluate_products_groups_by_scene(demo_product_dir):
    torch.manual_seed(0)
    net = build_model("demo-tiny", state_dim=8, num_layers=1)
    paths = sorted(demo_product_dir.glob("*.zarr"))
    out = evaluate_products(net, paths, ComplexScaler(1.0, 1.0), margin=32)
    assert out["mean"]["products"] == 2 and set(out["by_scene"]) == {"mixed"}
    assert out["by_scene"]["mixed"]["nmse_db"] == pytest.approx(out["mean"]["nmse_db"])


@pytest.mark.parametrize("name", ["demo-tiny", "demo-teacher"])
def test_the_same_scene_as_a_256_and_a_512_row_product_focuses_the_same(tmp_path, name):
    """A causal model's output at a row depends on the rows up to its delay after it, not on
    the product's length: on rows [0, 256 - delay) the two products give the same output."""
    from sarssm.data.store import write_product
    from sarssm.sim.simulate import simulate

    (long_path,) = simulate(tmp_path, "demo", "mixed", 1, seed=5, n_azimuth=512, progress=False)
    long = open_product(long_path)
    attrs = {**long.attrs, "geometry": {**long.attrs["geometry"], "n_azimuth": 256}}
    arrays = {level: long.read(level)[:256] for level in long.levels}
    short = open_product(write_product(tmp_path / "short.zarr", arrays, attrs))
    torch.manual_seed(0)
    net = build_model(name)
    with torch.no_grad():  # selection away from its zero init: input-dependent, not LTI
        for pname, p in net.named_parameters():
            if "proj" in pname and "input_proj" not in pname:
                p.normal_(0.0, 0.3 / np.sqrt(net.config.model_dim))
    scaler = ComplexScaler(1.0, 1.0)
    a, b = predict_product(net, long, scaler), predict_product(net, short, scaler)
    shared = 256 - net.delay
    np.testing.assert_allclose(b[:shared], a[:shared], rtol=0, atol=1e-5 * np.abs(a).max())
    assert np.abs(b[shared:] - a[shared:256]).max() > 1e-3 * np.abs(a).max()  # look-ahead cut
