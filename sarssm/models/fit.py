"""Fit one SSM layer's impulse response to the azimuth matched filter (model-order studies).

The windowed azimuth matched filter of a column at slant range R0 is, in the Doppler domain,
H(f) = W(f) exp(+j 4 pi R0 (D(f) - 1) / lambda) (W the generalised Hamming window over the
processed band, D(f) the migration factor), the conjugate of the hyperbolic chirp's spectrum.
Its time-domain taps h[j] (lag j, y[t] = sum_j h[j] u[t-j]) span about one aperture centred on
j = 0: non-causal, which is why a causal model needs a delay of half an aperture.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sarssm.models.s4d import S4D
from sarssm.sim.geometry import Geometry


def matched_filter_taps(geometry: Geometry, half: int, column: int | None = None) -> np.ndarray:
    """Taps h [2 half + 1] complex128 of the azimuth matched filter, lags -half..half.

    Built by an inverse FFT of H(f) over the column length n_azimuth (so half < n_azimuth / 2),
    for `column` (default the middle column).
    """
    n = geometry.n_azimuth
    if not 0 < half < n // 2:
        raise ValueError(f"half must be in 1..{n // 2 - 1} for n_azimuth={n}, got {half}")
    col = geometry.n_range // 2 if column is None else column
    r0 = float(geometry.slant_range([col])[0])
    f = geometry.doppler_frequencies(n)  # [n] FFT order
    phase = 4 * np.pi * r0 * (geometry.migration_factor(f) - 1.0) / geometry.wavelength_m
    h = np.fft.ifft(geometry.window(f) * np.exp(1j * phase))  # [n], lag j at index j mod n
    lags = np.arange(-half, half + 1)
    return h[lags % n]


def nmse_db(estimate: Tensor, target: Tensor) -> Tensor:
    """10 log10(sum |estimate - target|^2 / sum |target|^2)."""
    err = (estimate - target).abs().pow(2).sum() / target.abs().pow(2).sum()
    return 10 * torch.log10(err)


def fit_impulse_response(
    layer: S4D, target: np.ndarray, steps: int = 1000, lr: float = 1e-2
) -> float:
    """Adam on the NMSE (in dB) between `layer.impulse_response(L)[0]` and `target` [2L-1]
    (lags -(L-1)..L-1), with a cosine learning-rate decay. The layer must have one channel
    (it is converted to float64). Returns the NMSE in dB after the last step."""
    L = (len(target) + 1) // 2
    tgt = torch.as_tensor(target, dtype=torch.complex128)
    layer = layer.double().train()
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = nmse_db(layer.impulse_response(L)[0], tgt)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return nmse_db(layer.impulse_response(L)[0], tgt).item()
