"""Line-by-line focusing with an LTI sarssm student, in numpy alone.

This file imports nothing but numpy: `sarssm export --format numpy` copies it next to the
student's weights (`student.npz`), and it is also sarssm's own reference and fallback streaming
backend (`sarssm.deploy.stream`). Usage, with no torch and no sarssm installed:

    import numpy as np, numpy_step
    weights = numpy_step.load("student.npz")
    stream = numpy_step.Stream(weights, slant_range)   # slant_range [W] metres, one per column
    for line in lines:                                 # line [W] complex (rc or rcmc level)
        focused = stream.push(line)                    # None for the first `delay` lines
    tail = stream.flush()                              # the last `delay` focused lines

Per column w the student is y = head . blocks(W_in . g_w * x): g_w is the column's pre-filter
(2J+1 taps from its slant range), then residual blocks u <- u + mix (S4D(u)) with the diagonal
recurrence x[n] <- dA[n] x[n] + dB[n] u, s = sum_n C[n] x[n] + D u. The state is laid out with
the columns innermost ([layers, H, N, W]) and updated in place; no array is allocated per line
(numpy's broadcasting ufuncs use their own fixed-size iteration buffer, whatever W is).
"""

from __future__ import annotations

import numpy as np

FORMAT = "sarssm-lti/1"


def load(path):
    """The arrays of an exported student (`.npz`), checked for format."""
    with np.load(path, allow_pickle=False) as f:
        w = {k: f[k] for k in f.files}
    if str(w.get("format")) != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file (format {w.get('format')!r})")
    return w


def prefilter_taps(w, slant_range):
    """Taps [W, 2J+1] complex64 of each column's range pre-filter (tap i acts on x[t - i])."""
    r = np.asarray(slant_range, dtype=np.float64).reshape(-1)
    if "pf_matrix" not in w:  # a model without geometry conditioning: the identity
        return np.ones((r.size, 1), dtype=np.complex64)
    lo, hi = float(w["range_min_m"]), float(w["range_max_m"])
    if r.size == 0 or not np.all(np.isfinite(r)) or r.min() < lo or r.max() > hi:
        raise ValueError(f"slant ranges must lie in [{lo:.1f}, {hi:.1f}] m, got {r.min()}..")
    r_ref = float(w["range_ref_m"])
    T = np.sqrt(r_ref / r)[None, :] * np.exp(1j * np.outer(w["pf_phase"], r - r_ref))  # [n, W]
    return (w["pf_matrix"] @ T).T.astype(np.complex64)


class Stream:
    """Streaming state of W columns: `push(line)` one azimuth line in, one focused line out
    (after `delay` lines), `flush()` the rest. Output sample t of a push is the focused row
    t - delay, equal to the whole-column (conv mode) output of the same student."""

    def __init__(self, w, slant_range=None, columns=None):
        if slant_range is None:  # a student without geometry conditioning: W from `columns`
            if "pf_matrix" in w or columns is None:
                raise ValueError("give slant_range [W] (columns=W without geometry conditioning)")
            slant_range = np.ones(int(columns))
        r = np.asarray(slant_range, dtype=np.float64).reshape(-1)
        W = r.size if columns is None else int(columns)
        if r.size != W or W < 1:
            raise ValueError(f"need one slant range per column: {r.size} for {W} columns")
        self.delay, self.k = int(w["delay"]), int(w["range_neighbours"])
        self.W_in, self.head = w["w_in"], w["head"][None, :]  # [H, C], [1, H]
        self.dA, self.dB, self.C = w["dA"][..., None], w["dB"][..., None], w["C"][..., None]
        self.D, self.mix = w["D"][..., None], w["mix"]  # [Ly, H, 1], [Ly, H, H]
        self.taps = np.ascontiguousarray(prefilter_taps(w, r).T)  # [K, W]
        Ly, H, N = w["dA"].shape
        K, C, k = self.taps.shape[0], self.W_in.shape[1], self.k
        c64 = np.complex64
        self.ring = np.zeros((K, W + 2 * k), c64)  # inputs t, t-1, .., t-2J (zero edges)
        self.state = np.zeros((Ly, H, N, W), c64)
        self.xf, self.u = np.zeros((C, W), c64), np.zeros((H, W), c64)
        self.s, self.tmp_hw = np.zeros((H, W), c64), np.zeros((H, W), c64)
        self.tmp_w, self.tmp = np.zeros(W, c64), np.zeros((H, N, W), c64)
        self.y, self.t, self.W = np.zeros((1, W), c64), 0, W

    def push(self, line, out=None):
        """line [W] complex -> focused line t - delay [W] complex64 (None while t < delay)."""
        K, k, W = self.taps.shape[0], self.k, self.W
        slot = self.t % K
        self.ring[slot, k : k + W] = line
        self.xf[...] = 0
        for j in range(K):  # pre-filter: xf[i, w] = sum_j g_w[j] x[t - j, w - k + i]
            row = self.ring[(slot - j) % K]
            for i in range(self.xf.shape[0]):
                np.multiply(self.taps[j], row[i : i + W], out=self.tmp_w)
                self.xf[i] += self.tmp_w
        np.matmul(self.W_in, self.xf, out=self.u)  # [H, W]
        layers = zip(self.state, self.dA, self.dB, self.C, self.D, self.mix, strict=True)
        for x, dA, dB, C, D, mix in layers:
            x *= dA  # x <- dA x + dB u, in place
            np.multiply(dB, self.u[:, None, :], out=self.tmp)
            x += self.tmp
            np.multiply(C, x, out=self.tmp)
            np.sum(self.tmp, axis=1, out=self.s)  # s = sum_n C x
            np.multiply(D, self.u, out=self.tmp_hw)
            self.s += self.tmp_hw
            np.matmul(mix, self.s, out=self.tmp_hw)
            self.u += self.tmp_hw  # residual
        np.matmul(self.head, self.u, out=self.y)
        self.t += 1
        if self.t <= self.delay:
            return None
        if out is None:
            return self.y[0].copy()
        out[...] = self.y[0]
        return out

    def flush(self):
        """Push `delay` zero lines: the last `delay` focused lines [delay, W]."""
        zero = np.zeros(self.W, np.complex64)
        lines = [self.push(zero) for _ in range(self.delay)]
        return np.array([x for x in lines if x is not None], np.complex64).reshape(-1, self.W)
