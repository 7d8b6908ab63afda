"""Geometry conditioning: every column is mapped exactly onto the model's reference range.

Symbols: B columns (batch), L azimuth samples, C input channels, J pre-filter half-length,
R0 a column's slant range, R_ref the model's reference range, f Doppler frequency.

The azimuth signal of a column depends on its slant range only through the phase
4 pi R0 (D(f) - 1) / lambda (exactly linear in R0) and the amplitude R0^(-1/2)
(`sarssm.physics.azimuth`). So the all-pass filter

    T(f) = S_ref(f) / S_R0(f) = sqrt(R_ref / R0) exp(+j 4 pi (R0 - R_ref) (D(f) - 1) / lambda)

turns any column into the column the same scene gives at R_ref, and the matched filter of R0 is
H_ref T. A model that applies T first learns one operator (the reference column's) and focuses
every slant range with it: linear in the signal, with no parameter and no learned notion of
position. Each column gets its own T from its slant range, read from the product's geometry.

A product of a slightly different radar (another orbit position changes V; another acquisition
may change the PRF) is mapped the same way: its column at R0 has the discrete azimuth chirp
(Ka / PRF^2 per sample^2, Ka = 2 V^2 / (lambda R0)) of the reference radar's column at the
chirp-equivalent range R_eq = R0 (V_ref / V)^2 (lambda / lambda_ref) (PRF / PRF_ref)^2, and that
is the slant range the model is conditioned on (`ReferenceGeometry.check`); for the reference
radar R_eq = R0 exactly. What the mapping cannot change is the Doppler band in cycles per sample
(B_a / PRF, B_a = 0.886 2 V / La): its residual is -39.6 dB for V 0.1 % off and -28.6 dB for 1 %
on `s1-stripmap` (`radar_mismatch_error_db`), where an unmapped column is at -14.8 dB already
for 0.1 % (its chirp-rate error is 0.2 %, 0.76 rad at the band edge). Products further than
`COMPATIBLE_RTOL` from the reference are refused.

T is realised as a short FIR g[j], j = -J..J, per column, fitted by weighted least squares over
the processed band (weight (W G)^2, the band a focused output holds; a small weight elsewhere
keeps g bounded), so conv mode and step mode apply exactly the same taps. J is the smallest
half-length whose fit error over the model's slant-range interval stays below
`PREFILTER_FLOOR_DB`. Conditioning on a step-size scale dt * sqrt(Ka / Ka_ref) instead would
set the chirp rate right but stretch the kernel's Doppler band by the same factor: its error is
-23.7 dB at the edges of either preset's swath (`benchmarks/conditioning.py`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor, nn

from sarssm.errors import ConfigError
from sarssm.physics.azimuth import effective_weighting, range_transfer, truncation_floor_db
from sarssm.physics.geometry import Geometry, get_preset

PREFILTER_FLOOR_DB = -40.0  # fit error of the pre-filter at the ends of its slant-range interval
RANGE_MARGIN = 0.25  # default interval: the preset's swath widened by this share on each side
COMPATIBLE_RTOL = 1e-2  # relative tolerance on wavelength, velocity and PRF (then mapped)
_MAX_TAPS = 512


@dataclass(frozen=True)
class ReferenceGeometry:
    """The radar and reference column a model's learned operator belongs to."""

    wavelength_m: float  # lambda
    velocity_mps: float  # V, effective velocity
    prf_hz: float  # PRF
    antenna_length_m: float  # La (sets the band weighting of the pre-filter fit)
    window_alpha: float  # generalised Hamming window of the processed band
    range_m: float  # R_ref, the slant range every column is mapped to
    range_min_m: float  # slant-range interval the model accepts (pre-filter fitted over it)
    range_max_m: float

    def __post_init__(self) -> None:
        for name in ("wavelength_m", "velocity_mps", "prf_hz", "antenna_length_m", "range_m"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"model.reference.{name} must be a positive number, got {value!r}"
                )
        if not 0.0 <= self.window_alpha <= 1.0:
            raise ConfigError(
                f"model.reference.window_alpha must be in [0, 1], got {self.window_alpha}"
            )
        if not 0 < self.range_min_m <= self.range_m <= self.range_max_m:
            raise ConfigError(
                "model.reference: need 0 < range_min_m <= range_m <= range_max_m, got "
                f"{self.range_min_m}, {self.range_m}, {self.range_max_m}"
            )

    @classmethod
    def from_preset(cls, preset: str, margin: float = RANGE_MARGIN) -> ReferenceGeometry:
        """Mid-swath reference of a data preset; accepted ranges: the swath widened by
        `margin` of its width on each side."""
        g = get_preset(preset)
        near, far = g.swath_near_m, g.swath_far_m
        if not far > near > 0:  # a preset without a swath: its own columns
            near, far = float(g.slant_range([0])[0]), float(g.slant_range([g.n_range - 1])[0])
        width = far - near
        return cls(
            wavelength_m=g.wavelength_m,
            velocity_mps=g.velocity_mps,
            prf_hz=g.prf_hz,
            antenna_length_m=g.antenna_length_m,
            window_alpha=g.window_alpha,
            range_m=0.5 * (near + far),
            range_min_m=near - margin * width,
            range_max_m=far + margin * width,
        )

    def column(self, range_m: float | None = None) -> Geometry:
        """A one-column `Geometry` of this radar at `range_m` (default R_ref)."""
        return Geometry(
            wavelength_m=self.wavelength_m,
            prf_hz=self.prf_hz,
            velocity_mps=self.velocity_mps,
            antenna_length_m=self.antenna_length_m,
            near_range_m=self.range_m if range_m is None else float(range_m),
            range_spacing_m=1.0,
            range_bandwidth_hz=1e8,
            n_azimuth=1 << 16,  # a descriptor only: longer than any aperture
            n_range=1,
            window_alpha=self.window_alpha,
        )

    @classmethod
    def from_geometries(
        cls, geometries: Sequence[Geometry], margin: float = RANGE_MARGIN
    ) -> ReferenceGeometry:
        """The reference of a set of products (real acquisitions, whose V and PRF differ a
        little): the median wavelength, V, PRF, La and window alpha. Accepted ranges: the
        products' slant ranges widened by `margin` of their span on each side, then by the
        most a product within `COMPATIBLE_RTOL` of this radar moves them (`equivalent_range`,
        a factor 0.951-1.051), so that a held-out product over the same ground range is
        accepted whatever its V and PRF; R_ref in the middle."""
        if not geometries:
            raise ConfigError("model.reference: no products to take the reference from")

        def median(name: str) -> float:
            return float(np.median([getattr(g, name) for g in geometries]))

        radar = cls(
            wavelength_m=median("wavelength_m"),
            velocity_mps=median("velocity_mps"),
            prf_hz=median("prf_hz"),
            antenna_length_m=median("antenna_length_m"),
            window_alpha=median("window_alpha"),
            range_m=1.0,
            range_min_m=1.0,
            range_max_m=1.0,
        )
        ends = np.concatenate([g.slant_range([0, g.n_range - 1]) for g in geometries])
        near, far = float(ends.min()), float(ends.max())
        near, far = near - margin * (far - near), far + margin * (far - near)
        t = COMPATIBLE_RTOL  # R_eq / R0 = (V_ref / V)^2 (lambda / lambda_ref) (PRF / PRF_ref)^2
        lo, hi = near * (1 - t) ** 3 / (1 + t) ** 2, far * (1 + t) ** 3 / (1 - t) ** 2
        mapped = np.concatenate(
            [radar.equivalent_range(g, g.slant_range([0, g.n_range - 1])) for g in geometries]
        )
        return dataclasses.replace(
            radar,
            range_m=0.5 * float(mapped.min() + mapped.max()),
            range_min_m=min(lo, float(mapped.min())),
            range_max_m=max(hi, float(mapped.max())),
        )

    def equivalent_range(self, geometry: Geometry, slant_range: np.ndarray) -> np.ndarray:
        """R_eq = R0 (V_ref / V)^2 (lambda / lambda_ref) (PRF / PRF_ref)^2 [W] (metres): where
        the reference radar's column has the azimuth chirp per sample^2 of the product's column
        at R0 (exactly R0 for the reference radar itself)."""
        scale = (
            (self.velocity_mps / geometry.velocity_mps) ** 2
            * (geometry.wavelength_m / self.wavelength_m)
            * (geometry.prf_hz / self.prf_hz) ** 2
        )
        return np.asarray(slant_range, dtype=np.float64) * scale

    def check(
        self, geometry: Geometry, slant_range: np.ndarray, where: str = "product"
    ) -> np.ndarray:
        """The slant ranges [W] the model is conditioned on (`equivalent_range`) of columns at
        `slant_range`; refuses a product the model cannot focus: another radar (wavelength,
        velocity or PRF more than `COMPATIBLE_RTOL` off) or columns outside
        [range_min_m, range_max_m]."""
        for name in ("wavelength_m", "velocity_mps", "prf_hz"):
            mine, theirs = getattr(self, name), getattr(geometry, name)
            if abs(theirs - mine) > COMPATIBLE_RTOL * mine:
                raise ConfigError(
                    f"{where}: geometry.{name} = {theirs:g} differs from the model's {mine:g} "
                    f"(tolerance {COMPATIBLE_RTOL:.1%}); the model was trained for another radar"
                )
        r = self.equivalent_range(geometry, slant_range)
        lo, hi = float(np.min(r)), float(np.max(r))
        if lo < self.range_min_m or hi > self.range_max_m:
            mapped = "" if np.array_equal(r, slant_range) else " (chirp-equivalent)"
            raise ConfigError(
                f"{where}: columns span slant range {lo / 1e3:.3f}-{hi / 1e3:.3f} km{mapped}, "
                f"outside the model's {self.range_min_m / 1e3:.3f}-{self.range_max_m / 1e3:.3f} "
                "km (model.reference.range_min_m / range_max_m; widen them and retrain)"
            )
        return r


def _design_grid(ref: ReferenceGeometry, J: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequencies [n] Hz, fit weights [n], band weights [n]) of the pre-filter fit."""
    n = max(512, 16 * (2 * J + 1))
    f = (np.arange(n) - n // 2) * (ref.prf_hz / n)  # [n] over [-PRF/2, PRF/2)
    band = effective_weighting(ref.column(), f) ** 2  # [n]
    return f, band + 1e-3 * band.max(), band


@lru_cache(maxsize=64)
def _solver(ref: ReferenceGeometry, J: int) -> tuple[np.ndarray, np.ndarray]:
    """(pinv [2J+1, n] of the weighted design matrix, sqrt weights [n])."""
    f, weight, _ = _design_grid(ref, J)
    lags = np.arange(-J, J + 1)
    E = np.exp(-2j * np.pi * np.outer(f / ref.prf_hz, lags))  # [n, 2J+1]: G(f) = sum g_j e^..
    sw = np.sqrt(weight)
    return np.linalg.pinv(E * sw[:, None]), sw


def prefilter_taps(ref: ReferenceGeometry, J: int, slant_range: np.ndarray) -> np.ndarray:
    """FIR taps g [M, 2J+1] complex128 (lag -J..J, y[t] = sum_j g[j] x[t - j]) of T(f) for
    columns at `slant_range` [M] (metres)."""
    r = np.atleast_1d(np.asarray(slant_range, dtype=np.float64))
    f, _, _ = _design_grid(ref, J)
    pinv, sw = _solver(ref, J)
    T = range_transfer(ref.column(), f, r, ref.range_m)  # [n, M]
    return (pinv @ (T * sw[:, None])).T  # [M, 2J+1]


def prefilter_error_db(ref: ReferenceGeometry, J: int, slant_range: float) -> float:
    """Band-weighted fit error of the taps at one slant range, 10 log10(sum w |G - T|^2 /
    sum w |T|^2) with w = (W G)^2."""
    f, _, band = _design_grid(ref, J)
    g = prefilter_taps(ref, J, np.array([slant_range]))[0]  # [2J+1]
    lags = np.arange(-J, J + 1)
    G = np.exp(-2j * np.pi * np.outer(f / ref.prf_hz, lags)) @ g
    T = range_transfer(ref.column(), f, np.array([slant_range]), ref.range_m)[:, 0]
    err = np.sum(band * np.abs(G - T) ** 2) / np.sum(band * np.abs(T) ** 2)
    return 10.0 * math.log10(max(float(err), 1e-30))


@lru_cache(maxsize=64)
def auto_taps(ref: ReferenceGeometry, floor_db: float = PREFILTER_FLOOR_DB) -> int:
    """Smallest J whose fit error at both ends of the slant-range interval is <= floor_db."""
    for J in range(0, _MAX_TAPS + 1):
        worst = max(prefilter_error_db(ref, J, r) for r in (ref.range_min_m, ref.range_max_m))
        if worst <= floor_db:
            return J
    raise ConfigError(
        f"model.reference: no pre-filter of up to {2 * _MAX_TAPS + 1} taps reaches "
        f"{floor_db} dB over {ref.range_min_m:.0f}-{ref.range_max_m:.0f} m; narrow the interval"
    )


class RangePrefilter(nn.Module):
    """Per-column FIR x -> g_R0 * x along azimuth, the same taps on every input channel.

    `causal=True` applies the taps delayed by J (output t holds the filtered sample t - J), as
    step mode must; otherwise they are centred. No parameters: the taps are a function of the
    columns' slant ranges and of the model's `ReferenceGeometry`.
    """

    def __init__(self, reference: ReferenceGeometry, half_taps: int) -> None:
        super().__init__()
        self.reference = reference
        self.J = int(half_taps)

    def taps(self, slant_range: Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
        """g [B, 2J+1] complex of `dtype` on `device` for slant ranges [B] (metres)."""
        r = _ranges(slant_range)
        g = prefilter_taps(self.reference, self.J, r)  # [B, 2J+1] complex128
        return torch.from_numpy(g).to(device=device, dtype=dtype)

    def run(self, x: Tensor, taps: Tensor, history: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Causal FIR continuing a stream: x [B, T, C], taps [B, 2J+1] (lag -J..J), history
        [B, 2J, C] (inputs t-1, t-2, ..., t-2J; None: zeros) -> (y [B, T, C], new history).

        y[t] = sum_i taps[i] x[t - i], tap i being lag i - J, so y holds the centred filter's
        output delayed by J. A direct sum in the time domain: where every input under the taps
        is zero the output is exactly zero (an FFT would leave rounding noise there, on which
        the selective teacher's scale-free features would then act).
        """
        B, _, C = x.shape
        K = taps.shape[1]  # 2J + 1
        if history is None:
            history = x.new_zeros(B, K - 1, C)
        seq = torch.cat([history.flip(1), x], dim=1)  # [B, 2J + T, C]: t-2J .. t+T-1
        windows = seq.unfold(1, K, 1)  # [B, T, C, K]: seq[t .. t + 2J]
        y = torch.einsum("btck,bk->btc", windows, taps.flip(1))  # [B, T, C]
        new_history = seq[:, seq.shape[1] - (K - 1) :].flip(1)  # [B, 2J, C], newest first
        return y, new_history

    def forward(self, x: Tensor, slant_range: Tensor, causal: bool) -> Tensor:
        """x [B, L, C] complex -> [B, L, C]: y[t] = sum_j g[j] x[t - j - (J if causal else 0)]."""
        g = self.taps(slant_range, x.dtype, x.device)  # [B, 2J+1]
        if g.shape[0] != x.shape[0]:
            raise ConfigError(
                f"prefilter: {g.shape[0]} slant ranges for a batch of {x.shape[0]} columns"
            )
        if causal or self.J == 0:
            return self.run(x, g)[0]
        pad = x.new_zeros(x.shape[0], self.J, x.shape[2])
        return self.run(torch.cat([x, pad], dim=1), g)[0][:, self.J :]  # centred

    def extra_repr(self) -> str:
        return f"taps={2 * self.J + 1}, reference_range_m={self.reference.range_m:.1f}"


def _ranges(slant_range: Tensor | np.ndarray) -> np.ndarray:
    r = slant_range.detach().cpu().double().numpy() if torch.is_tensor(slant_range) else slant_range
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 1 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ConfigError(
            f"slant_range must be a 1-D array of positive metres, one per column; got {r!r}"
        )
    return r


DELAY_FLOOR_DB = -35.0  # default truncation floor a causal model's delay is chosen for


@lru_cache(maxsize=64)
def reference_delay(ref: ReferenceGeometry, floor_db: float = DELAY_FLOOR_DB) -> int:
    """Smallest delay whose truncation floor (`sarssm.physics.truncation_floor_db`) at the
    reference range is <= floor_db: half the reference aperture plus the window's tail."""
    column = ref.column()
    start = math.floor(float(column.aperture_samples([0])[0]) / 2)
    for d in range(start, 64 * start + 64):
        if truncation_floor_db(column, d, ref.range_m) <= floor_db:
            return d
    raise ConfigError(f"model.delay_floor_db={floor_db}: no delay up to {64 * start} reaches it")


def step_scale_error_db(ref: ReferenceGeometry, slant_range: float, n: int = 8192) -> float:
    """Error floor of the alternative conditioning, a step size dt sqrt(Ka / Ka_ref).

    Scaling an SSM's step by sigma puts its kernel on the time axis k sigma, so the reference
    matched filter H_ref(f) becomes H_ref(f / sigma): the chirp rate is Ka_ref sigma^2 = Ka, as
    wanted, but the processed band is stretched by sigma too. Returns
    10 log10(sum |H_ref(f / sigma) S - H S|^2 / sum |H S|^2) for a column at `slant_range` (S
    its signal spectrum, H its own matched filter): the best such a model can do there.
    """
    return _reference_filter_error_db(ref, slant_range, n, stretch=True)


def unconditioned_error_db(ref: ReferenceGeometry, slant_range: float, n: int = 8192) -> float:
    """Error floor without conditioning: the reference column's matched filter H_ref applied
    to a column at `slant_range`, 10 log10(sum |H_ref S - H S|^2 / sum |H S|^2)."""
    return _reference_filter_error_db(ref, slant_range, n, stretch=False)


def _reference_filter_error_db(
    ref: ReferenceGeometry, slant_range: float, n: int, stretch: bool
) -> float:
    from sarssm.physics.azimuth import azimuth_matched_filter, azimuth_transfer

    ref_col, col = ref.column(), ref.column(slant_range)
    H_ref = np.fft.fftshift(azimuth_matched_filter(ref_col, [0], n)[:, 0])
    H = np.fft.fftshift(azimuth_matched_filter(col, [0], n)[:, 0])
    S = np.fft.fftshift(azimuth_transfer(col, [0], n)[:, 0])
    if stretch:
        f = np.fft.fftshift(col.doppler_frequencies(n))  # [n] ascending
        sigma = math.sqrt(float(col.ka([0])[0] / ref_col.ka([0])[0]))
        H_ref = np.interp(f / sigma, f, H_ref.real) + 1j * np.interp(f / sigma, f, H_ref.imag)
    return _filter_error_db(H_ref, H, S)


def _filter_error_db(H_ref: np.ndarray, H: np.ndarray, S: np.ndarray) -> float:
    """10 log10(sum |H_ref S - H S|^2 / sum |H S|^2): a stand-in filter H_ref against the
    column's own H on its signal spectrum S."""
    err = np.sum(np.abs((H_ref - H) * S) ** 2) / np.sum(np.abs(H * S) ** 2)
    return 10.0 * math.log10(max(float(err), 1e-30))


def radar_mismatch_error_db(
    ref: ReferenceGeometry, geometry: Geometry, slant_range: float, mapped: bool = True,
    n: int = 8192,
) -> float:  # fmt: skip
    """Error floor of the reference radar's focusing on a column of another radar (V, PRF or
    wavelength a little off) at `slant_range`: the reference column's matched filter at the
    chirp-equivalent range (`mapped`, what a model does) or at R0 itself, against the column's
    own, 10 log10(sum |H_ref S - H S|^2 / sum |H S|^2) on the n-point grid (cycles per sample).
    The mapped residual is the Doppler band's: B_a / PRF differs between the radars."""
    from sarssm.physics.azimuth import azimuth_matched_filter, azimuth_transfer

    col = geometry.replace(near_range_m=float(slant_range), n_range=1)
    r_ref = ref.equivalent_range(col, np.array([slant_range]))[0] if mapped else slant_range
    S = azimuth_transfer(col, [0], n)[:, 0]
    H = azimuth_matched_filter(col, [0], n)[:, 0]
    H_ref = azimuth_matched_filter(ref.column(float(r_ref)), [0], n)[:, 0]
    return _filter_error_db(H_ref, H, S)
