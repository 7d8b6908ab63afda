"""Fit one SSM layer's impulse response to the azimuth matched filter (model-order studies).

The target taps come from `sarssm.physics.matched_filter_taps`: they span about one aperture
centred on lag 0 (non-causal, which is why a causal model needs a delay of half an aperture).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sarssm.models.s4d import S4D


def nmse_db(estimate: Tensor, target: Tensor) -> Tensor:
    """10 log10(sum |estimate - target|^2 / sum |target|^2)."""
    err = (estimate - target).abs().pow(2).sum() / target.abs().pow(2).sum()
    return 10 * torch.log10(err)


def fit_impulse_response(
    layer: S4D, target: np.ndarray, steps: int = 1000, lr: float = 1e-2
) -> float:
    """Adam on the NMSE (in dB) between `layer.impulse_response(L)[0]` and `target` [2L-1]
    (lags -(L-1)..L-1), with a cosine learning-rate decay. The layer must have one channel
    (it is converted to float64). Returns the NMSE in dB after the last step."""
    L = (len(target) + 1) // 2
    tgt = torch.as_tensor(target, dtype=torch.complex128)
    layer = layer.double().train()
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = nmse_db(layer.impulse_response(L)[0], tgt)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return nmse_db(layer.impulse_response(L)[0], tgt).item()
