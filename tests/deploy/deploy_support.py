"""Helpers shared by the deployment tests (on sys.path through pytest's `pythonpath`)."""

from __future__ import annotations

import numpy as np
import torch

from sarssm.models import build_model
from sarssm.models.inputs import stack_neighbours


def tiny(seed: int = 0, **overrides) -> torch.nn.Module:
    """A random-weight `demo-tiny` (with `overrides`) in eval mode."""
    torch.manual_seed(seed)
    return build_model("demo-tiny", **overrides).eval()


def swath(model: torch.nn.Module, W: int) -> np.ndarray:
    """W slant ranges spread over the model's whole conditioning interval."""
    ref = model.config.reference
    return np.linspace(ref.range_min_m, ref.range_max_m, W)


def noise(L: int, W: int, seed: int = 0) -> np.ndarray:
    """L lines of W columns of complex white noise (complex64)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((L, W)) + 1j * rng.standard_normal((L, W))).astype(np.complex64)


def rel_err(z: np.ndarray, y: np.ndarray) -> float:
    """The largest difference over the reference's peak."""
    assert z.shape == y.shape, (z.shape, y.shape)
    return float(np.max(np.abs(z - y)) / np.max(np.abs(y)))


def model_input(model: torch.nn.Module, lines: np.ndarray) -> np.ndarray:
    """Lines [L, W] -> the model's input x [W, L, C] complex64 (range neighbours, zero edges)."""
    k = model.config.range_neighbours
    L, W = lines.shape
    padded = np.zeros((L, W + 2 * k), np.complex64)
    padded[:, k : k + W] = lines
    return stack_neighbours(padded, k)
