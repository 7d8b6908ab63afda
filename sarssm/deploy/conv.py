"""Conv-mode engines: a model's aligned output over one block of columns, in blocks of rows.

Symbols: W columns of the block, L rows (azimuth samples of a column), C input channels,
S rows per segment (`block_rows`), d the model's delay, J the pre-filter half-length, K the
composite kernel's length, Lh = K + 2J.

Every engine computes exactly what `model(x, slant_range, aligned=True)` computes over whole
columns (y[t] = r[t + d], r the raw causal output of the input padded with d zero rows), but
reads the input and writes the output S rows at a time through two callbacks:

    read(a, b)  -> x [W, b - a, C] complex64, input rows a..b-1 (0 <= a < b <= L), normalised
    write(a, b, y)   y [b - a, W] complex, aligned output rows a..b-1 in model units

- `FoldedLTI` (causal LTI students): the whole stack is one impulse response k [C, K]
  (`sarssm.deploy.lti.composite_kernel`, float64, truncated where its tail energy falls below
  1e-14 of the total: under float32 rounding), and each column's pre-filter taps g [2J+1] (the
  model's own, applied causal, delayed by J as in `RangePrefilter.run`) fold into it:
  h_w = g_w * k, Lh = K + 2J taps. Output rows s..s+S-1 are r[s + d .. s + d + S - 1], which
  read input rows s + d - Lh + 1 .. s + d + S - 1 (zero outside 0..L-1): overlap-save with an
  overlap of Lh - 1 rows kept from the previous segment, one FFT of next_fast_len(S + Lh - 1)
  points per segment and channel. Segments are independent linear convolutions, so the result
  is one whole-column convolution to float rounding: no seams.
- `StateCarry` (other causal models, the selective teacher among them): `model.step_chunk`
  over S-row segments of the input followed by d zero rows, carrying the model's state from one
  segment to the next; raw output t is aligned row t - d. Step mode equals conv mode, so this
  is the single pass, segment by segment.
- `WholeColumns` (bidirectional models): each output sample depends on the whole column, so
  the engine reads all L rows of the block at once (memory W x L, not W x S).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.fft as sfft
import torch

from sarssm.deploy.lti import is_lti
from sarssm.errors import ConfigError

Reader = Callable[[int, int], np.ndarray]  # (a, b) -> x [W, b - a, C] complex64
Writer = Callable[[int, int, np.ndarray], None]  # (a, b, y [b - a, W])
KERNEL_REL_ENERGY = 1e-14  # tail energy (relative) the folded kernel may drop
MAX_KERNEL_MEMORIES = 64  # longest folded kernel tried, in units of the model's memory M


def _slant_tensor(slant_range: np.ndarray | None) -> torch.Tensor | None:
    return None if slant_range is None else torch.from_numpy(np.asarray(slant_range, np.float64))


class FoldedLTI:
    """A causal LTI student as one composite kernel, applied by FFT overlap-save.

    Args:
        model: a causal LTI `SarSSM` (selectivity and activation none).
        rel_energy: tail energy the truncated kernel may drop, relative to its total.
    """

    kind = "lti-fft"

    def __init__(self, model: Any, rel_energy: float = KERNEL_REL_ENERGY) -> None:
        from sarssm.deploy.lti import check_lti, composite_kernel, tail_length

        check_lti(model, "folding")
        self.model = model
        config = model.config
        self.delay = int(model.delay)
        self.J = model.prefilter.J if model.prefilter is not None else 0
        memory = max(int(config.memory or 0), self.delay, 16)
        length = 8 * memory
        while True:
            with torch.no_grad():
                kernel = composite_kernel(model, length)  # [C, length] complex128
            try:
                K = tail_length(kernel, rel_energy)
                break
            except ConfigError:
                if length >= MAX_KERNEL_MEMORIES * memory:
                    raise
                length *= 2
        self.kernel = kernel[:, :K]  # [C, K]
        self.taps = K + 2 * self.J  # Lh
        self.peak_bytes = 0

    def column_taps(self, slant_range: np.ndarray | None, W: int) -> np.ndarray:
        """g [W, 2J+1] complex128, tap i at lag i (the causal pre-filter); [W, 1] of ones
        without conditioning."""
        if self.model.prefilter is None:
            return np.ones((W, 1), np.complex128)
        g = self.model.prefilter.taps(_slant_tensor(slant_range), torch.complex128, "cpu")
        return g.numpy()  # [W, 2J+1]

    def run(
        self,
        read: Reader,
        write: Writer,
        n_rows: int,
        slant_range: np.ndarray | None,
        block_rows: int,
        width: int,
    ) -> None:
        """Aligned output of `width` columns of `n_rows` rows, `block_rows` rows at a time."""
        d, Lh, L, S = self.delay, self.taps, n_rows, min(block_rows, n_rows)
        C = self.kernel.shape[0]
        nfft = int(sfft.next_fast_len(S + Lh - 1))
        g = self.column_taps(slant_range, width)  # [W, 2J+1]
        H = sfft.fft(g, nfft, axis=1)[:, None, :] * sfft.fft(self.kernel, nfft, axis=1)[None]
        window = np.zeros((width, S + Lh - 1, C), np.complex128)  # input rows a..a+S+Lh-2
        read_to = 0  # input rows 0..read_to-1 have been read
        for s in range(0, L, S):
            n = min(S, L - s)
            a = s + d - (Lh - 1)  # input row at window position 0 (rows < 0 or >= L are 0)
            if s:  # the overlap: the last Lh - 1 rows of the previous window move to its start
                window[:, : Lh - 1] = window[:, S:]
                window[:, Lh - 1 :] = 0
            lo, hi = max(a, read_to), min(a + S + Lh - 1, L)
            if hi > lo:
                window[:, lo - a : hi - a] = read(lo, hi)
                read_to = hi
            spec = sfft.fft(window, nfft, axis=1)  # [W, nfft, C]
            y = sfft.ifft(np.einsum("wfc,wcf->wf", spec, H), axis=1)  # [W, nfft]
            write(s, s + n, y[:, Lh - 1 : Lh - 1 + n].T)
            self.peak_bytes = max(
                self.peak_bytes, window.nbytes + H.nbytes + spec.nbytes + 2 * y.nbytes
            )


class StateCarry:
    """A causal model run by `step_chunk` over row segments, its state carried (exact)."""

    kind = "state-carry"

    def __init__(self, model: Any) -> None:
        if model.config.direction != "causal":
            raise ConfigError(f"model {model.config.name!r}: state carry needs a causal model")
        self.model = model
        self.delay = int(model.delay)
        self.peak_bytes = 0

    @torch.no_grad()
    def run(
        self,
        read: Reader,
        write: Writer,
        n_rows: int,
        slant_range: np.ndarray | None,
        block_rows: int,
        width: int,
    ) -> None:
        """Aligned output of `width` columns of `n_rows` rows, `block_rows` rows at a time."""
        model, d, L = self.model, self.delay, n_rows
        C, dtype = model.config.input_channels, model.complex_dtype
        state = model.init_state(width, _slant_tensor(slant_range))
        state_bytes = sum(_nbytes(s) for s in state.layers) + _nbytes(state.history)
        for s in range(0, L + d, block_rows):  # stream positions: L input rows, then d zeros
            n = min(block_rows, L + d - s)
            x = torch.zeros(width, n, C, dtype=dtype)
            if s < L:
                x[:, : min(n, L - s)] = torch.from_numpy(read(s, min(s + n, L))).to(dtype)
            raw, state = model.step_chunk(x, state)  # [W, n], raw output t = aligned t - d
            t0 = max(s, d)
            if t0 < s + n:
                write(t0 - d, s + n - d, raw[:, t0 - s :].numpy().T)
            self.peak_bytes = max(self.peak_bytes, 2 * _nbytes(x) + state_bytes)


class WholeColumns:
    """Any model over whole columns at once (the only way for a bidirectional model)."""

    kind = "whole-columns"

    def __init__(self, model: Any) -> None:
        self.model = model
        self.peak_bytes = 0

    @torch.no_grad()
    def run(
        self,
        read: Reader,
        write: Writer,
        n_rows: int,
        slant_range: np.ndarray | None,
        block_rows: int,
        width: int,
    ) -> None:
        """Aligned output of `width` whole columns (`block_rows` is not used)."""
        x = torch.from_numpy(read(0, n_rows)).to(self.model.complex_dtype)  # [W, L, C]
        y = self.model(x, _slant_tensor(slant_range), aligned=True)  # [W, L]
        write(0, n_rows, y.numpy().T)
        self.peak_bytes = max(self.peak_bytes, _nbytes(x) + 2 * _nbytes(y))


def _nbytes(t: Any) -> int:
    if t is None:
        return 0
    if isinstance(t, (list, tuple)):
        return sum(_nbytes(v) for v in t)
    if isinstance(t, torch.Tensor):
        return t.element_size() * t.numel()
    return int(getattr(t, "nbytes", 0))


def conv_engine(model: Any) -> FoldedLTI | StateCarry | WholeColumns:
    """The exact conv-mode engine of `model`: folded kernel (causal LTI), state carry (other
    causal models) or whole columns (bidirectional)."""
    config = model.config
    if config.direction == "bidirectional":
        return WholeColumns(model)
    if is_lti(config):
        return FoldedLTI(model)
    return StateCarry(model)
