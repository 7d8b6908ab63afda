"""Scans of the time-varying diagonal recurrence x_t = dA_t x_{t-1} + dBu_t (selective SSM).

Symbols: B batch, L length, H channels, N complex modes, T chunk length, nc = ceil(L / T).

Every scan takes the decay in log form, log_dA = dt A (complex, Re <= 0): the selective layer
knows it in closed form, and the chunked scan needs its cumulative sums, so a complex logarithm
(branch cut, infinite at 0) is never taken. The scans are elementwise over (B, H, N).

- `scan_sequential`: the plain loop over t, the reference.
- `scan_chunked`: within a chunk of T steps, with S_t = sum_{k<=t} log_dA_k (log-space cumsum),
      x_t = e^{S_t} x_in + e^{S_t} sum_{k<=t} e^{-S_k} dBu_k,
  parallel over all chunks; a loop over the nc chunks then carries the entering state x_in.
- `scan_doubling`: Hillis-Steele doubling scan of the pairs (dA, dBu) within chunks
  (log2 T passes, products of |dA| <= 1 only: stable for any decay), same carry.
- `selective_scan`: the whole selective recurrence (ZOH discretisation, y = sum_n C x), block by
  block, so the full [B, L, H, N] state is never held at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

ScanFn = Callable[..., Tensor]


def scan_sequential(log_dA: Tensor, dBu: Tensor, x0: Tensor | None = None) -> Tensor:
    """Reference loop x_t = exp(log_dA_t) x_{t-1} + dBu_t, x_{-1} = x0 (zeros if None).

    Args:
        log_dA, dBu: [B, L, H, N] complex. x0: [B, H, N] complex or None.
    Returns:
        x: [B, L, H, N] complex, the state after each step.
    """
    dA = torch.exp(log_dA)  # [B, L, H, N]
    x = torch.zeros_like(dBu[:, 0]) if x0 is None else x0  # [B, H, N]
    xs = []
    # unbind, not dA[:, t]: the backward of L slices would write L full-size zero gradients
    for a_t, b_t in zip(dA.unbind(1), dBu.unbind(1), strict=True):
        x = a_t * x + b_t  # [B, H, N]
        xs.append(x)
    return torch.stack(xs, dim=1)  # [B, L, H, N]


def _to_chunks(z: Tensor, T: int) -> Tensor:
    """[B, L, H, N] -> [B, nc, T, H, N], the end padded with zeros (log_dA = 0, dBu = 0)."""
    Bt, L, H, N = z.shape
    nc = -(-L // T)
    if nc * T != L:
        z = torch.cat([z, z.new_zeros(Bt, nc * T - L, H, N)], dim=1)
    return z.reshape(Bt, nc, T, H, N)


def _carry(x_loc: Tensor, decay: Tensor, x0: Tensor | None) -> Tensor:
    """Add the entering state of each chunk: x = x_loc + decay * x_in.

    Args:
        x_loc: [B, nc, T, H, N] scans started from a zero state. decay: [B, nc, T, H, N], the
        cumulative decay e^{S_t} from the chunk start. x0: [B, H, N] or None.
    Returns:
        x: [B, nc * T, H, N].
    """
    Bt, nc, T, H, N = x_loc.shape
    if nc == 1 and x0 is None:
        return x_loc.reshape(Bt, T, H, N)
    h = torch.zeros_like(x_loc[:, 0, 0]) if x0 is None else x0  # [B, H, N]
    h_in = []
    # sequential over the nc chunks, on [B, H, N] tensors only
    for x_end, a_end in zip(x_loc[:, :, -1].unbind(1), decay[:, :, -1].unbind(1), strict=True):
        h_in.append(h)
        h = x_end + a_end * h  # state after the chunk
    x = x_loc + decay * torch.stack(h_in, dim=1)[:, :, None]  # [B, nc, T, H, N]
    return x.reshape(Bt, nc * T, H, N)


def _wrap(theta: Tensor) -> Tensor:
    """Angle wrapped into [-pi, pi) (gradient 1)."""
    return torch.remainder(theta + math.pi, 2 * math.pi) - math.pi


def _exponent_limit(dtype: torch.dtype) -> float:
    """Largest |Re S| for which e^{+-S} times data of any sane size stays finite: half the
    exponent range of the real dtype (44 for float32, 354 for float64)."""
    return 0.5 * math.log(torch.finfo(dtype).max)


def scan_chunked(log_dA: Tensor, dBu: Tensor, x0: Tensor | None = None, chunk: int = 64) -> Tensor:
    """Chunked log-space scan, equal to `scan_sequential` (see the module docstring).

    Numerics: the phase Im S is accumulated in float64 and wrapped into [-pi, pi) before the
    cos/sin (a float32 cumulative phase of a few hundred radians would lose 1e-5 rad per step);
    e^{S} and e^{-S} share one cos/sin. e^{-S_k} grows within a chunk: if any |Re S| exceeds
    `_exponent_limit` (a decay of e^-44 within one chunk in float32) the call falls back to
    `scan_doubling`, which is exact for any decay, instead of risking overflow.

    Args:
        log_dA, dBu: [B, L, H, N] complex. x0: [B, H, N] or None. chunk: T >= 1.
    Returns:
        x: [B, L, H, N] complex.
    """
    L = dBu.shape[1]
    T = max(1, min(int(chunk), L))
    b = _to_chunks(dBu, T)  # [B, nc, T, H, N]
    re = torch.cumsum(_to_chunks(log_dA.real, T), dim=2)  # Re S [B, nc, T, H, N]
    if re.detach().abs().amax().item() > _exponent_limit(re.dtype):
        return scan_doubling(log_dA, dBu, x0, chunk=chunk)
    im = torch.cumsum(_to_chunks(log_dA.imag, T).double(), dim=2)  # Im S, float64
    im = _wrap(im).to(re.dtype)  # [B, nc, T, H, N]
    cos, sin = torch.cos(im), torch.sin(im)
    grow, shrink = torch.exp(-re), torch.exp(re)  # e^{-Re S}, e^{Re S}
    decay = torch.complex(shrink * cos, shrink * sin)  # e^{S_t}
    inv = torch.complex(grow * cos, -grow * sin)  # e^{-S_k}: no division by a small e^{S_k}
    x_loc = decay * torch.cumsum(inv * b, dim=2)  # zero entering state
    return _carry(x_loc, decay, x0)[:, :L]


def scan_doubling(log_dA: Tensor, dBu: Tensor, x0: Tensor | None = None, chunk: int = 64) -> Tensor:
    """Hillis-Steele doubling scan within chunks of T steps, then the chunk carry.

    Pass s (shift 2^s) combines each step with the one 2^s earlier:
        (a_t, x_t) <- (a_t a_{t-2^s}, x_t + a_t x_{t-2^s}),
    so after ceil(log2 T) passes x_t is the zero-start scan and a_t the cumulative decay.

    Args:
        log_dA, dBu: [B, L, H, N] complex. x0: [B, H, N] or None. chunk: T >= 1.
    Returns:
        x: [B, L, H, N] complex.
    """
    L = dBu.shape[1]
    T = max(1, min(int(chunk), L))
    a = torch.exp(_to_chunks(log_dA, T))  # [B, nc, T, H, N]
    x = _to_chunks(dBu, T)  # [B, nc, T, H, N]
    s = 1
    while s < T:
        x = torch.cat([x[:, :, :s], x[:, :, s:] + a[:, :, s:] * x[:, :, :-s]], dim=2)
        a = torch.cat([a[:, :, :s], a[:, :, s:] * a[:, :, :-s]], dim=2)
        s *= 2
    return _carry(x, a, x0)[:, :L]


SCANS: dict[str, ScanFn] = {
    "sequential": scan_sequential,
    "chunked": scan_chunked,
    "doubling": scan_doubling,
}
METHODS = ("auto", *SCANS)


def resolve_scan(method: str, device: torch.device) -> str:
    """The scan `method` names; "auto": the sequential loop on the CPU, where its [B, H, N]
    steps stay in cache and it measured fastest (docs/selectivity.md), the chunked scan on
    accelerators, where L small steps would each pay a kernel launch."""
    if method not in METHODS:
        raise ValueError(f"unknown scan {method!r}; choose one of {list(METHODS)}")
    if method == "auto":
        return "sequential" if device.type == "cpu" else "chunked"
    return method


def zoh(dt: Tensor, A: Tensor) -> tuple[Tensor, Tensor]:
    """Zero-order hold with a time-varying step: x_t = exp(dt_t A) x_{t-1} + G_t B_t u_t.

    Args:
        dt: [..., H] real > 0. A: [H, N] complex.
    Returns:
        (log_dA, G), each [..., H, N] complex: log_dA = dt A and G = (exp(dt A) - 1) / A
        (expm1 keeps G accurate for |dt A| << 1, where it tends to dt, Mamba's Euler value).
    """
    log_dA = dt[..., None] * A  # [..., H, N]
    return log_dA, torch.expm1(log_dA) / A


def _scan_block(
    u: Tensor,
    dt: Tensor,
    A: Tensor,
    B_static: Tensor,
    B_sel: Tensor | None,
    C_static: Tensor,
    C_sel: Tensor | None,
    x0: Tensor | None,
    scan: ScanFn,
    chunk: int,
) -> tuple[Tensor, Tensor]:
    """One block of `selective_scan`: (y [B, T, H], last state [B, H, N])."""
    log_dA, G = zoh(dt, A)  # [B, T, H, N]
    Bt = B_static if B_sel is None else B_static + B_sel[:, :, None]  # [B, T, H, N] or [H, N]
    dBu = G * Bt * u[..., None]  # [B, T, H, N]
    if scan is scan_sequential:
        x = scan_sequential(log_dA, dBu, x0)
    else:
        x = scan(log_dA, dBu, x0, chunk=chunk)  # [B, T, H, N]
    y = torch.einsum("hn,bthn->bth", C_static, x)  # [B, T, H]
    if C_sel is not None:
        y = y + torch.einsum("btn,bthn->bth", C_sel, x)
    # clone: a view would keep the block's whole [B, T, H, N] state alive (checkpointing)
    return y, x[:, -1].clone()


def selective_scan(
    u: Tensor,
    dt: Tensor,
    A: Tensor,
    B_static: Tensor,
    B_sel: Tensor | None,
    C_static: Tensor,
    C_sel: Tensor | None,
    *,
    x0: Tensor | None = None,
    method: str = "auto",
    chunk: int = 64,
    block: int | None = 256,
    checkpoint: bool = False,
) -> tuple[Tensor, Tensor]:
    """The selective SSM recurrence (without the D skip), block by block along L.

        x_t = exp(dt_t A) x_{t-1} + (exp(dt_t A) - 1) / A (B_static + B_sel_t) u_t
        y_t = sum_n (C_static + C_sel_t) x_t

    Args:
        u: [B, L, H] complex. dt: [B, L, H] real > 0. A: [H, N] complex.
        B_static, C_static: [H, N] complex. B_sel, C_sel: [B, L, N] complex (shared by the
            H channels) or None (the LTI limit).
        x0: [B, H, N] complex entering state, or None (zeros).
        method: "auto" or a key of `SCANS` (see `resolve_scan`). chunk: T of the chunked scans.
        block: steps materialised at once (None: all L). Without autograd the peak is about
            10 complex [B, block, H, N] temporaries. Under autograd the tensors kept for the
            backward pass add up to about 7 (sequential), 14 (chunked) or 18 (doubling) times
            the complex64 state [B, L, H, N] whatever the block (benchmarks/scan.py), unless
            `checkpoint`: then only the inputs and one [B, H, N] state per block are kept,
            and each block is recomputed in the backward pass (one block's worth at a time).
    Returns:
        (y [B, L, H] complex, x_L [B, H, N] complex, the state after the last step).
    """
    scan = SCANS[resolve_scan(method, u.device)]
    L = u.shape[1]
    step = L if block is None else max(1, int(block))
    x = x0
    ys = []
    for s in range(0, L, step):
        e = s + step
        args = (
            u[:, s:e],
            dt[:, s:e],
            A,
            B_static,
            None if B_sel is None else B_sel[:, s:e],
            C_static,
            None if C_sel is None else C_sel[:, s:e],
            x,
            scan,
            chunk,
        )
        if checkpoint and torch.is_grad_enabled():
            y, x = _checkpoint(_scan_block, *args, use_reentrant=False)
        else:
            y, x = _scan_block(*args)
        ys.append(y)
    return torch.cat(ys, dim=1), x
