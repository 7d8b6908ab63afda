import numpy as np
import pytest

from sarssm.errors import ConfigError
from sarssm.physics.geometry import PRESETS, Geometry, get_preset


def test_s1_preset_matches_sentinel1_stripmap_numbers():
    g = get_preset("s1-stripmap")
    # Ka = 2 V^2 / (lambda R0) at 850 km
    assert g.ka([0])[0] == pytest.approx(2 * 7100.0**2 / (0.05547 * 850e3))
    assert 800 <= g.aperture_samples([0])[0] <= 840  # about 820-sample aperture
    assert 470 <= g.tbp([0])[0] <= 510  # TBP about 490
    assert g.n_azimuth >= 1000
    # Ba = Ka * Ta does not depend on range
    assert g.doppler_bandwidth_hz == pytest.approx(g.ka([5])[0] * g.aperture_time([5])[0])


def test_demo_preset_is_scaled_down():
    g = get_preset("demo")
    assert 55 <= g.aperture_samples([0])[0] <= 75
    assert g.n_azimuth < get_preset("s1-stripmap").n_azimuth
    assert g.n_azimuth > 2 * g.aperture_samples().max()


def test_ka_varies_across_the_swath():
    g = get_preset("demo").replace(n_range=4)
    ka = g.ka()
    assert np.all(np.diff(ka) < 0)  # farther range, slower chirp
    assert ka[0] / ka[-1] == pytest.approx(g.slant_range()[-1] / g.slant_range()[0])


def test_window_and_antenna_closed_forms():
    g = get_preset("demo")
    bp = g.doppler_bandwidth_hz
    assert g.window(np.array([0.0]))[0] == pytest.approx(1.0)
    assert g.window(np.array([bp / 2]))[0] == pytest.approx(2 * 0.75 - 1)  # alpha - (1 - alpha)
    assert g.window(np.array([bp / 2 * 1.01]))[0] == 0.0
    # two-way pattern is -6 dB (amplitude 0.5) at the edge of the 3-dB beam
    edge = g.antenna_gain(np.array([bp / 2]))[0]
    assert edge == pytest.approx(0.5, abs=0.01)
    flat = g.replace(antenna_weighting=False)
    assert flat.antenna_gain(np.array([bp / 2]))[0] == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prf_hz": -1717.0}, "prf_hz must be a positive"),
        ({"prf_hz": 500.0}, "exceeds the PRF"),
        ({"n_azimuth": 40}, "longer than the column"),
        ({"window_alpha": 1.5}, "window_alpha"),
        ({"velocity_mps": float("nan")}, "velocity_mps"),
        ({"n_range": 0}, "n_range"),
    ],
)
def test_impossible_geometry_is_rejected(change, message):
    with pytest.raises(ConfigError, match=message):
        get_preset("demo").replace(**change)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="demo"):
        get_preset("ers")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_attrs_round_trip(name):
    g = get_preset(name)
    assert Geometry.from_attrs(g.to_attrs()) == g
    with pytest.raises(ConfigError, match="prf_hz"):
        Geometry.from_attrs({k: v for k, v in g.to_attrs().items() if k != "prf_hz"})
