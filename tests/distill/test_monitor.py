"""Gradient statistics against a plain computation."""

import math

import pytest
import torch

from sarssm.distill.monitor import student_statistics
from sarssm.models import build_model


def test_statistics_match_a_plain_computation():
    torch.manual_seed(0)
    net = build_model("demo-tiny", state_dim=8)
    x = torch.randn(3, 64, 1, dtype=torch.cfloat)
    net(x, torch.full((3,), 66_000.0, dtype=torch.float64)).abs().square().mean().backward()
    stats = student_statistics(net)
    grads = [p.grad.flatten() for p in net.parameters() if p.grad is not None]
    assert stats["gradients/student/total_norm"] == pytest.approx(
        float(torch.cat(grads).norm()), rel=1e-5
    )
    for i, block in enumerate(net.blocks):
        g = torch.cat([p.grad.flatten() for p in block.parameters()])
        w = torch.cat([p.detach().flatten() for p in block.parameters()]).double()
        assert stats[f"gradients/student/layer_{i}/norm"] == pytest.approx(
            float(g.norm()), rel=1e-5
        )
        assert stats[f"weights/student/layer_{i}/mean"] == pytest.approx(float(w.mean()))
        assert stats[f"weights/student/layer_{i}/std"] == pytest.approx(float(w.std()))
    assert math.isfinite(stats["gradients/student/total_norm"])
