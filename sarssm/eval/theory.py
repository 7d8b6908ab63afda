"""Theoretical point-target quality of a spectral weighting, measured like data.

A focused point target's azimuth spectrum is the effective weighting W(f) G(f) (window times
two-way antenna gain) over the processed band |f| <= Ba/2. `theoretical_response` samples a
weighting on a fine Doppler grid, inverse-transforms it into an impulse response sampled at the
PRF and measures that with `sarssm.eval.pointtarget.measure_cut`: theory and measurement share
one definition of IRW, PSLR and ISLR.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from sarssm.errors import ConfigError
from sarssm.eval.pointtarget import DEFAULT_SIDELOBE_CELLS, Weighting, measure_cut, to_jsonable
from sarssm.physics.azimuth import effective_weighting

if TYPE_CHECKING:
    from sarssm.physics.geometry import Geometry

THEORY_FACTOR = 64  # upsampling factor of theoretical responses (no cost concern there)
THEORY_N = 8192  # PRF-rate samples of a theoretical response (frequency grid PRF / THEORY_N)


@dataclass(frozen=True)
class TheoreticalQuality:
    """Impulse-response quality predicted by a spectral weighting over the processed band."""

    irw_samples: float  # -3 dB width in samples at `prf_hz`
    irw_bandwidth: float  # irw_samples * B / PRF: the "0.886" of IRW = 0.886 / B
    pslr_db: float
    islr_db: float
    prf_hz: float
    bandwidth_hz: float

    def as_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


def impulse_response(
    weighting: Weighting, prf_hz: float, bandwidth_hz: float, n: int = THEORY_N
) -> np.ndarray:
    """Impulse response, sampled at the PRF, of a spectral weighting over |f| <= B/2.

    h[k] = sum_f W(f) exp(j 2 pi f k / PRF) over an n-point Doppler grid of spacing PRF / n,
    W zero outside the band, centred at k = n // 2 and normalised to unit peak there.

    Args:
        weighting: a function of Doppler frequency [Hz] (array in, array out), or weights
            sampled uniformly over [-B/2, B/2] (interpolated linearly).
        prf_hz: sampling rate of the response.
        bandwidth_hz: processed bandwidth B (< PRF).
        n: number of samples (and of frequency bins).
    Returns:
        (n,) complex128 response, peak at index n // 2.
    """
    if not (np.isfinite(prf_hz) and np.isfinite(bandwidth_hz) and 0 < bandwidth_hz <= prf_hz):
        raise ConfigError(
            f"need 0 < bandwidth <= PRF, got bandwidth {bandwidth_hz!r} Hz, PRF {prf_hz!r} Hz"
        )
    f = np.fft.fftfreq(n, d=1.0 / prf_hz)  # (n,) FFT order
    inband = np.abs(f) <= bandwidth_hz / 2.0
    if callable(weighting):
        w = np.asarray(weighting(f), dtype=np.complex128)
        if w.shape != f.shape:
            raise ConfigError(f"weighting function returned shape {w.shape}, expected {f.shape}")
    else:
        samples = np.asarray(weighting, dtype=np.float64)
        if samples.ndim != 1 or samples.size < 2:
            raise ConfigError(f"weighting samples must be 1-D with >= 2 values: {samples.shape}")
        grid = np.linspace(-bandwidth_hz / 2.0, bandwidth_hz / 2.0, samples.size)
        w = np.interp(f, grid, samples).astype(np.complex128)
    w = np.where(inband, w, 0.0)  # (n,)
    h = np.fft.fftshift(np.fft.ifft(w))  # (n,) centred at n // 2
    if abs(h[n // 2]) == 0:
        raise ConfigError("the weighting has zero mean over the band: no impulse response peak")
    return h / h[n // 2]


def theoretical_response(
    weighting: Weighting,
    prf_hz: float,
    bandwidth_hz: float,
    sidelobe_cells: float = DEFAULT_SIDELOBE_CELLS,
) -> TheoreticalQuality:
    """IRW (samples at the PRF), PSLR and ISLR of the impulse response of a weighting.

    The response from `impulse_response` is exactly periodic and band-limited, so its FFT
    upsampling is exact; it is measured by `measure_cut` with the same definitions as data.
    Rectangular weighting: IRW 0.886 PRF / B samples, PSLR -13.26 dB.
    """
    h = impulse_response(weighting, prf_hz, bandwidth_hz)
    q = measure_cut(h, factor=THEORY_FACTOR, sidelobe_cells=sidelobe_cells)
    return TheoreticalQuality(
        irw_samples=float(q.irw),
        irw_bandwidth=float(q.irw * bandwidth_hz / prf_hz),
        pslr_db=float(q.pslr_db),
        islr_db=float(q.islr_db),
        prf_hz=float(prf_hz),
        bandwidth_hz=float(bandwidth_hz),
    )


@lru_cache(maxsize=32)
def _theory_cached(geometry: Geometry, sidelobe_cells: float) -> TheoreticalQuality:
    return theoretical_response(
        lambda f: effective_weighting(geometry, f),
        geometry.prf_hz,
        geometry.doppler_bandwidth_hz,
        sidelobe_cells=sidelobe_cells,
    )


def theory_for_geometry(
    geometry: Geometry, col: int | None = None, sidelobe_cells: float = DEFAULT_SIDELOBE_CELLS
) -> TheoreticalQuality:
    """Theoretical azimuth quality of a product's effective weighting.

    The processed band Ba = 1.772 V / La and the weighting do not depend on range, so `col`
    only has to be a valid column; the answer is the same for every column.
    """
    if col is not None and not 0 <= int(col) < geometry.n_range:
        raise ConfigError(f"column {col} is outside the product (0..{geometry.n_range - 1})")
    return _theory_cached(geometry, float(sidelobe_cells))


def default_half_window(theory: TheoreticalQuality, sidelobe_cells: float) -> int:
    """Cut half-length that holds the whole sidelobe window plus a margin of 4 cells."""
    return max(16, math.ceil((sidelobe_cells + 4.0) * theory.irw_samples))
