"""The distillation loss, every term of it (one home).

    total = alpha * student + beta * distillation + gamma * feature
            [+ variance_w * variance + moment_w * moment + confidence_w * confidence]

    student        the ground-truth loss (`sarssm.train.losses`, default complex MSE) over the
                   labelled columns of the batch (0 when none is labelled)
    distillation   mean |yhat - y_teacher|^2 + energy_w * T^2 * KL(p_T(teacher) || p_T(student))
    feature        mean over coupled layer pairs of
                   mse_w * |P s - t|^2 / |t|^2 + cos_w * (1 - cos(P s, t)) + mom_w * moments
                   on [Re, Im] features (P the pair's projection, t the teacher feature)
    distribution   (only with `distribution.enabled`) against the ground truth, or the teacher
                   on unlabelled columns

Temperature: for an MSE, scaling both outputs by 1/T and the loss by T^2 is an exact no-op
(|s/T - t/T|^2 T^2 = |s - t|^2), so T acts only on the energy term: p_T(y) is the softmax over
the azimuth samples of a column of |y|^2 / (T m), m the column's mean teacher power, the share
of the column's energy at each sample. A larger T flattens it (the weak samples count more).
The T^2 factor keeps that term's gradient scale comparable across T (as in Hinton et al.).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from sarssm.distill.config import DistributionConfig, FeatureWeights
from sarssm.distill.projections import to_real
from sarssm.train.losses import WeightedSumLoss, complex_mse

QUANTILES = (0.5, 0.9, 0.99)  # of |yhat| against |y| in the confidence term


def _power(z: Tensor) -> Tensor:
    return z.real.square() + z.imag.square()


def energy_kl(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """T^2 * mean over columns of KL(p_T(teacher) || p_T(student)); inputs [B, L] complex."""
    m = _power(teacher.detach()).mean(dim=1, keepdim=True).clamp_min(1e-12)  # [B, 1]
    T = float(temperature)
    log_p_t = torch.log_softmax(_power(teacher) / (T * m), dim=1)
    log_p_s = torch.log_softmax(_power(student) / (T * m), dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)
    return kl.mean() * T * T


def feature_terms(projected: Tensor, teacher: Tensor, weights: FeatureWeights) -> Tensor:
    """The feature loss of one pair: projected student and teacher features [B, L, H] complex."""
    a, b = to_real(projected), to_real(teacher)  # [B, L, 2H]
    scale = b.detach().square().mean().clamp_min(1e-12)
    total = weights.mse * (a - b).square().mean() / scale
    if weights.cosine:
        cos = torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-8)
        total = total + weights.cosine * (1.0 - cos.mean())
    if weights.moment:
        dims = tuple(range(a.ndim - 1))
        mean_gap = (a.mean(dim=dims) - b.mean(dim=dims)).square().mean()
        var_gap = (a.var(dim=dims) - b.var(dim=dims)).square().mean() / scale
        total = total + weights.moment * (mean_gap / scale + var_gap)
    return total


def _standard_moments(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    mean = x.mean()
    d = x - mean
    var = d.square().mean().clamp_min(1e-20)
    return mean, var, d.pow(3).mean() / var.pow(1.5), d.pow(4).mean() / var.square() - 3.0


def distribution_terms(pred: Tensor, reference: Tensor) -> dict[str, Tensor]:
    """variance, moment and confidence terms of pred against reference ([N] complex, pooled)."""
    parts = {"re": (pred.real, reference.real), "im": (pred.imag, reference.imag)}
    parts["abs"] = (pred.abs(), reference.abs())
    variance = (
        sum(
            (p.var() / r.detach().var().clamp_min(1e-20) - 1.0).square()
            for name, (p, r) in parts.items()
            if name != "abs"
        )
        / 2
    )
    moment = pred.new_zeros((), dtype=pred.real.dtype)
    for p, r in parts.values():
        mp, vp, sp, kp = _standard_moments(p)
        mr, vr, sr, kr = (v.detach() for v in _standard_moments(r))
        moment = moment + (mp - mr).square() / vr + (vp.sqrt() / vr.sqrt() - 1.0).square()
        moment = moment + ((sp - sr) / (1 + sr.abs())).square()
        moment = moment + ((kp - kr) / (1 + kr.abs())).square()
    q = torch.tensor(QUANTILES, dtype=pred.real.dtype, device=pred.device)
    a_p, a_r = parts["abs"]
    rms = a_r.detach().square().mean().sqrt().clamp_min(1e-20)
    confidence = ((torch.quantile(a_p, q) - torch.quantile(a_r.detach(), q)) / rms).square()
    return {"variance": variance, "moment": moment / 3, "confidence": confidence.mean()}


class DistillationLoss(torch.nn.Module):
    """All terms of the distillation loss, each logged by name and each in the total."""

    def __init__(
        self,
        gt_weights: Mapping[str, float],
        feature: FeatureWeights,
        energy_weight: float,
        distribution: DistributionConfig,
    ) -> None:
        super().__init__()
        self.gt = WeightedSumLoss(gt_weights)
        self.feature = feature
        self.energy_weight = float(energy_weight)
        self.distribution = distribution

    def forward(
        self,
        pred: Tensor,
        teacher: Tensor,
        target: Tensor,
        labelled: Tensor,
        pairs: list[tuple[Tensor, Tensor]],
        weights: tuple[float, float, float],
        temperature: float,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """pred, teacher, target [B, L] complex; labelled [B] bool; pairs of (projected student
        feature, teacher feature); weights (alpha, beta, gamma). Returns (total, terms)."""
        alpha, beta, gamma = weights
        zero = pred.real.new_zeros(())
        if bool(labelled.any()):
            student, _ = self.gt(pred[labelled], target[labelled])
        else:
            student = zero
        distill = complex_mse(pred, teacher)
        terms: dict[str, Tensor] = {"student_loss": student}
        if self.energy_weight:
            energy = energy_kl(pred, teacher, temperature)
            terms["energy_loss"] = energy
            distill = distill + self.energy_weight * energy
        terms["distillation_loss"] = distill
        feature = (
            torch.stack([feature_terms(s, t, self.feature) for s, t in pairs]).mean()
            if pairs
            else zero
        )
        terms["feature_loss"] = feature
        total = alpha * student + beta * distill + gamma * feature
        if self.distribution.enabled:
            mask = labelled[:, None].expand_as(pred)
            reference = torch.where(mask, target, teacher.detach())
            dist = distribution_terms(pred.reshape(-1), reference.reshape(-1))
            d = self.distribution
            for name, w in (
                ("variance", d.variance_weight),
                ("moment", d.moment_weight),
                ("confidence", d.confidence_weight),
            ):
                terms[f"{name}_loss"] = dist[name]
                total = total + w * dist[name]
        terms["total_loss"] = total
        return total, terms
