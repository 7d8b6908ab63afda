"""Cost accounting: parameters, multiply-accumulates per output sample, pole budget.

Counting rules (real arithmetic, batch 1):
- a parameter counts its real scalars (a complex parameter counts two);
- a complex multiply(-accumulate) counts 4 real MACs; additions alone count nothing;
- step mode (exact count of what `step` computes), per output sample:
    range pre-filter 4 C (2J + 1); input projection 4 C H; per block: S4D 12 N + 4 per
    channel (dA x and dB u: 8 N, C x': 4 N, D u: 4), modReLU 6 H (|z|^2, the channel RMS
    and the rescale), mix 4 H^2; head 4 H. (Square roots and divisions are not counted.)
- conv mode, per output sample of an L-sample column with the kernel spectrum cached (eval):
    every layer runs on L' = L + d samples (the aligned output pads d zeros) with an FFT of
    n = 2 L'; a radix-2 complex FFT costs (n/2) log2 n complex multiplies = 2 n log2 n real
    MACs, so one channel costs (2 FFTs + the spectral product 4 n) / L' per processed sample,
    plus D u (4); the pre-filter, projections and activation as in step mode; all scaled by
    L' / L.
Layers other than S4D are counted only if they provide `macs_per_sample(mode, length)`.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from sarssm.models.config import get_config, preset_names, teacher_of
from sarssm.models.layers import ModReLU
from sarssm.models.s4d import S4D
from sarssm.models.stack import SarSSM


def count_parameters(model: nn.Module) -> int:
    """Real scalars in the model's parameters (complex parameters count two)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


def fft_macs(n: int) -> float:
    """Real MACs of one radix-2 complex FFT of length n: (n/2) log2(n) complex multiplies."""
    return 2.0 * n * math.log2(n)


def layer_macs(layer: nn.Module, mode: str, length: int) -> float | None:
    """MACs per processed sample of one sequence layer (None if it cannot be counted)."""
    if isinstance(layer, S4D):
        H, N = layer.d_model, layer.d_state
        if mode == "step":
            return None if layer.direction == "bidirectional" else float(H * (12 * N + 4))
        n = 2 * length
        return H * ((2 * fft_macs(n) + 4 * n) / length + 4)
    counter = getattr(layer, "macs_per_sample", None)
    return float(counter(mode, length)) if callable(counter) else None


def macs_per_sample(model: SarSSM, mode: str = "step", length: int | None = None) -> float | None:
    """Real MACs per output sample of `model` in "step" or "conv" mode (conv needs `length`,
    the column length L). None when a layer cannot be counted or has no such mode."""
    if mode not in ("step", "conv"):
        raise ValueError(f"mode must be 'step' or 'conv', got {mode!r}")
    cfg = model.config
    if mode == "step" and cfg.direction == "bidirectional":
        return None
    if mode == "conv" and (length is None or length < 1):
        raise ValueError(f"conv mode needs a column length >= 1, got {length}")
    C, H = cfg.input_channels, cfg.model_dim
    processed = 1 if mode == "step" else length + cfg.delay  # samples each layer runs on
    total = 4.0 * C * H + 4.0 * H  # input projection and head
    if model.prefilter is not None:
        total += 4.0 * C * (2 * model.prefilter.J + 1)
    for block in model.blocks:
        ssm = layer_macs(block.ssm, mode, processed)
        if ssm is None:
            return None
        total += ssm + 4.0 * H * H  # SSM and mix
        total += 6.0 * H * isinstance(block.act, ModReLU)
    return total if mode == "step" else total * processed / length


def data_stats(data_preset: str) -> dict[str, float]:
    """TBP, aperture (samples) and column length of a geometry preset (middle column)."""
    from sarssm.physics.geometry import get_preset

    geo = get_preset(data_preset)
    mid = [geo.n_range // 2]
    return {
        "tbp": float(geo.tbp(mid)[0]),
        "aperture": float(geo.aperture_samples(mid)[0]),
        "column_length": int(geo.n_azimuth),
    }


def delay_floors(cfg: Any) -> dict[str, float | None]:
    """Error floors a resolved config implies: `truncation_floor_db`, the energy a causal model
    with its delay cannot reach (`sarssm.physics.truncation_floor_db` at the reference range,
    for the delay left after the pre-filter's J; None if bidirectional), and
    `prefilter_error_db`, the pre-filter's fit error at the ends of its slant-range interval."""
    from sarssm.models.conditioning import prefilter_error_db
    from sarssm.physics.azimuth import truncation_floor_db

    ref, J = cfg.reference, cfg.prefilter_taps
    floor = None
    if cfg.direction == "causal":
        floor = truncation_floor_db(ref.column(), cfg.delay - J, ref.range_m)
    fit = None
    if cfg.geometry == "prefilter":
        fit = max(prefilter_error_db(ref, J, r) for r in (ref.range_min_m, ref.range_max_m))
    return {"truncation_floor_db": floor, "prefilter_error_db": fit}


def model_cost(model: SarSSM, length: int | None = None) -> dict[str, Any]:
    """Cost summary of one model; `length` defaults to its data preset's column length."""
    cfg = model.config
    data = data_stats(cfg.data_preset)
    L = length or data["column_length"]
    return {
        "name": cfg.name,
        "model_dim": cfg.model_dim,
        "state_dim": cfg.state_dim,
        "num_layers": cfg.num_layers,
        "selectivity": cfg.selectivity,
        "direction": cfg.direction,
        "delay": cfg.delay,
        "input": f"{cfg.input_level}"
        + (f"+-{cfg.range_neighbours}" if cfg.range_neighbours else ""),
        "prefilter_taps": 2 * cfg.prefilter_taps + 1 if model.prefilter is not None else 0,
        **delay_floors(cfg),
        "params": count_parameters(model),
        "macs_step": macs_per_sample(model, "step"),
        "length": L,
        "macs_conv": macs_per_sample(model, "conv", L),
        "pole_budget": cfg.pole_budget,
        "data_preset": cfg.data_preset,
        "data_tbp": data["tbp"],
        "data_aperture": data["aperture"],
    }


def preset_table(length: int | None = None) -> list[dict[str, Any]]:
    """`model_cost` of every preset, plus the compression ratio against its teacher preset
    (seed presets against `teacher`, demo presets against `demo-teacher`)."""
    rows = {name: model_cost(SarSSM(get_config(name)), length) for name in preset_names()}
    for name, row in rows.items():
        row["compression"] = rows[teacher_of(name)]["params"] / row["params"]
    return list(rows.values())
