"""One S4D layer represents the demo preset's azimuth matched filter (docs/models.md has the
sweep over state sizes and initialisations: `benchmarks/models_fit.py`)."""

from __future__ import annotations

import numpy as np
import torch

from sarssm.models.fit import fit_impulse_response, nmse_db
from sarssm.models.s4d import S4D
from sarssm.physics import matched_filter_taps
from sarssm.physics.geometry import get_preset

HALF = 95  # lags -95..95: the aperture (64 samples) and the filter's tails
DELAY = 32  # half the demo aperture


def test_matched_filter_taps_are_the_conjugate_chirp():
    """Inside the aperture the taps follow the windowed conjugate chirp exp(+j pi Ka t^2)."""
    geo = get_preset("demo")
    h = matched_filter_taps(geo, HALF)
    col = geo.n_range // 2
    ka = geo.ka([col])[0]
    t = np.arange(-HALF, HALF + 1) / geo.prf_hz
    inside = np.abs(t) < 0.4 * geo.aperture_time([col])[0]
    ref = geo.window(-ka * t) * np.exp(1j * np.pi * ka * t**2)  # stationary phase: f = -Ka t
    a, b = h[inside], ref[inside]
    coherence = np.abs(np.vdot(b, a)) / np.linalg.norm(a) / np.linalg.norm(b)
    assert coherence > 0.99
    # the filter focuses the chirp: a peak at lag 0, sidelobes of the generalised Hamming window
    chirp = np.exp(-1j * np.pi * ka * t**2) * (np.abs(t) < geo.aperture_time([col])[0] / 2)
    out = np.abs(np.convolve(chirp, h))
    assert np.argmax(out) == 2 * HALF


def _fit(direction: str, N: int, delay: int) -> tuple[float, float]:
    """NMSE (dB) after fitting, against the reachable target and against the full filter."""
    geo = get_preset("demo")
    full = matched_filter_taps(geo, HALF)
    lags = np.arange(-HALF, HALF + 1)
    target = np.where(lags >= -delay, full, 0) if direction == "causal" else full
    torch.manual_seed(0)
    layer = S4D(1, N, direction=direction, delay=delay, init="band")
    reached = fit_impulse_response(layer, target, steps=400, lr=2e-2)
    with torch.no_grad():
        h = layer.impulse_response(HALF + 1)[0]
    return reached, nmse_db(h, torch.as_tensor(full)).item()


def test_causal_layer_fits_matched_filter_with_half_aperture_delay():
    reached, full = _fit("causal", 64, DELAY)
    assert reached < -30.0  # on the taps a causal filter with delay 32 can reach
    # the taps before lag -32 (the filter's tail, about -21.7 dB of its energy) stay unreachable
    assert -23.0 < full < -20.0


def test_bidirectional_layer_fits_matched_filter():
    reached, full = _fit("bidirectional", 32, 0)
    assert reached < -30.0 and abs(full - reached) < 1e-9
