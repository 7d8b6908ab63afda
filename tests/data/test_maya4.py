"""Real Maya4-layout products: geometry decoded from Level-0 packet metadata and ephemeris.

The fixture writer (`sarssm.sim.maya4_layout`) encodes a simulated geometry into the fields
sarpyx stores; the reader (`sarssm.data.maya4`) must give it back: PRF exactly, near range within
one range bin, Ka within 0.1 %, in Zarr format 2 and 3, in both sarpyx attribute layouts and both
unit conventions. Golden values pin the Level-0 scalings independently of the encoder.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sarssm.data.maya4 import (
    geometry_overrides,
    is_maya4,
    level0_parameters,
    maya4_geometry,
    parse_group_name,
)
from sarssm.data.store import open_product
from sarssm.errors import ConfigError, ProductError
from sarssm.physics.geometry import C_LIGHT, Geometry, get_preset
from sarssm.physics.sentinel1 import (
    ECC_SWATH,
    earth_radius_m,
    effective_velocity,
    fine_time_s,
    polarization_from_codes,
    ramp_rate_hz_per_s,
    sample_rate_hz,
    seconds_from_code,
    time_stamp_s,
)
from sarssm.sim.maya4_layout import (
    encode_level0,
    layout_attrs,
    level0_geometry,
    orbit_records,
    packet_records,
    write_maya4_product,
    write_sparse_product,
)
from sarssm.sim.simulate import simulate_product

F_REF = 37.53472224e6  # written out: the golden tests must not share the module's constants


def _decoded(path: Path) -> Geometry:
    """The geometry an opened product falls back to (no `geometry` attribute), which is the
    one decoded from its full attributes."""
    product = open_product(path)
    decoded = maya4_geometry(product.full_attrs(), path.name, shape=product.shape)
    assert product.geometry == decoded
    return decoded


def _check_round_trip(decoded: Geometry, truth: Geometry) -> None:
    """The issue's tolerances: PRF exact, near range within one bin, Ka within 0.1 %."""
    assert decoded.prf_hz == truth.prf_hz
    assert abs(decoded.near_range_m - truth.near_range_m) <= truth.range_spacing_m
    ka = decoded.ka() / truth.ka() - 1.0
    assert np.max(np.abs(ka)) < 1e-3
    assert (decoded.n_azimuth, decoded.n_range) == (truth.n_azimuth, truth.n_range)


@pytest.fixture(scope="module")
def demo_attrs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """Attributes and name of one `demo` product in the default layout (format 3)."""
    path = write_maya4_product(tmp_path_factory.mktemp("m4"), get_preset("demo"), "points", 0)
    return open_product(path).full_attrs(), path.name


# --- the round trip -----------------------------------------------------------------------------
@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("preset", ["demo", "s1-stripmap"])
def test_round_trip_recovers_the_simulators_geometry(tmp_path, preset, zarr_format):
    base = get_preset(preset)
    path = write_maya4_product(tmp_path, base, "points", 0, zarr_format)
    truth = level0_geometry(base)  # the geometry the product was simulated with
    decoded = _decoded(path)
    _check_round_trip(decoded, truth)
    # what the Level-0 codes give is exact; V goes through float32 state vectors and a
    # linear interpolation of the orbit in time
    for key in ("near_range_m", "range_spacing_m", "range_bandwidth_hz", "wavelength_m"):
        assert getattr(decoded, key) == getattr(truth, key), key
    assert abs(decoded.velocity_mps / truth.velocity_mps - 1.0) < 1e-6
    _check_round_trip(decoded.replace(prf_hz=base.prf_hz), base)  # within tolerance of the preset
    assert abs(decoded.prf_hz / base.prf_hz - 1.0) < 0.5 / 21861  # half a PRI code
    # the data are the simulator's, the layout the real one
    product = open_product(path)
    assert product.levels == ["raw", "rc", "rcmc", "az"] and "geometry" not in product.attrs
    expected = simulate_product(truth, "points", 0).arrays["rc"]
    np.testing.assert_array_equal(product.read("rc"), expected)
    assert not np.any(product.read("raw"))
    parsed = parse_group_name(path.name)
    assert parsed and parsed["polarization"] == "vv" and parsed["swath"] == 1


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_the_files_on_disk_are_the_real_layout(tmp_path, zarr_format):
    path = write_maya4_product(tmp_path, get_preset("demo"), "points", 0, zarr_format)
    if zarr_format == 2:
        assert (path / ".zgroup").is_file() and (path / "rc" / "0.0").is_file()
        meta = json.loads((path / "rc" / ".zarray").read_text())
        comp = meta["compressor"]
        assert (comp["id"], comp["cname"], comp["shuffle"]) == ("blosc", "zstd", 2)
        attrs = json.loads((path / ".zattrs").read_text())
    else:
        assert (path / "rc" / "c" / "0" / "0").is_file()
        meta = json.loads((path / "rc" / "zarr.json").read_text())
        assert meta["chunk_key_encoding"]["configuration"]["separator"] == "/"
        blosc = next(c for c in meta["codecs"] if c["name"] == "blosc")["configuration"]
        assert (blosc["cname"], blosc["shuffle"]) == ("zstd", "bitshuffle")
        attrs = json.loads((path / "zarr.json").read_text())["attributes"]
    assert set(attrs) == {"metadata", "ephemeris"}
    records = attrs["metadata"]["data"]
    assert len(records) == 256 and records[0]["pri"] == pytest.approx(21861 / F_REF, rel=1e-15)
    assert {"x", "vx", "time_stamp", "q0", "pointing_status"} <= set(attrs["ephemeris"]["data"][0])
    assert not any((path / "raw").glob("c/*")) and not (path / "raw" / "0.0").exists()


@pytest.mark.parametrize("layout", ["slice_saver", "records"])
@pytest.mark.parametrize("units", ["physical", "raw"])
def test_both_sarpyx_layouts_and_both_unit_conventions_decode_alike(tmp_path, layout, units):
    base = get_preset("demo")
    path = write_maya4_product(tmp_path, base, "points", 0, 2, layout=layout, units=units)
    attrs = open_product(path).full_attrs()
    if layout == "records":
        assert isinstance(attrs["metadata"], list) and "pri" in attrs["metadata_columns"]
        assert attrs["metadata_dtypes"]["rank"] == "int64"
        assert attrs["ephemeris_dtypes"]["x"] == "float64"
        pri = attrs["metadata"][0]["pri"]
        assert pri == (21861 if units == "raw" else pytest.approx(21861 / F_REF, rel=1e-15))
    decoded, truth = _decoded(path), level0_geometry(base)
    assert decoded.replace(velocity_mps=truth.velocity_mps) == truth.replace(
        window_alpha=0.75, swath_near_m=0.0, swath_far_m=0.0
    )
    assert abs(decoded.velocity_mps / truth.velocity_mps - 1.0) < 1e-6


def test_column_oriented_and_concatenated_records_are_read(demo_attrs):
    attrs, name = demo_attrs
    ref = maya4_geometry(attrs, name)
    records = attrs["metadata"]["data"]
    by_column = {k: [r[k] for r in records] for k in records[0]}
    split = {"data": records[:100], "data_slice_1": records[100:]}
    for metadata in (by_column, split, records):
        assert maya4_geometry({**attrs, "metadata": metadata}, name) == ref
    assert is_maya4(attrs) and is_maya4({"metadata": records})
    assert not is_maya4({}) and not is_maya4({"geometry": {"prf_hz": 1}, "metadata": records})


# --- Level-0 scalings, independently of the encoder ----------------------------------------------
def test_golden_level0_scalings():
    assert sample_rate_hz(8) == pytest.approx(3 / 7 * 4 * F_REF)  # 64.345 MHz
    assert sample_rate_hz(0) == pytest.approx(3 * F_REF) and sample_rate_hz(10) == pytest.approx(
        6 / 13 * F_REF
    )
    with pytest.raises(ValueError, match="unknown range decimation code 2"):
        sample_rate_hz(2)
    assert seconds_from_code(21861) == pytest.approx(582.4207e-6, rel=1e-7)
    assert seconds_from_code(5.8e-4) == 5.8e-4  # already seconds
    assert ramp_rate_hz_per_s(0x8000 | 2395) == pytest.approx(2395 * F_REF**2 / 2**21)
    assert ramp_rate_hz_per_s(2395) == pytest.approx(-2395 * F_REF**2 / 2**21)
    assert ramp_rate_hz_per_s(1.6e12) == 1.6e12
    assert fine_time_s(0x8000) == pytest.approx(0.5 + 0.5 * 2**-16) and fine_time_s(0.25) == 0.25
    assert time_stamp_s(1_388_319_125 * 2**24) == pytest.approx(1_388_319_125.0)
    assert earth_radius_m(np.array([7e6, 0, 0])) == pytest.approx(6_378_137.0)  # WGS84 a
    assert earth_radius_m(np.array([0, 0, 7e6])) == pytest.approx(6_356_752.3142)  # WGS84 b
    assert [ECC_SWATH[e] for e in (1, 4, 5, 6, 10, 11, 27)] == [1, 4, 5, 6, 5, 1, 6]
    assert 8 not in ECC_SWATH and 9 not in ECC_SWATH  # IW and wave mode: no stripmap beam
    # a product with rank 9, PRI 21861, SWST 16055 (codes of 1/F_ref), decimation code 8
    records = [{"pri": 21861, "swst": 16055, "rank": 9, "range_decimation": 8,
                "tx_ramp_rate": 0x8000 | 2395, "tx_pulse_length": 1501}] * 4  # fmt: skip
    params = level0_parameters({"metadata": records})
    g = maya4_geometry({"metadata": records}, "p.zarr", ["velocity_mps=7100"], shape=(2048, 32))
    assert g.prf_hz == pytest.approx(F_REF / 21861, rel=1e-14)
    delay = (9 * 21861 + 16055 + 320 / 8) / F_REF
    assert g.near_range_m == pytest.approx(C_LIGHT / 2 * delay, rel=1e-14)
    assert g.range_spacing_m == pytest.approx(C_LIGHT / (2 * 12 / 7 * F_REF), rel=1e-14)
    assert g.range_bandwidth_hz == pytest.approx(2395 * F_REF**2 / 2**21 * 1501 / F_REF)
    assert g.wavelength_m == pytest.approx(C_LIGHT / 5.405e9) and g.antenna_length_m == 12.3
    assert params.rank == 9 and params.range_decimation == 8


def test_polarisation_from_the_pol_code_and_the_rx_channel():
    assert polarization_from_codes(6, None) == "vv" and polarization_from_codes(1, 0) == "hh"
    assert polarization_from_codes(7, 1) == "vh" and polarization_from_codes(7, 0) == "vv"
    assert polarization_from_codes(3, 0) == "hv" and polarization_from_codes(5, None) == "vh"
    with pytest.raises(ValueError, match="Rx channel"):
        polarization_from_codes(3, None)
    base = level0_geometry(get_preset("demo"))
    codes = encode_level0(base)
    for pol in ("hh", "hv", "vh", "vv"):
        recs = packet_records(base, codes, 1.4e9, pol, 3, 1)
        assert level0_parameters({"metadata": recs}).polarization == pol


def test_effective_velocity_is_the_exact_quadratic_term_on_a_sphere():
    """Circular polar orbit over the equator (where Re = a): R(t)^2 from the orbit has
    quadratic coefficient Vs Vg, so sqrt(Vs Vg) is exact to second order there."""
    a, H, vs, beta = 6_378_137.0, 6_378_137.0 + 693e3, 7600.0, 0.11
    target = a * np.array([np.cos(beta), np.sin(beta), 0.0])
    t = np.linspace(-0.5, 0.5, 201)
    sat = H * np.stack([np.cos(vs / H * t), 0 * t, np.sin(vs / H * t)], axis=1)
    r2 = np.sum((sat - target) ** 2, axis=1)
    quad = np.polyfit(t, r2, 4)[2]  # coefficient of t^2
    r0 = math.sqrt(r2[100])
    v = effective_velocity(np.array([H, 0, 0]), np.array([0, 0, vs]), r0)
    assert v == pytest.approx(math.sqrt(quad), rel=1e-9)
    with pytest.raises(ValueError, match="does not reach the ground"):
        effective_velocity(np.array([H, 0, 0]), np.array([0, 0, vs]), 600e3)


# --- missing fields and overrides -------------------------------------------------------------
def _without(attrs: dict, column: str) -> dict:
    out = copy.deepcopy(attrs)
    for record in out["metadata"]["data"]:
        del record[column]
    return out


@pytest.mark.parametrize(
    ("column", "keys"),
    [
        ("swst", ["near_range_m"]),
        ("rank", ["near_range_m"]),
        ("pri", ["prf_hz", "near_range_m"]),
        ("range_decimation", ["range_spacing_m"]),
        ("tx_ramp_rate", ["range_bandwidth_hz"]),
        ("tx_pulse_length", ["range_bandwidth_hz"]),
    ],
)
def test_a_missing_field_is_named_with_the_override_that_replaces_it(demo_attrs, column, keys):
    attrs, name = demo_attrs
    broken = _without(attrs, column)
    with pytest.raises(ProductError) as err:
        maya4_geometry(broken, name)
    message = str(err.value)
    assert name in message and f"'{column}'" in message and "\n" not in message
    for key in keys:
        assert f"--geometry {key}=" in message
    truth = maya4_geometry(attrs, name)
    fixed = maya4_geometry(broken, name, [f"{k}={getattr(truth, k)!r}" for k in keys])
    assert fixed == truth
    nulls = copy.deepcopy(attrs)  # sarpyx writes NaN as null (None) or, earlier, 'null'
    for i, record in enumerate(nulls["metadata"]["data"]):
        record[column] = None if i % 2 else "null"
    with pytest.raises(ProductError, match=f"'{column}'"):
        maya4_geometry(nulls, name)


def test_missing_ephemeris_and_missing_metadata(demo_attrs):
    attrs, name = demo_attrs
    truth = maya4_geometry(attrs, name)
    no_orbit = {k: v for k, v in attrs.items() if k != "ephemeris"}
    with pytest.raises(ProductError, match=r"'ephemeris'.*--geometry velocity_mps="):
        maya4_geometry(no_orbit, name)
    assert maya4_geometry(no_orbit, name, {"velocity_mps": truth.velocity_mps}) == truth
    gone = copy.deepcopy(attrs)
    for record in gone["ephemeris"]["data"]:
        del record["vx"]
    with pytest.raises(ProductError, match=r"\['vx'\]"):
        maya4_geometry(gone, name)
    with pytest.raises(ProductError) as err:
        maya4_geometry({}, name)
    for key in ("prf_hz", "near_range_m", "range_spacing_m", "range_bandwidth_hz", "n_azimuth",
                "n_range", "velocity_mps"):  # fmt: skip
        assert f"--geometry {key}=" in str(err.value)
    keys = ("prf_hz", "near_range_m", "range_spacing_m", "range_bandwidth_hz", "velocity_mps")
    given = {k: getattr(truth, k) for k in keys}
    assert maya4_geometry({}, name, given, shape=(256, 16)) == truth


def test_velocity_uses_the_ephemeris_at_the_packets_time(demo_attrs):
    attrs, name = demo_attrs
    truth = maya4_geometry(attrs, name)
    params = level0_parameters(attrs, name)
    assert params.velocity_source.startswith("state vector interpolated")
    shifted = copy.deepcopy(attrs)
    for record in shifted["ephemeris"]["data"]:
        record["time_stamp"] += 1000 * 2**24
    with pytest.raises(ProductError, match=r"outside the ephemeris times.*velocity_mps="):
        maya4_geometry(shifted, name)
    untimed = copy.deepcopy(attrs)
    for record in untimed["ephemeris"]["data"]:
        del record["time_stamp"]
    assert level0_parameters(untimed, name).velocity_source.startswith("middle ephemeris record")
    assert maya4_geometry(untimed, name).velocity_mps == pytest.approx(truth.velocity_mps, rel=1e-5)


def test_overrides_replace_decoded_values(demo_attrs):
    attrs, name = demo_attrs
    truth = maya4_geometry(attrs, name)
    got = maya4_geometry(
        attrs, name, ["prf_hz=1700", "velocity_mps=7000.5", "window_alpha=0.5", "n_range=12"]
    )
    assert (got.prf_hz, got.velocity_mps, got.window_alpha, got.n_range) == (1700, 7000.5, 0.5, 12)
    assert (truth.n_azimuth, truth.n_range) == (256, 16)  # records and 2 x number_of_quads
    assert got.near_range_m == truth.near_range_m and got.range_spacing_m == truth.range_spacing_m


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("prf_hz", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("prf=1717", "unknown key 'prf'"),
        ("prf_hz=fast", "finite number"),
        ("prf_hz=nan", "finite number"),
        ("prf_hz=-1", "must be positive"),
        ("n_range=1.5", "positive integer"),
        ("antenna_weighting=maybe", "true or false"),
    ],
)
def test_bad_overrides_are_config_errors_naming_the_item(item, match):
    with pytest.raises(ConfigError, match=match) as err:
        geometry_overrides([item])
    assert repr(item) in str(err.value)


def test_override_parsing():
    got = geometry_overrides(["prf_hz=1717", "n_range = 32", "antenna_weighting=false"])
    assert got == {"prf_hz": 1717.0, "n_range": 32, "antenna_weighting": False}
    assert isinstance(got["n_range"], int) and geometry_overrides(None) == {}
    with pytest.raises(ConfigError, match="given twice"):
        geometry_overrides(["prf_hz=1", "prf_hz=2"])


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("pri", -3, "not a positive pulse repetition interval"),
        ("rank", 40, "5-bit rank"),
        ("range_decimation", 2, "unknown range decimation code"),
        ("swst", "soon", "not a number"),
    ],
)
def test_impossible_values_name_the_column_and_value(demo_attrs, column, value, match):
    attrs, name = demo_attrs
    bad = copy.deepcopy(attrs)
    bad["metadata"]["data"][0][column] = value
    with pytest.raises(ProductError, match=match) as err:
        maya4_geometry(bad, name)
    assert name in str(err.value) and repr(column) in str(err.value)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"metadata": "pri=1"}, "attribute 'metadata' is a str"),
        ({"metadata": [1, 2]}, "holds int entries"),
        ({"metadata": []}, "missing attribute 'metadata'"),
        ({"metadata_columns": "pri"}, "'metadata_columns' is not a list"),
        ({"ephemeris_dtypes": ["float64"]}, "'ephemeris_dtypes' is not a dict"),
    ],
)
def test_malformed_attributes_are_product_errors(demo_attrs, change, match):
    attrs, name = demo_attrs
    with pytest.raises(ProductError, match=match) as err:
        maya4_geometry({**attrs, **change}, name)
    assert name in str(err.value)


def test_name_and_packets_must_agree(demo_attrs):
    attrs, name = demo_attrs
    with pytest.raises(ProductError, match=r"polarisation 'hh'.*'vv'"):
        maya4_geometry(attrs, name.replace("-vv-", "-hh-"))
    with pytest.raises(ProductError, match=r"swath s3.*s1"):
        maya4_geometry(attrs, name.replace("-s1-", "-s3-"))
    assert parse_group_name("demo-mixed-seed0-0000.zarr") is None
    assert maya4_geometry(attrs, "renamed.zarr") == maya4_geometry(attrs, name)


def test_a_field_that_varies_along_the_product_is_reported(demo_attrs):
    attrs, name = demo_attrs
    varied = copy.deepcopy(attrs)
    for record in varied["metadata"]["data"][128:]:
        record["swst"] += 10 / F_REF
    params = level0_parameters(varied, name)
    assert list(params.varying) == ["swst"]
    summary = json.loads(json.dumps(params.as_dict()))  # what `inspect --json` can print
    assert summary["rank"] == 0 and summary["name"]["polarization"] == "vv"
    first = maya4_geometry(attrs, name)
    assert maya4_geometry(varied, name).near_range_m == first.near_range_m  # the first line's


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prf=st.floats(1100.0, 3000.0),
    near=st.floats(50e3, 1.1e6),
    spacing=st.floats(1.3, 9.0),
    bandwidth=st.floats(10e6, 100e6),
    velocity=st.floats(6800.0, 7600.0),
)
def test_level0_encoding_round_trips_any_geometry(prf, near, spacing, bandwidth, velocity):
    """encode -> records -> decode gives the snapped geometry (Level-0 fields exactly), and
    snapping moves near range by at most half an SWST step and PRF by half a PRI step."""
    base = get_preset("s1-stripmap").replace(
        prf_hz=prf, near_range_m=near, range_spacing_m=spacing, range_bandwidth_hz=bandwidth,
        velocity_mps=velocity, n_azimuth=2048, n_range=8,
    )  # fmt: skip
    snapped, codes = level0_geometry(base), encode_level0(base)
    start = 1.4e9
    attrs = layout_attrs(
        packet_records(snapped, codes, start, "vv", 1, 1),
        orbit_records(snapped, start, codes.pri_s),
        "records",
    )
    decoded = maya4_geometry(attrs, None)
    assert decoded.prf_hz == snapped.prf_hz and decoded.near_range_m == snapped.near_range_m
    assert decoded.range_spacing_m == snapped.range_spacing_m
    assert abs(decoded.velocity_mps / velocity - 1.0) < 1e-6
    assert abs(snapped.near_range_m - near) <= C_LIGHT / (4 * F_REF) * (1 + 1e-9)
    assert abs(snapped.prf_hz / prf - 1.0) <= 0.5 / codes.pri + 1e-12


# --- the huge sparse product ------------------------------------------------------------------
def test_sparse_product_is_mostly_absent_chunks(tmp_path):
    path = write_sparse_product(tmp_path, 5000, 6000, blocks=3, chunks=(1024, 512))
    product = open_product(path)
    assert product.shape == (5000, 6000) and product.levels == ["raw", "rc", "rcmc", "az"]
    assert not list((path / "raw").rglob("c/*/*"))
    written = list((path / "rc").rglob("c/*/*"))
    assert 3 <= len(written) <= 12  # each 2048 x 32 block touches at most 4 chunks of 1024 x 512
    g = product.geometry
    assert (g.n_azimuth, g.n_range) == (5000, 6000)
    assert abs(g.near_range_m - 800_000.0) <= g.range_spacing_m and g.velocity_mps == pytest.approx(
        7100.0, rel=1e-6
    )
    r0, c0 = round(0.5 * (5000 - 2048)), round(0.5 * (6000 - 32))
    block = product.read("rc", slice(r0, r0 + 2048), slice(c0, c0 + 32))
    assert np.abs(block).max() > 1.0
    assert not np.any(product.read("rc", slice(0, 5000), slice(1000, 1016)))


@pytest.mark.slow
def test_full_size_sparse_product_opens_and_reads_within_memory(tmp_path):
    """20,000 x 25,000 (16 GB nominal): open, decode the geometry, read column strips, all
    in a fresh process whose peak RSS must stay under 2 GB."""
    path = write_sparse_product(tmp_path, 20_000, 25_000)
    script = textwrap.dedent(f"""
        import resource
        from sarssm.data.store import open_product
        product = open_product({str(path)!r})
        g = product.geometry
        assert (g.n_azimuth, g.n_range) == (20000, 25000)
        for c0 in range(0, 25000, 4096):
            product.read("rc", slice(None), slice(c0, c0 + 16))
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, check=True)  # fmt: skip
    peak_mb = int(out.stdout.split()[-1]) / 1024
    assert peak_mb < 2048, f"peak RSS {peak_mb:.0f} MB"
