"""Model inputs, assembled in one place: product columns -> (x [W, L, C], slant ranges [W]).

Symbols: W columns of the block, L rows (azimuth samples), C = 2k + 1 input channels, k range
neighbours on each side.

A model reads one product level (`config.input_level`, `rc` or `rcmc`). Column m of the model's
input holds channel i = the level's column m - k + i (i = 0..2k), so channel k is the column
itself; neighbours beyond the product's edges are zero. The only other input is each column's
slant range, from the product's geometry: a product without one is refused (no position is
guessed), as is a product of another radar or outside the model's slant-range interval.
Nothing else enters: no azimuth position, no product length, no normalised range.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sarssm.errors import ConfigError, ProductError
from sarssm.models.config import ModelConfig
from sarssm.physics.geometry import Geometry

Reader = Callable[[str, slice, slice], np.ndarray]  # (level, rows, cols) -> [rows, cols]


def product_geometry(product: Any, geometry: Geometry | None = None) -> Geometry:
    """`geometry` if given, else the product's own (a clear error when it has none; a Maya4
    product's names the missing Level-0 fields and the `--geometry` keys that replace them)."""
    if geometry is not None:
        return geometry
    try:
        return product.geometry
    except ProductError as exc:
        if getattr(product, "is_maya4", False):
            raise
        raise ProductError(
            f"{exc}; a model conditioned on geometry needs each column's slant range: give the "
            "product a 'geometry' attribute (near_range_m, range_spacing_m, prf_hz, "
            "wavelength_m, velocity_mps, ...) or pass the geometry explicitly"
        ) from None


def slant_ranges(
    config: ModelConfig, geometry: Geometry | None, cols: np.ndarray, where: str
) -> np.ndarray | None:
    """Slant range [W] (metres) the model is conditioned on for columns `cols`, checked
    against its reference geometry: the column's own, mapped to its chirp-equivalent range on
    the reference radar when the product's V, PRF or wavelength differ a little
    (`ReferenceGeometry.check`); None for a model without geometry conditioning."""
    if config.geometry == "none":
        return None
    if geometry is None:
        raise ProductError(f"{where}: no geometry, and the model needs each column's slant range")
    r = geometry.slant_range(np.asarray(cols, dtype=np.float64))
    return config.resolved().reference.check(geometry, r, where)


def stack_neighbours(block: np.ndarray, k: int) -> np.ndarray:
    """[L, W + 2k] rows of columns c-k .. c+W-1+k -> x [W, L, 2k+1] (channel k the column)."""
    L, width = block.shape
    W = width - 2 * k
    if W < 1:
        raise ConfigError(f"a block of {width} columns cannot hold {k} neighbours on each side")
    out = np.empty((W, L, 2 * k + 1), dtype=np.complex64)
    for i in range(2 * k + 1):
        out[:, :, i] = block[:, i : i + W].T
    return out


def read_padded(
    read: Reader, level: str, rows: slice, c0: int, c1: int, shape: tuple[int, int]
) -> np.ndarray:
    """Columns c0..c1-1 of `level` (rows `rows`), zero where c < 0 or c >= shape[1]."""
    lo, hi = max(c0, 0), min(c1, shape[1])
    block = read(level, rows, slice(lo, hi)) if hi > lo else None
    if lo == c0 and hi == c1:
        return block
    n_rows = len(range(*rows.indices(shape[0])))
    out = np.zeros((n_rows, c1 - c0), dtype=np.complex64)
    if block is not None:
        out[:, lo - c0 : hi - c0] = block
    return out


def model_inputs(
    config: ModelConfig,
    read: Reader,
    shape: tuple[int, int],
    geometry: Geometry | None,
    rows: slice = slice(None),
    cols: slice | None = None,
    scale: float = 1.0,
    where: str = "product",
) -> tuple[np.ndarray, np.ndarray | None]:
    """The model input of columns `cols` (default all) and rows `rows` of a product.

    Args:
        read: reads (level, rows, cols) of the product (a `Product.read` or a cache).
        shape: the product's (rows, cols). geometry: its geometry (None: refused when the
            model is conditioned on geometry).
        scale: the input is divided by it (the training normalisation's input scale).
    Returns:
        x [W, L, C] complex64 and the slant ranges [W] float64 (None without conditioning).
    """
    c0, c1, _ = (cols or slice(None)).indices(shape[1])
    if c1 <= c0:
        raise ConfigError(f"{where}: empty column range {c0}..{c1}")
    k = config.range_neighbours
    block = read_padded(read, config.input_level, rows, c0 - k, c1 + k, shape)
    x = stack_neighbours(block, k)
    if scale != 1.0:
        x = (x / np.float32(scale)).astype(np.complex64, copy=False)
    return x, slant_ranges(config, geometry, np.arange(c0, c1), where)


def product_inputs(
    config: ModelConfig,
    product: Any,
    rows: slice = slice(None),
    cols: slice | None = None,
    scale: float = 1.0,
    geometry: Geometry | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """`model_inputs` of an opened product (`sarssm.data.store.Product`)."""
    if config.input_level not in product.levels:
        raise ProductError(
            f"{product.path}: the model reads level {config.input_level!r}, which the product "
            f"does not have (levels: {product.levels})"
        )
    geo = product_geometry(product, geometry) if config.geometry != "none" else None

    def read(level: str, r: slice, c: slice) -> np.ndarray:
        return product.read(level, rows=r, cols=c)

    return model_inputs(config, read, product.shape, geo, rows, cols, scale, str(product.path))
