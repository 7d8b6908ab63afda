"""Scenes: registry, point-target placement, clutter statistics, image-driven reflectivity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sarssm.errors import ConfigError
from sarssm.physics.geometry import get_preset
from sarssm.sim.scenes import (
    SCENES,
    get_scene,
    load_image_amplitude,
    make_scene,
    place_point_targets,
    smooth_gamma_texture,
)
from sarssm.sim.simulate import simulate_product


def test_registry_builds_every_scene(tmp_path):
    np.save(tmp_path / "img.npy", np.ones((8, 8)))
    assert sorted(SCENES) == ["clutter", "image", "mixed", "points"]
    geometry = get_preset("demo")
    for name in SCENES:
        image = tmp_path / "img.npy" if name == "image" else None
        refl = make_scene(name, geometry, np.random.default_rng(0), image=image)
        assert refl.points or refl.grid is not None
        if refl.grid is not None:
            assert refl.grid.shape == (geometry.n_azimuth, geometry.n_range)
    with pytest.raises(ConfigError, match="unknown scene 'nope'"):
        get_scene("nope")
    with pytest.raises(ConfigError, match="n_targets only applies"):
        make_scene("clutter", geometry, np.random.default_rng(0), n_targets=3)
    with pytest.raises(ConfigError, match="unexpected keyword"):
        make_scene("points", geometry, np.random.default_rng(0), colour="red")


@pytest.mark.parametrize("preset", ["demo", "s1-stripmap"])
@pytest.mark.parametrize("seed", range(5))
def test_point_targets_are_isolated_and_away_from_the_ends(preset, seed):
    geometry = get_preset(preset)
    gap = {"demo": 3, "s1-stripmap": 5}[preset]  # 2 + the largest range migration in bins
    targets = place_point_targets(geometry, np.random.default_rng(seed))
    aperture = np.ceil(np.max(geometry.aperture_samples()))
    assert 3 <= len(targets) <= 8
    for i, t in enumerate(targets):
        assert aperture < t.row < geometry.n_azimuth - 1 - aperture
        assert t.row != int(t.row)  # fractional rows
        assert isinstance(t.col, int) and gap <= t.col <= geometry.n_range - 1 - gap
        assert 1.0 <= t.amplitude <= 10.0 and -np.pi <= t.phase_rad <= np.pi
        for u in targets[:i]:
            assert abs(t.row - u.row) > 2 * aperture or abs(t.col - u.col) >= gap


def test_explicit_target_count_is_honoured_or_refused():
    geometry = get_preset("demo")
    assert len(place_point_targets(geometry, np.random.default_rng(0), n_targets=3)) == 3
    with pytest.raises(ConfigError, match="cannot place 40"):
        place_point_targets(geometry, np.random.default_rng(0), n_targets=40)
    with pytest.raises(ConfigError, match="positive"):
        place_point_targets(geometry, np.random.default_rng(0), n_targets=0)


def test_pure_speckle_focuses_to_exponential_intensity_and_uniform_phase():
    geometry = get_preset("demo").replace(n_range=64)
    product = simulate_product(
        geometry, "clutter", seed=5, scene_options={"texture": False, "n_regions": 0}
    )
    margin = int(np.ceil(np.max(geometry.aperture_samples())))  # partly focused rows left out
    az = product.arrays["az"][margin:-margin].astype(np.complex128)
    intensity = np.abs(az) ** 2
    assert abs(intensity.mean() / intensity.std() - 1.0) < 0.08  # exponential: mean = std
    # exponential shape: the 90 % quantile of I / mean(I) is ln(10)
    assert abs(np.quantile(intensity / intensity.mean(), 0.9) - np.log(10)) < 0.15
    phase = np.angle(az).ravel()
    ks = stats.kstest((phase + np.pi) / (2 * np.pi), "uniform").statistic
    assert ks < 0.04
    assert abs(np.mean(np.exp(1j * phase))) < 0.05


def test_region_brightness_ordering_survives_focusing():
    geometry = get_preset("demo").replace(n_range=48)
    product = simulate_product(geometry, "clutter", seed=8, scene_options={"n_regions": 3})
    regions = product.attrs["scene_info"]["regions"]
    assert len(regions) == 3 and len({r["intensity"] for r in regions}) == 3
    az = product.arrays["az"]
    means = []
    for reg in regions:
        (r0, r1), (c0, c1) = reg["rows"], reg["cols"]
        assert r1 - r0 >= 16
        means.append(np.mean(np.abs(az[r0 + 4 : r1 - 4, c0 + 1 : c1 - 1]) ** 2))
    order = np.argsort([r["intensity"] for r in regions])
    assert list(np.argsort(means)) == list(order)


def test_dark_band_is_dark_by_the_requested_amount():
    geometry = get_preset("demo").replace(n_azimuth=512, n_range=32)
    options = {"n_regions": 0, "dark_rows": (200, 400), "dark_db": 30.0}
    refl = make_scene("clutter", geometry, np.random.default_rng(2), **options)
    power = np.abs(refl.grid) ** 2
    ratio_db = 10 * np.log10(power[200:400].mean() / np.r_[power[:200], power[400:]].mean())
    assert ratio_db == pytest.approx(-30.0, abs=1.0)  # speckle and texture: +-1 dB
    assert refl.info["dark_rows"] == [200, 400] and refl.info["dark_db"] == 30.0
    with pytest.raises(ConfigError, match="dark_rows"):
        make_scene("clutter", geometry, np.random.default_rng(2), dark_rows=(400, 200))


def test_texture_is_smooth_with_a_gamma_marginal():
    rng = np.random.default_rng(0)
    t = smooth_gamma_texture((512, 256), rng, looks=4.0, smooth_px=4.0)
    assert t.min() > 0
    assert abs(t.mean() - 1) < 0.05 and abs(t.var() - 0.25) < 0.05  # Gamma(4, 1/4)
    neighbour = np.corrcoef(t[:, :-1].ravel(), t[:, 1:].ravel())[0, 1]
    assert neighbour > 0.8  # spatially smooth, unlike white speckle


def test_image_scene_follows_the_image(tmp_path):
    from PIL import Image

    picture = np.full((64, 32), 20, np.uint8)
    picture[:, 16:] = 200  # right half bright (range columns 8.. after resizing to 16)
    Image.fromarray(picture).save(tmp_path / "half.png")
    geometry = get_preset("demo")
    amp = load_image_amplitude(tmp_path / "half.png", (256, 16))
    assert amp.shape == (256, 16) and abs(np.mean(amp**2) - 1) < 1e-9
    product = simulate_product(geometry, "image", seed=1, image=tmp_path / "half.png")
    az = np.abs(product.arrays["az"][80:-80]) ** 2
    assert az[:, 10:].mean() > 30 * az[:, :6].mean()  # (200 / 20)^2 = 100 in intensity
    np.save(tmp_path / "half.npy", picture.astype(float))
    np.testing.assert_allclose(
        load_image_amplitude(tmp_path / "half.npy", (256, 16)), amp, rtol=1e-5
    )


def test_image_errors_are_clear(tmp_path):
    shape = (256, 16)
    with pytest.raises(ConfigError, match="not found"):
        load_image_amplitude(tmp_path / "missing.png", shape)
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ConfigError, match="not a readable image"):
        load_image_amplitude(tmp_path / "junk.png", shape)
    (tmp_path / "junk.npy").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match=r"not a readable \.npy"):
        load_image_amplitude(tmp_path / "junk.npy", shape)
    np.save(tmp_path / "cube.npy", np.ones((4, 4, 7)))
    with pytest.raises(ConfigError, match="2-D"):
        load_image_amplitude(tmp_path / "cube.npy", shape)
    np.save(tmp_path / "zeros.npy", np.zeros((4, 4)))
    with pytest.raises(ConfigError, match="all zeros"):
        load_image_amplitude(tmp_path / "zeros.npy", shape)
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan))
    with pytest.raises(ConfigError, match="NaN"):
        load_image_amplitude(tmp_path / "nan.npy", shape)
