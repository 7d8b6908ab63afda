"""Point-target measurement against independent references (closed forms and scipy quadrature).

The reference response of a generalised Hamming weighting W(f) = a + (1 - a) cos(2 pi f / B) over
|f| <= B/2 is the continuous transform h(t) = integral W(f) cos(2 pi f t) df, computed here with
scipy.integrate.quad (cross-checked against its closed form, a sum of three sincs); IRW, nulls,
PSLR and ISLR of h are found with scipy root finding, optimisation and quadrature, never with
the functions under test.
"""

import json
import math

import numpy as np
import pytest
from scipy import integrate, optimize

from sarssm.errors import ConfigError, ProductError
from sarssm.eval.pointtarget import (
    interpolate_at,
    measure_cut,
    measure_point_target,
    upsample_cut,
    wrap_phase,
)
from sarssm.eval.theory import impulse_response, theoretical_response, theory_for_geometry
from sarssm.physics.geometry import get_preset

B_REL = 0.6  # bandwidth / sampling rate of the synthetic cuts (the presets have 0.596)
CELLS = 10.0  # sidelobe window of the measurement, in IRW


def hamming_closed_form(t, alpha):
    """h(t) / B for W = alpha + (1 - alpha) cos(2 pi f / B), t in units of 1 / B."""
    t = np.asarray(t, dtype=np.float64)
    return alpha * np.sinc(t) + 0.5 * (1 - alpha) * (np.sinc(t - 1) + np.sinc(t + 1))


def reference_quality(alpha, weight=None):
    """IRW (in 1/B), first null, PSLR, ISLR of the continuous response, by numpy/scipy only.

    `weight(f)` (f in units of B, |f| <= 1/2, vectorised) defaults to the generalised Hamming
    window. h(t) = integral W(f) cos(2 pi f t) df by 400-node Gauss-Legendre quadrature (exact
    to rounding for |t| < 40 since W is smooth inside the band), checked against adaptive
    scipy.integrate.quad at a few points.
    """
    if weight is None:

        def weight(f):
            return alpha + (1 - alpha) * np.cos(2 * np.pi * f)

    nodes, wts = np.polynomial.legendre.leggauss(400)
    f, wf = nodes / 2, wts / 2 * weight(nodes / 2)  # nodes on [-1/2, 1/2]

    def h(t):
        t = np.asarray(t, dtype=np.float64)
        return np.cos(2 * np.pi * np.multiply.outer(t, f)) @ wf

    for t in (0.0, 0.7, 3.3, 9.1):

        def integrand(x, t=t):
            return weight(x) * np.cos(2 * np.pi * x * t)

        assert h(t) == pytest.approx(integrate.quad(integrand, -0.5, 0.5)[0], abs=1e-10)
    h0 = float(h(0.0))

    def g(t):
        return h(t) / h0

    half_irw = optimize.brentq(lambda t: g(t) - 1 / math.sqrt(2), 1e-6, 1.0, xtol=1e-12)
    irw = 2 * half_irw
    # first null (or minimum of |h|) beyond the -3 dB point
    grid = np.linspace(half_irw, 4.0, 4000)
    vals = np.abs(g(grid))
    i0 = int(np.argmax(np.diff(vals) > 0))  # first rise of |h|: the minimum is just before
    null = optimize.minimize_scalar(
        lambda t: abs(g(t)),
        bounds=(grid[i0 - 1], grid[i0 + 1]),
        method="bounded",
        options={"xatol": 1e-10},
    ).x
    edge = CELLS * irw
    # highest sidelobe: scan, then polish the best lobe
    grid = np.linspace(null, edge, 20000)
    vals = np.abs(g(grid))
    j = int(np.argmax(vals))
    peak = -optimize.minimize_scalar(
        lambda t: -abs(g(t)),
        bounds=(grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]),
        method="bounded",
        options={"xatol": 1e-10},
    ).fun
    pslr = 20 * math.log10(peak)
    main = integrate.quad(lambda t: g(t) ** 2, 0.0, null, limit=200)[0]
    side = integrate.quad(lambda t: g(t) ** 2, null, edge, limit=400)[0]
    return {"irw": irw, "null": null, "pslr": pslr, "islr": 10 * math.log10(side / main), "h": g}


@pytest.fixture(scope="module")
def reference():
    return {alpha: reference_quality(alpha) for alpha in (1.0, 0.75, 0.54)}


def sampled_response(alpha, n=256, centre=117.37, amplitude=2.5, phase=2.0):
    """Samples of A e^{j phase} h((k - centre) B_REL), h the closed-form response."""
    k = np.arange(n)
    return amplitude * np.exp(1j * phase) * hamming_closed_form((k - centre) * B_REL, alpha)


# --- upsampling ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [31, 32])
def test_upsample_passes_through_samples_and_keeps_real_signals_real(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    u = upsample_cut(x, 8)
    assert u.shape == (8 * n,)
    np.testing.assert_allclose(u[::8], x, atol=1e-12)
    real = upsample_cut(x.real, 8)
    assert np.max(np.abs(real.imag)) < 1e-12


@pytest.mark.parametrize("n", [15, 16])
def test_upsample_is_exact_for_periodic_bandlimited_signals(n):
    # harmonics below Nyquist plus (even n) the Nyquist cosine, evaluated on the fine grid
    t = np.arange(n * 4) / 4
    freqs = [0, 1, -3, n // 2 - 1]
    coefs = [0.3, 1.0 - 0.5j, 0.7j, 0.2]

    def signal(t):
        s = sum(c * np.exp(2j * np.pi * f * t / n) for f, c in zip(freqs, coefs, strict=True))
        if n % 2 == 0:
            s = s + 0.4 * np.cos(np.pi * t)  # Nyquist term: cos(pi k) on the samples
        return s

    np.testing.assert_allclose(upsample_cut(signal(np.arange(n)), 4), signal(t), atol=1e-12)
    assert interpolate_at(signal(np.arange(n)), 2.3) == pytest.approx(complex(signal(2.3)))


def test_upsample_rejects_bad_input():
    with pytest.raises(ConfigError, match="factor"):
        upsample_cut(np.ones(8), 0)
    with pytest.raises(ConfigError, match="factor"):
        upsample_cut(np.ones(8), 2.5)
    with pytest.raises(ProductError, match="1-D"):
        upsample_cut(np.ones((4, 4)), 2)
    with pytest.raises(ProductError, match="NaN"):
        upsample_cut(np.array([1, 2, np.nan, 4]), 2)


def test_upsample_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    x = torch.randn(16, dtype=torch.cfloat, requires_grad=True)
    np.testing.assert_allclose(upsample_cut(x, 4)[::4], x.detach().numpy(), atol=1e-6)


# --- independent reference sanity -----------------------------------------------------------
def test_reference_matches_textbook_values(reference):
    # the quadrature reference reproduces the closed forms it is used in place of
    for alpha in (1.0, 0.75, 0.54):
        for t in (0.3, 1.7, 4.2):
            assert reference[alpha]["h"](t) == pytest.approx(
                hamming_closed_form(t, alpha) / hamming_closed_form(0.0, alpha), abs=1e-9
            )
    assert reference[1.0]["irw"] == pytest.approx(0.88589, abs=1e-5)
    assert reference[1.0]["pslr"] == pytest.approx(-13.2615, abs=1e-3)
    assert reference[0.54]["pslr"] == pytest.approx(-42.68, abs=0.05)
    assert reference[0.54]["irw"] == pytest.approx(1.303, abs=1e-3)
    # sinc: main lobe between first nulls holds 90.3% of the energy: ISLR -9.68 dB over all t;
    # the +-10 IRW window leaves out the far tail, which gives about -10.2 dB
    main = integrate.quad(lambda t: np.sinc(t) ** 2, -1, 1)[0]
    assert 10 * math.log10((1 - main) / main) == pytest.approx(-9.68, abs=0.01)
    assert reference[1.0]["islr"] == pytest.approx(-10.22, abs=0.02)


# --- measured cuts ----------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.0, 0.75, 0.54])
def test_measure_cut_matches_reference(alpha, reference):
    ref = reference[alpha]
    centre, amplitude, phase = 117.37, 2.5, 2.0
    q = measure_cut(sampled_response(alpha, centre=centre, amplitude=amplitude, phase=phase))
    assert q.irw * B_REL == pytest.approx(ref["irw"], rel=0.01)
    assert q.pslr_db == pytest.approx(ref["pslr"], abs=0.1)
    assert q.islr_db == pytest.approx(ref["islr"], abs=0.1)
    assert q.position == pytest.approx(centre, abs=0.01)
    assert q.phase_rad == pytest.approx(phase, abs=1e-9)
    peak_ref = amplitude * hamming_closed_form(0.0, alpha)  # the response peaks at t = 0
    assert q.amplitude == pytest.approx(peak_ref, rel=1e-4)
    assert not q.window_clipped
    # main lobe bounded by the first nulls (sinc: 1 / B, Hamming 0.54: 2 / B)
    lo, hi = q.mainlobe
    assert (centre - lo) * B_REL == pytest.approx(ref["null"], abs=0.02)
    assert (hi - centre) * B_REL == pytest.approx(ref["null"], abs=0.02)


def test_sinc_closed_form_values():
    # the textbook figures quoted in the docs: IRW 0.886 / B within 1 %, PSLR -13.26 dB
    q = measure_cut(sampled_response(1.0, centre=100.81))
    assert q.irw * B_REL == pytest.approx(0.886, rel=0.01)
    assert q.pslr_db == pytest.approx(-13.26, abs=0.1)
    assert q.position == pytest.approx(100.81, abs=0.01)


@pytest.mark.parametrize("centre", [60.0, 60.25, 60.5, 60.93])
def test_position_is_found_between_samples(centre):
    q = measure_cut(sampled_response(0.75, n=128, centre=centre), factor=8)
    assert q.position == pytest.approx(centre, abs=0.01)


def test_peak_search_honours_expected_position():
    x = sampled_response(1.0, centre=40.2) + 0.5 * sampled_response(1.0, centre=180.6)
    near_second = measure_cut(x, expected_position=181.0, search_radius=5.0)
    assert near_second.position == pytest.approx(180.6, abs=0.02)
    assert measure_cut(x).position == pytest.approx(40.2, abs=0.02)


def test_measure_cut_errors():
    with pytest.raises(ProductError, match="all zeros"):
        measure_cut(np.zeros(32, complex))
    with pytest.raises(ProductError, match="end of the cut"):
        measure_cut(np.ones(32, complex))  # no -3 dB crossing: nothing focused
    with pytest.raises(ConfigError, match="sidelobe_cells"):
        measure_cut(sampled_response(1.0), sidelobe_cells=0.5)


def test_wrap_phase():
    assert wrap_phase(math.pi) == pytest.approx(math.pi)
    assert wrap_phase(-math.pi) == pytest.approx(math.pi)
    assert wrap_phase(3 * math.pi / 2) == pytest.approx(-math.pi / 2)
    assert wrap_phase(-0.1 + 4 * math.pi) == pytest.approx(-0.1)


# --- theory -------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.0, 0.75, 0.54])
def test_theoretical_response_matches_reference(alpha, reference):
    ref = reference[alpha]
    prf, bw = 1717.0, 1022.86
    t = theoretical_response(lambda f: alpha + (1 - alpha) * np.cos(2 * np.pi * f / bw), prf, bw)
    assert t.irw_bandwidth == pytest.approx(ref["irw"], rel=1e-3)
    assert t.irw_samples == pytest.approx(ref["irw"] * prf / bw, rel=1e-3)
    assert t.pslr_db == pytest.approx(ref["pslr"], abs=0.02)
    assert t.islr_db == pytest.approx(ref["islr"], abs=0.02)


def test_theoretical_response_from_samples():
    # weights sampled over the band give the same answer as the function they sample
    alpha, bw = 0.75, 1.0
    f = np.linspace(-bw / 2, bw / 2, 2001)
    samples = alpha + (1 - alpha) * np.cos(2 * np.pi * f / bw)
    a = theoretical_response(samples, 2.0, bw)
    b = theoretical_response(lambda f: alpha + (1 - alpha) * np.cos(2 * np.pi * f / bw), 2.0, bw)
    assert a.irw_samples == pytest.approx(b.irw_samples, rel=1e-4)
    assert a.pslr_db == pytest.approx(b.pslr_db, abs=0.01)


def test_impulse_response_is_centred_and_normalised():
    h = impulse_response(lambda f: np.ones_like(f), 2.0, 1.0, n=256)
    assert np.argmax(np.abs(h)) == 128
    assert h[128] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="bandwidth"):
        impulse_response(lambda f: np.ones_like(f), 1.0, 2.0)


def test_effective_weighting_theory_matches_quadrature():
    # demo geometry: window x two-way antenna gain; reference by scipy on the continuous band
    g = get_preset("demo")
    bw, prf = g.doppler_bandwidth_hz, g.prf_hz

    def weight(f):  # f in units of B
        return g.window(f * bw) * g.antenna_gain(f * bw)

    ref = reference_quality(None, weight)
    t = theory_for_geometry(g, col=0)
    assert t.irw_samples == pytest.approx(ref["irw"] * prf / bw, rel=2e-3)
    assert t.pslr_db == pytest.approx(ref["pslr"], abs=0.05)
    assert t.islr_db == pytest.approx(ref["islr"], abs=0.05)
    # the antenna weighting lowers the sidelobes and widens the main lobe beyond the window's
    window_only = theory_for_geometry(g.replace(antenna_weighting=False))
    assert t.pslr_db < window_only.pslr_db - 3
    assert t.irw_samples > window_only.irw_samples
    with pytest.raises(ConfigError, match="column"):
        theory_for_geometry(g, col=g.n_range)


# --- 2-D point targets ----------------------------------------------------------------------
def image_with_target(row, col, amplitude=1.5, phase=-2.9, shape=(200, 40), alpha=0.75):
    r = np.arange(shape[0])[:, None]
    c = np.arange(shape[1])[None, :]
    h = hamming_closed_form((r - row) * B_REL, alpha) * hamming_closed_form((c - col) * 0.8, 1.0)
    return (amplitude * np.exp(1j * phase) * h).astype(np.complex64)


def test_measure_point_target_errors_and_json():
    img = image_with_target(97.3, 21)
    q = measure_point_target(
        img,
        row=97.0,
        col=21,
        expected_amplitude=1.0,
        expected_phase=3.0,
        range_cut=True,
        irw_theory_samples=1.0 / B_REL,
    )
    assert q.position_error_samples == pytest.approx(0.3, abs=0.01)
    # -2.9 - 3.0 = -5.9 wraps to 2 pi - 5.9
    assert q.phase_error_rad == pytest.approx(2 * math.pi - 5.9, abs=1e-4)
    assert q.amplitude_error_db == pytest.approx(20 * math.log10(1.5 * 0.75), abs=0.01)
    assert q.irw_ratio == pytest.approx(1.0005, abs=0.01)  # alpha 0.75: IRW 1.0005 / B
    assert q.range is not None and q.range.irw * 0.8 == pytest.approx(0.886, rel=0.01)
    d = json.loads(json.dumps(q.as_dict(), allow_nan=False))
    for key in (
        "irw_samples",
        "irw_ratio",
        "pslr_db",
        "islr_db",
        "phase_error_rad",
        "position_error_samples",
        "amplitude_error_db",
    ):
        assert isinstance(d[key], float)


def test_measure_point_target_with_row_offset_block():
    img = image_with_target(150.6, 5)
    block = img[120:184, 5:6]
    q = measure_point_target(block, row=150.6, col=0, row_offset=120, expected_phase=-2.9)
    assert q.position_error_samples == pytest.approx(0.0, abs=0.01)
    assert q.measured_row == pytest.approx(150.6, abs=0.01)
    assert q.phase_error_rad == pytest.approx(0.0, abs=1e-4)  # complex64 image


def test_measure_point_target_rejects_bad_images():
    with pytest.raises(ProductError, match="complex"):
        measure_point_target(np.ones((64, 4)), 30, 1)
    with pytest.raises(ProductError, match="2-D"):
        measure_point_target(np.ones(64, complex), 30, 1)
    with pytest.raises(ProductError, match="column"):
        measure_point_target(np.ones((64, 4), complex), 30, 9)


@pytest.mark.parametrize("side", [-1, 1])
def test_pslr_sees_a_sidelobe_on_either_side(side):
    """A Hamming response (sidelobes near -43 dB) with one echo at -20 dB, 6 cells to one side:
    the PSLR is the echo's level whichever side it is on (both sides are searched)."""
    centre, cell = 128.3, 1.0 / B_REL
    x = sampled_response(0.54, n=256, centre=centre)
    echo = 0.1 * sampled_response(0.54, n=256, centre=centre + side * 6 * cell)
    q = measure_cut(x + echo)
    assert q.pslr_db == pytest.approx(-20.0, abs=0.5)
    assert measure_cut(x).pslr_db < -40.0
