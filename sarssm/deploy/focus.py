"""Whole-product focusing: every column of a product, in blocks that bound memory.

Symbols: L rows (azimuth) and M columns (range) of the product, W columns of a block, S rows
of a segment, k range neighbours of the model.

`focus_product(model, product, out)` reads the model's input level in blocks of W columns
(plus k neighbours on each side) and, inside each, S rows at a time, and writes the focused
image as the `az` array of a new product with the input's layout (`docs/focus.md`):

- mode "conv" (`sarssm.deploy.conv`): a causal LTI student as one folded kernel by FFT
  overlap-save, another causal model by `step_chunk` with its state carried, a bidirectional
  model over whole columns; each equals the single pass `model(x, slant_range, aligned=True)`.
- mode "stream": `StreamingFocuser` over each column block, line by line (LTI students only).
- model "reference": the range-Doppler processor (`sarssm.focus.rda.focus_columns`) on column
  blocks of the RCMC grid, equal to `focus_rc` of the whole product (whole columns: the
  azimuth FFT needs every row).

The output is written through `sarssm.data.store.ProductWriter`: into a temporary folder
beside the target, renamed into place at the end, so an interrupted run leaves nothing under
the output's name.

Blocks follow the input's chunks (`block_plan`): a block is a whole number of chunks wide where
chunks are narrow (sarssm's own, 16 columns), and where they are wide (sarpyx writes 4096 x 4096)
the widest divisor of the chunk width whose working memory stays within `BLOCK_BYTES`, so a
block never straddles a chunk boundary; segments are a whole number of chunk rows. The output's
`az` keeps the input's chunks, or, where they are wider than a block and large, is chunked one
block wide, so that every output chunk is written once. A real Maya4 product's output carries
its Level-0 records as the input does, plus the `geometry` it was focused with.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.deploy.blocks import BLOCK_COLUMNS, BLOCK_ROWS, block_plan, column_span
from sarssm.errors import ConfigError, ProductError

__all__ = ["BLOCK_COLUMNS", "BLOCK_ROWS", "LEVELS", "MODES", "Focuser", "focus_product"]

MODES = ("conv", "stream")
LEVELS = ("rc", "rcmc")
Progress = Callable[[int, int], None]  # (columns done, columns in all)


@dataclass
class Focuser:
    """What focuses a product: a model with its normalisation, or the reference processor.

    `net` None is the reference processor. `folder` and `sha256` (of model.safetensors) are
    None for a model that was not loaded from a folder.
    """

    name: str
    net: Any = None
    scaler: Any = None
    folder: Path | None = None
    sha256: str | None = None
    engines: dict[str, Any] = field(default_factory=dict)  # conv engine, stream arrays: once

    @property
    def is_reference(self) -> bool:
        return self.net is None

    def engine(self) -> Any:
        """The model's conv-mode engine (its folded kernel is computed once)."""
        if "conv" not in self.engines:
            from sarssm.deploy.conv import conv_engine

            self.engines["conv"] = conv_engine(self.net)
        return self.engines["conv"]

    def stream_arrays(self) -> dict[str, Any]:
        """The model as `lti_arrays` (its scales folded in) for stream mode, computed once."""
        if "stream" not in self.engines:
            from sarssm.deploy.lti import lti_arrays

            self.engines["stream"] = lti_arrays(self.net, self.scaler)
        return self.engines["stream"]


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_focuser(model: Any, scaler: Any = None) -> Focuser:
    """A `Focuser` from "reference", a model folder (`model.yaml`, `model.safetensors` and
    `normalization.json`; a run folder holding best/ or final_student_model/ also works) or a
    `SarSSM` (unit scales when `scaler` is None)."""
    from sarssm.data.normalize import ComplexScaler

    if isinstance(model, Focuser):
        return model
    if isinstance(model, str) and model == "reference":
        return Focuser("reference")
    if isinstance(model, (str, Path)):
        from sarssm.eval.evaluate import load_model_folder
        from sarssm.models.io import WEIGHTS

        folder, net, own = load_model_folder(model, scales=scaler is None)
        sha = file_sha256(folder / WEIGHTS)
        return Focuser(net.config.name, net, scaler or own, folder, sha)
    if not hasattr(model, "config") or not hasattr(model, "step_chunk"):
        raise ConfigError(
            f"model must be 'reference', a model folder or a SarSSM, got {type(model).__name__}"
        )
    model.eval()
    return Focuser(model.config.name, model, scaler or ComplexScaler(1.0, 1.0))


# --- checks ---------------------------------------------------------------------------------
def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def resolve_level(focuser: Focuser, product: Any, level: str | None) -> str:
    """The level to read: the model's own (`model.input_level`; another is refused), or for
    the reference processor rc (rcmc when the product has no rc)."""
    if level is not None and level not in LEVELS:
        raise ConfigError(f"level must be one of {list(LEVELS)}, got {level!r}")
    if focuser.is_reference:
        if level is None:
            level = "rc" if "rc" in product.levels or "rcmc" not in product.levels else "rcmc"
    else:
        trained = focuser.net.config.input_level
        if level is not None and level != trained:
            where = f" ({focuser.folder})" if focuser.folder else ""
            raise ConfigError(
                f"model {focuser.name!r}{where} was trained on level {trained!r} "
                f"(model.input_level); it cannot focus level {level!r}"
            )
        level = trained
    if level not in product.levels:
        raise ProductError(
            f"{product.path}: no {level!r} array to focus (levels present: {product.levels})"
        )
    return level


def _check_mode(focuser: Focuser, mode: str) -> None:
    from sarssm.deploy.lti import check_lti

    if mode not in MODES:
        raise ConfigError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if mode == "stream":
        if focuser.is_reference:
            raise ConfigError("the reference processor has no stream mode (use mode conv)")
        try:
            check_lti(focuser.net, "stream mode")
        except ConfigError as exc:
            raise ConfigError(f"{exc}; use mode conv") from None


def _slant_ranges(focuser: Focuser, product: Any) -> tuple[Any, np.ndarray | None]:
    """(geometry, slant range [M] of every column, checked against the model's interval);
    geometry and ranges are None for a model without geometry conditioning."""
    from sarssm.models.inputs import product_geometry, slant_ranges

    if focuser.is_reference:
        return product.geometry, None
    config = focuser.net.config
    if config.geometry == "none":
        return None, None
    geometry = product_geometry(product)
    cols = np.arange(product.shape[1])
    return geometry, slant_ranges(config, geometry, cols, str(product.path))


def same_focus(out_path: str | Path, focuser: Focuser, mode: str) -> bool:
    """Whether the product at `out_path` was focused by this model (the SHA-256 of its
    weights, or the reference processor) in this mode (its `focused_by` attribute)."""
    from sarssm.data.store import open_product

    try:
        done = open_product(out_path).attrs.get("focused_by")
    except ProductError:
        return False
    if not isinstance(done, dict):
        return False
    sha = "reference" if focuser.is_reference else focuser.sha256
    return sha is not None and done.get("model_sha256") == sha and done.get("mode") == mode


def zarr_format(path: Path) -> int:
    """3 for a Zarr format 3 group (zarr.json), else 2."""
    return 3 if (Path(path) / "zarr.json").is_file() else 2


# --- the product ----------------------------------------------------------------------------
def focus_product(
    model: Any,
    product_path: str | Path,
    out_path: str | Path,
    mode: str = "conv",
    level: str | None = None,
    scaler: Any = None,
    block_columns: int | None = None,
    block_rows: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    backend: str = "auto",
    geometry_overrides: Any = None,
    columns: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Focus every column of a product into a new product (atomically).

    Args:
        model: "reference", a model folder, a `SarSSM` or a `Focuser` (`load_focuser`).
        product_path: the input product; out_path: the output product (refused when it
            exists, unless `overwrite`; never the input itself).
        mode: "conv" (exact conv-mode engines) or "stream" (line by line, LTI students).
        level: the input level (default the model's `input_level`; the reference: rc).
        scaler: the model's `ComplexScaler` (default: the folder's normalization.json, or
            unit scales for a `SarSSM` passed directly).
        block_columns: W, columns per block (default: `block_plan`, from the input's chunks;
            the reference rounds it up to a multiple of 256, its RCMC grid). block_rows: S,
            rows per segment (conv mode on causal models and stream mode; the reference and
            bidirectional models read whole columns; default 4096 in whole chunk rows).
        progress: called with (columns done, columns in all) after each column block.
        backend: the `StreamingFocuser` backend of stream mode.
        geometry_overrides: `--geometry` items or a dict, replacing values of the product's
            geometry (`sarssm.data.store.open_product`).
        columns: (a, b): focus only columns a..b-1 (the output has the input's shape; `az` is
            zero outside them, and `focused_by.columns` says so).
    Returns:
        {"product", "out", "shape", "mode", "level", "engine", "block_columns",
        "block_rows", "columns", "seconds", "block_bytes"} with block_bytes the largest bytes
        of one block's arrays (input, FFT buffers, state, output).
    """
    from sarssm.data.store import ProductWriter, open_product

    start = time.perf_counter()
    if block_columns is not None:
        block_columns = _positive("block_columns", block_columns)
    if block_rows is not None:
        block_rows = _positive("block_rows", block_rows)
    focuser = load_focuser(model, scaler)
    _check_mode(focuser, mode)
    product = open_product(product_path, geometry_overrides)
    level = resolve_level(focuser, product, level)
    span = column_span(columns, product)
    geometry, ranges = _slant_ranges(focuser, product)
    out_path = Path(out_path)
    if out_path.resolve() == product.path.resolve():
        raise ConfigError(f"{out_path}: the output would replace its own input product")
    if out_path.exists() and not overwrite:
        raise ProductError(f"{out_path} already exists (overwrite to replace it)")
    if focuser.is_reference:
        engine = "range-doppler"
    else:
        engine = "stream" if mode == "stream" else focuser.engine().kind
    W, S, az_chunks = block_plan(focuser, product, level, mode, block_columns, block_rows)
    L, M = product.shape
    peak = 0
    with ProductWriter(out_path, overwrite, zarr_format(product.path)) as writer:
        for name in product.levels:
            if name != "az":
                copy_array(product, name, writer)
        writer.create("az", (L, M), chunks=az_chunks)

        def write(rows: slice, cols: slice, block: np.ndarray) -> None:
            writer.write("az", np.asarray(block, np.complex64), rows, cols)

        if focuser.is_reference:
            blocks = _reference_blocks(product, level, geometry, W, write, span)
        elif mode == "stream":
            blocks = _stream_blocks(focuser, product, level, ranges, W, S, write, backend, span)
        else:
            blocks = _conv_blocks(focuser, product, ranges, W, S, write, span)
        for done, nbytes in blocks:
            peak = max(peak, nbytes)
            if progress is not None:
                progress(done - span[0], span[1] - span[0])
        writer.attrs.update(product_attrs(product, focuser, mode, level, engine, span))
    return {
        "product": product.name,
        "out": str(out_path),
        "shape": [L, M],
        "mode": mode,
        "level": level,
        "engine": engine,
        "block_columns": W,
        "block_rows": S,
        "columns": list(span),
        "seconds": time.perf_counter() - start,
        "block_bytes": int(peak),
    }


def copy_array(product: Any, name: str, writer: Any) -> None:
    """Copy array `name` of `product` into `writer`: its folder file by file (the chunks as
    stored, never decoded: `ProductWriter.copy`), or, where the array is not a folder of the
    product, chunk by chunk (same shape, chunks, dtype)."""
    folder = Path(product.path) / name
    if folder.is_dir() and ((folder / "zarr.json").is_file() or (folder / ".zarray").is_file()):
        writer.copy(name, folder)
        return
    src = product.array(name)
    shape, chunks = tuple(src.shape), tuple(src.chunks)
    writer.create(name, shape, dtype=src.dtype, chunks=chunks)
    for r0 in range(0, shape[0], chunks[0]):
        for c0 in range(0, shape[1], chunks[1]):
            rows, cols = slice(r0, r0 + chunks[0]), slice(c0, c0 + chunks[1])
            try:
                block = src[rows, cols]
            except Exception as exc:  # zarr raises assorted errors for corrupt chunks
                raise ProductError(
                    f"{product.path}: cannot read {name}[{rows}, {cols}]: {exc}"
                ) from None
            writer.write(name, block, rows, cols)


def product_attrs(
    product: Any,
    focuser: Focuser,
    mode: str,
    level: str,
    engine: str,
    span: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The input's attributes (a Maya4 product's Level-0 records included, read again) plus
    `focused_by`, and `geometry` (the one it was focused with) where the input has none or
    `--geometry` changed it; `az` added to `levels` when listed."""
    from sarssm import __version__

    attrs = product.full_attrs() if product.dropped_attrs else dict(product.attrs)
    listed = attrs.get("levels")
    if isinstance(listed, list) and "az" not in listed:
        attrs["levels"] = [*listed, "az"]
    if "geometry" not in attrs or product.overrides:
        try:
            attrs["geometry"] = product.geometry.to_attrs()
        except ProductError:  # a model without geometry conditioning needs none
            pass
    attrs["focused_by"] = {
        "model": focuser.name,
        "model_folder": str(focuser.folder) if focuser.folder else None,
        "model_sha256": "reference" if focuser.is_reference else focuser.sha256,
        "mode": mode,
        "level": level,
        "engine": engine,
        "sarssm_version": __version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if span is not None and tuple(span) != (0, product.shape[1]):
        attrs["focused_by"]["columns"] = list(span)  # az is zero outside columns a..b-1
    return attrs


# --- column blocks: each yields (columns done, bytes of the block's arrays) ------------------
def _conv_blocks(
    focuser: Focuser,
    product: Any,
    ranges: np.ndarray | None,
    block_columns: int,
    block_rows: int,
    write: Callable[[slice, slice, np.ndarray], None],
    span: tuple[int, int],
) -> Any:
    from sarssm.models.inputs import product_inputs

    net, scaler, engine = focuser.net, focuser.scaler, focuser.engine()
    config, geometry = net.config, None if ranges is None else product.geometry
    L = product.shape[0]
    target = np.float32(scaler.target_scale)
    for c0 in range(span[0], span[1], block_columns):
        c1 = min(span[1], c0 + block_columns)
        cols = slice(c0, c1)

        def read(a: int, b: int, cols: slice = cols) -> np.ndarray:
            x, _ = product_inputs(
                config, product, slice(a, b), cols, scaler.input_scale, geometry=geometry
            )
            return x

        def put(a: int, b: int, y: np.ndarray, cols: slice = cols) -> None:
            write(slice(a, b), cols, y * target)

        engine.peak_bytes = 0
        r = None if ranges is None else ranges[c0:c1]
        engine.run(read, put, L, r, block_rows, c1 - c0)
        yield c1, engine.peak_bytes


def _stream_blocks(
    focuser: Focuser,
    product: Any,
    level: str,
    ranges: np.ndarray | None,
    block_columns: int,
    block_rows: int,
    write: Callable[[slice, slice, np.ndarray], None],
    backend: str,
    span: tuple[int, int],
) -> Any:
    from sarssm.deploy.stream import StreamingFocuser

    k = focuser.net.config.range_neighbours
    L, M = product.shape
    S = min(block_rows, L)
    for c0 in range(span[0], span[1], block_columns):
        c1 = min(span[1], c0 + block_columns)
        lo, hi = max(0, c0 - k), min(M, c1 + k)  # neighbours of the block's edge columns
        r = None if ranges is None else ranges[lo:hi]
        stream = StreamingFocuser(focuser.stream_arrays(), hi - lo, r, backend=backend)
        line = np.empty(hi - lo, np.complex64)
        rows = _RowBuffer(write, slice(c0, c1), slice(c0 - lo, c1 - lo), S, L)
        for a in range(0, L, S):
            lines = product.read(level, rows=slice(a, min(L, a + S)), cols=slice(lo, hi))
            for x in lines:
                if stream.push(x, line) is not None:
                    rows.add(line)
        for y in stream.flush():
            rows.add(y)
        memory = stream.memory()
        yield c1, lines.nbytes + rows.block.nbytes + memory["state"] + memory["scratch"]


class _RowBuffer:
    """Focused lines of a stream, written `size` rows at a time into columns `cols` of the
    output (each line's entries `keep`)."""

    def __init__(
        self, write: Callable[[slice, slice, np.ndarray], None], cols: slice, keep: slice,
        size: int, total: int,
    ) -> None:  # fmt: skip
        self.write, self.cols, self.keep, self.total = write, cols, keep, total
        self.block = np.empty((size, cols.stop - cols.start), np.complex64)
        self.row = self.filled = 0

    def add(self, line: np.ndarray) -> None:
        self.block[self.filled] = line[self.keep]
        self.filled += 1
        if self.filled == len(self.block) or self.row + self.filled == self.total:
            rows = slice(self.row, self.row + self.filled)
            self.write(rows, self.cols, self.block[: self.filled])
            self.row, self.filled = self.row + self.filled, 0


def _reference_blocks(
    product: Any,
    level: str,
    geometry: Any,
    block_columns: int,
    write: Callable[[slice, slice, np.ndarray], None],
    span: tuple[int, int],
) -> Any:
    from sarssm.focus.rda import BLOCK_COLUMNS as GRID
    from sarssm.focus.rda import block_context, fft_length, focus_columns

    L, M = product.shape
    width = math.ceil(block_columns / GRID) * GRID if level == "rc" else block_columns
    first = span[0] // GRID * GRID if level == "rc" else span[0]  # blocks on the RCMC grid
    nfft = fft_length(geometry, L, np.arange(M))
    for c0 in range(first, span[1], width):
        c1 = min(M if level == "rc" else span[1], c0 + width)
        lo, hi = block_context(c0, c1, M) if level == "rc" else (c0, c1)
        x = product.read(level, cols=slice(lo, hi))
        az = focus_columns(x, geometry, c0, c1, M, level)["az"]
        a, b = max(c0, span[0]), min(c1, span[1])  # the requested columns of the block
        write(slice(0, L), slice(a, b), az[:, a - c0 : b - c0])
        # input, its spectrum and the shifted spectrum (complex64), rcmc and az
        yield b, x.nbytes + 8 * nfft * ((hi - lo) + (c1 - c0)) + 2 * az.nbytes
