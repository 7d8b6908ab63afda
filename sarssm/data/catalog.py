"""Which products a run uses: metadata from Maya4 names or sarssm attributes, filters, splits.

Maya4 groups are named `s1a-s{swath}-raw-s-{pol}-{start}-{stop}-{orbit}-{datatake}.zarr` (start
and stop as `YYYYMMDDtHHMMSS`); the earlier configs filtered archives by year and polarisation,
which works here from the name alone, as does the stripmap swath (s1-s6: each has its own PRF and
slant-range interval, so a model is trained per swath). Simulated products carry `polarization`
and `year` in their attributes when they have them; a product without the field a filter asks
for is left out. Splits are by product, never by patch, so no scene leaks between train,
validation and test.

A split may be given as product lists, inline (`data.split.train`) or as list files
(`data.split.train_file`: one group name per line, with or without `.zarr`, as the published
Maya4 split's `train_files.txt`). A listed product that is not in the folder is normal for a
partial download: it is left out with a warning that counts them, or refused with
`data.split.strict: true`. A listed product the filters leave out is left out, and counted.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.errors import ConfigError

log = logging.getLogger(__name__)
Warn = Callable[[str], None]  # where a warning goes (a line of text)
SPLITS = ("train", "val", "test")
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
    swaths: list[int] | None = None  # stripmap beams 1-6 (`s1`-`s6` in a Maya4 name)

    def __post_init__(self) -> None:
        if self.polarizations is not None:
            bad = [p for p in self.polarizations if p.lower() not in ("hh", "hv", "vh", "vv")]
            if bad:
                raise ConfigError(
                    f"data.split.filters.polarizations: unknown polarisation(s) {bad}"
                )
            self.polarizations = [p.lower() for p in self.polarizations]
        if self.swaths is not None:
            bad = [s for s in self.swaths if s not in range(1, 7)]
            if bad:
                raise ConfigError(f"data.split.filters.swaths: not stripmap beams 1-6: {bad}")

    def accepts(self, meta: dict[str, Any]) -> bool:
        if self.years is not None and meta.get("year") not in self.years:
            return False
        if self.swaths is not None:
            swath = meta.get("swath")
            if swath is None or int(swath) not in self.swaths:
                return False
        return self.polarizations is None or meta.get("polarization") in self.polarizations


@dataclass
class SplitConfig:
    """Product-level split: explicit name lists, or seeded fractions of what the filters keep."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    train: list[str] | None = None  # explicit product names (folder names, .zarr optional)
    val: list[str] | None = None
    test: list[str] | None = None
    train_file: str | None = None  # or a list file: one product name per line
    val_file: str | None = None
    test_file: str | None = None
    strict: bool = False  # refuse listed products missing from the folder (else warn)
    filters: Filters = field(default_factory=Filters)

    def __post_init__(self) -> None:
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"data.split.{name} must be in [0, 1), got {value}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError("data.split: val_fraction + test_fraction must leave training data")
        for split in SPLITS:
            if getattr(self, split) is not None and getattr(self, f"{split}_file") is not None:
                raise ConfigError(
                    f"data.split: {split} and {split}_file are both given; give one of them"
                )

    def lists(self) -> dict[str, tuple[str, list[str]]]:
        """{split: (where the list comes from, names)} of the splits given as lists or files
        (files are read now); empty when the split is by fractions."""
        out = {}
        for split in SPLITS:
            names, file = getattr(self, split), getattr(self, f"{split}_file")
            if file is not None:
                out[split] = (f"data.split.{split}_file {file}", read_product_list(file))
            elif names is not None:
                out[split] = (f"data.split.{split}", list(names))
        return out


def parse_group_name(name: str | Path) -> dict[str, Any] | None:
    """Mission, swath (int), polarisation, start/stop (UTC datetimes), orbit (int), data-take
    (hex str) and year of a Maya4 group name (`MAYA4_NAME`); None when the name does not
    follow the pattern."""
    meta = product_metadata(Path(name))
    if "mission" not in meta:
        return None
    out = dict(meta)
    out["mission"] = meta["mission"].lower()
    out["swath"] = int(meta["swath"])
    out["orbit"] = int(meta["orbit"])
    out["datatake"] = meta["datatake"].lower()
    for key in ("start", "stop"):
        out[key] = datetime.strptime(meta[key].lower(), "%Y%m%dt%H%M%S")
    return out


def product_key(name: str | Path) -> str:
    """A product's name as lists match it: the folder name without `.zarr`."""
    name = Path(str(name).strip()).name
    return name[:-5] if name.lower().endswith(".zarr") else name


def read_product_list(path: str | Path) -> list[str]:
    """Product names of a list file: one per line (a path keeps only its last part), blank
    lines and `#` comments skipped, as the published Maya4 `train_files.txt`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such product list file")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the product list ({exc})") from None
    names = [Path(line.split("#", 1)[0].strip()).name for line in lines]
    names = [n for n in names if n]
    if not names:
        raise ConfigError(f"{path}: the product list names no products")
    return names


def select_listed(
    paths: list[Path],
    names: list[str],
    where: str,
    strict: bool = False,
    warn: Warn | None = None,
    kept: set[Path] | None = None,
) -> list[Path]:
    """The products of `paths` that `names` lists, in list order.

    A listed name with no product in `paths` is a partial download: with `strict` a
    ConfigError, else left out with one warning that counts them. A listed product outside
    `kept` (what the filters keep; default all) is left out and counted in a note.
    """
    warn = warn or log.warning
    by_key = {product_key(p.name): p for p in paths}
    found, missing, filtered = [], [], 0
    for name in dict.fromkeys(product_key(n) for n in names):
        path = by_key.get(name)
        if path is None:
            missing.append(name)
        elif kept is not None and path not in kept:
            filtered += 1
        else:
            found.append(path)
    if missing:
        example = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        text = (
            f"{where}: {len(missing)} of {len(names)} listed products are not among the "
            f"{len(paths)} found ({example})"
        )
        if strict:
            raise ConfigError(f"{text}; strict: every listed product must be there")
        warn(f"{text}; left out (a partial download?); strict: true refuses this")
    if filtered:
        warn(f"{where}: {filtered} listed products left out by the filters")
    return found


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
    paths: list[Path],
    config: SplitConfig,
    attrs: Mapping[Path, dict[str, Any]] | None = None,
    warn: Warn | None = None,
) -> dict[str, list[Path]]:
    """Assign each product to exactly one of train / val / test (explicit lists win; a listed
    product missing from `paths` is handled as `select_listed` says). `attrs` (per path) are
    needed only for products whose name is not a Maya4 name."""
    attrs = attrs or {}
    kept = [p for p in paths if config.filters.accepts(product_metadata(p, attrs.get(p)))]
    if not kept:
        raise ConfigError(
            f"data: the filters {config.filters} keep none of the {len(paths)} products"
        )
    explicit = config.lists()
    if explicit:
        seen = Counter(k for _, names in explicit.values() for k in {product_key(n) for n in names})
        dupes = sorted(k for k, count in seen.items() if count > 1)
        if dupes:
            raise ConfigError(f"data.split: products in more than one split: {dupes[:5]}")
        keep = set(kept)
        parts: dict[str, list[Path]] = {split: [] for split in SPLITS}
        for split, (where, names) in explicit.items():
            parts[split] = select_listed(paths, names, where, config.strict, warn, keep)
        return parts
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
