"""Linear complex normalisation: round trip, linearity, phase, streaming fit, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarssm.data.normalize import ComplexScaler
from sarssm.errors import ConfigError, SarssmError


def _speckle(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return (scale * z).astype(np.complex64)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


def test_round_trip(rng):
    x = _speckle(rng, (4, 64), 37.0)
    # A power-of-two scale divides and multiplies without rounding: bit-exact.
    s2 = ComplexScaler(input_scale=8.0, target_scale=0.25)
    np.testing.assert_array_equal(s2.denormalize_output(s2.normalize_target(x)), x)
    np.testing.assert_array_equal(s2.denormalize_input(s2.normalize_input(x)), x)
    # Any scale: exact to the dtype's rounding; dtype kept (complex64 stays complex64).
    s = ComplexScaler(input_scale=3.7, target_scale=123.4)
    back = s.denormalize_output(s.normalize_target(x))
    assert back.dtype == np.complex64
    np.testing.assert_allclose(back, x, rtol=2e-7)
    x64 = x.astype(np.complex128)
    np.testing.assert_allclose(s.denormalize_output(s.normalize_target(x64)), x64, rtol=1e-15)


def test_linearity_for_complex_coefficients(rng):
    s = ComplexScaler(input_scale=2.3, target_scale=0.7)
    x = _speckle(rng, (128,)).astype(np.complex128)
    z = _speckle(rng, (128,)).astype(np.complex128)
    a, b = 1.5 - 2.0j, -0.3 + 0.8j
    for f in (s.normalize_input, s.normalize_target, s.denormalize_output):
        np.testing.assert_allclose(f(a * x + b * z), a * f(x) + b * f(z), rtol=1e-13, atol=1e-13)
        # No offset: zero maps to zero.
        assert np.all(f(np.zeros(3, dtype=np.complex128)) == 0)


def test_phase_preserved_and_torch_inputs(rng):
    s = ComplexScaler(input_scale=5.0, target_scale=0.01)
    x = torch.as_tensor(_speckle(rng, (2, 50)))
    xn = s.normalize_input(x)
    assert xn.dtype == torch.complex64
    torch.testing.assert_close(torch.angle(xn), torch.angle(x), rtol=0, atol=1e-6)
    torch.testing.assert_close(xn.abs(), x.abs() / 5.0)


def test_fit_matches_numpy(rng):
    # Chunks of different shapes and levels, numpy and torch mixed: the split seen in pieces.
    xs = [_speckle(rng, (3, 40), 10.0), _speckle(rng, (7,), 2.0), _speckle(rng, (5, 5), 30.0)]
    ys = [_speckle(rng, (3, 40), 0.1), _speckle(rng, (7,), 0.5), _speckle(rng, (5, 5), 1.0)]
    pairs = [(xs[0], ys[0]), (torch.as_tensor(xs[1]), torch.as_tensor(ys[1])), (xs[2], ys[2])]
    scaler = ComplexScaler.fit(iter(pairs))
    x_all = np.concatenate([a.ravel().astype(np.complex128) for a in xs])
    y_all = np.concatenate([a.ravel().astype(np.complex128) for a in ys])
    assert scaler.input_scale == pytest.approx(np.sqrt(np.mean(np.abs(x_all) ** 2)), rel=1e-12)
    assert scaler.target_scale == pytest.approx(np.sqrt(np.mean(np.abs(y_all) ** 2)), rel=1e-12)
    # After normalisation the training split has unit RMS amplitude.
    xn = scaler.normalize_input(x_all)
    assert np.sqrt(np.mean(np.abs(xn) ** 2)) == pytest.approx(1.0, rel=1e-12)


def test_fit_accumulates_in_float64():
    # 1e39 |.|^2 overflows float32; float64 sums keep it.
    big = np.full((1000,), 3e19 + 4e19j, dtype=np.complex64)
    scaler = ComplexScaler.fit([(big, np.ones(4, dtype=np.complex64))])
    assert scaler.input_scale == pytest.approx(5e19, rel=1e-6)


def test_dict_round_trip_and_file(tmp_path):
    s = ComplexScaler(input_scale=1.25, target_scale=3)
    assert s.to_dict() == {"input_scale": 1.25, "target_scale": 3.0}
    assert ComplexScaler.from_dict(s.to_dict()) == s
    path = tmp_path / "scaler.json"
    s.save(path)
    assert ComplexScaler.load(path) == s
    with pytest.raises(ConfigError, match="unknown key"):
        ComplexScaler.from_dict({"input_scale": 1.0, "target_scale": 1.0, "offset": 0.5})
    with pytest.raises(ConfigError, match="target_scale"):
        ComplexScaler.from_dict({"input_scale": 1.0})
    with pytest.raises(ConfigError, match="not found"):
        ComplexScaler.load(tmp_path / "missing.json")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "2"])
def test_bad_scale_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="input_scale"):
        ComplexScaler(input_scale=bad, target_scale=1.0)


def test_fit_errors(rng):
    ok = _speckle(rng, (8,))
    with pytest.raises(SarssmError, match="empty"):
        ComplexScaler.fit([])
    with pytest.raises(SarssmError, match=r"target RMS amplitude is 0\.0"):
        ComplexScaler.fit([(ok, np.zeros(8, dtype=np.complex64))])
    bad = ok.copy()
    bad[3] = np.nan
    with pytest.raises(SarssmError, match="input of pair 1 contains NaN"):
        ComplexScaler.fit([(ok, ok), (bad, ok)])
    with pytest.raises(SarssmError, match="not an"):
        ComplexScaler.fit([ok])
