import numpy as np
import pytest
import torch

from sarssm.data.normalize import ComplexScaler
from sarssm.data.patches import model_input, range_positions
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
    rows, cols = product.shape
    c = 7
    signal = product.read("rc")[:, c : c + 1].T / 2.0
    x = model_input(signal, range_positions(cols, product.attrs)[c : c + 1], 0, rows)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()[0] * 3.0
    np.testing.assert_allclose(pred[:, c], expected, rtol=1e-5, atol=1e-6)


def test_evaluate_products_groups_by_scene(demo_product_dir):
    torch.manual_seed(0)
    net = build_model("demo-tiny", state_dim=8, num_layers=1)
    paths = sorted(demo_product_dir.glob("*.zarr"))
    out = evaluate_products(net, paths, ComplexScaler(1.0, 1.0), margin=32)
    assert out["mean"]["products"] == 2 and set(out["by_scene"]) == {"mixed"}
    assert out["by_scene"]["mixed"]["nmse_db"] == pytest.approx(out["mean"]["nmse_db"])
