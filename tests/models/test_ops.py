"""ops.py against independent references: numpy/scipy closed forms and slow loops."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from sarssm.models import ops


def _rand_system(H=3, N=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    re = -torch.rand(H, N, generator=g, dtype=torch.float64) - 0.1
    A = torch.complex(re, 20 * torch.randn(H, N, generator=g, dtype=torch.float64))
    B = torch.randn(H, N, generator=g, dtype=torch.cdouble)
    C = torch.randn(H, N, generator=g, dtype=torch.cdouble)
    dt = torch.rand(H, generator=g, dtype=torch.float64) * 0.2 + 0.01
    ctype = torch.complex128 if dtype == torch.float64 else torch.complex64
    return A.to(ctype), B.to(ctype), C.to(ctype), dt.to(dtype)


def test_zoh_matches_matrix_exponential():
    """dA, dB from the augmented-matrix exponential expm([[A dt, B dt], [0, 0]])."""
    A, B, _, dt = _rand_system(H=2, N=4)
    log_dA, dB = ops.discretize_zoh(A, B, dt)
    for h in range(2):
        for n in range(4):
            M = np.array([[A[h, n].item(), B[h, n].item()], [0, 0]]) * dt[h].item()
            E = scipy.linalg.expm(M)
            assert np.exp(log_dA[h, n].item()) == pytest.approx(E[0, 0], rel=1e-12)
            assert dB[h, n].item() == pytest.approx(E[0, 1], rel=1e-10)
    assert torch.all(log_dA.imag.abs() <= np.pi + 1e-12)


def test_wrap_phase_keeps_integer_powers():
    z = torch.complex(torch.tensor([-0.1, -0.2]).double(), torch.tensor([9261.3, -40.0]).double())
    w = ops.wrap_phase(z)
    k = torch.arange(5, dtype=torch.float64)
    assert torch.allclose(torch.exp(w[:, None] * k), torch.exp(z[:, None] * k), atol=1e-9)
    assert torch.all(w.imag.abs() <= np.pi)


@pytest.mark.parametrize("L", [1, 7, 300])
def test_vandermonde_matches_loop_and_naive(L, monkeypatch):
    monkeypatch.setattr(ops, "_CHUNK_ELEMENTS", 40)  # force several chunks
    A, B, C, dt = _rand_system()
    Z, dB = ops.discretize_zoh(A, B, dt)
    W = (C * dB).requires_grad_()
    Z = Z.detach().requires_grad_()
    K = ops.vandermonde(W, Z, L)
    ref = np.zeros((3, L), dtype=complex)  # slow loop: repeated multiplication by dA
    for h in range(3):
        for n in range(5):
            z, p = np.exp(Z[h, n].item()), 1.0 + 0j
            for k in range(L):
                ref[h, k] += W[h, n].item() * p
                p *= z
    np.testing.assert_allclose(K.detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    # gradients against the plain-autograd reference
    g = torch.randn(3, L, dtype=torch.cdouble)
    gw, gz = torch.autograd.grad((K * g).real.sum(), (W, Z))
    K2 = ops.vandermonde_naive(W, Z, L)
    gw2, gz2 = torch.autograd.grad((K2 * g).real.sum(), (W, Z))
    assert torch.allclose(gw, gw2, rtol=1e-10, atol=1e-12)
    assert torch.allclose(gz, gz2, rtol=1e-10, atol=1e-12)


def test_vandermonde_gradcheck():
    g = torch.Generator().manual_seed(3)
    W = torch.randn(2, 3, generator=g, dtype=torch.cdouble, requires_grad=True)
    Z = torch.complex(
        -torch.rand(2, 3, generator=g).double(), torch.randn(2, 3, generator=g).double()
    )
    Z.requires_grad_()
    assert torch.autograd.gradcheck(lambda w, z: ops.vandermonde(w, z, 6), (W, Z))


@pytest.mark.parametrize("anti", [False, True])
def test_fft_conv_matches_numpy_convolution(anti):
    g = np.random.default_rng(0)
    Bt, L, H = 2, 13, 3
    u = g.standard_normal((Bt, L, H)) + 1j * g.standard_normal((Bt, L, H))
    kc = g.standard_normal((H, L)) + 1j * g.standard_normal((H, L))
    ka = g.standard_normal((H, L - 1)) + 1j * g.standard_normal((H, L - 1)) if anti else None
    k = ops.two_sided_kernel(torch.tensor(kc), None if ka is None else torch.tensor(ka), 2 * L)
    y = ops.fft_conv(torch.tensor(u), torch.fft.fft(k)).numpy()
    ref = np.zeros_like(u)
    for b in range(Bt):
        for h in range(H):
            ref[b, :, h] = np.convolve(u[b, :, h], kc[h])[:L]  # causal taps
            if anti:  # y[t] += sum_{k>=1} ka[k-1] u[t+k]
                for t in range(L):
                    for kk in range(1, L - t):
                        ref[b, t, h] += ka[h, kk - 1] * u[b, t + kk, h]
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)


def test_two_sided_kernel_rejects_overflow():
    with pytest.raises(ValueError, match="does not fit"):
        ops.two_sided_kernel(torch.zeros(1, 5), torch.zeros(1, 4), 8)


@pytest.mark.parametrize("T", [1, 5, 70, 600])
def test_ssm_chunk_equals_repeated_step(T):
    A, B, C, dt = _rand_system()
    log_dA, dB = ops.discretize_zoh(A, B, dt)
    g = torch.Generator().manual_seed(1)
    u = torch.randn(2, T, 3, generator=g, dtype=torch.cdouble)
    x0 = torch.randn(2, 3, 5, generator=g, dtype=torch.cdouble)
    x, ys = x0, []
    for t in range(T):
        y, x = ops.ssm_step(x, u[:, t], torch.exp(log_dA), dB, C)
        ys.append(y)
    yc, xc = ops.ssm_chunk(x0, u, log_dA, dB, C, block=256)
    assert torch.allclose(yc, torch.stack(ys, 1), rtol=1e-10, atol=1e-10)
    assert torch.allclose(xc, x, rtol=1e-10, atol=1e-10)
