"""An LTI student as plain arrays: the one description every deployment path is built from.

Symbols: Ly layers (blocks), H width, N complex modes per channel, C = 2k + 1 input channels,
K = 2J + 1 pre-filter taps, W columns.

`lti_arrays(model, scaler)` discretises the student once (its float32 dA, dB, C, D, exactly
what its step mode uses) and returns a dict of numpy arrays (the `.npz` export,
`sarssm.deploy.numpy_step.FORMAT`):

    w_in [H, C], dA dB C [Ly, H, N], D [Ly, H], mix [Ly, H, H], head [H]   complex64
    delay, range_neighbours, prefilter_half_taps                         int
    pf_matrix [K, n] complex128, pf_phase [n], range_ref/min/max_m       the pre-filter design

The normalisation is folded into the head (a focusing operator is linear: f(x / s_in) s_out
= (s_out / s_in) f(x)), so the arrays map product units to product units. The pre-filter is
kept as its design, not as taps: taps(R0) = pf_matrix . (sqrt(R_ref / R0)
exp(j pf_phase (R0 - R_ref))), the weighted least-squares fit of `sarssm.models.conditioning`
written as one matrix product, so an exported student serves any column of its interval.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sarssm.deploy.numpy_step import FORMAT
from sarssm.errors import ConfigError
from sarssm.models.conditioning import _design_grid, _solver
from sarssm.physics.azimuth import azimuth_phase


def is_lti(config: Any) -> bool:
    """Whether a `ModelConfig` is a causal LTI student (what `check_lti` accepts)."""
    return (config.selectivity, config.activation, config.direction) == ("none", "none", "causal")


def check_lti(model: Any, what: str = "streaming") -> None:
    """Refuse a model that is not a causal LTI student (a clear error naming the key)."""
    config = model.config
    problems = []
    if config.selectivity != "none":
        problems.append(f"selectivity {config.selectivity!r} (input-dependent: not LTI)")
    if config.activation != "none":
        problems.append(f"activation {config.activation!r} (nonlinear)")
    if config.direction != "causal":
        problems.append(f"direction {config.direction!r} (sees the whole column)")
    if problems:
        raise ConfigError(
            f"model {config.name!r}: {what} needs a causal LTI student (model.selectivity none, "
            f"activation none, direction causal); this one has {', '.join(problems)}"
        )


def _c(t: torch.Tensor) -> np.ndarray:
    """A complex parameter (real pairs [..., 2] or complex) as complex64 numpy."""
    t = t.detach().cpu()
    if not t.is_complex():
        t = torch.view_as_complex(t.float().contiguous())
    return t.to(torch.complex64).numpy().copy()


@torch.no_grad()
def lti_arrays(model: Any, scaler: Any = None) -> dict[str, np.ndarray]:
    """The arrays of a causal LTI `SarSSM` (see the module docstring). `scaler` (a
    `ComplexScaler`) folds the model's normalisation into the head."""
    check_lti(model)
    config = model.config
    layers = [blk.ssm._discrete() for blk in model.blocks]  # (log_dA, dA, dB, C, D) each
    gain = 1.0 if scaler is None else scaler.target_scale / scaler.input_scale
    out: dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "name": np.array(config.name),
        "delay": np.array(model.delay, dtype=np.int64),
        "range_neighbours": np.array(config.range_neighbours, dtype=np.int64),
        "prefilter_half_taps": np.array(0, dtype=np.int64),
        "gain": np.array(gain, dtype=np.float64),
        "w_in": _c(model.input_proj.weight),  # [H, C]
        "dA": np.stack([_c(layer[1]) for layer in layers]),  # [Ly, H, N]
        "dB": np.stack([_c(layer[2]) for layer in layers]),
        "C": np.stack([_c(layer[3]) for layer in layers]),
        "D": np.stack([_c(layer[4]) for layer in layers]),  # [Ly, H]
        "mix": np.stack([_c(blk.mix.weight) for blk in model.blocks]),  # [Ly, H, H]
        "head": (_c(model.head.weight)[0] * np.float32(gain)).astype(np.complex64),  # [H]
    }
    if model.prefilter is not None:
        ref, J = model.prefilter.reference, model.prefilter.J
        f, _, _ = _design_grid(ref, J)
        pinv, sw = _solver(ref, J)
        out.update(
            prefilter_half_taps=np.array(J, dtype=np.int64),
            pf_matrix=pinv * sw[None, :],  # [K, n] complex128
            pf_phase=azimuth_phase(ref.column(), f, np.array([1.0]))[:, 0],  # [n] rad per metre
            range_ref_m=np.array(ref.range_m),
            range_min_m=np.array(ref.range_min_m),
            range_max_m=np.array(ref.range_max_m),
        )
    return out


def state_shape(arrays: dict[str, np.ndarray]) -> tuple[int, int, int]:
    """(Ly, H, N) of an LTI student's arrays."""
    Ly, H, N = arrays["dA"].shape
    return int(Ly), int(H), int(N)


def minimum_bytes(arrays: dict[str, np.ndarray], columns: int) -> dict[str, int]:
    """The arithmetic minimum of streaming W columns: the recurrent state (Ly H N complex64
    per column), the pre-filter's 2J past inputs per (padded) column, the per-column taps and
    the student's parameters, each at 8 bytes per complex64 value."""
    Ly, H, N = state_shape(arrays)
    J, k = int(arrays["prefilter_half_taps"]), int(arrays["range_neighbours"])
    K = 2 * J + 1
    params = sum(arrays[key].size for key in ("w_in", "dA", "dB", "C", "D", "mix", "head"))
    return {
        "state": 8 * (Ly * H * N * columns + 2 * J * (columns + 2 * k)),
        "weights": 8 * (params + (K * columns if J else 0)),
    }


@torch.no_grad()
def composite_kernel(model: Any, length: int) -> np.ndarray:
    """Impulse response [C, length] complex128 of the stack after the pre-filter: the raw
    causal output r[t] = sum_j sum_c kernel[c, j] x'_c[t - j] of an LTI model, computed in
    float64 through its own conv mode (one impulse per input channel)."""
    check_lti(model, "folding")
    import copy

    net = copy.deepcopy(model).double().eval()
    C = net.config.input_channels
    x = torch.zeros(C, length, C, dtype=torch.complex128)
    x[torch.arange(C), 0, torch.arange(C)] = 1.0
    h = net.input_proj(x)  # [C, L, H]
    for block in net.blocks:
        h = block(h)
    return net.head(h)[:, :, 0].numpy()  # [C, L]


def tail_length(kernel: np.ndarray, rel_energy: float = 1e-14) -> int:
    """Smallest K such that the kernel's energy beyond lag K is <= rel_energy of its total
    (1e-14: below float32 rounding of the output)."""
    energy = np.sum(np.abs(kernel) ** 2, axis=0)  # [L]
    tail = np.cumsum(energy[::-1])[::-1]  # tail[j] = energy at lags >= j
    total = float(tail[0])
    if total == 0.0:
        return 1
    below = np.nonzero(tail <= rel_energy * total)[0]
    if below.size == 0:
        raise ConfigError(
            f"kernel of {kernel.shape[-1]} taps still holds "
            f"{10 * math.log10(float(tail[-1]) / total):.1f} dB of its energy in its last tap; "
            "its memory is longer than the folding length"
        )
    return max(1, int(below[0]))
