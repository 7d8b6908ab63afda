"""Every preset is a focusing operator: f(a x) = a f(x) for complex a, f(0) = 0, linear when
LTI, and blind to the absolute azimuth position and the column's length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarssm.models import build_model, get_config, preset_names

RNG = np.random.default_rng(7)
SCALES = (1e-4, 1e-2, 1.0, 1e2, 1e4)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().norm() / b.abs().norm())


def _model(name: str, dtype=torch.float32, **overrides):
    """The preset with random selection weights (zero at init) of a trained model's size:
    W q of order 0.3, so dt moves by about e^(+-0.3) with the input."""
    torch.manual_seed(0)
    model = build_model(name, **overrides)
    H = model.config.model_dim
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "proj" in pname and "input_proj" not in pname:
                p.normal_(0.0, 0.3 / np.sqrt(H))
            if pname.endswith("act.bias"):
                p.uniform_(-0.5, 0.0)
    return model.to(dtype).eval()


def _inputs(model, B: int, L: int, dtype=torch.complex64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, L, model.config.input_channels, generator=g, dtype=dtype)
    ref = model.config.reference
    r = torch.linspace(ref.range_min_m, ref.range_max_m, B, dtype=torch.float64)
    return x, r


def _length(name: str) -> int:
    return 48 if get_config(name).data_preset == "demo" else 24


def _check_equivariance(model, L: int, scales=SCALES) -> None:
    """LTI: float32 rounding (1e-5 is -100 dB). Selective: the selection amplifies rounding a
    little; 1e-3 (-60 dB) moves an NMSE of -30 dB by 0.004 dB."""
    tol = 1e-5 if model.config.selectivity == "none" else 1e-3
    x, r = _inputs(model, 2, L)
    with torch.no_grad():
        y = model(x, r)
        for mag in scales:
            a = complex(mag * np.exp(1j * RNG.uniform(-np.pi, np.pi)))
            err = _rel(model(x * a, r), y * a)
            assert err < tol, (mag, err)
        zero = model(torch.zeros_like(x), r)
    assert torch.equal(zero, torch.zeros_like(zero))


FAST = [n for n in preset_names() if n != "teacher"]  # the seed teacher: slow suite


@pytest.mark.parametrize("name", FAST)
def test_scale_and_phase_equivariance_and_zero(name):
    """|a| over 1e-4..1e4 with random phases, the signal only (the geometry is not scaled)."""
    _check_equivariance(_model(name), _length(name))


def test_seed_teacher_equivariance_one_layer():
    """The seed teacher's width, state and scan, one of its six layers (all six: slow)."""
    _check_equivariance(_model("teacher", num_layers=1), 16, scales=(1e-4, 1e4))


@pytest.mark.slow
def test_seed_teacher_equivariance():
    _check_equivariance(_model("teacher"), _length("teacher"))


@pytest.mark.parametrize("name", [n for n in preset_names() if get_config(n).selectivity == "none"])
def test_lti_presets_are_linear(name):
    model = _model(name, torch.float64)
    x1, r = _inputs(model, 2, _length(name), torch.complex128, seed=1)
    x2, _ = _inputs(model, 2, _length(name), torch.complex128, seed=2)
    a, b = 0.3 - 1.2j, 2.0 + 0.5j
    with torch.no_grad():
        assert _rel(model(a * x1 + b * x2, r), a * model(x1, r) + b * model(x2, r)) < 1e-12


@pytest.mark.parametrize("name", [n for n in preset_names() if n.startswith("demo-")])
@pytest.mark.parametrize("direction", ["causal", "bidirectional"])
def test_no_dependence_on_azimuth_position(name, direction):
    """Zeros before a column shift its output and change nothing else: the output at a row
    depends on the signal around it, not on where the column starts or how long it is.

    A bidirectional stack is exact for one block only: a deeper one cuts its intermediate
    activations (which reach before the signal) at the column's start, so its output near a
    column's ends depends on where the column is cut. Causal models are exact at any depth.
    """
    torch.manual_seed(0)
    layers = {} if direction == "causal" else {"num_layers": 1}
    model = build_model(name, direction=direction, **layers).double().eval()
    x, r = _inputs(model, 2, 50, torch.complex128)
    shift = 37
    padded = torch.cat([torch.zeros(2, shift, x.shape[2], dtype=x.dtype), x], dim=1)
    with torch.no_grad():
        y, y_shifted = model(x, r), model(padded, r)
        raw = model(padded, r, aligned=False)
    assert _rel(y_shifted[:, shift:], y) < 1e-10
    if direction == "causal":  # before the signal a causal output is zero (FFT rounding aside)
        assert float(raw[:, :shift].abs().max()) < 1e-12 * float(raw.abs().max())


def test_the_old_positional_channel_is_gone():
    """A model has one input channel per column it reads; nothing carries a position."""
    for name in preset_names():
        c = get_config(name)
        assert c.input_channels == 2 * c.range_neighbours + 1


@pytest.mark.parametrize("direction", ["causal", "bidirectional"])
def test_prefilter_is_the_identity_at_the_reference_range(direction):
    """At the reference range the taps are a unit impulse at lag 0, so a conditioned model
    equals the same weights unconditioned: the pre-filter adds no shift of its own (one block
    if bidirectional: see the test above)."""
    torch.manual_seed(0)
    kw = {"direction": direction, "num_layers": 1 if direction == "bidirectional" else 2}
    model = build_model("demo-tiny", **kw).double().eval()
    memory = model.config.memory  # the same decay floor: without taps it would be shorter
    plain = build_model("demo-tiny", geometry="none", memory=memory, **kw).double().eval()
    plain.load_state_dict(model.state_dict())
    x, _ = _inputs(model, 1, 40, torch.complex128)
    r = torch.tensor([model.config.reference.range_m], dtype=torch.float64)
    with torch.no_grad():
        assert _rel(model(x, r), plain(x)) < 1e-6
