"""Zero-squint stripmap geometry in the range-Doppler frame, and the two data presets.

Symbols: lambda wavelength, V effective velocity, R0 closest-approach slant range, La antenna
length, PRF pulse repetition frequency, Ka = 2 V^2 / (lambda R0) azimuth FM rate.

Rows are azimuth samples (spacing 1/PRF in slow time), columns are range bins (spacing
`range_spacing_m` in slant range from `near_range_m`). A target at R0 sweeps the azimuth chirp
exp(-j pi Ka t^2) (hyperbolic range history R(t) = sqrt(R0^2 + V^2 t^2) in the exact model),
weighted by the two-way antenna amplitude pattern sinc^2(La theta / lambda), theta = V t / R0.
The 3-dB synthetic aperture is Ta = 0.886 lambda R0 / (La V) and its Doppler bandwidth
Ba = Ka Ta = 1.772 V / La does not depend on range; the time-bandwidth product Ka Ta^2 does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from sarssm.errors import ConfigError

C_LIGHT = 299_792_458.0  # m/s
BEAMWIDTH_3DB = 0.886  # 3-dB width of sinc^2 (the one-way power pattern), in units of lambda/La


# The float fields that must be positive (the others: window_alpha in [0, 1], the swath bounds)
POSITIVE_FIELDS = (
    "wavelength_m prf_hz velocity_mps antenna_length_m near_range_m range_spacing_m "
    "range_bandwidth_hz"
).split()


@dataclass(frozen=True)
class Geometry:
    """Everything needed to simulate, reprocess and evaluate one product."""

    wavelength_m: float  # lambda
    prf_hz: float  # PRF, azimuth sampling rate
    velocity_mps: float  # V, effective platform velocity
    antenna_length_m: float  # La
    near_range_m: float  # slant range of column 0
    range_spacing_m: float  # slant-range bin spacing
    range_bandwidth_hz: float  # chirp bandwidth: range resolution c / (2 B)
    n_azimuth: int  # rows (azimuth samples per column)
    n_range: int  # columns (range bins)
    window_alpha: float = 0.75  # generalised Hamming: alpha + (1 - alpha) cos(2 pi f / Bp)
    antenna_weighting: bool = True  # False: flat antenna (for the unweighted sinc reference)
    swath_near_m: float = 0.0  # slant-range swath the preset's products are drawn in
    swath_far_m: float = 0.0

    def __post_init__(self) -> None:
        for name in POSITIVE_FIELDS:
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"geometry.{name} must be a positive number, got {value!r}")
        for name in ("n_azimuth", "n_range"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"geometry.{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0.0 <= self.window_alpha <= 1.0:
            raise ConfigError(f"geometry.window_alpha must be in [0, 1], got {self.window_alpha}")
        if self.doppler_bandwidth_hz > self.prf_hz:
            raise ConfigError(
                f"geometry: Doppler bandwidth {self.doppler_bandwidth_hz:.1f} Hz exceeds the "
                f"PRF {self.prf_hz:.1f} Hz (azimuth undersampled)"
            )
        longest = float(np.max(self.aperture_samples()))
        if longest >= self.n_azimuth:
            raise ConfigError(
                f"geometry: the synthetic aperture ({longest:.0f} samples at far range) is longer "
                f"than the column (n_azimuth={self.n_azimuth})"
            )

    # --- per-column quantities (arrays over `cols`, default every column) -----------------
    def slant_range(self, cols: Any = None) -> np.ndarray:
        """R0 of each column [m]."""
        cols = np.arange(self.n_range) if cols is None else np.asarray(cols, dtype=np.float64)
        return self.near_range_m + cols * self.range_spacing_m

    def ka(self, cols: Any = None) -> np.ndarray:
        """Azimuth FM rate Ka = 2 V^2 / (lambda R0) of each column [Hz/s]."""
        return 2.0 * self.velocity_mps**2 / (self.wavelength_m * self.slant_range(cols))

    def aperture_time(self, cols: Any = None) -> np.ndarray:
        """3-dB synthetic aperture Ta = 0.886 lambda R0 / (La V) [s]."""
        return (
            BEAMWIDTH_3DB
            * self.wavelength_m
            * self.slant_range(cols)
            / (self.antenna_length_m * self.velocity_mps)
        )

    def aperture_samples(self, cols: Any = None) -> np.ndarray:
        """3-dB synthetic aperture in azimuth samples."""
        return self.aperture_time(cols) * self.prf_hz

    def tbp(self, cols: Any = None) -> np.ndarray:
        """Azimuth time-bandwidth product Ka Ta^2 of each column."""
        return self.ka(cols) * self.aperture_time(cols) ** 2

    # --- range-independent quantities -----------------------------------------------------
    @property
    def doppler_bandwidth_hz(self) -> float:
        """3-dB Doppler bandwidth Ba = 1.772 V / La (the processed bandwidth)."""
        return 2.0 * BEAMWIDTH_3DB * self.velocity_mps / self.antenna_length_m

    @property
    def range_resolution_m(self) -> float:
        return C_LIGHT / (2.0 * self.range_bandwidth_hz)

    def doppler_frequencies(self, n: int | None = None) -> np.ndarray:
        """FFT-ordered azimuth frequencies of an n-point column [Hz]."""
        return np.fft.fftfreq(self.n_azimuth if n is None else n, d=1.0 / self.prf_hz)

    def antenna_gain(self, f_hz: np.ndarray) -> np.ndarray:
        """Two-way antenna amplitude at Doppler f: sinc^2(La f / (2 V)) (ones if disabled)."""
        f_hz = np.asarray(f_hz, dtype=np.float64)
        if not self.antenna_weighting:
            return np.ones_like(f_hz)
        return np.sinc(self.antenna_length_m * f_hz / (2.0 * self.velocity_mps)) ** 2

    def window(self, f_hz: np.ndarray) -> np.ndarray:
        """Generalised Hamming window over |f| <= Ba / 2, zero outside."""
        f_hz = np.asarray(f_hz, dtype=np.float64)
        bp = self.doppler_bandwidth_hz
        a = self.window_alpha
        w = a + (1.0 - a) * np.cos(2.0 * np.pi * f_hz / bp)
        return np.where(np.abs(f_hz) <= bp / 2.0, w, 0.0)

    def migration_factor(self, f_hz: np.ndarray) -> np.ndarray:
        """D(f) = sqrt(1 - (lambda f / (2 V))^2); range migration is R0 (1/D - 1)."""
        f_hz = np.asarray(f_hz, dtype=np.float64)
        return np.sqrt(1.0 - (self.wavelength_m * f_hz / (2.0 * self.velocity_mps)) ** 2)

    # --- serialisation --------------------------------------------------------------------
    def to_attrs(self) -> dict[str, Any]:
        """JSON-safe dict stored in a product's attributes."""
        items = self.as_dict().items()
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in items}

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Geometry:
        """Inverse of `to_attrs` (extra keys are ignored, missing ones are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        missing = sorted(required - set(attrs))
        if missing:
            raise ConfigError(f"geometry attributes missing: {missing}")
        return cls(**{k: attrs[k] for k in names if k in attrs})

    def replace(self, **changes: Any) -> Geometry:
        return dataclasses.replace(self, **changes)


# Sentinel-1-like stripmap: lambda 0.05547 m, PRF 1717 Hz, V 7100 m/s, La 12.3 m, slant range
# 800-900 km. At 850 km: Ka about 2138 Hz/s, aperture about 821 samples, TBP about 489.
S1_STRIPMAP = Geometry(
    wavelength_m=0.05547,
    prf_hz=1717.0,
    velocity_mps=7100.0,
    antenna_length_m=12.3,
    near_range_m=850_000.0,
    range_spacing_m=2.33,
    range_bandwidth_hz=64.35e6,
    n_azimuth=2048,
    n_range=32,
    swath_near_m=800_000.0,
    swath_far_m=900_000.0,
)

# Scaled-down preset with the same wavelength, velocity, antenna and PRF (so the same Doppler
# bandwidth and oversampling) at about 1/13 of the slant range: aperture about 64 samples,
# TBP about 38, so a model trains in minutes on a CPU.
DEMO = Geometry(
    wavelength_m=0.05547,
    prf_hz=1717.0,
    velocity_mps=7100.0,
    antenna_length_m=12.3,
    near_range_m=66_300.0,
    range_spacing_m=2.33,
    range_bandwidth_hz=64.35e6,
    n_azimuth=256,
    n_range=16,
    swath_near_m=62_400.0,
    swath_far_m=70_200.0,
)

PRESETS: dict[str, Geometry] = {"s1-stripmap": S1_STRIPMAP, "demo": DEMO}


def get_preset(name: str) -> Geometry:
    """The geometry of preset `name` (a clear error listing the presets otherwise)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
