"""Product store: one Zarr group per product, in the layout of the Maya4 Sentinel-1 archive.

A product is a folder `NAME.zarr` holding a Zarr group (format 3, or format 2 when asked) with
2-D complex64 arrays among `raw`, `rc`, `rcmc`, `az` (rows = azimuth, columns = range) and JSON
attributes. Products written here carry `sarssm_version`, `simulator_version`, `preset`, `scene`,
`seed`, `snr_db`, `geometry`, `window`, `processed_bandwidth_hz`, `point_targets` and `levels`;
the reader requires none of them to open and read arrays (real Maya4 products carry others).

Chunks are (min(rows, 1024), min(cols, 16)): models read tall column strips (whole columns or
[1000 x 1] patches), so a chunk spans many rows and few columns; 1024 x 16 complex64 is 128 KiB
before compression, large enough for efficient I/O and small enough that a one-column patch
reads little it does not need. Compression is Zarr's lossless default (Zstd for format 3, Blosc
for format 2), so complex64 data round-trips bit-exactly.

Writes are atomic: the group is written into a temporary folder beside the target and renamed
into place (`sarssm.io.atomic_dir`), so an interrupted write never leaves a half product under
the final name and an existing product is replaced only by a complete one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.errors import ConfigError, ProductError
from sarssm.io import atomic_dir
from sarssm.physics.geometry import Geometry

LEVELS = ("raw", "rc", "rcmc", "az")  # array names a product may hold, in processing order
CHUNK_ROWS = 1024
CHUNK_COLS = 16


def chunks_for(shape: tuple[int, int]) -> tuple[int, int]:
    """Chunk shape of a [rows, cols] array: (min(rows, 1024), min(cols, 16))."""
    return (max(1, min(shape[0], CHUNK_ROWS)), max(1, min(shape[1], CHUNK_COLS)))


def _json_safe(value: Any, where: str) -> Any:
    """Plain JSON types (numpy scalars converted); NaN/inf and other objects are errors."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"attribute {where} is {value}, which JSON cannot store")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(f"attribute {where} has type {type(value).__name__}, not JSON")


def _write_array(group: Any, name: str, data: np.ndarray) -> None:
    """Create array `name` in `group` and write `data` (one call per array)."""
    arr = group.create_array(
        name, shape=data.shape, chunks=chunks_for(data.shape), dtype=data.dtype
    )
    arr[...] = data


def write_product(
    path: str | Path,
    arrays: dict[str, np.ndarray],
    attrs: dict[str, Any],
    overwrite: bool = False,
    zarr_format: int = 3,
) -> Path:
    """Write a product group atomically; returns its path.

    Args:
        arrays: {level: [rows, cols] complex array} with level in raw/rc/rcmc/az, all the same
            shape; stored as complex64.
        attrs: JSON-serialisable attributes (numpy scalars are converted).
        overwrite: replace an existing product (only once the new one is complete).
        zarr_format: 3 (default) or 2.
    """
    import zarr

    path = Path(path)
    if zarr_format not in (2, 3):
        raise ConfigError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
    if not arrays:
        raise ConfigError(f"{path}: a product needs at least one array")
    shape = None
    checked = {}
    for name, data in arrays.items():
        if name not in LEVELS:
            raise ConfigError(f"{path}: array name {name!r} is not one of {list(LEVELS)}")
        data = np.asarray(data)
        if data.ndim != 2:
            raise ConfigError(f"{path}: array {name!r} must be 2-D, got shape {data.shape}")
        if not np.iscomplexobj(data):
            raise ConfigError(f"{path}: array {name!r} must be complex, got dtype {data.dtype}")
        if shape is not None and data.shape != shape:
            raise ConfigError(f"{path}: array {name!r} has shape {data.shape}, others {shape}")
        shape = data.shape
        checked[name] = np.ascontiguousarray(data, dtype=np.complex64)
    meta = _json_safe(dict(attrs), "attrs")
    if path.exists() and not overwrite:
        raise ProductError(f"{path} already exists (overwrite to replace it)")
    with atomic_dir(path, overwrite=overwrite) as tmp:
        group = zarr.open_group(store=str(tmp), mode="w", zarr_format=zarr_format)
        for name, data in checked.items():
            _write_array(group, name, data)
        group.attrs.update(meta)
    return path


class ProductWriter:
    """A product written block by block, atomically: arrays of known shape are created empty,
    filled by `write` in any order, and the group is renamed into place only when the `with`
    block ends without an exception (`sarssm.io.atomic_dir`); on an exception the temporary
    folder is removed and nothing appears under `path` (an existing product stays as it was).

        with ProductWriter(path, overwrite=False) as out:
            out.create("az", (rows, cols))
            for rows, cols, block in blocks:
                out.write("az", block, rows, cols)
            out.attrs.update(attrs)

    Regions never written read as zeros (Zarr's fill value).
    """

    def __init__(self, path: str | Path, overwrite: bool = False, zarr_format: int = 3) -> None:
        if zarr_format not in (2, 3):
            raise ConfigError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
        self.path = Path(path)
        self.overwrite = bool(overwrite)
        self.zarr_format = zarr_format
        self.attrs: dict[str, Any] = {}
        self._group: Any = None
        self._arrays: dict[str, Any] = {}
        self._context: Any = None
        self.tmp: Path | None = None  # the temporary folder while open

    def __enter__(self) -> ProductWriter:
        import zarr

        if self.path.exists() and not self.overwrite:
            raise ProductError(f"{self.path} already exists (overwrite to replace it)")
        self._context = atomic_dir(self.path, overwrite=self.overwrite)
        self.tmp = self._context.__enter__()
        try:
            self._group = zarr.open_group(
                store=str(self.tmp), mode="w", zarr_format=self.zarr_format
            )
        except BaseException as exc:
            self._context.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def create(
        self,
        name: str,
        shape: tuple[int, int],
        dtype: Any = np.complex64,
        chunks: tuple[int, int] | None = None,
    ) -> None:
        """An empty [rows, cols] complex array `name` (chunks default `chunks_for(shape)`)."""
        if self._group is None:
            raise ConfigError(f"{self.path}: ProductWriter.create outside its `with` block")
        if name not in LEVELS:
            raise ConfigError(f"{self.path}: array name {name!r} is not one of {list(LEVELS)}")
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ConfigError(f"{self.path}: array {name!r} must be 2-D and non-empty, got {shape}")
        if not np.issubdtype(np.dtype(dtype), np.complexfloating):
            raise ConfigError(f"{self.path}: array {name!r} must be complex, got dtype {dtype}")
        self._arrays[name] = self._group.create_array(
            name, shape=shape, chunks=tuple(chunks or chunks_for(shape)), dtype=np.dtype(dtype)
        )

    def write(
        self, name: str, block: np.ndarray, rows: slice = slice(None), cols: slice = slice(None)
    ) -> None:
        """Write `block` into rows x cols of array `name` (created first)."""
        if self._group is None:
            raise ConfigError(f"{self.path}: ProductWriter.write outside its `with` block")
        if name not in self._arrays:
            raise ConfigError(f"{self.path}: array {name!r} was not created")
        self._arrays[name][rows, cols] = block

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        context, self._context = self._context, None
        try:
            if kind is None:
                self._group.attrs.update(_json_safe(dict(self.attrs), "attrs"))
        except BaseException as error:  # attributes JSON cannot store: discard the product
            context.__exit__(type(error), error, error.__traceback__)
            raise
        finally:
            self._group, self._arrays = None, {}
        context.__exit__(kind, exc, tb)
        return False


class Product:
    """A product opened lazily: metadata now, array data only when read."""

    def __init__(self, path: Path, group: Any) -> None:
        self.path = Path(path)
        self._group = group
        self.attrs: dict[str, Any] = dict(group.attrs)
        names = set(group.array_keys())
        self.levels: list[str] = [name for name in LEVELS if name in names]
        if not self.levels:
            raise ProductError(f"{self.path}: no product arrays (expected one of {list(LEVELS)})")
        shapes = {}
        for name in self.levels:
            arr = group[name]
            if len(arr.shape) != 2:
                raise ProductError(f"{self.path}: array {name!r} is not 2-D (shape {arr.shape})")
            if not np.issubdtype(np.dtype(arr.dtype), np.complexfloating):
                raise ProductError(
                    f"{self.path}: array {name!r} has dtype {arr.dtype}, expected complex"
                )
            shapes[name] = tuple(int(s) for s in arr.shape)
        # raw echoes are not range-compressed and may be wider; the processed levels align
        aligned = {k: v for k, v in shapes.items() if k != "raw"} or shapes
        if len(set(aligned.values())) > 1:
            raise ProductError(f"{self.path}: arrays have different shapes {aligned}")
        self.shape: tuple[int, int] = next(iter(aligned.values()))

    @property
    def name(self) -> str:
        return self.path.name

    def __repr__(self) -> str:
        return f"Product({str(self.path)!r}, levels={self.levels}, shape={self.shape})"

    def array(self, level: str) -> Any:
        """The lazy zarr array of `level` (slicing reads only the chunks it needs)."""
        if level not in self.levels:
            raise ProductError(f"{self.path}: no {level!r} array (levels present: {self.levels})")
        return self._group[level]

    def read(self, level: str, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """Rows x cols of `level` as a complex64 numpy array (`check_values`: finite)."""
        arr = self.array(level)
        try:
            block = arr[rows, cols]
        except Exception as exc:  # zarr raises assorted errors for corrupt chunks / bad slices
            raise ProductError(f"{self.path}: cannot read {level}[{rows}, {cols}]: {exc}") from None
        block = np.asarray(block).astype(np.complex64, copy=False)
        check_values(block, f"{self.path}: {level}", rows, cols)
        return block

    @property
    def geometry(self) -> Geometry:
        """The product's own geometry (attribute `geometry`)."""
        geo = self.attrs.get("geometry")
        if not isinstance(geo, dict):
            raise ProductError(f"{self.path}: no 'geometry' attribute (not a sarssm product?)")
        try:
            return Geometry.from_attrs(geo)
        except (ConfigError, TypeError) as exc:
            raise ProductError(f"{self.path}: invalid 'geometry' attribute: {exc}") from None

    @property
    def point_targets(self) -> list[dict[str, Any]]:
        """[{"row", "col", "amplitude", "phase_rad"}] (empty when the product has none)."""
        targets = self.attrs.get("point_targets") or []
        return [dict(t) for t in targets]


def check_values(block: np.ndarray, where: str, rows: slice, cols: slice) -> None:
    """Refuse a block read from a product that holds NaN or Inf (`where`: file and array);
    the message gives the count and the first bad element's product coordinates."""
    finite = np.isfinite(block.view(np.float32) if block.dtype == np.complex64 else block)
    if finite.all():
        return
    if block.dtype == np.complex64:  # (re, im) pairs -> one flag per element
        finite = finite.reshape(*block.shape, 2).all(axis=-1)
    bad = np.argwhere(~finite)
    r0 = (rows.start or 0) if isinstance(rows, slice) else 0
    c0 = (cols.start or 0) if isinstance(cols, slice) else 0
    row, col = int(bad[0][0]) + r0, int(bad[0][-1]) + c0
    raise ProductError(
        f"{where} holds {len(bad)} non-finite value(s) (NaN or Inf), the first at row {row}, "
        f"column {col}: value {complex(block[tuple(bad[0])])}"
    )


def open_product(path: str | Path) -> Product:
    """Open the product group at `path` (Zarr format 2 or 3) without reading array data."""
    import zarr

    path = Path(path)
    if not path.exists():
        raise ProductError(f"{path}: no such product")
    if not path.is_dir():
        raise ProductError(f"{path}: not a Zarr group (not a folder)")
    try:
        group = zarr.open_group(store=str(path), mode="r")
    except json.JSONDecodeError as exc:
        raise ProductError(f"{path}: corrupt Zarr metadata ({exc})") from None
    except Exception as exc:  # zarr's own errors differ between versions and formats
        raise ProductError(
            f"{path}: not a readable Zarr group ({type(exc).__name__}: {exc})"
        ) from None
    try:
        return Product(path, group)
    except ProductError:
        raise
    except Exception as exc:  # corrupt array metadata surfaces when arrays are opened
        raise ProductError(f"{path}: corrupt Zarr metadata ({type(exc).__name__}: {exc})") from None


def is_product(path: Path) -> bool:
    """Whether `path` is a folder with Zarr group metadata (format 3 or 2)."""
    return path.is_dir() and ((path / "zarr.json").is_file() or (path / ".zgroup").is_file())


def list_products(path: str | Path) -> list[Path]:
    """`path` itself when it is a product, else every `*.zarr` group below it, sorted."""
    path = Path(path)
    if not path.exists():
        raise ProductError(f"{path}: no such file or folder")
    if path.suffix == ".zarr" or is_product(path):
        if not is_product(path):
            raise ProductError(f"{path}: not a Zarr group (no zarr.json or .zgroup)")
        return [path]
    if not path.is_dir():
        raise ProductError(f"{path}: not a product or a folder of products")
    found = []
    stack = [path]
    while stack:  # walk, without descending into products or hidden (temporary) folders
        folder = stack.pop()
        for child in folder.iterdir():
            if not child.is_dir() or child.name.startswith("."):
                continue
            if child.suffix == ".zarr" and is_product(child):
                found.append(child)
            else:
                stack.append(child)
    if not found:
        raise ProductError(f"{path}: no products (*.zarr groups) found")
    return sorted(found)
