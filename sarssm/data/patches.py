"""Patches of products: where they may start, how they are drawn, how they are read.

A patch is an azimuth segment of `length` rows over `columns` adjacent range columns. Each
column of a patch is one model sequence: the model's input (its level, with its range
neighbours, and the column's slant range; `sarssm.models.inputs` assembles it) and the target
(level `az`). Training patches are drawn at random, uniformly
over every valid start position of every training product, with a generator seeded by
(seed, epoch): a different draw each epoch, the same draw for the same seed and epoch (so a
resumed run sees what an uninterrupted one would). Evaluation patches tile the products on a
fixed grid.

Symbols: P products, R rows (azimuth), C columns (range), L patch length, W patch columns.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from sarssm.errors import ConfigError
from sarssm.models.config import ModelConfig
from sarssm.models.inputs import model_inputs
from sarssm.physics.geometry import Geometry


@dataclass(frozen=True)
class PatchGeometry:
    """Patch size, evaluation stride and the edge buffer, in (rows, columns)."""

    length: int
    columns: int
    stride: tuple[int, int]
    buffer: tuple[int, int]


@dataclass(frozen=True)
class ProductEntry:
    """One product of a split: its path, shape and geometry (None if it records none)."""

    path: Path
    rows: int
    cols: int
    geometry: Geometry | None = None
    labelled: bool = True  # False: the product has no target level (label-free distillation)

    def starts(self, patch: PatchGeometry) -> tuple[np.ndarray, np.ndarray]:
        """All valid (row, column) start positions; empty when the product is too small."""
        br, bc = patch.buffer
        rows = np.arange(br, self.rows - br - patch.length + 1)
        cols = np.arange(bc, self.cols - bc - patch.columns + 1)
        return rows, cols


class ProductCache:
    """Bounded LRU of decoded product arrays, so small products are read from disk once.

    Products larger than the whole budget are read patch by patch (zarr reads only the chunks a
    patch touches). One cache per worker process.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._products: dict[str, object] = {}
        self._lock = threading.Lock()

    def product(self, path: Path):  # -> sarssm.data.store.Product
        from sarssm.data.store import open_product

        key = str(path)
        if key not in self._products:
            self._products[key] = open_product(path)
        return self._products[key]

    def read(self, path: Path, level: str, rows: slice, cols: slice) -> np.ndarray:
        product = self.product(path)
        nbytes = int(np.prod(product.shape)) * 8
        if nbytes > self.max_bytes:
            return product.read(level, rows=rows, cols=cols)
        key = (str(path), level)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][rows, cols]
        array = product.read(level)
        with self._lock:
            self._items[key] = array
            self._bytes += array.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
        return array[rows, cols]

    def __len__(self) -> int:
        return len(self._items)


class PatchDataset(Dataset):
    """Reads the patch at a location (product index, start row, start column).

    Returns x [W, L, C] complex64 (the model's normalised input), slant_range [W] float64,
    y [W, L] complex64 (normalised target; zeros for a product without one), labelled [W] bool
    and loc [W, 3]; `collate_patches` stacks the W
    columns of every patch into the batch.
    """

    def __init__(
        self,
        entries: list[ProductEntry],
        patch: PatchGeometry,
        model: ModelConfig,
        target_level: str,
        input_scale: float = 1.0,
        target_scale: float = 1.0,
        cache_bytes: int = 256 << 20,
    ) -> None:
        self.entries = entries
        self.patch = patch
        self.model = model.resolved()
        self.target_level = target_level
        self.input_scale = float(input_scale)
        self.target_scale = float(target_scale)
        self.cache = ProductCache(cache_bytes)

    def read(self, loc: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Raw (un-normalised) input column level and target of the patch at `loc`, [L, W]."""
        p, r, c = loc
        entry = self.entries[p]
        rows = slice(r, r + self.patch.length)
        cols = slice(c, c + self.patch.columns)
        x = self.cache.read(entry.path, self.model.input_level, rows, cols)
        y = self.cache.read(entry.path, self.target_level, rows, cols)
        return x, y

    def __getitem__(self, loc: tuple[int, int, int]) -> dict[str, torch.Tensor]:
        p, r, c = (int(v) for v in loc)
        entry = self.entries[p]
        W, L = self.patch.columns, self.patch.length
        rows, cols = slice(r, r + L), slice(c, c + W)

        def read(level: str, rr: slice, cc: slice) -> np.ndarray:
            return self.cache.read(entry.path, level, rr, cc)

        x, r0 = model_inputs(
            self.model, read, (entry.rows, entry.cols), entry.geometry, rows, cols,
            self.input_scale, str(entry.path),
        )  # fmt: skip
        if entry.labelled:
            y = self.cache.read(entry.path, self.target_level, rows, cols).T / self.target_scale
        else:
            y = np.zeros((W, L))
        item = {
            "x": torch.from_numpy(x),
            "y": torch.from_numpy(y.astype(np.complex64)),
            "labelled": torch.full((W,), entry.labelled),
            "loc": torch.tensor([p, r, c], dtype=torch.long).expand(W, 3).clone(),
        }
        if r0 is not None:
            item["slant_range"] = torch.from_numpy(r0)
        return item

    def __len__(self) -> int:  # map-style access is by location; samplers define the order
        raise TypeError("PatchDataset is indexed by location: use a patch sampler")


def collate_patches(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Concatenate the columns of every patch along the batch axis: x [B, L, C], y [B, L],
    slant_range [B], loc [B, 3]."""
    return {key: torch.cat([item[key] for item in items], dim=0) for key in items[0]}


def shard(n: int, rank: int, world: int) -> np.ndarray:
    """Indices of rank `rank` of `world` into n items: every world-th from `rank`, the list
    first padded from its start to a multiple of `world` (as torch's DistributedSampler pads),
    so that every rank has as many. With world 1: all n in order.

    Interleaving makes the ranks' batches together those of one process: with batch B on each
    of W ranks, step k covers items k W B .. (k + 1) W B - 1, as batch W B does in one process.
    """
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"shard: rank {rank} of world size {world}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    total = -(-n // world) * world
    return (np.arange(total) % n)[rank::world]


class RandomPatchSampler(Sampler):
    """`num_samples` locations drawn uniformly over all valid starts, reseeded every epoch;
    rank `rank` of `world` (DDP) takes its share of each draw (`shard`)."""

    def __init__(
        self,
        entries: list[ProductEntry],
        patch: PatchGeometry,
        num_samples: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.starts = [e.starts(patch) for e in entries]
        self.counts = np.array([len(r) * len(c) for r, c in self.starts], dtype=np.int64)
        if self.counts.sum() == 0:
            raise ConfigError(
                f"data: no product is large enough for patch_size [{patch.length}, "
                f"{patch.columns}] with buffer {list(patch.buffer)}"
            )
        if num_samples < 1:
            raise ConfigError(f"data.samples_per_epoch must be >= 1, got {num_samples}")
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.epoch = 0
        self.share = shard(self.num_samples, rank, world)

    def set_epoch(self, epoch: int) -> None:
        """Called by the Trainer before each epoch: the draw depends on (seed, epoch) only."""
        self.epoch = int(epoch)

    def locations(self, epoch: int) -> np.ndarray:
        """The [num_samples, 3] (product, row, column) draw of `epoch`."""
        rng = np.random.default_rng([self.seed, epoch])
        flat = rng.integers(0, self.counts.sum(), size=self.num_samples)  # uniform over starts
        bounds = np.cumsum(self.counts)
        prod = np.searchsorted(bounds, flat, side="right")
        offset = flat - (bounds[prod] - self.counts[prod])
        out = np.empty((self.num_samples, 3), dtype=np.int64)
        for i, (p, k) in enumerate(zip(prod, offset, strict=True)):
            rows, cols = self.starts[p]
            out[i] = (p, rows[k // len(cols)], cols[k % len(cols)])
        return out

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        for p, r, c in self.locations(self.epoch)[self.share]:
            yield int(p), int(r), int(c)

    def __len__(self) -> int:
        return len(self.share)


class GridPatchSampler(Sampler):
    """Every product tiled on the stride grid (the last patch flush with the edge); rank
    `rank` of `world` (DDP) takes its share (`shard`)."""

    def __init__(
        self, entries: list[ProductEntry], patch: PatchGeometry, rank: int = 0, world: int = 1
    ) -> None:
        locs = []
        for p, entry in enumerate(entries):
            rows, cols = entry.starts(patch)
            if len(rows) == 0 or len(cols) == 0:
                continue
            locs += [
                (p, r, c)
                for r in _grid(rows, patch.stride[0])
                for c in _grid(cols, patch.stride[1])
            ]
        self.locs = [locs[i] for i in shard(len(locs), rank, world)]

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter(self.locs)

    def __len__(self) -> int:
        return len(self.locs)


def _grid(starts: np.ndarray, stride: int) -> list[int]:
    grid = list(starts[::stride])
    if grid[-1] != starts[-1]:
        grid.append(starts[-1])
    return [int(v) for v in grid]
