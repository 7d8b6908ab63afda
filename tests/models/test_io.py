"""save_model / load_model: identical outputs, atomic overwrite, clear errors."""

from __future__ import annotations

import pytest
import torch
import yaml

from sarssm.models import build_model, load_model, save_model
from sarssm.models.errors import ModelFileError

R0 = torch.tensor([64_000.0, 68_000.0])


def _x(dtype=torch.complex64):
    return torch.randn(2, 30, 1, generator=torch.Generator().manual_seed(0), dtype=dtype)


@pytest.mark.parametrize("spec", ["demo-tiny", "demo-teacher"])
def test_round_trip_gives_identical_outputs(tmp_path, spec):
    torch.manual_seed(0)
    model = build_model(spec, num_layers=2, init="lin").eval()
    with torch.no_grad():
        for p in model.parameters():  # move away from the init so nothing is re-derived
            p.add_(0.01 * torch.randn_like(p))
    path = save_model(model, tmp_path / "m")
    assert sorted(f.name for f in path.iterdir()) == ["model.safetensors", "model.yaml"]
    loaded = load_model(path)
    assert loaded.config == model.config and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(_x(), R0), model(_x(), R0))


def test_float64_round_trip_and_overwrite(tmp_path):
    torch.manual_seed(1)
    a = build_model("demo-ultra").double().eval()
    save_model(a, tmp_path / "m")
    b = build_model("demo-ultra", state_dim=8).eval()
    save_model(b, tmp_path / "m")  # replaces the folder atomically
    loaded = load_model(tmp_path / "m")
    assert loaded.config.state_dim == 8
    save_model(a, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.head.weight.dtype == torch.float64
    assert torch.equal(loaded(_x(torch.complex128), R0), a(_x(torch.complex128), R0))
    with pytest.raises(FileExistsError):
        save_model(a, tmp_path / "m", overwrite=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelFileError, match="model config not found"):
        load_model(tmp_path / "nothing")
    path = save_model(build_model("demo-ultra"), tmp_path / "m")
    (path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelFileError, match="cannot read the weights"):
        load_model(path)
    (path / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="weights not found"):
        load_model(path)
    (path / "model.yaml").write_text("{not: [valid")
    with pytest.raises(ModelFileError, match="not valid YAML"):
        load_model(path)
    (path / "model.yaml").write_text("a: 1\n")
    with pytest.raises(ModelFileError, match="not a sarssm model config"):
        load_model(path)


def test_config_weights_mismatch_names_tensor_and_shapes(tmp_path):
    path = save_model(build_model("demo-ultra"), tmp_path / "m")
    data = yaml.safe_load((path / "model.yaml").read_text())
    data["model"]["state_dim"] = 7
    (path / "model.yaml").write_text(yaml.safe_dump(data))
    shapes = r"tensor 'blocks\.0\.ssm\.kernel\.\w+' has shape \(1, 32(, 2)?\) but .* needs \(1, 7"
    with pytest.raises(ModelFileError, match=shapes):
        load_model(path)
    data["model"]["state_dim"] = 32
    data["model"]["num_layers"] = 3
    (path / "model.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ModelFileError, match=r"missing \['blocks.2"):
        load_model(path)
    data["model"]["num_layers"] = "two"
    (path / "model.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ModelFileError, match="num_layers: expected an integer"):
        load_model(path)


def test_saved_config_is_resolved_and_old_formats_are_refused(tmp_path):
    path = save_model(build_model("demo-tiny"), tmp_path / "m")
    data = yaml.safe_load((path / "model.yaml").read_text())
    model = data["model"]  # explicit: a later change of defaults cannot change a saved model
    assert model["delay"] > 0 and model["prefilter_taps"] > 0
    assert model["reference"]["range_m"] == 66_300.0
    old = {
        "format": "sarssm-model/1",
        "model": {"name": "demo-tiny", "input_channels": 2, "model_dim": 4},
    }
    (path / "model.yaml").write_text(yaml.safe_dump(old))
    match = r"format 'sarssm-model/1'.*positional channel.*retrain"
    with pytest.raises(ModelFileError, match=match):
        load_model(path)
