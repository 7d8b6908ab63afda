"""`StreamingFocuser`: an LTI student focuses a product one azimuth line at a time.

Each pushed line of W range samples updates one recurrent state per column and, once the
model's delay d has passed, returns one focused line: the line pushed at time t gives the
focused row t - d, and `flush()` returns the last d rows. Together they equal the whole-column
output `model(x, slant_range, aligned=True)` (times the normalisation), to float32 rounding.

Memory is fixed at construction: the state ([layers, H, N, W] per real and imaginary part,
columns innermost), the pre-filter's ring of its last 2J + 1 input lines and its per-column
taps, the discretised parameters and a few tiles of scratch. A push reads the state once,
writes it once, and allocates nothing on the numba backend (pass `out=` to receive the line in
your own buffer); the numpy backend allocates only numpy's fixed-size ufunc buffers.

Backends: "numba" (the fused kernel of `sarssm.deploy.kernels`) and "numpy" (the reference,
`sarssm.deploy.numpy_step`, also the exported step file); "auto" takes numba when installed.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from sarssm.deploy import kernels, numpy_step
from sarssm.deploy.lti import lti_arrays, minimum_bytes
from sarssm.errors import ConfigError

BACKENDS = ("auto", "numba", "numpy")
log = logging.getLogger(__name__)
_warned = False


def resolve_backend(backend: str) -> str:
    """'numba' or 'numpy' for a requested backend (auto: numba when it imports)."""
    global _warned
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r} is not one of {list(BACKENDS)}")
    if backend == "numpy":
        return "numpy"
    if kernels.available():
        return "numba"
    if backend == "numba":
        raise ConfigError("backend 'numba' asked for, but numba is not installed")
    if not _warned:
        log.warning("numba is not installed: streaming uses the slower numpy backend")
        _warned = True
    return "numpy"


class StreamingFocuser:
    """Line-by-line focusing of W columns by a causal LTI student.

    Args:
        model: a `SarSSM` (LTI: selectivity and activation none, causal) or its exported
            arrays (`sarssm.deploy.lti.lti_arrays`, or a loaded `.npz`).
        columns: W, the number of range columns of every line.
        slant_range: [W] slant range of each column in metres (needed when the model is
            conditioned on geometry; a model without conditioning ignores it).
        scaler: the model's `ComplexScaler`: lines are then in product units in and out.
        backend: "auto", "numba" or "numpy".
    """

    def __init__(
        self,
        model: Any,
        columns: int,
        slant_range: Any = None,
        scaler: Any = None,
        backend: str = "auto",
    ) -> None:
        self.arrays = model if isinstance(model, dict) else lti_arrays(model, scaler)
        W = int(columns)
        if W < 1:
            raise ConfigError(f"StreamingFocuser: columns must be >= 1, got {columns}")
        if slant_range is None:
            if "pf_matrix" in self.arrays:
                raise ConfigError(
                    "StreamingFocuser: the model is conditioned on geometry: pass slant_range, "
                    "one value per column in metres"
                )
            slant_range = np.ones(W)
        r = np.asarray(slant_range, dtype=np.float64).reshape(-1)
        if r.size != W:
            raise ConfigError(f"StreamingFocuser: {r.size} slant ranges for {W} columns")
        self.columns = W
        self.delay = int(self.arrays["delay"])
        self.backend = resolve_backend(backend)
        self._lines_in = 0
        try:
            if self.backend == "numpy":
                self._ref = numpy_step.Stream(self.arrays, r)
            else:
                self._setup_numba(numpy_step.prefilter_taps(self.arrays, r))
        except ValueError as exc:
            raise ConfigError(f"StreamingFocuser: {exc}") from None

    def _setup_numba(self, taps: np.ndarray) -> None:
        a, W = self.arrays, self.columns
        Ly, H, N = a["dA"].shape
        C, k = a["w_in"].shape[1], int(a["range_neighbours"])
        self._taps = kernels.split(taps.T)  # [2, K, W]
        self._ring = np.zeros((2, taps.shape[1], W + 2 * k), np.float32)  # [2, K, W + 2k]
        keys = ("w_in", "dA", "dB", "C", "D", "mix", "head")
        self._params = tuple(kernels.split(a[key]) for key in keys)
        tw = min(kernels.TILE, W)
        tiles = -(-W // tw)
        self._state = np.zeros((2, tiles, Ly, H, N, tw), np.float32)
        self._scratch = tuple(np.zeros((rows, n), np.float32) for rows, n in
                              ((C, W), (C, W), (H, tw), (H, tw), (H, tw), (H, tw)))  # fmt: skip
        self._out = np.zeros(W, np.complex64)

    # --- streaming ---------------------------------------------------------------------------
    def push(self, line: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
        """One azimuth line [W] complex in; the focused line t - delay [W] complex64 out
        (None for the first `delay` lines). With `out` (complex64 [W]) it is written there."""
        line = np.asarray(line)
        if line.shape != (self.columns,):
            raise ConfigError(
                f"StreamingFocuser.push: expected a line of shape ({self.columns},), got "
                f"{line.shape}"
            )
        if self.backend == "numpy":
            self._lines_in += 1
            return self._ref.push(line, out)
        if line.dtype != np.complex64 or not line.flags.c_contiguous:
            line = np.ascontiguousarray(line, dtype=np.complex64)
        K = self._ring.shape[1]
        w_in, dA, dB, Cm, D, mix, head = self._params
        target = self._out if out is None else out
        if target.dtype != np.complex64 or target.shape != (self.columns,):
            raise ConfigError("StreamingFocuser.push: out must be complex64 of shape (W,)")
        kernels.line_step(
            self._lines_in % K, line.view(np.float32), self._ring[0], self._ring[1],
            self._taps[0], self._taps[1], w_in, dA, dB, Cm, D, mix, head,
            self._state[0], self._state[1], target.view(np.float32), *self._scratch,
        )  # fmt: skip
        self._lines_in += 1
        if self._lines_in <= self.delay:
            return None
        return target.copy() if out is None else target

    def flush(self) -> np.ndarray:
        """Push `delay` zero lines: the remaining focused lines [min(delay, lines), W]."""
        zero = np.zeros(self.columns, np.complex64)
        lines = [self.push(zero) for _ in range(self.delay)]
        kept = [x for x in lines if x is not None]
        return np.array(kept, np.complex64).reshape(len(kept), self.columns)

    def focus(self, lines: np.ndarray) -> np.ndarray:
        """Every line of a block [L, W] through a fresh stream: the focused block [L, W]."""
        self.reset()
        out = np.empty((len(lines), self.columns), np.complex64)
        row = 0
        for line in lines:  # the first `delay` pushes return None and leave `row` in place
            if self.push(line, out[row]) is not None:
                row += 1
        tail = self.flush()
        out[row : row + len(tail)] = tail
        return out

    def reset(self) -> None:
        """Back to the zero state (the next push is line 0)."""
        self._lines_in = 0
        if self.backend == "numpy":
            self._ref.t = 0
            self._ref.state[...] = 0
            self._ref.ring[...] = 0
        else:
            self._state[...] = 0
            self._ring[...] = 0

    # --- accounting --------------------------------------------------------------------------
    @property
    def lines_in(self) -> int:
        return self._lines_in

    def memory(self) -> dict[str, int]:
        """Bytes held: state (recurrent state and pre-filter ring), weights (parameters and
        per-column taps), scratch, and the arithmetic minimum of state plus weights."""
        if self.backend == "numpy":
            r = self._ref
            state = r.state.nbytes + r.ring.nbytes
            weights = r.taps.nbytes + sum(
                x.nbytes for x in (r.W_in, r.head, r.dA, r.dB, r.C, r.D, r.mix)
            )
            scratch = sum(x.nbytes for x in (r.xf, r.u, r.s, r.tmp_hw, r.tmp_w, r.tmp, r.y))
        else:
            state = self._state.nbytes + self._ring.nbytes
            weights = self._taps.nbytes + sum(p.nbytes for p in self._params)
            scratch = sum(s.nbytes for s in self._scratch) + self._out.nbytes
        minimum = minimum_bytes(self.arrays, self.columns)
        return {
            "state": state,
            "weights": weights,
            "scratch": scratch,
            "minimum": minimum["state"] + minimum["weights"],
        }
