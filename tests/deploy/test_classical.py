"""The classical line-by-line matched filter: per-column taps and streaming against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from sarssm.deploy import kernels
from sarssm.deploy.classical import StreamingMatchedFilter, matched_filter_bank
from sarssm.errors import ConfigError
from sarssm.physics.azimuth import matched_filter_taps
from sarssm.physics.geometry import get_preset

BACKENDS = ["numpy", "numba"] if kernels.available() else ["numpy"]


def test_bank_holds_every_columns_matched_filter() -> None:
    g = get_preset("demo").replace(n_range=600)  # more than one block of taps
    bank = matched_filter_bank(g, 20)
    assert bank.shape == (41, 600) and bank.dtype == np.complex64
    for c in (0, 511, 512, 599):
        np.testing.assert_allclose(bank[:, c], matched_filter_taps(g, 20, c), atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_is_the_time_domain_matched_filter(backend: str) -> None:
    g = get_preset("demo").replace(n_range=5)
    half, L = 20, 200
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((L, 5)) + 1j * rng.standard_normal((L, 5))).astype(np.complex64)
    mf = StreamingMatchedFilter(g, half, backend=backend)
    outs = [mf.push(line) for line in x]
    assert all(o is None for o in outs[:half]) and mf.delay == half
    got = np.array(outs[half:])  # focused rows 0 .. L - half - 1
    want = np.stack(
        [np.convolve(x[:, c], matched_filter_taps(g, half, c))[half:L] for c in range(5)], 1
    )
    np.testing.assert_allclose(got, want, atol=2e-5 * np.abs(want).max())


def test_default_length_is_the_aperture_and_bad_input_is_refused() -> None:
    g = get_preset("demo").replace(n_range=3)
    mf = StreamingMatchedFilter(g)
    assert mf.half == int(np.ceil(np.max(g.aperture_samples()) / 2))
    with pytest.raises(ConfigError, match=r"shape \(3,\)"):
        mf.push(np.zeros(4, np.complex64))
    with pytest.raises(ConfigError, match="half-length"):
        matched_filter_bank(g, g.n_azimuth)
