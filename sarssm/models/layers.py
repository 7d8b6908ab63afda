"""Complex building blocks of the sarSSM stack: linear map, activation, norm, dropout.

All act on complex tensors [..., H] and keep them complex; parameters are real tensors
(complex ones as real pairs [..., 2], rebuilt with `torch.view_as_complex`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class ComplexLinear(nn.Module):
    """y = x W^T with complex W [out, in] (no bias: a bias would add a constant that does not
    rotate with the data's phase, the offset that broke linearity in the earlier design)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # Complex Glorot-like scale: E|W_ij|^2 = 1 / in keeps E|y|^2 = E|x|^2.
        W = torch.randn(out_features, in_features, dtype=torch.cfloat) / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.view_as_real(W).clone())  # [out, in, 2]

    def forward(self, x: Tensor) -> Tensor:
        """x [..., in] complex -> [..., out] complex."""
        return x @ torch.view_as_complex(self.weight).transpose(0, 1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class ModReLU(nn.Module):
    """modReLU (Arjovsky et al., 2016): f(z) = ReLU(|z| + b) z / |z|, b real per channel.

    Chosen because it is phase-equivariant, f(z e^{j phi}) = f(z) e^{j phi}: SAR data carries
    an arbitrary absolute phase (4 pi R / lambda) and focusing commutes with it, which a split
    ReLU on Re and Im would break. b starts at 0, where modReLU is the identity, so a fresh
    stack starts as a linear (matched-filter-like) operator and learns thresholds from there.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, z: Tensor) -> Tensor:
        """z [..., H] complex -> [..., H] complex."""
        mag = z.abs()
        # |z| floored at eps in the denominator only: f(0) = 0, and a bounded gradient there
        return z * (torch.relu(mag + self.bias) / mag.clamp_min(self.eps))


class ComplexRMSNorm(nn.Module):
    """y = g x / sqrt(mean_h |x_h|^2 + eps), g real per channel: rescales magnitudes only."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """x [..., H] complex -> [..., H] complex."""
        rms = torch.sqrt(x.abs().square().mean(dim=-1, keepdim=True) + self.eps)  # [..., 1]
        return x * (self.scale / rms)


class ComplexDropout(nn.Module):
    """Dropout of whole complex values (one real mask for Re and Im, so phases are kept)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, device=x.device, dtype=x.real.dtype) >= self.p
        return x * (keep.to(x.real.dtype) / (1 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"
