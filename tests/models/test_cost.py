"""Cost accounting against hand counts, and the `sarssm models` command."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from sarssm.cli import main
from sarssm.models import build_model, count_parameters, macs_per_sample, preset_names
from sarssm.models.config import get_config
from sarssm.models.cost import model_cost, preset_table


def _hand_params(C, H, N, layers, act=False, sides=1):
    """S4D: A (2HN as log_neg_re, im) + B (2HN) + C (2HN) + log_dt (H), per side; D (2H);
    mix 2H^2; modReLU H; input projection 2CH; head 2H. The pre-filter has no parameters."""
    block = sides * (6 * H * N + H) + 2 * H + 2 * H * H + H * act
    return 2 * C * H + layers * block + 2 * H


@pytest.mark.parametrize(
    "kw",
    [
        dict(model_dim=3, state_dim=5, num_layers=2),
        dict(model_dim=2, state_dim=4, num_layers=1, activation="modrelu", range_neighbours=2),
        dict(model_dim=2, state_dim=4, num_layers=3, direction="bidirectional"),
    ],
)
def test_parameter_count_matches_hand_count(kw):
    model = build_model("demo-tiny", **kw)
    c = model.config
    sides = 2 if c.direction == "bidirectional" else 1
    hand = _hand_params(
        c.input_channels, c.model_dim, c.state_dim, c.num_layers, c.activation == "modrelu", sides
    )
    assert count_parameters(model) == hand == sum(p.numel() for p in model.parameters())


def test_complex_parameter_counts_two():
    m = nn.Module()
    m.w = nn.Parameter(torch.zeros(3, 4, dtype=torch.cfloat))
    m.b = nn.Parameter(torch.zeros(5))
    assert count_parameters(m) == 2 * 12 + 5


def test_step_macs_hand_count_tiny_model():
    model = build_model("demo-tiny", model_dim=2, state_dim=3, num_layers=1, prefilter_taps=2)
    # pre-filter 4 C (2J + 1) = 20; input projection 4 C H = 8; S4D per channel 12 N + 4 = 40,
    # x2 channels = 80; mix 4 H^2 = 16; head 4 H = 8
    assert macs_per_sample(model, "step") == 20 + 8 + 80 + 16 + 8 == 132
    act = build_model(
        "demo-tiny", model_dim=2, state_dim=3, num_layers=1, prefilter_taps=2, activation="modrelu"
    )
    assert macs_per_sample(act, "step") == 132 + 6 * 2  # modReLU 6 H
    plain = build_model("demo-tiny", model_dim=2, state_dim=3, num_layers=1, geometry="none")
    assert macs_per_sample(plain, "step") == 132 - 20


def test_conv_macs_hand_count():
    model = build_model(
        "demo-tiny", model_dim=2, state_dim=3, num_layers=2, delay=2, prefilter_taps=1
    )
    L, Lp = 8, 10  # each layer runs on L + delay samples, FFT of n = 2 (L + delay)
    n = 2 * Lp
    fft = 2 * n * math.log2(n)  # (n/2) log2 n complex multiplies, 4 real MACs each
    per_layer = 2 * ((2 * fft + 4 * n) / Lp + 4) + 16  # S4D, mix
    expected = (12 + 8 + 2 * per_layer + 8) * Lp / L  # pre-filter 12, input projection 8
    assert macs_per_sample(model, "conv", L) == pytest.approx(expected, rel=1e-12)
    bidir = build_model("demo-tiny", model_dim=2, state_dim=3, direction="bidirectional")
    assert macs_per_sample(bidir, "step") is None
    assert macs_per_sample(bidir, "conv", 8) > 0
    with pytest.raises(ValueError, match="length"):
        macs_per_sample(model, "conv")


def test_model_cost_fields():
    cost = model_cost(build_model("demo-ultra"))
    assert cost["length"] == 256 and cost["pole_budget"] == 64
    assert cost["data_tbp"] == pytest.approx(38.2, abs=0.1)
    assert cost["params"] == count_parameters(build_model("demo-ultra"))


def test_preset_table_and_cli_json(capsys):
    rows = {r["name"]: r for r in preset_table(128)}
    assert list(rows) == preset_names()
    for name, r in rows.items():
        teacher = "demo-teacher" if name.startswith("demo-") else "teacher"
        assert r["compression"] == pytest.approx(rows[teacher]["params"] / r["params"])
        assert r["length"] == 128
        c = get_config(name)
        assert r["pole_budget"] == c.num_layers * c.model_dim * c.state_dim
    assert rows["standard"]["params"] == _hand_params(1, 64, 540, 6)
    for r in rows.values():  # every causal preset reports the floor its delay implies
        assert r["truncation_floor_db"] <= -35.0 + 1e-9 and r["prefilter_error_db"] <= -40.0
    assert rows["ultra"]["compression"] > rows["tiny"]["compression"] > 1
    assert main(["models", "--json", "--length", "128"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in printed] == preset_names()
    assert printed[1]["macs_conv"] == pytest.approx(rows["standard"]["macs_conv"])
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "demo-ultra" in table and "data TBP" in table and "floor dB" in table
    assert main(["models", "--length", "0"]) == 2


def test_selective_layer_macs_hand_count():
    from sarssm.models.selective import SelectiveSSM

    scan = SelectiveSSM(2, 3, selectivity="scan")
    # features 2 H; per direction H^2 + 30 H N; D u 4 H: 4 + (4 + 180) + 8
    assert scan.macs_per_sample("step", 1) == 196.0
    assert scan.macs_per_sample("conv", 64) == 196.0  # the off-line scan: same recurrence
    both = SelectiveSSM(2, 3, selectivity="scan", direction="bidirectional")
    assert both.macs_per_sample("conv", 64) == 4.0 + 2 * 184.0 + 8.0
    gate = SelectiveSSM(2, 3, selectivity="gate")
    # S4D 2 (12 * 3 + 4) = 80, gate: features 2 H, linear map H^2, g u 2 H = 12
    assert gate.macs_per_sample("step", 1) == 92.0


def test_teacher_presets_have_mac_counts():
    from sarssm.models import build_model, macs_per_sample

    model = build_model("demo-teacher")
    assert macs_per_sample(model, "step") > macs_per_sample(build_model("demo-standard"), "step")
