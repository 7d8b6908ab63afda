"""The distillation loss: every term in the total, temperature where it acts, masks."""

import pytest
import torch

from sarssm.distill.config import DistributionConfig, FeatureWeights
from sarssm.distill.losses import (
    DistillationLoss,
    distribution_terms,
    energy_kl,
    feature_terms,
)
from sarssm.train.losses import complex_mse


def batch(seed=0, B=4, L=64):
    g = torch.Generator().manual_seed(seed)
    c = lambda: torch.randn(B, L, 2, generator=g)  # noqa: E731
    pred = torch.view_as_complex(c()).requires_grad_(True)
    teacher = torch.view_as_complex(c())
    target = torch.view_as_complex(c())
    return pred, teacher, target


def test_temperature_is_a_no_op_for_mse():
    # the earlier pipeline's form: scale both by 1/T, multiply the loss by T^2
    s, t, _ = batch()
    for T in (0.5, 2.5, 4.0):
        seed_form = complex_mse(s / T, t / T) * T**2
        assert torch.allclose(seed_form, complex_mse(s, t), rtol=1e-6)


def test_energy_term_is_zero_for_equal_outputs_and_depends_on_t():
    s, t, _ = batch()
    s = s.detach()
    assert float(energy_kl(t, t, 2.0)) == pytest.approx(0.0, abs=1e-6)
    values = [float(energy_kl(s, t, T)) for T in (1.0, 2.5, 4.0)]
    assert len(set(values)) == 3
    # closed form for one column: KL(softmax(a/T) || softmax(b/T)) * T^2
    a, b = t[:1].abs().square(), s[:1].detach().abs().square()
    m = a.mean()
    p, q = torch.softmax(a / (2.0 * m), 1), torch.softmax(b / (2.0 * m), 1)
    kl = (p * (p.log() - q.log())).sum() * 4.0
    assert float(energy_kl(s[:1], t[:1], 2.0)) == pytest.approx(float(kl), rel=1e-5)
    # scale-free: the same relative energies give the same value
    assert float(energy_kl(3 * s, 3 * t, 2.0)) == pytest.approx(
        float(energy_kl(s, t, 2.0)), rel=1e-4
    )


def loss_fn(**dist):
    return DistillationLoss(
        {"complex_mse": 1.0}, FeatureWeights(), 0.05, DistributionConfig(**dist)
    )


def test_total_is_the_weighted_sum_of_the_logged_terms():
    s, t, y = batch()
    fs = torch.randn(4, 64, 3, dtype=torch.cfloat)
    ft = torch.randn(4, 64, 3, dtype=torch.cfloat)
    labelled = torch.ones(4, dtype=torch.bool)
    fn = loss_fn(enabled=True, variance_weight=0.2, moment_weight=0.15, confidence_weight=0.08)
    total, terms = fn(s, t, y, labelled, [(fs, ft)], (0.7, 0.2, 0.1), 2.5)
    expect = 0.7 * terms["student_loss"] + 0.2 * terms["distillation_loss"]
    expect = expect + 0.1 * terms["feature_loss"] + 0.2 * terms["variance_loss"]
    expect = expect + 0.15 * terms["moment_loss"] + 0.08 * terms["confidence_loss"]
    assert torch.allclose(total, expect)
    assert torch.allclose(terms["student_loss"], complex_mse(s, y))
    assert torch.allclose(
        terms["distillation_loss"], complex_mse(s, t) + 0.05 * energy_kl(s, t, 2.5)
    )
    assert torch.allclose(terms["feature_loss"], feature_terms(fs, ft, FeatureWeights()))


def test_distribution_terms_change_the_gradient():
    s, t, y = batch(1)
    labelled = torch.ones(4, dtype=torch.bool)
    grads = []
    for enabled in (False, True):
        p = s.detach().clone().requires_grad_(True)
        total, _ = loss_fn(enabled=enabled)(p, t, y, labelled, [], (0.8, 0.15, 0.05), 2.5)
        (g,) = torch.autograd.grad(total, p)
        grads.append(g)
    assert not torch.allclose(grads[0], grads[1])
    for name in ("variance", "moment", "confidence"):
        p = s.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(distribution_terms(p.reshape(-1), y.reshape(-1))[name], p)
        assert float(g.abs().sum()) > 0, name


def test_distribution_terms_vanish_for_a_perfect_prediction_and_see_collapse():
    _, _, y = batch(2)
    terms = distribution_terms(y.reshape(-1), y.reshape(-1))
    for name, v in terms.items():
        assert float(v) == pytest.approx(0.0, abs=1e-8), name
    collapsed = distribution_terms(0.1 * y.reshape(-1), y.reshape(-1))
    assert all(float(v) > 0.1 for v in collapsed.values())


def test_unlabelled_columns_take_no_ground_truth():
    s, t, y = batch(3)
    fn = loss_fn()
    labelled = torch.tensor([True, False, True, False])
    _, terms = fn(s, t, y, labelled, [], (1.0, 0.0, 0.0), 2.5)
    assert torch.allclose(terms["student_loss"], complex_mse(s[labelled], y[labelled]))
    _, none = fn(s, t, y, torch.zeros(4, dtype=torch.bool), [], (1.0, 0.0, 0.0), 2.5)
    assert float(none["student_loss"]) == 0.0


def test_feature_terms_weights_are_each_used():
    fs = torch.randn(2, 16, 3, dtype=torch.cfloat)
    ft = torch.randn(2, 16, 3, dtype=torch.cfloat)
    base = float(feature_terms(fs, ft, FeatureWeights(mse=1, cosine=0, moment=0)))
    assert float(feature_terms(fs, ft, FeatureWeights(mse=1, cosine=1, moment=0))) != base
    assert float(feature_terms(fs, ft, FeatureWeights(mse=1, cosine=0, moment=1))) != base
    assert float(feature_terms(ft, ft, FeatureWeights())) == pytest.approx(0.0, abs=1e-6)
