"""SarSSM stack: shapes, errors, feature taps, delay alignment, streaming == forward."""

from __future__ import annotations

import math

import pytest
import torch

from sarssm.models import SarSSM, build_model
from sarssm.models.errors import ModelInputError, StepModeError
from sarssm.models.stack import SarSSMState


def _x(B, L, C=2, dtype=torch.complex128, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, L, C, generator=g, dtype=dtype)


def _rel(a, b) -> float:
    return ((a - b).norm() / b.norm()).item()


def _model(spec="demo-tiny", seed=0, dtype=torch.float64, **kw) -> SarSSM:
    torch.manual_seed(seed)
    return build_model(spec, **kw).to(dtype).eval()


@pytest.mark.parametrize("B", [1, 3])
def test_output_shapes_and_feature_taps(B):
    model = _model(num_layers=3)
    y = model(_x(B, 20))
    assert y.shape == (B, 20) and y.dtype == torch.complex128
    y2, feats = model(_x(B, 20), return_features=True)
    assert torch.equal(y, y2)
    assert list(feats) == ["blocks.0", "blocks.1", "blocks.2"]
    for name, f in feats.items():
        assert f.shape == (B, 20, model.config.model_dim) and f.is_complex()
        assert model.get_submodule(name) is model.blocks[int(name.split(".")[1])]
    # the last tap, through the head, is the output
    assert torch.allclose(model.head(feats["blocks.2"])[..., 0], y)
    # a forward hook on the addressable block sees the same tensor as the tap (raw mode)
    seen = {}
    model.get_submodule("blocks.1").register_forward_hook(lambda m, i, o: seen.update(o=o))
    _, raw = model(_x(B, 20), aligned=False, return_features=True)
    assert torch.equal(seen["o"], raw["blocks.1"])


def test_input_errors():
    model = _model()
    with pytest.raises(ModelInputError, match=r"real dtype torch.float64 with shape \(1, 8, 2\)"):
        model(torch.zeros(1, 8, 2, dtype=torch.float64))
    with pytest.raises(ModelInputError, match=r"C=2 channels, got shape \(1, 8, 3\)"):
        model(_x(1, 8, C=3))
    with pytest.raises(ModelInputError, match=r"\[B, L, C\].*got shape \(8, 2\)"):
        model(_x(1, 8)[0])
    with pytest.raises(ModelInputError, match=r"complex64 does not match.*complex128"):
        model(_x(1, 8, dtype=torch.complex64))
    x = _x(2, 8)
    x[1, 3, 0] = complex("nan")
    x[0, 0, 1] = complex("inf")
    with pytest.raises(ModelInputError, match=r"\(2, 8, 2\) has 2 non-finite"):
        model(x)
    with pytest.raises(ModelInputError, match="expected a complex tensor"):
        model([[1j, 2j]])


def test_aligned_is_raw_shifted_by_delay():
    model = _model(delay=5)
    x = _x(2, 30)
    raw = model(x, aligned=False)
    y = model(x)
    assert _rel(y[:, : 30 - 5], raw[:, 5:]) < 1e-12
    # the tail of the aligned output sees the zero padding: equal to raw on a padded input
    padded = torch.cat([x, torch.zeros(2, 5, 2, dtype=x.dtype)], 1)
    assert _rel(y, model(padded, aligned=False)[:, 5:]) < 1e-12


@pytest.mark.parametrize(
    "spec",
    ["demo-tiny", "demo-ultra", "demo-teacher", {"preset": "demo-tiny", "selectivity": "gate"}],
)
@pytest.mark.parametrize("B", [1, 2])
def test_step_equals_forward(spec, B):
    model = _model(spec, num_layers=2, model_dim=3, state_dim=8, delay=6, norm=True)
    x = _x(B, 25)
    raw = model(x, aligned=False)
    y = model(x)
    xs = torch.cat([x, torch.zeros(B, model.delay, 2, dtype=x.dtype)], 1)
    state = model.init_state(B)
    outs = []
    for t in range(xs.shape[1]):
        y_t, state = model.step(xs[:, t], state)
        assert y_t.shape == (B,)
        outs.append(y_t)
    r = torch.stack(outs, 1)
    assert state.t == xs.shape[1]
    assert _rel(r[:, :25], raw) < 1e-10  # step = raw causal output
    assert _rel(r[:, model.delay :], y) < 1e-10  # and the aligned output at t - delay
    state, parts = model.init_state(B), []
    for a, b in [(0, 7), (7, 8), (8, 31)]:
        part, state = model.step_chunk(xs[:, a:b], state)
        parts.append(part)
    assert _rel(torch.cat(parts, 1), r) < 1e-10


@pytest.mark.parametrize("name", ["standard", "teacher"])
def test_step_equals_forward_seed_size_float32(name):
    """Full seed width and state (64 x 540), short input, float32 tolerance."""
    model = _model(name, dtype=torch.float32, num_layers=1, delay=0)
    x = _x(1, 12, dtype=torch.complex64)
    with torch.no_grad():
        raw = model(x, aligned=False)
        r, _ = model.step_chunk(x, model.init_state(1))
    assert _rel(r, raw) < 1e-4


def test_bidirectional_model():
    model = _model(direction="bidirectional")
    assert model.delay == 0
    x = _x(1, 16)
    y = model(x)
    # non-causal: a change at the end of the column moves the first output sample
    x2 = x.clone()
    x2[:, -1, 0] += 1.0
    assert (model(x2)[:, 0] - y[:, 0]).abs() > 1e-12
    with pytest.raises(StepModeError, match=r"bidirectional.*off-line"):
        model.init_state(1)
    with pytest.raises(StepModeError):
        model.step(x[:, 0], SarSSMState([]))


def test_causal_model_is_causal():
    model = _model(delay=4)
    x = _x(1, 16)
    x2 = x.clone()
    x2[:, 10, 0] += 1.0
    diff = (model(x2, aligned=False) - model(x, aligned=False)).abs()[0]
    assert diff[:10].max() < 1e-12 and diff[10] > 1e-6  # FFT round-off only
    diff = (model(x2) - model(x)).abs()[0]  # aligned: output t sees inputs up to t + 4
    assert diff[:6].max() < 1e-12 and diff[6] > 1e-6


def test_linear_model_is_linear_and_phase_equivariant():
    lin = _model("demo-tiny", activation="none")
    x1, x2 = _x(2, 20, seed=1), _x(2, 20, seed=2)
    a, b = 0.3 - 1.2j, 2.0 + 0.5j
    assert _rel(lin(a * x1 + b * x2), a * lin(x1) + b * lin(x2)) < 1e-12
    # modReLU and RMS norm keep phase equivariance: rotating every input channel rotates y
    for model in (_model("demo-tiny"), _model("demo-tiny", norm=True)):
        with torch.no_grad():
            for blk in model.blocks:
                blk.act.bias.fill_(-0.05)  # a real threshold, not the identity
        rot = complex(math.cos(0.7), math.sin(0.7))
        assert _rel(model(rot * x1), rot * model(x1)) < 1e-12
        assert _rel(model(2 * x1), 2 * model(x1)) > 1e-6  # not linear any more


def test_dropout_only_in_training():
    model = _model(dropout=0.5)
    x = _x(2, 20)
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
