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

import itertools
import json
import math
import shutil
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
READ_CHUNK_BYTES = 256 << 20  # chunks one read may decode at once (else row by row of chunks)
CHECK_BYTES = 64 << 20  # rows of a read block checked for NaN/Inf at once (bounds the flags)


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


def write_product(
    path: str | Path,
    arrays: dict[str, np.ndarray],
    attrs: dict[str, Any],
    overwrite: bool = False,
    zarr_format: int = 3,
) -> Path:
    """Write a product group atomically (a `ProductWriter` of whole arrays); returns its path.

    Args:
        arrays: {level: [rows, cols] complex array} with level in raw/rc/rcmc/az, all the same
            shape; stored as complex64.
        attrs: JSON-serialisable attributes (numpy scalars are converted).
        overwrite: replace an existing product (only once the new one is complete).
        zarr_format: 3 (default) or 2.
    """
    path = Path(path)
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
    meta = _json_safe(dict(attrs), "attrs")  # before anything is written
    with ProductWriter(path, overwrite, zarr_format) as out:
        for name, data in checked.items():
            out.create(name, data.shape)
            out.write(name, data)
        out.attrs.update(meta)
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
        compressors: Any = "auto",
        fill_value: Any = None,
    ) -> None:
        """An empty [rows, cols] complex array `name` (chunks default `chunks_for(shape)`;
        `compressors` and `fill_value` as Zarr's `create_array` takes them)."""
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
            name,
            shape=shape,
            chunks=tuple(chunks or chunks_for(shape)),
            dtype=np.dtype(dtype),
            compressors=compressors,
            fill_value=fill_value,
        )

    def copy(self, name: str, source: Path) -> None:
        """Array `name` copied from another product's array folder `source` (written in the
        same Zarr format) file by file: its metadata and chunks as stored, never decoded (a
        real product's levels are GB each)."""
        if self._group is None or self.tmp is None:
            raise ConfigError(f"{self.path}: ProductWriter.copy outside its `with` block")
        if name not in LEVELS:
            raise ConfigError(f"{self.path}: array name {name!r} is not one of {list(LEVELS)}")
        shutil.copytree(source, self.tmp / name, copy_function=shutil.copyfile)

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
                # one metadata write: attrs.update rewrites the group's JSON once per key
                self._group.update_attributes(_json_safe(dict(self.attrs), "attrs"))
        except BaseException as error:  # attributes JSON cannot store: discard the product
            context.__exit__(type(error), error, error.__traceback__)
            raise
        finally:
            self._group, self._arrays = None, {}
        context.__exit__(kind, exc, tb)
        return False


class Product:
    """A product opened lazily: metadata now, array data only when read.

    The geometry is decoded once, at open: from the `geometry` attribute of a sarssm product,
    or from the Level-0 packet records of a real Maya4 product (`sarssm.data.maya4`), with
    `overrides` (`--geometry KEY=VALUE`) replacing decoded values. A Maya4 product's records
    (`metadata`, `ephemeris`: about 2 kB per azimuth line) are not kept: `attrs` holds the rest,
    `dropped_attrs` says what was left out, `level0` what the packets say (for `inspect`), and
    `full_attrs()` reads everything again. The Zarr group is not kept either (it would hold the
    records): only its arrays.
    """

    def __init__(self, path: Path, group: Any, overrides: Mapping[str, Any] | None = None) -> None:
        from sarssm.data import maya4

        self.path = Path(path)
        attrs = dict(group.attrs)
        names = set(group.array_keys())
        self.levels: list[str] = [name for name in LEVELS if name in names]
        if not self.levels:
            raise ProductError(f"{self.path}: no product arrays (expected one of {list(LEVELS)})")
        self._arrays: dict[str, Any] = {}
        shapes = {}
        for name in self.levels:
            arr = self._arrays[name] = group[name]
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
        self.overrides: dict[str, Any] = maya4.geometry_overrides(overrides)
        self.is_maya4: bool = maya4.is_maya4(attrs)
        self.level0: Any = None  # maya4.Level0Parameters of a Maya4 product
        self.level0_error: str | None = None
        self._geometry: Geometry | None = None
        self._geometry_error: str | None = None
        if self.is_maya4:
            self._decode(attrs)
        self.attrs: dict[str, Any]
        self.attrs, self.dropped_attrs = maya4.light_attrs(attrs)

    def _decode(self, attrs: dict[str, Any]) -> None:
        """Geometry and Level-0 parameters of a Maya4 product (errors kept for later), from
        one parse of its records."""
        from sarssm.data.level0 import Decoder
        from sarssm.data.maya4 import level0_parameters, maya4_geometry

        try:
            dec = Decoder(attrs, self.path)
        except ProductError as exc:  # records that cannot be parsed: neither can be decoded
            self._geometry_error = self.level0_error = str(exc)
            return
        fork = dec.fork()
        try:
            self._geometry = maya4_geometry(
                attrs, self.path, self.overrides, shape=self.shape, decoder=dec
            )
        except ProductError as exc:
            self._geometry_error = str(exc)
        try:
            self.level0 = level0_parameters(attrs, self.path, decoder=fork)
        except ProductError as exc:
            self.level0_error = str(exc)

    @property
    def name(self) -> str:
        return self.path.name

    def __repr__(self) -> str:
        return f"Product({str(self.path)!r}, levels={self.levels}, shape={self.shape})"

    def array(self, level: str) -> Any:
        """The lazy zarr array of `level` (slicing reads only the chunks it needs)."""
        if level not in self.levels:
            raise ProductError(f"{self.path}: no {level!r} array (levels present: {self.levels})")
        return self._arrays[level]

    def read(self, level: str, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """Rows x cols of `level` as a complex64 numpy array (`check_values`: finite).

        A region whose chunks add up to more than `READ_CHUNK_BYTES` (whole columns of a
        real product, chunked 4096 x 4096: 128 MiB per chunk) is read one row of chunks at a
        time, so that Zarr decodes only the chunks of one row of chunks at once.
        """
        arr = self.array(level)
        try:
            slabs = _row_slabs(arr, rows, cols)
            if slabs is None:
                block = np.asarray(arr[rows, cols])
            else:
                r0, width = slabs[0][0], len(range(*cols.indices(arr.shape[1])))
                block = np.empty((slabs[-1][1] - r0, width), arr.dtype)
                for a, b in slabs:
                    block[a - r0 : b - r0] = arr[a:b, cols]
        except Exception as exc:  # zarr raises assorted errors for corrupt chunks / bad slices
            raise ProductError(f"{self.path}: cannot read {level}[{rows}, {cols}]: {exc}") from None
        block = block.astype(np.complex64, copy=False)
        check_values(block, f"{self.path}: {level}", rows, cols)
        return block

    def full_attrs(self) -> dict[str, Any]:
        """Every attribute, the Level-0 records included, read from disk again."""
        import zarr

        try:
            return dict(zarr.open_group(store=str(self.path), mode="r").attrs)
        except Exception as exc:  # zarr's own errors differ between versions and formats
            raise ProductError(f"{self.path}: cannot read its attributes again ({exc})") from None

    @property
    def geometry(self) -> Geometry:
        """The product's geometry: its `geometry` attribute, or (a real Maya4 product) the one
        decoded from its packets and ephemeris; `--geometry` overrides applied. A ProductError
        names what is missing."""
        if self._geometry is not None:
            return self._geometry
        if self._geometry_error is not None:
            raise ProductError(self._geometry_error)
        from sarssm.data.maya4 import with_overrides

        geo = self.attrs.get("geometry")
        if not isinstance(geo, dict):
            raise ProductError(
                f"{self.path}: no 'geometry' attribute and no Maya4 packet records "
                "('metadata') to read one from (not a sarssm or Maya4 product?)"
            )
        try:
            geometry = Geometry.from_attrs(geo)
        except (ConfigError, TypeError) as exc:
            raise ProductError(f"{self.path}: invalid 'geometry' attribute: {exc}") from None
        self._geometry = with_overrides(geometry, self.overrides, str(self.path))
        return self._geometry

    @property
    def point_targets(self) -> list[dict[str, Any]]:
        """[{"row", "col", "amplitude", "phase_rad"}] (empty when the product has none)."""
        targets = self.attrs.get("point_targets") or []
        return [dict(t) for t in targets]


def _row_slabs(arr: Any, rows: Any, cols: Any) -> list[tuple[int, int]] | None:
    """Row ranges, one row of chunks each, to read rows x cols of `arr` in, when the chunks
    it touches exceed `READ_CHUNK_BYTES`; None: read it at once."""
    if not (isinstance(rows, slice) and isinstance(cols, slice)):
        return None
    if rows.step not in (None, 1) or cols.step not in (None, 1):
        return None
    r0, r1, _ = rows.indices(arr.shape[0])
    c0, c1, _ = cols.indices(arr.shape[1])
    if r1 <= r0 or c1 <= c0:
        return None
    cr, cc = (int(c) for c in arr.chunks)
    touched = ((r1 - 1) // cr - r0 // cr + 1) * ((c1 - 1) // cc - c0 // cc + 1)
    if touched * cr * cc * np.dtype(arr.dtype).itemsize <= READ_CHUNK_BYTES or r1 - r0 <= cr:
        return None
    edges = [r0, *range((r0 // cr + 1) * cr, r1, cr), r1]
    return list(itertools.pairwise(edges))


def check_values(block: np.ndarray, where: str, rows: slice, cols: slice) -> None:
    """Refuse a block read from a product that holds NaN or Inf (`where`: file and array);
    the message gives the count and the first bad element's product coordinates. The block
    is checked `CHECK_ROWS` rows at a time (the flags of a whole 4 GB level would be 1 GB)."""
    real = block.view(np.float32) if block.dtype == np.complex64 else block
    step = max(1, CHECK_BYTES // max(1, real[:1].nbytes))
    if all(np.isfinite(real[a : a + step]).all() for a in range(0, len(real), step)):
        return
    finite = np.isfinite(real)
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


def open_product(
    path: str | Path, geometry_overrides: Mapping[str, Any] | list[str] | None = None
) -> Product:
    """Open the product group at `path` (Zarr format 2 or 3) without reading array data;
    `geometry_overrides` (`--geometry KEY=VALUE` items or a dict) replace values of its
    geometry (`Product.geometry`)."""
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
        return Product(path, group, geometry_overrides)
    except (ProductError, ConfigError):
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
