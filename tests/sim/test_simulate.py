"""Simulator: the two forward paths agree, noise level, seeds, products written by `simulate`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sarssm.data.store import open_product
from sarssm.errors import ConfigError, ProductError
from sarssm.physics.geometry import get_preset
from sarssm.sim.scenes import PointTarget
from sarssm.sim.simulate import (
    product_name,
    simulate,
    simulate_distributed,
    simulate_point_targets,
    simulate_product,
)


def nmse_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    return 10 * math.log10(
        np.sum(np.abs(estimate - reference) ** 2) / np.sum(np.abs(reference) ** 2)
    )


# Measured (16 columns, target mid-product, near range anywhere in the swath): demo -29.9 to
# -30.1 dB, s1-stripmap -35.6 to -35.8 dB. The residual is at the support ends, |f| = PRF/2,
# where the time path cuts the chirp off at 0.095 of its peak amplitude (a Fresnel ripple in
# its spectrum that the stationary-phase spectrum lacks), and the stationary-phase
# approximation itself (O(1 / TBP)).
@pytest.mark.parametrize(("preset", "bound_db"), [("demo", -29.5), ("s1-stripmap", -35.0)])
def test_time_domain_and_inverse_processor_paths_agree(preset, bound_db):
    geometry = get_preset(preset)
    row, col = geometry.n_azimuth // 2, 8
    rc_time = simulate_point_targets(geometry, [PointTarget(row, col, 1.0, 0.0)])
    grid = np.zeros((geometry.n_azimuth, geometry.n_range), complex)
    grid[row, col] = 1.0
    rc_freq = simulate_distributed(geometry, grid)
    assert nmse_db(rc_freq, rc_time) < bound_db


def test_paths_agree_for_complex_amplitudes():
    geometry = get_preset("demo")
    sigma = 4.0 * np.exp(-1.3j)
    rc_time = simulate_point_targets(geometry, [PointTarget(100.0, 5, 4.0, -1.3)])
    grid = np.zeros((256, 16), complex)
    grid[100, 5] = sigma
    assert nmse_db(simulate_distributed(geometry, grid), rc_time) < -29.5


def test_noise_has_the_requested_snr():
    geometry = get_preset("demo")
    clean = simulate_product(geometry, "mixed", seed=3)
    for snr in (-5.0, 10.0, 25.0):
        noisy = simulate_product(geometry, "mixed", seed=3, snr_db=snr)
        signal = clean.arrays["rc"].astype(np.complex128)
        noise = noisy.arrays["rc"] - signal
        measured = 10 * np.log10(np.mean(np.abs(signal) ** 2) / np.mean(np.abs(noise) ** 2))
        assert abs(measured - snr) < 0.5
        # circular: real and imaginary parts carry equal power, uncorrelated
        assert abs(np.mean(noise.real**2) / np.mean(noise.imag**2) - 1) < 0.1
        assert abs(np.mean(noise.real * noise.imag)) < 0.05 * np.mean(np.abs(noise) ** 2)
        assert noisy.attrs["snr_db"] == snr
    # az is the reference processor's output of the noisy rc, not of the clean one
    from sarssm.focus import focus_rc

    np.testing.assert_array_equal(noisy.arrays["az"], focus_rc(noisy.arrays["rc"], geometry)["az"])


@pytest.mark.parametrize("scene", ["points", "clutter", "mixed"])
def test_same_seed_is_bit_identical_and_other_seeds_differ(scene):
    geometry = get_preset("demo")
    a = simulate_product(geometry, scene, seed=11, snr_db=15.0)
    b = simulate_product(geometry, scene, seed=11, snr_db=15.0)
    c = simulate_product(geometry, scene, seed=12, snr_db=15.0)
    for level in ("rc", "rcmc", "az"):
        assert a.arrays[level].dtype == np.complex64
        assert a.arrays[level].tobytes() == b.arrays[level].tobytes()
        assert not np.array_equal(a.arrays[level], c.arrays[level])
    assert a.attrs["point_targets"] == b.attrs["point_targets"]


def test_simulate_writes_products_with_their_own_geometry(tmp_path):
    seen = []
    paths = simulate(
        tmp_path,
        "demo",
        "points",
        n_products=3,
        seed=4,
        snr_db=20.0,
        progress=False,
        callback=lambda path, product: seen.append(path),
    )
    assert paths == seen
    assert [p.name for p in paths] == [product_name("demo", "points", 4, i) for i in range(3)]
    base = get_preset("demo")
    near = []
    for i, path in enumerate(paths):
        product = open_product(path)
        assert product.levels == ["rc", "rcmc", "az"]
        assert product.shape == (base.n_azimuth, base.n_range)
        attrs = product.attrs
        assert attrs["seed"] == 4 + i and attrs["preset"] == "demo" and attrs["scene"] == "points"
        assert attrs["snr_db"] == 20.0
        assert attrs["window"] == {"type": "generalized_hamming", "alpha": 0.75}
        assert attrs["processed_bandwidth_hz"] == pytest.approx(base.doppler_bandwidth_hz)
        assert 3 <= len(product.point_targets) <= 8
        g = product.geometry
        far = g.near_range_m + (g.n_range - 1) * g.range_spacing_m
        assert base.swath_near_m <= g.near_range_m and far <= base.swath_far_m
        near.append(g.near_range_m)
        # the stored product is the one simulate_product makes from the recorded geometry
        again = simulate_product(g, "points", attrs["seed"], snr_db=20.0)
        np.testing.assert_array_equal(product.read("az"), again.arrays["az"])
    assert len(set(near)) == 3  # Ka varies between products


def test_near_range_and_rows_overrides(tmp_path):
    """Products outside the preset's swath (to test a model there) and of another length."""
    base = get_preset("demo")
    near = base.swath_far_m + 2_000.0
    paths = simulate(
        tmp_path, "demo", "points", 2, seed=3, near_range_m=near, n_azimuth=512, progress=False
    )
    for path in paths:
        g = open_product(path).geometry
        assert g.near_range_m == near and g.n_azimuth == 512
        assert open_product(path).shape == (512, base.n_range)


def test_simulate_refuses_to_clobber_without_overwrite(tmp_path):
    (path,) = simulate(tmp_path, "demo", "clutter", 1, seed=0, progress=False)
    before = open_product(path).read("rc")
    with pytest.raises(ProductError, match=path.name):
        simulate(tmp_path, "demo", "clutter", 1, seed=0, snr_db=0.0, progress=False)
    np.testing.assert_array_equal(open_product(path).read("rc"), before)
    simulate(tmp_path, "demo", "clutter", 1, seed=0, snr_db=0.0, overwrite=True, progress=False)
    assert not np.array_equal(open_product(path).read("rc"), before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "s2-stripmap"}, "unknown preset"),
        ({"scene": "forest"}, "unknown scene"),
        ({"n_products": 0}, ">= 1"),
        ({"n_products": -2}, ">= 1"),
        ({"snr_db": float("nan")}, "finite"),
        ({"snr_db": float("inf")}, "finite"),
        ({"seed": -1}, "non-negative"),
        ({"scene": "image"}, "needs an image"),
        ({"scene": "image", "image": "/no/such/file.png"}, "not found"),
        ({"scene": "points", "image": "/no/such/file.png"}, "only applies"),
        ({"near_range_m": -5.0}, "near_range_m must be a positive"),
        ({"near_range_m": float("nan")}, "near_range_m must be a positive"),
        ({"n_azimuth": 0}, "n_azimuth must be a positive integer"),
        ({"n_azimuth": 64}, "longer than the column"),
    ],
)
def test_bad_requests_raise_config_errors(tmp_path, kwargs, message):
    args = {"preset": "demo", "scene": "points", "n_products": 1, "seed": 0, **kwargs}
    with pytest.raises(ConfigError, match=message):
        simulate(tmp_path / "out", progress=False, **args)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_negative_snr_is_allowed():
    product = simulate_product(get_preset("demo"), "points", seed=0, snr_db=-10.0)
    assert product.attrs["snr_db"] == -10.0


def test_levels_write_unlabelled_products(tmp_path):
    import pytest

    from sarssm.data.store import open_product
    from sarssm.errors import ConfigError
    from sarssm.sim.simulate import simulate

    (path,) = simulate(tmp_path, "demo", "clutter", 1, 3, progress=False, levels=["rc"])
    product = open_product(path)
    assert product.levels == ["rc"] and product.attrs["levels"] == ["rc"]
    with pytest.raises(ConfigError, match="levels"):
        simulate(tmp_path / "b", "demo", "clutter", 1, 3, progress=False, levels=["raw"])
