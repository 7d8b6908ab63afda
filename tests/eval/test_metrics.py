"""Metric definitions against closed forms and independent slow numpy loops."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from sarssm.errors import SarssmError
from sarssm.eval import metrics


def _speckle(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# --- slow references -----------------------------------------------------------------------
def _ssim_window(a: np.ndarray, b: np.ndarray, c1: float, c2: float, ddof: int) -> float:
    ma, mb = a.mean(), b.mean()
    va, vb = a.var(ddof=ddof), b.var(ddof=ddof)
    cab = np.sum((a - ma) * (b - mb)) / (a.size - ddof)
    return ((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))


def ssim_loop(pred: np.ndarray, target: np.ndarray, dims: int, w: int = 7, ddof: int = 1):
    """Mean SSIM over every valid window position, one window at a time."""
    x, y = np.abs(pred), np.abs(target)
    peak = y.max()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    vals = []
    if dims == 1:
        for xr, yr in zip(x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1]), strict=True):
            for i in range(xr.size - w + 1):
                vals.append(_ssim_window(xr[i : i + w], yr[i : i + w], c1, c2, ddof))
    else:
        hw = x.shape[-2:]
        for xi, yi in zip(x.reshape(-1, *hw), y.reshape(-1, *hw), strict=True):
            for i in range(hw[0] - w + 1):
                for j in range(hw[1] - w + 1):
                    a = xi[i : i + w, j : j + w].ravel()
                    b = yi[i : i + w, j : j + w].ravel()
                    vals.append(_ssim_window(a, b, c1, c2, ddof))
    return float(np.mean(vals))


# --- complex fidelity ----------------------------------------------------------------------
def test_nmse_closed_form_and_reference(rng):
    y = _speckle(rng, (4, 50))
    assert float(metrics.nmse_db(0.5 * y, y)) == pytest.approx(10 * np.log10(0.25), abs=1e-9)
    yhat = y + 0.1 * _speckle(rng, y.shape)
    ref = 10 * np.log10(np.sum(np.abs(yhat - y) ** 2) / np.sum(np.abs(y) ** 2))
    assert float(metrics.nmse_db(yhat, y)) == pytest.approx(ref, abs=1e-9)


def test_coherence_reference_and_invariance(rng):
    y = _speckle(rng, (3, 40))
    # A global complex gain changes neither modulus structure nor relative phase.
    assert float(metrics.coherence((2.0 - 3.0j) * y, y)) == pytest.approx(1.0, abs=1e-12)
    yhat = y + _speckle(rng, y.shape)
    ref = np.abs(np.sum(yhat * np.conj(y))) / np.sqrt(
        np.sum(np.abs(yhat) ** 2) * np.sum(np.abs(y) ** 2)
    )
    assert float(metrics.coherence(yhat, y)) == pytest.approx(ref, abs=1e-12)
    assert 0.0 <= float(metrics.coherence(yhat, y)) <= 1.0


def test_psnr_closed_form(rng):
    y = _speckle(rng, (64,))
    delta = 0.05
    # |yhat| - |y| = delta |y|, whatever the phase rotation.
    yhat = (1 + delta) * y * np.exp(1j * 0.7)
    ref = 20 * np.log10(np.abs(y).max() / (delta * np.sqrt(np.mean(np.abs(y) ** 2))))
    assert float(metrics.psnr_db(yhat, y)) == pytest.approx(ref, abs=1e-9)


# --- SSIM ----------------------------------------------------------------------------------
def test_ssim_identity_is_one(rng):
    y = _speckle(rng, (20, 30))
    assert float(metrics.ssim(y, y)) == pytest.approx(1.0, abs=1e-12)
    assert float(metrics.ssim(y, y, spatial_dims=1)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("sample_covariance", [True, False])
def test_ssim_2d_matches_loop(rng, sample_covariance):
    y = _speckle(rng, (17, 21))
    yhat = y + 0.4 * _speckle(rng, y.shape)
    got = float(metrics.ssim(yhat, y, sample_covariance=sample_covariance))
    ref = ssim_loop(yhat, y, dims=2, ddof=1 if sample_covariance else 0)
    assert got == pytest.approx(ref, abs=1e-10)
    assert got < 0.99  # the noise really lowers it


def test_ssim_1d_batch_matches_loop(rng):
    y = _speckle(rng, (3, 40))
    yhat = 0.8 * y + 0.3 * _speckle(rng, y.shape)
    got = float(metrics.ssim(yhat, y, spatial_dims=1))
    assert got == pytest.approx(ssim_loop(yhat, y, dims=1), abs=1e-10)
    # A 1-D input defaults to the 1-D window.
    assert float(metrics.ssim(yhat[0], y[0])) == pytest.approx(
        ssim_loop(yhat[0], y[0], dims=1), abs=1e-10
    )


def test_ssim_2d_batch_and_float32(rng):
    y = _speckle(rng, (2, 12, 13))
    yhat = y + 0.5 * _speckle(rng, y.shape)
    ref = ssim_loop(yhat, y, dims=2)
    assert float(metrics.ssim(yhat, y)) == pytest.approx(ref, abs=1e-10)
    got32 = metrics.ssim(yhat.astype(np.complex64), y.astype(np.complex64))
    assert got32.dtype == torch.float32
    assert float(got32) == pytest.approx(ref, abs=1e-4)


def test_ssim_window_too_large_is_clear():
    y = np.ones((100, 1), dtype=np.complex64)
    with pytest.raises(SarssmError, match="spatial_dims=1"):
        metrics.ssim(y, y)


def test_ssim_is_differentiable(rng):
    y = torch.as_tensor(_speckle(rng, (2, 30)))
    yhat = (y + 0.3 * torch.as_tensor(_speckle(rng, (2, 30)))).requires_grad_(True)
    metrics.ssim(yhat, y, spatial_dims=1).backward()
    assert torch.isfinite(torch.view_as_real(yhat.grad)).all()
    assert float(yhat.grad.abs().max()) > 0


# --- distributions -------------------------------------------------------------------------
def test_distribution_stats_match_scipy(rng):
    z = _speckle(rng, (500,)) * (1 + rng.random(500)) + 0.3
    stats = metrics.distribution_stats(z)
    for part, x in (("re", z.real), ("im", z.imag), ("abs", np.abs(z))):
        assert float(stats[f"{part}/mean"]) == pytest.approx(np.mean(x), abs=1e-12)
        assert float(stats[f"{part}/std"]) == pytest.approx(np.std(x), abs=1e-12)
        assert float(stats[f"{part}/skewness"]) == pytest.approx(scipy.stats.skew(x), abs=1e-10)
        assert float(stats[f"{part}/kurtosis"]) == pytest.approx(scipy.stats.kurtosis(x), abs=1e-10)


def test_collapse_ratio(rng):
    y = _speckle(rng, (200,)) + 2.0  # an offset must not count in the std
    assert float(metrics.collapse_ratio(0.5 * (y - 2.0) + 2.0, y)) == pytest.approx(0.5)
    zc = y - y.mean()
    ref = np.sqrt(np.mean(np.abs(zc) ** 2))
    assert float(metrics.complex_std(y)) == pytest.approx(ref, abs=1e-12)


# --- bundle --------------------------------------------------------------------------------
def test_evaluate_arrays_keys_and_values(rng):
    y = _speckle(rng, (16, 16)).astype(np.complex64)
    yhat = y + 0.1 * _speckle(rng, y.shape).astype(np.complex64)
    out = metrics.evaluate_arrays(yhat, y)
    head = ["nmse_db", "coherence", "psnr_db", "ssim", "collapse_ratio"]
    dist = [
        f"dist/{p}/{s}_{w}"
        for p in metrics.DIST_PARTS
        for s in metrics.DIST_STATS
        for w in ("pred", "target")
    ]
    assert list(out) == head + dist
    assert all(isinstance(v, float) for v in out.values())
    y128, yhat128 = y.astype(np.complex128), yhat.astype(np.complex128)
    ref = 10 * np.log10(np.sum(np.abs(yhat128 - y128) ** 2) / np.sum(np.abs(y128) ** 2))
    assert out["nmse_db"] == pytest.approx(ref, abs=1e-9)
    assert out["ssim"] == pytest.approx(ssim_loop(yhat128, y128, dims=2), abs=1e-10)
    assert out["dist/abs/std_target"] == pytest.approx(np.std(np.abs(y128)), abs=1e-12)
    perfect = metrics.evaluate_arrays(y, y)
    assert perfect["ssim"] == pytest.approx(1.0) and perfect["coherence"] == pytest.approx(1.0)
    assert perfect["psnr_db"] == np.inf


def test_evaluate_arrays_errors(rng):
    y = _speckle(rng, (10, 10))
    with pytest.raises(SarssmError, match="shape"):
        metrics.evaluate_arrays(y[:5], y)
    bad = y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(SarssmError, match="pred contains NaN"):
        metrics.evaluate_arrays(bad, y)
    with pytest.raises(SarssmError, match="all zeros"):
        metrics.evaluate_arrays(y, np.zeros_like(y))


def test_torch_and_numpy_inputs_agree(rng):
    y = _speckle(rng, (2, 32))
    yhat = y + 0.2 * _speckle(rng, y.shape)
    a = metrics.evaluate_arrays(yhat, y, spatial_dims=1)
    b = metrics.evaluate_arrays(torch.as_tensor(yhat), torch.as_tensor(y), spatial_dims=1)
    assert a == b
