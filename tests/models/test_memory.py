"""A model's memory is finite and set by the geometry: every mode decays 40 dB within
`memory` samples whatever its parameters, so columns longer than the training patches do not
meet response lags that training never constrained."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sarssm.errors import ConfigError
from sarssm.models import build_model, get_config
from sarssm.models.conditioning import reference_delay
from sarssm.models.ops import decay_floor
from sarssm.models.s4d import S4D
from sarssm.models.selective import SelectiveSSM


def test_decay_floor_closed_form():
    kappa = 0.05
    r = torch.tensor([0.0, 1e-4, 0.05, 0.5, 2.0], dtype=torch.float64)
    out = -decay_floor(torch.complex(-r, torch.full_like(r, 0.3)), kappa)
    expected = kappa * (1 + np.log1p(np.exp(r.numpy() / kappa - 1)))
    np.testing.assert_allclose(out.real.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(out.imag.numpy(), -0.3, rtol=1e-12)  # frequencies untouched
    assert float(out.real.min()) >= kappa and abs(float(out.real[-1]) - 2.0) < 1e-12


def _undamped(layer: torch.nn.Module) -> None:
    """Every mode as slow as its parameters allow: Re A -> 0, the smallest step."""
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.endswith("log_neg_re"):
                p.fill_(-30.0)
            if name.endswith("log_dt"):
                p.fill_(math.log(1e-4))


@pytest.mark.parametrize("memory", [40, 120])
def test_one_mode_falls_40_db_within_the_memory_whatever_its_parameters(memory):
    layer = S4D(3, 1, memory=memory).double()
    _undamped(layer)
    taps = layer.kernel(6 * memory).detach().abs() ** 2  # [H, L]
    tail = taps[:, memory:].sum(-1) / taps.sum(-1)
    assert float(tail.max()) <= 1e-4 * (1 + 1e-9)  # |dA|^(2M) <= exp(-2 ln 100)


def test_selective_core_floor_holds_at_its_bias_step():
    layer = SelectiveSSM(2, 1, selectivity="scan", memory=50).double()
    with torch.no_grad():
        layer.fwd.log_neg_re.fill_(-30.0)
        layer.D.zero_()
    u = torch.zeros(1, 400, 2, dtype=torch.complex128)
    u[0, 0] = 1.0
    with torch.no_grad():
        e = layer(u)[0].abs() ** 2  # [L, H]
    assert float((e[50:].sum(0) / e.sum(0)).max()) <= 1e-4 * (1 + 1e-9)


@pytest.mark.parametrize("name", ["demo-standard", "demo-teacher"])
def test_model_response_beyond_three_memories_is_negligible(name):
    """All modes made as slow as possible: the stack's impulse response (residual paths and
    products of kernels included) still ends within a few memories."""
    torch.manual_seed(0)
    model = build_model(name, selectivity="gate").double().eval()
    for block in model.blocks:
        _undamped(block.ssm)
    c, M = model.config, model.config.memory
    x = torch.zeros(1, 8 * M, c.input_channels, dtype=torch.complex128)
    x[0, 0, c.range_neighbours] = 1.0
    r = torch.tensor([c.reference.range_m], dtype=torch.float64)
    with torch.no_grad():
        e = model(x, r, aligned=False)[0].abs() ** 2
    assert float(e[3 * M :].sum() / e.sum()) < 1e-6


def test_memory_follows_the_geometry_and_is_validated():
    cfg = get_config("demo-tiny").resolved()
    assert cfg.memory == 3 * (reference_delay(cfg.reference) + cfg.prefilter_taps)
    assert get_config("demo-tiny").replace(memory=77).resolved().memory == 77
    looser = cfg.replace(delay_floor_db=-45.0).resolved()
    assert looser.memory > cfg.memory  # a derived key follows its bases
    with pytest.raises(ConfigError, match=r"model\.memory"):
        get_config("demo-tiny").replace(memory=0)
