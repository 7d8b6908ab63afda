"""SelectiveSSM: step mode == forward (delay semantics), numpy references of the selective
recurrence and of its LTI limit, bidirectional taps, the gate, and dt really following the input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarssm.models.errors import ModelInputError, StepModeError
from sarssm.models.scan import SCANS
from sarssm.models.selective import SelectiveSSM, invariant_features

CDTYPES = {torch.float32: torch.complex64, torch.float64: torch.complex128}
STEP_TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _layer(dtype=torch.float64, seed=0, selective=True, **kw) -> SelectiveSSM:
    """A layer whose selection weights (zero at init) are drawn at random when `selective`."""
    torch.manual_seed(seed)
    kw = {"d_model": 3, "d_state": 6, **kw}
    layer = SelectiveSSM(kw.pop("d_model"), kw.pop("d_state"), **kw)
    if selective:  # drawn in float32 before the cast: the same weights in every dtype
        with torch.no_grad():
            for name, p in layer.named_parameters():
                if "proj" in name:
                    p.normal_(0.0, 0.5)
    return layer.to(dtype)


def _input(batch, L, H, dtype, seed=1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, L, H, generator=g, dtype=CDTYPES[dtype])


def _zero_selection(core) -> None:
    with torch.no_grad():
        for lin in (core.dt_proj, core.B_proj, core.C_proj):
            lin.weight.zero_()


# --- numpy references ------------------------------------------------------------------------
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _np_features(u: np.ndarray) -> np.ndarray:
    """q = |u|^2 / mean_h |u_h|^2 - 1 (0 where the sample is all zero), by a plain loop."""
    q = np.zeros(u.shape)
    for idx in np.ndindex(u.shape[:-1]):
        p = np.abs(u[idx]) ** 2
        if p.mean() > 0:
            q[idx] = p / p.mean() - 1.0
    return q


def _np_params(core):
    """(A, B_static, C_static, selection(u) -> (dt, B_sel, C_sel)) of a SelectiveCore, numpy."""
    A = -np.exp(_np(core.log_neg_re)) + 1j * _np(core.im)  # [H, N]
    Bs, Cs = (_np(p)[..., 0] + 1j * _np(p)[..., 1] for p in (core.B, core.C))
    W_dt, b_dt = _np(core.dt_proj.weight), _np(core.dt_bias)
    W_B, W_C = _np(core.B_proj.weight), _np(core.C_proj.weight)

    def selection(u):  # u [B, L, H] complex
        f = _np_features(u)  # [B, L, H]
        dt = np.logaddexp(0.0, f @ W_dt.T + b_dt)  # softplus, [B, L, H]
        pair = lambda z: z[..., 0::2] + 1j * z[..., 1::2]  # noqa: E731
        return dt, pair(f @ W_B.T), pair(f @ W_C.T)

    return A, Bs, Cs, selection


def _np_selective(core, u: np.ndarray, reverse_taps: bool = False) -> np.ndarray:
    """Loop of one direction: sum_n C_t x_t; `reverse_taps`: run from the end, and the state
    read at t holds u[t+1], u[t+2], ... (the bidirectional layer's second half)."""
    A, Bs, Cs, selection = _np_params(core)
    dt, Bx, Cx = selection(u)
    x = np.zeros((u.shape[0], *A.shape), complex)
    y = np.zeros(u.shape, complex)
    times = range(u.shape[1] - 1, -1, -1) if reverse_taps else range(u.shape[1])
    for t in times:
        z = dt[:, t, :, None] * A  # [B, H, N]
        ingest = np.exp(z) * x + np.expm1(z) / A * (Bs + Bx[:, t, None]) * u[:, t, :, None]
        if not reverse_taps:
            x = ingest
        y[:, t] = np.einsum("bhn,bhn->bh", Cs + Cx[:, t, None], x)
        if reverse_taps:
            x = ingest
    return y


def _np_layer(layer: SelectiveSSM, u: np.ndarray) -> np.ndarray:
    d = layer.delay
    u = np.concatenate([u, np.zeros((u.shape[0], d, u.shape[2]))], axis=1)
    y = _np_selective(layer.fwd, u) + (_np(layer.D)[:, 0] + 1j * _np(layer.D)[:, 1]) * u
    if layer.bwd is not None:
        y = y + _np_selective(layer.bwd, u, reverse_taps=True)
    return y[:, d:]


def _np_lti_kernel(core, L: int) -> np.ndarray:
    """K [H, L], K[h, k] = sum_n C dB dA^k with dt = softplus(dt_bias): the LTI limit."""
    A, Bs, Cs, _ = _np_params(core)
    dt = np.logaddexp(0.0, _np(core.dt_bias))[:, None]  # [H, 1]
    dA, dB = np.exp(dt * A), np.expm1(dt * A) / A * Bs
    return np.einsum("hn,hnk->hk", Cs * dB, dA[..., None] ** np.arange(L))


# --- step mode -------------------------------------------------------------------------------
@pytest.mark.parametrize("selectivity", ["scan", "gate"])
@pytest.mark.parametrize("delay", [0, 3])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_step_equals_forward(selectivity, delay, batch, dtype) -> None:
    """step outputs r[t], t = 0..L+d-1 (zeros fed after the input) equal forward's y[t - d]."""
    L = 19
    layer = _layer(dtype, selectivity=selectivity, delay=delay)
    u = _input(batch, L, 3, dtype)
    with torch.no_grad():
        y = layer(u)
        state = layer.init_state(batch)
        assert state.dtype == CDTYPES[dtype] and state.shape == (batch, 3, 6)
        outs = []
        for t in range(L + delay):
            r_t, state = layer.step(u[:, t] if t < L else torch.zeros_like(u[:, 0]), state)
            outs.append(r_t)
    r = torch.stack(outs, dim=1)
    assert y.shape == u.shape and y.dtype == u.dtype
    assert _rel(r[:, delay:], y) < STEP_TOL[dtype]


@pytest.mark.parametrize(
    "selectivity,scan", [("scan", "auto"), ("scan", "chunked"), ("gate", "auto")]
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_step_chunk_equals_forward(selectivity, scan, dtype) -> None:
    """Chunks of 5 (and a single step in between) over L + d = 24 steps: the state enters
    the chunked scan as x0 and leaves it as the last state."""
    L, d = 21, 3
    layer = _layer(dtype, selectivity=selectivity, delay=d, scan=scan, chunk=4)
    u = _input(2, L, 3, dtype)
    u_pad = torch.cat([u, torch.zeros_like(u[:, :d])], dim=1)
    with torch.no_grad():
        y = layer(u)
        state = layer.init_state(2)
        outs = []
        for s, e in [(0, 5), (5, 6), (6, 11), (11, 16), (16, 21), (21, 24)]:
            if e - s == 1:
                r, state = layer.step(u_pad[:, s], state)
                r = r[:, None]
            else:
                r, state = layer.step_chunk(u_pad[:, s:e], state)
            outs.append(r)
    assert _rel(torch.cat(outs, dim=1)[:, d:], y) < STEP_TOL[dtype]


# --- references ------------------------------------------------------------------------------
@pytest.mark.parametrize("direction,delay", [("causal", 0), ("causal", 4), ("bidirectional", 0)])
def test_forward_matches_numpy_loop(direction, delay) -> None:
    """The whole selective layer (dt, B, C from the input) against a numpy loop."""
    layer = _layer(direction=direction, delay=delay, block=7)
    u = _input(2, 23, 3, torch.float64)
    with torch.no_grad():
        y = layer(u)
    assert _rel(_np(y), _np_layer(layer, _np(u))) < 1e-10


@pytest.mark.parametrize("delay", [0, 5])
def test_lti_limit_is_a_kernel_convolution(delay) -> None:
    """With W_dt, B_sel, C_sel zero the layer is y[t] = sum_k K[k] u[t + d - k] + D u[t]."""
    layer = _layer(delay=delay)
    _zero_selection(layer.fwd)
    L = 30
    u = _np(_input(3, L, 3, torch.float64))
    K = _np_lti_kernel(layer.fwd, L + delay)  # [H, L + d]
    D = _np(layer.D)[:, 0] + 1j * _np(layer.D)[:, 1]
    u_pad = np.concatenate([u, np.zeros((3, delay, 3))], axis=1)
    r = np.stack(
        [np.stack([np.convolve(u_pad[b, :, h], K[h])[: L + delay] for h in range(3)], -1)
         for b in range(3)]
    ) + D * u_pad  # fmt: skip
    with torch.no_grad():
        y = layer(torch.from_numpy(u))
    assert _rel(_np(y), r[:, delay:]) < 1e-10


def test_bidirectional_lti_limit_is_two_sided() -> None:
    """y[t] = sum_{k>=0} K_f[k] u[t-k] + sum_{k>=1} K_b'[k-1] u[t+k] + D u[t]."""
    layer = _layer(direction="bidirectional")
    _zero_selection(layer.fwd)
    _zero_selection(layer.bwd)
    L = 17
    u = _np(_input(2, L, 3, torch.float64))
    Kf, Kb = _np_lti_kernel(layer.fwd, L), _np_lti_kernel(layer.bwd, L)
    D = _np(layer.D)[:, 0] + 1j * _np(layer.D)[:, 1]
    ref = D * u
    for t in range(L):
        for s in range(L):
            ref[:, t] += Kf[:, t - s] * u[:, s] if s <= t else Kb[:, s - t - 1] * u[:, s]
    with torch.no_grad():
        y = layer(torch.from_numpy(u))
    assert _rel(_np(y), ref) < 1e-10


@pytest.mark.parametrize("scan", sorted(SCANS))
def test_scan_variants_agree_in_the_layer(scan) -> None:
    """Every scan, blocked and checkpointed, gives the sequential loop's output and gradients."""
    ref_layer = _layer(torch.float32, scan="sequential", block=None, direction="bidirectional")
    layer = _layer(torch.float32, scan=scan, chunk=4, block=6, checkpoint=True,
                   direction="bidirectional")  # fmt: skip
    u = _input(2, 15, 3, torch.float32)
    y_ref, y = ref_layer(u), layer(u)
    assert _rel(y.detach(), y_ref.detach()) < 1e-5
    (y_ref.abs() ** 2).sum().backward()
    (y.abs() ** 2).sum().backward()
    for (name, p), p_ref in zip(layer.named_parameters(), ref_layer.parameters(), strict=True):
        assert _rel(p.grad, p_ref.grad) < 1e-5, name


# --- selectivity -----------------------------------------------------------------------------
EPS = 1e-9  # impulse small enough not to move the energy shares that set dt


def _probe_layer(N: int, w: float, dt0: float) -> SelectiveSSM:
    """H = 3: channel 0's step size reads channel 1's share of the sample's energy,
    dt_0 = softplus(w q_1 + b) with softplus(b) = dt0; everything else input-independent."""
    layer = _layer(d_model=3, d_state=N, init="lin", selective=False)
    core = layer.fwd
    with torch.no_grad():
        core.dt_proj.weight[0, 1] = w
        core.dt_bias[0] = float(np.log(np.expm1(dt0)))
        layer.D.zero_()
    return layer


def _share(a: np.ndarray) -> np.ndarray:
    """q_1 when channel 1 carries a, channel 2 carries 1 and channel 0 (almost) nothing."""
    return 3 * a**2 / (a**2 + 1) - 1


def _impulse_response(layer: SelectiveSSM, a: np.ndarray) -> np.ndarray:
    """Channel 0's response to an impulse EPS at t = 0 while channel 1 carries `a` [L] and
    channel 2 a constant 1, divided by EPS."""
    u = np.zeros((1, len(a), 3), complex)
    u[0, 0, 0] = EPS
    u[0, :, 1] = a
    u[0, :, 2] = 1.0
    with torch.no_grad():
        return _np(layer(torch.from_numpy(u)))[0, :, 0] / EPS


def test_dt_rescales_the_kernel_time_axis() -> None:
    """A constant share q sets dt(q) = softplus(w q + b), and the impulse response is the
    ZOH kernel of step dt(q): K[k] = sum_n C_n (e^{dt A_n} - 1) / A_n B_n e^{k dt A_n}, the
    continuous kernel on a time axis scaled by dt: a chirp's rate scales with dt^2."""
    w, dt0, L = 1.5, 0.05, 40
    layer = _probe_layer(8, w, dt0)
    A, Bs, Cs, _ = _np_params(layer.fwd)
    responses = []
    for a in (0.0, 1.0):
        dt = np.logaddexp(0.0, w * _share(a) + np.log(np.expm1(dt0)))
        z = dt * A[0]  # [N]
        K = (Cs[0] * np.expm1(z) / A[0] * Bs[0]) @ np.exp(z[:, None] * np.arange(L))
        y = _impulse_response(layer, np.full(L, a))
        assert _rel(y, K) < 1e-6  # EPS moves the shares by ~1e-18
        responses.append(y)
    assert _rel(responses[1], responses[0]) > 0.5  # the input's energy share changed the kernel


def test_instantaneous_frequency_follows_the_input() -> None:
    """One mode A = -a + j omega: y[t] / y[t-1] = exp(dt_t A), so the phase advance per sample
    (the instantaneous frequency) is omega dt_t with dt_t set by channel 1's share at t: the
    output is a chirp whose sweep is set by the input, and is flat if dt ignores the input."""
    w, dt0, L = 1.0, 0.3, 30
    layer = _probe_layer(1, w, dt0)
    with torch.no_grad():
        layer.fwd.log_neg_re.fill_(np.log(0.05))
        layer.fwd.im.fill_(2.0)
    ramp = np.linspace(0.0, 2.0, L)
    y = _impulse_response(layer, ramp)
    advance = np.angle(y[1:] / y[:-1])  # [L - 1]: t = 1 .. L-1
    dt = np.logaddexp(0.0, w * _share(ramp[1:]) + np.log(np.expm1(dt0)))
    np.testing.assert_allclose(advance, 2.0 * dt, rtol=1e-8)
    assert advance[-1] / advance[0] > 2.0  # the frequency sweeps with the input


def test_selective_parts_are_used() -> None:
    """Zeroing W_dt, B_sel and C_sel changes the output (each on its own)."""
    layer = _layer()
    u = _input(2, 16, 3, torch.float64)
    with torch.no_grad():
        y = layer(u)
        for name in ("dt_proj", "B_proj", "C_proj"):
            saved = getattr(layer.fwd, name).weight.clone()
            getattr(layer.fwd, name).weight.zero_()
            assert _rel(_np(layer(u)), _np(y)) > 1e-3, name
            getattr(layer.fwd, name).weight.copy_(saved)


@pytest.mark.parametrize("selectivity", ["scan", "gate"])
def test_untrained_layer_is_exactly_lti(selectivity) -> None:
    """Selection weights start at zero: a fresh layer equals its LTI limit."""
    layer = _layer(selectivity=selectivity, selective=False)
    u = _input(2, 20, 3, torch.float64)
    v = _input(2, 20, 3, torch.float64, seed=5)
    with torch.no_grad():
        assert _rel(_np(layer(u + 2j * v)), _np(layer(u) + 2j * layer(v))) < 1e-12


@pytest.mark.parametrize("selectivity", ["scan", "gate"])
@pytest.mark.parametrize("direction", ["causal", "bidirectional"])
def test_selection_is_scale_and_phase_free(selectivity, direction) -> None:
    """f(a u) = a f(u) for complex a over 1e-4..1e4 (float64), f(0) = 0 with finite gradients."""
    layer = _layer(selectivity=selectivity, direction=direction)
    u = _input(2, 24, 3, torch.float64)
    u[:, 5:9] = 0  # exact zeros inside the column
    rng = np.random.default_rng(3)
    with torch.no_grad():
        y = layer(u)
        for mag in (1e-4, 1e-2, 1.0, 1e2, 1e4):
            a = mag * np.exp(1j * rng.uniform(-np.pi, np.pi))
            assert _rel(_np(layer(u * a)), a * _np(y)) < 1e-10, mag
    u0 = torch.zeros(1, 8, 3, dtype=torch.complex128, requires_grad=True)
    y0 = layer(u0)
    (y0.abs() ** 2 + y0.real).sum().backward()
    assert torch.equal(y0, torch.zeros_like(y0))
    assert torch.isfinite(torch.view_as_real(u0.grad)).all()


def test_features_are_the_numpy_reference_and_invariant() -> None:
    u = _input(3, 7, 5, torch.float64)
    u[0, 2] = 0
    q = invariant_features(u)
    np.testing.assert_allclose(_np(q), _np_features(_np(u)), atol=1e-14)
    np.testing.assert_allclose(_np(invariant_features(u * (3e-5 - 2e-5j))), _np(q), atol=1e-12)
    assert (q[0, 2] == 0).all() and (q >= -1).all() and (q <= 4).all()


# --- gate --------------------------------------------------------------------------------------
def test_gate_layer_is_s4d_of_the_gated_input() -> None:
    layer = _layer(selectivity="gate", delay=2)
    u = _input(2, 12, 3, torch.float64)
    W, b = _np(layer.gate.proj.weight), _np(layer.gate.proj.bias)
    un = _np(u)
    g = 1.0 / (1.0 + np.exp(-(_np_features(un) @ W.T + b)))
    with torch.no_grad():
        y, y_ref = layer(u), layer.ssm(torch.from_numpy(un * g))
        assert _rel(_np(layer.gate(u)), g) < 1e-12
    assert _rel(_np(y), _np(y_ref)) < 1e-12


def test_gate_reads_the_energy_shares_not_the_absolute_level() -> None:
    layer = _layer(selectivity="gate")
    u = _input(1, 8, 3, torch.float64)
    v = u.clone()
    v[..., 0] *= 3.0  # another share of channel 0
    with torch.no_grad():
        g, g_scaled, g_other = layer.gate(u), layer.gate(u * (0.01 - 5j)), layer.gate(v)
    assert _rel(_np(g_scaled), _np(g)) < 1e-12
    assert _rel(_np(g_other), _np(g)) > 1e-3


# --- interface -------------------------------------------------------------------------------
@pytest.mark.parametrize("selectivity", ["scan", "gate"])
def test_bidirectional_has_no_step_mode(selectivity) -> None:
    layer = _layer(selectivity=selectivity, direction="bidirectional")
    u = _input(2, 9, 3, torch.float64)
    assert layer(u).shape == u.shape
    with pytest.raises(StepModeError, match=r"SelectiveSSM.*off-line"):
        layer.init_state(2)
    with pytest.raises(StepModeError, match=r"SelectiveSSM.*off-line"):
        layer.step(u[:, 0], torch.zeros(2, 3, 6, dtype=u.dtype))
    with pytest.raises(StepModeError, match=r"SelectiveSSM.*off-line"):
        layer.step_chunk(u, torch.zeros(2, 3, 6, dtype=u.dtype))


def test_ssm_parameters_are_tagged_and_dt_starts_in_range() -> None:
    layer = SelectiveSSM(16, 8, dt_min=1e-3, dt_max=1e-1)
    tagged = {n for n, p in layer.named_parameters() if getattr(p, "_ssm", False)}
    assert tagged == {"fwd.log_neg_re", "fwd.im", "fwd.dt_bias"}
    dt = torch.nn.functional.softplus(layer.fwd.dt_bias)
    assert (dt >= 1e-3 * (1 - 1e-5)).all() and (dt <= 1e-1 * (1 + 1e-5)).all()
    assert (layer.fwd.static()[0].real < 0).all()


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(selectivity="attention"), "selectivity"),
        (dict(direction="anticausal"), "direction"),
        (dict(init="random"), "init"),
        (dict(scan="fast"), "scan"),
        (dict(delay=-1), "delay"),
        (dict(direction="bidirectional", delay=2), "delay"),
        (dict(dt_min=0.1, dt_max=0.01), "dt_min"),
        (dict(chunk=0), "chunk"),
    ],
)
def test_bad_arguments_are_clear_errors(kw, match) -> None:
    with pytest.raises(ModelInputError, match=match):
        SelectiveSSM(4, 4, **kw)


def test_bad_inputs_are_clear_errors() -> None:
    layer = _layer(torch.float32)
    with pytest.raises(ModelInputError, match=r"dtype torch.complex64, got torch.float32"):
        layer(torch.randn(1, 5, 3))
    with pytest.raises(ModelInputError, match=r"H=3, got \(1, 5, 4\)"):
        layer(torch.zeros(1, 5, 4, dtype=torch.complex64))
    with pytest.raises(ModelInputError, match=r"\[B, H\]"):
        layer.step(torch.zeros(1, 5, 3, dtype=torch.complex64), layer.init_state(1))


def test_length_one() -> None:
    layer = _layer(delay=2)
    u = _input(4, 1, 3, torch.float64)
    with torch.no_grad():
        y = layer(u)
    assert y.shape == (4, 1, 3)
    assert _rel(_np(y), _np_layer(layer, _np(u))) < 1e-10


@pytest.mark.parametrize("scan", sorted(SCANS))
def test_float32_layer_matches_float64_at_teacher_size(scan) -> None:
    """Demo-teacher size (L=256, H=16, N=64, S4D-Inv poles: phases up to ~100 rad per step)."""
    u = _input(2, 256, 16, torch.float64)
    layer = _layer(torch.float32, d_model=16, d_state=64, delay=8, scan=scan)
    ref = _layer(torch.float64, d_model=16, d_state=64, delay=8, scan="sequential")
    with torch.no_grad():
        y, y_ref = layer(u.to(torch.complex64)), ref(u)
    assert _rel(_np(y).astype(complex), _np(y_ref)) < 1e-5
