"""Complex building blocks of the sarSSM stack: linear map, activation, dropout.

Every block is homogeneous of degree one in its input (f(a x) = a f(x) for complex a), so a
stack of them keeps a focusing operator's scale and phase equivariance. A normalisation layer
(x / RMS(x)) is degree zero and is not offered for that reason.

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
    """Scale-free modReLU: f(z)_h = z_h ReLU(1 + b_h rho / |z_h|), rho = sqrt(mean_h |z_h|^2).

    modReLU (Arjovsky et al., 2016) is ReLU(|z| + b) z / |z|: phase-equivariant, since SAR data
    carries an arbitrary absolute phase and focusing commutes with it, but its threshold b is an
    absolute amplitude, so f(a z) != a f(z). Here the threshold is b_h times the RMS over the
    channels at the same sample, so f(a z) = a f(z) for every complex a, f(0) = 0, and the
    layer still zeroes the channels that are weak relative to the others. b starts at 0, where
    it is the identity.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, z: Tensor) -> Tensor:
        """z [..., H] complex -> [..., H] complex."""
        mag = z.abs()  # [..., H]
        rho = torch.sqrt(mag.square().mean(dim=-1, keepdim=True))  # [..., 1]
        safe = torch.where(mag > 0, mag, torch.ones_like(mag))  # no 0/0, no infinite gradient
        gain = torch.relu(1.0 + self.bias * rho / safe)
        return z * torch.where(mag > 0, gain, torch.zeros_like(gain))


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
