"""Fused numba kernels of one streamed azimuth line (float32, real and imaginary parts apart).

Symbols: K = 2J + 1 pre-filter taps, C input channels, k range neighbours, Ly layers, H width,
N modes, W columns, TW columns of a tile.

A line is processed in two passes. The pre-filter (`fir`) runs over whole rows: for each tap
it streams one row of taps and one row of the ring of past lines. Then, tile by tile, the
input projection, every block and the head run on TW columns with the tile's intermediates
([2 H, TW] floats) in L1/L2, reading and writing the tile's recurrent state, one contiguous
block, once. Every inner loop runs over contiguous columns, which LLVM vectorises; real and
imaginary parts are separate arrays (one interleaved state array ran 3.5x slower: LLVM could
not prove the two halves do not alias). Arithmetic is the float32 complex arithmetic of the
numpy reference (`numpy_step.Stream`) written out in real and imaginary parts.
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit
except ImportError:  # the numpy backend covers this; `available()` says so
    njit = None

TILE = 512  # columns per tile: its scratch (4 H rows) stays in L1/L2; 256 and 2048 were slower


def available() -> bool:
    return njit is not None


def _fir(slot, line, ring_r, ring_i, taps_r, taps_i, xf_r, xf_i):
    """A per-column causal FIR over a ring of past lines, whole rows at a time.

    Writes `line` [2 W] (interleaved complex64) into ring slot `slot` (= t mod K; ring
    [K, W + 2k], k zero columns at each edge), then xf[i, w] = sum_j taps[j, w]
    x[t - j, w - k + i] for the C = xf.shape[0] channels i (the column's range neighbours).
    """
    K, Wp = ring_r.shape
    W = taps_r.shape[1]
    k = (Wp - W) // 2
    C = xf_r.shape[0]
    for w in range(W):
        ring_r[slot, k + w] = line[2 * w]
        ring_i[slot, k + w] = line[2 * w + 1]
    for i in range(C):
        for w in range(W):
            xf_r[i, w] = 0.0
            xf_i[i, w] = 0.0
    for j in range(K):
        row = slot - j
        if row < 0:
            row += K
        g_r = taps_r[j]
        g_i = taps_i[j]
        for i in range(C):
            v_r = ring_r[row, i : i + W]
            v_i = ring_i[row, i : i + W]
            a_r = xf_r[i]
            a_i = xf_i[i]
            for w in range(W):
                a_r[w] += g_r[w] * v_r[w] - g_i[w] * v_i[w]
                a_i[w] += g_r[w] * v_i[w] + g_i[w] * v_r[w]


_jit = njit(cache=True, nogil=True, error_model="numpy") if njit else None
fir = _jit(_fir) if _jit else None


def _line_step(
    slot, line, ring_r, ring_i, taps_r, taps_i, win, dA, dB, Cm, D, mix, head,
    state_r, state_i, out, xf_r, xf_i, u_r, u_i, s_r, s_i,
):  # fmt: skip
    """One line: `line` [2 W] float32 (interleaved complex64) -> `out` [2 W] float32.

    ring [K, W + 2k] (slot = t mod K holds x[t]); taps [K, W]; win [2, H, C]; dA, dB, Cm
    [2, Ly, H, N]; D [2, Ly, H]; mix [2, Ly, H, H]; head [2, H] (index 0 real, 1 imaginary);
    state_r, state_i [tiles, Ly, H, N, TW] (each tile's state one contiguous block, read and
    written in order); scratch xf [C, W], u, s [H, TW].
    """
    W = taps_r.shape[1]
    Ly, H, N = dA.shape[1], dA.shape[2], dA.shape[3]
    C = win.shape[2]
    TW = state_r.shape[4]
    fir(slot, line, ring_r, ring_i, taps_r, taps_i, xf_r, xf_i)
    for tile in range(state_r.shape[0]):
        w0 = tile * TW
        n_w = min(TW, W - w0)
        # input projection u = W_in xf
        for h in range(H):
            ur = u_r[h]
            ui = u_i[h]
            for w in range(n_w):
                ur[w] = 0.0
                ui[w] = 0.0
            for i in range(C):
                ar = win[0, h, i]
                ai = win[1, h, i]
                fr = xf_r[i, w0 : w0 + n_w]
                fi = xf_i[i, w0 : w0 + n_w]
                for w in range(n_w):
                    ur[w] += ar * fr[w] - ai * fi[w]
                    ui[w] += ar * fi[w] + ai * fr[w]
        for ly in range(Ly):
            # s = D u + sum_n C x, x <- dA x + dB u (in place, columns innermost)
            for h in range(H):
                ur = u_r[h]
                ui = u_i[h]
                sr = s_r[h]
                si = s_i[h]
                dr = D[0, ly, h]
                di = D[1, ly, h]
                for w in range(n_w):
                    sr[w] = dr * ur[w] - di * ui[w]
                    si[w] = dr * ui[w] + di * ur[w]
                for n in range(N):
                    ar = dA[0, ly, h, n]
                    ai = dA[1, ly, h, n]
                    br = dB[0, ly, h, n]
                    bi = dB[1, ly, h, n]
                    cr = Cm[0, ly, h, n]
                    ci = Cm[1, ly, h, n]
                    x_r = state_r[tile, ly, h, n]
                    x_i = state_i[tile, ly, h, n]
                    for w in range(n_w):
                        pr = x_r[w]
                        pi = x_i[w]
                        qr = ar * pr - ai * pi + (br * ur[w] - bi * ui[w])
                        qi = ar * pi + ai * pr + (br * ui[w] + bi * ur[w])
                        x_r[w] = qr
                        x_i[w] = qi
                        sr[w] += cr * qr - ci * qi
                        si[w] += cr * qi + ci * qr
            # residual: u <- u + mix s
            for h in range(H):
                ur = u_r[h]
                ui = u_i[h]
                for g in range(H):
                    mr = mix[0, ly, h, g]
                    mi = mix[1, ly, h, g]
                    sr = s_r[g]
                    si = s_i[g]
                    for w in range(n_w):
                        ur[w] += mr * sr[w] - mi * si[w]
                        ui[w] += mr * si[w] + mi * sr[w]
        # head: y = sum_h head[h] u[h]
        for w in range(n_w):
            yr = 0.0
            yi = 0.0
            for h in range(H):
                yr += head[0, h] * u_r[h, w] - head[1, h] * u_i[h, w]
                yi += head[0, h] * u_i[h, w] + head[1, h] * u_r[h, w]
            out[2 * (w0 + w)] = yr
            out[2 * (w0 + w) + 1] = yi


line_step = _jit(_line_step) if _jit else None


def split(z: np.ndarray) -> np.ndarray:
    """Complex array [...] -> float32 [2, ...] (real, imaginary), contiguous."""
    return np.ascontiguousarray(np.stack([z.real, z.imag]).astype(np.float32))
