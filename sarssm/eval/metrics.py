"""Focusing quality metrics: the one set of definitions used by training, evaluation and reports.

Every function takes `pred` (yhat) and `target` (y), complex arrays of the same shape (torch
tensors, or numpy arrays converted with `torch.as_tensor`), and treats the whole array passed in
as the *window*: sums, means and the reference peak max|y| run over every element. Pass a patch
to get patch metrics and a whole product to get product metrics; say which in any report. The
tensor functions are differentiable (the losses reuse them); `evaluate_arrays` returns floats.

Definitions (|.| the complex modulus, sums over the window):
    NMSE [dB]   = 10 log10( sum |yhat - y|^2 / sum |y|^2 )
    coherence   = |sum yhat conj(y)| / sqrt( sum |yhat|^2 sum |y|^2 )
    PSNR [dB]   = 20 log10( max|y| / RMS(|yhat| - |y|) )          (linear amplitude)
    SSIM        = mean over valid window positions of the SSIM map of |yhat| against |y|, uniform
                  7-long (1-D) or 7x7 (2-D) window, C1 = (0.01 max|y|)^2, C2 = (0.03 max|y|)^2
    collapse    = std(yhat) / std(y),  std(z) = sqrt( mean |z - mean z|^2 )   (complex std)

Real-valued inputs are promoted to complex with zero imaginary part.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sarssm.errors import SarssmError

SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DIST_PARTS = ("re", "im", "abs")
DIST_STATS = ("mean", "std", "skewness", "kurtosis")


# --- inputs --------------------------------------------------------------------------------
def as_complex(x: Any, name: str = "array") -> Tensor:
    """`x` as a complex tensor (float64 -> complex128, other real dtypes -> complex64)."""
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise SarssmError(f"{name}: cannot be read as a numeric array ({exc})") from None
    if t.is_complex():
        return t
    if t.dtype == torch.float64:
        return t.to(torch.complex128)
    return t.to(torch.complex64)


def complex_pair(pred: Any, target: Any) -> tuple[Tensor, Tensor]:
    """(pred, target) as complex tensors of one dtype and shape; a clear error otherwise."""
    p = as_complex(pred, "pred")
    t = as_complex(target, "target")
    if p.shape != t.shape:
        raise SarssmError(
            f"metrics: pred shape {tuple(p.shape)} differs from target shape {tuple(t.shape)}"
        )
    if t.numel() == 0:
        raise SarssmError(f"metrics: empty arrays (shape {tuple(t.shape)})")
    dtype = torch.promote_types(p.dtype, t.dtype)
    return p.to(dtype), t.to(dtype)


def _power(z: Tensor) -> Tensor:
    """|z|^2 without a square root (smooth everywhere, also at z = 0)."""
    return z.real.square() + z.imag.square()


# --- complex fidelity ----------------------------------------------------------------------
def nmse_db(pred: Any, target: Any) -> Tensor:
    """Complex NMSE in dB over the window: 10 log10(sum|yhat - y|^2 / sum|y|^2)."""
    p, t = complex_pair(pred, target)
    return 10.0 * torch.log10(_power(p - t).sum() / _power(t).sum())


def coherence(pred: Any, target: Any) -> Tensor:
    """Complex coherence |sum yhat conj(y)| / sqrt(sum|yhat|^2 sum|y|^2), in [0, 1]."""
    p, t = complex_pair(pred, target)
    cross = (p * t.conj()).sum().abs()
    return cross / torch.sqrt(_power(p).sum() * _power(t).sum())


# --- amplitude fidelity --------------------------------------------------------------------
def psnr_db(pred: Any, target: Any) -> Tensor:
    """Amplitude PSNR in dB: 20 log10(max|y| / RMS(|yhat| - |y|)), peak of the reference window."""
    p, t = complex_pair(pred, target)
    a_hat, a = p.abs(), t.abs()
    rms = torch.sqrt((a_hat - a).square().mean())
    return 20.0 * torch.log10(a.max() / rms)


def ssim(
    pred: Any,
    target: Any,
    *,
    spatial_dims: int | None = None,
    window: int = SSIM_WINDOW,
    sample_covariance: bool = True,
) -> Tensor:
    """SSIM of the linear amplitudes |yhat| against |y|, averaged over valid window positions.

    Args:
        pred, target: complex [..., L] (spatial_dims=1: each last-axis line is a signal, the
            leading axes are a batch) or [..., H, W] (spatial_dims=2: images).
        spatial_dims: 1 or 2; None means 1 for a 1-D input and 2 otherwise. A batch of columns
            [B, L] must pass 1 (a 7x7 window over B adjacent patches would mix patches).
        window: side of the uniform window (7 -> a 7-long window in 1-D, 7x7 in 2-D).
        sample_covariance: local variances and covariance with the n / (n - 1) correction,
            n the window size (the common scikit-image convention).

    Windows are 'valid' (no padding): only positions where the window fits inside the array
    count. C1 = (0.01 P)^2 and C2 = (0.03 P)^2 with P = max|y| over the whole array.
    """
    p, t = complex_pair(pred, target)
    return ssim_real(
        p.abs(),
        t.abs(),
        peak=t.abs().max(),
        spatial_dims=spatial_dims,
        window=window,
        sample_covariance=sample_covariance,
    )


def ssim_real(
    x: Tensor,
    y: Tensor,
    *,
    peak: Tensor | float,
    spatial_dims: int | None = None,
    window: int = SSIM_WINDOW,
    sample_covariance: bool = True,
) -> Tensor:
    """Mean SSIM of real arrays x against y (see `ssim`); `peak` sets C1, C2."""
    if spatial_dims is None:
        spatial_dims = 1 if y.ndim == 1 else 2
    if spatial_dims not in (1, 2):
        raise SarssmError(f"ssim: spatial_dims must be 1 or 2, got {spatial_dims!r}")
    if y.ndim < spatial_dims:
        raise SarssmError(f"ssim: a {y.ndim}-D array has no {spatial_dims}-D images")
    sizes = tuple(y.shape[-spatial_dims:])
    if window < 2 or min(sizes) < window:
        hint = " (for a batch of columns pass spatial_dims=1)" if spatial_dims == 2 else ""
        raise SarssmError(f"ssim: window {window} does not fit signals of size {sizes}{hint}")
    # Fold leading axes into the batch: [N, 1, L] or [N, 1, H, W] for the pooling ops.
    x = x.reshape(-1, 1, *sizes)
    y = y.reshape(-1, 1, *sizes)
    pool = F.avg_pool1d if spatial_dims == 1 else F.avg_pool2d

    def local_mean(z: Tensor) -> Tensor:
        return pool(z, window, stride=1)  # valid positions only, no padding

    n = window**spatial_dims
    norm = n / (n - 1) if sample_covariance else 1.0
    mu_x, mu_y = local_mean(x), local_mean(y)  # [N, 1, L - w + 1] or [N, 1, H', W']
    var_x = norm * (local_mean(x * x) - mu_x * mu_x)
    var_y = norm * (local_mean(y * y) - mu_y * mu_y)
    cov_xy = norm * (local_mean(x * y) - mu_x * mu_y)
    c1 = (SSIM_K1 * peak) ** 2
    c2 = (SSIM_K2 * peak) ** 2
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)
    den = (mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2)
    return (num / den).mean()


# --- distributions -------------------------------------------------------------------------
def moments(x: Tensor) -> dict[str, Tensor]:
    """Mean, std, skewness and excess kurtosis of a real array (population, ddof = 0).

    skewness = E[(x - m)^3] / s^3, kurtosis = E[(x - m)^4] / s^4 - 3 (0 for a Gaussian);
    both are NaN for a constant array (s = 0).
    """
    x = x.reshape(-1)
    mean = x.mean()
    d = x - mean
    var = d.square().mean()
    std = torch.sqrt(var)
    skew = d.pow(3).mean() / var.pow(1.5)
    kurt = d.pow(4).mean() / var.square() - 3.0
    return {"mean": mean, "std": std, "skewness": skew, "kurtosis": kurt}


def distribution_stats(z: Any) -> dict[str, Tensor]:
    """`moments` of Re z, Im z and |z|, keyed '<part>/<stat>' (part in re, im, abs)."""
    z = as_complex(z)
    parts = {"re": z.real, "im": z.imag, "abs": z.abs()}
    return {f"{part}/{stat}": v for part, x in parts.items() for stat, v in moments(x).items()}


def complex_std(z: Any) -> Tensor:
    """Complex standard deviation sqrt(mean |z - mean z|^2)."""
    z = as_complex(z)
    return torch.sqrt(_power(z - z.mean()).mean())


def collapse_ratio(pred: Any, target: Any) -> Tensor:
    """std(yhat) / std(y) with the complex std: below 1 the prediction has collapsed."""
    p, t = complex_pair(pred, target)
    return complex_std(p) / complex_std(t)


# --- everything at once --------------------------------------------------------------------
def evaluate_arrays(pred: Any, target: Any, *, spatial_dims: int | None = None) -> dict[str, float]:
    """All window metrics as floats, computed in float64.

    Keys: nmse_db, coherence, psnr_db, ssim, collapse_ratio, and dist/<part>/<stat>_pred,
    dist/<part>/<stat>_target for part in (re, im, abs), stat in (mean, std, skewness,
    kurtosis). `spatial_dims` is passed to `ssim`.
    """
    p, t = complex_pair(pred, target)
    with torch.no_grad():
        p = p.detach().to(torch.complex128)
        t = t.detach().to(torch.complex128)
        for name, z in (("pred", p), ("target", t)):
            if not bool(torch.isfinite(torch.view_as_real(z)).all()):
                raise SarssmError(f"metrics: {name} contains NaN or infinite values")
        if not bool((t != 0).any()):
            raise SarssmError("metrics: target window is all zeros (metrics undefined)")
        out = {
            "nmse_db": nmse_db(p, t),
            "coherence": coherence(p, t),
            "psnr_db": psnr_db(p, t),
            "ssim": ssim(p, t, spatial_dims=spatial_dims),
            "collapse_ratio": collapse_ratio(p, t),
        }
        stats_p, stats_t = distribution_stats(p), distribution_stats(t)
        for key in stats_t:
            out[f"dist/{key}_pred"] = stats_p[key]
            out[f"dist/{key}_target"] = stats_t[key]
    return {k: float(v) for k, v in out.items()}
