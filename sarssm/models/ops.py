"""Pure maths of diagonal complex state space models: discretisation, kernels, convolution, scan.

Symbols: B batch, L length (azimuth samples), H channels, N complex modes per channel,
T chunk length. A continuous diagonal system x'(t) = A x + B u, y = C x + D u is discretised
with a zero-order hold at step dt:

    dA = exp(dt A),   dB = (exp(dt A) - 1) / A * B,
    x[t] = dA x[t-1] + dB u[t],   y[t] = C x[t] + D u[t],

whose convolution kernel is the Vandermonde product K[k] = sum_n C_n dB_n dA_n^k (k >= 0).
Everything is complex: no conjugate-pair symmetry is assumed, so all N modes and the complex
kernel are kept (SAR data is I/Q, a 2*Re output would throw half of it away).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Elements of one [H, N, chunk] block of powers dA^k: bounds the memory of the kernel to about
# 32 MiB (complex64) whatever L is, in the forward and in the backward pass.
_CHUNK_ELEMENTS = 1 << 22


MEMORY_DECAY = math.log(100.0)  # a mode's amplitude falls 40 dB over the model's memory


def min_decay(memory: int | None) -> float:
    """Smallest decay per sample (-Re log dA) for modes that fall 40 dB within `memory`."""
    return 0.0 if memory is None else MEMORY_DECAY / float(memory)


def decay_floor(log_dA: Tensor, kappa: float) -> Tensor:
    """log dA with its decay rate r = -Re(log dA) raised smoothly to at least kappa:
    r' = kappa (1 + softplus(r / kappa - 1)), which is r for r >> kappa and >= kappa always
    (a smooth floor keeps a gradient for every mode; a clamp would freeze the slow ones)."""
    if kappa <= 0:
        return log_dA
    r = -log_dA.real
    floored = kappa * (1.0 + torch.nn.functional.softplus(r / kappa - 1.0))
    return torch.complex(-floored, log_dA.imag)


def discretize_zoh(A: Tensor, B: Tensor, dt: Tensor, kappa: float = 0.0) -> tuple[Tensor, Tensor]:
    """Zero-order-hold discretisation of a diagonal complex system.

    Args:
        A: [H, N] complex, Re(A) < 0. B: [H, N] complex. dt: [H] real, > 0.
        kappa: floor of the decay per sample (`decay_floor`; 0: none).
    Returns:
        (log_dA, dB): log_dA [H, N] complex is dt A with its imaginary part wrapped into
        (-pi, pi] (so dA = exp(log_dA) and dA^k = exp(k log_dA) are computed from the same
        small phase: a float32 kernel then agrees with the float32 recurrence), dB [H, N].
    """
    dtA = dt[:, None] * A  # [H, N]
    # expm1 keeps dB accurate for |dt A| << 1, where exp(dt A) - 1 would cancel.
    dB = torch.expm1(dtA) / A * B  # [H, N]
    return decay_floor(wrap_phase(dtA), kappa), dB


def wrap_phase(z: Tensor) -> Tensor:
    """z with Im(z) wrapped into (-pi, pi]: exp(k z) is unchanged for integer k."""
    theta = torch.atan2(torch.sin(z.imag), torch.cos(z.imag))  # d(theta)/d(Im z) = 1
    return torch.complex(z.real, theta)


class _Vandermonde(torch.autograd.Function):
    """K[h, k] = sum_n W[h, n] exp(k Z[h, n]), k = 0..L-1, computed in chunks of k.

    The backward pass recomputes the powers chunk by chunk instead of storing the [H, N, L]
    block, so training memory is O(H N chunk) rather than O(H N L). Both functions are
    holomorphic in (W, Z), so PyTorch's vector-Jacobian product is grad_out * conj(dK/d.).
    """

    @staticmethod
    def forward(ctx, W: Tensor, Z: Tensor, L: int) -> Tensor:
        ctx.save_for_backward(W, Z)
        ctx.L = L
        out = W.new_empty(W.shape[0], L)  # [H, L]
        for k, V in _power_chunks(Z, L):
            out[:, k] = torch.einsum("hn,hnc->hc", W, V)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        W, Z = ctx.saved_tensors
        need_w, need_z = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gW = torch.zeros_like(W)  # [H, N]
        gS = torch.zeros_like(W)  # [H, N]: sum_k grad[k] k conj(exp(k Z))
        for k, V in _power_chunks(Z, ctx.L):
            Vc = V.conj()  # [H, N, c]
            g = grad[:, k]  # [H, c]
            if need_w:
                gW += torch.einsum("hc,hnc->hn", g, Vc)
            if need_z:
                kk = torch.arange(k.start, k.stop, device=Z.device, dtype=Z.real.dtype)
                gS += torch.einsum("hc,hnc->hn", g * kk, Vc)
        return (gW if need_w else None), (W.conj() * gS if need_z else None), None


def powers(Z: Tensor, k: Tensor) -> Tensor:
    """exp(k Z) [..., K] for Z [...] complex and real k [K] (dA^k when Z = log dA).

    Built from real exp, cos and sin (torch.polar): several times faster on the CPU than the
    complex exp, and as accurate since |Im Z| <= pi keeps the phases k Im(Z) small.
    """
    return torch.polar(torch.exp(Z.real[..., None] * k), Z.imag[..., None] * k)


def _power_chunks(Z: Tensor, L: int):
    """Yield (slice of k, exp(k Z) [H, N, c]) over k = 0..L-1 in memory-bounded chunks."""
    H, N = Z.shape
    step = max(1, _CHUNK_ELEMENTS // max(1, H * N))
    for start in range(0, L, step):
        stop = min(L, start + step)
        k = torch.arange(start, stop, device=Z.device, dtype=Z.real.dtype)  # [c]
        yield slice(start, stop), powers(Z, k)  # [H, N, c]


def vandermonde(W: Tensor, Z: Tensor, L: int) -> Tensor:
    """Kernel K[h, k] = sum_n W[h, n] exp(k Z[h, n]) for k = 0..L-1.

    Args:
        W: [H, N] complex weights (C dB). Z: [H, N] complex log-poles (log dA). L: length.
    Returns:
        K: [H, L] complex. Memory-bounded in forward and backward (see `_Vandermonde`).
    """
    if L < 1:
        raise ValueError(f"kernel length must be >= 1, got {L}")
    return _Vandermonde.apply(W, Z, L)


def vandermonde_naive(W: Tensor, Z: Tensor, L: int) -> Tensor:
    """Reference for `vandermonde`: materialises the [H, N, L] powers (plain autograd)."""
    k = torch.arange(L, device=Z.device, dtype=Z.real.dtype)  # [L]
    return torch.einsum("hn,hnl->hl", W, torch.exp(Z[:, :, None] * k))  # [H, L]


def kernel_energy(W: Tensor, log_Z: Tensor) -> Tensor:
    """sum_{k>=0} |sum_n W_n Z_n^k|^2 per channel, in closed form (|Z_n| < 1).

    Args:
        W: [H, N] complex (C dB of a diagonal SSM). log_Z: [H, N] complex, Z = exp(log_Z).
    Returns:
        [H] float64: Re sum_{n,m} W_n conj(W_m) / (1 - Z_n conj(Z_m)), the energy of the
        kernel's taps, so its RMS gain on white input is the square root.
    """
    W, Z = W.detach().to(torch.complex128), torch.exp(log_Z.detach().to(torch.complex128))
    out = torch.empty(W.shape[0], dtype=torch.float64)
    for h in range(W.shape[0]):  # one [N, N] Gram matrix at a time: N is up to ~10^3
        gram = torch.outer(W[h], W[h].conj()) / (1 - torch.outer(Z[h], Z[h].conj()))
        out[h] = gram.sum().real
    return out


def lti_gain(
    W: Tensor, log_Z: Tensor, D: Tensor, W_b: Tensor | None = None, log_Z_b: Tensor | None = None
) -> Tensor:
    """RMS gain [H] on white input of y[t] = sum_k K[k] u[t-k] + D u[t] (+ anti-causal taps
    K_b[k] u[t+1+k] when W_b is given), K[k] = sum_n W_n Z_n^k."""
    K0 = W.detach().to(torch.complex128).sum(-1)  # [H]
    D = D.detach().to(torch.complex128)
    energy = kernel_energy(W, log_Z) - K0.abs() ** 2 + (K0 + D).abs() ** 2
    if W_b is not None and log_Z_b is not None:
        energy = energy + kernel_energy(W_b, log_Z_b)
    return energy.clamp_min(0.0).sqrt()


def two_sided_kernel(k_causal: Tensor, k_anti: Tensor | None, n: int) -> Tensor:
    """Circular layout of a (two-sided) kernel for an n-point FFT convolution.

    Args:
        k_causal: [H, Lc] taps K[0..Lc-1] applied to u[t - k].
        k_anti: [H, La] or None: taps for u[t + 1 .. t + La] (anti-causal part), La < n - Lc.
        n: FFT length, at least input length + Lc - 1 (and + La) to avoid wrap-around.
    Returns:
        [H, n] complex: causal taps at 0..Lc-1, anti-causal tap k at index n - k.
    """
    H, Lc = k_causal.shape
    La = 0 if k_anti is None else k_anti.shape[1]
    if Lc + La > n:
        raise ValueError(f"kernel of {Lc} + {La} taps does not fit an FFT of length {n}")
    parts = [k_causal, k_causal.new_zeros(H, n - Lc - La)]
    if La:
        parts.append(torch.flip(k_anti, dims=[-1]))  # index n - k holds K_anti[k], k = 1..La
    return torch.cat(parts, dim=-1)  # [H, n]


def fft_conv(u: Tensor, k_spec: Tensor) -> Tensor:
    """Linear convolution along time through a complex FFT of length n = k_spec.shape[-1].

    Args:
        u: [B, L, H] complex, L <= n / 2 (n >= 2L zero padding: no circular wrap-around).
        k_spec: [H, n] complex, FFT of the kernel in `two_sided_kernel` layout.
    Returns:
        y: [B, L, H] complex, y[t] = sum_k K[k] u[t - k] (k over the kernel's taps).
    """
    L = u.shape[1]
    n = k_spec.shape[-1]
    u_f = torch.fft.fft(u, n=n, dim=1)  # [B, n, H]
    return torch.fft.ifft(u_f * k_spec.transpose(0, 1), n=n, dim=1)[:, :L]  # [B, L, H]


def ssm_step(x: Tensor, u: Tensor, dA: Tensor, dB: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """One step of the recurrence (without the D skip).

    Args:
        x: [B, H, N] state. u: [B, H] input. dA, dB, C: [H, N].
    Returns:
        (y [B, H], x' [B, H, N]) with x' = dA x + dB u and y = sum_n C x'.
    """
    x = dA * x + dB * u[:, :, None]  # [B, H, N]
    y = (C * x).sum(-1)  # [B, H] (cheaper than einsum for one sample)
    return y, x


def ssm_chunk(
    x: Tensor,
    u: Tensor,
    log_dA: Tensor,
    dB: Tensor,
    C: Tensor,
    block: int = 256,
    P: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """T steps of the recurrence at once, in closed form (equal to T calls of `ssm_step`).

    Within a block of T steps starting from state x0:
        y[t]  = sum_n C_n dA_n^(t+1) x0_n + sum_{s<=t} K[t-s] u[s],   K[k] = sum_n C dB dA^k,
        x[T]  = dA^T x0 + sum_s dA^(T-1-s) dB u[s].
    Args:
        x: [B, H, N] state. u: [B, T, H] input. log_dA: [H, N] (dA = exp(log_dA)). dB, C: [H, N].
        block: longest block handled at once (memory O(H N block)).
        P: optional precomputed powers dA^0..dA^block [H, N, block+1] (`powers`), reused by
            streaming layers for every full block.
    Returns:
        (y [B, T, H], x [B, H, N]) without the D skip.
    """
    ys = []
    for start in range(0, u.shape[1], block):
        ub = u[:, start : start + block]  # [B, T, H]
        T = ub.shape[1]
        if P is None or P.shape[-1] < T + 1:
            k = torch.arange(T + 1, device=u.device, dtype=log_dA.real.dtype)  # [T+1]
            P = powers(log_dA, k)  # [H, N, T+1]: dA^0 .. dA^T
        Pt = P[:, :, : T + 1]
        y_state = torch.einsum("hnt,bhn->bth", C[:, :, None] * Pt[:, :, 1:], x)  # [B, T, H]
        K = torch.einsum("hn,hnt->ht", C * dB, Pt[:, :, :T])  # [H, T]
        if T <= 64:  # direct Toeplitz product: cheaper than FFTs for short blocks
            idx = torch.arange(T, device=u.device)
            lag = idx[:, None] - idx[None, :]  # [T, T]: t - s
            M = torch.where(lag >= 0, K[:, lag.clamp(min=0)], K.new_zeros(()))  # [H, T, T]
            y_in = torch.einsum("hts,bsh->bth", M, ub)  # [B, T, H]
        else:
            y_in = fft_conv(ub, torch.fft.fft(K, n=2 * T))  # [B, T, H]
        decay = torch.flip(Pt[:, :, :T], dims=[-1]) * dB[:, :, None]  # [H, N, T]: dA^(T-1-s) dB
        x = Pt[:, :, T] * x + torch.einsum("hns,bsh->bhn", decay, ub)  # [B, H, N]
        ys.append(y_state + y_in)
    return torch.cat(ys, dim=1), x
