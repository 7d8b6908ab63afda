"""The Lightning DataModule: products on disk -> split -> normalised patch batches.

`prepare_data` simulates the products of `data.simulate` when asked (`simulate=True`: `sarssm
train --simulate`, the demo) and the folder holds none yet (one process), and says so; a
missing or empty folder is otherwise an error naming `data.path`. `setup` lists, filters and
splits the products, and estimates the normalisation on the training split (every process
computes the same scales). It opens only the products a split keeps (a real Maya4 product's
attributes are tens of MB of JSON; products with Maya4 names are filtered and listed by name),
each once, with `data.geometry` overriding their geometry, and, when the model's reference is
`data` (`sarssm.models.config.reference_from_data`), takes the model's reference geometry from
the training products before any product is checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from sarssm.data.catalog import SplitConfig, split_products
from sarssm.data.patches import (
    GridPatchSampler,
    PatchDataset,
    PatchGeometry,
    ProductEntry,
    RandomPatchSampler,
    collate_patches,
)
from sarssm.errors import ConfigError, ProductError
from sarssm.models.config import ModelConfig


@dataclass
class SimulateConfig:
    """Products `sarssm train --simulate` simulates into `data.path` when it holds none."""

    preset: str = "demo"
    scenes: list[str] = field(default_factory=lambda: ["mixed", "clutter"])
    products: int = 24  # in all, shared evenly between the scenes
    seed: int = 0  # scene i uses seeds seed + 10000 i + (0, 1, ...)
    snr_db: float | None = 20.0

    def __post_init__(self) -> None:
        if not self.scenes:
            raise ConfigError("data.simulate.scenes must name at least one scene")
        if self.products < len(self.scenes):
            raise ConfigError(
                f"data.simulate.products={self.products} is fewer than the "
                f"{len(self.scenes)} scenes"
            )

    def per_scene(self) -> list[tuple[str, int, int]]:
        """(scene, number of products, first seed) for each scene."""
        n, extra = divmod(self.products, len(self.scenes))
        return [
            (scene, n + (i < extra), self.seed + 10_000 * i) for i, scene in enumerate(self.scenes)
        ]


@dataclass
class DataConfig:
    """Where the products are and how patches are cut from them (rows, columns)."""

    path: str = "data/demo"  # a product folder, or a folder of `*.zarr` products
    simulate: SimulateConfig | None = None  # with --simulate: made in `path` if it holds none
    target_level: Literal["az"] = "az"
    patch_size: tuple[int, int] = (256, 1)  # [azimuth length, range columns]
    stride: tuple[int, int] = (128, 1)  # evaluation grid step
    buffer: tuple[int, int] = (0, 0)  # rows / columns left out at each product edge
    loss_margin: int = 32  # samples at each patch end left out of loss and metrics
    samples_per_epoch: int = 2048  # random training patches per epoch
    batch_size: int = 32  # patches per batch (each patch gives `columns` sequences)
    num_workers: int = 0
    pin_memory: bool = False
    cache_mb: int = 256  # decoded products kept in memory per worker (LRU)
    norm_patches: int = 256  # training patches used to estimate the normalisation
    seed: int = 0  # patch draws: (seed, epoch)
    split: SplitConfig = field(default_factory=SplitConfig)
    geometry: dict[str, Any] | None = None  # geometry overrides, as `--geometry KEY=VALUE`

    def __post_init__(self) -> None:
        length, cols = self.patch_size
        if length < 1 or cols < 1:
            raise ConfigError(f"data.patch_size must be positive, got {list(self.patch_size)}")
        if min(self.stride) < 1:
            raise ConfigError(f"data.stride must be positive, got {list(self.stride)}")
        if min(self.buffer) < 0:
            raise ConfigError(f"data.buffer must be >= 0, got {list(self.buffer)}")
        if not 0 <= 2 * self.loss_margin < length:
            raise ConfigError(
                f"data.loss_margin {self.loss_margin} leaves nothing of patch length {length}"
            )
        for name in ("samples_per_epoch", "batch_size", "norm_patches", "cache_mb"):
            if getattr(self, name) < 1:
                raise ConfigError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {self.num_workers}")
        from sarssm.data.maya4 import geometry_overrides

        geometry_overrides(self.geometry, "data.geometry")  # bad keys and values fail on load

    @property
    def patch(self) -> PatchGeometry:
        return PatchGeometry(self.patch_size[0], self.patch_size[1], self.stride, self.buffer)


def product_entry(product, model: ModelConfig) -> ProductEntry:  # product: store.Product
    """Shape and geometry of an opened product, checked against what the model reads: its
    level, and (for a model conditioned on geometry) the slant range of every column."""
    from sarssm.models.inputs import product_geometry, slant_ranges

    rows, cols = product.shape
    if model.input_level not in product.levels:
        raise ProductError(
            f"{product.path}: the model reads level {model.input_level!r}, which the product "
            f"does not have (levels: {product.levels})"
        )
    geometry = None
    if model.geometry != "none":
        geometry = product_geometry(product)
        slant_ranges(model, geometry, np.arange(cols), str(product.path))
    return ProductEntry(product.path, rows, cols, geometry)


class SarDataModule(L.LightningDataModule):
    """Train / val / test patch loaders over a folder of products, for one model's inputs.

    Batches are dicts: x [B, L, C] complex64 (the model's input / input_scale), slant_range
    [B] float64 (metres; models conditioned on geometry), y [B, L] complex64 (target /
    target_scale), loc [B, 3] (product, row, column).
    """

    def __init__(
        self,
        config: DataConfig,
        model: ModelConfig,
        scaler=None,
        simulate: bool = False,
        echo=None,
        reference_from_data: bool = False,
    ) -> None:
        super().__init__()  # scaler: sarssm.data.normalize.ComplexScaler
        self.config = config
        self.model = model.resolved()  # with reference_from_data: replaced in `setup`
        self.reference_from_data = bool(reference_from_data)
        self.scaler = scaler
        self.simulate = bool(simulate)
        self.echo = echo or (lambda text: print(text, flush=True))
        self.splits: dict[str, list[ProductEntry]] = {}

    def prepare_data(self) -> None:
        """Simulate `data.simulate`'s products into `data.path` when asked and it holds none;
        otherwise refuse a missing or empty folder (a mistyped path is not filled)."""
        path = Path(self.config.path)
        if _has_products(path):
            return
        sim = self.config.simulate
        if not self.simulate:
            missing = "does not exist" if not path.exists() else "holds no products (*.zarr)"
            if path.exists() and not path.is_dir():
                missing = "is a file, not a folder of products"
            hint = (
                "; pass --simulate to simulate data.simulate's products into it"
                if sim is not None
                else ""
            )
            raise ConfigError(f"data.path {path} {missing}{hint}")
        if sim is None:
            raise ConfigError(
                f"data.path {path} holds no products and the config has no data.simulate "
                "section saying what to simulate"
            )
        from sarssm.io import prepare_output_dir
        from sarssm.sim.simulate import simulate

        prepare_output_dir(path, "data.path")
        scenes = ", ".join(f"{count} {scene}" for scene, count, _ in sim.per_scene())
        self.echo(
            f"data: {path} holds no products; simulating {sim.products} {sim.preset} products "
            f"({scenes}; seed {sim.seed}, SNR {sim.snr_db} dB) into it, as --simulate asks"
        )
        for scene, count, seed in sim.per_scene():
            simulate(path, sim.preset, scene, count, seed, snr_db=sim.snr_db)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        from sarssm.data.catalog import MAYA4_NAME
        from sarssm.data.store import list_products, open_product

        path = Path(self.config.path)
        if not path.exists():
            raise ConfigError(f"data.path {path} does not exist")
        overrides = self.config.geometry
        paths = list_products(path)
        # attributes are needed only where the name says nothing (simulated products)
        products = {p: open_product(p, overrides) for p in paths if not MAYA4_NAME.search(p.name)}
        attrs = {p: product.attrs for p, product in products.items()}
        parts = split_products(
            paths, self.config.split, attrs, warn=lambda text: self.echo(f"warning: {text}")
        )
        for p in {p for split in parts.values() for p in split} - set(products):
            products[p] = open_product(p, overrides)
        if self.reference_from_data and parts["train"]:
            self.model = self._data_reference([products[p] for p in parts["train"]])
        self.splits = {
            name: [product_entry(products[p], self.model) for p in paths]
            for name, paths in parts.items()
        }
        if not self.splits["train"]:
            raise ConfigError(f"data: no training products under {self.config.path}")
        if self.scaler is None:
            self.scaler = self.fit_scaler()

    def _data_reference(self, products: list[Any]) -> ModelConfig:
        """The model config with its reference geometry taken from the training products."""
        from sarssm.models.conditioning import ReferenceGeometry
        from sarssm.models.inputs import product_geometry

        ref = ReferenceGeometry.from_geometries([product_geometry(p) for p in products])
        self.echo(
            f"model.reference from the {len(products)} training products: lambda "
            f"{ref.wavelength_m:.6g} m, V {ref.velocity_mps:.2f} m/s, PRF {ref.prf_hz:.4f} Hz, "
            f"slant range {ref.range_min_m / 1e3:.3f}-{ref.range_max_m / 1e3:.3f} km"
        )
        return self.model.replace(reference=ref).resolved()

    def state_dict(self) -> dict[str, float]:
        """The normalisation, saved in Lightning checkpoints (a checkpoint is self-contained)."""
        if self.scaler is None:
            return {}
        return {"input_scale": self.scaler.input_scale, "target_scale": self.scaler.target_scale}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        if state_dict and self.scaler is None:
            from sarssm.data.normalize import ComplexScaler

            self.scaler = ComplexScaler(**state_dict)

    @property
    def patch(self) -> PatchGeometry:
        """The data config's patches, with at least the model's range neighbours left out at
        each product edge (every training column sees all its neighbours)."""
        p = self.config.patch
        k = self.model.range_neighbours
        return PatchGeometry(p.length, p.columns, p.stride, (p.buffer[0], max(p.buffer[1], k)))

    def fit_scaler(self):  # -> ComplexScaler
        """RMS scales of input and target over `norm_patches` random training patches."""
        from sarssm.data.normalize import ComplexScaler

        ds = self._dataset("train", scaled=False)
        sampler = RandomPatchSampler(
            ds.entries, self.patch, self.config.norm_patches, self.config.seed + 7919
        )
        return ComplexScaler.fit(ds.read(loc) for loc in sampler)

    def _dataset(self, split: str, scaled: bool = True) -> PatchDataset:
        cfg = self.config
        entries = self.splits.get(split, [])
        scales = (self.scaler.input_scale, self.scaler.target_scale) if scaled else (1.0, 1.0)
        return PatchDataset(
            entries, self.patch, self.model, cfg.target_level, *scales, cfg.cache_mb << 20
        )

    def _loader(self, split: str, sampler) -> DataLoader:
        cfg = self.config
        return DataLoader(
            self._dataset(split),
            batch_size=cfg.batch_size,
            sampler=sampler,
            collate_fn=collate_patches,
            num_workers=cfg.num_workers,
            pin_memory=cfg.pin_memory,
            persistent_workers=cfg.num_workers > 0,
        )

    def shard(self) -> tuple[int, int]:
        """(rank, world size) of this process in the Trainer's run; (0, 1) outside one. The
        samplers shard the patches themselves (the Trainer's `use_distributed_sampler` is off),
        so W ranks with batch B train on the batches of one process with batch W B."""
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def train_dataloader(self) -> DataLoader:
        cfg = self.config
        entries = self.splits["train"]
        sampler = RandomPatchSampler(
            entries, self.patch, cfg.samples_per_epoch, cfg.seed, *self.shard()
        )
        return self._loader("train", sampler)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def _eval_loader(self, split: str) -> DataLoader:
        sampler = GridPatchSampler(self.splits.get(split, []), self.patch, *self.shard())
        if len(sampler) == 0:
            raise ConfigError(f"data: the {split} split has no product large enough for a patch")
        return self._loader(split, sampler)


def _has_products(path: Path) -> bool:
    from sarssm.data.store import is_product

    return is_product(path) or (path.is_dir() and any(path.rglob("*.zarr")))
