"""Projections: [Re, Im] round trips for any width, PCA from real features, gradients."""

import pytest
import torch

from sarssm.distill.projections import (
    FeatureProjection,
    GroupMean,
    complex_pca,
    explained_variance,
    least_squares_reconstruction,
    real_matrix,
    to_complex,
    to_real,
)


@pytest.mark.parametrize("width", [1, 3, 5, 16])
def test_real_view_round_trips_odd_widths(width):
    z = torch.randn(2, 7, width, dtype=torch.cfloat)
    r = to_real(z)
    assert r.shape == (2, 7, 2 * width)
    assert torch.equal(r[..., 0::2], z.real) and torch.equal(r[..., 1::2], z.imag)
    assert torch.equal(to_complex(r), z)


def test_real_matrix_acts_as_the_complex_matrix():
    W = torch.randn(5, 3, dtype=torch.cdouble)
    z = torch.randn(4, 3, dtype=torch.cdouble)
    assert torch.allclose(to_complex(to_real(z) @ real_matrix(W).T), z @ W.T)


def low_rank(n=4000, width=16, rank=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(rank, width, dtype=torch.cdouble, generator=g)
    coef = torch.randn(n, rank, dtype=torch.cdouble, generator=g) * torch.tensor([3.0, 2.0, 1.0])
    noise = 0.01 * torch.randn(n, width, dtype=torch.cdouble, generator=g)
    return (coef @ basis + noise).to(torch.cfloat)


def test_pca_init_decoder_reconstructs_principal_coordinates():
    t = low_rank()
    proj = FeatureProjection(3, 16, "pca_init")
    share = proj.init_pca(t)
    assert float(share.sum()) > 0.999  # rank 3 data: three directions hold it all
    mean, V, _ = complex_pca(t, 3)
    coords = ((t.to(torch.cdouble) - mean) @ V).to(torch.cfloat)  # the PCA code
    with torch.no_grad():
        est = proj(coords) + mean.to(torch.cfloat)
    assert explained_variance(t, est) > 0.999
    # an encoder from the same features gives the same code
    enc = FeatureProjection(16, 3, "pca_init")
    enc.init_pca(t, decoder=False)
    with torch.no_grad():
        code = enc(t - mean.to(torch.cfloat))
    assert torch.allclose(code, coords, atol=1e-3)


def test_pca_is_of_the_features_not_of_noise():
    # the earlier code took an SVD of random noise: its directions explain nothing particular
    t = low_rank(seed=1)
    a = FeatureProjection(3, 16, "pca_init")
    a.init_pca(t)
    b = FeatureProjection(3, 16, "pca_init")
    b.init_pca(torch.randn_like(t))
    W = lambda p: torch.linalg.matrix_rank(p.linear.weight.detach()).item()  # noqa: E731
    assert W(a) == W(b) == 6
    ta = least_squares_reconstruction(torch.randn(4000, 3, dtype=torch.cfloat), t)
    assert explained_variance(t, ta) < 0.05


def test_group_mean_and_least_squares_retention():
    t = torch.randn(100, 8, dtype=torch.cfloat)
    g = GroupMean(8, 2)
    out = g(t)
    assert torch.allclose(out[:, 0], t[:, :4].mean(dim=1))
    assert torch.allclose(out[:, 1], t[:, 4:].mean(dim=1))
    assert torch.equal(GroupMean(4, 4)(t[:, :4]), t[:, :4])
    with pytest.raises(ValueError, match="wider than its teacher"):
        GroupMean(2, 4)


@pytest.mark.parametrize("kind", ["linear", "pca_init", "attention"])
def test_projections_get_gradients(kind):
    proj = FeatureProjection(1, 16, kind)
    s = torch.randn(2, 32, 1, dtype=torch.cfloat)
    loss = proj(s).abs().square().mean()
    loss.backward()
    grads = [p.grad for p in proj.parameters()]
    assert grads and all(g is not None for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


def test_attention_starts_as_the_linear_map():
    proj = FeatureProjection(3, 8, "attention")
    s = torch.randn(2, 16, 3, dtype=torch.cfloat)
    with torch.no_grad():
        assert torch.allclose(proj(s), to_complex(proj.linear(to_real(s))))
