"""Post-training integer quantisation of a causal LTI student, and its integer streaming step.

Symbols: Ly layers, H width, N modes, C = 2k + 1 input channels, K = 2J + 1 pre-filter taps,
W columns. A complex tensor is two integer tensors (real, imaginary: a leading axis of 2)
sharing one scale; the integer q stands for the value q * scale.

The float student (`sarssm.deploy.lti.lti_arrays`, product units in and out) is the maths of
`sarssm.deploy.numpy_step.Stream`, per column and line t:

    xf = sum_j g[j] x[t - j]              pre-filter (K taps per column, C channels)
    u  = W_in xf                          input projection
    per layer: x <- dA x + dB u;  s = sum_n C x + D u;  u <- u + mix s
    y  = head u

1. Calibration (`calibrate`): the float student runs over calibration lines; per-tensor
   statistics (mean and standard deviation of the real and imaginary parts, peak, histogram
   of |re|, |im|) of every activation the integer step holds (`activation_names`): the input
   line, the pre-filter output, each layer's input u and the head's input, each layer's state
   x and SSM output s, the output.
2. Scales (`quantize`). Activations (int8 by default, 16 bits per kind on request): scale =
   clip level / qmax, values beyond saturate. The clip level is, per tensor, mean +- k sigma
   (k a number: max over re/im of |mean| + k std, the earlier plan with k = 3), the peak, or
   "mse" (default), the level of least expected squared error over the calibration histogram
   (`mse_clip`). The state (int16 or int32): its calibrated peak times STATE_HEADROOM. Weights
   int8, symmetric, scale = max(|re|, |im|) / 127 per tensor (w_in, head, the pre-filter taps
   over the model's slant-range interval; dB, C, D and mix per layer). Poles dA: Q15 (int16).
3. Integer step (`QuantizedStream`, numpy reference `int_kernels.reference_step` and numba
   kernel `int_kernels.line_step`): products are summed in int64; each activation is
   requantised once, out = sat((sum_i acc_i m_i + 2^(sh-1)) >> sh), with integer multipliers
   m_i = round(ratio_i 2^sh) of each term's scale ratio and one shift (`requant_plan`). Only
   the input line (float -> integer) and the output line (integer -> complex64) cross between
   float and integer, each through one multiply by a float scale (and the optional gain).

Input gain: the student is linear, f(g x) / g = f(x). With `input_rms` set, calibration sees
each product scaled to that rms, and a stream given `gain = product_gain(q, lines)` does the
same to its product (an automatic gain control, one number per product), so the fixed int8
scales fit bright and dark scenes alike.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.deploy import int_kernels, numpy_step
from sarssm.deploy.lti import state_shape
from sarssm.deploy.stream import resolve_backend
from sarssm.errors import ConfigError
from sarssm.io import atomic_dir, atomic_write_bytes, atomic_write_text

FORMAT = "sarssm-int8/1"
ACT_BITS = 8  # activations: 8, or 16 per kind (`quantize`)
KINDS = ("input", "prefilter", "u", "s", "output")  # the kinds of activation
WEIGHT_BITS = 8
POLE_FRAC = 15  # dA in Q15: int16, scale 2^-15
STATE_BITS = (16, 32)
CLIP = "mse"  # the default clip rule of the activations
STATE_HEADROOM = 2.0  # the state's clip level over its calibrated peak
NPZ, JSON = "student_int8.npz", "quantization.json"
WEIGHTS = ("w_in", "dB", "C", "D", "mix", "head")
PER_LAYER = ("dB", "C", "D", "mix")
TAP_GRID = 257  # slant ranges over the model's interval that set the taps' scale
CHUNK = 1024  # columns per calibration block
HIST_BINS = 4096  # histogram bins of |re|, |im| over [0, peak] (the "mse" clip)


def qmax(bits: int) -> int:
    """Largest magnitude of a symmetric signed integer of `bits` bits (127 for int8)."""
    return (1 << (bits - 1)) - 1


def int_type(bits: int) -> type:
    """The integer type holding a symmetric `bits`-bit value."""
    return {8: np.int8, 16: np.int16, 32: np.int32}[bits]


def activation_names(Ly: int) -> list[str]:
    """Every activation the integer step holds, in the order of the step."""
    names = ["input", "prefilter", "u0"]
    for ly in range(Ly):
        names += [f"x{ly}", f"s{ly}", f"u{ly + 1}"]
    return [*names, "output"]


def rms(lines: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.abs(np.asarray(lines, np.complex128)) ** 2)))


def product_gain(q: dict[str, np.ndarray], lines: np.ndarray) -> float:
    """The input gain that brings a product's lines to the calibration's rms (1 without)."""
    target, level = float(q.get("input_rms", 0.0)), rms(lines)
    return target / level if target > 0 and level > 0 else 1.0


# --- calibration -----------------------------------------------------------------------------
class RunningStats:
    """Count, sums and squared sums (float64) of the real and imaginary parts, and the peak;
    with `top`, also a histogram of |re| and |im| over HIST_BINS bins of [0, top]."""

    def __init__(self, top: float = 0.0) -> None:
        self.n, self.sum, self.sq, self.peak = 0, np.zeros(2), np.zeros(2), 0.0
        self.top = float(top)
        self.hist = np.zeros(HIST_BINS, np.int64) if top > 0 else None

    def update(self, z: np.ndarray) -> None:
        for part, v in enumerate((z.real, z.imag)):
            self.sum[part] += np.sum(v, dtype=np.float64)
            self.sq[part] += np.sum(np.square(v, dtype=np.float64))
            if self.hist is not None:
                bins = np.minimum(np.abs(v) * (HIST_BINS / self.top), HIST_BINS - 1)
                self.hist += np.bincount(bins.astype(np.int64).ravel(), minlength=HIST_BINS)
        self.n += z.size
        if z.size:
            self.peak = max(self.peak, float(np.max(np.abs(z.real))), float(np.max(np.abs(z.imag))))

    def as_dict(self) -> dict[str, float]:
        n = max(self.n, 1)
        mean = self.sum / n
        std = np.sqrt(np.maximum(self.sq / n - mean**2, 0.0))
        out = {
            "count": int(self.n),
            "mean_re": float(mean[0]),
            "mean_im": float(mean[1]),
            "std_re": float(std[0]),
            "std_im": float(std[1]),
            "peak": self.peak,
        }
        for bits in (8, 16):  # 0 without a histogram (a tensor that never left zero)
            hist = self.hist
            out[f"mse_clip_{bits}"] = 0.0 if hist is None else mse_clip(hist, self.top, bits)
        return out


def mse_clip(hist: np.ndarray, top: float, bits: int) -> float:
    """The clip level c of least expected squared error when values are rounded to steps of
    c / qmax(bits) and saturated at c, over a histogram of |values| (bins of [0, top]):
    a clipped value costs (v - c)^2, every value step^2 / 12 of rounding."""
    n = hist.astype(np.float64)
    v = (np.arange(hist.size) + 0.5) * (top / hist.size)  # bin centres
    c = np.arange(1, hist.size + 1) * (top / hist.size)  # candidate levels: the bin tops
    above = [np.append(np.cumsum((n * v**p)[::-1])[::-1][1:], 0.0) for p in (0, 1, 2)]
    cost = above[2] - 2 * c * above[1] + c**2 * above[0] + n.sum() * (c / qmax(bits)) ** 2 / 12
    return float(c[int(np.argmin(cost))])


def clip_level(stats: dict[str, float], bits: int = ACT_BITS, clip: float | str = CLIP) -> float:
    """The clip level of an activation: mean +- k sigma (clip = k: max over re/im of |mean| +
    k std), "peak" (max |re|, |im|) or "mse" (`mse_clip` of its histogram at `bits`)."""
    if clip == "peak":
        level = stats["peak"]
    elif clip == "mse":
        level = stats[f"mse_clip_{bits}"]
    else:
        k = float(clip)
        level = max(
            abs(stats["mean_re"]) + k * stats["std_re"], abs(stats["mean_im"]) + k * stats["std_im"]
        )
    if not (math.isfinite(level) and level > 0.0):
        raise ConfigError(
            f"calibration: an activation has no spread (mean {stats['mean_re']:g}"
            f"{stats['mean_im']:+g}j, std {stats['std_re']:g}/{stats['std_im']:g}, peak "
            f"{stats['peak']:g} over {stats['count']} values); calibrate on lines with signal"
        )
    return level


def _trace(
    a: dict[str, np.ndarray], taps: np.ndarray, lines: np.ndarray, stats: dict[str, RunningStats]
) -> None:
    """The float student over a block: lines [L, W + 2k] (k zero or neighbour columns each
    side), taps [W, K]; every activation of every line into `stats`."""
    L, Wp = lines.shape
    W, K = taps.shape
    C = Wp - W + 1
    Ly, H, N = state_shape(a)
    stats["input"].update(lines[:, (C - 1) // 2 : (C - 1) // 2 + W])
    x = np.stack([lines[:, i : i + W] for i in range(C)], axis=1)  # [L, C, W]
    xf = np.zeros_like(x)
    for j in range(min(K, L)):  # causal FIR along azimuth: xf[t] = sum_j g[j] x[t - j]
        xf[j:] += taps[:, j] * x[: L - j]
    stats["prefilter"].update(xf)
    u = np.einsum("hc,lcw->lhw", a["w_in"], xf)  # [L, H, W]
    stats["u0"].update(u)
    for ly in range(Ly):
        dA, dB, Cm = (a[key][ly][..., None] for key in ("dA", "dB", "C"))  # [H, N, 1]
        D = a["D"][ly][:, None]
        state = np.zeros((H, N, W), np.complex64)
        s = np.empty_like(u)
        for t in range(L):
            state = dA * state + dB * u[t][:, None, :]  # [H, N, W]
            stats[f"x{ly}"].update(state)
            s[t] = np.sum(Cm * state, axis=1) + D * u[t]
        stats[f"s{ly}"].update(s)
        u = u + np.einsum("hg,lgw->lhw", a["mix"][ly], s)
        stats[f"u{ly + 1}"].update(u)
    stats["output"].update(np.einsum("h,lhw->lw", a["head"], u))


def _run(
    arrays: dict[str, np.ndarray],
    blocks: Iterable[tuple[np.ndarray, np.ndarray | None]],
    max_lines: int | None,
    input_rms: float | None,
    stats: dict[str, RunningStats],
) -> None:
    k = int(arrays["range_neighbours"])
    for lines, r in blocks:
        lines = np.asarray(lines)
        L, W = lines.shape[0], lines.shape[1]
        L = L if max_lines is None else min(L, int(max_lines))
        gain = input_rms / max(rms(lines[:L]), 1e-30) if input_rms else 1.0
        try:
            taps = numpy_step.prefilter_taps(arrays, np.ones(W) if r is None else r)  # [W, K]
        except ValueError as exc:
            raise ConfigError(f"calibration: {exc}") from None
        padded = np.zeros((L, W + 2 * k), np.complex64)
        padded[:, k : k + W] = lines[:L] * gain
        for c0 in range(0, W, CHUNK):
            c1 = min(c0 + CHUNK, W)
            _trace(arrays, taps[c0:c1], padded[:, c0 : c1 + 2 * k], stats)


def calibrate(
    arrays: dict[str, np.ndarray],
    blocks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray | None]]],
    max_lines: int | None = None,
    input_rms: float | None = None,
) -> dict[str, dict[str, float]]:
    """Statistics of every activation (`activation_names`) of the float student, in two passes
    (moments and peaks, then histograms over [0, peak] for the "mse" clip levels).

    Args:
        arrays: the student (`lti_arrays`, product units).
        blocks: returns, on each call, an iterable of (lines [L, W] complex, slant_range [W]
            metres or None), one per product: each block is streamed from a zero state as
            `numpy_step.Stream` would (zero columns beyond the edges), CHUNK columns at a time.
        max_lines: at most this many lines of each block (the first ones; None: all).
        input_rms: scale each block to this rms first (None: as it is), see `product_gain`.
    Returns:
        name -> {count, mean_re, mean_im, std_re, std_im, peak, mse_clip_8, mse_clip_16}.
    """
    if max_lines is not None and int(max_lines) < 1:
        raise ConfigError(f"calibration lines must be at least 1, got {max_lines}")
    names = activation_names(state_shape(arrays)[0])
    first = {name: RunningStats() for name in names}
    _run(arrays, blocks(), max_lines, input_rms, first)
    if first["input"].n == 0:
        raise ConfigError("calibration: no lines to calibrate on")
    stats = {name: RunningStats(top=first[name].peak) for name in names}
    _run(arrays, blocks(), max_lines, input_rms, stats)
    return {name: stats[name].as_dict() for name in names}


# --- quantisation ----------------------------------------------------------------------------
def to_int(z: np.ndarray, scale: float, bits: int) -> np.ndarray:
    """round(z / scale) of the real and imaginary parts, saturated to +-qmax(bits): [2, ...]."""
    m = qmax(bits)
    parts = [np.clip(np.rint(np.asarray(p, np.float64) / scale), -m, m) for p in (z.real, z.imag)]
    return np.stack(parts).astype(int_type(bits))


def quantize_weight(z: np.ndarray, bits: int = WEIGHT_BITS) -> tuple[np.ndarray, float]:
    """Symmetric per-tensor quantisation: (q [2, ...] int8, scale = max(|re|, |im|) / qmax)."""
    z = np.asarray(z)
    peak = float(max(np.max(np.abs(z.real)), np.max(np.abs(z.imag)))) if z.size else 0.0
    scale = peak / qmax(bits) if peak > 0.0 else 1.0  # an all-zero tensor stays zero
    return to_int(z, scale, bits), scale


def requant_plan(
    ratios: list[float], bounds: list[float], min_shift: int = 1
) -> tuple[np.ndarray, int]:
    """Integer multipliers and one shift for out = (sum_i acc_i m_i + 2^(sh-1)) >> sh.

    ratios[i]: the scale of term i over the output's scale; bounds[i]: the largest |acc_i|.
    The shift is the largest with every m_i < 2^30 and sum_i bounds_i m_i < 2^61 (no int64
    overflow), but at least `min_shift`, which makes a term of ratio 2^-min_shift exact (the
    Q15 poles; a multiplier may then exceed 2^30 where the overflow bound allows).
    """
    r = np.asarray(ratios, np.float64)
    b = np.asarray(bounds, np.float64)
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ConfigError(f"requantisation: scale ratios must be finite and positive, got {r}")
    room = 61 - math.log2(float(np.sum(r * b)))  # the largest shift without overflow
    sh = min(math.floor(min(30 - math.log2(r.max()), room)), 62)
    if sh < min_shift <= room:
        sh = min_shift
    m = np.rint(r * 2.0**sh).astype(np.int64)
    if sh < min_shift or np.any(m < 1):
        raise ConfigError(
            f"requantisation: scale ratios {r} span too wide a range for int64 multipliers "
            f"(shift {sh}, multipliers {m})"
        )
    return m, sh


def quantize(
    arrays: dict[str, np.ndarray],
    stats: dict[str, dict[str, float]],
    state_bits: int = 16,
    clip: float | str = CLIP,
    act_bits: int | dict[str, int] = ACT_BITS,
    state_headroom: float = STATE_HEADROOM,
    input_rms: float | None = None,
) -> dict[str, np.ndarray]:
    """The integer student (a dict of numpy arrays, saved as `.npz`) from the float arrays and
    their calibration statistics (`calibrate`, with the same `input_rms`).

    Args:
        state_bits: 16 or 32, the recurrent state's integers.
        clip: the activations' clip rule: k (mean +- k sigma), "peak" or "mse".
        act_bits: 8 or 16 for every activation, or per kind (`KINDS`: input, prefilter, u,
            s, output; the kinds not named stay 8).
        state_headroom: the state's clip level over its calibrated peak.
        input_rms: the rms calibration scaled each product to (kept for `product_gain`).
    """
    if state_bits not in STATE_BITS:
        raise ConfigError(f"state_bits must be one of {list(STATE_BITS)}, got {state_bits}")
    if clip not in ("peak", "mse") and not (isinstance(clip, (int, float)) and clip > 0):
        raise ConfigError(
            f"clip must be a positive number of sigmas, 'peak' or 'mse', got {clip!r}"
        )
    Ly, H, N = state_shape(arrays)
    C, K = arrays["w_in"].shape[1], 2 * int(arrays["prefilter_half_taps"]) + 1
    missing = [n for n in activation_names(Ly) if n not in stats]
    if missing:
        raise ConfigError(f"quantize: the calibration statistics lack {missing}")
    bits = {kind: ACT_BITS for kind in KINDS}
    bits.update({kind: act_bits for kind in KINDS} if isinstance(act_bits, int) else act_bits)
    if set(bits) != set(KINDS) or any(b not in (8, 16) for b in bits.values()):
        raise ConfigError(f"act_bits must be 8 or 16 for each of {list(KINDS)}, got {act_bits}")
    if not state_headroom >= 1.0:
        raise ConfigError(f"state_headroom must be at least 1, got {state_headroom}")

    def act(name: str) -> float:
        b = bits[name.rstrip("0123456789")]
        return clip_level(stats[name], b, clip) / qmax(b)

    q: dict[str, np.ndarray] = {"format": np.array(FORMAT), "source_format": arrays["format"]}
    for key in (
        "name",
        "delay",
        "range_neighbours",
        "prefilter_half_taps",
        "gain",
        "pf_matrix",
        "pf_phase",
        "range_ref_m",
        "range_min_m",
        "range_max_m",
    ):
        if key in arrays:
            q[key] = np.asarray(arrays[key]).copy()
    q.update(
        state_bits=np.array(state_bits, np.int64),
        clip=np.array(str(clip)),
        input_rms=np.array(float(input_rms or 0.0)),
    )
    for kind in KINDS:
        q[f"bits_{kind}"] = np.array(bits[kind], np.int64)
    for key in WEIGHTS:
        if key in PER_LAYER:
            pairs = [quantize_weight(arrays[key][ly]) for ly in range(Ly)]
            q[key] = np.stack([p[0] for p in pairs], axis=1)  # [2, Ly, ...]
            q[f"scale_{key}"] = np.array([p[1] for p in pairs])
        else:
            q[key], scale = quantize_weight(arrays[key])
            q[f"scale_{key}"] = np.array(scale)
    q["dA"] = to_int(arrays["dA"], 2.0**-POLE_FRAC, 16)  # [2, Ly, H, N] int16, Q15
    grid = (
        np.linspace(float(arrays["range_min_m"]), float(arrays["range_max_m"]), TAP_GRID)
        if "pf_matrix" in arrays
        else np.ones(1)
    )
    q["scale_taps"] = np.array(quantize_weight(numpy_step.prefilter_taps(arrays, grid))[1])
    s_in, s_xf, s_y = act("input"), act("prefilter"), act("output")
    s_u = np.array([act(f"u{ly}") for ly in range(Ly + 1)])
    s_s = np.array([act(f"s{ly}") for ly in range(Ly)])
    S, G = qmax(state_bits), qmax(WEIGHT_BITS)
    s_x = np.array([stats[f"x{ly}"]["peak"] * state_headroom / S for ly in range(Ly)])
    if not np.all(s_x > 0):
        raise ConfigError("calibration: a layer's state never left zero")
    q.update(
        scale_input=np.array(s_in),
        scale_prefilter=np.array(s_xf),
        scale_u=s_u,
        scale_x=s_x,
        scale_s=s_s,
        scale_output=np.array(s_y),
    )
    p2 = {kind: 2 * G * qmax(b) for kind, b in bits.items()}  # |re|, |im| of weight x activation
    plans = {
        "prefilter": requant_plan([float(q["scale_taps"]) * s_in / s_xf], [K * p2["input"]]),
        "u0": requant_plan([float(q["scale_w_in"]) * s_xf / s_u[0]], [C * p2["prefilter"]]),
        "output": requant_plan([float(q["scale_head"]) * s_u[Ly] / s_y], [H * p2["u"]]),
    }
    for ly in range(Ly):
        plans[f"x{ly}"] = requant_plan(
            [2.0**-POLE_FRAC, q["scale_dB"][ly] * s_u[ly] / s_x[ly]],
            [2 * 2**POLE_FRAC * S, p2["u"]],
            min_shift=POLE_FRAC,
        )
        plans[f"s{ly}"] = requant_plan(
            [q["scale_C"][ly] * s_x[ly] / s_s[ly], q["scale_D"][ly] * s_u[ly] / s_s[ly]],
            [N * 2 * G * S, p2["u"]],
        )
        plans[f"u{ly + 1}"] = requant_plan(
            [s_u[ly] / s_u[ly + 1], q["scale_mix"][ly] * s_s[ly] / s_u[ly + 1]],
            [qmax(bits["u"]), H * p2["s"]],
        )
    for name in ("prefilter", "u0", "output"):
        q[f"m_{name}"], q[f"sh_{name}"] = plans[name][0], np.array(plans[name][1], np.int64)
    for kind in ("x", "s", "u"):
        names = [f"{kind}{ly + (kind == 'u')}" for ly in range(Ly)]
        q[f"m_{kind}"] = np.stack([plans[n][0] for n in names])  # [Ly, 2]
        q[f"sh_{kind}"] = np.array([plans[n][1] for n in names], np.int64)
    return q


def describe(q: dict[str, np.ndarray]) -> dict[str, Any]:
    """Bits, scales and requantisation plans of an integer student, JSON-ready."""
    bits = {kind: int(q[f"bits_{kind}"]) for kind in KINDS}
    bits.update(state=int(q["state_bits"]), weights=WEIGHT_BITS, poles=f"Q{POLE_FRAC} int16")
    return {
        "bits": bits,
        "clip": str(q["clip"]),
        "input_rms": float(q["input_rms"]),
        "scales": {k[6:]: q[k].tolist() for k in q if k.startswith("scale_")},
        "requant": {k: q[k].tolist() for k in q if k.startswith(("m_", "sh_"))},
    }


def check_format(q: dict[str, np.ndarray], where: str = "quantized student") -> None:
    if str(q.get("format")) != FORMAT:
        raise ConfigError(f"{where}: not a {FORMAT} student (format {q.get('format')!r})")


# --- the integer stream ----------------------------------------------------------------------
class QuantizedStream:
    """Streaming state of W columns for an integer student: `push(line)` one azimuth line in,
    one focused line out after `delay` lines, `flush()` the rest (the semantics of
    `numpy_step.Stream`). Lines are complex in product units in and out; inside, everything
    is integer.

    Args:
        q: the integer student (`quantize`, or `load_quantized`).
        slant_range: [W] slant range of each column in metres (a student without geometry
            conditioning ignores it and needs only `columns`).
        columns: W when slant_range is None.
        backend: "numpy" (the reference, `int_kernels.reference_step`), "numba" (the fused
            kernel `int_kernels.line_step`, bit-exact with the reference) or "auto".
        gain: input gain (`product_gain`): lines are multiplied by it on the way in and divided
            by it on the way out.
    """

    def __init__(
        self,
        q: dict[str, np.ndarray],
        slant_range: Any = None,
        columns: int | None = None,
        backend: str = "auto",
        gain: float = 1.0,
    ) -> None:
        check_format(q)
        if slant_range is None:
            if "pf_matrix" in q:
                raise ConfigError("QuantizedStream: the student needs slant_range (one per column)")
            if columns is None or int(columns) < 1:
                raise ConfigError("QuantizedStream: pass slant_range or columns >= 1")
            slant_range = np.ones(int(columns))
        r = np.asarray(slant_range, np.float64).reshape(-1)
        if (columns is not None and r.size != int(columns)) or r.size < 1:
            raise ConfigError(f"QuantizedStream: {r.size} slant ranges for {columns} columns")
        if not (math.isfinite(gain) and gain > 0):
            raise ConfigError(f"QuantizedStream: gain must be positive and finite, got {gain}")
        self.backend = resolve_backend(backend)
        try:
            taps = numpy_step.prefilter_taps(q, r)  # [W, K] complex64
        except ValueError as exc:
            raise ConfigError(f"QuantizedStream: {exc}") from None
        self.taps = np.ascontiguousarray(to_int(taps.T, float(q["scale_taps"]), WEIGHT_BITS))
        self.q, self.W, self.gain = q, r.size, float(gain)
        self.delay, self.k = int(q["delay"]), int(q["range_neighbours"])
        self.bits = {kind: int(q[f"bits_{kind}"]) for kind in KINDS}
        Ly, H, N = q["dA"].shape[1:]
        K, C = self.taps.shape[1], q["w_in"].shape[2]
        self.ring = np.zeros((2, K, self.W + 2 * self.k), int_type(self.bits["input"]))
        self._params = int_kernels.params(q)
        sdt = int_type(int(q["state_bits"]))
        if self.backend == "numba":
            tw = min(int_kernels.TILE, self.W)
            self.state = np.zeros((2, -(-self.W // tw), Ly, H, N, tw), sdt)
            self._scratch = int_kernels.scratch(C, H, tw)
        else:
            self.state = np.zeros((2, Ly, H, N, self.W), sdt)
        self._yq = np.zeros((2, self.W), int_type(self.bits["output"]))
        self.t = 0

    def push(self, line: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
        """line [W] complex -> focused line t - delay [W] complex64 (None while t < delay)."""
        line = np.asarray(line)
        if line.shape != (self.W,):
            raise ConfigError(
                f"QuantizedStream.push: expected a line of shape ({self.W},), got {line.shape}"
            )
        slot = self.t % self.ring.shape[1]
        inv, a = self.gain / float(self.q["scale_input"]), qmax(self.bits["input"])
        for part, v in enumerate((line.real, line.imag)):  # the float -> integer boundary
            self.ring[part, slot, self.k : self.k + self.W] = np.clip(
                np.rint(np.asarray(v, np.float64) * inv), -a, a
            )
        if self.backend == "numba":
            int_kernels.line_step(
                slot, self.ring, self.taps, *self._params, self.state, self._yq, *self._scratch
            )
        else:
            int_kernels.reference_step(
                slot, self.ring, self.taps, *self._params, self.state, self._yq
            )
        self.t += 1
        if self.t <= self.delay:
            return None
        y = (self._yq[0] + 1j * self._yq[1]) * (float(self.q["scale_output"]) / self.gain)
        if out is None:
            return y.astype(np.complex64)
        out[...] = y
        return out

    def flush(self) -> np.ndarray:
        """Push `delay` zero lines: the remaining focused lines [min(delay, lines), W]."""
        zero = np.zeros(self.W, np.complex64)
        kept = [y for y in (self.push(zero) for _ in range(self.delay)) if y is not None]
        return np.array(kept, np.complex64).reshape(len(kept), self.W)

    def focus(self, lines: np.ndarray) -> np.ndarray:
        """Every line of a block [L, W] through a fresh stream: the focused block [L, W]."""
        self.reset()
        out = [y for y in (self.push(line) for line in lines) if y is not None]
        out += list(self.flush())
        return np.array(out, np.complex64).reshape(len(lines), self.W)

    def reset(self) -> None:
        """Back to the zero state (the next push is line 0)."""
        self.t = 0
        self.state[...] = 0
        self.ring[...] = 0

    def memory(self) -> dict[str, int]:
        """Bytes held: state (the recurrent state and the pre-filter's ring of input lines),
        weights (integer parameters, the per-column int8 taps, the requantisation plan)."""
        weights = self.taps.nbytes + sum(p.nbytes for p in self._params)
        return {"state": self.state.nbytes + self.ring.nbytes, "weights": weights}


# --- files -----------------------------------------------------------------------------------
def save_quantized(
    q: dict[str, np.ndarray], info: dict[str, Any], folder: Path, overwrite: bool = False
) -> Path:
    """Write `folder`/student_int8.npz (the arrays, no pickle) and quantization.json (`info`:
    scales, statistics, bits, source model, measurements), atomically."""
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise ConfigError(f"{folder} already exists (pass --overwrite to replace it)")
    buf = io.BytesIO()
    np.savez(buf, **q)
    text = json.dumps(info, indent=2, default=_jsonable) + "\n"
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        atomic_write_bytes(tmp / NPZ, buf.getvalue())
        atomic_write_text(tmp / JSON, text)
    return folder


def load_quantized(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a saved integer student (its folder or its `.npz`), format checked."""
    path = Path(path)
    if path.is_dir():
        path = path / NPZ
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (a folder written by `sarssm quantize`)")
    try:
        with np.load(path, allow_pickle=False) as f:
            q = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable .npz ({exc})") from None
    check_format(q, str(path))
    return q


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
