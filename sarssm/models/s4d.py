"""Complex diagonal state space layer (S4D) with FFT-convolution and exact streaming modes.

Symbols: B batch, L length (azimuth samples), H channels (model width), N complex modes per
channel, T chunk length, d output delay.

Per channel h the layer is the diagonal system x' = A x + B u, y = C x + D u with complex A
(Re A < 0), B, C, D, discretised by zero-order hold at a learned step dt_h (see `ops.py`).
Its kernel K[k] = sum_n C_n dB_n dA_n^k is complex and keeps all N modes: SAR data is I/Q, so
the S4 shortcut y = 2 Re(...) for conjugate pairs does not apply.

Directions (Gu et al., "On the Parameterization and Initialization of Diagonal State Space
Models", 2022, for S4D; the delay is this project's streaming convention):
- causal: raw response r[t] = sum_{k>=0} K[k] u[t-k] + D u[t]. `forward` returns the aligned
  output y[t] = r[t + d] (the input end padded with d zeros), `step` returns r[t], so the
  streaming output at time t is the focused sample t - d.
- bidirectional: y[t] = sum_{k>=0} K_f[k] u[t-k] + sum_{k>=1} K_b[k] u[t+k] + D u[t], with
  K_b[k] = K'[k-1] of a second SSM; off-line only (no step mode).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from sarssm.models import ops
from sarssm.models.errors import ModelInputError, StepModeError

INITS = ("inv", "lin", "band")
_STREAM_BLOCK = 256  # longest block of `step_chunk` handled at once
_CACHE_ELEMENTS = 1 << 22  # cache the powers of step_chunk only up to 32 MiB (complex64)
DIRECTIONS = ("causal", "bidirectional")


def init_poles(init: str, d_model: int, d_state: int, dt: Tensor, band: float) -> Tensor:
    """Initial continuous-time poles A [H, N] complex (Re A = -1/2 for every init).

    - inv (S4D-Inv): Im A = +-(N/pi) (N/(2m+1) - 1), m = 0..ceil(N/2)-1;
    - lin (S4D-Lin): Im A = pi (n - N/2), n = 0..N-1.
    The S4 papers keep only the positive half and rely on conjugate pairs (real signals); a
    complex signal has both Doppler signs, so both halves are kept as separate modes.
    - band: the discrete frequencies Im(A) dt / (2 pi) spread evenly over [-band/2, band/2]
      cycles per sample (the normalised Doppler band Ba / PRF of the data, about 0.6 for
      both presets), so every mode starts inside the band a chirp sweeps.
    """
    H, N = d_model, d_state
    if init == "inv":
        m = torch.arange(math.ceil(N / 2), dtype=torch.float64)
        pos = N / math.pi * (N / (2 * m + 1) - 1)
        im = torch.cat([pos, -pos[: N // 2]]).expand(H, N)
    elif init == "lin":
        im = (math.pi * (torch.arange(N, dtype=torch.float64) - N // 2)).expand(H, N)
    elif init == "band":
        f = torch.linspace(-band / 2, band / 2, N, dtype=torch.float64) if N > 1 else torch.zeros(1)
        im = 2 * math.pi * f[None, :] / dt.to(torch.float64)[:, None]  # [H, N]
    else:
        raise ModelInputError(f"unknown init {init!r}; choose one of {list(INITS)}")
    return torch.complex(torch.full((H, N), -0.5, dtype=torch.float64), im.to(torch.float64))


def ssm_param(value: Tensor) -> nn.Parameter:
    """A parameter of the state matrix or step size: no weight decay, lower learning rate."""
    p = nn.Parameter(value)
    p._ssm = True
    return p


def log_uniform_dt(H: int, dt_min: float, dt_max: float) -> Tensor:
    """log dt [H], dt drawn log-uniformly in [dt_min, dt_max] (the S4 step-size init)."""
    return torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)


class S4DKernel(nn.Module):
    """Parameters of H independent diagonal SSMs -> discrete system and convolution kernel.

    Stored as real tensors: log_dt [H], log_neg_re [H, N] and im [H, N] (A = -exp(log_neg_re)
    + j im, so Re A < 0 always), B and C as real pairs [H, N, 2].
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
        self.kappa = ops.min_decay(memory)  # every mode decays 40 dB within `memory` samples
        log_dt = log_uniform_dt(H, dt_min, dt_max)  # [H]
        A = init_poles(init, H, N, log_dt.exp(), band)  # [H, N]
        C = torch.randn(H, N, dtype=torch.cfloat) * math.sqrt(0.5)  # E|C|^2 = 1
        self.log_dt = ssm_param(log_dt)
        self.log_neg_re = ssm_param(torch.log(-A.real).float())
        self.im = ssm_param(A.imag.float())
        self.B = nn.Parameter(torch.view_as_real(torch.ones(H, N, dtype=torch.cfloat)).clone())
        self.C = nn.Parameter(torch.view_as_real(C).clone())

    def continuous(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(A [H, N], B [H, N], C [H, N] complex, dt [H] real)."""
        A = torch.complex(-torch.exp(self.log_neg_re), self.im)
        return A, torch.view_as_complex(self.B), torch.view_as_complex(self.C), self.log_dt.exp()

    def discrete(self) -> tuple[Tensor, Tensor, Tensor]:
        """(log_dA, dB, C), each [H, N] complex, dA = exp(log_dA) (`ops.discretize_zoh`)."""
        A, B, C, dt = self.continuous()
        log_dA, dB = ops.discretize_zoh(A, B, dt, self.kappa)
        return log_dA, dB, C

    def forward(self, L: int) -> Tensor:
        """Kernel K [H, L] complex, K[k] = sum_n C_n dB_n dA_n^k."""
        log_dA, dB, C = self.discrete()
        return ops.vandermonde(C * dB, log_dA, L)


def _clear_cache(module: nn.Module, incompatible_keys: Any) -> None:
    """load_state_dict post-hook: new weights invalidate the cached kernel."""
    module._cache.clear()


class S4D(nn.Module):
    """Complex S4D sequence layer: u [B, L, H] complex -> y [B, L, H] complex.

    Args:
        d_model: H channels. d_state: N complex modes per channel (per side if bidirectional).
        direction: "causal" (streaming, with `delay`) or "bidirectional" (off-line).
        delay: d >= 0 samples of look-ahead of the aligned causal output (0 if bidirectional).
        dt_min, dt_max: range of the initial step sizes (log-uniform per channel).
        init: "inv", "lin" or "band" (see `init_poles`). band: normalised band for "band".
        memory: every mode decays 40 dB within this many samples (None: no floor).
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
    ) -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise ModelInputError(f"S4D: direction {direction!r} not in {list(DIRECTIONS)}")
        if memory is not None and memory < 1:
            raise ModelInputError(f"S4D: memory must be >= 1 samples or None, got {memory}")
        if init not in INITS:
            raise ModelInputError(f"S4D: init {init!r} not in {list(INITS)}")
        if delay < 0 or (direction == "bidirectional" and delay != 0):
            raise ModelInputError(f"S4D: delay must be >= 0 (0 if bidirectional), got {delay}")
        if d_model < 1 or d_state < 1 or not 0 < dt_min <= dt_max:
            raise ModelInputError(
                f"S4D: need d_model, d_state >= 1 and 0 < dt_min <= dt_max, got "
                f"{d_model}, {d_state}, {dt_min}, {dt_max}"
            )
        self.d_model, self.d_state = d_model, d_state
        self.direction, self.delay = direction, delay
        kernel_args = dict(dt_min=dt_min, dt_max=dt_max, init=init, band=band, memory=memory)
        self.kernel = S4DKernel(d_model, d_state, **kernel_args)
        self.kernel_b = (
            S4DKernel(d_model, d_state, **kernel_args) if direction == "bidirectional" else None
        )
        self.D = nn.Parameter(torch.view_as_real(torch.randn(d_model, dtype=torch.cfloat)).clone())
        self._cache: dict[str, tuple[Any, Any]] = {}
        self.register_load_state_dict_post_hook(_clear_cache)

    # --- helpers ---------------------------------------------------------------------------
    @property
    def complex_dtype(self) -> torch.dtype:
        return torch.complex128 if self.D.dtype == torch.float64 else torch.complex64

    def train(self, mode: bool = True) -> S4D:
        self._cache.clear()
        return super().train(mode)

    def _cached(self, name: str, extra: Any, compute):
        """Memoise `compute()` in eval mode, keyed by `extra`, dtype, device and a copy of the
        parameters' values. Version counters alone miss in-place updates through `p.data`
        (an EMA teacher's `p.data.mul_(m).add_(...)` leaves `p._version` unchanged); comparing
        the values costs a copy of the layer's parameters, far less than the kernel."""
        params = list(self.parameters())
        if self.training or (torch.is_grad_enabled() and any(p.requires_grad for p in params)):
            return compute()
        key = (extra, self.D.dtype, self.D.device)
        values = torch.cat([p.detach().reshape(-1) for p in params])
        hit = self._cache.get(name)
        if hit is not None and hit[0] == key and torch.equal(hit[1], values):
            return hit[2]
        value = compute()
        self._cache[name] = (key, values.clone(), value)
        return value

    def _check(self, u: Tensor, rank: int) -> None:
        if not isinstance(u, Tensor) or u.dim() != rank or u.shape[-1] != self.d_model:
            shape = tuple(u.shape) if isinstance(u, Tensor) else type(u).__name__
            want = "[B, L, H]" if rank == 3 else "[B, H]"
            raise ModelInputError(f"S4D: expected {want} with H={self.d_model}, got {shape}")
        if u.dtype != self.complex_dtype:
            raise ModelInputError(f"S4D: expected dtype {self.complex_dtype}, got {u.dtype}")

    def kernel_spectrum(self, L: int) -> Tensor:
        """FFT [H, 2L] of the kernel taps (`ops.two_sided_kernel` layout) for L-sample inputs."""

        def compute() -> Tensor:
            k_causal = self.kernel(L)  # [H, L]
            k_anti = self.kernel_b(L - 1) if self.kernel_b is not None and L > 1 else None
            return torch.fft.fft(ops.two_sided_kernel(k_causal, k_anti, 2 * L))  # [H, 2L]

        return self._cached("spectrum", L, compute)

    def impulse_response(self, L: int) -> Tensor:
        """Taps h [H, 2L-1] of the aligned output y[t] = sum_j h[j] u[t-j], j = -(L-1)..L-1
        at index j + L - 1 (D included; the causal taps shifted left by the delay)."""
        d = self.delay
        taps = self.kernel(L + d)  # [H, L+d]: lags -d .. L-1
        taps = torch.cat([taps[:, :1] + torch.view_as_complex(self.D)[:, None], taps[:, 1:]], -1)
        zeros = taps.new_zeros(self.d_model, max(0, L - 1 - d))  # lags -(L-1) .. -d-1
        h = torch.cat([zeros, taps[:, max(0, d - (L - 1)) :]], dim=-1)  # [H, 2L-1]
        if self.kernel_b is not None and L > 1:
            anti = torch.flip(self.kernel_b(L - 1), dims=[-1])  # lags -(L-1) .. -1
            h = torch.cat([anti, h[:, L - 1 :]], dim=-1)
        return h

    @torch.no_grad()
    def white_gain(self) -> Tensor:
        """RMS gain [H] of each channel on white input (float64, closed form)."""
        log_dA, dB, C = self.kernel.discrete()
        anti = None
        if self.kernel_b is not None:
            log_dA_b, dB_b, C_b = self.kernel_b.discrete()
            anti = (C_b * dB_b, log_dA_b)
        return ops.lti_gain(C * dB, log_dA, torch.view_as_complex(self.D), *(anti or ()))

    # --- conv mode ---------------------------------------------------------------------------
    def forward(self, u: Tensor) -> Tensor:
        """u [B, L, H] complex -> aligned y [B, L, H] complex (FFT convolution, 2x zero padding)."""
        self._check(u, 3)
        d = self.delay
        if d:
            u = torch.cat([u, u.new_zeros(u.shape[0], d, u.shape[2])], dim=1)  # [B, L+d, H]
        y = ops.fft_conv(u, self.kernel_spectrum(u.shape[1]))  # [B, L+d, H]
        y = y + torch.view_as_complex(self.D) * u
        return y[:, d:]  # [B, L, H]: y[t] = r[t + d]

    # --- step mode -------------------------------------------------------------------------
    def _discrete(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """(log_dA, dA, dB, C, D) of the causal system, cached in eval mode."""
        if self.kernel_b is not None:
            raise StepModeError(
                "S4D (bidirectional) has no step mode: it looks at the whole sequence and is "
                "for off-line use; use direction='causal' with a delay for streaming"
            )

        def compute() -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
            log_dA, dB, C = self.kernel.discrete()
            dA = torch.polar(torch.exp(log_dA.real), log_dA.imag)  # faster than complex exp
            return log_dA, dA, dB, C, torch.view_as_complex(self.D)

        return self._cached("discrete", None, compute)

    @torch.no_grad()
    def init_state(self, batch: int) -> Tensor:
        """Zero state x [batch, H, N] complex on the parameters' device."""
        self._discrete()  # raises for bidirectional layers
        return torch.zeros(
            batch, self.d_model, self.d_state, dtype=self.complex_dtype, device=self.D.device
        )

    @torch.no_grad()
    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """u_t [B, H] -> raw causal output r[t] [B, H]; state [B, H, N] -> next state."""
        _, dA, dB, C, D = self._discrete()
        self._check(u_t, 2)
        y, state = ops.ssm_step(state, u_t, dA, dB, C)
        return y + D * u_t, state

    @torch.no_grad()
    def step_chunk(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """u [B, T, H] -> raw outputs r [B, T, H] (equal to T calls of `step`), next state."""
        log_dA, _, dB, C, D = self._discrete()
        self._check(u, 3)
        T = min(u.shape[1], _STREAM_BLOCK)

        def compute() -> Tensor:  # dA^0 .. dA^T, reused by every chunk of the same length
            return ops.powers(log_dA, torch.arange(T + 1, device=u.device, dtype=u.real.dtype))

        small = self.d_model * self.d_state * (T + 1) <= _CACHE_ELEMENTS
        P = self._cached("powers", T, compute) if small else None
        y, state = ops.ssm_chunk(state, u, log_dA, dB, C, block=_STREAM_BLOCK, P=P)
        return y + D * u, state

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, d_state={self.d_state}, direction={self.direction!r}, "
            f"delay={self.delay}"
        )
