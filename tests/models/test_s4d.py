"""S4D layer: conv mode == step mode (delay semantics), references, inits, gradcheck, cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call

from sarssm.models.config import get_config, preset_names
from sarssm.models.errors import ModelInputError, StepModeError
from sarssm.models.s4d import S4D, S4DKernel, init_poles

CDTYPE = {torch.float32: torch.complex64, torch.float64: torch.complex128}
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def _layer(H=3, N=6, dtype=torch.float64, seed=0, **kw) -> S4D:
    torch.manual_seed(seed)
    return S4D(H, N, **kw).to(dtype)


def _input(B, L, H, dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, L, H, generator=g, dtype=CDTYPE[dtype])


def _streamed(layer: S4D, u: torch.Tensor) -> torch.Tensor:
    """Step outputs r[t], t = 0..L+d-1, feeding zeros after the input ends."""
    B, L, H = u.shape
    d = layer.delay
    u = torch.cat([u, u.new_zeros(B, d, H)], dim=1)
    state, ys = layer.init_state(B), []
    for t in range(L + d):
        y, state = layer.step(u[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1)


# Preset sizes (H, N) with the preset's delay; the seed-size presets with L = 64.
SIZES = sorted(
    {
        (c.model_dim, c.state_dim, c.delay)
        for c in (get_config(n).resolved() for n in preset_names())
        if c.selectivity == "none"
    }
)


@pytest.mark.parametrize("H,N,delay", SIZES)
@pytest.mark.parametrize("init", ["inv", "band"])
@pytest.mark.parametrize("batch", [1, 4])
def test_conv_equals_step_at_preset_sizes_float32(H, N, delay, init, batch):
    layer = _layer(H, N, torch.float32, delay=delay, init=init).eval()
    u = _input(batch, 64, H, torch.float32)
    with torch.no_grad():
        y = layer(u)
        r = _streamed(layer, u)
    assert y.shape == (batch, 64, H)
    assert _rel(r[:, delay:], y) < TOL[torch.float32]


@pytest.mark.parametrize("init", ["inv", "lin", "band"])
@pytest.mark.parametrize("delay", [0, 5])
@pytest.mark.parametrize("batch", [1, 4])
def test_conv_equals_step_float64(init, delay, batch):
    layer = _layer(4, 8, torch.float64, delay=delay, init=init)
    u = _input(batch, 40, 4, torch.float64)
    y = layer(u)
    r = _streamed(layer, u)
    assert _rel(r[:, delay:], y) < TOL[torch.float64]
    if delay:  # aligned output = the delay-0 (raw) output shifted by `delay`
        layer0 = _layer(4, 8, torch.float64, delay=0, init=init)
        assert _rel(layer0(u)[:, delay:], y[:, : 40 - delay]) < 1e-10


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_step_chunk_equals_repeated_step(dtype):
    layer = _layer(3, 6, dtype, delay=3, init="lin").eval()
    u = _input(2, 150, 3, dtype)
    with torch.no_grad():
        ref = _streamed(layer, u)[:, :150]
        state, parts = layer.init_state(2), []
        for a, b in [(0, 1), (1, 37), (37, 150)]:  # uneven chunks, one longer than 64
            y, state = layer.step_chunk(u[:, a:b], state)
            parts.append(y)
    assert _rel(torch.cat(parts, 1), ref) < TOL[dtype]


def _numpy_reference(layer: S4D, u: np.ndarray) -> np.ndarray:
    """Slow loop from the continuous parameters: ZOH by hand, powers by repeated products."""

    def kernel(k: S4DKernel, L: int) -> np.ndarray:
        A, B, C, dt = (t.detach().numpy() for t in k.continuous())
        dA = np.exp(dt[:, None] * A)
        dB = (dA - 1) / A * B
        K = np.zeros((A.shape[0], L), dtype=complex)
        p = np.ones_like(dA)
        for i in range(L):
            K[:, i] = (C * dB * p).sum(-1)
            p = p * dA
        return K

    B, L, H = u.shape
    d = layer.delay
    D = torch.view_as_complex(layer.D).detach().numpy()
    up = np.concatenate([u, np.zeros((B, d, H))], axis=1)
    Kf = kernel(layer.kernel, L + d)
    Kb = kernel(layer.kernel_b, L) if layer.kernel_b is not None else None
    y = np.zeros_like(u)
    for t in range(L):
        s = t + d  # aligned output y[t] = r[t + d]
        y[:, t] = D * up[:, s]
        for k in range(s + 1):
            y[:, t] += Kf[:, k] * up[:, s - k]
        if Kb is not None:
            for k in range(1, L - t):
                y[:, t] += Kb[:, k - 1] * up[:, s + k]
    return y


@pytest.mark.parametrize("direction,delay", [("causal", 0), ("causal", 4), ("bidirectional", 0)])
def test_forward_matches_slow_reference(direction, delay):
    layer = _layer(2, 5, direction=direction, delay=delay, init="band")
    u = _input(2, 17, 2, torch.float64)
    ref = _numpy_reference(layer, u.numpy())
    np.testing.assert_allclose(layer(u).detach().numpy(), ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("direction,delay", [("causal", 3), ("bidirectional", 0)])
def test_impulse_response_is_the_forward_filter(direction, delay):
    layer = _layer(2, 5, direction=direction, delay=delay)
    L = 12
    h = layer.impulse_response(L)  # [H, 2L-1], lags -(L-1)..L-1
    u = _input(1, L, 2, torch.float64)
    y = layer(u)[0]  # [L, H]
    ref = torch.zeros_like(y)
    for t in range(L):
        for s in range(L):
            ref[t] += h[:, t - s + L - 1] * u[0, s]
    assert _rel(y, ref) < 1e-10
    if direction == "causal":  # no taps before lag -delay
        assert h[:, : L - 1 - delay].abs().max() == 0


def test_bidirectional_has_no_step_mode():
    layer = _layer(direction="bidirectional")
    for call in (lambda: layer.init_state(1), lambda: layer.step(None, None)):
        with pytest.raises(StepModeError, match=r"S4D.*bidirectional.*off-line"):
            call()
    with pytest.raises(ModelInputError, match="delay"):
        S4D(2, 2, direction="bidirectional", delay=3)


def test_input_errors_name_shape_and_dtype():
    layer = _layer(3, 4)
    with pytest.raises(ModelInputError, match=r"\[B, L, H\] with H=3, got \(2, 5, 4\)"):
        layer(torch.zeros(2, 5, 4, dtype=torch.cdouble))
    with pytest.raises(ModelInputError, match=r"complex128.*complex64"):
        layer(torch.zeros(2, 5, 3, dtype=torch.cfloat))


def test_kernel_gradcheck():
    """Gradients of the kernel with respect to every S4D parameter (float64, tiny sizes)."""
    torch.manual_seed(0)
    kern = S4DKernel(2, 3, dt_min=0.05, dt_max=0.2, init="lin").double()
    names = [n for n, _ in kern.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in kern.parameters())

    def kernel(*values):
        K = functional_call(kern, dict(zip(names, values, strict=True)), (9,))
        return torch.view_as_real(K)

    assert torch.autograd.gradcheck(kernel, params)


def test_inits_and_parameter_tags():
    H, N = 3, 8
    dt = torch.tensor([0.01, 0.02, 0.05])
    inv = init_poles("inv", H, N, dt, 0.6)
    m = np.arange(4)
    pos = N / math.pi * (N / (2 * m + 1) - 1)
    assert np.allclose(np.sort(inv[0].imag.numpy()), np.sort(np.concatenate([pos, -pos])))
    lin = init_poles("lin", H, N, dt, 0.6)
    assert np.allclose(lin[1].imag.numpy(), math.pi * (np.arange(N) - 4))
    band = init_poles("band", H, N, dt, 0.6)
    freq = band.imag * dt[:, None] / (2 * math.pi)  # cycles per sample
    assert torch.allclose(freq, torch.linspace(-0.3, 0.3, N).double().expand(H, N), atol=1e-6)
    for A in (inv, lin, band):
        assert torch.all(A.real == -0.5)
    layer = S4D(H, N, init="inv", direction="bidirectional")
    tagged = {n for n, p in layer.named_parameters() if getattr(p, "_ssm", False)}
    assert tagged == {
        f"{k}.{p}" for k in ("kernel", "kernel_b") for p in ("log_dt", "log_neg_re", "im")
    }
    dts = layer.kernel.log_dt.exp()
    assert torch.all((dts >= 1e-3 * (1 - 1e-6)) & (dts <= 0.1 * (1 + 1e-6)))
    A, *_ = layer.kernel.continuous()
    with torch.no_grad():
        layer.kernel.log_neg_re.fill_(-30.0)  # any value keeps Re A < 0
    assert torch.all(layer.kernel.continuous()[0].real < 0) and torch.all(A.real < 0)


def test_kernel_cache_in_eval_mode_and_invalidation():
    layer = _layer(2, 4)
    u = _input(1, 10, 2, torch.float64)
    layer.eval()
    with torch.no_grad():
        y1 = layer(u)
        assert layer.kernel_spectrum(10) is layer.kernel_spectrum(10)  # cached
        assert layer.kernel_spectrum(11) is not layer.kernel_spectrum(10)
        # an in-place parameter change (optimiser step) invalidates the cache
        layer.kernel.C.mul_(2.0)
        y2 = layer(u)
    fresh = _layer(2, 4)
    with torch.no_grad():
        fresh.kernel.C.mul_(2.0)
    assert _rel(y2, fresh(u)) < 1e-12 and _rel(y2, y1) > 1e-3
    # load_state_dict of other weights invalidates it too
    other = _layer(2, 4, seed=5)
    with torch.no_grad():
        layer.load_state_dict(other.state_dict())
        assert _rel(layer(u), other(u)) < 1e-12
    # an EMA teacher's update through p.data, which leaves p._version as it was
    target = _layer(2, 4, seed=9)
    with torch.no_grad():
        layer(u)  # fills the cache
        for p, q in zip(layer.parameters(), target.parameters(), strict=True):
            p.data.mul_(0.5).add_(q.data, alpha=0.5)
        expected = _layer(2, 4, seed=9)
        expected.load_state_dict(layer.state_dict())
        assert _rel(layer(u), expected.train()(u)) < 1e-12
    layer.eval()
    # training mode never caches (gradients must flow)
    layer.train()
    assert layer.kernel_spectrum(10) is not layer.kernel_spectrum(10)
    layer(u).abs().sum().backward()
    assert layer.kernel.log_dt.grad is not None
