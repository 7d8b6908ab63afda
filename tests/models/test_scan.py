"""Scans of x_t = dA_t x_{t-1} + dBu_t: every fast variant against the sequential loop, and the
loop and the fused selective scan against plain numpy loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarssm.models.scan import (
    SCANS,
    resolve_scan,
    scan_chunked,
    scan_doubling,
    scan_sequential,
    selective_scan,
    zoh,
)

FAST = ["chunked", "doubling"]
CDTYPES = {torch.float32: torch.complex64, torch.float64: torch.complex128}
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / max(||b||, 1): relative for the O(1)-and-larger tensors compared here, and
    absolute where the reference is exactly zero (the gradient of log_dA at L = 1 from x0 = 0)."""
    a, b = a.detach(), b.detach()
    return float((a - b).abs().norm() / b.abs().norm().clamp_min(1.0))


def _inputs(
    batch: int,
    L: int,
    dtype: torch.dtype,
    H: int = 3,
    N: int = 5,
    seed: int = 0,
    decay: float = 0.3,
    phase: float = 3.0,
    requires_grad: bool = False,
):
    """log_dA with Re in [-decay, 0] and phases of a few radians, dBu and x0, all complex."""
    g = torch.Generator().manual_seed(seed)
    re = -decay * torch.rand(batch, L, H, N, generator=g, dtype=dtype)
    im = phase * torch.randn(batch, L, H, N, generator=g, dtype=dtype)
    log_dA = torch.complex(re, im)
    dBu = torch.randn(batch, L, H, N, generator=g, dtype=CDTYPES[dtype])
    x0 = torch.randn(batch, H, N, generator=g, dtype=CDTYPES[dtype])
    return [t.requires_grad_(requires_grad) for t in (log_dA, dBu, x0)]


def test_sequential_matches_numpy_loop() -> None:
    log_dA, dBu, x0 = _inputs(2, 11, torch.float64)
    a, b, x = np.exp(log_dA.numpy()), dBu.numpy(), x0.numpy().copy()
    ref = np.empty_like(b)
    for t in range(b.shape[1]):
        x = a[:, t] * x + b[:, t]
        ref[:, t] = x
    np.testing.assert_allclose(scan_sequential(log_dA, dBu, x0).numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("method", FAST)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("L", [1, 13, 37])
@pytest.mark.parametrize("with_x0", [False, True])
def test_fast_scan_matches_sequential(method, dtype, batch, L, with_x0) -> None:
    """Values and gradients (log_dA, dBu, x0), chunk 8: L = 13, 37 leave a partial chunk."""
    log_dA, dBu, x0 = _inputs(batch, L, dtype, requires_grad=True)
    x0 = x0 if with_x0 else None
    ref = scan_sequential(log_dA, dBu, x0)
    out = SCANS[method](log_dA, dBu, x0, chunk=8)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert _rel(out, ref) < TOL[dtype]

    upstream = torch.randn_like(ref)
    leaves = [t for t in (log_dA, dBu, x0) if t is not None]
    # allow_unused: at L = 1 from a zero state, log_dA may not enter the graph at all
    g_ref = torch.autograd.grad(ref, leaves, upstream, allow_unused=True, materialize_grads=True)
    g_out = torch.autograd.grad(out, leaves, upstream, allow_unused=True, materialize_grads=True)
    for a, b in zip(g_out, g_ref, strict=True):
        assert _rel(a, b) < TOL[dtype]


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_chunk_sizes_agree(chunk: int) -> None:
    log_dA, dBu, x0 = _inputs(2, 20, torch.float64)
    ref = scan_sequential(log_dA, dBu, x0)
    for method in FAST:
        assert _rel(SCANS[method](log_dA, dBu, x0, chunk=chunk), ref) < 1e-12


@pytest.mark.parametrize("scan", [scan_chunked, scan_doubling])
def test_gradcheck(scan) -> None:
    log_dA, dBu, x0 = _inputs(1, 7, torch.float64, H=2, N=2, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: scan(a, b, c, chunk=3), (log_dA, dBu, x0))


def test_chunked_large_phases_float32() -> None:
    """Phases of about 100 rad per step (S4D-Inv poles at dt 0.1) over 64-step chunks: the
    cumulative phase reaches thousands of radians, which float32 cannot hold to 1e-5."""
    log_dA, dBu, x0 = _inputs(2, 128, torch.float64, phase=100.0, decay=0.05)
    ref = scan_sequential(log_dA, dBu, x0)  # float64 reference
    args = [t.to(CDTYPES[torch.float32]) for t in (log_dA, dBu, x0)]
    out = scan_chunked(*args, chunk=64)
    seq32 = scan_sequential(*args)
    # as accurate as the float32 loop itself
    assert _rel(out.to(ref.dtype), ref) < max(1e-5, 2 * _rel(seq32.to(ref.dtype), ref))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunked_strong_decay_is_finite_and_exact(dtype) -> None:
    """Re log_dA about -100 per step: e^{-S} over a 16-step chunk would overflow (e^1600) even
    in float64; the chunked scan must detect it and still return the exact, finite result and
    gradient."""
    log_dA, dBu, x0 = _inputs(2, 40, dtype, decay=200.0, requires_grad=True)
    ref = scan_sequential(log_dA, dBu, x0)
    out = scan_chunked(log_dA, dBu, x0, chunk=16)
    assert torch.isfinite(torch.view_as_real(out)).all()
    assert _rel(out, ref) < TOL[dtype]
    g = torch.autograd.grad(out.abs().sum(), [log_dA, dBu, x0])
    assert all(torch.isfinite(torch.view_as_real(t)).all() for t in g)


def test_zoh_matches_closed_form_and_euler_limit() -> None:
    dt = torch.tensor([[1e-9, 1e-3, 0.1, 2.0]], dtype=torch.float64)  # [1, H=4]
    A = torch.complex(
        -torch.full((4, 2), 0.5, dtype=torch.float64),
        torch.tensor([[0.0, 30.0]] * 4, dtype=torch.float64),
    )  # [H, N]
    log_dA, G = zoh(dt, A)
    z = dt.numpy()[..., None] * A.numpy()
    np.testing.assert_allclose(log_dA.numpy(), z, rtol=1e-15)
    np.testing.assert_allclose(G.numpy(), np.expm1(z) / A.numpy(), rtol=1e-12)
    np.testing.assert_allclose(G[0, 0].numpy(), 1e-9, rtol=1e-6)  # dt -> 0: G -> dt (Euler)


def _selective_reference(u, dt, A, Bs, Bx, Cs, Cx, x0):
    """numpy loop of the selective recurrence (ZOH), complex128."""
    u, dt, A, Bs, Cs = (t.detach().numpy() for t in (u, dt, A, Bs, Cs))
    Bx = np.zeros(u.shape[:2] + Bs.shape[1:]) if Bx is None else Bx.detach().numpy()
    Cx = np.zeros(u.shape[:2] + Cs.shape[1:]) if Cx is None else Cx.detach().numpy()
    x = np.zeros(u.shape[:1] + Bs.shape, complex) if x0 is None else x0.detach().numpy()
    y = np.zeros(u.shape, complex)
    for t in range(u.shape[1]):
        z = dt[:, t, :, None] * A  # [B, H, N]
        Bt = Bs + Bx[:, t, None, :]
        x = np.exp(z) * x + np.expm1(z) / A * Bt * u[:, t, :, None]
        y[:, t] = np.einsum("bhn,bhn->bh", Cs + Cx[:, t, None, :], x)
    return y, x


@pytest.mark.parametrize("method", sorted(SCANS))
@pytest.mark.parametrize("block", [None, 5])
@pytest.mark.parametrize("selective", [False, True])
def test_selective_scan_matches_numpy(method, block, selective) -> None:
    g = torch.Generator().manual_seed(1)
    Bt, L, H, N = 2, 17, 3, 4
    c = torch.complex128
    u = torch.randn(Bt, L, H, generator=g, dtype=c)
    dt = 0.02 + 0.3 * torch.rand(Bt, L, H, generator=g, dtype=torch.float64)
    A = torch.complex(
        -0.1 - torch.rand(H, N, generator=g, dtype=torch.float64),
        10 * torch.randn(H, N, generator=g, dtype=torch.float64),
    )
    Bs, Cs = torch.randn(H, N, generator=g, dtype=c), torch.randn(H, N, generator=g, dtype=c)
    Bx = torch.randn(Bt, L, N, generator=g, dtype=c) if selective else None
    Cx = torch.randn(Bt, L, N, generator=g, dtype=c) if selective else None
    x0 = torch.randn(Bt, H, N, generator=g, dtype=c)
    y, xL = selective_scan(u, dt, A, Bs, Bx, Cs, Cx, x0=x0, method=method, chunk=4, block=block)
    y_ref, x_ref = _selective_reference(u, dt, A, Bs, Bx, Cs, Cx, x0)
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xL.numpy(), x_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_selective_scan_blocks_and_checkpoint_keep_gradients(dtype) -> None:
    """Blocking (state carried across blocks) and checkpointing change memory, not results."""
    g = torch.Generator().manual_seed(2)
    Bt, L, H, N = 2, 23, 3, 4
    c = CDTYPES[dtype]
    u = torch.randn(Bt, L, H, generator=g, dtype=c).requires_grad_()
    dt = (0.05 + 0.2 * torch.rand(Bt, L, H, generator=g, dtype=dtype)).requires_grad_()
    A = torch.complex(
        -0.5 * torch.ones(H, N, dtype=dtype), 5 * torch.randn(H, N, generator=g, dtype=dtype)
    ).requires_grad_()
    Bs = torch.randn(H, N, generator=g, dtype=c).requires_grad_()
    Bx = torch.randn(Bt, L, N, generator=g, dtype=c).requires_grad_()
    Cs = torch.randn(H, N, generator=g, dtype=c).requires_grad_()
    Cx = torch.randn(Bt, L, N, generator=g, dtype=c).requires_grad_()
    leaves = [u, dt, A, Bs, Bx, Cs, Cx]
    upstream = torch.randn(Bt, L, H, generator=g, dtype=c)
    y_ref, _ = selective_scan(*leaves, method="sequential", block=None)
    g_ref = torch.autograd.grad(y_ref, leaves, upstream)
    for kw in (dict(block=6), dict(block=6, checkpoint=True), dict(block=None, checkpoint=True)):
        y, _ = selective_scan(*leaves, method="chunked", chunk=4, **kw)
        assert _rel(y, y_ref) < TOL[dtype]
        for a, b in zip(torch.autograd.grad(y, leaves, upstream), g_ref, strict=True):
            assert _rel(a, b) < TOL[dtype]


def test_selective_scan_gradcheck() -> None:
    g = torch.Generator().manual_seed(3)
    c = torch.complex128
    u = torch.randn(1, 5, 2, generator=g, dtype=c, requires_grad=True)
    dt = (0.1 + 0.1 * torch.rand(1, 5, 2, generator=g, dtype=torch.float64)).requires_grad_()
    A = torch.tensor([[-0.5 + 3j, -0.2 - 1j]] * 2, dtype=c, requires_grad=True)
    Bs = torch.randn(2, 2, generator=g, dtype=c, requires_grad=True)
    Bx = torch.randn(1, 5, 2, generator=g, dtype=c, requires_grad=True)
    Cs = torch.randn(2, 2, generator=g, dtype=c, requires_grad=True)
    Cx = torch.randn(1, 5, 2, generator=g, dtype=c, requires_grad=True)

    def f(*args):
        return selective_scan(*args, method="chunked", chunk=2, block=3)[0]

    assert torch.autograd.gradcheck(f, (u, dt, A, Bs, Bx, Cs, Cx))


def test_auto_resolves_by_device() -> None:
    assert resolve_scan("auto", torch.device("cpu")) == "sequential"
    assert resolve_scan("auto", torch.device("cuda", 0)) == "chunked"
    assert resolve_scan("doubling", torch.device("cpu")) == "doubling"


def test_unknown_scan_is_an_error() -> None:
    u = torch.zeros(1, 2, 1, dtype=torch.complex64)
    A = torch.full((1, 1), -0.5 + 0j)
    with pytest.raises(ValueError, match="unknown scan 'fast'"):
        selective_scan(u, torch.ones(1, 2, 1), A, A, None, A, None, method="fast")
