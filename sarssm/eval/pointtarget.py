"""Point-target quality: IRW, PSLR, ISLR, peak phase and position, measured and theoretical.

Every measurement works on a 1-D complex cut through a focused target (an azimuth column, or a
range line), FFT-upsampled by `factor` (default 16) so that widths and peak positions are read
to a small fraction of a sample. Definitions (the same for measured and theoretical values):

- peak: the largest |x| of the upsampled cut, refined by a parabola through the three upsampled
  samples around it; the complex peak value is the band-limited (trigonometric) interpolant of
  the cut evaluated at that refined position, so its phase is not biased by the grid.
- IRW: width of |x| at -3 dB (|x| = peak / sqrt 2), in input samples, by linear interpolation
  between the two upsampled samples on each side of each crossing.
- main lobe: from the first minimum of |x| left of the peak to the first minimum right of it
  (the first nulls of a sinc), searched outward from the -3 dB crossings.
- PSLR: the highest |x| outside the main lobe but inside the sidelobe window, relative to the
  peak, in power dB: 20 log10(max sidelobe / peak).
- ISLR: 10 log10(sidelobe energy / main-lobe energy), with the sidelobe energy summed over the
  sidelobe window outside the main lobe.
- sidelobe window: |t - peak| <= `sidelobe_cells` resolution cells (default 10), one cell being
  the measured IRW. It keeps neighbouring targets and the cut's edges out of PSLR and ISLR.

The theoretical values for a spectral weighting are in `sarssm.eval.theory`, measured with
`measure_cut` too, so theory and measurement share one definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sarssm.errors import ConfigError, ProductError

if TYPE_CHECKING:
    pass

Weighting = Callable[[np.ndarray], np.ndarray] | Sequence[float] | np.ndarray

DEFAULT_FACTOR = 16  # upsampling factor of every measured cut
DEFAULT_SIDELOBE_CELLS = 10.0  # sidelobe window half-width, in resolution cells (IRW)


# --- upsampling ---------------------------------------------------------------------------
def _as_cut(x: Any, name: str = "cut") -> np.ndarray:
    """A finite 1-D complex128 copy of `x` (numpy, torch CPU tensor or sequence)."""
    if hasattr(x, "detach"):  # torch tensor: np.asarray would refuse one that needs grad
        x = x.detach().cpu()
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ProductError(f"{name}: expected a 1-D cut, got shape {arr.shape}")
    if arr.size < 4:
        raise ProductError(f"{name}: a cut needs at least 4 samples, got {arr.size}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ProductError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.complex128)
    if not np.all(np.isfinite(arr)):
        raise ProductError(f"{name}: the cut holds NaN or infinite values")
    return arr


def upsample_cut(x: Any, factor: int) -> np.ndarray:
    """FFT-upsample a 1-D cut by an integer `factor` (periodic band-limited interpolation).

    The centred spectrum is zero-padded from n to n * factor bins; for even n the Nyquist bin is
    split in two halves (at +n/2 and -n/2) so that a real input stays real and the result passes
    exactly through the input samples: `upsample_cut(x, k)[::k] == x`.

    Args:
        x: (n,) complex or real cut.
        factor: integer upsampling factor >= 1.
    Returns:
        (n * factor,) complex128, sample spacing 1 / factor input samples.
    """
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ConfigError(f"upsampling factor must be an integer >= 1, got {factor!r}")
    factor = int(factor)
    x = _as_cut(x)
    n = x.size
    if factor == 1:
        return x.copy()
    X = np.fft.fft(x)  # (n,)
    m = n * factor
    Y = np.zeros(m, dtype=np.complex128)  # (m,)
    half = n // 2
    if n % 2:  # odd: bins 0..half are >= 0, the rest negative
        Y[: half + 1] = X[: half + 1]
        Y[m - half :] = X[half + 1 :]
    else:  # even: bin n/2 is both +n/2 and -n/2; give each half of it
        Y[:half] = X[:half]
        Y[m - half + 1 :] = X[half + 1 :]
        Y[half] = 0.5 * X[half]
        Y[m - half] = 0.5 * X[half]
    return np.fft.ifft(Y) * factor


def interpolate_at(x: Any, t: float) -> complex:
    """The band-limited interpolant of cut `x` (the one `upsample_cut` samples) at position t."""
    x = _as_cut(x)
    return _interp_spectrum(np.fft.fft(x), t)


def _interp_spectrum(X: np.ndarray, t: float) -> complex:
    n = X.size
    k = np.fft.fftfreq(n, d=1.0 / n)  # integer frequencies, -n/2 for the Nyquist bin
    terms = X * np.exp(2j * np.pi * k * t / n)  # (n,)
    if n % 2 == 0:  # split Nyquist bin: X/2 (e^{j pi t} + e^{-j pi t}) = X cos(pi t)
        terms[n // 2] = X[n // 2] * np.cos(np.pi * t)
    return complex(terms.sum() / n)


# --- one cut --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CutQuality:
    """Quality of one impulse-response cut; positions and widths in input samples."""

    position: float  # refined peak position, fractional sample index in the cut
    peak: complex  # complex peak value (band-limited interpolant at `position`)
    amplitude: float  # |peak|
    phase_rad: float  # angle(peak), in (-pi, pi]
    irw: float  # -3 dB width
    pslr_db: float  # highest sidelobe / peak, power dB (nan if no sidelobe in the window)
    islr_db: float  # sidelobe / main-lobe energy, dB (nan if no sidelobe in the window)
    mainlobe: tuple[float, float]  # first minimum left and right of the peak
    sidelobe_window: tuple[float, float]  # region searched for PSLR and ISLR
    window_clipped: bool  # the sidelobe window reached an end of the cut
    factor: int  # upsampling factor used

    def as_dict(self) -> dict[str, Any]:
        """JSON-able dict (the complex peak as re/im, non-finite numbers as None)."""
        out = asdict(self)
        out["peak"] = [self.peak.real, self.peak.imag]
        return to_jsonable(out)


def measure_cut(
    x: Any,
    factor: int = DEFAULT_FACTOR,
    expected_position: float | None = None,
    search_radius: float | None = None,
    sidelobe_cells: float = DEFAULT_SIDELOBE_CELLS,
    refine: Literal["parabolic", "none"] = "parabolic",
) -> CutQuality:
    """Measure peak, IRW, PSLR and ISLR of a 1-D complex impulse-response cut.

    Args:
        x: (n,) complex cut through one target (numpy array or CPU tensor).
        factor: FFT upsampling factor.
        expected_position: where the peak should be (fractional sample); with `search_radius`
            the peak is searched only within that distance of it.
        search_radius: peak search half-width in samples (None: the whole cut).
        sidelobe_cells: sidelobe window half-width in resolution cells (measured IRW).
        refine: "parabolic" refines the peak position between upsampled samples.
    Returns:
        `CutQuality` (see the module docstring for the definitions).
    """
    if refine not in ("parabolic", "none"):
        raise ConfigError(f"refine must be 'parabolic' or 'none', got {refine!r}")
    if not sidelobe_cells > 1.0:
        raise ConfigError(f"sidelobe_cells must be > 1, got {sidelobe_cells!r}")
    x = _as_cut(x)
    u = upsample_cut(x, factor)  # (m,)
    a = np.abs(u)  # (m,)
    m = a.size
    if not np.any(a > 0):
        raise ProductError("cut is all zeros: no target to measure")

    # peak: largest upsampled sample, optionally only near where it is expected
    lo, hi = 0, m
    if expected_position is not None and search_radius is not None:
        lo = max(0, math.floor((expected_position - search_radius) * factor))
        hi = min(m, math.ceil((expected_position + search_radius) * factor) + 1)
        if lo >= hi:
            raise ProductError(
                f"expected peak position {expected_position:.2f} is outside the cut (0..{x.size})"
            )
    k = lo + int(np.argmax(a[lo:hi]))
    delta = 0.0
    if refine == "parabolic" and 0 < k < m - 1:
        left, mid, right = a[k - 1], a[k], a[k + 1]
        denom = left - 2.0 * mid + right
        if denom < 0:  # a proper maximum; a flat top leaves the grid position
            delta = float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))
    position = (k + delta) / factor
    peak = _interp_spectrum(np.fft.fft(x), position)
    amplitude = abs(peak)
    if amplitude <= 0:
        raise ProductError("peak amplitude is zero: no target to measure")

    # -3 dB crossings, walking out from the peak, linear between upsampled samples
    level = amplitude / math.sqrt(2.0)
    i = k
    while i > 0 and a[i] >= level:
        i -= 1
    j = k
    while j < m - 1 and a[j] >= level:
        j += 1
    if a[i] >= level or a[j] >= level:
        raise ProductError(
            f"the -3 dB main lobe reaches the end of the cut ({x.size} samples): "
            "use a longer cut or check that it holds a focused target"
        )
    left_x = i + (a[i] - level) / (a[i] - a[i + 1])  # a[i] < level <= a[i + 1]
    right_x = j - (a[j] - level) / (a[j] - a[j - 1])  # a[j] < level <= a[j - 1]
    irw = float(right_x - left_x) / factor

    # main lobe: first minimum beyond each -3 dB crossing
    while i > 0 and a[i - 1] < a[i]:
        i -= 1
    while j < m - 1 and a[j + 1] < a[j]:
        j += 1
    null_l, null_r = i, j

    # sidelobe window of +-sidelobe_cells IRW around the peak (no wrap-around)
    half = sidelobe_cells * irw * factor
    w_lo = math.ceil(k + delta - half)
    w_hi = math.floor(k + delta + half)
    clipped = w_lo < 0 or w_hi > m - 1
    w_lo, w_hi = max(w_lo, 0), min(w_hi, m - 1)
    power = a**2  # (m,)
    main_energy = power[null_l : null_r + 1].sum()
    side = np.concatenate([a[w_lo:null_l], a[null_r + 1 : w_hi + 1]])  # outside the main lobe
    if side.size and side.max() > 0:
        pslr = 20.0 * math.log10(side.max() / amplitude)
        islr = 10.0 * math.log10((side**2).sum() / main_energy)
    else:
        pslr = islr = float("nan")
    return CutQuality(
        position=position,
        peak=peak,
        amplitude=amplitude,
        phase_rad=wrap_phase(float(np.angle(peak))),
        irw=irw,
        pslr_db=pslr,
        islr_db=islr,
        mainlobe=(null_l / factor, null_r / factor),
        sidelobe_window=(w_lo / factor, w_hi / factor),
        window_clipped=clipped,
        factor=int(factor),
    )


def wrap_phase(phi: float) -> float:
    """Wrap an angle to (-pi, pi]."""
    wrapped = math.remainder(phi, 2.0 * math.pi)  # [-pi, pi]
    return math.pi if wrapped == -math.pi else wrapped


# --- point targets in a 2-D image -----------------------------------------------------------
@dataclass(frozen=True)
class PointTargetQuality:
    """Quality of one focused point target (azimuth cut, optionally range cut)."""

    row: float  # expected (true) azimuth position
    col: int
    azimuth: CutQuality
    range: CutQuality | None = None
    irw_theory_samples: float | None = None
    expected_amplitude: float | None = None
    expected_phase_rad: float | None = None
    cut_start: int = 0  # row of the cut's first sample

    @property
    def irw_samples(self) -> float:
        return self.azimuth.irw

    @property
    def irw_ratio(self) -> float | None:
        if self.irw_theory_samples is None:
            return None
        return self.azimuth.irw / self.irw_theory_samples

    @property
    def measured_row(self) -> float:
        return self.cut_start + self.azimuth.position

    @property
    def position_error_samples(self) -> float:
        return self.measured_row - self.row

    @property
    def phase_error_rad(self) -> float | None:
        if self.expected_phase_rad is None:
            return None
        return wrap_phase(self.azimuth.phase_rad - self.expected_phase_rad)

    @property
    def amplitude_error_db(self) -> float | None:
        if not self.expected_amplitude:
            return None
        return 20.0 * math.log10(self.azimuth.amplitude / abs(self.expected_amplitude))

    def as_dict(self) -> dict[str, Any]:
        """Flat JSON-able summary (azimuth values at the top level, full cuts nested)."""
        out: dict[str, Any] = {
            "row": self.row,
            "col": self.col,
            "measured_row": self.measured_row,
            "irw_samples": self.irw_samples,
            "irw_theory_samples": self.irw_theory_samples,
            "irw_ratio": self.irw_ratio,
            "pslr_db": self.azimuth.pslr_db,
            "islr_db": self.azimuth.islr_db,
            "peak_amplitude": self.azimuth.amplitude,
            "peak_phase_rad": self.azimuth.phase_rad,
            "phase_error_rad": self.phase_error_rad,
            "position_error_samples": self.position_error_samples,
            "amplitude_error_db": self.amplitude_error_db,
            "azimuth": self.azimuth.as_dict(),
            "range": None if self.range is None else self.range.as_dict(),
        }
        return to_jsonable(out)


def measure_point_target(
    az_2d: Any,
    row: float,
    col: int,
    expected_amplitude: float | None = None,
    expected_phase: float | None = None,
    half_window: int = 32,
    factor: int = DEFAULT_FACTOR,
    irw_theory_samples: float | None = None,
    range_cut: bool = False,
    row_offset: int = 0,
    sidelobe_cells: float = DEFAULT_SIDELOBE_CELLS,
) -> PointTargetQuality:
    """Measure the target expected at (row, col) of a focused image (rows = azimuth).

    The azimuth cut is column `col`, rows round(row) +- half_window (clipped to the image, no
    wrap-around). The peak is searched within half_window / 2 rows of `row`, so a neighbour
    further away cannot be taken for the target. With `range_cut`, the row through the measured
    azimuth peak, columns col +- half_window, is measured too (if the image has >= 8 columns).

    Args:
        az_2d: (rows, cols) complex image, or a block of it whose first row is `row_offset`.
        row: expected azimuth position (fractional) in full-image rows.
        col: column of the target in `az_2d`.
        expected_amplitude, expected_phase: true peak amplitude and phase (for the errors).
        half_window: half-length of the cuts in samples.
        irw_theory_samples: theoretical azimuth IRW, for `irw_ratio`.
        row_offset: full-image row of az_2d[0] (when only a block was read).
    Returns:
        `PointTargetQuality`; `.as_dict()` is JSON-able.
    """
    if hasattr(az_2d, "detach"):
        az_2d = az_2d.detach().cpu()
    img = np.asarray(az_2d)
    if img.ndim != 2:
        raise ProductError(f"focused image must be 2-D (rows, cols), got shape {img.shape}")
    if not np.iscomplexobj(img):
        raise ProductError(f"focused image must be complex, got dtype {img.dtype}")
    n_rows, n_cols = img.shape
    if not 0 <= col < n_cols:
        raise ProductError(f"target column {col} is outside the image (0..{n_cols - 1})")
    if int(half_window) < 4:
        raise ConfigError(f"half_window must be >= 4 samples, got {half_window!r}")
    local = float(row) - row_offset
    centre = round(local)
    lo, hi = max(0, centre - half_window), min(n_rows, centre + half_window)
    if hi - lo < 8:
        raise ProductError(f"target row {row} is outside the image rows {row_offset}..")
    az = measure_cut(
        img[lo:hi, col],
        factor=factor,
        expected_position=local - lo,
        search_radius=max(2.0, half_window / 2.0),
        sidelobe_cells=sidelobe_cells,
    )
    rg = None
    if range_cut and n_cols >= 8:
        r = min(max(round(lo + az.position), 0), n_rows - 1)
        c_lo, c_hi = max(0, col - half_window), min(n_cols, col + half_window)
        rg = measure_cut(
            img[r, c_lo:c_hi],
            factor=factor,
            expected_position=col - c_lo,
            search_radius=max(2.0, half_window / 2.0),
            sidelobe_cells=sidelobe_cells,
        )
    return PointTargetQuality(
        row=float(row),
        col=int(col),
        azimuth=az,
        range=rg,
        irw_theory_samples=irw_theory_samples,
        expected_amplitude=expected_amplitude,
        expected_phase_rad=expected_phase,
        cut_start=lo + row_offset,
    )


# Per-target values of `measure_product` (None where a target could not be measured).
TARGET_METRICS = (
    "measured_row",
    "irw_samples",
    "irw_ratio",
    "pslr_db",
    "islr_db",
    "peak_amplitude",
    "peak_phase_rad",
    "phase_error_rad",
    "position_error_samples",
    "amplitude_error_db",
    "azimuth",
    "range",
)


def measure_product(
    product: Any,
    targets: list[dict[str, Any]] | None = None,
    level: str = "az",
    factor: int = DEFAULT_FACTOR,
    half_window: int | None = None,
    sidelobe_cells: float = DEFAULT_SIDELOBE_CELLS,
    image: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Measure every point target of a product against its effective-weighting theory.

    Args:
        product: an opened product (`sarssm.data.store.open_product`): needs `.geometry`,
            `.point_targets`, `.levels`, `.shape` and `.read(level, rows=, cols=)`.
        targets: [{"row", "col", "amplitude", "phase_rad"}] (default: the product's own).
        level: array holding the focused image.
        image: a focused image [rows, cols] of this product to measure instead of `level`
            (a model's prediction), with the same targets, theory and windows.
    Returns:
        One dict per target with keys row, col, irw_samples, irw_theory_samples, irw_ratio,
        pslr_db, pslr_theory_db, islr_db, islr_theory_db, phase_error_rad,
        position_error_samples, amplitude_error_db (and more), and `error`: None, or why the
        target could not be measured (no focused peak there; its values are then None).
    """
    targets = list(product.point_targets if targets is None else targets)
    if not targets:
        return []
    if image is None and level not in product.levels:
        raise ProductError(f"product has no {level!r} array (levels: {list(product.levels)})")
    from sarssm.eval.theory import default_half_window, theory_for_geometry

    theory = theory_for_geometry(product.geometry, sidelobe_cells=sidelobe_cells)
    hw = default_half_window(theory, sidelobe_cells) if half_window is None else int(half_window)
    n_rows, n_cols = product.shape[:2] if len(product.shape) >= 2 else (0, 0)
    results = []
    for i, target in enumerate(targets):
        try:
            row, col = float(target["row"]), int(target["col"])
        except (KeyError, TypeError, ValueError):
            raise ProductError(f"point target {i} has no numeric row/col: {target!r}") from None
        if not (0 <= row < n_rows and 0 <= col < n_cols):
            raise ProductError(f"point target {i} at ({row}, {col}) lies outside {product.shape}")
        lo, hi = max(0, round(row) - hw), min(n_rows, round(row) + hw)
        if image is None:
            block = np.asarray(product.read(level, rows=slice(lo, hi), cols=slice(col, col + 1)))
        else:
            block = np.asarray(image)[lo:hi, col : col + 1]
        if block.ndim != 2 or not np.iscomplexobj(block):
            raise ProductError(
                f"{level!r} must be a complex 2-D array, read {block.dtype} {block.shape}"
            )
        amp = target.get("amplitude")
        try:
            q = measure_point_target(
                block,
                row,
                0,
                expected_amplitude=None if amp is None else float(amp),
                expected_phase=target.get("phase_rad"),
                half_window=hw,
                factor=factor,
                irw_theory_samples=theory.irw_samples,
                row_offset=lo,
                sidelobe_cells=sidelobe_cells,
            )
            d = q.as_dict()
            d["error"] = None
        except ProductError as exc:  # nothing focused there: report it, measure the others
            d = dict.fromkeys(TARGET_METRICS)
            d["error"] = str(exc)
        d.update(row=row, col=col, irw_theory_samples=theory.irw_samples)
        d["pslr_theory_db"] = theory.pslr_db
        d["islr_theory_db"] = theory.islr_db
        results.append(to_jsonable(d))
    return results


def to_jsonable(obj: Any) -> Any:
    """Plain Python numbers/lists/dicts; NaN and inf become None (strict JSON)."""
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, complex):
        return [obj.real, obj.imag]
    return obj
