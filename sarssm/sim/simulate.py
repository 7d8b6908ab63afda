"""Simulate range-compressed products and their reference-processed levels.

Forward model (the conventions of `sarssm.focus.rda`): level `rc` holds, for each point target
with reflectivity sigma at (fractional) row r0 and integer column k (closest-approach range R0),

    rc[n, m] = sigma g(t) p(R_m - R(t)) exp(-j 4 pi (R(t) - R0) / lambda),  t = (n - r0) / PRF,

with R(t) = sqrt(R0^2 + V^2 t^2), p(r) = sinc(2 B r / c) the compressed range pulse and g the
two-way antenna amplitude at the instantaneous Doppler f(t) = -2 V^2 t / (lambda R(t)); samples
with |f(t)| > PRF / 2 are left out, so the signal is band-limited to the sampled band. Point
targets are simulated this way, exactly, vectorised over rows and columns.

A dense reflectivity grid is simulated by the inverse of the processor: azimuth FFT of the grid
(zero-padded, so nothing wraps around), times the stationary-phase target spectrum
`azimuth_transfer` (G(f) PRF / sqrt(Ka D^3) e^{-j pi/4} e^{-j 4 pi R0 (D - 1) / lambda}, no
window), inverse RCMC, inverse FFT, crop. The inverse RCMC puts each pixel's range pulse at its
migrated range: rc_f[m] = sum_k S_f[k] p(R_m - R_k / D(f)), with p(r) = sinc(2 B r / c) sampled
on the range grid (`range_shift` with the pulse), so each pixel of the grid is a point target at
the centre of its range bin, exactly as the time-domain path sees one.

Thermal noise (circular complex Gaussian, power = mean |rc|^2 / 10^(snr_db / 10)) is added to rc,
then `rcmc` and `az` are made from the noisy rc by the reference processor, as real archives
make their ground truth. Random streams: one SeedSequence(seed) per product, spawned into
(geometry, scene, noise), so adding noise does not change the scene.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft as sfft

from sarssm import __version__
from sarssm.errors import ConfigError, ProductError
from sarssm.focus.rda import fft_length, focus_rc, range_shift
from sarssm.physics.azimuth import azimuth_transfer
from sarssm.physics.geometry import C_LIGHT, Geometry, get_preset
from sarssm.sim.scenes import PointTarget, Reflectivity, get_scene, make_scene

SIMULATOR_VERSION = "1.0"
LEVELS = ("rc", "rcmc", "az")


@dataclass
class SimulatedProduct:
    """One simulated product: its arrays (rc, rcmc, az: [N, M] complex64) and attributes."""

    geometry: Geometry
    arrays: dict[str, np.ndarray]
    attrs: dict[str, Any]
    scene: Reflectivity
    path: str = "simulated product"  # what messages name it by (it has no file)

    # The reading side of `sarssm.data.store.Product`, so a product can be focused and
    # evaluated without being written first.
    @property
    def levels(self) -> list[str]:
        return list(self.arrays)

    @property
    def shape(self) -> tuple[int, int]:
        return self.arrays["rc"].shape

    def read(self, level: str, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        return self.arrays[level][rows, cols]


# --- the two forward paths ------------------------------------------------------------------
def simulate_point_targets(geometry: Geometry, targets: list[PointTarget]) -> np.ndarray:
    """Exact time-domain rc [n_azimuth, n_range] complex128 of a list of point targets."""
    n_rows, n_cols = geometry.n_azimuth, geometry.n_range
    v, lam, prf = geometry.velocity_mps, geometry.wavelength_m, geometry.prf_hz
    rc = np.zeros((n_rows, n_cols), dtype=np.complex128)
    m = np.arange(n_cols, dtype=np.float64)  # [M]
    u = lam * prf / (4.0 * v)  # lambda f / 2V at f = PRF / 2
    for target in targets:
        r0 = float(geometry.slant_range(target.col))
        t_max = u * r0 / (v * math.sqrt(1.0 - u * u))  # |f(t)| = PRF / 2 there
        n0 = max(0, math.ceil(target.row - t_max * prf))
        n1 = min(n_rows - 1, math.floor(target.row + t_max * prf))
        if n1 < n0:
            continue
        n = np.arange(n0, n1 + 1)
        t = (n - target.row) / prf  # [T] s
        dr = (v * t) ** 2 / (np.sqrt(r0**2 + (v * t) ** 2) + r0)  # R(t) - R0, no cancellation
        f = -2.0 * v**2 * t / (lam * (r0 + dr))  # instantaneous Doppler [T]
        keep = np.abs(f) <= prf / 2.0
        az = np.where(keep, geometry.antenna_gain(f), 0.0) * np.exp(-4j * np.pi * dr / lam)
        # p(R_m - R(t)) with R_m - R(t) = (m - k) spacing - (R(t) - R0)
        offset = (m[None, :] - target.col) * geometry.range_spacing_m - dr[:, None]  # [T, M]
        pulse = np.sinc(2.0 * geometry.range_bandwidth_hz * offset / C_LIGHT)
        rc[n0 : n1 + 1] += target.sigma * az[:, None] * pulse
    return rc


def simulate_distributed(geometry: Geometry, grid: np.ndarray) -> np.ndarray:
    """rc [N, M] complex128 of a dense az-domain reflectivity grid, by the inverse processor."""
    grid = np.asarray(grid, dtype=np.complex128)
    n_rows, n_cols = geometry.n_azimuth, geometry.n_range
    if grid.shape != (n_rows, n_cols):
        raise ConfigError(f"reflectivity grid shape {grid.shape} != product {(n_rows, n_cols)}")
    cols = np.arange(n_cols)
    nfft = fft_length(geometry, n_rows, cols)
    spec = sfft.fft(grid, n=nfft, axis=0)  # [nfft, M]
    spec *= azimuth_transfer(geometry, cols, nfft)
    spec = range_shift(spec, geometry, cols, sign=-1.0, pulse=True)
    return sfft.ifft(spec, axis=0)[:n_rows]


def add_noise(rc: np.ndarray, snr_db: float | None, rng: np.random.Generator) -> np.ndarray:
    """rc plus circular complex Gaussian noise of power mean|rc|^2 / 10^(snr_db/10)."""
    if snr_db is None:
        return rc
    power = float(np.mean(np.abs(rc) ** 2)) / 10.0 ** (snr_db / 10.0)
    scale = math.sqrt(power / 2.0)
    noise = scale * (rng.standard_normal(rc.shape) + 1j * rng.standard_normal(rc.shape))
    return rc + noise


# --- products -------------------------------------------------------------------------------
def _check_snr(snr_db: Any) -> float | None:
    if snr_db is None:
        return None
    try:
        value = float(snr_db)
    except (TypeError, ValueError):
        raise ConfigError(f"snr_db must be a number or None, got {snr_db!r}") from None
    if isinstance(snr_db, bool) or not math.isfinite(value):
        raise ConfigError(f"snr_db must be a finite number of dB, got {snr_db!r}")
    return value


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators (geometry, scene, noise) of one product seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)]


def simulate_product(
    geometry: Geometry,
    scene: str,
    seed: int,
    snr_db: float | None = None,
    image: str | Path | None = None,
    n_targets: int | None = None,
    *,
    preset: str | None = None,
    scene_options: dict[str, Any] | None = None,
) -> SimulatedProduct:
    """Simulate one product of `geometry`: rc (signal + noise), then rcmc and az from it."""
    snr = _check_snr(snr_db)
    get_scene(scene)
    _, scene_rng, noise_rng = _streams(seed)
    refl = make_scene(scene, geometry, scene_rng, image, n_targets, **(scene_options or {}))
    rc = np.zeros((geometry.n_azimuth, geometry.n_range), dtype=np.complex128)
    if refl.grid is not None:
        rc += simulate_distributed(geometry, refl.grid)
    if refl.points:
        rc += simulate_point_targets(geometry, refl.points)
    rc = add_noise(rc, snr, noise_rng).astype(np.complex64)
    levels = focus_rc(rc, geometry)
    arrays = {"rc": rc, "rcmc": levels["rcmc"], "az": levels["az"]}
    attrs = {
        "sarssm_version": __version__,
        "simulator_version": SIMULATOR_VERSION,
        "preset": preset,
        "scene": scene,
        "scene_info": refl.info,
        "seed": int(seed),
        "snr_db": snr,
        "geometry": geometry.to_attrs(),
        "window": {"type": "generalized_hamming", "alpha": float(geometry.window_alpha)},
        "processed_bandwidth_hz": float(geometry.doppler_bandwidth_hz),
        "point_targets": [p.to_attrs() for p in refl.points],
        "levels": list(LEVELS),
        "processor": {
            "name": "range-doppler",
            "azimuth_padding": "zero-padded FFT (linear convolution)",
            "rcmc_interpolator": "band-limited range FFT shift",
            "normalisation": "unit point target focuses to 1 (coherent gain sum W G / n)",
        },
    }
    return SimulatedProduct(geometry=geometry, arrays=arrays, attrs=attrs, scene=refl)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def product_name(preset: str, scene: str, seed: int, index: int) -> str:
    """Folder name of product `index` of a run: `{preset}-{scene}-seed{seed}-{index:04d}.zarr`."""
    return f"{preset}-{scene}-seed{seed}-{index:04d}.zarr"


def draw_geometry(base: Geometry, rng: np.random.Generator) -> Geometry:
    """`base` with its near range drawn uniformly inside the swath (so Ka varies by product)."""
    width = (base.n_range - 1) * base.range_spacing_m
    lo, hi = base.swath_near_m, base.swath_far_m - width
    if base.swath_far_m <= base.swath_near_m or hi <= lo:
        return base
    return base.replace(near_range_m=float(rng.uniform(lo, hi)))


def simulate(
    out_dir: str | Path,
    preset: str,
    scene: str,
    n_products: int,
    seed: int,
    snr_db: float | None = None,
    image: str | Path | None = None,
    overwrite: bool = False,
    *,
    n_targets: int | None = None,
    vary_range: bool = True,
    near_range_m: float | None = None,
    n_azimuth: int | None = None,
    progress: bool | None = None,
    callback: Callable[[Path, SimulatedProduct], None] | None = None,
    levels: list[str] | None = None,
) -> list[Path]:
    """Simulate `n_products` products into `out_dir`; product i uses seed + i.

    Args:
        vary_range: draw each product's near range inside the preset's swath.
        near_range_m: every product's near range (m), instead of a draw: products outside the
            swath a model was trained on, to test it there.
        n_azimuth: rows per product instead of the preset's.
        progress: tqdm bar on stderr (None: only when stderr is a terminal).
        callback: called with (path, product) after each product is written.
        levels: the arrays to write (default all: rc, rcmc, az); ["rc"] makes unlabelled
            products, as a user with raw data and no focused reference has.
    Returns:
        The product paths, in order.
    """
    from tqdm import tqdm

    from sarssm.data.store import write_product

    base = get_preset(preset)
    if n_azimuth is not None:
        base = base.replace(n_azimuth=_positive_int("n_azimuth", n_azimuth))
    if near_range_m is not None:
        value = float(near_range_m)
        if not np.isfinite(value) or value <= 0:
            raise ConfigError(
                f"near_range_m must be a positive number of metres, got {near_range_m!r}"
            )
        base, vary_range = base.replace(near_range_m=value), False
    get_scene(scene)
    snr = _check_snr(snr_db)
    if isinstance(n_products, bool) or not isinstance(n_products, (int, np.integer)):
        raise ConfigError(f"the number of products must be an integer, got {n_products!r}")
    if n_products < 1:
        raise ConfigError(f"the number of products must be >= 1, got {n_products}")
    _streams(seed)  # validates the seed
    if scene == "image":
        if image is None:
            raise ConfigError("scene 'image' needs an image file (--image FILE)")
        if not Path(image).is_file():
            raise ConfigError(f"image file not found: {image}")
    elif image is not None:
        raise ConfigError(f"an image file only applies to scene 'image', not {scene!r}")
    from sarssm.data.store import LEVELS

    keep = list(levels) if levels is not None else ["rc", "rcmc", "az"]
    bad = [v for v in keep if v not in ("rc", "rcmc", "az")]
    if bad or not keep:
        raise ConfigError(f"levels must be a non-empty subset of rc, rcmc, az, got {keep}")
    from sarssm.io import prepare_output_dir

    out_dir = prepare_output_dir(out_dir, "--out")
    paths = [out_dir / product_name(preset, scene, seed, i) for i in range(n_products)]
    if not overwrite:
        for path in paths:
            if path.exists():
                raise ProductError(f"{path} already exists (overwrite to replace it)")
    bar = tqdm(
        paths,
        desc=f"simulate {preset}/{scene}",
        unit="product",
        file=sys.stderr,
        disable=None if progress is None else not progress,
    )
    for i, path in enumerate(bar):
        product_seed = int(seed) + i
        geometry = draw_geometry(base, _streams(product_seed)[0]) if vary_range else base
        product = simulate_product(
            geometry, scene, product_seed, snr, image, n_targets, preset=preset
        )
        product.attrs["run"] = {"seed": int(seed), "index": i}
        product.attrs["levels"] = [v for v in LEVELS if v in keep]
        arrays = {k: v for k, v in product.arrays.items() if k in keep}
        write_product(path, arrays, product.attrs, overwrite=overwrite)
        if callback is not None:
            callback(path, product)
    return paths
