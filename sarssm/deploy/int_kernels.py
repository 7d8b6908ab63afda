"""One streamed azimuth line of an integer student (`sarssm.deploy.quantize`), twice: the numpy
reference (`reference_step`) and the fused numba kernel (`line_step`), bit-exact with each other.

Symbols: K = 2J + 1 pre-filter taps, C input channels, Ly layers, H width, N modes, W
columns, TW columns of a tile. Complex values are [2, ...] integer arrays (real, imaginary).

Per line, with every product widened to int64 and each requantisation
rq(acc, m, sh) = sat((sum_i acc_i m_i + 2^(sh-1)) >> sh) (plans from `quantize.requant_plan`):

    xf = rq(sum_j g[j] x[t - j])                            pre-filter
    u  = rq(W_in xf)                                        input projection
    per layer: x <- rq_state(dA x [Q15], dB u)               state, int16 or int32
               s  = rq(sum_n C x, D u);  u <- rq(u, mix s)
    y  = rq(head u)

The kernel lays this out as `sarssm.deploy.kernels` lays out the float step: tile by tile
(TW columns), pre-filter, input projection, every block and the head with the tile's int64
intermediates in cache, columns innermost. No sum can overflow int64 (`requant_plan` bounds
it), so the order of the sums does not matter and the two agree bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from numba import njit
except ImportError:  # QuantizedStream falls back to the numpy reference
    njit = None

TILE = 512  # columns per tile, as the float kernel


def available() -> bool:
    return njit is not None


def params(q: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The kernel's parameters from an integer student: w_in, dA, dB, C, D, mix, head (each
    [2, ...] contiguous); plan [11] int64: multiplier and shift of the pre-filter, u0 and the
    output, then qmax of the state, the pre-filter output, u, s and the output; lplan [Ly, 9]
    int64 per layer: m_a, m_b, shift of x; m_c, m_d, shift of s; m_u, m_mix, shift of u."""
    weights = tuple(
        np.ascontiguousarray(q[k]) for k in ("w_in", "dA", "dB", "C", "D", "mix", "head")
    )
    qs = (1 << (int(q["state_bits"]) - 1)) - 1
    qa = [(1 << (int(q[f"bits_{kind}"]) - 1)) - 1 for kind in ("prefilter", "u", "s", "output")]
    plan = np.array([q["m_prefilter"][0], q["sh_prefilter"], q["m_u0"][0], q["sh_u0"],
                     q["m_output"][0], q["sh_output"], qs, *qa], np.int64)  # fmt: skip
    lplan = np.concatenate(
        [q["m_x"], q["sh_x"][:, None], q["m_s"], q["sh_s"][:, None], q["m_u"], q["sh_u"][:, None]],
        axis=1,
    ).astype(np.int64)
    return (*weights, plan, np.ascontiguousarray(lplan))


def _cmul(ar: Any, ai: Any, br: Any, bi: Any) -> tuple[Any, Any]:
    return ar * br - ai * bi, ar * bi + ai * br


def _rq(terms: list[tuple[Any, Any]], sh: Any, qm: Any) -> np.ndarray:
    """sat((sum_i acc_i m_i + 2^(sh-1)) >> sh) in int64."""
    acc = sum(np.asarray(a, np.int64) * np.int64(m) for a, m in terms)
    return np.clip((acc + (np.int64(1) << np.int64(sh - 1))) >> np.int64(sh), -qm, qm)


def reference_step(
    slot: int, ring: np.ndarray, taps: np.ndarray, win: np.ndarray, dA: np.ndarray,
    dB: np.ndarray, Cm: np.ndarray, D: np.ndarray, mix: np.ndarray, head: np.ndarray,
    plan: np.ndarray, lplan: np.ndarray, state: np.ndarray, yq: np.ndarray,
) -> None:  # fmt: skip
    """The numpy reference of one line: arrays as `line_step`, but state [2, Ly, H, N, W]."""
    i64 = np.int64
    K, W, C = ring.shape[1], taps.shape[2], win.shape[2]
    qs, q_xf, q_u, q_s, q_y = plan[6:11]
    acc = np.zeros((2, C, W), i64)
    for j in range(K):  # xf[i, w] = sum_j g_w[j] x[t - j, w - k + i]
        g = taps[:, j].astype(i64)
        v = ring[:, (slot - j) % K].astype(i64)
        for i in range(C):
            acc[:, i] += _cmul(g[0], g[1], v[0, i : i + W], v[1, i : i + W])
    xf = _rq([(acc, plan[0])], plan[1], q_xf)
    w = win.astype(i64)
    wx = np.stack([w[0] @ xf[0] - w[1] @ xf[1], w[0] @ xf[1] + w[1] @ xf[0]])  # [2, H, W]
    u = _rq([(wx, plan[2])], plan[3], q_u)
    for ly in range(state.shape[1]):
        m_a, m_b, sh_x, m_c, m_d, sh_s, m_u, m_m, sh_u = lplan[ly]
        a, b, c = (p[:, ly, :, :, None].astype(i64) for p in (dA, dB, Cm))  # [2, H, N, 1]
        x = state[:, ly].astype(i64)  # [2, H, N, W]
        ax = np.stack(_cmul(a[0], a[1], x[0], x[1]))
        bu = np.stack(_cmul(b[0], b[1], u[0][:, None], u[1][:, None]))
        x = _rq([(ax, m_a), (bu, m_b)], sh_x, qs)
        state[:, ly] = x
        cx = np.stack(_cmul(c[0], c[1], x[0], x[1])).sum(axis=2)  # [2, H, W]
        d = D[:, ly, :, None].astype(i64)
        du = np.stack(_cmul(d[0], d[1], u[0], u[1]))
        s = _rq([(cx, m_c), (du, m_d)], sh_s, q_s)
        mx = mix[:, ly].astype(i64)
        ms = np.stack([mx[0] @ s[0] - mx[1] @ s[1], mx[0] @ s[1] + mx[1] @ s[0]])
        u = _rq([(u, m_u), (ms, m_m)], sh_u, q_u)
    h = head.astype(i64)
    y = np.stack([h[0] @ u[0] - h[1] @ u[1], h[0] @ u[1] + h[1] @ u[0]])  # [2, W]
    yq[...] = _rq([(y, plan[4])], plan[5], q_y)


def scratch(C: int, H: int, tw: int) -> tuple[np.ndarray, ...]:
    """int64 scratch of one tile: acc, xf [2, C, TW]; u, s [2, H, TW]; t [2, TW]."""
    return (np.zeros((2, C, tw), np.int64), np.zeros((2, C, tw), np.int64),
            np.zeros((2, H, tw), np.int64), np.zeros((2, H, tw), np.int64),
            np.zeros((2, tw), np.int64))  # fmt: skip


def _line_step(
    slot, ring, taps, win, dA, dB, Cm, D, mix, head, plan, lplan, state, yq, acc, xf, u, s, t,
):  # fmt: skip
    """One line (its int8 input already in ring[:, slot]) -> yq [2, W] int8.

    ring [2, K, W + 2k] int8; taps [2, K, W] int8; win [2, H, C], dB, Cm [2, Ly, H, N], D
    [2, Ly, H], mix [2, Ly, H, H], head [2, H] int8; dA [2, Ly, H, N] int16 (Q15); state
    [2, tiles, Ly, H, N, TW] int16 or int32; scratch as `scratch`.
    """
    K = ring.shape[1]
    W = taps.shape[2]
    Ly, H, N = dA.shape[1], dA.shape[2], dA.shape[3]
    C = win.shape[2]
    TW = state.shape[5]
    qs, q_xf, q_u, q_s, q_y = plan[6], plan[7], plan[8], plan[9], plan[10]
    for tile in range(state.shape[1]):
        w0 = tile * TW
        n_w = min(TW, W - w0)
        # pre-filter: xf[i, w] = sum_j g_w[j] x[t - j, w - k + i]
        for i in range(C):
            for w in range(n_w):
                acc[0, i, w] = 0
                acc[1, i, w] = 0
        for j in range(K):
            row = slot - j
            if row < 0:
                row += K
            for i in range(C):
                for w in range(n_w):
                    gr = np.int64(taps[0, j, w0 + w])
                    gi = np.int64(taps[1, j, w0 + w])
                    vr = np.int64(ring[0, row, w0 + w + i])
                    vi = np.int64(ring[1, row, w0 + w + i])
                    acc[0, i, w] += gr * vr - gi * vi
                    acc[1, i, w] += gr * vi + gi * vr
        m, sh = plan[0], plan[1]
        half = np.int64(1) << (sh - 1)
        for p in range(2):
            for i in range(C):
                for w in range(n_w):
                    xf[p, i, w] = min(max((acc[p, i, w] * m + half) >> sh, -q_xf), q_xf)
        # input projection u = W_in xf
        m, sh = plan[2], plan[3]
        half = np.int64(1) << (sh - 1)
        for h in range(H):
            for w in range(n_w):
                t[0, w] = 0
                t[1, w] = 0
            for i in range(C):
                ar = np.int64(win[0, h, i])
                ai = np.int64(win[1, h, i])
                for w in range(n_w):
                    t[0, w] += ar * xf[0, i, w] - ai * xf[1, i, w]
                    t[1, w] += ar * xf[1, i, w] + ai * xf[0, i, w]
            for p in range(2):
                for w in range(n_w):
                    u[p, h, w] = min(max((t[p, w] * m + half) >> sh, -q_u), q_u)
        for ly in range(Ly):
            m_a, m_b, sh_x = lplan[ly, 0], lplan[ly, 1], lplan[ly, 2]
            m_c, m_d, sh_s = lplan[ly, 3], lplan[ly, 4], lplan[ly, 5]
            m_u, m_m, sh_u = lplan[ly, 6], lplan[ly, 7], lplan[ly, 8]
            hx = np.int64(1) << (sh_x - 1)
            hs = np.int64(1) << (sh_s - 1)
            hu = np.int64(1) << (sh_u - 1)
            # x <- sat(dA x + dB u), s = sat(sum_n C x + D u), state updated in place
            for h in range(H):
                for w in range(n_w):
                    s[0, h, w] = 0
                    s[1, h, w] = 0
                for n in range(N):
                    ar = np.int64(dA[0, ly, h, n])
                    ai = np.int64(dA[1, ly, h, n])
                    br = np.int64(dB[0, ly, h, n])
                    bi = np.int64(dB[1, ly, h, n])
                    cr = np.int64(Cm[0, ly, h, n])
                    ci = np.int64(Cm[1, ly, h, n])
                    x_r = state[0, tile, ly, h, n]
                    x_i = state[1, tile, ly, h, n]
                    for w in range(n_w):
                        pr = np.int64(x_r[w])
                        pi = np.int64(x_i[w])
                        ur = u[0, h, w]
                        ui = u[1, h, w]
                        qr = ((ar * pr - ai * pi) * m_a + (br * ur - bi * ui) * m_b + hx) >> sh_x
                        qi = ((ar * pi + ai * pr) * m_a + (br * ui + bi * ur) * m_b + hx) >> sh_x
                        qr = min(max(qr, -qs), qs)
                        qi = min(max(qi, -qs), qs)
                        x_r[w] = qr
                        x_i[w] = qi
                        s[0, h, w] += cr * qr - ci * qi
                        s[1, h, w] += cr * qi + ci * qr
                dr = np.int64(D[0, ly, h])
                di = np.int64(D[1, ly, h])
                for w in range(n_w):
                    tr = dr * u[0, h, w] - di * u[1, h, w]
                    ti = dr * u[1, h, w] + di * u[0, h, w]
                    s[0, h, w] = min(max((s[0, h, w] * m_c + tr * m_d + hs) >> sh_s, -q_s), q_s)
                    s[1, h, w] = min(max((s[1, h, w] * m_c + ti * m_d + hs) >> sh_s, -q_s), q_s)
            # residual: u <- sat(u + mix s)
            for h in range(H):
                for w in range(n_w):
                    t[0, w] = 0
                    t[1, w] = 0
                for g in range(H):
                    mr = np.int64(mix[0, ly, h, g])
                    mi = np.int64(mix[1, ly, h, g])
                    for w in range(n_w):
                        t[0, w] += mr * s[0, g, w] - mi * s[1, g, w]
                        t[1, w] += mr * s[1, g, w] + mi * s[0, g, w]
                for p in range(2):
                    for w in range(n_w):
                        v = (u[p, h, w] * m_u + t[p, w] * m_m + hu) >> sh_u
                        u[p, h, w] = min(max(v, -q_u), q_u)
        # head: y = sat(sum_h head[h] u[h])
        m, sh = plan[4], plan[5]
        half = np.int64(1) << (sh - 1)
        for w in range(n_w):
            yr = np.int64(0)
            yi = np.int64(0)
            for h in range(H):
                hr = np.int64(head[0, h])
                hi = np.int64(head[1, h])
                yr += hr * u[0, h, w] - hi * u[1, h, w]
                yi += hr * u[1, h, w] + hi * u[0, h, w]
            yq[0, w0 + w] = min(max((yr * m + half) >> sh, -q_y), q_y)
            yq[1, w0 + w] = min(max((yi * m + half) >> sh, -q_y), q_y)


line_step: Any = njit(cache=True, nogil=True)(_line_step) if njit else None
