"""Real-valued torch modules of an LTI student, for ONNX and TorchScript export.

Symbols: B columns (the batch), L rows of a column, C = 2k + 1 input channels, K = 2J + 1
pre-filter taps, Ly layers, H width, N complex modes per channel, d delay, Lk = L + d.

ONNX has little complex support, so every complex tensor is a real one with a last axis of 2
(real, imaginary), the layout of `torch.view_as_real`, and every complex product is written out
as (a + jb)(c + jd) = (ac - bd) + j(ad + bc). Both modules are built from the arrays of
`sarssm.deploy.lti.lti_arrays` (normalisation folded into the head: product units in and out),
and both take the per-column pre-filter taps as an input, g [B, K, 2] from
`numpy_step.prefilter_taps(w, slant_range)`, so one graph serves any column of the model's
slant-range interval.

- `ConvStudent(arrays, L)`: x [B, L, C, 2], g [B, K, 2] -> y [B, L, 2], the aligned conv output
  y[t] = r[t + d] of `SarSSM.forward(x, r0, aligned=True)`. The stack after the pre-filter is
  one composite kernel k [C, Lk] (`composite_kernel`, float64 from the arrays, stored float32),
  applied as one Conv1d over the 2C real channels.
- `StepStudent(arrays)`: one azimuth sample, x_t [B, C, 2], g [B, K, 2], history
  [B, K - 1, C, 2] (inputs t-1 .. t-2J, newest first), state [B, Ly, H, N, 2] -> y_t [B, 2] (the
  focused sample t - d), new history, new state: the recurrence of `numpy_step.Stream`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn


def _exp(z: np.ndarray) -> np.ndarray:
    """exp(z), flushed to 0 below e^-300: decayed powers of dA would otherwise reach float64's
    subnormal range, where every product is slow, for terms 1e-130 below the kernel."""
    return np.where(z.real < -300.0, 0.0, np.exp(np.maximum(z.real, -300.0) + 1j * z.imag))


def layer_kernels(arrays: dict[str, np.ndarray], length: int) -> np.ndarray:
    """Kernels K [Ly, H, length] complex128 of the S4D layers, K[k] = sum_n C_n dB_n dA_n^k
    (+ D at k = 0), from the arrays' float32 discrete system, evaluated in float64.

    With k = m b + j (b ~ sqrt(length)): K[m b + j] = sum_n (C dB dA^(m b))_n dA_n^j, one
    matrix product [M, N] @ [N, b] per channel instead of length x N exponentials.
    """
    log_dA = np.log(arrays["dA"].astype(np.complex128))  # [Ly, H, N]
    CB = arrays["C"].astype(np.complex128) * arrays["dB"].astype(np.complex128)
    Ly, H, _ = log_dA.shape
    b = max(1, math.isqrt(length - 1) + 1)
    M = -(-length // b)
    j = np.arange(b, dtype=np.float64)
    m = b * np.arange(M, dtype=np.float64)
    out = np.empty((Ly, H, length), np.complex128)
    for layer in range(Ly):
        outer = CB[layer][:, None, :] * _exp(log_dA[layer][:, None, :] * m[None, :, None])
        inner = _exp(log_dA[layer][:, :, None] * j[None, None, :])  # [H, N, b]
        prod = torch.from_numpy(outer) @ torch.from_numpy(inner)  # [H, M, b] (numpy's stacked
        out[layer] = prod.numpy().reshape(H, M * b)[:, :length]  # complex matmul: no BLAS)
    out[:, :, 0] += arrays["D"].astype(np.complex128)  # [Ly, H]
    return out


def composite_kernel(arrays: dict[str, np.ndarray], length: int) -> np.ndarray:
    """Impulse response k [C, length] complex128 of the stack after the pre-filter: the raw
    causal output r[t] = sum_c sum_j k[c, j] x'_c[t - j] (x' the causal pre-filter's output),
    head gain included. Every block h <- h + mix (K * h) is applied by FFT in float64."""
    w_in = arrays["w_in"].astype(np.complex128)  # [H, C]
    mix = arrays["mix"].astype(np.complex128)  # [Ly, H, H]
    head = arrays["head"].astype(np.complex128)  # [H]
    H, C = w_in.shape
    n = 2 * length
    K = np.fft.fft(layer_kernels(arrays, length), n)  # [Ly, H, 2Lk]
    h = np.zeros((C, H, length), np.complex128)  # impulse on each input channel
    h[:, :, 0] = w_in.T
    for layer in range(K.shape[0]):
        s = np.fft.ifft(np.fft.fft(h, n) * K[layer][None], n)[..., :length]  # [C, H, Lk]
        h = h + np.einsum("gh,chk->cgk", mix[layer], s)
    return np.einsum("h,chk->ck", head, h)  # [C, Lk]


def _pair(z: np.ndarray) -> tuple[Tensor, Tensor]:
    """Complex array -> (real, imag) float32 tensors."""
    z = np.asarray(z)
    return (
        torch.from_numpy(np.ascontiguousarray(z.real, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(z.imag, dtype=np.float32)),
    )


class ConvStudent(nn.Module):
    """Whole-column focusing on real pairs: x [B, L, C, 2], g [B, K, 2] -> y [B, L, 2].

    y[t] = r[t + d], r the causal response to x' = g * x (causal FIR, tap i on x[t - i]) over
    the column padded with d zero rows at its end: `SarSSM.forward(x, r0, aligned=True)` times
    the normalisation gain.
    """

    def __init__(self, arrays: dict[str, np.ndarray], length: int) -> None:
        super().__init__()
        if length < 1:
            raise ValueError(f"ConvStudent: length must be >= 1, got {length}")
        self.L, self.d = int(length), int(arrays["delay"])
        self.C = int(arrays["w_in"].shape[1])
        self.K = 2 * int(arrays["prefilter_half_taps"]) + 1
        k = composite_kernel(arrays, self.L + self.d)[:, ::-1]  # [C, Lk], flipped: Conv1d
        kr, ki = _pair(k)  # correlates, and r[t] = sum_j k[j] x'[t - j]
        weight = torch.stack([torch.cat([kr, -ki]), torch.cat([ki, kr])])  # [2, 2C, Lk]
        self.register_buffer("weight", weight)

    def forward(self, x: Tensor, taps: Tensor) -> Tensor:
        """x [B, L, C, 2], taps [B, K, 2] -> y [B, L, 2] (float32 real pairs)."""
        B, L, d, K, C = x.shape[0], self.L, self.d, self.K, self.C
        Lk = L + d
        zeros_front = x.new_zeros(B, K - 1, C, 2)
        zeros_back = x.new_zeros(B, d, C, 2)
        xe = torch.cat([zeros_front, x, zeros_back], dim=1)  # [B, K-1+Lk, C, 2]
        xr = x.new_zeros(B, Lk, C)
        xi = x.new_zeros(B, Lk, C)
        for i in range(K):  # x'[t] = sum_i g[i] x[t - i]
            w = xe[:, K - 1 - i : K - 1 - i + Lk]  # [B, Lk, C, 2]: x[t - i]
            gr, gi = taps[:, i, 0][:, None, None], taps[:, i, 1][:, None, None]  # [B, 1, 1]
            xr = xr + gr * w[..., 0] - gi * w[..., 1]
            xi = xi + gr * w[..., 1] + gi * w[..., 0]
        xp = torch.cat([xr, xi], dim=2).transpose(1, 2)  # [B, 2C, Lk]
        xp = torch.cat([xp.new_zeros(B, 2 * C, L - 1), xp], dim=2)  # [B, 2C, L-1+Lk]
        y = torch.nn.functional.conv1d(xp, self.weight)  # [B, 2, L]: r[d .. d+L-1]
        return y.transpose(1, 2)  # [B, L, 2]


class StepStudent(nn.Module):
    """One azimuth sample on real pairs (see the module docstring for the shapes).

    x'_t = sum_i g[i] x[t - i]; u = W_in x'_t; per layer x <- dA x + dB u, s = sum_n C x + D u,
    u <- u + mix s; y_t = head . u, the focused sample t - d.
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        Ly, H, N = arrays["dA"].shape
        self.Ly, self.H, self.N = int(Ly), int(H), int(N)
        self.C = int(arrays["w_in"].shape[1])
        self.K = 2 * int(arrays["prefilter_half_taps"]) + 1
        for key in ("w_in", "dA", "dB", "C", "D", "mix", "head"):
            real, imag = _pair(arrays[key])
            self.register_buffer(f"{key}_r", real)
            self.register_buffer(f"{key}_i", imag)

    def forward(
        self, x_t: Tensor, taps: Tensor, history: Tensor, state: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x_t [B, C, 2], taps [B, K, 2], history [B, K-1, C, 2], state [B, Ly, H, N, 2] ->
        (y_t [B, 2], history [B, K-1, C, 2], state [B, Ly, H, N, 2])."""
        window = torch.cat([x_t[:, None], history], dim=1)  # [B, K, C, 2]: x[t], .., x[t-2J]
        gr, gi = taps[:, :, 0:1], taps[:, :, 1:2]  # [B, K, 1]
        wr, wi = window[..., 0], window[..., 1]  # [B, K, C]
        xr = torch.sum(gr * wr - gi * wi, dim=1)  # [B, C]
        xi = torch.sum(gr * wi + gi * wr, dim=1)
        ur = xr @ self.w_in_r.T - xi @ self.w_in_i.T  # [B, H]
        ui = xr @ self.w_in_i.T + xi @ self.w_in_r.T
        states = []
        for layer in range(self.Ly):
            sr, si = state[:, layer, :, :, 0], state[:, layer, :, :, 1]  # [B, H, N]
            ar, ai = self.dA_r[layer], self.dA_i[layer]  # [H, N]
            br, bi = self.dB_r[layer], self.dB_i[layer]
            cr, ci = self.C_r[layer], self.C_i[layer]
            u_r, u_i = ur[:, :, None], ui[:, :, None]  # [B, H, 1]
            nr = ar * sr - ai * si + br * u_r - bi * u_i  # x <- dA x + dB u
            ni = ar * si + ai * sr + br * u_i + bi * u_r
            Dr, Di = self.D_r[layer], self.D_i[layer]  # [H]
            yr = torch.sum(cr * nr - ci * ni, dim=2) + Dr * ur - Di * ui  # [B, H]
            yi = torch.sum(cr * ni + ci * nr, dim=2) + Dr * ui + Di * ur
            mr, mi = self.mix_r[layer], self.mix_i[layer]  # [H, H]
            ur, ui = ur + yr @ mr.T - yi @ mi.T, ui + yr @ mi.T + yi @ mr.T  # residual
            states.append(torch.stack([nr, ni], dim=-1))  # [B, H, N, 2]
        y_r = ur @ self.head_r - ui @ self.head_i  # [B]
        y_i = ur @ self.head_i + ui @ self.head_r
        y = torch.stack([y_r, y_i], dim=-1)  # [B, 2]
        return y, window[:, : self.K - 1], torch.stack(states, dim=1)

    def initial(self, batch: int) -> tuple[Tensor, Tensor]:
        """Zero (history [batch, K-1, C, 2], state [batch, Ly, H, N, 2]) float32."""
        history = torch.zeros(batch, self.K - 1, self.C, 2)
        return history, torch.zeros(batch, self.Ly, self.H, self.N, 2)
