"""The sarSSM model: range pre-filter, complex input projection, residual SSM blocks, head.

Symbols: B batch (columns), L length (azimuth samples of one column), C input channels (the
column and its 2k range neighbours), H model width, T chunk length, J pre-filter half-length,
d model delay.

    x' = g_R0 * x                                  [B, L, C]  per column (`conditioning`)
    h_0 = x' W_in                                  [B, L, H]
    h_i = h_{i-1} + Dropout(Mix(Act(SSM(h_{i-1}))))          block i, i = 1..num_layers
    y   = h_n W_out                                [B, L]   (one complex value per sample)

Every term is homogeneous of degree one in x (no bias, no normalisation, a scale-free
activation, selections from scale-free features), so f(a x) = a f(x) for every complex a and
f(0) = 0; with `activation: none` and `selectivity: none` the model is exactly linear and
shift-invariant along azimuth. It has no input but the signal and each column's slant range.

Causal models: the pre-filter runs delayed by J and every block is causal with delay 0, so the
whole model is causal with the delay d of its config. `forward(x, r0)` returns the aligned
output y[t] = r[t + d] (the input padded with d zeros at its end, the first d raw outputs
dropped), `forward(x, r0, aligned=False)` the raw causal output r, and `step`/`step_chunk`
stream r one sample (or T samples) at a time, so the sample streamed at time t is the focused
sample t - d. Bidirectional models see the whole column and the pre-filter's zero-extended
output (its J samples before row 0 too).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from sarssm.models.conditioning import RangePrefilter
from sarssm.models.config import ModelConfig, resolve_config
from sarssm.models.errors import ModelInputError, StepModeError
from sarssm.models.layers import ComplexDropout, ComplexLinear, ModReLU
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
        memory=config.memory,
    )
    if config.selectivity == "none":
        return S4D(config.model_dim, config.state_dim, **kwargs)
    return SelectiveSSM(
        config.model_dim,
        config.state_dim,
        selectivity=config.selectivity,
        scan=config.scan,
        chunk=config.scan_chunk,
        block=config.scan_block,
        checkpoint=config.checkpoint,
        **kwargs,
    )


class SSMBlock(nn.Module):
    """h -> h + Dropout(Mix(Act(SSM(h)))), h [B, L, H] complex."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        H = config.model_dim
        self.ssm = build_layer(config)
        self.act = ModReLU(H) if config.activation == "modrelu" else nn.Identity()
        self.mix = ComplexLinear(H, H)
        self.dropout = ComplexDropout(config.dropout)
        # Each residual branch starts with gain 1/sqrt(layers) on white input, so an untrained
        # stack of any depth and state size keeps unit-order signals: with unit mixing the
        # branches' SSM gains (about 3 at the seed size) compound to ~1e3 over six blocks.
        with torch.no_grad():
            g = self.ssm.white_gain().clamp_min(1e-6) * math.sqrt(config.num_layers)  # [H]
            torch.view_as_complex(self.mix.weight).div_(g.to(torch.float32)[None, :])

    def _out(self, h: Tensor, s: Tensor) -> Tensor:
        return h + self.dropout(self.mix(self.act(s)))

    def forward(self, h: Tensor) -> Tensor:
        """h [B, L, H] -> [B, L, H]."""
        return self._out(h, self.ssm(h))

    @torch.no_grad()
    def step(self, h_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        """h_t [B, H] -> [B, H], one sample of the raw causal response."""
        s, state = self.ssm.step(h_t, state)
        return self._out(h_t, s), state

    @torch.no_grad()
    def step_chunk(self, h: Tensor, state: Any) -> tuple[Tensor, Any]:
        """h [B, T, H] -> [B, T, H], T samples of the raw causal response."""
        s, state = self.ssm.step_chunk(h, state)
        return self._out(h, s), state


@dataclass
class SarSSMState:
    """Streaming state of a `SarSSM`: the pre-filter's taps and its last 2J inputs, one state
    per block, and the samples consumed so far."""

    layers: list[Any]
    taps: Tensor | None = None  # [B, 2J+1] complex, lag -J..J (None: no pre-filter)
    history: Tensor | None = None  # [B, 2J, C] complex: inputs t-1, t-2, ..., t-2J
    t: int = 0
    batch: int = 0


class SarSSM(nn.Module):
    """Complex SSM stack that focuses SAR columns: x [B, L, C] complex and the columns' slant
    ranges r0 [B] (metres) -> y [B, L] complex.

    The blocks are submodules "blocks.0", "blocks.1", ... (addressable with `get_submodule`,
    and returned as named feature taps by `forward(x, r0, return_features=True)`).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config = config.resolved()
        self.config = config
        self.prefilter = (
            RangePrefilter(config.reference, config.prefilter_taps)
            if config.geometry == "prefilter"
            else None
        )
        self.input_proj = ComplexLinear(config.input_channels, config.model_dim)
        self.blocks = nn.ModuleList(SSMBlock(config) for _ in range(config.num_layers))
        self.head = ComplexLinear(config.model_dim, 1)

    @property
    def delay(self) -> int:
        """Output delay d in samples (0 for a bidirectional model)."""
        return int(self.config.delay)

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
                f"SarSSM: expected input {want} with C={C} channels (the column and "
                f"{self.config.range_neighbours} range neighbours on each side), got shape "
                f"{tuple(x.shape)}"
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

    def _check_ranges(self, slant_range: Any, batch: int) -> None:
        if self.prefilter is None:
            return
        if slant_range is None:
            raise ModelInputError(
                f"SarSSM {self.config.name!r} is conditioned on geometry: pass the slant range "
                "of every column (r0 [B], metres; `sarssm.models.inputs` reads it from a product)"
            )
        n = len(slant_range)
        if n != batch:
            raise ModelInputError(f"SarSSM: {n} slant ranges for a batch of {batch} columns")

    # --- conv mode ---------------------------------------------------------------------------
    def embed(
        self, x: Tensor, slant_range: Tensor | None = None, aligned: bool = True
    ) -> tuple[Tensor, int, int]:
        """The first block's input over the padded frame: (h_0 [B, L+pad, H], start, L).

        Block outputs over the same frame, cropped to [start, start + L), are the aligned
        features; distillation feeds blocks from this frame (teacher-forced alignment).
        """
        self._check(x, 3)
        B, L, C = x.shape
        self._check_ranges(slant_range, B)
        d = self.delay if aligned else 0
        # A bidirectional model sees the pre-filter's whole zero-extended output: its J samples
        # before row 0 too, else a column's output would depend on where the column starts.
        J = self.prefilter.J if self.prefilter is not None else 0
        lead = J if self.config.direction == "bidirectional" else 0
        pad = d + 2 * lead
        if pad:
            x = torch.cat([x, x.new_zeros(B, pad, C)], dim=1)  # [B, L+pad, C]
        if self.prefilter is not None:
            x = self.prefilter(x, slant_range, causal=True)  # [B, L+pad, C], delayed by J
        return self.input_proj(x), d + lead, L

    def hidden_states(
        self, x: Tensor, slant_range: Tensor | None = None, aligned: bool = True
    ) -> tuple[list[Tensor], int, int]:
        """([h_0, h_1, ..., h_n], start, L): the input of every block and the last block's
        output over the padded frame of `embed` (h_i is the input of block i)."""
        h, start, L = self.embed(x, slant_range, aligned)
        states = [h]
        for block in self.blocks:
            h = block(h)
            states.append(h)
        return states, start, L

    def forward(
        self,
        x: Tensor,
        slant_range: Tensor | None = None,
        aligned: bool = True,
        return_features: bool = False,
    ) -> Tensor | tuple[Tensor, OrderedDict[str, Tensor]]:
        """Focus columns.

        Args:
            x: [B, L, C] complex (C = config.input_channels).
            slant_range: [B] slant range of each column in metres (geometry "prefilter").
            aligned: True: y[t] = r[t + d], the focused sample t; False: the raw causal r[t].
            return_features: also return the block outputs.
        Returns:
            y [B, L] complex, or (y, features) with features["blocks.i"] [B, L, H] complex, the
            output of block i (aligned like y).
        """
        h, start, L = self.embed(x, slant_range, aligned)
        features: OrderedDict[str, Tensor] = OrderedDict()
        for i, block in enumerate(self.blocks):
            h = block(h)  # [B, L+pad, H]
            if return_features:
                features[f"blocks.{i}"] = h[:, start : start + L]
        y = self.head(h)[:, start : start + L, 0]  # [B, L]
        return (y, features) if return_features else y

    # --- step mode -------------------------------------------------------------------------
    def _streaming(self) -> None:
        if self.config.direction == "bidirectional":
            raise StepModeError(
                f"SarSSM {self.config.name!r} is bidirectional: it has no step mode (off-line "
                "use only); build a causal model with a delay for streaming"
            )

    @torch.no_grad()
    def init_state(self, batch: int, slant_range: Tensor | None = None) -> SarSSMState:
        """Zero streaming state for `batch` columns at slant ranges [batch] (metres)."""
        self._streaming()
        self._check_ranges(slant_range, batch)
        layers = [blk.ssm.init_state(batch) for blk in self.blocks]
        if self.prefilter is None:
            return SarSSMState(layers, None, None, 0, batch)
        dtype, device = self.complex_dtype, self.head.weight.device
        taps = self.prefilter.taps(slant_range, dtype, device)  # [B, 2J+1]
        J, C = self.prefilter.J, self.config.input_channels
        history = torch.zeros(batch, 2 * J, C, dtype=dtype, device=device)
        return SarSSMState(layers, taps, history, 0, batch)

    def _prefilter_chunk(self, x: Tensor, state: SarSSMState) -> tuple[Tensor, Tensor | None]:
        """Causal pre-filter of x [B, T, C] continuing `state`: (x' [B, T, C], new history)."""
        if self.prefilter is None:
            return x, None
        return self.prefilter.run(x, state.taps, state.history)

    @torch.no_grad()
    def step(self, x_t: Tensor, state: SarSSMState) -> tuple[Tensor, SarSSMState]:
        """One azimuth sample: x_t [B, C] complex -> raw output r[t] [B] complex (inference: no
        autograd graph is recorded).

        r[t] equals forward(x, r0, aligned=False)[:, t] and the aligned output at t - delay.
        """
        self._streaming()
        self._check(x_t, 2)
        u, history = self._prefilter_chunk(x_t[:, None], state)
        h = self.input_proj(u[:, 0])  # [B, H]
        layers = []
        for block, s in zip(self.blocks, state.layers, strict=True):
            h, s = block.step(h, s)
            layers.append(s)
        new = SarSSMState(layers, state.taps, history, state.t + 1, state.batch)
        return self.head(h)[:, 0], new

    @torch.no_grad()
    def step_chunk(self, x: Tensor, state: SarSSMState) -> tuple[Tensor, SarSSMState]:
        """T azimuth samples at once: x [B, T, C] -> raw outputs [B, T] (equal to T steps)."""
        self._streaming()
        self._check(x, -3)
        u, history = self._prefilter_chunk(x, state)
        h = self.input_proj(u)  # [B, T, H]
        layers = []
        for block, s in zip(self.blocks, state.layers, strict=True):
            h, s = block.step_chunk(h, s)
            layers.append(s)
        new = SarSSMState(layers, state.taps, history, state.t + x.shape[1], state.batch)
        return self.head(h)[:, :, 0], new


def build_model(spec: ModelConfig | str | dict[str, Any], **overrides: Any) -> SarSSM:
    """A fresh `SarSSM` from a config, a preset name ("demo-tiny", ...) or a mapping, with any
    config field overridden by keyword (`build_model("tiny", model_dim=8, delay=0)`)."""
    return SarSSM(resolve_config(spec, **overrides))
