"""Complex-aware training losses and their weighted sum.

Every loss takes `pred` (yhat) and `target` (y), complex tensors [B, L] or [B, L, C] (B batch,
L azimuth samples, C channels) of the same shape and dtype, and returns a real scalar (mean
reduction). d = yhat - y.

    complex_mse        mean |d|^2
    complex_l1         mean |d|
    amplitude_l1       mean | |yhat| - |y| |
    log_amplitude_l1   mean | log(|yhat| + eps) - log(|y| + eps) |,  eps = 1e-3 RMS(|y|)
    ssim_amplitude     1 - SSIM(|yhat|, |y|)   (7-long window along L, see eval.metrics.ssim)
    phase_error        sum |y| (1 - cos dphi) / sum |y|   (amplitude-weighted, no angle())

`WeightedSumLoss({"complex_mse": 1.0, "log_amplitude_l1": 0.1})` combines registered losses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from sarssm.errors import ConfigError, SarssmError
from sarssm.eval.metrics import ssim

LossFn = Callable[[Tensor, Tensor], Tensor]
LOSSES: dict[str, LossFn] = {}

LOG_AMPLITUDE_EPS = 1e-3  # eps of the log-amplitude loss, relative to RMS(|y|) of the batch
PHASE_EPS = 1e-6  # eps of the phase loss, relative to mean |y|^2 of the batch


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    """Decorator adding a loss to `LOSSES` under `name` (names must be unique)."""

    def add(fn: LossFn) -> LossFn:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} registered twice")
        LOSSES[name] = fn
        return fn

    return add


def get_loss(name: str) -> LossFn:
    """The registered loss `name`; ConfigError listing the known names otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown loss {name!r}; known losses: {sorted(LOSSES)}") from None


def _check(pred: Tensor, target: Tensor) -> None:
    for name, t in (("pred", pred), ("target", target)):
        if not torch.is_tensor(t) or not t.is_complex():
            kind = t.dtype if torch.is_tensor(t) else type(t).__name__
            raise SarssmError(f"loss: {name} must be a complex tensor, got {kind}")
    if pred.shape != target.shape:
        raise SarssmError(
            f"loss: pred shape {tuple(pred.shape)} differs from target {tuple(target.shape)}"
        )
    if pred.ndim not in (2, 3):
        raise SarssmError(f"loss: expected [B, L] or [B, L, C], got shape {tuple(pred.shape)}")


def _power(z: Tensor) -> Tensor:
    return z.real.square() + z.imag.square()  # |z|^2, smooth at 0


@register_loss("complex_mse")
def complex_mse(pred: Tensor, target: Tensor) -> Tensor:
    """mean |yhat - y|^2."""
    _check(pred, target)
    return _power(pred - target).mean()


@register_loss("complex_l1")
def complex_l1(pred: Tensor, target: Tensor) -> Tensor:
    """mean |yhat - y| (the gradient at d = 0 is the subgradient 0)."""
    _check(pred, target)
    return (pred - target).abs().mean()


@register_loss("amplitude_l1")
def amplitude_l1(pred: Tensor, target: Tensor) -> Tensor:
    """mean | |yhat| - |y| | (phase-blind)."""
    _check(pred, target)
    return (pred.abs() - target.abs()).abs().mean()


@register_loss("log_amplitude_l1")
def log_amplitude_l1(pred: Tensor, target: Tensor, eps_rel: float = LOG_AMPLITUDE_EPS) -> Tensor:
    """mean |log(|yhat| + eps) - log(|y| + eps)|, eps = eps_rel * RMS(|y|) over the batch.

    eps follows the target's scale (so the loss does not change when data are rescaled) and
    bounds the log where |y| is near zero; it is a constant (no gradient through it).
    """
    _check(pred, target)
    a_hat, a = pred.abs(), target.abs()
    rms = torch.sqrt(_power(target.detach()).mean())
    eps = torch.clamp(eps_rel * rms, min=torch.finfo(a.dtype).tiny)
    return (torch.log(a_hat + eps) - torch.log(a + eps)).abs().mean()


@register_loss("ssim_amplitude")
def ssim_amplitude(pred: Tensor, target: Tensor) -> Tensor:
    """1 - SSIM of linear amplitudes along L (7-long valid window, per column and channel)."""
    _check(pred, target)
    if pred.ndim == 3:  # [B, L, C] -> [B, C, L]: every channel is its own signal
        pred, target = pred.transpose(1, 2), target.transpose(1, 2)
    return 1.0 - ssim(pred, target, spatial_dims=1)


@register_loss("phase_error")
def phase_error(pred: Tensor, target: Tensor, eps_rel: float = PHASE_EPS) -> Tensor:
    """Amplitude-weighted phase error sum |y| (1 - cos dphi) / sum |y|, without angle().

    1 - cos dphi = (|yhat||y| - Re(yhat conj y)) / (|yhat||y|), regularised as
    (|yhat||y| - Re(yhat conj y)) / (|yhat||y| + eps) with eps = eps_rel * mean |y|^2. Written
    this way the loss is exactly 0 at yhat = y and its gradient there is 0 (the form
    1 - Re(.) / (|yhat||y| + eps) leaves a bias eps / (|y|^2 + eps) and a non-zero gradient).
    Elements with yhat = 0 carry no phase and add nothing.
    """
    _check(pred, target)
    a_hat, a = pred.abs(), target.abs()
    eps = torch.clamp(eps_rel * _power(target.detach()).mean(), min=torch.finfo(a.dtype).tiny)
    prod = a_hat * a  # |yhat||y|
    cross = (pred * target.conj()).real  # Re(yhat conj y) = |yhat||y| cos dphi
    one_minus_cos = (prod - cross) / (prod + eps)
    return (a * one_minus_cos).sum() / torch.clamp(a.sum(), min=torch.finfo(a.dtype).tiny)


class WeightedSumLoss(nn.Module):
    """Loss = sum_i w_i * loss_i over registered losses, from a mapping name -> weight.

    forward(pred, target) returns (total, terms): `terms` holds the unweighted value of every
    term, the very tensors the total is built from, so logging them logs what is optimised.
    Weights must be finite and >= 0; a 0 weight keeps the term computed and logged only.
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__()
        if not isinstance(weights, Mapping) or not weights:
            raise ConfigError(
                f"loss weights must be a non-empty mapping name -> weight; known losses: "
                f"{sorted(LOSSES)}"
            )
        self.weights: dict[str, float] = {}
        for name, w in weights.items():
            get_loss(name)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
                raise ConfigError(f"loss weight {name!r} must be a finite number, got {w!r}")
            if w < 0:
                raise ConfigError(f"loss weight {name!r} must be >= 0, got {w!r}")
            self.weights[name] = float(w)

    def forward(self, pred: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        terms = {name: LOSSES[name](pred, target) for name in self.weights}
        total = torch.stack([w * terms[name] for name, w in self.weights.items()]).sum()
        return total, terms

    def __str__(self) -> str:
        return "Loss = " + " + ".join(f"{w!r} * {name}" for name, w in self.weights.items())

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={w!r}" for name, w in self.weights.items())
