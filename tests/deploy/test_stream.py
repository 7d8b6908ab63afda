"""StreamingFocuser: line-by-line output equals the model's whole-column output."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from deploy_support import model_input, noise, swath

from sarssm.data.normalize import ComplexScaler
from sarssm.deploy import kernels, numpy_step, stream
from sarssm.deploy.lti import lti_arrays, minimum_bytes
from sarssm.deploy.stream import StreamingFocuser
from sarssm.errors import ConfigError
from sarssm.models import build_model, preset_names

LTI_PRESETS = [p for p in preset_names() if build_model(p).config.selectivity == "none"]
BACKENDS = ["numpy", "numba"] if kernels.available() else ["numpy"]


def conv_output(model, lines: np.ndarray, r: np.ndarray) -> np.ndarray:
    """model(x, r, aligned=True) of lines [L, W] as [L, W] (neighbours built like a stream)."""
    with torch.no_grad():
        x = torch.from_numpy(model_input(model, lines))
        return model(x, torch.from_numpy(r)).numpy().T


def assert_close(z: np.ndarray, y: np.ndarray, rtol: float = 2e-5) -> None:
    assert z.shape == y.shape
    err = np.max(np.abs(z - y)) / np.max(np.abs(y))
    assert err < rtol, f"stream differs from conv mode by {err:.2e} of the peak"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("preset", LTI_PRESETS)
def test_stream_equals_conv_mode_for_every_lti_preset(preset: str, backend: str) -> None:
    torch.manual_seed(0)
    model = build_model(preset).eval()
    W = 1 if model.config.data_preset == "s1-stripmap" else 3
    lines = noise(model.delay + 40, W)
    r = swath(model, W)
    y = conv_output(model, lines, r)
    assert_close(StreamingFocuser(model, W, r, backend=backend).focus(lines), y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_range_neighbours_come_from_the_same_line(backend: str) -> None:
    torch.manual_seed(1)
    model = build_model("demo-tiny", range_neighbours=2).eval()
    lines, r = noise(90, 37), swath(model, 37)
    focuser = StreamingFocuser(model, 37, r, backend=backend)
    assert_close(focuser.focus(lines), conv_output(model, lines, r))


def test_full_sentinel1_line_width_demo_tiny() -> None:
    """W = 25,700 (one Sentinel-1 raw line) on the fast backend, tiles and their last part."""
    torch.manual_seed(2)
    model = build_model("demo-tiny").eval()
    W = 25_700
    lines, r = noise(model.delay + 12, W, seed=3), swath(model, W)
    focuser = StreamingFocuser(model, W, r, backend=BACKENDS[-1])
    assert_close(focuser.focus(lines), conv_output(model, lines, r))


@pytest.mark.slow
def test_full_sentinel1_line_width_published_size() -> None:
    """4 layers x width 2 x 4 modes on s1-stripmap geometry (81-tap pre-filter), W = 25,700."""
    torch.manual_seed(3)
    model = build_model("ultra", model_dim=2, state_dim=4, num_layers=4).eval()
    W = 25_700
    lines, r = noise(model.delay + 8, W, seed=4), swath(model, W)
    focuser = StreamingFocuser(model, W, r, backend=BACKENDS[-1])
    assert_close(focuser.focus(lines), conv_output(model, lines, r))


@pytest.mark.parametrize("backend", BACKENDS)
def test_push_and_flush_follow_the_delay(backend: str) -> None:
    model = build_model("demo-ultra").eval()
    d, W = model.delay, 4
    focuser = StreamingFocuser(model, W, swath(model, W), backend=backend)
    lines = noise(d + 5, W)
    outs = [focuser.push(line) for line in lines]
    assert all(o is None for o in outs[:d])
    assert all(o is not None and o.shape == (W,) for o in outs[d:])
    assert focuser.flush().shape == (d, W)
    # fewer lines than the delay: the flush returns exactly as many lines as were pushed
    focuser.reset()
    for line in lines[:7]:
        assert focuser.push(line) is None
    assert focuser.flush().shape == (7, W)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scaler_is_folded_into_the_output(backend: str) -> None:
    torch.manual_seed(4)
    model = build_model("demo-tiny").eval()
    scaler = ComplexScaler(input_scale=3.0, target_scale=0.25)
    lines, r = noise(80, 5), swath(model, 5)
    expected = conv_output(model, lines / np.float32(3.0), r) * 0.25
    got = StreamingFocuser(model, 5, r, scaler=scaler, backend=backend).focus(lines)
    assert_close(got, expected)


def push_allocation(backend: str, W: int) -> tuple[int, int, bool]:
    """(peak bytes allocated during 200 pushes, bytes still held after them, memory unchanged)."""
    model = build_model("demo-tiny").eval()
    focuser = StreamingFocuser(model, W, swath(model, W), backend=backend)
    line, out = noise(1, W)[0], np.empty(W, np.complex64)
    for _ in range(5):  # compile, first touch
        focuser.push(line, out)
    before = focuser.memory()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            focuser.push(line, out)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base, current - base, focuser.memory() == before


def test_fast_push_allocates_nothing() -> None:
    if not kernels.available():
        pytest.skip("numba is not installed")
    peak, held, same = push_allocation("numba", 4096)
    # Python's boxing of the kernel's arguments takes about 2 KiB; one float32 row of W
    # columns would be 16 KiB, one output line 32 KiB
    assert peak < 8192, f"a push allocated {peak} bytes"
    assert held < 1024 and same


def test_numpy_push_allocates_nothing_that_grows_with_the_line() -> None:
    """numpy's broadcasting ufuncs take a fixed-size iteration buffer (at most 8192 elements);
    nothing the reference allocates per line may grow with W or with the lines pushed."""
    small, held_small, same_small = push_allocation("numpy", 2048)
    large, held_large, same_large = push_allocation("numpy", 16384)
    assert large <= small + 4096, (small, large)  # 8x the columns, not more bytes
    assert large < 8 * 16384  # less than one output line
    assert held_small < 1024 and held_large < 1024 and same_small and same_large


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_is_near_the_arithmetic_minimum(backend: str) -> None:
    model = build_model("demo-tiny").eval()
    W = 25_700
    focuser = StreamingFocuser(model, W, swath(model, W), backend=backend)
    mem = focuser.memory()
    minimum = minimum_bytes(lti_arrays(model), W)
    assert mem["minimum"] == minimum["state"] + minimum["weights"]
    held = mem["state"] + mem["weights"]
    assert minimum["state"] <= mem["state"]
    assert held <= 1.10 * mem["minimum"], (held, mem["minimum"])


def test_minimum_bytes_counts_state_taps_and_parameters() -> None:
    model = build_model("demo-tiny").eval()
    a = lti_arrays(model)
    W, J = 100, model.config.prefilter_taps
    Ly, H, N = 2, 4, 32
    m = minimum_bytes(a, W)
    assert m["state"] == 8 * (Ly * H * N * W + 2 * J * W)
    params = H * 1 + 3 * Ly * H * N + Ly * H + Ly * H * H + H
    assert m["weights"] == 8 * (params + (2 * J + 1) * W)


def test_refuses_models_that_are_not_lti_or_not_causal() -> None:
    for spec in (
        dict(selectivity="gate"),
        dict(activation="modrelu"),
        dict(direction="bidirectional"),
    ):
        model = build_model("demo-tiny", **spec)
        with pytest.raises(ConfigError, match="causal LTI student"):
            StreamingFocuser(model, 4, swath(model, 4))


def test_bad_lines_and_geometry_are_refused() -> None:
    model = build_model("demo-tiny").eval()
    with pytest.raises(ConfigError, match="pass slant_range"):
        StreamingFocuser(model, 4)
    with pytest.raises(ConfigError, match="3 slant ranges for 4 columns"):
        StreamingFocuser(model, 4, swath(model, 3))
    ref = model.config.reference
    with pytest.raises(ConfigError, match="slant ranges must lie in"):
        StreamingFocuser(model, 2, np.array([ref.range_min_m - 10.0, ref.range_m]))
    focuser = StreamingFocuser(model, 4, swath(model, 4))
    with pytest.raises(ConfigError, match=r"expected a line of shape \(4,\)"):
        focuser.push(np.zeros(5, np.complex64))
    with pytest.raises(ConfigError, match="backend"):
        StreamingFocuser(model, 4, swath(model, 4), backend="cuda")


def test_without_numba_auto_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "available", lambda: False)
    model = build_model("demo-ultra").eval()
    assert StreamingFocuser(model, 2, swath(model, 2)).backend == "numpy"
    with pytest.raises(ConfigError, match="numba is not installed"):
        StreamingFocuser(model, 2, swath(model, 2), backend="numba")
    monkeypatch.setattr(stream, "_warned", False)


def test_exported_arrays_stream_like_the_model() -> None:
    """The arrays alone (no torch model) drive the stream: what the .npz export ships."""
    torch.manual_seed(5)
    model = build_model("demo-compressed").eval()
    arrays = lti_arrays(model)
    lines, r = noise(100, 6), swath(model, 6)
    for backend in BACKENDS:
        assert_close(StreamingFocuser(arrays, 6, r, backend=backend).focus(lines),
                     conv_output(model, lines, r))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_prefilter_tap_order_with_asymmetric_taps(backend: str) -> None:
    """The fitted taps are nearly symmetric in lag, so a reversed tap order would pass the
    parity tests above: here random taps (a random design matrix) are applied by the stream
    and, independently, by np.convolve before a stream without a pre-filter."""
    torch.manual_seed(6)
    model = build_model("demo-tiny").eval()
    arrays = lti_arrays(model)
    rng = np.random.default_rng(7)
    shape = arrays["pf_matrix"].shape
    arrays["pf_matrix"] = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    W, L = 4, 120
    r = swath(model, W)
    taps = numpy_step.prefilter_taps(arrays, r)  # [W, K], tap i acts on x[t - i]
    assert np.abs(taps - taps[:, ::-1]).max() > 0.1 * np.abs(taps).max()  # asymmetric
    lines = noise(L, W)
    filtered = np.stack([np.convolve(lines[:, w], taps[w]) for w in range(W)], 1)  # [L+2J, W]
    plain = {k: v for k, v in arrays.items() if not k.startswith("pf_") and not k.endswith("_m")}
    plain["prefilter_half_taps"] = np.array(0)
    want = StreamingFocuser(plain, W, backend="numpy").focus(filtered.astype(np.complex64))[:L]
    got = StreamingFocuser(arrays, W, r, backend=backend).focus(lines)
    assert_close(got, want)
