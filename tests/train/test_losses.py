"""Losses against numpy references, gradient sanity and the weighted sum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarssm.errors import ConfigError, SarssmError
from sarssm.train import losses
from sarssm.train.losses import LOSSES, WeightedSumLoss


def _speckle(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


@pytest.fixture(params=[(3, 24), (2, 20, 3)], ids=["BL", "BLC"])
def pair(request) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = _speckle(rng, request.param)
    yhat = 0.9 * y * np.exp(0.3j) + 0.3 * _speckle(rng, y.shape)
    return yhat, y


def _ssim_1d_loop(x: np.ndarray, y: np.ndarray, peak: float, w: int = 7) -> float:
    """Mean SSIM of 1-D signals (rows of x, y) over valid windows, sample covariance."""
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    vals = []
    for xr, yr in zip(x, y, strict=True):
        for i in range(xr.size - w + 1):
            a, b = xr[i : i + w], yr[i : i + w]
            ma, mb = a.mean(), b.mean()
            cab = np.sum((a - ma) * (b - mb)) / (w - 1)
            num = (2 * ma * mb + c1) * (2 * cab + c2)
            vals.append(num / ((ma**2 + mb**2 + c1) * (a.var(ddof=1) + b.var(ddof=1) + c2)))
    return float(np.mean(vals))


def reference(name: str, yhat: np.ndarray, y: np.ndarray) -> float:
    """Each loss written directly in numpy (angles via np.angle, loops for SSIM)."""
    d = yhat - y
    if name == "complex_mse":
        return float(np.mean(np.abs(d) ** 2))
    if name == "complex_l1":
        return float(np.mean(np.abs(d)))
    if name == "amplitude_l1":
        return float(np.mean(np.abs(np.abs(yhat) - np.abs(y))))
    if name == "log_amplitude_l1":
        eps = 1e-3 * np.sqrt(np.mean(np.abs(y) ** 2))
        return float(np.mean(np.abs(np.log(np.abs(yhat) + eps) - np.log(np.abs(y) + eps))))
    if name == "ssim_amplitude":
        cols_hat = np.moveaxis(np.abs(yhat), 1, -1).reshape(-1, y.shape[1])
        cols = np.moveaxis(np.abs(y), 1, -1).reshape(-1, y.shape[1])
        return 1.0 - _ssim_1d_loop(cols_hat, cols, np.abs(y).max())
    if name == "phase_error":
        dphi = np.angle(yhat) - np.angle(y)
        return float(np.sum(np.abs(y) * (1 - np.cos(dphi))) / np.sum(np.abs(y)))
    raise AssertionError(name)


def test_registry_names():
    assert set(LOSSES) == {
        "complex_mse",
        "complex_l1",
        "amplitude_l1",
        "log_amplitude_l1",
        "ssim_amplitude",
        "phase_error",
    }


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_matches_reference(name, pair):
    yhat, y = pair
    got = float(LOSSES[name](torch.as_tensor(yhat), torch.as_tensor(y)))
    # phase_error carries eps = 1e-6 mean|y|^2 in its denominator: a relative bias of that order.
    tol = 1e-5 if name == "phase_error" else 1e-10
    assert got == pytest.approx(reference(name, yhat, y), rel=tol, abs=1e-12)


def test_phase_error_without_eps_is_exact(pair):
    yhat, y = pair
    got = float(losses.phase_error(torch.as_tensor(yhat), torch.as_tensor(y), eps_rel=0.0))
    assert got == pytest.approx(reference("phase_error", yhat, y), abs=1e-12)


def test_phase_error_ignores_amplitude_and_sees_phase(pair):
    _, y = pair
    y_t = torch.as_tensor(y)
    assert float(losses.phase_error(3.0 * y_t, y_t)) == pytest.approx(0.0, abs=1e-12)
    # A uniform rotation by dphi gives exactly 1 - cos(dphi).
    rotated = y_t * np.exp(1j * 0.5)
    assert float(losses.phase_error(rotated, y_t)) == pytest.approx(1 - np.cos(0.5), rel=1e-5)


def test_log_amplitude_is_scale_invariant(pair):
    yhat, y = (torch.as_tensor(a) for a in pair)
    a = float(losses.log_amplitude_l1(yhat, y))
    b = float(losses.log_amplitude_l1(1e3 * yhat, 1e3 * y))
    assert a == pytest.approx(b, rel=1e-9)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradients_finite_and_zero_at_target(name, pair):
    yhat, y = (torch.as_tensor(a) for a in pair)
    p = yhat.clone().requires_grad_(True)
    LOSSES[name](p, y).backward()
    assert torch.isfinite(torch.view_as_real(p.grad)).all()
    assert float(p.grad.abs().max()) > 0
    # At yhat == y every loss is at its minimum 0 with a zero (sub)gradient.
    p = y.clone().requires_grad_(True)
    value = LOSSES[name](p, y)
    value.backward()
    assert float(value.detach()) == pytest.approx(0.0, abs=1e-12)
    assert float(p.grad.abs().max()) < 1e-7


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradients_finite_with_zero_samples(name):
    y = torch.zeros(2, 16, dtype=torch.complex64)
    y[:, ::3] = 1 + 1j
    p = torch.zeros_like(y).requires_grad_(True)  # zero prediction: |.| and angle undefined
    LOSSES[name](p, y).backward()
    assert torch.isfinite(torch.view_as_real(p.grad)).all()


def test_input_checks():
    y = torch.ones(2, 10, dtype=torch.complex64)
    with pytest.raises(SarssmError, match="complex"):
        losses.complex_mse(y.real, y.real)
    with pytest.raises(SarssmError, match="shape"):
        losses.complex_mse(y[:1], y)
    with pytest.raises(SarssmError, match=r"\[B, L\]"):
        losses.complex_mse(y[0], y[0])


# --- weighted sum --------------------------------------------------------------------------
def test_weighted_sum_total_terms_and_formula(pair):
    yhat, y = (torch.as_tensor(a) for a in pair)
    weights = {"complex_mse": 1.0, "log_amplitude_l1": 0.1, "phase_error": 2}
    crit = WeightedSumLoss(weights)
    assert str(crit) == "Loss = 1.0 * complex_mse + 0.1 * log_amplitude_l1 + 2.0 * phase_error"
    total, terms = crit(yhat, y)
    assert list(terms) == list(weights)
    expected = sum(w * float(LOSSES[n](yhat, y)) for n, w in weights.items())
    assert float(total) == pytest.approx(expected, rel=1e-12)
    assert float(total) == pytest.approx(sum(weights[n] * float(t) for n, t in terms.items()))


def test_weighted_sum_gradient_has_every_term(pair):
    yhat, y = (torch.as_tensor(a) for a in pair)
    weights = {"complex_mse": 1.0, "amplitude_l1": 0.5, "ssim_amplitude": 0.25}
    p = yhat.clone().requires_grad_(True)
    total, _ = WeightedSumLoss(weights)(p, y)
    total.backward()
    expected = torch.zeros_like(yhat)
    for name, w in weights.items():
        q = yhat.clone().requires_grad_(True)
        LOSSES[name](q, y).backward()
        expected += w * q.grad
    torch.testing.assert_close(p.grad, expected)


def test_weighted_sum_zero_weight_is_logged_not_optimised(pair):
    yhat, y = (torch.as_tensor(a) for a in pair)
    p = yhat.clone().requires_grad_(True)
    total, terms = WeightedSumLoss({"complex_mse": 1.0, "phase_error": 0.0})(p, y)
    total.backward()
    q = yhat.clone().requires_grad_(True)
    losses.complex_mse(q, y).backward()
    torch.testing.assert_close(p.grad, q.grad)
    assert float(terms["phase_error"].detach()) > 0


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ({"complex_mes": 1.0}, "known losses"),
        ({}, "non-empty"),
        ({"complex_mse": -1.0}, ">= 0"),
        ({"complex_mse": True}, "finite number"),
        ({"complex_mse": float("nan")}, "finite number"),
        ({"complex_mse": "1"}, "finite number"),
    ],
)
def test_weighted_sum_config_errors(weights, match):
    with pytest.raises(ConfigError, match=match):
        WeightedSumLoss(weights)


def test_unknown_loss_lists_names():
    with pytest.raises(ConfigError) as err:
        losses.get_loss("mse")
    assert "complex_mse" in str(err.value) and "phase_error" in str(err.value)
