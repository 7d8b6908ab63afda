"""Parameter groups: SSM, no-decay and decay, each parameter exactly once, real AdamW behaviour."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sarssm.errors import ConfigError
from sarssm.train.optim import (
    OptimConfig,
    build_optimizer,
    build_param_groups,
    summarize_param_groups,
)


class ToySSM(nn.Module):
    """The parameter kinds of an SSM layer: A (real pairs), log_dt, B, C, D and a projection."""

    def __init__(self, h: int = 4, n: int = 3) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.randn(h, n, 2))  # [H, N, 2] real pairs of complex A
        self.log_dt = nn.Parameter(torch.randn(h))  # [H]
        self.A._ssm = True
        self.log_dt._ssm = True
        self.B = nn.Parameter(torch.randn(h, n, 2))
        self.C = nn.Parameter(torch.randn(h, n, 2))
        self.D = nn.Parameter(torch.randn(h, 2))  # complex skip as [H, 2] real pairs
        self.proj = nn.Linear(h, h)


class ToyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([ToySSM(), ToySSM()])
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2)
        self.tied = self.head  # a shared module: its parameters must appear once
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


EXPECTED = {
    "ssm": {"layers.0.A", "layers.0.log_dt", "layers.1.A", "layers.1.log_dt"},
    "no_decay": {
        "layers.0.D",
        "layers.0.proj.bias",
        "layers.1.D",
        "layers.1.proj.bias",
        "norm.weight",
        "norm.bias",
        "head.bias",
    },
    "decay": {
        "layers.0.B",
        "layers.0.C",
        "layers.0.proj.weight",
        "layers.1.B",
        "layers.1.C",
        "layers.1.proj.weight",
        "head.weight",
    },
}


def test_groups_partition_the_trainable_parameters():
    model = ToyNet()
    groups = build_param_groups(model, lr=1e-3, weight_decay=0.05, ssm_lr_scale=0.1)
    assert [g["name"] for g in groups] == ["ssm", "no_decay", "decay"]
    got = {g["name"]: set(g["param_names"]) for g in groups}
    assert got == EXPECTED
    ids = [id(p) for g in groups for p in g["params"]]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert len(ids) == len(set(ids)) and set(ids) == trainable
    by_name = {g["name"]: g for g in groups}
    assert by_name["ssm"]["lr"] == pytest.approx(1e-4) and by_name["ssm"]["weight_decay"] == 0
    assert by_name["no_decay"]["lr"] == 1e-3 and by_name["no_decay"]["weight_decay"] == 0
    assert by_name["decay"]["lr"] == 1e-3 and by_name["decay"]["weight_decay"] == 0.05


def test_empty_groups_are_omitted():
    groups = build_param_groups(nn.Linear(3, 3), lr=1.0, weight_decay=0.1)
    assert [g["name"] for g in groups] == ["no_decay", "decay"]


def test_summary_counts():
    groups = build_param_groups(ToyNet(), lr=1e-3, weight_decay=0.05)
    text = summarize_param_groups(groups).splitlines()
    assert len(text) == 3
    # ssm: 2 x (A 4*3*2 + log_dt 4) = 56 scalars in 4 tensors.
    assert text[0].split()[:4] == ["ssm", "4", "tensors", "56"]
    # decay: 2 x (B 24 + C 24 + proj.weight 16) + head.weight 8 = 136 in 7 tensors.
    assert text[2].split()[:4] == ["decay", "7", "tensors", "136"]


def test_adamw_applies_the_groups():
    torch.manual_seed(0)
    model = ToyNet()
    opt = build_optimizer(model, {"lr": 0.1, "weight_decay": 0.5, "ssm_lr_scale": 0.2})
    assert isinstance(opt, torch.optim.AdamW)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    # Zero gradients: Adam's update is 0, so only decoupled weight decay moves a parameter,
    # p <- p (1 - lr wd), and only in the decay group.
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    opt.step()
    for name, p in model.named_parameters():
        if name in EXPECTED["decay"]:
            torch.testing.assert_close(p.detach(), before[name] * (1 - 0.1 * 0.5))
        else:
            torch.testing.assert_close(p.detach(), before[name], rtol=0, atol=0)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == {"ssm": pytest.approx(0.02), "no_decay": 0.1, "decay": 0.1}


def test_ssm_lr_really_scales_the_step():
    model = ToySSM()
    opt = build_optimizer(model, OptimConfig(lr=0.01, weight_decay=0.0, ssm_lr_scale=0.1))
    a0, b0 = model.A.detach().clone(), model.B.detach().clone()
    model.A.grad = torch.ones_like(model.A)
    model.B.grad = torch.ones_like(model.B)
    opt.step()
    # The first Adam step moves each element by lr * sign(g) (up to eps).
    torch.testing.assert_close(a0 - model.A.detach(), torch.full_like(a0, 0.001))
    torch.testing.assert_close(b0 - model.B.detach(), torch.full_like(b0, 0.01))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"lr": 0.0}, "optim.lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"ssm_lr_scale": 0}, "ssm_lr_scale"),
        ({"beta2": 1.0}, "beta2"),
        ({"learning_rate": 1e-3}, "unknown key"),
        ({"lr": "fast"}, "expected a number"),
    ],
)
def test_config_errors(config, match):
    with pytest.raises(ConfigError, match=match):
        build_optimizer(ToySSM(), config)


def test_no_trainable_parameters_is_clear():
    model = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable"):
        build_optimizer(model, OptimConfig())
