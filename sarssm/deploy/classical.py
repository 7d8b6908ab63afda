"""The classical focusers a streaming student is compared with, per azimuth line.

- `StreamingMatchedFilter`: the line-wise DSP baseline. Each column's windowed azimuth matched
  filter (`sarssm.physics.azimuth.matched_filter_taps`, 2 half + 1 taps, half = half the
  longest 3-dB synthetic aperture, the processed band's time extent) runs as a causal FIR over
  a ring of the last 2 half + 1 lines, on the same numba pass as the students' pre-filter
  (`sarssm.deploy.kernels.fir`): the line pushed at t gives the focused row t - half. It reads
  range-migration-corrected lines (`rcmc`), as the block processor's azimuth compression does.
- The block range-Doppler processor (`sarssm.focus.rda.focus_rc`) is the other baseline; its
  cost per line is its block time over the block's lines, with a latency of the whole block.
"""

from __future__ import annotations

import math

import numpy as np

from sarssm.deploy import kernels
from sarssm.deploy.stream import resolve_backend
from sarssm.errors import ConfigError
from sarssm.physics.azimuth import azimuth_phase
from sarssm.physics.geometry import Geometry

_TAP_BLOCK = 512  # columns whose taps are computed at once (an [n, 512] complex128 block)


def matched_filter_bank(geometry: Geometry, half: int) -> np.ndarray:
    """Taps [2 half + 1, W] complex64 of every column's windowed azimuth matched filter
    (lag -half..half, y[t] = sum_j h[j] x[t - j]): `matched_filter_taps` for all columns,
    computed by blocks of columns."""
    n = geometry.n_azimuth
    if not 0 <= half < n // 2:
        raise ConfigError(f"matched filter half-length {half} must be in [0, {n // 2})")
    f = geometry.doppler_frequencies(n)
    window = geometry.window(f)[:, None]
    lags = np.arange(-half, half + 1) % n
    W = geometry.n_range
    out = np.empty((2 * half + 1, W), np.complex64)
    for c0 in range(0, W, _TAP_BLOCK):
        cols = np.arange(c0, min(W, c0 + _TAP_BLOCK))
        phase = azimuth_phase(geometry, f, geometry.slant_range(cols))  # [n, M]
        h = np.fft.ifft(window * np.exp(1j * phase), axis=0)  # [n, M]
        out[:, c0 : c0 + len(cols)] = h[lags]
    return out


class StreamingMatchedFilter:
    """Line-by-line time-domain azimuth matched filter of W = geometry.n_range columns.

    Args:
        geometry: the lines' geometry (n_range columns starting at near_range_m).
        half: taps on each side (default: half the longest 3-dB aperture, rounded up: 426 for
            s1-stripmap columns out to 880 km).
        backend: "auto", "numba" or "numpy" (a plain loop over the taps).
    """

    def __init__(self, geometry: Geometry, half: int | None = None, backend: str = "auto") -> None:
        if half is None:
            half = math.ceil(float(np.max(geometry.aperture_samples())) / 2)
        self.half, self.columns = int(half), int(geometry.n_range)
        self.backend = resolve_backend(backend)
        taps = matched_filter_bank(geometry, self.half)  # tap i (lag i - half) on x[t - i]
        self.taps = kernels.split(taps)  # [2, K, W]
        self._complex_taps = taps if self.backend == "numpy" else None  # made once, not per line
        K, W = taps.shape
        self.ring = np.zeros((2, K, W), np.float32)
        self.xf = np.zeros((2, 1, W), np.float32)
        self.out = np.zeros(W, np.complex64)
        self.t = 0

    @property
    def delay(self) -> int:
        return self.half

    def memory(self) -> dict[str, int]:
        """Bytes held: state (ring of past lines) and weights (taps)."""
        return {"state": self.ring.nbytes, "weights": self.taps.nbytes, "scratch": self.xf.nbytes}

    def push(self, line: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
        """One line [W] in; the focused row t - half [W] complex64 out (None before that)."""
        line = np.ascontiguousarray(line, dtype=np.complex64)
        if line.shape != (self.columns,):
            raise ConfigError(f"expected a line of shape ({self.columns},), got {line.shape}")
        K = self.taps.shape[1]
        slot = self.t % K
        if self.backend == "numba":
            r, t, x = self.ring, self.taps, self.xf
            kernels.fir(slot, line.view(np.float32), r[0], r[1], t[0], t[1], x[0], x[1])
        else:
            self.ring[0, slot], self.ring[1, slot] = line.real, line.imag
            rows = (slot - np.arange(K)) % K
            ring = self.ring[0, rows] + 1j * self.ring[1, rows]  # [K, W]
            y = np.sum(self._complex_taps * ring, axis=0)
            self.xf[0, 0], self.xf[1, 0] = y.real, y.imag
        self.t += 1
        if self.t <= self.half:
            return None
        target = self.out if out is None else out
        target.real, target.imag = self.xf[0, 0], self.xf[1, 0]
        return target.copy() if out is None else target
