"""Student initialisation from the teacher by modal truncation.

The residual stream keeps its channels through the blocks, so one channel subset is chosen for
the whole stack: the Hs teacher channels with the largest head weights |W_out| (what reaches the
output). Student block j takes the teacher block at the same relative depth; in each kept
channel it keeps the Ns modes of highest energy |C dB|^2 / (1 - |dA|^2) (the mode's share of
the kernel's energy), with their poles, B, C and the channel's step size. Input projection,
mixing, skip D and head are the teacher's restricted to the kept channels. A selective teacher
gives its static part (the gate's S4D; the scan's A, B, C and softplus(dt bias)).
"""

from __future__ import annotations

import torch
from torch import Tensor

from sarssm.distill.schedule import matching_layer
from sarssm.errors import ConfigError


def teacher_modes(layer: torch.nn.Module) -> dict[str, Tensor]:
    """log_dt [H], log_neg_re, im [H, N], B, C [H, N, 2], D [H, 2] of a block's SSM."""
    from sarssm.models.s4d import S4D
    from sarssm.models.selective import SelectiveSSM

    if isinstance(layer, SelectiveSSM):
        if layer.selectivity == "gate":
            inner, log_dt, D = layer.ssm.kernel, layer.ssm.kernel.log_dt, layer.ssm.D
        else:
            inner, D = layer.fwd, layer.D
            log_dt = torch.log(torch.nn.functional.softplus(inner.dt_bias))
    elif isinstance(layer, S4D):
        inner, log_dt, D = layer.kernel, layer.kernel.log_dt, layer.D
    else:
        raise ConfigError(f"init_from_teacher: unknown teacher layer {type(layer).__name__}")
    return {
        "log_dt": log_dt, "log_neg_re": inner.log_neg_re, "im": inner.im,
        "B": inner.B, "C": inner.C, "D": D, "kappa": inner.kappa,
    }  # fmt: skip


def mode_energy(m: dict[str, Tensor]) -> Tensor:
    """|C dB|^2 / (1 - |dA|^2) per mode [H, N] (`sarssm.models.ops.discretize_zoh`)."""
    from sarssm.models import ops

    A = torch.complex(-torch.exp(m["log_neg_re"]), m["im"])
    B, C = torch.view_as_complex(m["B"]), torch.view_as_complex(m["C"])
    log_dA, dB = ops.discretize_zoh(A, B, m["log_dt"].exp(), m["kappa"])
    mag2 = torch.exp(2 * log_dA.real)
    return (C * dB).abs().square() / (1 - mag2).clamp_min(1e-12)


@torch.no_grad()
def init_from_teacher(student: torch.nn.Module, teacher: torch.nn.Module) -> dict[str, list]:
    """Set the student's weights from the teacher's (see the module docstring). Returns the
    kept channels and, per student block, the teacher block it came from."""
    sc, tc = student.config, teacher.config
    if sc.direction != "causal" or tc.direction != "causal":
        raise ConfigError("init_from_teacher: causal teacher and student only")
    if sc.model_dim > tc.model_dim or sc.state_dim > tc.state_dim:
        raise ConfigError(
            f"init_from_teacher: the student ({sc.model_dim} wide, {sc.state_dim} modes) must "
            f"not be larger than the teacher ({tc.model_dim}, {tc.state_dim})"
        )
    head = torch.view_as_complex(teacher.head.weight)[0]  # [Ht]
    keep = torch.sort(torch.argsort(head.abs(), descending=True)[: sc.model_dim]).values
    _copy(student.input_proj.weight, teacher.input_proj.weight[keep][:, _cols(student, teacher)])
    _copy(student.head.weight, teacher.head.weight[:, keep])
    sources = []
    for j, block in enumerate(student.blocks):
        i = matching_layer(j, sc.num_layers, tc.num_layers)
        sources.append(i)
        t_block = teacher.blocks[i]
        modes = teacher_modes(t_block.ssm)
        energy = mode_energy(modes)[keep]  # [Hs, Nt]
        top = torch.argsort(energy, dim=1, descending=True)[:, : sc.state_dim]  # [Hs, Ns]
        k = block.ssm.kernel
        rows = keep[:, None]
        _copy(k.log_dt, modes["log_dt"][keep])
        _copy(k.log_neg_re, modes["log_neg_re"][rows, top])
        _copy(k.im, modes["im"][rows, top])
        _copy(k.B, modes["B"][rows, top])
        _copy(k.C, modes["C"][rows, top])
        _copy(block.ssm.D, modes["D"][keep])
        _copy(block.mix.weight, t_block.mix.weight[keep][:, keep])
        block.ssm._cache.clear()
    return {"channels": keep.tolist(), "teacher_blocks": sources}


def _cols(student, teacher) -> Tensor:
    k_t, k_s = teacher.config.range_neighbours, student.config.range_neighbours
    return torch.arange(k_t - k_s, k_t + k_s + 1)


def _copy(dst: Tensor, src: Tensor) -> None:
    dst.copy_(src.detach().to(dst.dtype).reshape(dst.shape))
