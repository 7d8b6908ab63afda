"""Sentinel-1 Level-0 packet records as sarpyx stores them, decoded field by field.

The records (one decoded packet header per azimuth line, attribute `metadata`) and the orbit
ephemeris (attribute `ephemeris`) come in either sarpyx layout, `{"data": [...]}` or a list of
records with `*_columns` / `*_dtypes`, or as column-oriented dicts (`sarssm.data.maya4` says
which writer makes which). `Decoder` turns them into the quantities a `Geometry` is made of, one
method per quantity, and collects what is missing instead of raising, so one error can name every
missing field. The scalings are `sarssm.physics.sentinel1`'s; the mapping table is in
docs/real-data.md.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.data.catalog import parse_group_name
from sarssm.errors import ProductError
from sarssm.physics.geometry import C_LIGHT
from sarssm.physics.sentinel1 import (
    ECC_SWATH,
    effective_velocity,
    fine_time_s,
    near_range_m,
    polarization_from_codes,
    ramp_rate_hz_per_s,
    sample_rate_hz,
    seconds_from_code,
    time_stamp_s,
)

# Packet fields: our name -> accepted column names (s1isp / sarpyx first, then sentinel1decoder)
PACKET_COLUMNS: dict[str, tuple[str, ...]] = {
    "pri": ("pri", "PRI"),
    "swst": ("swst", "SWST"),
    "rank": ("rank", "Rank", "RANK"),
    "range_decimation": ("range_decimation", "Range Decimation", "RGDEC"),
    "tx_ramp_rate": ("tx_ramp_rate", "Tx Ramp Rate", "TXPRR"),
    "tx_pulse_length": ("tx_pulse_length", "Tx Pulse Length", "TXPL"),
    "polarization": ("polarization", "polarisation", "Polarisation", "POL"),
    "rx_channel_id": ("rx_channel_id", "Rx Channel ID", "RXCHID"),
    "ecc_num": ("ecc_num", "ECC Number", "ECC"),
    "swath_number": ("swath_number", "Swath Number", "SWATH"),
    "signal_type": ("signal_type", "Signal Type", "SIGTYP"),
    "coarse_time": ("coarse_time", "Coarse Time", "TCOAR"),
    "fine_time": ("fine_time", "Fine Time", "TFINE"),
    "number_of_quads": ("number_of_quads", "Number of Quads", "NQ"),
}
EPHEMERIS_COLUMNS: dict[str, tuple[str, ...]] = {
    "x": ("x", "X-axis position ECEF"),
    "y": ("y", "Y-axis position ECEF"),
    "z": ("z", "Z-axis position ECEF"),
    "vx": ("vx", "X-axis velocity ECEF"),
    "vy": ("vy", "Y-axis velocity ECEF"),
    "vz": ("vz", "Z-axis velocity ECEF"),
    "time_stamp": ("time_stamp", "POD Solution Data Timestamp"),
}
STATE = ("x", "y", "z", "vx", "vy", "vz")  # ECEF position [m] and velocity [m/s]


# --- records --------------------------------------------------------------------------------
def _records(attrs: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]] | None:
    """The record list of attribute `key` in any sarpyx layout; None when absent."""
    value = attrs.get(key)
    if value is None:
        return None
    if isinstance(value, Mapping) and isinstance(value.get("data"), (list, Mapping)):
        parts = [value["data"]]  # dask_slice_saver; concatenate_slices adds data_slice_i
        slices = sorted(
            (k for k in value if str(k).startswith("data_slice_")),
            key=lambda k: int(str(k).rpartition("_")[2]) if str(k)[-1].isdigit() else 0,
        )
        parts += [value[k] for k in slices]
        return [r for part in parts for r in _records({key: part}, key, where) or []]
    if isinstance(value, list):
        if not all(isinstance(r, Mapping) for r in value):
            bad = next(r for r in value if not isinstance(r, Mapping))
            raise ProductError(
                f"{where}: attribute {key!r} holds {type(bad).__name__} entries, "
                "not records (dicts of column values)"
            )
        return [dict(r) for r in value]
    if (
        isinstance(value, Mapping)
        and value
        and all(isinstance(v, (list, Mapping)) for v in value.values())
    ):  # column-oriented: {column: [values]} or {column: {index: value}}
        cols = {
            k: list(v.values()) if isinstance(v, Mapping) else list(v) for k, v in value.items()
        }
        lengths = {len(v) for v in cols.values()}
        if len(lengths) != 1:
            raise ProductError(f"{where}: attribute {key!r} has columns of different lengths")
        n = lengths.pop()
        return [{k: v[i] for k, v in cols.items()} for i in range(n)]
    raise ProductError(
        f"{where}: attribute {key!r} is a {type(value).__name__}, not sarpyx records "
        "(a list of dicts or {'data': [...]})"
    )


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "null", "nan", "none")


class _Table:
    """Columns of a record list, found by any accepted name."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        names: dict[str, tuple[str, ...]],
        attr: str,
        where: str,
        columns: Any = None,
    ) -> None:
        self.records, self.attr, self.where = records, attr, where
        keys = set(records[0]) if records else set()
        if isinstance(columns, list):
            keys |= {str(c) for c in columns}
        self.column = {
            ours: next((n for n in alts if n in keys), None) for ours, alts in names.items()
        }

    def has(self, ours: str) -> bool:
        return self.column.get(ours) is not None

    def values(self, ours: str, rows: Sequence[int] | None = None) -> list[Any]:
        name = self.column[ours]
        idx = range(len(self.records)) if rows is None else rows
        return [self.records[i].get(name) for i in idx]

    def number(self, ours: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ProductError(
                f"{self.where}: {self.attr} {self.column[ours]!r} holds {value!r}, not a number"
            )
        try:
            out = float(value)
        except ValueError:
            raise ProductError(
                f"{self.where}: {self.attr} {self.column[ours]!r} holds {value!r}, not a number"
            ) from None
        if not math.isfinite(out):
            raise ProductError(f"{self.where}: {self.attr} {self.column[ours]!r} holds {value!r}")
        return out


# --- decoding -------------------------------------------------------------------------------
@dataclass
class Level0Parameters:
    """What a product's packets and ephemeris say (SI units; None where absent), for `inspect`."""

    n_records: int = 0
    n_echo_records: int = 0
    pri_s: float | None = None
    rank: int | None = None
    swst_s: float | None = None
    range_decimation: int | None = None
    sample_rate_hz: float | None = None
    tx_ramp_rate_hz_per_s: float | None = None
    tx_pulse_length_s: float | None = None
    polarization: str | None = None  # from the packets
    swath: int | None = None  # stripmap beam from the ECC number
    ecc_num: int | None = None
    swath_number: int | None = None  # the SWATH field, reported only
    samples_per_line: int | None = None
    mid_time_gps_s: float | None = None
    velocity_source: str | None = None  # how the state vector was chosen
    name: dict[str, Any] | None = None  # parsed group name
    varying: dict[str, list[float]] = field(default_factory=dict)  # field: [min, max]

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.name:
            out["name"] = {k: str(v) for k, v in self.name.items()}
        return out


class Decoder:
    """One product's Level-0 fields, decoded on demand; misses are collected, not raised."""

    def __init__(self, attrs: Mapping[str, Any], name: str | Path | None) -> None:
        self.where = str(name) if name is not None else "product"
        self.params = Level0Parameters(name=parse_group_name(name) if name is not None else None)
        self.missing: list[tuple[str, str]] = []  # (what is missing, geometry key)
        recs = _records(attrs, "metadata", self.where)
        for attr in ("metadata_columns", "ephemeris_columns"):
            if attr in attrs and not isinstance(attrs[attr], list):
                raise ProductError(f"{self.where}: attribute {attr!r} is not a list of names")
        for attr in ("metadata_dtypes", "ephemeris_dtypes"):
            if attr in attrs and not isinstance(attrs[attr], Mapping):
                raise ProductError(f"{self.where}: attribute {attr!r} is not a dict of dtypes")
        cols = (attrs.get("metadata_columns"), attrs.get("ephemeris_columns"))
        self.meta = (
            _Table(recs, PACKET_COLUMNS, "metadata column", self.where, cols[0]) if recs else None
        )
        eph = _records(attrs, "ephemeris", self.where)
        self.eph = (
            _Table(eph, EPHEMERIS_COLUMNS, "ephemeris column", self.where, cols[1]) if eph else None
        )
        self.echo: list[int] = []
        if self.meta is not None:
            self.params.n_records = len(self.meta.records)
            self.echo = list(range(len(self.meta.records)))
            if self.meta.has("signal_type"):
                types = self.meta.values("signal_type")
                echo = [i for i, t in enumerate(types) if t in (0, "echo", "ECHO")]
                self.echo = echo or self.echo
            self.params.n_echo_records = len(self.echo)
        self._first: dict[str, tuple[float, float, float]] = {}  # shared with forks

    def fork(self) -> Decoder:
        """A decoder of the same parsed records whose results (`params`, `missing`) start
        afresh: one parse serves `maya4_geometry` and `level0_parameters` alike."""
        other = copy.copy(self)
        other.params = Level0Parameters(
            name=self.params.name,
            n_records=self.params.n_records,
            n_echo_records=self.params.n_echo_records,
        )
        other.missing = []
        return other

    def need(self, ours: str, key: str) -> bool:
        """Whether metadata column `ours` is there (else record it as missing for `key`)."""
        if self.meta is None:
            self.missing.append(("attribute 'metadata'", key))
            return False
        if not self.meta.has(ours) or all(_missing(v) for v in self.meta.values(ours, self.echo)):
            self.missing.append((f"metadata column {PACKET_COLUMNS[ours][0]!r}", key))
            return False
        return True

    def first(self, ours: str) -> float:
        """The first echo record's value (sarpyx's focuser takes `.iloc[0]`), as a number;
        records where it varies along the product are noted in `params.varying`. Each
        column is scanned once (20,000 records on a real product), forks included."""
        if ours not in self._first:
            values = self.meta.values(ours, self.echo)
            numbers = [self.meta.number(ours, v) for v in values if not _missing(v)]
            self._first[ours] = (numbers[0], min(numbers), max(numbers))
        value, lo, hi = self._first[ours]
        if lo != hi:
            self.params.varying[ours] = [lo, hi]
        return value

    def bad(self, ours: str, value: Any, why: str) -> ProductError:
        column = self.meta.column[ours] if self.meta is not None else ours
        return ProductError(f"{self.where}: metadata column {column!r} = {value!r}: {why}")

    # one method per Level-0 quantity --------------------------------------------------------
    def pri_s(self, key: str = "prf_hz") -> float | None:
        if not self.need("pri", key):
            return None
        raw = self.first("pri")
        pri = seconds_from_code(raw)
        if not pri > 0:
            raise self.bad("pri", raw, "not a positive pulse repetition interval")
        self.params.pri_s = pri
        return pri

    def prf(self) -> float | None:
        pri = self.pri_s()
        return None if pri is None else 1.0 / pri

    def near_range(self) -> float | None:
        key = "near_range_m"
        ok = [self.need(f, key) for f in ("swst", "rank")]
        pri = self.pri_s(key)
        if not all(ok) or pri is None:
            return None
        rank, swst = self.first("rank"), seconds_from_code(self.first("swst"))
        if rank != int(rank) or not 0 <= rank < 32:
            raise self.bad("rank", rank, "not a 5-bit rank (0-31)")
        if swst < 0:
            raise self.bad("swst", swst, "a negative sampling window start time")
        self.params.rank, self.params.swst_s = int(rank), swst
        return near_range_m(int(rank), pri, swst)

    def range_spacing(self) -> float | None:
        if not self.need("range_decimation", "range_spacing_m"):
            return None
        code = self.first("range_decimation")
        try:
            fs = sample_rate_hz(code)
        except ValueError as exc:
            raise self.bad("range_decimation", code, str(exc)) from None
        self.params.range_decimation = int(code) if code < 1e6 else None
        self.params.sample_rate_hz = fs
        return C_LIGHT / (2.0 * fs)

    def bandwidth(self) -> float | None:
        key = "range_bandwidth_hz"
        if not all([self.need("tx_ramp_rate", key), self.need("tx_pulse_length", key)]):
            return None
        rate = ramp_rate_hz_per_s(self.first("tx_ramp_rate"))
        length = seconds_from_code(self.first("tx_pulse_length"))
        if not (length > 0 and rate != 0):
            raise self.bad("tx_ramp_rate", rate, f"with pulse length {length} s gives no chirp")
        self.params.tx_ramp_rate_hz_per_s, self.params.tx_pulse_length_s = rate, length
        return abs(rate) * length

    def identity(self) -> None:
        """Polarisation and swath from the packets, checked against the group name."""
        p, m = self.params, self.meta
        if m is None:
            return
        if m.has("polarization") and not all(
            _missing(v) for v in m.values("polarization", self.echo)
        ):
            code = int(self.first("polarization"))
            rx = int(self.first("rx_channel_id")) if m.has("rx_channel_id") else None
            try:
                p.polarization = polarization_from_codes(code, rx)
            except ValueError as exc:
                raise self.bad("polarization", code, str(exc)) from None
        if m.has("ecc_num"):
            p.ecc_num = int(self.first("ecc_num"))
            p.swath = ECC_SWATH.get(p.ecc_num)
        if m.has("swath_number"):
            p.swath_number = int(self.first("swath_number"))
        if m.has("number_of_quads"):
            p.samples_per_line = 2 * int(
                max(
                    self.meta.number("number_of_quads", v)
                    for v in m.values("number_of_quads", self.echo)
                    if not _missing(v)
                )
            )
        if p.name:
            if p.polarization and p.polarization != p.name["polarization"]:
                raise ProductError(
                    f"{self.where}: the name says polarisation "
                    f"{p.name['polarization']!r}, the packets {p.polarization!r}"
                )
            if p.swath and p.swath != p.name["swath"]:
                raise ProductError(
                    f"{self.where}: the name says swath s{p.name['swath']}, the "
                    f"packets' ECC number {p.ecc_num} means s{p.swath}"
                )

    def mid_time(self) -> float | None:
        m = self.meta
        if m is None or not m.has("coarse_time") or not m.has("fine_time"):
            return None
        times = []
        for i in (self.echo[0], self.echo[-1]):
            coarse, fine = m.values("coarse_time", [i])[0], m.values("fine_time", [i])[0]
            if _missing(coarse) or _missing(fine):
                return None
            fine = fine_time_s(m.number("fine_time", fine))
            times.append(m.number("coarse_time", coarse) + fine)
        self.params.mid_time_gps_s = 0.5 * (times[0] + times[1])
        return self.params.mid_time_gps_s

    def state_rows(self) -> list[int] | None:
        """Ephemeris records with a whole state vector (else record what is missing)."""
        key, e = "velocity_mps", self.eph
        if e is None:
            self.missing.append(("attribute 'ephemeris' (orbit state vectors)", key))
            return None
        absent = [EPHEMERIS_COLUMNS[c][0] for c in STATE if not e.has(c)]
        if absent:
            self.missing.append((f"ephemeris column(s) {absent}", key))
            return None
        rows = [
            i
            for i, r in enumerate(e.records)
            if not any(_missing(r.get(e.column[c])) for c in STATE)
        ]
        if not rows:
            self.missing.append(("ephemeris state vectors (every record is empty)", key))
            return None
        return rows

    def velocity(self, slant_range: float) -> float | None:
        rows, e = self.state_rows(), self.eph
        if rows is None:
            return None
        sv = np.array([[e.number(c, e.records[i][e.column[c]]) for c in STATE] for i in rows])
        t_mid = self.mid_time()
        stamps = e.values("time_stamp", rows) if e.has("time_stamp") else [None]
        if t_mid is not None and not any(_missing(v) for v in stamps):
            t = np.array([e.number("time_stamp", v) for v in stamps])
            t = time_stamp_s(t)  # [K] s
            t, first = np.unique(t, return_index=True)
            sv = sv[first]
            if not t[0] - 60.0 <= t_mid <= t[-1] + 60.0:
                raise ProductError(
                    f"{self.where}: the packets' mid time {t_mid:.3f} s (GPS) is outside the "
                    f"ephemeris times {t[0]:.3f}-{t[-1]:.3f} s; give "
                    "--geometry velocity_mps=M_PER_S"
                )
            state = np.array([np.interp(t_mid, t, sv[:, j]) for j in range(6)])
            self.params.velocity_source = "state vector interpolated at the mid-product time"
        else:
            state = sv[len(sv) // 2]
            self.params.velocity_source = "middle ephemeris record (no packet or ephemeris times)"
        try:
            return effective_velocity(state[:3], state[3:], slant_range)
        except ValueError as exc:
            raise ProductError(
                f"{self.where}: ephemeris and sampling window disagree ({exc}); check "
                "metadata 'rank' / 'swst', or give --geometry velocity_mps=M_PER_S"
            ) from None
