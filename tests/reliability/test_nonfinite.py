"""Numerical faults: a step with a non-finite loss or gradient is skipped, counted and logged;
too many in a row stop the run with a clear message and a checkpoint of the last good state."""

from __future__ import annotations

import csv
import math

import lightning as L
import pytest
import torch

from sarssm.errors import NumericalFaultError
from sarssm.train.run import train

from .conftest import tiny_train_config


class Inject(L.Callback):
    """NaN in the target of the batches of `loss_steps` (a non-finite loss), Inf in a gradient
    after the backward pass of `grad_steps`; snapshots of the weights before each step."""

    def __init__(self, loss_steps=(), grad_steps=()) -> None:
        self.loss_steps, self.grad_steps = set(loss_steps), set(grad_steps)
        self.before: dict[int, dict[str, torch.Tensor]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        self.before[step] = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}
        if step in self.loss_steps:
            batch["y"][0, 64] = complex(math.nan, 0.0)

    def on_after_backward(self, trainer, pl_module) -> None:
        if trainer.global_step in self.grad_steps:
            p = next(p for p in pl_module.net.parameters() if p.grad is not None)
            p.grad.view(-1)[0] = math.inf


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_bad_steps_are_skipped_counted_and_logged(rel_data, tmp_path, capsys):
    inject = Inject(loss_steps=[3], grad_steps=[7])
    cfg = tiny_train_config(rel_data, tmp_path / "run", "trainer.max_nonfinite_steps=2")
    train(cfg, extra_callbacks=[inject])
    # the bad steps changed nothing; the good ones around them did
    assert same(inject.before[3], inject.before[4]) and same(inject.before[7], inject.before[8])
    assert not same(inject.before[2], inject.before[3])
    assert not same(inject.before[8], inject.before[9])
    out = capsys.readouterr().out
    assert "non-finite loss or gradient at epoch 0, step 3: step skipped" in out
    assert "step 7: step skipped (1 in a row, 2 in all" in out
    with open(tmp_path / "run" / "logs" / "csv" / "metrics.csv") as f:
        counts = [float(r["train/skipped_steps"]) for r in csv.DictReader(f)
                  if r.get("train/skipped_steps")]  # fmt: skip
    assert counts[2] == 0 and counts[3] == 1 and counts[7] == 2 and counts[-1] == 2
    final = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(bool(torch.isfinite(v).all()) for v in final["state_dict"].values())


def test_too_many_in_a_row_stop_with_the_last_good_weights(rel_data, tmp_path):
    from sarssm.train.checkpoint import read_checkpoint

    inject = Inject(loss_steps=range(5, 1000))
    cfg = tiny_train_config(rel_data, tmp_path / "run", "trainer.max_nonfinite_steps=3")
    with pytest.raises(NumericalFaultError) as err:
        train(cfg, extra_callbacks=[inject])
    message = str(err.value)
    good = tmp_path / "run" / "checkpoints" / "last_good.ckpt"
    assert "3 optimiser steps in a row had a non-finite loss or gradient" in message
    assert "trainer.max_nonfinite_steps=3" in message and str(good) in message
    state = read_checkpoint(good)["state_dict"]
    weights = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    assert same(weights, inject.before[5])  # the weights before the first bad step
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_non_finite_loss_with_finite_gradients_is_skipped_too(tmp_path):
    """A loss term without gradient (0 x NaN elsewhere) can be NaN while every gradient is
    finite: the step is skipped all the same."""
    from types import SimpleNamespace

    from sarssm.train.faults import NonFiniteGuard

    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 0.5)
    optimizer = torch.optim.AdamW([p])
    trainer = SimpleNamespace(world_size=1, is_global_zero=True, current_epoch=0, global_step=4)
    logged = {}
    module = SimpleNamespace(log=lambda name, value, **_: logged.__setitem__(name, value))
    lines: list[str] = []
    guard = NonFiniteGuard(5, tmp_path, echo=lines.append)
    guard.on_before_backward(trainer, module, torch.tensor(float("nan")))
    guard.on_before_optimizer_step(trainer, module, optimizer)
    assert p.grad is None and guard.skipped == 1 and logged["train/skipped_steps"] == 1.0
    assert "step 4: step skipped" in lines[0]
    p.grad = torch.full((3,), 0.5)  # the next step is good: kept, and the streak ends
    guard.on_before_backward(trainer, module, torch.tensor(1.0))
    guard.on_before_optimizer_step(trainer, module, optimizer)
    assert p.grad is not None and guard.in_a_row == 0 and guard.skipped == 1
