"""Distillation data: the labelled products of `data`, plus (label-free distillation) products
that hold only the model's input level, whose patches are taught by the teacher alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sarssm.data.datamodule import DataConfig, SarDataModule, product_entry
from sarssm.errors import ConfigError
from sarssm.models.config import ModelConfig


class DistillDataModule(SarDataModule):
    """`SarDataModule` over the teacher's inputs, with unlabelled products added to `train`."""

    def __init__(
        self, config: DataConfig, model: ModelConfig, scaler, unlabeled: str | None = None
    ) -> None:
        super().__init__(config, model, scaler)
        self.unlabeled = unlabeled

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        super().setup(stage)
        if not self.unlabeled:
            return
        from sarssm.data.store import list_products, open_product

        folder = Path(self.unlabeled)
        paths = list_products(folder) if folder.exists() else []
        if not paths:
            raise ConfigError(f"unlabeled_data: no products under {folder}")
        labelled = {e.path.resolve() for split in self.splits.values() for e in split}
        overlap = [p for p in paths if Path(p).resolve() in labelled]
        if overlap:
            raise ConfigError(
                f"unlabeled_data: {len(overlap)} product(s) also in the labelled data, e.g. "
                f"{overlap[0]}; keep the two folders apart"
            )
        extra = [
            dataclasses.replace(
                product_entry(open_product(p, self.config.geometry), self.model), labelled=False
            )
            for p in paths
        ]
        self.splits["train"] = self.splits["train"] + extra
