"""The sarSSM model: complex input projection, residual SSM blocks, complex output head.

Symbols: B batch, L length (azimuth samples of one column), C input channels (2: the signal
and the positional channel range_pos + j azimuth_pos), H model width, T chunk length,
d model delay.

    h_0 = x W_in                                   [B, L, H]
    h_i = h_{i-1} + Dropout(Mix(Act(SSM(Norm(h_{i-1})))))   block i, i = 1..num_layers
    y   = h_n W_out                                [B, L]   (one complex value per sample)

Every block is causal with delay 0 (or bidirectional); the model as a whole has the delay d of
its config. `forward(x)` returns the aligned output y[t] = r[t + d] (the input padded with d
zeros at its end, the first d raw outputs dropped), `forward(x, aligned=False)` the raw causal
output r, and `step`/`step_chunk` stream r one sample (or T samples) at a time, so the sample
streamed at time t is the focused sample t - d.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from sarssm.models.config import ModelConfig, resolve_config
from sarssm.models.errors import ModelInputError, StepModeError
from sarssm.models.layers import ComplexDropout, ComplexLinear, ComplexRMSNorm, ModReLU
from sarssm.models.s4d import S4D
from sarssm.models.selective import SelectiveSSM


def build_layer(config: ModelConfig) -> nn.Module:
    """The sequence layer of one block: S4D (selectivity none) or SelectiveSSM (scan, gate)."""
    kwargs: dict[str, Any] = dict(
        direction=config.direction,
        delay=0,  # the model owns the delay
        dt_min=config.dt_min,
        dt_max=config.dt_max,
        init=config.init,
        band=config.band,
    )
    if config.selectivity == "none":
        return S4D(config.model_dim, config.state_dim, **kwargs)
    return SelectiveSSM(
        config.model_dim, config.state_dim, selectivity=config.selectivity, **kwargs
    )


class SSMBlock(nn.Module):
    """h -> h + Dropout(Mix(Act(SSM(Norm(h))))), h [B, L, H] complex."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        H = config.model_dim
        self.norm = ComplexRMSNorm(H) if config.norm else nn.Identity()
        self.ssm = build_layer(config)
        self.act = ModReLU(H) if config.activation == "modrelu" else nn.Identity()
        self.mix = ComplexLinear(H, H)
        self.dropout = ComplexDropout(config.dropout)

    def _out(self, h: Tensor, s: Tensor) -> Tensor:
        return h + self.dropout(self.mix(self.act(s)))

    def forward(self, h: Tensor) -> Tensor:
        """h [B, L, H] -> [B, L, H]."""
        return self._out(h, self.ssm(self.norm(h)))

    def step(self, h_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        """h_t [B, H] -> [B, H], one sample of the raw causal response."""
        s, state = self.ssm.step(self.norm(h_t), state)
        return self._out(h_t, s), state

    def step_chunk(self, h: Tensor, state: Any) -> tuple[Tensor, Any]:
        """h [B, T, H] -> [B, T, H], T samples of the raw causal response."""
        s, state = self.ssm.step_chunk(self.norm(h), state)
        return self._out(h, s), state


@dataclass
class SarSSMState:
    """Streaming state of a `SarSSM`: one state per block and the samples consumed so far."""

    layers: list[Any]
    t: int = 0
    batch: int = 0


class SarSSM(nn.Module):
    """Complex SSM stack that focuses one SAR column: x [B, L, C] complex -> y [B, L] complex.

    The blocks are submodules "blocks.0", "blocks.1", ... (addressable with `get_submodule`,
    and returned as named feature taps by `forward(x, return_features=True)`).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.input_proj = ComplexLinear(config.input_channels, config.model_dim)
        self.blocks = nn.ModuleList(SSMBlock(config) for _ in range(config.num_layers))
        self.head = ComplexLinear(config.model_dim, 1)

    @property
    def delay(self) -> int:
        """Output delay d in samples (0 for a bidirectional model)."""
        return self.config.delay

    @property
    def complex_dtype(self) -> torch.dtype:
        return torch.complex128 if self.head.weight.dtype == torch.float64 else torch.complex64

    def _check(self, x: Any, rank: int) -> None:
        want = "[B, L, C]" if rank == 3 else ("[B, T, C]" if rank == -3 else "[B, C]")
        rank = abs(rank)
        C = self.config.input_channels
        if not isinstance(x, Tensor):
            raise ModelInputError(f"SarSSM: expected a complex tensor {want}, got {type(x)}")
        if not x.is_complex():
            raise ModelInputError(
                f"SarSSM: expected complex input {want}, got real dtype {x.dtype} with shape "
                f"{tuple(x.shape)} (make it complex, e.g. torch.view_as_complex on [..., 2])"
            )
        if x.dim() != rank or x.shape[-1] != C:
            raise ModelInputError(
                f"SarSSM: expected input {want} with C={C} channels, got shape {tuple(x.shape)}"
            )
        if x.dtype != self.complex_dtype:
            raise ModelInputError(
                f"SarSSM: input dtype {x.dtype} does not match the model's {self.complex_dtype}"
            )
        if not bool(torch.isfinite(torch.view_as_real(x)).all()):  # real view: 3x faster
            bad = int((~torch.isfinite(x)).sum())
            raise ModelInputError(
                f"SarSSM: input of shape {tuple(x.shape)} has {bad} non-finite value(s) (NaN/Inf)"
            )

    # --- conv mode ---------------------------------------------------------------------------
    def forward(
        self, x: Tensor, aligned: bool = True, return_features: bool = False
    ) -> Tensor | tuple[Tensor, OrderedDict[str, Tensor]]:
        """Focus columns.

        Args:
            x: [B, L, C] complex (C = config.input_channels).
            aligned: True: y[t] = r[t + d], the focused sample t; False: the raw causal r[t].
            return_features: also return the block outputs.
        Returns:
            y [B, L] complex, or (y, features) with features["blocks.i"] [B, L, H] complex, the
            output of block i (aligned like y).
        """
        self._check(x, 3)
        B, _, C = x.shape
        d = self.delay if aligned else 0
        if d:
            x = torch.cat([x, x.new_zeros(B, d, C)], dim=1)  # [B, L+d, C]
        h = self.input_proj(x)  # [B, L+d, H]
        features: OrderedDict[str, Tensor] = OrderedDict()
        for i, block in enumerate(self.blocks):
            h = block(h)  # [B, L+d, H]
            if return_features:
                features[f"blocks.{i}"] = h[:, d:]
        y = self.head(h)[:, d:, 0]  # [B, L]
        return (y, features) if return_features else y

    # --- step mode -------------------------------------------------------------------------
    def _streaming(self) -> None:
        if self.config.direction == "bidirectional":
            raise StepModeError(
                f"SarSSM {self.config.name!r} is bidirectional: it has no step mode (off-line "
                "use only); build a causal model with a delay for streaming"
            )

    def init_state(self, batch: int) -> SarSSMState:
        """Zero streaming state for `batch` columns."""
        self._streaming()
        return SarSSMState([blk.ssm.init_state(batch) for blk in self.blocks], 0, batch)

    def step(self, x_t: Tensor, state: SarSSMState) -> tuple[Tensor, SarSSMState]:
        """One azimuth sample: x_t [B, C] complex -> raw output r[t] [B] complex.

        r[t] equals forward(x, aligned=False)[:, t] and the aligned output at t - delay.
        """
        self._streaming()
        self._check(x_t, 2)
        h = self.input_proj(x_t)  # [B, H]
        layers = []
        for block, s in zip(self.blocks, state.layers, strict=True):
            h, s = block.step(h, s)
            layers.append(s)
        return self.head(h)[:, 0], SarSSMState(layers, state.t + 1, state.batch)

    def step_chunk(self, x: Tensor, state: SarSSMState) -> tuple[Tensor, SarSSMState]:
        """T azimuth samples at once: x [B, T, C] -> raw outputs [B, T] (equal to T steps)."""
        self._streaming()
        self._check(x, -3)
        h = self.input_proj(x)  # [B, T, H]
        layers = []
        for block, s in zip(self.blocks, state.layers, strict=True):
            h, s = block.step_chunk(h, s)
            layers.append(s)
        return self.head(h)[:, :, 0], SarSSMState(layers, state.t + x.shape[1], state.batch)


def build_model(spec: ModelConfig | str | dict[str, Any], **overrides: Any) -> SarSSM:
    """A fresh `SarSSM` from a config, a preset name ("demo-tiny", ...) or a mapping, with any
    config field overridden by keyword (`build_model("tiny", model_dim=8, delay=0)`)."""
    return SarSSM(resolve_config(spec, **overrides))
