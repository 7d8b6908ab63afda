"""`sarssm evaluate`: every entry's metrics against independent numpy computations."""

import json

import numpy as np
import pytest
import torch

from sarssm.cli import main
from sarssm.data.normalize import ComplexScaler
from sarssm.data.store import open_product
from sarssm.errors import SarssmError
from sarssm.eval.evaluate import ENTRY_KEYS as REQUIRED
from sarssm.eval.evaluate import (
    Entry,
    default_margin,
    default_name,
    model_folder,
    patch_metrics,
    predict,
    run_evaluation,
)
from sarssm.eval.products import predict_product
from sarssm.models import build_model, save_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """An untrained demo-tiny saved as a run's best/ folder (with its scales)."""
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("run") / "tiny-run"
    best = run / "best"
    save_model(build_model("demo-tiny", state_dim=8, num_layers=1), best)
    ComplexScaler(input_scale=2.0, target_scale=0.5).save(best / "normalization.json")
    return run


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from sarssm.sim.simulate import simulate

    out = tmp_path_factory.mktemp("eval_products")
    simulate(out, "demo", "mixed", 1, seed=3, snr_db=30.0, progress=False)
    simulate(out, "demo", "points", 1, seed=4, progress=False)
    return out


@pytest.fixture(scope="module")
def evaluated(model_dir, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    metrics = run_evaluation([f"tiny={model_dir}"], data_dir, out, echo=lambda *_: None)
    return metrics, out


def nmse_db(pred, target):
    return 10 * np.log10(np.sum(np.abs(pred - target) ** 2) / np.sum(np.abs(target) ** 2))


def test_every_entry_has_every_metric_and_the_files_are_written(evaluated):
    metrics, out = evaluated
    assert list(metrics["models"]) == ["tiny", "reference", "pass-through"]
    for name, entry in metrics["models"].items():
        for key in REQUIRED:
            assert key in entry, (name, key)
        assert set(entry["by_scene"]) == {"mixed", "points"}
        assert entry["patch"]["window"] and entry["patch"]["patches"] > 0
    tiny, ref = metrics["models"]["tiny"], metrics["models"]["reference"]
    for key in REQUIRED:  # an untrained model focuses no point target: those are the reference's
        value = (
            ref[key] if key in ("pslr_db", "irw_ratio", "islr_db", "phase_error_rad") else tiny[key]
        )
        assert value is not None and np.isfinite(value), key
    assert tiny["latency_ms_per_column"] > 0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["models"]["tiny"]["nmse_db"] == pytest.approx(tiny["nmse_db"])
    report = (out / "report.md").read_text()
    for section in (
        "## All metrics",
        "## Patch windows",
        "## By scene type",
        "## Point targets",
        "## Information retention",
        "## Distribution",
    ):
        assert section in report, section
    for rel in metrics["figures"].values():
        assert (out / rel).stat().st_size > 1000, rel
    assert set(metrics["figures"]) == {"amplitude", "point_target", "distributions", "tradeoff"}


def test_model_metrics_equal_numpy_on_the_product_window(evaluated, model_dir, data_dir):
    metrics, _ = evaluated
    from sarssm.models import load_model

    net = load_model(model_dir / "best")
    scaler = ComplexScaler.load(model_dir / "best" / "normalization.json")
    for row in metrics["models"]["tiny"]["per_product"]:
        product = open_product(data_dir / row["product"])
        m = default_margin(product)
        assert m == int(np.ceil(product.geometry.aperture_samples().max() / 2))
        pred = predict_product(net, product, scaler)
        az = product.read("az")
        w = slice(m, az.shape[0] - m)
        assert row["nmse_db"] == pytest.approx(nmse_db(pred[w], az[w]), abs=1e-3)
        std = lambda z: np.sqrt(np.mean(np.abs(z - z.mean()) ** 2))  # noqa: E731
        assert row["collapse_ratio"] == pytest.approx(std(pred[w]) / std(az[w]), rel=1e-4)


def test_reference_reproduces_the_ground_truth_and_the_pass_through_is_energy_matched(
    evaluated, data_dir
):
    metrics, _ = evaluated
    ref = metrics["models"]["reference"]
    assert ref["coherence"] == pytest.approx(1.0, abs=1e-6)
    assert ref["pslr_db"] == pytest.approx(ref["reference_pslr_db"], abs=0.05)
    assert ref["point_targets_measured"] > 0
    product = open_product(sorted(data_dir.glob("*.zarr"))[0])
    x = predict(Entry("p", "pass-through"), product, "rc")
    az = product.read("az")
    rc = product.read("rc").astype(np.complex128)
    gain = np.sqrt(np.sum(np.abs(az) ** 2) / np.sum(np.abs(rc) ** 2))
    np.testing.assert_allclose(x, rc * gain, rtol=1e-5, atol=1e-6 * np.abs(x).max())
    # an unfocused input is far from the ground truth
    assert metrics["models"]["pass-through"]["nmse_db"] > -3


def test_patch_metrics_match_a_slow_loop():
    rng = np.random.default_rng(1)
    target = (rng.normal(size=(300, 3)) + 1j * rng.normal(size=(300, 3))).astype(np.complex64)
    pred = target + 0.1 * (rng.normal(size=target.shape) + 1j * rng.normal(size=target.shape))
    out = patch_metrics(pred, target, rows=100)
    assert out["window"] == "100x1" and out["patches"] == 9
    psnr = []
    for c in range(3):
        for r in range(0, 300, 100):
            t, p = target[r : r + 100, c], pred[r : r + 100, c]
            rms = np.sqrt(np.mean((np.abs(p) - np.abs(t)) ** 2))
            psnr.append(20 * np.log10(np.abs(t).max() / rms))  # each patch's own peak
    assert out["psnr_db"] == pytest.approx(np.mean(psnr), abs=1e-3)
    short = patch_metrics(pred[:50], target[:50], rows=1000)
    assert short["window"] == "50x1" and short["patches"] == 3


def test_model_folders_and_names(model_dir, tmp_path):
    assert model_folder(model_dir) == model_dir / "best"
    assert default_name(model_dir / "best") == "tiny-run"
    assert default_name(tmp_path / "demo-tiny" / "baseline" / "final_student_model") == (
        "demo-tiny-baseline"
    )
    with pytest.raises(SarssmError, match=r"no model\.yaml"):
        model_folder(tmp_path)
    with pytest.raises(SarssmError, match="no such folder"):
        model_folder(tmp_path / "missing")


def test_cli_refuses_products_without_ground_truth(model_dir, tmp_path, capsys):
    from sarssm.sim.simulate import simulate

    simulate(tmp_path / "rc", "demo", "mixed", 1, seed=5, progress=False, levels=["rc"])
    code = main(
        [
            "evaluate",
            "--model",
            str(model_dir),
            "--data",
            str(tmp_path / "rc"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    assert "no 'az' array" in capsys.readouterr().err
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(tmp_path / "nope"),
                "--data",
                str(tmp_path / "rc"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
