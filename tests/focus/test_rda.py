"""Reference range-Doppler processor: point-target focusing, RCMC, filters, block processing."""

from __future__ import annotations

import numpy as np
import pytest

from sarssm.errors import ConfigError
from sarssm.focus import azimuth_compress, focus_rc, rcmc
from sarssm.focus.rda import fft_length
from sarssm.physics import (
    azimuth_matched_filter,
    azimuth_transfer,
    effective_weighting,
    migration_bins,
)
from sarssm.physics.geometry import get_preset
from sarssm.sim.scenes import PointTarget
from sarssm.sim.simulate import simulate_distributed, simulate_point_targets


def upsampled_peak(cut: np.ndarray, factor: int = 32) -> tuple[float, complex]:
    """(position in input samples, complex value) of the maximum of an FFT-upsampled cut."""
    n = cut.size
    spec = np.fft.fft(cut)
    padded = np.zeros(n * factor, dtype=complex)
    half = n // 2
    padded[:half], padded[-(n - half) :] = spec[:half], spec[half:]
    up = np.fft.ifft(padded) * factor
    i = int(np.argmax(np.abs(up)))
    return i / factor, complex(up[i])


def focus_one_target(geometry, target: PointTarget) -> np.ndarray:
    rc = simulate_point_targets(geometry, [target]).astype(np.complex64)
    return focus_rc(rc, geometry)["az"]


def check_focus(
    az: np.ndarray, target: PointTarget, half: int = 32, amplitude_tol: float = 0.002
) -> None:
    """Peak position to 0.01 sample, amplitude to 0.2 %, phase to 0.01 rad: a 1 % error in the
    matched filter's FM rate moves the demo peak's phase by 0.057 rad and fails here."""
    lo = round(target.row) - half
    cut = az[lo : lo + 2 * half, target.col].astype(np.complex128)
    pos, value = upsampled_peak(cut, factor=128)
    assert abs(lo + pos - target.row) < 0.01
    assert abs(abs(value) / target.amplitude - 1.0) < amplitude_tol
    phase_error = np.angle(value * np.exp(-1j * target.phase_rad))
    assert abs(phase_error) < 0.01


@pytest.mark.parametrize("row_offset", [0.0, 0.37, -0.25])
@pytest.mark.parametrize("col", [3, 8])
def test_demo_point_target_focuses_at_position_amplitude_phase(row_offset, col):
    geometry = get_preset("demo")
    target = PointTarget(row=128 + row_offset, col=col, amplitude=3.5, phase_rad=2.1)
    check_focus(focus_one_target(geometry, target), target)


@pytest.mark.parametrize("row_offset", [0.0, 0.43])
def test_s1_stripmap_point_target_focuses(row_offset):
    # 32 columns: the range pulse of a migrating target spreads over neighbouring bins (the
    # bins sample it at its resolution), and what falls outside the product is lost; with the
    # target 16 bins from either edge that loss is about 0.35 % of the peak.
    geometry = get_preset("s1-stripmap").replace(n_range=32, near_range_m=880_000.0)
    target = PointTarget(row=1000 + row_offset, col=16, amplitude=7.0, phase_rad=-2.9)
    az = focus_one_target(geometry, target)
    check_focus(az, target, amplitude_tol=0.005)
    # range: after RCMC the target is back in its own bin (p at integer offsets is ~0)
    line = np.abs(az[round(target.row)])
    assert line[16] > 20 * np.max(np.delete(line, 16))


def test_rcmc_moves_migrated_energy_back_into_the_target_column():
    geometry = get_preset("s1-stripmap").replace(n_range=32)
    target = PointTarget(row=1024.0, col=12, amplitude=1.0, phase_rad=0.0)
    rc = simulate_point_targets(geometry, [target]).astype(np.complex64)
    # independent check of the migration: at the processed band edge it is most of a bin
    assert 0.5 < migration_bins(geometry, geometry.doppler_bandwidth_hz / 2, 850e3) < 1.0

    def rd_energy_share(x):  # share of the range-Doppler energy in the target's column
        spec = np.abs(np.fft.fft(x, axis=0)) ** 2
        return spec[:, target.col].sum() / spec.sum()

    assert rd_energy_share(rc) < 0.8
    assert rd_energy_share(rcmc(rc, geometry)) > 0.99


def test_focus_rc_equals_its_stages():
    geometry = get_preset("demo")
    rng = np.random.default_rng(0)
    rc = (rng.standard_normal((256, 16)) + 1j * rng.standard_normal((256, 16))).astype(np.complex64)
    out = focus_rc(rc, geometry)
    assert out["rcmc"].dtype == np.complex64 and out["az"].dtype == np.complex64
    assert out["az"].shape == rc.shape
    np.testing.assert_array_equal(out["rcmc"], rcmc(rc, geometry))
    np.testing.assert_array_equal(out["az"], azimuth_compress(out["rcmc"], geometry))


def test_transfer_matches_the_spectrum_of_the_exact_chirp():
    # Independent of the simulator's frequency path: the numerical DFT of one long, exact
    # time-domain column against the stationary-phase spectrum, inside the processed band.
    # A coarse range resolution (1.5 km) keeps the migrating target inside its one column.
    geometry = get_preset("s1-stripmap").replace(n_range=1, n_azimuth=4096, range_bandwidth_hz=1e5)
    n = geometry.n_azimuth
    column = simulate_point_targets(geometry, [PointTarget(2048.0, 0, 1.0, 0.0)])[:, 0]
    spectrum = np.fft.fft(column) * np.exp(2j * np.pi * np.fft.fftfreq(n) * 2048)  # to row 0
    expected = azimuth_transfer(geometry, [0], n)[:, 0]
    band = np.abs(geometry.doppler_frequencies(n)) <= geometry.doppler_bandwidth_hz / 2
    err = np.sum(np.abs(spectrum[band] - expected[band]) ** 2) / np.sum(np.abs(expected[band]) ** 2)
    assert 10 * np.log10(err) < -25
    # the constant phase -pi/4 and amplitude PRF / sqrt(Ka) at zero Doppler
    assert abs(np.angle(spectrum[0]) + np.pi / 4) < 0.05
    assert abs(abs(spectrum[0]) / (geometry.prf_hz / np.sqrt(geometry.ka(0))) - 1) < 0.02


def test_matched_filter_leaves_the_effective_weighting():
    geometry = get_preset("demo")
    n = fft_length(geometry, 256)
    cols = np.arange(4, 9)
    product = azimuth_matched_filter(geometry, cols, n) * azimuth_transfer(geometry, cols, n)
    f = geometry.doppler_frequencies(n)
    weighting = effective_weighting(geometry, f)
    expected = weighting / (weighting.sum() / n)  # normalised by the coherent gain
    np.testing.assert_allclose(product, np.repeat(expected[:, None], 5, axis=1), atol=1e-9)
    # a block's filter is the full product's filter restricted to the block's columns
    full = azimuth_matched_filter(geometry, None, n)
    np.testing.assert_allclose(azimuth_matched_filter(geometry, cols, n), full[:, 4:9])


def test_effective_weighting_is_window_times_antenna_gain():
    geometry = get_preset("demo")
    ba = geometry.doppler_bandwidth_hz
    f = np.array([0.0, 0.25 * ba, 0.5 * ba, 0.6 * ba])
    alpha, la, v = geometry.window_alpha, geometry.antenna_length_m, geometry.velocity_mps
    window = np.where(np.abs(f) <= ba / 2, alpha + (1 - alpha) * np.cos(2 * np.pi * f / ba), 0)
    gain = (np.sin(np.pi * la * f / (2 * v)) / (np.pi * la * f / (2 * v) + 1e-300)) ** 2
    gain[0] = 1.0
    np.testing.assert_allclose(effective_weighting(geometry, f), window * gain, rtol=1e-12)


def test_unit_target_from_the_frequency_path_focuses_to_one():
    geometry = get_preset("demo")
    grid = np.zeros((256, 16), complex)
    grid[128, 6] = 1.0
    az = focus_rc(simulate_distributed(geometry, grid).astype(np.complex64), geometry)["az"]
    assert abs(az[128, 6] - 1.0) < 2e-3


def test_no_wrap_around_between_column_ends():
    # A target at the first rows is only partly focused, but none of it appears at the far end
    # (the azimuth filters are linear convolutions through zero padding, not circular ones).
    geometry = get_preset("demo")
    target = PointTarget(row=5.0, col=8, amplitude=1.0, phase_rad=0.0)
    rc = simulate_point_targets(geometry, [target]).astype(np.complex64)
    az = focus_rc(rc, geometry)["az"]
    # circular processing leaves about 0.06 at the far end; here only the matched filter's far
    # sidelobes remain (its window steps at +-Ba/2), about -60 dB
    assert np.max(np.abs(az[-40:])) < 5e-3
    assert np.max(np.abs(az[:12, 8])) > 0.3


def test_block_with_cols_matches_the_full_product():
    geometry = get_preset("demo").replace(n_range=64)
    rng = np.random.default_rng(1)
    grid = rng.standard_normal((256, 64)) + 1j * rng.standard_normal((256, 64))
    rc = simulate_distributed(geometry, grid).astype(np.complex64)
    full = focus_rc(rc, geometry)["az"]
    block = focus_rc(rc[:, 16:48], geometry, cols=np.arange(16, 48))["az"]
    inner = slice(8, 24)  # away from the block edges, whose range neighbours are missing
    diff = block[:, inner] - full[:, 16:48][:, inner]
    assert np.sum(np.abs(diff) ** 2) / np.sum(np.abs(full[:, 24:40]) ** 2) < 1e-4


@pytest.mark.parametrize(
    ("rc", "cols", "message"),
    [
        (np.zeros((256,), np.complex64), None, "2-D"),
        (np.zeros((256, 4), np.float32), None, "complex"),
        (np.zeros((256, 4), np.complex64), [0, 1, 2], "columns"),
        (np.zeros((256, 4), np.complex64), [0, 2, 3, 4], "contiguous"),
        (np.zeros((256, 4), np.complex64), [0.5, 1.5, 2.5, 3.5], "integer"),
    ],
)
def test_bad_blocks_raise_config_errors(rc, cols, message):
    with pytest.raises(ConfigError, match=message):
        focus_rc(rc, get_preset("demo"), cols)
