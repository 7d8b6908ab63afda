"""Azimuth signal physics of one range column: spectra, matched filter, migration, delays.

Conventions (shared by the simulator, the reference processor and the models):

- Rows are azimuth samples (slow time t_n = n / PRF), columns are range bins at slant range
  R_m = near_range + m * range_spacing. Zero squint, zero Doppler centroid.
- A unit point target at row r0 and closest-approach range R0 has range history
  R(t) = sqrt(R0^2 + V^2 t^2), t = t_n - r0 / PRF, and azimuth phase -4 pi (R(t) - R0) / lambda.
- By stationary phase its azimuth spectrum (numpy's unnormalised DFT of the column) is

      S(f) = G(f) * PRF / sqrt(Ka D(f)^3) * exp(-j pi/4) * exp(-j 4 pi R0 (D(f) - 1) / lambda)
             * exp(-j 2 pi f r0 / PRF),

  with D(f) = sqrt(1 - (lambda f / 2V)^2), Ka = 2 V^2 / (lambda R0) and G the two-way antenna
  amplitude (`Geometry.antenna_gain`). In the range-Doppler domain the target sits at range
  R0 / D(f): range cell migration R0 (1 / D(f) - 1). `azimuth_transfer` returns S for r0 = 0.
- The windowed matched filter H(f) = W(f) exp(+j 4 pi R0 (D - 1) / lambda) exp(+j pi/4)
  sqrt(Ka D^3) / PRF / c cancels the phase and the stationary-phase amplitude, leaving the
  effective weighting W(f) G(f) / c (c the coherent gain, so a unit target focuses to 1).

The phase 4 pi R0 (D(f) - 1) / lambda is exactly linear in R0, and the amplitude goes as
R0^(-1/2): `range_transfer` maps a column at one slant range onto another exactly, which is how
a model is conditioned on its column's geometry (`sarssm.models.conditioning`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sarssm.errors import ConfigError
from sarssm.physics.geometry import Geometry


def as_cols(geometry: Geometry, cols: Any, n_cols: int | None = None) -> np.ndarray:
    """Absolute column indices (int64, contiguous) of a block; default all columns."""
    if cols is None:
        cols = np.arange(geometry.n_range if n_cols is None else n_cols)
    cols = np.asarray(cols)
    if cols.ndim != 1 or cols.size == 0:
        raise ConfigError(f"cols must be a non-empty 1-D index array, got shape {cols.shape}")
    if not np.all(np.equal(np.mod(cols, 1), 0)):
        raise ConfigError("cols must hold integer column indices")
    cols = cols.astype(np.int64)
    if cols.size > 1 and not np.all(np.diff(cols) == 1):
        raise ConfigError("cols must be contiguous increasing column indices (c0, c0+1, ...)")
    if n_cols is not None and cols.size != n_cols:
        raise ConfigError(f"cols has {cols.size} entries but the block has {n_cols} columns")
    return cols


def full_support_samples(geometry: Geometry, cols: Any = None) -> float:
    """Longest azimuth support (rows) of a target, the span where |f(t)| <= PRF / 2."""
    r0 = float(np.max(geometry.slant_range(cols)))
    u = geometry.wavelength_m * geometry.prf_hz / (4.0 * geometry.velocity_mps)
    t_max = u * r0 / (geometry.velocity_mps * math.sqrt(1.0 - u * u))
    return 2.0 * t_max * geometry.prf_hz


def effective_weighting(geometry: Geometry, f: np.ndarray) -> np.ndarray:
    """W(f) G(f): the azimuth spectral weighting a focused point target sees (real, >= 0)."""
    f = np.asarray(f, dtype=np.float64)
    return geometry.window(f) * geometry.antenna_gain(f)


def migration_bins(geometry: Geometry, f: np.ndarray, r0: np.ndarray | float) -> np.ndarray:
    """Range cell migration R0 (1/D(f) - 1) in range bins; shape broadcast(f, r0)."""
    d = geometry.migration_factor(f)
    # 1/D - 1 = (1 - D) / D, with 1 - D = u^2 / (1 + D) kept free of cancellation
    u2 = (
        geometry.wavelength_m * np.asarray(f, dtype=np.float64) / (2 * geometry.velocity_mps)
    ) ** 2
    return np.asarray(r0) * (u2 / (1.0 + d)) / d / geometry.range_spacing_m


def azimuth_phase(geometry: Geometry, f: np.ndarray, r0: np.ndarray) -> np.ndarray:
    """4 pi R0 (D(f) - 1) / lambda, [n, ncols] float64 (cancellation-free form of D - 1)."""
    f = np.asarray(f, dtype=np.float64)[:, None]
    d = geometry.migration_factor(f)
    u2 = (geometry.wavelength_m * f / (2 * geometry.velocity_mps)) ** 2
    return (
        -4.0
        * np.pi
        * np.asarray(r0, dtype=np.float64)[None, :]
        * (u2 / (1.0 + d))
        / (geometry.wavelength_m)
    )


def azimuth_transfer(geometry: Geometry, cols: Any, n: int) -> np.ndarray:
    """Stationary-phase azimuth spectrum of a unit target at row 0, per column, FFT order.

    S(f) = G(f) PRF / sqrt(Ka D^3) exp(-j pi/4) exp(-j 4 pi R0 (D - 1) / lambda).
    Returns [n, ncols] complex128.
    """
    cols = as_cols(geometry, cols)
    f = geometry.doppler_frequencies(n)  # [n]
    r0 = geometry.slant_range(cols)  # [M]
    d3 = geometry.migration_factor(f)[:, None] ** 3  # [n, 1]
    amp = geometry.antenna_gain(f)[:, None] * geometry.prf_hz / np.sqrt(geometry.ka(cols) * d3)
    return amp * np.exp(-1j * (np.pi / 4 + azimuth_phase(geometry, f, r0)))  # [n, M]


def azimuth_matched_filter(
    geometry: Geometry, cols: Any, n: int, dtype: Any = np.complex128
) -> np.ndarray:
    """Matched filter H(f) of each column on the n-point FFT grid, [n, ncols] of `dtype`.

    H = W exp(+j 4 pi R0 (D - 1) / lambda) exp(+j pi/4) sqrt(Ka D^3) / PRF / c, with the
    coherent gain c = sum_f W G / n, so that H * S = W G / c and a unit target at an integer
    row focuses to exactly 1. Zero outside the processed band |f| <= Ba / 2.
    """
    cols = as_cols(geometry, cols)
    f = geometry.doppler_frequencies(n)
    band = np.flatnonzero(geometry.window(f) != 0.0)  # only in-band bins are non-zero
    fb = f[band]
    gain = np.sum(effective_weighting(geometry, f)) / n
    amp_f = geometry.window(fb) * geometry.migration_factor(fb) ** 1.5  # [nb]
    amp_r = np.sqrt(geometry.ka(cols)) / (geometry.prf_hz * gain)  # [M]
    phase = np.pi / 4 + azimuth_phase(geometry, fb, geometry.slant_range(cols))  # [nb, M]
    h = np.zeros((n, cols.size), dtype=dtype)
    h[band] = (amp_f[:, None] * amp_r[None, :]) * unit_phasor(phase, h.dtype)
    return h


def unit_phasor(phase: np.ndarray, dtype: Any) -> np.ndarray:
    """exp(j phase) as `dtype`; complex64 via float32 trig after reduction modulo 2 pi."""
    if np.dtype(dtype) == np.complex128:
        return np.exp(1j * phase)
    p = np.mod(phase, 2.0 * np.pi).astype(np.float32)
    out = np.empty(p.shape, dtype=np.complex64)
    out.real, out.imag = np.cos(p), np.sin(p)
    return out


def range_transfer(geometry: Geometry, f: np.ndarray, r0: Any, r_ref: float) -> np.ndarray:
    """T(f) = S_ref(f) / S_R0(f): maps the azimuth signal of a column at slant range R0 onto
    the signal the same scene gives at R_ref, exactly (stationary phase; G cancels).

        T(f) = sqrt(R_ref / R0) exp(+j 4 pi (R0 - R_ref) (D(f) - 1) / lambda)

    Args:
        f: [n] Doppler frequencies [Hz]. r0: [M] slant ranges [m]. r_ref: reference range [m].
    Returns:
        [n, M] complex128. T is all-pass up to the amplitude sqrt(R_ref / R0).
    """
    r0 = np.atleast_1d(np.asarray(r0, dtype=np.float64))
    if np.any(~np.isfinite(r0)) or np.any(r0 <= 0) or not r_ref > 0:
        raise ConfigError(f"slant ranges must be positive and finite, got {r0!r}, {r_ref!r}")
    dphi = azimuth_phase(geometry, f, r0 - r_ref)  # linear in R0
    return np.sqrt(r_ref / r0)[None, :] * np.exp(1j * dphi)


def matched_filter_taps(geometry: Geometry, half: int, column: int | None = None) -> np.ndarray:
    """Taps h [2 half + 1] complex128 of the windowed azimuth matched filter (unit gain, no
    antenna or amplitude terms), lags -half..half, y[t] = sum_j h[j] u[t - j].

    Built by an inverse FFT of W(f) exp(+j 4 pi R0 (D(f) - 1) / lambda) over the column length
    n_azimuth (so half < n_azimuth / 2), for `column` (default the middle column).
    """
    n = geometry.n_azimuth
    if not 0 < half < n // 2:
        raise ValueError(f"half must be in 1..{n // 2 - 1} for n_azimuth={n}, got {half}")
    col = geometry.n_range // 2 if column is None else column
    r0 = geometry.slant_range([col])
    f = geometry.doppler_frequencies(n)  # [n] FFT order
    phase = azimuth_phase(geometry, f, r0)[:, 0]
    h = np.fft.ifft(geometry.window(f) * np.exp(1j * phase))  # [n], lag j at index j mod n
    lags = np.arange(-half, half + 1)
    return h[lags % n]


def truncation_floor_db(geometry: Geometry, delay: int, r0: float, n: int = 1 << 15) -> float:
    """Error floor of any causal focuser with output delay `delay` at slant range R0.

    The reference output at row t depends on the input up to rows t + j for every lag j of the
    matched filter's impulse response h (y[t] = sum_j h[j] x[t - j]); a causal model that emits
    row t after reading row t + delay cannot use the lags j < -delay. The floor is the energy of
    that part of h, applied to the signal of a white scene (spectrum S of `azimuth_transfer`),
    relative to the whole output: 10 log10(sum |FFT(h_tail) S|^2 / sum |H S|^2).
    """
    g = geometry.replace(near_range_m=float(r0), n_range=1)
    H = azimuth_matched_filter(g, [0], n)[:, 0]
    S = azimuth_transfer(g, [0], n)[:, 0]
    h = np.fft.ifft(H)  # lag j at index j mod n
    tail = np.zeros(n, dtype=complex)
    d = int(delay)
    if d < n // 2:
        tail[n // 2 : n - d] = h[n // 2 : n - d]  # lags -n/2 .. -(d + 1)
    total = float(np.sum(np.abs(H * S) ** 2))
    err = float(np.sum(np.abs(np.fft.fft(tail) * S) ** 2))
    return 10.0 * math.log10(max(err / total, 1e-30))
