"""Simulated products in the exact layout of a real Maya4 archive, and a huge sparse one.

A real Maya4 product is a Zarr group named `s1a-s{swath}-raw-s-{pol}-{start}-{stop}-{orbit}-
{datatake}.zarr` with four complex64 arrays `raw`, `rc`, `rcmc`, `az` (Blosc zstd, bit-shuffle,
chunks min(dim, 4096): sarpyx `utils/zarr_utils.py`, `dask_slice_saver`) and two attributes:
`metadata`, one decoded Sentinel-1 packet header per azimuth line (s1isp column names, the
values sarpyx's `_apply_parameter_transformations` gives: PRI, SWST, SWL, TXPL and fine time in
seconds, TXPRR in Hz/s, TXPSF in Hz, Rx gain in dB, plus its derived columns), and
`ephemeris`, the sub-commutated PVT + attitude + housekeeping records (`x` ... `vz` ECEF, raw
`time_stamp` in units of 2^-24 s). Products written here carry nothing else: no sarssm
`geometry`, no point-target list, so a reader must get the geometry from the packets
(`sarssm.data.maya4`), as it must for a real product.

The encoding is the inverse of `sarssm.physics.sentinel1`: PRI, SWST, rank, range decimation,
TXPRR and TXPL are integer codes, so a geometry is first snapped to the nearest one they can
express (`level0_geometry`: PRF = F_ref / n, near range on the 1/F_ref grid of SWST (3.99 m),
range spacing c / (2 f_s) of the nearest decimation code, lambda = c / 5.405 GHz, La = 12.3 m)
and that snapped geometry is simulated, so data and metadata agree. The velocity is encoded in
an orbit: a circular orbit in ECEF (inclination 98.18 degrees, the product's mid-time at
`latitude_deg`) whose speed Vs makes sqrt(Vs Vg) at the mid-swath slant range equal V exactly;
its altitude is Sentinel-1's 693 km, or 0.8 x the near range where that is shorter (the `demo`
preset's 66 km swath is a scaled-down Sentinel-1, so is its orbit).

`raw` is created but left empty (all chunks absent, reading zeros): sarssm never reads echoes,
and simulating them would need the range chirp, which the simulator does not model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.data.store import LEVELS, ProductWriter
from sarssm.errors import ConfigError
from sarssm.physics.geometry import C_LIGHT, Geometry, get_preset
from sarssm.physics.sentinel1 import (
    ALTITUDE_M,
    ANTENNA_LENGTH_M,
    CARRIER_HZ,
    DELTA_T_SUPPR_S,
    ECC_SWATH,
    F_REF_HZ,
    FINE_TIME_SCALE,
    RANGE_DECIMATION,
    TIME_STAMP_SCALE,
    TXPRR_SCALE,
    TXPSF_SCALE,
    earth_radius_m,
    gps_seconds,
    near_range_m,
    ramp_rate_hz_per_s,
    sample_rate_hz,
)

LAYOUTS = ("slice_saver", "records")  # sarpyx dask_slice_saver / save_array_to_zarr attributes
UNITS = ("physical", "raw")  # sarpyx's transformed values / raw s1isp codes
INCLINATION_DEG = 98.18  # Sentinel-1 orbit inclination
PULSE_LENGTH_S = 40e-6  # default TXPL
DEFAULT_START = datetime(2024, 1, 3, 12, 11, 47)
SARPYX_POL_NAMES = {0: "H", 1: "V", 2: "H+V", 3: "H-V"}  # its derived column (None otherwise)
POL_CODES = {"hh": (1, 1), "vv": (6, 0), "hv": (3, 0), "vh": (7, 1)}  # pol: (POL code, Rx ch.)


@dataclass(frozen=True)
class Level0Codes:
    """The integer Level-0 codes of one geometry (S1-IF-ASD-PL-0007 sections 3.2.5.x)."""

    pri: int  # PRI in 1/F_ref
    rank: int
    swst: int  # SWST in 1/F_ref
    range_decimation: int
    tx_ramp_rate: int  # 16-bit sign/magnitude
    tx_pulse_length: int  # TXPL in 1/F_ref
    tx_pulse_start_freq: int  # 16-bit sign/magnitude
    swl: int  # SWL in 1/F_ref (informative: the window spans the columns)

    @property
    def pri_s(self) -> float:
        return self.pri / F_REF_HZ

    @property
    def swst_s(self) -> float:
        return self.swst / F_REF_HZ

    @property
    def tx_pulse_length_s(self) -> float:
        return self.tx_pulse_length / F_REF_HZ

    @property
    def tx_ramp_rate_hz_per_s(self) -> float:
        return ramp_rate_hz_per_s(self.tx_ramp_rate)

    @property
    def tx_pulse_start_freq_hz(self) -> float:
        sign = 1.0 if self.tx_pulse_start_freq >> 15 else -1.0
        magnitude = (self.tx_pulse_start_freq & 0x7FFF) * TXPSF_SCALE
        return self.tx_ramp_rate_hz_per_s / (4.0 * F_REF_HZ) + sign * magnitude


def _sign_magnitude(value: float, what: str) -> int:
    magnitude = round(abs(value))
    if magnitude > 0x7FFF:
        raise ConfigError(f"{what} = {value:g} units does not fit a 15-bit Level-0 magnitude")
    return (0x8000 if value >= 0 else 0) | magnitude


def encode_level0(geometry: Geometry, pulse_length_s: float = PULSE_LENGTH_S) -> Level0Codes:
    """The nearest Level-0 codes of `geometry`: PRI = round(F_ref / PRF); rank and SWST from
    the two-way delay of the near range less dt_suppr; the decimation code whose c / (2 f_s)
    is nearest the range spacing; TXPL = round(pulse_length F_ref) and TXPRR the ramp giving
    the bandwidth over it, centred chirp (TXPSF = -B/2)."""
    pri = round(F_REF_HZ / geometry.prf_hz)
    pri_s = pri / F_REF_HZ
    delay = 2.0 * geometry.near_range_m / C_LIGHT - DELTA_T_SUPPR_S  # rank PRI + SWST [s]
    if delay < 0:
        raise ConfigError(f"near range {geometry.near_range_m} m is shorter than dt_suppr")
    rank = int(delay // pri_s)
    swst = round((delay - rank * pri_s) * F_REF_HZ)
    if swst >= pri:
        rank, swst = rank + 1, swst - pri
    if rank > 31:
        raise ConfigError(f"near range {geometry.near_range_m} m needs rank {rank} > 31")
    spacing = {c: C_LIGHT / (2.0 * sample_rate_hz(c)) for c in RANGE_DECIMATION}
    code = min(spacing, key=lambda c: abs(spacing[c] - geometry.range_spacing_m))
    txpl = round(pulse_length_s * F_REF_HZ)
    txprr = _sign_magnitude(geometry.range_bandwidth_hz / (txpl / F_REF_HZ) / TXPRR_SCALE, "TXPRR")
    rate = ramp_rate_hz_per_s(txprr)
    start = -0.5 * abs(rate) * txpl / F_REF_HZ
    txpsf = _sign_magnitude((start - rate / (4.0 * F_REF_HZ)) / TXPSF_SCALE, "TXPSF")
    swl = math.ceil(geometry.n_range / sample_rate_hz(code) * F_REF_HZ)
    return Level0Codes(pri, rank, swst, code, txprr, txpl, txpsf, swl)


def level0_geometry(geometry: Geometry, pulse_length_s: float = PULSE_LENGTH_S) -> Geometry:
    """`geometry` snapped to what Level-0 codes express (through the decoder's own functions,
    so decoding gives these values bit for bit); V, sizes and processing choices kept."""
    codes = encode_level0(geometry, pulse_length_s)
    return geometry.replace(
        wavelength_m=C_LIGHT / CARRIER_HZ,
        antenna_length_m=ANTENNA_LENGTH_M,
        prf_hz=1.0 / codes.pri_s,
        near_range_m=near_range_m(codes.rank, codes.pri_s, codes.swst_s),
        range_spacing_m=C_LIGHT / (2.0 * sample_rate_hz(codes.range_decimation)),
        range_bandwidth_hz=abs(codes.tx_ramp_rate_hz_per_s) * codes.tx_pulse_length_s,
    )


# --- records ----------------------------------------------------------------------------------
def packet_records(
    geometry: Geometry,
    codes: Level0Codes,
    start_gps_s: float,
    polarization: str,
    swath: int,
    datatake: int,
    units: str = "physical",
) -> list[dict[str, Any]]:
    """One echo packet header per azimuth line, s1isp columns in s1isp order (and sarpyx's
    derived columns when `units` is "physical")."""
    pol, rx = POL_CODES[polarization]
    ecc = next(e for e, s in ECC_SWATH.items() if s == swath)
    physical = units == "physical"
    nq = math.ceil(geometry.n_range / 2)
    base: dict[str, Any] = {
        "packet_version_number": 0, "packet_type": 0, "secondary_header_flag": True,
        "pid": 65, "pcat": 12, "sequence_flags": 3, "packet_sequence_count": 0,
        "packet_data_length": 62 + 4 * nq - 1, "coarse_time": 0, "fine_time": 0,
        "sync_marker": 0x352EF853, "data_take_id": datatake, "ecc_num": ecc, "test_mode": 0,
        "rx_channel_id": rx, "instrument_configuration_id": 7, "data_word_index": 0,
        "space_packet_count": 0, "pri_count": 0, "error_flag": False, "baq_mode": 12,
        "baq_block_length": 31, "range_decimation": codes.range_decimation,
        "rx_gain": -4.0 if physical else 8,
        "tx_ramp_rate": codes.tx_ramp_rate_hz_per_s if physical else codes.tx_ramp_rate,
        "tx_pulse_start_freq": (
            codes.tx_pulse_start_freq_hz if physical else codes.tx_pulse_start_freq
        ),
        "tx_pulse_length": codes.tx_pulse_length_s if physical else codes.tx_pulse_length,
        "rank": codes.rank, "pri": codes.pri_s if physical else codes.pri,
        "swst": codes.swst_s if physical else codes.swst,
        "swl": codes.swl / F_REF_HZ if physical else codes.swl,
        "ssb_flag": False, "polarization": pol, "temperature_compensation": 3,
        "elevation_beam_address": 0, "azimuth_beam_address": 0, "sas_test": 0, "cal_type": 0,
        "calibration_beam_address": 0, "cal_mode": 0, "tx_pulse_number": 0,
        "signal_type": 0, "swap": False, "swath_number": swath, "number_of_quads": nq,
    }  # fmt: skip
    if physical:
        base.update({
            "signal_type_name": "echo", "data_take_hex": f"0x{datatake:08X}",
            "samples_per_line": 2 * nq, "polarization_name": SARPYX_POL_NAMES.get(pol),
            "temp_comp_name": "reserved2", "sync_marker_valid": True, "baq_mode_valid": True,
            "packet_version_valid": True,
        })  # fmt: skip
    records = []
    for n in range(geometry.n_azimuth):
        t = start_gps_s + n * codes.pri_s
        coarse = math.floor(t)
        fine = math.floor((t - coarse) / FINE_TIME_SCALE)
        record = dict(base)
        record.update(
            packet_sequence_count=n % 16384,
            coarse_time=coarse,
            fine_time=(fine + 0.5) * FINE_TIME_SCALE if physical else fine,
            data_word_index=n % 64 + 1,
            space_packet_count=n,
            pri_count=n,
        )
        records.append(record)
    return records


def orbit_records(
    geometry: Geometry, start_gps_s: float, pri_s: float, latitude_deg: float = 41.4
) -> list[dict[str, Any]]:
    """1 Hz PVT + attitude + housekeeping records (s1isp's merged sub-commutated columns) of a
    circular ECEF orbit whose sqrt(Vs Vg) at mid-product time and mid-swath range is V."""
    t_mid = start_gps_s + 0.5 * (geometry.n_azimuth - 1) * pri_s
    r_mid = float(geometry.slant_range([(geometry.n_range - 1) / 2.0])[0])
    inc = math.radians(INCLINATION_DEG)
    u_mid = math.asin(math.sin(math.radians(latitude_deg)) / math.sin(inc))
    node = math.radians(-88.0)  # longitude of the ascending node (any)

    def frame(u: float) -> tuple[np.ndarray, np.ndarray]:  # unit position, unit along-track
        cn, sn, ci, si = math.cos(node), math.sin(node), math.cos(inc), math.sin(inc)
        p = [cn * math.cos(u) - sn * math.sin(u) * ci, sn * math.cos(u) + cn * math.sin(u) * ci,
             math.sin(u) * si]  # fmt: skip
        d = [-cn * math.sin(u) - sn * math.cos(u) * ci, -sn * math.sin(u) + cn * math.cos(u) * ci,
             math.cos(u) * si]  # fmt: skip
        return np.array(p), np.array(d)

    re = float(earth_radius_m(frame(u_mid)[0]))
    altitude = min(ALTITUDE_M, 0.8 * geometry.near_range_m)
    H = re + altitude
    cos_beta = (re**2 + H**2 - r_mid**2) / (2.0 * re * H)
    if not 0.0 < cos_beta <= 1.0:
        raise ConfigError(f"slant range {r_mid:.0f} m cannot be seen from {altitude:.0f} m")
    vs = geometry.velocity_mps / math.sqrt(re * cos_beta / H)  # sqrt(Vs Vg) = V
    omega = vs / H
    span = 0.5 * (geometry.n_azimuth - 1) * pri_s
    records = []
    for t in range(math.floor(t_mid - span) - 2, math.ceil(t_mid + span) + 3):
        p, d = frame(u_mid + omega * (t - t_mid))
        v = np.float32(vs) * d.astype(np.float32)  # PVT velocities are 32-bit floats
        stamp = round(t / TIME_STAMP_SCALE)
        record: dict[str, Any] = dict(zip(("x", "y", "z"), (H * p).tolist(), strict=True))
        record.update(zip(("vx", "vy", "vz"), [float(x) for x in v], strict=True))
        record.update(time_stamp=stamp, q0=0.5, q1=-0.5, q2=0.5, q3=0.5, omega_x=0.0,
                      omega_y=-0.0011, omega_z=0.0)  # fmt: skip
        record["pointing_status"] = {"aocs_op_mode": 4, "roll_error": False,
                                     "pitch_error": False, "yaw_error": False}  # fmt: skip
        record["temperature_update_status"] = 0
        for tile in range(1, 15):
            for part in ("efeh", "efev", "ta"):
                record[f"tile{tile}_{part}_temperature"] = 120
        record["tgu_temperature"] = 60
        records.append(record)
    return records


def _dtype(values: list[Any]) -> str:
    """The pandas dtype string a column of these values gets (what sarpyx stores)."""
    kinds = {type(v) for v in values}
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "int64"
    if kinds <= {int, float}:
        return "float64"
    return "object"


def layout_attrs(
    metadata: list[dict[str, Any]], ephemeris: list[dict[str, Any]], layout: str
) -> dict[str, Any]:
    """The group attributes as sarpyx stores them: `slice_saver` ({"data": records}, its
    `dask_slice_saver`) or `records` (records + `*_columns` + `*_dtypes`, `save_array_to_zarr`)."""
    if layout == "slice_saver":
        return {"metadata": {"data": metadata}, "ephemeris": {"data": ephemeris}}
    if layout != "records":
        raise ConfigError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    out: dict[str, Any] = {}
    for key, records in (("metadata", metadata), ("ephemeris", ephemeris)):
        columns = list(records[0]) if records else []
        out[key] = records
        out[f"{key}_columns"] = columns
        out[f"{key}_dtypes"] = {c: _dtype([r[c] for r in records]) for c in columns}
    return out


def maya4_name(
    mission: str, swath: int, polarization: str, start: datetime, stop: datetime, orbit: int,
    datatake: int,
) -> str:  # fmt: skip
    """`s1a-s1-raw-s-vv-20240103t121147-20240103t121217-051942-0646ac.zarr`."""
    stamp = "%Y%m%dt%H%M%S"
    return (
        f"{mission}-s{swath}-raw-s-{polarization}-{start.strftime(stamp)}-"
        f"{stop.strftime(stamp)}-{orbit:06d}-{datatake:06x}.zarr"
    )


# --- writing ----------------------------------------------------------------------------------
def _compressor(zarr_format: int) -> Any:
    if zarr_format == 2:
        import numcodecs

        return numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")


def _check(geometry: Geometry, polarization: str, swath: int, zarr_format: int, layout: str,
           units: str) -> None:  # fmt: skip
    if zarr_format not in (2, 3):
        raise ConfigError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
    if polarization not in POL_CODES:
        raise ConfigError(f"polarization must be one of {sorted(POL_CODES)}, got {polarization!r}")
    if swath not in range(1, 7):
        raise ConfigError(f"swath must be a stripmap beam 1-6, got {swath!r}")
    if layout not in LAYOUTS:
        raise ConfigError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    if units not in UNITS:
        raise ConfigError(f"units must be one of {list(UNITS)}, got {units!r}")
    if not isinstance(geometry, Geometry):
        raise ConfigError(f"geometry must be a Geometry, got {type(geometry).__name__}")


def _write(
    folder: str | Path, geometry: Geometry, seed: int, zarr_format: int, *, fill: Any,
    polarization: str, swath: int, mission: str, start: datetime | None, orbit: int,
    layout: str, units: str, chunks: tuple[int, int] | None, latitude_deg: float,
    overwrite: bool,
) -> Path:  # fmt: skip
    """Encode `geometry` (already snapped), name the product, write arrays (`fill(writer)`
    writes the data through the `ProductWriter`) and attributes atomically."""
    codes = encode_level0(geometry)
    start = start or DEFAULT_START + timedelta(minutes=int(seed))
    start_gps = gps_seconds(start)
    stop = start + timedelta(seconds=math.floor(geometry.n_azimuth * codes.pri_s))
    datatake = 0x0646AC + int(seed)
    path = Path(folder) / maya4_name(mission, swath, polarization, start, stop, orbit, datatake)
    metadata = packet_records(geometry, codes, start_gps, polarization, swath, datatake, units)
    ephemeris = orbit_records(geometry, start_gps, codes.pri_s, latitude_deg)
    attrs = layout_attrs(metadata, ephemeris, layout)
    shape = (geometry.n_azimuth, geometry.n_range)
    chunk = tuple(chunks) if chunks else tuple(min(s, 4096) for s in shape)  # sarpyx 'auto'
    with ProductWriter(path, overwrite, zarr_format) as out:
        for name in LEVELS:
            out.create(
                name, shape, chunks=chunk, compressors=_compressor(zarr_format), fill_value=0
            )
        fill(out)
        out.attrs.update(attrs)
    return path


def write_maya4_product(
    folder: str | Path,
    geometry: Geometry,
    scene: str = "points",
    seed: int = 0,
    zarr_format: int = 3,
    *,
    snr_db: float | None = None,
    polarization: str = "vv",
    swath: int = 1,
    mission: str = "s1a",
    start: datetime | None = None,
    orbit: int = 51942,
    layout: str = "slice_saver",
    units: str = "physical",
    chunks: tuple[int, int] | None = None,
    latitude_deg: float = 41.4,
    overwrite: bool = False,
) -> Path:
    """Simulate `scene` on `level0_geometry(geometry)` and write it as a real Maya4 product.

    Args:
        folder: where the product goes; its name follows the Maya4 pattern (start time
            2024-01-03T12:11:47 UTC + `seed` minutes, data-take 0x0646ac + `seed`).
        geometry: the geometry to simulate; snapped first, so compare a decoded geometry with
            `level0_geometry(geometry)`.
        zarr_format: 2 (`.zarray`, chunk keys `0.0`) or 3 (`zarr.json`, keys `c/0/0`); both
            Blosc zstd level 5 with bit-shuffle, as sarpyx writes them.
        layout: "slice_saver" (`metadata = {"data": records}`, what the four-array products
            carry) or "records" (records + `metadata_columns` + `metadata_dtypes`).
        units: "physical" (sarpyx's default transformed values) or "raw" (s1isp codes).
        chunks: chunk shape (default sarpyx's min(dim, 4096)).
    Returns:
        The product's path.
    """
    from sarssm.sim.simulate import simulate_product

    _check(geometry, polarization, swath, zarr_format, layout, units)
    snapped = level0_geometry(geometry)
    product = simulate_product(snapped, scene, seed, snr_db)

    def fill(out: ProductWriter) -> None:
        for name in ("rc", "rcmc", "az"):
            out.write(name, product.arrays[name])

    return _write(
        folder, snapped, seed, zarr_format, fill=fill, polarization=polarization, swath=swath,
        mission=mission, start=start, orbit=orbit, layout=layout, units=units, chunks=chunks,
        latitude_deg=latitude_deg, overwrite=overwrite,
    )  # fmt: skip


def write_sparse_product(
    folder: str | Path,
    rows: int = 20_000,
    cols: int = 25_000,
    *,
    zarr_format: int = 3,
    geometry: Geometry | None = None,
    blocks: int = 3,
    block_shape: tuple[int, int] = (2048, 32),
    seed: int = 0,
    layout: str = "slice_saver",
    chunks: tuple[int, int] | None = None,
    overwrite: bool = False,
) -> Path:
    """A real-layout product of rows x cols (20,000 x 25,000 complex64: 4 GB per array, 16 GB
    for the four) whose chunks are absent (reading Zarr's fill value, zero) except `blocks`
    simulated `points` blocks of `block_shape` along the diagonal, each simulated on the
    product's geometry at its own columns. Its metadata has one record per row, as a real
    product's has (tens of MB of JSON at 20,000 rows).

    Args:
        geometry: default `s1-stripmap` at 800 km near range, resized to rows x cols.
        blocks: written blocks, at rows/cols fractions 0, 1/2, 1 of the free span (fewer when
            `blocks` < 3; 0 writes none).
    Returns:
        The product's path.
    """
    from sarssm.sim.simulate import simulate_product

    base = geometry or get_preset("s1-stripmap").replace(near_range_m=800_000.0)
    snapped = level0_geometry(base.replace(n_azimuth=int(rows), n_range=int(cols)))
    _check(snapped, "vv", 1, zarr_format, layout, "physical")
    br, bc = min(block_shape[0], rows), min(block_shape[1], cols)
    if blocks < 0 or br < 1 or bc < 1:
        raise ConfigError(
            f"blocks must be >= 0 and block_shape positive, got {blocks}, {block_shape}"
        )
    fractions = [0.0, 0.5, 1.0][: int(blocks)] if blocks <= 3 else list(np.linspace(0, 1, blocks))

    def fill(out: ProductWriter) -> None:
        for i, frac in enumerate(fractions):
            r0, c0 = round(frac * (rows - br)), round(frac * (cols - bc))
            near = float(snapped.slant_range([c0])[0])
            g = snapped.replace(n_azimuth=br, n_range=bc, near_range_m=near)
            block = simulate_product(g, "points", seed + i)
            for name in ("rc", "rcmc", "az"):
                out.write(name, block.arrays[name], slice(r0, r0 + br), slice(c0, c0 + bc))

    return _write(
        folder, snapped, seed, zarr_format, fill=fill, polarization="vv", swath=1,
        mission="s1a", start=None, orbit=51942, layout=layout, units="physical",
        chunks=chunks, latitude_deg=41.4, overwrite=overwrite,
    )  # fmt: skip
