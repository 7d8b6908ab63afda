"""Projections between teacher and student feature widths.

Features are complex [B, L, H]. A real-only layer (nn.Linear, attention) sees them as
`[Re, Im]` pairs: `to_real` gives [B, L, 2H] (channel h at 2h, 2h + 1, via view_as_real), and
`to_complex` goes back, so any width, odd ones included, round-trips exactly.

Learnable projections map the student's width to the teacher's (P s ~ t, as FitNets): a
projection on the teacher side could shrink both sides to zero and make the feature loss
trivially small, one on the student side cannot. Without `enhanced_projections` the teacher's
channels are averaged in groups down to the student's width (`GroupMean`, fixed).

    linear      P real [2Ht, 2Hs] (widely linear in the complex features), random init
    pca_init    P = the top-Hs principal directions of real teacher features (centred complex
                PCA of features collected from training batches): a student holding the
                teacher's principal coordinates is reconstructed with the least error
    attention   linear lift, then self-attention over the azimuth samples of each column
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def to_real(z: Tensor) -> Tensor:
    """[..., H] complex -> [..., 2H] real (Re, Im interleaved per channel)."""
    return torch.view_as_real(z).flatten(-2)


def to_complex(x: Tensor) -> Tensor:
    """[..., 2H] real -> [..., H] complex (the inverse of `to_real`)."""
    if x.shape[-1] % 2:
        raise ValueError(f"to_complex: the last axis must hold [Re, Im] pairs, got {x.shape[-1]}")
    return torch.view_as_complex(x.unflatten(-1, (-1, 2)).contiguous())


def real_matrix(W: Tensor) -> Tensor:
    """The real [2 out, 2 in] matrix acting on `to_real` vectors as the complex W [out, in]."""
    out, inp = W.shape
    M = torch.empty(out, 2, inp, 2, dtype=W.real.dtype)
    M[:, 0, :, 0], M[:, 0, :, 1] = W.real, -W.imag
    M[:, 1, :, 0], M[:, 1, :, 1] = W.imag, W.real
    return M.reshape(2 * out, 2 * inp)


def complex_pca(features: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Centred complex PCA of features [n, H]: (mean [H], directions V [H, k] orthonormal
    columns, explained-variance share of each of the k directions). The code of t is
    (t - mean) V and its rank-k reconstruction mean + code V^H."""
    z = features.reshape(-1, features.shape[-1]).to(torch.complex128)
    mean = z.mean(dim=0)
    _, S, Vh = torch.linalg.svd(z - mean, full_matrices=False)
    share = S.square() / S.square().sum().clamp_min(torch.finfo(torch.float64).tiny)
    k = min(k, Vh.shape[0])
    return mean, Vh[:k].conj().transpose(0, 1), share[:k]


class GroupMean(nn.Module):
    """Fixed: teacher channels averaged in Hs contiguous groups ([B, L, Ht] -> [B, L, Hs])."""

    def __init__(self, teacher_dim: int, student_dim: int) -> None:
        super().__init__()
        if student_dim > teacher_dim:
            raise ValueError(
                f"a student wider than its teacher ({student_dim} > {teacher_dim}) needs a "
                "learnable projection (progressive.enhanced_projections)"
            )
        groups = torch.tensor_split(torch.arange(teacher_dim), student_dim)
        A = torch.zeros(student_dim, teacher_dim)
        for j, g in enumerate(groups):
            A[j, g] = 1.0 / len(g)
        self.register_buffer("A", A)

    def forward(self, t: Tensor) -> Tensor:
        return t @ self.A.to(t.real.dtype).transpose(0, 1).to(t.dtype)


class FeatureProjection(nn.Module):
    """Learnable map of complex features [B, L, in_dim] -> [B, L, out_dim].

    The feature loss uses decoders (student width -> teacher width); teacher-forced alignment
    also uses encoders (teacher width -> student width) to feed teacher states to a student block.
    """

    def __init__(self, in_dim: int, out_dim: int, kind: str = "linear") -> None:
        super().__init__()
        if kind not in ("linear", "pca_init", "attention"):
            raise ValueError(f"projection type {kind!r} not in linear, pca_init, attention")
        self.kind, self.in_dim, self.out_dim = kind, in_dim, out_dim
        self.linear = nn.Linear(2 * in_dim, 2 * out_dim, bias=False)
        self.attention = None
        if kind == "attention":
            width = 2 * out_dim
            heads = next(h for h in (4, 2, 1) if width % h == 0)
            self.attention = nn.MultiheadAttention(width, heads, bias=False, batch_first=True)
            with torch.no_grad():  # starts as the plain linear map (zero residual)
                self.attention.out_proj.weight.zero_()

    @torch.no_grad()
    def init_pca(self, teacher_features: Tensor, decoder: bool = True) -> Tensor:
        """Set the map from the teacher features' top principal directions V [Ht, k]: an
        encoder (teacher -> student) gives the code t V, a decoder (student -> teacher) the
        reconstruction c V^H. Returns the
        variance share of each direction kept (what a perfect student of this width keeps)."""
        k = self.in_dim if decoder else self.out_dim
        _, V, share = complex_pca(teacher_features, k)  # V [Ht, k']
        # code c = t V, reconstruction t = c V^H; the layer computes x W^T
        W = torch.zeros(self.out_dim, self.in_dim, dtype=torch.complex128)
        if decoder:
            W[:, : V.shape[1]] = V.conj()
        else:
            W[: V.shape[1]] = V.transpose(0, 1)
        self.linear.weight.copy_(real_matrix(W).to(self.linear.weight.dtype))
        return share

    def forward(self, s: Tensor) -> Tensor:
        z = self.linear(to_real(s))  # [B, L, 2 out]
        if self.attention is not None:
            z = z + self.attention(z, z, z, need_weights=False)[0]
        return to_complex(z)


def explained_variance(target: Tensor, estimate: Tensor) -> float:
    """1 - sum |t - t_hat|^2 / sum |t - mean t|^2 over features [..., H] (the share of the
    teacher features' variance that the estimate reproduces)."""
    t = target.reshape(-1, target.shape[-1]).to(torch.complex128)
    e = estimate.reshape(-1, estimate.shape[-1]).to(torch.complex128)
    total = (t - t.mean(dim=0)).abs().square().sum()
    return float(1.0 - (t - e).abs().square().sum() / total.clamp_min(1e-300))


def least_squares_reconstruction(code: Tensor, target: Tensor) -> Tensor:
    """The best linear reconstruction of `target` [n, Ht] from `code` [n, Hs] (both complex):
    what a fixed projection keeps of the teacher, measured honestly."""
    c = code.reshape(-1, code.shape[-1]).to(torch.complex128)
    t = target.reshape(-1, target.shape[-1]).to(torch.complex128)
    X = torch.linalg.lstsq(c, t).solution
    return c @ X
