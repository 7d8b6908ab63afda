"""Which products a run uses: metadata from Maya4 names or sarssm attributes, filters, splits.

Maya4 groups are named `s1a-s{swath}-raw-s-{pol}-{start}-{stop}-{orbit}-{datatake}.zarr` (start
and stop as `YYYYMMDDtHHMMSS`); the earlier configs filtered archives by year and polarisation,
which works here from the name alone. Simulated products carry `polarization` and `year` in
their attributes when they have them; a product without the field a filter asks for is left out.
Splits are by product, never by patch, so no scene leaks between train, validation and test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.errors import ConfigError

MAYA4_NAME = re.compile(
    r"(?P<mission>s1[abcd])-s(?P<swath>\d)-raw-s-(?P<polarization>hh|hv|vh|vv)-"
    r"(?P<start>\d{8}t\d{6})-(?P<stop>\d{8}t\d{6})-(?P<orbit>\d{6})-(?P<datatake>[0-9a-f]{6})",
    re.IGNORECASE,
)


@dataclass
class Filters:
    """Keep only products whose metadata match (None: no filter on that field)."""

    years: list[int] | None = None
    polarizations: list[str] | None = None

    def __post_init__(self) -> None:
        if self.polarizations is not None:
            bad = [p for p in self.polarizations if p.lower() not in ("hh", "hv", "vh", "vv")]
            if bad:
                raise ConfigError(f"data.filters.polarizations: unknown polarisation(s) {bad}")
            self.polarizations = [p.lower() for p in self.polarizations]

    def accepts(self, meta: dict[str, Any]) -> bool:
        if self.years is not None and meta.get("year") not in self.years:
            return False
        return self.polarizations is None or meta.get("polarization") in self.polarizations


@dataclass
class SplitConfig:
    """Product-level split: explicit name lists, or seeded fractions of what the filters keep."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    train: list[str] | None = None  # explicit product names (folder names, with .zarr)
    val: list[str] | None = None
    test: list[str] | None = None
    filters: Filters = field(default_factory=Filters)

    def __post_init__(self) -> None:
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"data.split.{name} must be in [0, 1), got {value}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError("data.split: val_fraction + test_fraction must leave training data")


def product_metadata(path: Path, attrs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mission, swath, polarisation, year, ... from a Maya4 name, else from sarssm attributes."""
    match = MAYA4_NAME.search(Path(path).name)
    if match:
        meta: dict[str, Any] = match.groupdict()
        meta["polarization"] = meta["polarization"].lower()
        meta["year"] = int(meta["start"][:4])
        return meta
    attrs = attrs or {}
    meta = {k: attrs[k] for k in ("polarization", "year", "preset", "scene") if k in attrs}
    if "polarization" in meta:
        meta["polarization"] = str(meta["polarization"]).lower()
    return meta


def split_products(
    paths: list[Path], config: SplitConfig, attrs: dict[Path, dict[str, Any]] | None = None
) -> dict[str, list[Path]]:
    """Assign each product to exactly one of train / val / test (explicit lists win)."""
    attrs = attrs or {}
    kept = [p for p in paths if config.filters.accepts(product_metadata(p, attrs.get(p)))]
    if not kept:
        raise ConfigError(
            f"data: the filters {config.filters} keep none of the {len(paths)} products"
        )
    explicit = {"train": config.train, "val": config.val, "test": config.test}
    if any(v is not None for v in explicit.values()):
        by_name = {p.name: p for p in kept}
        out: dict[str, list[Path]] = {}
        for split, names in explicit.items():
            missing = [n for n in names or [] if n not in by_name]
            if missing:
                raise ConfigError(
                    f"data.split.{split}: products not found (or filtered): {missing}"
                )
            out[split] = [by_name[n] for n in names or []]
        seen = [n for names in explicit.values() for n in names or []]
        dupes = sorted({n for n in seen if seen.count(n) > 1})
        if dupes:
            raise ConfigError(f"data.split: products in more than one split: {dupes}")
        return out
    order = np.random.default_rng(config.seed).permutation(len(kept))
    ordered = sorted(kept)
    shuffled = [ordered[i] for i in order]
    n = len(shuffled)
    n_test = round(config.test_fraction * n)
    n_val = round(config.val_fraction * n)
    if n - n_test - n_val < 1:
        raise ConfigError(f"data.split: {n} product(s) leave none for training")
    if (config.val_fraction > 0 and n_val == 0) or (config.test_fraction > 0 and n_test == 0):
        raise ConfigError(
            f"data.split: {n} product(s) are too few for val_fraction={config.val_fraction} "
            f"and test_fraction={config.test_fraction} (each split needs one product)"
        )
    return {
        "test": sorted(shuffled[:n_test]),
        "val": sorted(shuffled[n_test : n_test + n_val]),
        "train": sorted(shuffled[n_test + n_val :]),
    }
