"""Geometry of a real Maya4 product, read from its own Sentinel-1 Level-0 packet metadata.

A Maya4 product (`s1a-s{swath}-raw-s-{pol}-{start}-{stop}-{orbit}-{datatake}.zarr`, arrays `raw`,
`rc`, `rcmc`, `az`) carries no sarssm `geometry` attribute. The sarpyx tools that made it store
one decoded packet header per azimuth line as the group attribute `metadata`, and the orbit
ephemeris decoded from the sub-commutated ancillary data as `ephemeris`, in one of two layouts
(github.com/ESA-PhiLab/sarpyx, `utils/zarr_utils.py`):

- `dask_slice_saver`, the writer of the four-array products: `{"data": [record, ...]}` (the
  Maya4 loader, github.com/sirbastiano/Maya4 `maya4/dataloader.py`, reads
  `attrs["metadata"]["data"]`); `concatenate_slices` adds `data_slice_i` keys;
- `save_array_to_zarr`: a list of records plus `metadata_columns` (names) and `metadata_dtypes`
  (pandas dtype strings), and the same three for `ephemeris`.

Both are read, and column-oriented dicts too. Column names are s1isp's (`pri`, `swst`, `rank`,
`range_decimation`, `tx_ramp_rate`, ...; sarpyx decodes with s1isp); sentinel1decoder's decoded
("PRI", "Rank", "Range Decimation") and raw ("RGDEC", "TXPRR") names are accepted as well.
sarpyx converts PRI, SWST, SWL and TXPL to seconds, TXPRR to Hz/s and the fine time to seconds
by default (`processor/core/decode.py`, `_apply_parameter_transformations`); raw codes are
recognised by magnitude (`sarssm.physics.sentinel1`). The maths, constants and sources are in
`sarssm.physics.sentinel1`; the table and what was checked are in docs/real-data.md.

Each parameter is the first echo record's value, as the sarpyx focuser takes it (`.iloc[0]`);
a field that changes along the product is listed in `Level0Parameters.varying`. V is the
effective velocity at the mid-product time (state vectors linearly interpolated in time) and
the mid-swath slant range: one V for the product, as `Geometry` has one.

This module is the API (`maya4_geometry`, `level0_parameters`, `geometry_overrides`,
`is_maya4`, `light_attrs`); the records and their field-by-field decoding are in
`sarssm.data.level0`, the group name in `sarssm.data.catalog`. `sarssm.data.store.Product`
calls it once per product, at open, and keeps none of the records (`HEAVY_ATTRS`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sarssm.data.catalog import parse_group_name
from sarssm.data.level0 import Decoder, Level0Parameters
from sarssm.errors import ConfigError, ProductError
from sarssm.physics.geometry import C_LIGHT, POSITIVE_FIELDS, Geometry
from sarssm.physics.sentinel1 import ANTENNA_LENGTH_M, CARRIER_HZ

__all__ = [
    "HEAVY_ATTRS",
    "Level0Parameters",
    "geometry_overrides",
    "is_maya4",
    "level0_parameters",
    "maya4_geometry",
    "parse_group_name",
]

# Attributes of a Maya4 product that hold its Level-0 records: tens of MB of JSON (about 2 kB
# per azimuth line). An opened product decodes its geometry from them once and keeps none of them.
HEAVY_ATTRS = (
    "metadata",
    "ephemeris",
    "metadata_columns",
    "metadata_dtypes",
    "ephemeris_columns",
    "ephemeris_dtypes",
)
# Geometry field -> the Level-0 fields it is made from (what an error names)
SOURCES: dict[str, str] = {
    "prf_hz": "metadata 'pri'",
    "near_range_m": "metadata 'swst', 'rank' and 'pri'",
    "range_spacing_m": "metadata 'range_decimation'",
    "range_bandwidth_hz": "metadata 'tx_ramp_rate' and 'tx_pulse_length'",
    "velocity_mps": "ephemeris 'x', 'y', 'z', 'vx', 'vy', 'vz'",
    "n_azimuth": "the array shape or the number of metadata records",
    "n_range": "the array shape or metadata 'number_of_quads'",
}


# --- overrides ------------------------------------------------------------------------------
def _field_kinds() -> dict[str, type]:
    return {f.name: f.type for f in dataclasses.fields(Geometry)}


def geometry_overrides(
    items: Sequence[str] | Mapping[str, Any] | None, where: str = "--geometry"
) -> dict[str, Any]:
    """`--geometry KEY=VALUE` items (or a dict) as {field: value}, checked against `Geometry`.

    Floats must be finite (and positive where `Geometry` requires it), n_azimuth / n_range
    positive integers, antenna_weighting true/false. Raises ConfigError naming `where` (the
    flag, or a config key such as `data.geometry`) and the item.
    """
    if not items:
        return {}
    pairs: list[tuple[str, Any, str]] = []
    if isinstance(items, Mapping):
        pairs = [(str(k), v, f"{k}={v}") for k, v in items.items()]
    else:
        for item in items:
            key, sep, value = str(item).partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"{where} {item!r}: expected KEY=VALUE, e.g. prf_hz=1717")
            pairs.append((key.strip(), value.strip(), str(item)))
    kinds = _field_kinds()
    out: dict[str, Any] = {}
    for key, value, item in pairs:
        if key not in kinds:
            raise ConfigError(
                f"{where} {item!r}: unknown key {key!r}; choose one of {sorted(kinds)}"
            )
        if key in out:
            raise ConfigError(f"{where} {item!r}: {key} is given twice")
        out[key] = _override_value(key, value, kinds[key], f"{where} {item!r}")
    return out


def _override_value(key: str, value: Any, kind: Any, item: str) -> Any:
    """One override value, typed as its `Geometry` field (`item` names it in errors)."""
    kind = str(kind)
    if kind == "bool":
        text = str(value).strip().lower()
        if isinstance(value, bool):
            return value
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{item}: {key} must be true or false, got {value!r}")
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(f"{item}: {key} must be a finite number, got {value!r}")
    if kind == "int":
        if number != int(number) or number < 1:
            raise ConfigError(f"{item}: {key} must be a positive integer")
        return int(number)
    if key not in POSITIVE_FIELDS:  # window_alpha, the swath bounds: Geometry checks them
        return number
    if number <= 0:
        raise ConfigError(f"{item}: {key} must be positive, got {value!r}")
    return number


def is_maya4(attrs: Mapping[str, Any]) -> bool:
    """Whether attributes carry sarpyx packet records (`metadata`) rather than a sarssm
    `geometry` (a cheap check: nothing is decoded)."""
    if isinstance(attrs.get("geometry"), Mapping):
        return False
    meta = attrs.get("metadata")
    if isinstance(meta, Mapping) and "data" in meta:
        meta = meta["data"]
    if isinstance(meta, list):
        return not meta or isinstance(meta[0], Mapping)
    return isinstance(meta, Mapping) and bool(meta)


def level0_parameters(
    attrs: Mapping[str, Any], name: str | Path | None = None, *, decoder: Decoder | None = None
) -> Level0Parameters:
    """Everything decodable from a product's packets and ephemeris, without building a
    `Geometry` (missing fields stay None): for `inspect`. `decoder`: the records already
    parsed (a fresh `Decoder` of `attrs`, or its `fork()`)."""
    dec = decoder or Decoder(attrs, name)
    dec.pri_s()
    near = dec.near_range()
    spacing = dec.range_spacing()
    dec.bandwidth()
    dec.identity()
    dec.mid_time()
    if near is not None and spacing is not None:
        n = dec.params.samples_per_line or 1
        dec.velocity(near + 0.5 * (n - 1) * spacing)
    return dec.params


def maya4_geometry(
    attrs: Mapping[str, Any],
    name: str | Path | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    shape: tuple[int, int] | None = None,
    decoder: Decoder | None = None,
) -> Geometry:
    """The `Geometry` of a real Maya4 product, from its packet metadata and ephemeris.

    Args:
        attrs: the group attributes (`metadata`, `ephemeris`, optionally their columns/dtypes).
        name: the product's folder name or path: errors name it; its swath and polarisation are
            checked against the packets' (ECC number; POL code and Rx channel).
        overrides: `--geometry KEY=VALUE` items or a dict: each replaces what the metadata
            gives (and a field only it needs is then not required).
        shape: (rows, columns) of the product's `rc`/`rcmc`/`az` arrays; default: the number of
            metadata records and 2 x number_of_quads.
        decoder: the records already parsed (a fresh `Decoder` of `attrs`, or its `fork()`).
    Returns:
        The geometry: lambda = c / 5.405 GHz, La = 12.3 m and the window alpha 0.75 unless
        overridden; V at the mid-swath slant range and the mid-product time.
    Raises:
        ProductError: a field is missing (the message names every missing field and the
            `--geometry` keys that replace them) or holds an impossible value.
        ConfigError: a bad override.
    """
    given = geometry_overrides(overrides)
    dec = decoder or Decoder(attrs, name)
    values: dict[str, Any] = {
        "wavelength_m": C_LIGHT / CARRIER_HZ,
        "antenna_length_m": ANTENNA_LENGTH_M,
    }
    derive = {
        "prf_hz": dec.prf,
        "near_range_m": dec.near_range,
        "range_spacing_m": dec.range_spacing,
        "range_bandwidth_hz": dec.bandwidth,
    }
    for key, fn in derive.items():
        values[key] = given[key] if key in given else fn()
    dec.identity()
    rows, cols = shape if shape is not None else (None, None)
    if rows is None and dec.meta is not None:
        rows = len(dec.meta.records)
    if cols is None:
        cols = dec.params.samples_per_line
    values["n_azimuth"] = given.get("n_azimuth", rows)
    values["n_range"] = given.get("n_range", cols)
    for key in ("n_azimuth", "n_range"):
        if values[key] is None:
            dec.missing.append((SOURCES[key], key))
    if "velocity_mps" in given:
        values["velocity_mps"] = given["velocity_mps"]
    elif None not in (values["near_range_m"], values["range_spacing_m"], values["n_range"]):
        mid = values["near_range_m"] + 0.5 * (values["n_range"] - 1) * values["range_spacing_m"]
        values["velocity_mps"] = dec.velocity(mid)
    else:  # the slant range is missing (reported); still report a missing ephemeris
        values["velocity_mps"] = None
        dec.state_rows()
    if dec.missing:
        needs: dict[str, list[str]] = {}
        for w, k in dict.fromkeys(dec.missing):
            needs.setdefault(w, []).append(k)
        what = "; ".join(f"{w} (for {', '.join(ks)})" for w, ks in needs.items())
        keys = list(dict.fromkeys(k for _, k in dec.missing))
        flags = " ".join(f"--geometry {k}=VALUE" for k in keys)
        raise ProductError(f"{dec.where}: cannot read its geometry: missing {what}; give {flags}")
    values.update(given)
    try:
        return Geometry(**values)
    except ConfigError as exc:
        raise ProductError(f"{dec.where}: {exc} (from its Level-0 metadata)") from None


def light_attrs(attrs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the attributes without `HEAVY_ATTRS`, {dropped attribute: what it held, in words}):
    what an opened product keeps, and what `inspect` says in place of the records."""
    kept = {k: v for k, v in attrs.items() if k not in HEAVY_ATTRS}
    dropped = {k: _describe(attrs[k]) for k in HEAVY_ATTRS if k in attrs}
    return kept, dropped


def _describe(value: Any) -> str:
    if isinstance(value, Mapping) and "data" in value:
        parts = [value["data"]] + [v for k, v in value.items() if str(k).startswith("data_slice_")]
        n = sum(len(p) for p in parts if isinstance(p, (list, Mapping)))
        return f"{n} records ({len(parts)} part{'s' if len(parts) > 1 else ''})"
    if isinstance(value, list):
        kind = "records" if value and isinstance(value[0], Mapping) else "entries"
        return f"{len(value)} {kind}"
    if isinstance(value, Mapping):
        return f"{len(value)} entries"
    return type(value).__name__


def with_overrides(geometry: Geometry, overrides: Mapping[str, Any], where: str) -> Geometry:
    """A product's own `geometry` attribute with `--geometry` overrides applied (a
    ProductError naming the product when the result is impossible)."""
    if not overrides:
        return geometry
    try:
        return geometry.replace(**overrides)
    except ConfigError as exc:
        raise ProductError(f"{where}: {exc} (its geometry with the --geometry overrides)") from None
