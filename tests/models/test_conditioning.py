"""Range conditioning: the pre-filter maps a column at any slant range onto the reference one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarssm.errors import ConfigError
from sarssm.focus.rda import azimuth_compress, rcmc
from sarssm.models.conditioning import (
    COMPATIBLE_RTOL,
    RangePrefilter,
    ReferenceGeometry,
    auto_taps,
    prefilter_error_db,
    prefilter_taps,
    radar_mismatch_error_db,
    step_scale_error_db,
)
from sarssm.physics.geometry import get_preset
from sarssm.sim.scenes import PointTarget
from sarssm.sim.simulate import simulate_point_targets


def _nmse_db(a, b) -> float:
    return float(10 * np.log10(np.sum(np.abs(a - b) ** 2) / np.sum(np.abs(b) ** 2)))


@pytest.mark.parametrize("preset", ["demo", "s1-stripmap"])
def test_taps_fit_the_range_transfer_over_the_interval(preset):
    ref = ReferenceGeometry.from_preset(preset)
    J = auto_taps(ref)
    for r in np.linspace(ref.range_min_m, ref.range_max_m, 7):
        assert prefilter_error_db(ref, J, r) <= -40.0 + 1e-9
    # at the reference range the filter is the identity
    g = prefilter_taps(ref, J, np.array([ref.range_m]))[0]
    expected = np.zeros(2 * J + 1)
    expected[J] = 1.0
    np.testing.assert_allclose(g, expected, atol=1e-9)
    # one tap fewer misses the floor somewhere: J is the shortest that fits
    assert max(prefilter_error_db(ref, J - 1, r) for r in (ref.range_min_m, ref.range_max_m)) > -40


@pytest.mark.parametrize("offset_km", [-5.5, -3.0, 3.5, 5.8])
def test_prefilter_maps_a_target_onto_the_reference_range(offset_km):
    """A point target simulated exactly (time domain) at R0, pre-filtered and then focused with
    the reference column's matched filter, equals the same target simulated at R_ref and
    focused there; without the pre-filter the reference filter fails."""
    base = get_preset("demo").replace(n_range=9, n_azimuth=512)
    ref = ReferenceGeometry.from_preset("demo")
    target = PointTarget(row=250.3, col=4, amplitude=1.0, phase_rad=0.4)

    def column(r_centre: float) -> np.ndarray:  # rcmc of the target column at r_centre
        geo = base.replace(near_range_m=r_centre - 4 * base.range_spacing_m)
        rc = simulate_point_targets(geo, [target]).astype(np.complex64)
        return rcmc(rc, geo)[:, 4]

    r0 = ref.range_m + 1e3 * offset_km
    at_ref = base.replace(near_range_m=ref.range_m, n_range=1)
    truth = azimuth_compress(column(ref.range_m)[:, None], at_ref)[:, 0]
    x = torch.from_numpy(column(r0)).to(torch.complex128)[None, :, None]
    pre = RangePrefilter(ref, auto_taps(ref))
    mapped = pre(x, torch.tensor([r0]), causal=False)[0, :, 0].numpy()
    focused = azimuth_compress(mapped[:, None].astype(np.complex64), at_ref)[:, 0]
    unconditioned = azimuth_compress(column(r0)[:, None], at_ref)[:, 0]
    assert _nmse_db(focused, truth) < -35.0
    assert _nmse_db(unconditioned, truth) > -20.0


def test_prefilter_is_exactly_zero_where_its_input_is():
    ref = ReferenceGeometry.from_preset("demo")
    pre = RangePrefilter(ref, auto_taps(ref))
    x = torch.zeros(2, 60, 3, dtype=torch.complex128)
    x[:, 10:20] = torch.randn(2, 10, 3, dtype=torch.complex128)
    r = torch.tensor([61_000.0, 71_000.0])
    J = pre.J
    for causal, lo, hi in ((True, 10, 20 + 2 * J), (False, 10 - J, 20 + J)):
        y = pre(x, r, causal=causal)
        assert torch.equal(y[:, :lo], torch.zeros_like(y[:, :lo]))
        assert torch.equal(y[:, hi:], torch.zeros_like(y[:, hi:]))
        assert y[:, lo:hi].abs().amin(dim=1).max() > 0


def test_streamed_prefilter_equals_the_whole_column():
    ref = ReferenceGeometry.from_preset("demo")
    pre = RangePrefilter(ref, 4)
    x = torch.randn(3, 40, 2, dtype=torch.complex128)
    taps = pre.taps(torch.tensor([61_000.0, 66_300.0, 72_000.0]), x.dtype, x.device)
    whole, _ = pre.run(x, taps)
    parts, history = [], None
    for a, b in ((0, 1), (1, 9), (9, 40)):
        y, history = pre.run(x[:, a:b], taps, history)
        parts.append(y)
    torch.testing.assert_close(torch.cat(parts, 1), whole, rtol=0, atol=1e-14)


def test_products_of_another_radar_or_range_are_refused():
    ref = ReferenceGeometry.from_preset("demo")
    demo = get_preset("demo")
    ref.check(demo, demo.slant_range(), "p")  # the preset's own products are fine
    with pytest.raises(ConfigError, match=r"p: geometry.prf_hz = 1900 differs.*another radar"):
        ref.check(demo.replace(prf_hz=1900.0), demo.slant_range(), "p")
    with pytest.raises(ConfigError, match=r"p: columns span slant range 80\.000-.*outside"):
        ref.check(demo, np.array([80_000.0]), "p")
    with pytest.raises(ConfigError, match="slant_range must be a 1-D array of positive"):
        RangePrefilter(ref, 2).taps(torch.tensor([-1.0]), torch.complex64, torch.device("cpu"))


@pytest.mark.parametrize("preset", ["demo", "s1-stripmap"])
def test_step_size_scaling_would_not_be_enough(preset):
    """The alternative, dt * sqrt(Ka / Ka_ref), sets the chirp rate but stretches the band:
    its error at the swath edges is far above the pre-filter's."""
    ref = ReferenceGeometry.from_preset(preset)
    geo = get_preset(preset)
    J = auto_taps(ref)
    for r in (geo.swath_near_m, geo.swath_far_m):
        assert step_scale_error_db(ref, r) > -25.0
        assert prefilter_error_db(ref, J, r) < -40.0


def test_another_radar_is_mapped_to_its_chirp_equivalent_range():
    """A product whose V or PRF differs a little is conditioned on the range where the
    reference radar has its azimuth chirp per sample^2: exactly R0 for the reference radar,
    and a focusing error at the Doppler band's floor instead of the unmapped chirp error."""
    ref = ReferenceGeometry.from_preset("s1-stripmap")
    s1 = get_preset("s1-stripmap")
    r = s1.slant_range()
    assert np.array_equal(ref.check(s1, r, "p"), r)  # the reference radar: unchanged
    other = s1.replace(velocity_mps=s1.velocity_mps * 1.005, prf_hz=s1.prf_hz * 0.998)
    mapped = ref.check(other, r, "p")
    np.testing.assert_allclose(mapped, r / 1.005**2 * 0.998**2, rtol=1e-12)

    def chirp(v, lam, r0, prf):  # Ka / PRF^2: the azimuth chirp per sample^2
        return 2 * v**2 / (lam * r0) / prf**2

    np.testing.assert_allclose(
        chirp(ref.velocity_mps, ref.wavelength_m, mapped, ref.prf_hz),
        chirp(other.velocity_mps, other.wavelength_m, r, other.prf_hz), rtol=1e-12,
    )  # fmt: skip
    assert radar_mismatch_error_db(ref, other, 850e3) < -29.0
    assert radar_mismatch_error_db(ref, other, 850e3, mapped=False) > -3.0
    slightly = s1.replace(velocity_mps=s1.velocity_mps * 1.001)
    assert radar_mismatch_error_db(ref, slightly, 850e3) < -39.0
    assert radar_mismatch_error_db(ref, slightly, 850e3, mapped=False) > -15.0
    with pytest.raises(ConfigError, match=r"velocity_mps = 7242 differs.*tolerance 1.0%"):
        ref.check(s1.replace(velocity_mps=7242.0), r, "p")


def test_reference_from_products_accepts_any_radar_within_the_tolerance():
    s1 = get_preset("s1-stripmap").replace(n_range=25_000, near_range_m=800e3)
    products = [s1.replace(velocity_mps=v, prf_hz=p) for v, p in
                ((7080.0, 1717.0), (7100.0, 1718.0), (7130.0, 1716.0))]  # fmt: skip
    ref = ReferenceGeometry.from_geometries(products)
    assert (ref.velocity_mps, ref.prf_hz) == (7100.0, 1717.0)
    assert ref.wavelength_m == s1.wavelength_m and ref.window_alpha == s1.window_alpha
    for g in products:
        ref.check(g, g.slant_range(), "p")
    # a held-out product over the same ranges, V and PRF anywhere within the tolerance
    t = COMPATIBLE_RTOL * 0.999
    for v, p in ((1 - t, 1 + t), (1 + t, 1 - t)):
        g = s1.replace(velocity_mps=ref.velocity_mps * v, prf_hz=ref.prf_hz * p)
        ref.check(g, g.slant_range(), "p")
    assert ref.range_min_m < 800e3 and ref.range_max_m > s1.slant_range([24_999])[0]
    with pytest.raises(ConfigError, match="no products"):
        ReferenceGeometry.from_geometries([])
