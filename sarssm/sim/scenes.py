"""Scenes: the reflectivity a product images, as point targets and/or a dense grid.

A scene is a function `(geometry, rng, **options) -> Reflectivity` registered by name:

- `points`: a few isolated point targets (integer column, fractional row, amplitude 1..10,
  uniform phase), more than one aperture away from the column ends, and either more than two
  apertures apart in azimuth or at least two columns apart.
- `clutter`: circular complex Gaussian speckle times a smooth gamma-distributed texture, with a
  few rectangular regions of different mean brightness (mean intensity 1 outside them).
- `image`: amplitude from an image file (PNG/JPEG/... via Pillow, or a 2-D .npy array), resized
  to the product grid, with uniform random phase; mean intensity 1.
- `mixed`: dim clutter (amplitude x 0.03, about 28 dB below a unit target once focused) plus
  point targets.

The dense grid is the reflectivity of one resolution cell per pixel, in the focused (`az`)
domain; point targets are simulated separately, exactly, in the time domain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.errors import ConfigError
from sarssm.physics.geometry import Geometry


@dataclass(frozen=True)
class PointTarget:
    """A point scatterer with reflectivity amplitude * exp(j phase_rad) at (row, col)."""

    row: float  # azimuth position in (fractional) rows
    col: int  # range bin
    amplitude: float
    phase_rad: float

    @property
    def sigma(self) -> complex:
        return complex(self.amplitude * np.exp(1j * self.phase_rad))

    def to_attrs(self) -> dict[str, Any]:
        return {
            "row": float(self.row),
            "col": int(self.col),
            "amplitude": float(self.amplitude),
            "phase_rad": float(self.phase_rad),
        }


@dataclass
class Reflectivity:
    """What a scene holds: point targets, a dense grid [n_azimuth, n_range], a description."""

    points: list[PointTarget] = field(default_factory=list)
    grid: np.ndarray | None = None  # complex128 [N, M], or None for no distributed scatterers
    info: dict[str, Any] = field(default_factory=dict)  # JSON-safe (regions, image file, ...)


SceneFn = Callable[..., Reflectivity]
SCENES: dict[str, SceneFn] = {}


def register_scene(name: str) -> Callable[[SceneFn], SceneFn]:
    """Decorator adding a scene function to `SCENES` under `name`."""

    def wrap(fn: SceneFn) -> SceneFn:
        SCENES[name] = fn
        return fn

    return wrap


def get_scene(name: str) -> SceneFn:
    try:
        return SCENES[name]
    except KeyError:
        raise ConfigError(f"unknown scene {name!r}; choose one of {sorted(SCENES)}") from None


def make_scene(
    name: str,
    geometry: Geometry,
    rng: np.random.Generator,
    image: str | Path | None = None,
    n_targets: int | None = None,
    **options: Any,
) -> Reflectivity:
    """Build scene `name`; `image` only for `image`, `n_targets` only for points/mixed."""
    fn = get_scene(name)
    if name == "image":
        if image is None:
            raise ConfigError("scene 'image' needs an image file (--image FILE)")
        options["path"] = image
    elif image is not None:
        raise ConfigError(f"an image file only applies to scene 'image', not {name!r}")
    if n_targets is not None:
        if name not in ("points", "mixed"):
            raise ConfigError(
                f"n_targets only applies to scenes 'points' and 'mixed', not {name!r}"
            )
        options["n_targets"] = n_targets
    try:
        return fn(geometry, rng, **options)
    except TypeError as exc:  # an unknown option
        raise ConfigError(f"scene {name!r}: {exc}") from None


# --- point targets --------------------------------------------------------------------------
def place_point_targets(
    geometry: Geometry,
    rng: np.random.Generator,
    n_targets: int | None = None,
    amplitude_range: tuple[float, float] = (1.0, 10.0),
    attempts: int = 2000,
) -> list[PointTarget]:
    """Random isolated targets: `n_targets` of them (error if they do not fit), or 3..8 that fit.

    Rows lie more than one aperture (at the far column) from either column end. Columns keep
    a range gap of `gap` bins from the product's range edges (where there is room) and
    between two targets closer than two apertures in azimuth, with gap = 2 + the largest range
    migration in bins (so a target's migration stays inside the product and off its
    neighbours' columns: 3 bins on `demo`, 5 on `s1-stripmap`).
    """
    n_rows, n_cols = geometry.n_azimuth, geometry.n_range
    aperture = math.ceil(float(np.max(geometry.aperture_samples())))
    lo, hi = aperture + 1.0, n_rows - 2.0 - aperture
    if hi <= lo:
        raise ConfigError(
            f"a column of {n_rows} rows is too short for isolated point targets: they need more "
            f"than one aperture ({aperture} rows) of margin at each end"
        )
    from sarssm.physics.azimuth import migration_bins

    far = geometry.slant_range([n_cols - 1])[0]
    gap = 2 + math.ceil(float(migration_bins(geometry, geometry.prf_hz / 2.0, far)))
    margin = min(gap, (n_cols - 1) // 2)
    if n_targets is not None and (isinstance(n_targets, bool) or int(n_targets) < 1):
        raise ConfigError(f"n_targets must be a positive integer, got {n_targets!r}")
    wanted = int(rng.integers(3, 9)) if n_targets is None else int(n_targets)
    placed: list[tuple[float, int]] = []
    for _ in range(attempts):
        if len(placed) == wanted:
            break
        row = float(rng.uniform(lo, hi))
        col = int(rng.integers(margin, n_cols - margin))
        if all(abs(row - r) > 2 * aperture or abs(col - c) >= gap for r, c in placed):
            placed.append((row, col))
    if n_targets is not None and len(placed) < wanted:
        raise ConfigError(
            f"cannot place {wanted} isolated point targets in a {n_rows} x {n_cols} product "
            f"(placed {len(placed)}); use fewer targets or more range columns"
        )
    a0, a1 = amplitude_range
    return [
        PointTarget(
            row=r,
            col=c,
            amplitude=float(rng.uniform(a0, a1)),
            phase_rad=float(rng.uniform(-np.pi, np.pi)),
        )
        for r, c in placed
    ]


@register_scene("points")
def points(
    geometry: Geometry, rng: np.random.Generator, n_targets: int | None = None
) -> Reflectivity:
    """A few isolated point targets on an empty background."""
    targets = place_point_targets(geometry, rng, n_targets)
    return Reflectivity(points=targets, grid=None, info={"n_targets": len(targets)})


# --- distributed clutter --------------------------------------------------------------------
def smooth_gamma_texture(
    shape: tuple[int, int], rng: np.random.Generator, looks: float = 4.0, smooth_px: float = 4.0
) -> np.ndarray:
    """Spatially smooth texture with a Gamma(looks, 1/looks) marginal (mean 1), [N, M].

    A white Gaussian field is smoothed (Gaussian kernel, `smooth_px` pixels, periodic) and
    mapped through its CDF to the gamma quantiles, which keeps the smoothness and gives the
    exact marginal.
    """
    from scipy.ndimage import gaussian_filter
    from scipy.special import gammaincinv, ndtr

    z = gaussian_filter(rng.standard_normal(shape), sigma=smooth_px, mode="wrap")
    z = (z - z.mean()) / max(float(z.std()), 1e-12)
    u = np.clip(ndtr(z), 1e-12, 1 - 1e-12)
    return gammaincinv(looks, u) / looks


def speckle(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Circular complex Gaussian samples of unit mean intensity, [N, M] complex128."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2.0)


REGION_INTENSITIES = (0.1, 0.3, 3.0, 10.0)  # brightness ladder of the rectangular regions


def _regions(
    shape: tuple[int, int], rng: np.random.Generator, n_regions: int
) -> list[dict[str, Any]]:
    """Non-overlapping rectangles, one per azimuth band, each with its own mean intensity."""
    n_rows, n_cols = shape
    if n_regions > len(REGION_INTENSITIES):
        raise ConfigError(f"n_regions must be <= {len(REGION_INTENSITIES)}, got {n_regions}")
    intensities = rng.permutation(REGION_INTENSITIES)[:n_regions]
    band = n_rows // max(n_regions, 1)
    out = []
    for i in range(n_regions):
        height = int(rng.integers(max(1, band // 2), max(2, int(0.9 * band)) + 1))
        r0 = i * band + int(rng.integers(0, band - height + 1))
        width = int(rng.integers(max(1, n_cols // 2), n_cols + 1))
        c0 = int(rng.integers(0, n_cols - width + 1))
        out.append(
            {
                "rows": [r0, r0 + height],
                "cols": [c0, c0 + width],
                "intensity": float(intensities[i]),
            }
        )
    return out


@register_scene("clutter")
def clutter(
    geometry: Geometry,
    rng: np.random.Generator,
    texture: bool = True,
    n_regions: int = 3,
    scale: float = 1.0,
    looks: float = 4.0,
    smooth_px: float = 4.0,
    dark_rows: tuple[int, int] | None = None,
    dark_db: float = 30.0,
) -> Reflectivity:
    """Textured speckle with rectangular regions; mean intensity scale^2 outside the regions.

    dark_rows: rows [a, b) across every column made `dark_db` dB darker (calm sea, shadow):
    a focusing operator's relative error there should match the bright rows'.
    """
    shape = (geometry.n_azimuth, geometry.n_range)
    intensity = smooth_gamma_texture(shape, rng, looks, smooth_px) if texture else np.ones(shape)
    regions = _regions(shape, rng, int(n_regions)) if n_regions else []
    for reg in regions:
        (r0, r1), (c0, c1) = reg["rows"], reg["cols"]
        intensity[r0:r1, c0:c1] *= reg["intensity"]
    if dark_rows is not None:
        a, b = (int(v) for v in dark_rows)
        if not 0 <= a < b <= shape[0]:
            raise ConfigError(f"dark_rows must be 0 <= a < b <= {shape[0]} rows, got {dark_rows}")
        intensity[a:b] *= 10.0 ** (-float(dark_db) / 10.0)
    grid = scale * np.sqrt(intensity) * speckle(shape, rng)
    info = {
        "texture": bool(texture),
        "looks": float(looks),
        "regions": regions,
        "scale": float(scale),
        "dark_rows": None if dark_rows is None else [int(v) for v in dark_rows],
        "dark_db": float(dark_db) if dark_rows is not None else None,
    }
    return Reflectivity(points=[], grid=grid, info=info)


# --- image-driven reflectivity --------------------------------------------------------------
def load_image_amplitude(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """Amplitude [N, M] float64 from an image or .npy file, resized to `shape`, mean |.|^2 = 1."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"image file not found: {path}")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a readable .npy array ({exc})") from None
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):  # colour channels last
            arr = np.abs(arr[..., :3]).mean(axis=-1)
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
            raise ConfigError(f"{path}: expected a 2-D numeric array, got {arr.dtype} {arr.shape}")
        img = Image.fromarray(np.abs(arr).astype(np.float32), mode="F")
    else:
        try:
            with Image.open(path) as opened:
                img = opened.convert("F")
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(f"{path}: not a readable image ({exc})") from None
    amp = np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), np.float64)
    if not np.all(np.isfinite(amp)):
        raise ConfigError(f"{path}: image holds NaN or infinite values")
    amp = np.abs(amp)
    power = float(np.mean(amp**2))
    if power <= 0.0:
        raise ConfigError(f"{path}: image is all zeros")
    return amp / math.sqrt(power)


@register_scene("image")
def image(geometry: Geometry, rng: np.random.Generator, path: str | Path) -> Reflectivity:
    """Amplitude from an image file, uniform random phase."""
    shape = (geometry.n_azimuth, geometry.n_range)
    amp = load_image_amplitude(path, shape)
    grid = amp * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))
    return Reflectivity(points=[], grid=grid, info={"image": Path(path).name})


@register_scene("mixed")
def mixed(
    geometry: Geometry,
    rng: np.random.Generator,
    n_targets: int | None = None,
    clutter_scale: float = 0.03,
) -> Reflectivity:
    """Dim clutter (amplitude x `clutter_scale`) plus isolated point targets."""
    background = clutter(geometry, rng, scale=clutter_scale)
    targets = place_point_targets(geometry, rng, n_targets)
    info = {**background.info, "n_targets": len(targets)}
    return Reflectivity(points=targets, grid=background.grid, info=info)
