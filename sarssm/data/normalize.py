"""Linear complex normalisation: one positive real scale per signal level, nothing else.

Focusing is linear and the phase carries the information, so the only admissible normalisation
is a division by a positive real constant: x_n = x / s_in, y_n = y / s_out, and the model
output returns to target units as y = y_n * s_out. No offset (an offset such as 0.5 + 0.5j
breaks linearity and phase), no min-max, no per-sample statistics (they would make the mapping
depend on the patch).

s_in and s_out are RMS amplitudes sqrt(mean |x|^2) over the training split, estimated by
`ComplexScaler.fit` in one streaming pass with float64 sums.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sarssm.errors import ConfigError, SarssmError

ArrayT = TypeVar("ArrayT")


@dataclass(frozen=True)
class ComplexScaler:
    """Positive real scales of the input level (e.g. rc) and the target level (e.g. az)."""

    input_scale: float  # s_in, RMS amplitude of the input level
    target_scale: float  # s_out, RMS amplitude of the target level

    def __post_init__(self) -> None:
        for name in ("input_scale", "target_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"scaler.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"scaler.{name} must be a positive finite number, got {value!r}")
            object.__setattr__(self, name, float(value))

    # --- the maps (numpy arrays and torch tensors alike; dtype is kept) -------------------
    def normalize_input(self, x: ArrayT) -> ArrayT:
        """x / s_in."""
        return x / self.input_scale  # type: ignore[operator]

    def normalize_target(self, y: ArrayT) -> ArrayT:
        """y / s_out."""
        return y / self.target_scale  # type: ignore[operator]

    def denormalize_output(self, y_n: ArrayT) -> ArrayT:
        """y_n * s_out: a model output back in target units."""
        return y_n * self.target_scale  # type: ignore[operator]

    def denormalize_input(self, x_n: ArrayT) -> ArrayT:
        """x_n * s_in."""
        return x_n * self.input_scale  # type: ignore[operator]

    # --- storage next to the model ---------------------------------------------------------
    def to_dict(self) -> dict[str, float]:
        return {"input_scale": self.input_scale, "target_scale": self.target_scale}

    @classmethod
    def from_dict(cls, data: Any, where: str = "scaler") -> ComplexScaler:
        """Strict inverse of `to_dict` (unknown or missing keys are a ConfigError)."""
        from sarssm.config import from_dict

        return from_dict(cls, data, where)

    def save(self, path: str | Path) -> None:
        """Write the scales as JSON, atomically."""
        from sarssm.io import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ComplexScaler:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"scaler file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
        return cls.from_dict(data, where=str(path))

    # --- estimation ------------------------------------------------------------------------
    @classmethod
    def fit(cls, pairs: Iterable[tuple[Any, Any]]) -> ComplexScaler:
        """Scales sqrt(sum |x|^2 / n_x) and sqrt(sum |y|^2 / n_y) over all (x, y) pairs.

        Streaming: one pass, float64 sums of |.|^2 and element counts, so any split size fits.
        x and y may be numpy arrays or torch tensors of any shape.
        """
        sums = {"input": 0.0, "target": 0.0}
        counts = {"input": 0, "target": 0}
        n_pairs = 0
        for i, pair in enumerate(pairs):
            try:
                x, y = pair
            except (TypeError, ValueError):
                raise SarssmError(f"scaler fit: item {i} is not an (x, y) pair") from None
            for level, a in (("input", x), ("target", y)):
                power, count = _power_sum(a, f"scaler fit: {level} of pair {i}")
                sums[level] += power
                counts[level] += count
            n_pairs += 1
        if n_pairs == 0:
            raise SarssmError("scaler fit: no data (the training split is empty)")
        scales = {}
        for level in ("input", "target"):
            if counts[level] == 0:
                raise SarssmError(f"scaler fit: the {level} arrays are all empty")
            rms = math.sqrt(sums[level] / counts[level])
            if not rms > 0 or not math.isfinite(rms):
                raise SarssmError(f"scaler fit: {level} RMS amplitude is {rms!r} (all zeros?)")
            scales[level] = rms
        return cls(input_scale=scales["input"], target_scale=scales["target"])


def _power_sum(a: Any, where: str) -> tuple[float, int]:
    """(sum |a|^2 in float64, number of elements), rejecting non-finite values."""
    if hasattr(a, "detach"):  # torch tensor: move to numpy without importing torch here
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise SarssmError(f"{where}: expected a numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        return 0.0, 0
    if np.iscomplexobj(arr):
        power = np.square(arr.real, dtype=np.float64) + np.square(arr.imag, dtype=np.float64)
    else:
        power = np.square(arr, dtype=np.float64)
    total = float(power.sum(dtype=np.float64))
    if not math.isfinite(total):
        raise SarssmError(f"{where} contains NaN or infinite values")
    return total, int(arr.size)
