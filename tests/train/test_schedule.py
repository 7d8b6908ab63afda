"""Warm-up + cosine schedule against its closed form, and driving a real AdamW."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from sarssm.errors import ConfigError
from sarssm.train.optim import build_param_groups
from sarssm.train.schedule import (
    ScheduleConfig,
    build_scheduler,
    total_optimizer_steps,
    warmup_cosine,
)


def closed_form(s: int, total: int, warmup: int, r: float) -> float:
    if s < warmup:
        return (s + 1) / (warmup + 1)
    s = min(s, total)
    return r + (1 - r) * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))) / 2


@pytest.mark.parametrize(("total", "warmup", "r"), [(100, 10, 0.05), (37, 0, 0.0), (8, 7, 0.5)])
def test_matches_closed_form(total, warmup, r):
    for s in [0, 1, warmup // 2, warmup, warmup + 1, (warmup + total) // 2, total - 1, total]:
        assert warmup_cosine(s, total, warmup, r) == pytest.approx(closed_form(s, total, warmup, r))


def test_known_values():
    # Half-way through the cosine the multiplier is (1 + r) / 2.
    assert warmup_cosine(60, 110, 10, 0.2) == pytest.approx(0.6)
    assert warmup_cosine(0, 110, 10, 0.2) == pytest.approx(1 / 11)
    assert warmup_cosine(10, 110, 10, 0.2) == 1.0
    assert warmup_cosine(0, 5, 0, 0.2) == 1.0


def test_pieces_monotonic_and_end_exact():
    total, warmup, r = 200, 20, 0.03
    f = [warmup_cosine(s, total, warmup, r) for s in range(total + 5)]
    assert all(a < b for a, b in itertools.pairwise(f[: warmup + 1]))
    assert all(a > b for a, b in itertools.pairwise(f[warmup : total + 1]))
    assert f[warmup] == 1.0
    assert f[total] == r  # exactly, not approximately
    assert f[total + 1 :] == [r] * 4
    assert 0 < f[0] <= 1 / (warmup + 1) + 1e-12


def test_real_adamw_gets_these_learning_rates():
    total, warmup, r, lr = 30, 5, 0.1, 2e-3
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    model[0].weight._ssm = True
    groups = build_param_groups(model, lr=lr, weight_decay=0.01, ssm_lr_scale=0.1)
    opt = torch.optim.AdamW(groups, lr=lr)
    sched = build_scheduler(opt, total, warmup, r)
    x = torch.randn(8, 3)
    for step in range(total):
        for g in opt.param_groups:
            base = lr * 0.1 if g["name"] == "ssm" else lr
            assert g["lr"] == pytest.approx(base * closed_form(step, total, warmup, r), rel=1e-12)
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([lr * 0.1 * r, lr * r, lr * r])


def test_scheduler_state_round_trip():
    opt = torch.optim.AdamW(nn.Linear(2, 2).parameters(), lr=1.0)
    sched = build_scheduler(opt, 50, 5, 0.0)
    for _ in range(12):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.AdamW(nn.Linear(2, 2).parameters(), lr=1.0)
    sched2 = build_scheduler(opt2, 10, 1, 0.5)  # other settings: the state must restore them
    sched2.load_state_dict(state)
    assert sched2.lr_lambdas[0].total_steps == 50
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(warmup_cosine(13, 50, 5, 0.0))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 0, 0, 0.1), "total_steps"),
        ((0, 10, 10, 0.1), "warmup_steps"),
        ((0, 10, -1, 0.1), "warmup_steps"),
        ((0, 10, 2, 1.5), "min_lr_ratio"),
        ((-1, 10, 2, 0.1), "step"),
    ],
)
def test_errors(args, match):
    with pytest.raises(ConfigError, match=match):
        warmup_cosine(*args)


def test_config_and_total_steps():
    with pytest.raises(ConfigError, match="warmup_fraction"):
        ScheduleConfig(warmup_fraction=-0.1)
    with pytest.raises(ConfigError, match="min_lr_ratio"):
        ScheduleConfig(min_lr_ratio=-0.1)
    with pytest.raises(ConfigError, match="warmup_fraction"):
        ScheduleConfig(warmup_fraction=1.0)
    assert ScheduleConfig(warmup_fraction=0.1).warmup_steps(95) == 9
    assert total_optimizer_steps(10, 25) == 250
    assert total_optimizer_steps(3, 10, accumulate_grad_batches=4) == 9  # 4 + 4 + 2 per epoch
    with pytest.raises(ConfigError, match="batches_per_epoch"):
        total_optimizer_steps(3, 0)
