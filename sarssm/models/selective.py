"""Selective complex SSM layer: the teacher's input-dependent kernel (scan) or a cheap gate.

Symbols: B batch, L length (azimuth samples), H channels, N complex modes per channel, d delay.

Why: the teacher may learn a kernel that adapts to the signal itself, beyond the range
conditioning every model gets from its pre-filter (`sarssm.models.conditioning`).

Scale and phase: focusing is linear, f(a x) = a f(x) for any complex a. Every selection is
therefore computed from features q of the layer input that do not change when u is scaled or
rotated:

    q_t = |u_t|^2 / mean_h |u_t,h|^2 - 1           real, [B, H]; 0 where u_t = 0

(the share of each channel in the sample's energy). Given the selection the layer is linear in
u, so f(a u) = a f(u) and f(0) = 0 hold exactly. (Selections linear in [Re u, Im u], as in
Mamba, make dt, B_t and C_t grow with |u|: the layer's gain then grows with the input's
amplitude, |y| ~ |u|^3, and four stacked layers took a unit input to 1e10.) The selection
projections start at zero, so an untrained selective layer is exactly an LTI S4D.

selectivity="scan" (Gu and Dao, "Mamba", 2023, with a complex diagonal A as in S4D):
    dt_t   = softplus(W_dt q_t + b_dt)             per channel, [B, H]
    B_t    = B_static + B_sel(q_t)                 B_static [H, N], B_sel [B, N] shared by channels
    C_t    = C_static + C_sel(q_t)                 (likewise)
    x_t    = exp(dt_t A) x_{t-1} + (exp(dt_t A) - 1) / A B_t u_t        (ZOH), x [B, H, N]
    r_t    = sum_n C_t x_t + D u_t

selectivity="gate": an LTI S4D applied to the gated input g_t u_t, g_t = sigmoid(W q_t + b),
a real gate per channel.

Directions and delay follow `sarssm.models.s4d`: causal, `forward` returns y[t] = r[t + d] (input
end padded with d zeros), `step` returns r[t]; bidirectional (off-line only) adds a second,
time-reversed SSM whose state at t holds u[t+1], u[t+2], ... (taps k >= 1), D counted once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarssm.models import ops
from sarssm.models.errors import ModelInputError, StepModeError
from sarssm.models.s4d import DIRECTIONS, INITS, S4D, init_poles, log_uniform_dt, ssm_param
from sarssm.models.scan import METHODS, selective_scan, zoh

SELECTIVITIES = ("scan", "gate")


def _inv_softplus(y: Tensor) -> Tensor:
    """x with softplus(x) = y (y > 0)."""
    return y + torch.log(-torch.expm1(-y))


def _delay1(z: Tensor) -> Tensor:
    """z[:, t] -> z[:, t - 1] along dim 1, zero at t = 0."""
    return torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], dim=1)


def invariant_features(u: Tensor) -> Tensor:
    """q = |u|^2 / mean_h |u_h|^2 - 1, u [..., H] complex -> [..., H] real (0 where u = 0).

    Unchanged by u -> a u for any complex a != 0; bounded in [-1, H - 1].
    """
    power = u.real.square() + u.imag.square()  # [..., H]
    mean = power.mean(dim=-1, keepdim=True)  # [..., 1]
    live = mean > 0
    q = power / torch.where(live, mean, torch.ones_like(mean)) - 1.0  # no 0/0 in any branch
    return torch.where(live, q, torch.zeros_like(q))


class SelectiveCore(nn.Module):
    """One direction of the selective SSM: A [H, N], and dt, B, C computed from the input.

    Stored as real tensors: log_neg_re, im [H, N] (A = -exp(log_neg_re) + j im), dt_bias [H]
    (b_dt, initialised so that softplus(b_dt) is log-uniform in [dt_min, dt_max], as Mamba),
    B, C as real pairs [H, N, 2], and three bias-free linear maps of the H invariant features q
    (`invariant_features`), zero at init: an untrained core is an LTI S4D with ZOH step
    softplus(b_dt).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        init: str = "inv",
        band: float = 0.6,
        memory: int | None = None,
    ) -> None:
        super().__init__()
        H, N = d_model, d_state
        self.d_model, self.d_state = H, N
        self.kappa = ops.min_decay(memory)
        dt0 = torch.exp(log_uniform_dt(H, dt_min, dt_max))
        A = init_poles(init, H, N, dt0, band)  # [H, N] complex128
        C = torch.randn(H, N, dtype=torch.cfloat) * math.sqrt(0.5)  # E|C|^2 = 1
        self.log_neg_re = ssm_param(torch.log(-A.real).float())
        self.im = ssm_param(A.imag.float())
        self.dt_bias = ssm_param(_inv_softplus(dt0))
        self.B = nn.Parameter(torch.view_as_real(torch.ones(H, N, dtype=torch.cfloat)).clone())
        self.C = nn.Parameter(torch.view_as_real(C).clone())
        self.dt_proj = nn.Linear(H, H, bias=False)  # W_dt
        self.B_proj = nn.Linear(H, 2 * N, bias=False)  # B_sel, as a real pair
        self.C_proj = nn.Linear(H, 2 * N, bias=False)  # C_sel
        for proj in (self.dt_proj, self.B_proj, self.C_proj):
            nn.init.zeros_(proj.weight)

    def static(self) -> tuple[Tensor, Tensor, Tensor]:
        """(A, B_static, C_static), each [H, N] complex.

        With a memory, Re A is floored so that each mode decays at least kappa per sample at
        the bias step softplus(b_dt) (`ops.decay_floor`); the selection moves dt around it.
        """
        A = torch.complex(-torch.exp(self.log_neg_re), self.im)
        if self.kappa > 0:
            dt0 = F.softplus(self.dt_bias)[:, None]  # [H, 1]
            A = ops.decay_floor(A * dt0, self.kappa) / dt0
        return A, torch.view_as_complex(self.B), torch.view_as_complex(self.C)

    def discrete_static(self) -> tuple[Tensor, Tensor]:
        """(C dB, log dA) [H, N] of the LTI system the core is with zero selection (at init)."""
        A, B, C = self.static()
        log_dA, dB = ops.discretize_zoh(A, B, F.softplus(self.dt_bias))
        return C * dB, log_dA

    def selection(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The input-dependent parts, from u [..., H] complex ([B, L, H] or [B, H]).

        Returns:
            dt [..., H] real > 0, B_sel [..., N] complex, C_sel [..., N] complex.
        """
        f = invariant_features(u)  # [..., H] real, scale- and phase-free
        dt = F.softplus(self.dt_proj(f) + self.dt_bias)  # [..., H]
        B_sel = torch.view_as_complex(self.B_proj(f).unflatten(-1, (self.d_state, 2)))
        C_sel = torch.view_as_complex(self.C_proj(f).unflatten(-1, (self.d_state, 2)))
        return dt, B_sel, C_sel

    def forward(
        self,
        u: Tensor,
        x0: Tensor | None = None,
        *,
        reverse_taps: bool = False,
        scan: str = "auto",
        chunk: int = 64,
        block: int | None = 256,
        checkpoint: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """u [B, L, H] complex -> (sum_n C_t x_t [B, L, H], last state [B, H, N]), no D.

        reverse_taps: the state read at t holds u[t-1], u[t-2], ... only (taps k >= 1), for
        the time-reversed half of a bidirectional layer. dt, B_t enter with the sample they
        carry; C_t belongs to the output time t.
        """
        A, B_static, C_static = self.static()
        dt, B_sel, C_sel = self.selection(u)
        if reverse_taps:  # dt = 0 at t = 0: no decay, and no input (G = 0)
            u, dt, B_sel = _delay1(u), _delay1(dt), _delay1(B_sel)
        return selective_scan(
            u, dt, A, B_static, B_sel, C_static, C_sel,
            x0=x0, method=scan, chunk=chunk, block=block, checkpoint=checkpoint,
        )  # fmt: skip

    @torch.no_grad()
    def step(self, u_t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """u_t [B, H], state x [B, H, N] -> (sum_n C_t x_t [B, H], x_t [B, H, N]), no D."""
        A, B_static, C_static = self.static()
        dt, B_sel, C_sel = self.selection(u_t)  # [B, H], [B, N], [B, N]
        log_dA, G = zoh(dt, A)  # [B, H, N]
        dBu = G * (B_static + B_sel[:, None]) * u_t[..., None]  # [B, H, N]
        x = torch.exp(log_dA) * x + dBu  # [B, H, N]
        y = torch.einsum("hn,bhn->bh", C_static, x) + torch.einsum("bn,bhn->bh", C_sel, x)
        return y, x


class Gate(nn.Module):
    """Real per-channel gate g = sigmoid(W q + b) of the invariant features q of u (zero W at
    init: a constant gate sigmoid(b) = 1/2, an LTI layer)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)  # W [H, H], b [H]
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, u: Tensor) -> Tensor:
        """u [..., H] complex -> g [..., H] real in (0, 1)."""
        return torch.sigmoid(self.proj(invariant_features(u)))


class SelectiveSSM(nn.Module):
    """Selective complex SSM layer: u [B, L, H] complex -> y [B, L, H] complex.

    Args:
        d_model: H channels. d_state: N complex modes per channel (per side if bidirectional).
        direction: "causal" (streaming, with `delay`) or "bidirectional" (off-line).
        delay: d >= 0 samples of look-ahead of the aligned causal output (0 if bidirectional).
        dt_min, dt_max: range of the initial step sizes. init, band: poles (`s4d.init_poles`).
        selectivity: "scan" (input-dependent dt, B, C) or "gate" (gated LTI S4D).
        scan: scan of the "scan" layer: "auto" (sequential on the CPU, chunked elsewhere; see
            `scan.resolve_scan`), "sequential", "chunked" or "doubling"; chunk: their T.
        block: time steps whose [B, block, H, N] state is held at once (None: all).
        checkpoint: recompute each block in the backward pass (training memory O(B L H)).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int,
        *,
        direction: str = "causal",
        delay: int = 0,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        init: str = "inv",
        band: float = 0.6,
        memory: int | None = None,
        selectivity: str = "scan",
        scan: str = "auto",
        chunk: int = 64,
        block: int | None = 256,
        checkpoint: bool = False,
    ) -> None:
        super().__init__()
        name = "SelectiveSSM"
        if selectivity not in SELECTIVITIES:
            raise ModelInputError(f"{name}: selectivity {selectivity!r} not in {SELECTIVITIES}")
        if direction not in DIRECTIONS:
            raise ModelInputError(f"{name}: direction {direction!r} not in {list(DIRECTIONS)}")
        if init not in INITS:
            raise ModelInputError(f"{name}: init {init!r} not in {list(INITS)}")
        if scan not in METHODS:
            raise ModelInputError(f"{name}: scan {scan!r} not in {list(METHODS)}")
        if delay < 0 or (direction == "bidirectional" and delay != 0):
            raise ModelInputError(f"{name}: delay must be >= 0 (0 if bidirectional), got {delay}")
        if d_model < 1 or d_state < 1 or not 0 < dt_min <= dt_max:
            raise ModelInputError(
                f"{name}: need d_model, d_state >= 1 and 0 < dt_min <= dt_max, got "
                f"{d_model}, {d_state}, {dt_min}, {dt_max}"
            )
        if chunk < 1 or (block is not None and block < 1):
            raise ModelInputError(f"{name}: chunk and block must be >= 1, got {chunk}, {block}")
        self.d_model, self.d_state = d_model, d_state
        self.direction, self.delay, self.selectivity = direction, delay, selectivity
        self.scan_args = dict(scan=scan, chunk=chunk, block=block, checkpoint=checkpoint)
        args = dict(dt_min=dt_min, dt_max=dt_max, init=init, band=band, memory=memory)
        if selectivity == "gate":
            self.gate = Gate(d_model)
            self.ssm = S4D(d_model, d_state, direction=direction, delay=delay, **args)
            return
        self.fwd = SelectiveCore(d_model, d_state, **args)
        self.bwd = SelectiveCore(d_model, d_state, **args) if direction != "causal" else None
        self.D = nn.Parameter(torch.view_as_real(torch.randn(d_model, dtype=torch.cfloat)).clone())

    # --- helpers ---------------------------------------------------------------------------
    @property
    def complex_dtype(self) -> torch.dtype:
        real = next(self.parameters()).dtype
        return torch.complex128 if real == torch.float64 else torch.complex64

    def _check(self, u: Tensor, rank: int) -> None:
        if not isinstance(u, Tensor) or u.dim() != rank or u.shape[-1] != self.d_model:
            shape = tuple(u.shape) if isinstance(u, Tensor) else type(u).__name__
            want = "[B, L, H]" if rank == 3 else "[B, H]"
            raise ModelInputError(
                f"SelectiveSSM: expected {want} with H={self.d_model}, got {shape}"
            )
        if u.dtype != self.complex_dtype:
            raise ModelInputError(
                f"SelectiveSSM: expected dtype {self.complex_dtype}, got {u.dtype}"
            )

    def _check_streaming(self) -> None:
        if self.direction != "causal":
            raise StepModeError(
                f"SelectiveSSM (bidirectional, selectivity={self.selectivity!r}) has no step "
                "mode: it looks at the whole sequence and is for off-line use; use "
                "direction='causal' with a delay for streaming"
            )

    # --- whole sequences -------------------------------------------------------------------
    def macs_per_sample(self, mode: str, length: int) -> float:
        """Real multiply-accumulates per processed sample (the rules of `sarssm.models.cost`).

        Both: the invariant features q (|u|^2: 2 H). scan, per direction: projections of the H
        features to dt (H^2) and to B_sel, C_sel (4 H N); per channel and mode dt A (2), ZOH
        gain G (4), G B (4), (G B) u (4), dA x (4), C_static x and C_sel x (8): 26 H N; plus
        D u (4 H). The off-line scan runs the same recurrence, so conv mode costs the same per
        sample. gate: the S4D layer's cost plus the gate's linear map (H^2) and g u (2 H).
        """
        from sarssm.models.cost import layer_macs

        H, N = self.d_model, self.d_state
        if self.selectivity == "gate":
            return layer_macs(self.ssm, mode, length) + H * H + 4.0 * H
        directions = 1 if self.bwd is None else 2
        return 2.0 * H + directions * (H * H + 30.0 * H * N) + 4.0 * H

    def forward(self, u: Tensor) -> Tensor:
        """u [B, L, H] complex -> aligned y [B, L, H] complex, y[t] = r[t + delay]."""
        self._check(u, 3)
        if self.selectivity == "gate":
            return self.ssm(u * self.gate(u))
        d = self.delay
        if d:
            u = torch.cat([u, u.new_zeros(u.shape[0], d, u.shape[2])], dim=1)  # [B, L+d, H]
        y, _ = self.fwd(u, **self.scan_args)  # [B, L+d, H]
        if self.bwd is not None:
            y_b, _ = self.bwd(u.flip(1), reverse_taps=True, **self.scan_args)
            y = y + y_b.flip(1)
        y = y + torch.view_as_complex(self.D) * u
        return y[:, d:]

    @torch.no_grad()
    def white_gain(self) -> Tensor:
        """RMS gain [H] on white input of the layer with zero selection (as initialised):
        float64, closed form. The gate starts at sigmoid(0) = 1/2."""
        if self.selectivity == "gate":
            return 0.5 * self.ssm.white_gain()
        anti = self.bwd.discrete_static() if self.bwd is not None else ()
        D = torch.view_as_complex(self.D)
        return ops.lti_gain(*self.fwd.discrete_static(), D, *anti)

    # --- streaming (causal only) -----------------------------------------------------------
    @torch.no_grad()
    def init_state(self, batch: int) -> Tensor:
        """Zero state x [batch, H, N] complex on the parameters' device."""
        self._check_streaming()
        if self.selectivity == "gate":
            return self.ssm.init_state(batch)
        return torch.zeros(
            batch, self.d_model, self.d_state, dtype=self.complex_dtype, device=self.D.device
        )

    @torch.no_grad()
    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """u_t [B, H] -> raw causal output r[t] [B, H]; state [B, H, N] -> next state."""
        self._check_streaming()
        self._check(u_t, 2)
        if self.selectivity == "gate":
            return self.ssm.step(u_t * self.gate(u_t), state)
        y, state = self.fwd.step(u_t, state)
        return y + torch.view_as_complex(self.D) * u_t, state

    @torch.no_grad()
    def step_chunk(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """u [B, T, H] -> raw outputs r [B, T, H] (equal to T calls of `step`), next state."""
        self._check_streaming()
        self._check(u, 3)
        if self.selectivity == "gate":
            return self.ssm.step_chunk(u * self.gate(u), state)
        y, state = self.fwd(u, state, **self.scan_args)
        return y + torch.view_as_complex(self.D) * u, state

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, d_state={self.d_state}, direction={self.direction!r}, "
            f"delay={self.delay}, selectivity={self.selectivity!r}, scan={self.scan_args}"
        )
