"""What a run prints: one line per epoch off a terminal, a compact bar on one, quiet Lightning."""

import io
import logging
import sys
from types import SimpleNamespace

import torch

from sarssm.progress import set_verbose
from sarssm.train.progress import CompactBar, EpochLines, epoch_line, progress_callbacks


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_epoch_line_names_the_epoch_loss_and_validation_nmse():
    trainer = SimpleNamespace(
        current_epoch=2,
        max_epochs=30,
        callback_metrics={
            "train_total_loss": torch.tensor(0.01234),
            "val/nmse_db": torch.tensor(-25.5),
            "val_student_loss": torch.tensor(0.5),
        },
    )
    line = epoch_line("tiny", trainer, 3.21)
    assert line == "tiny epoch 3/30  loss 0.01234  val loss 0.5  val NMSE dB -25.5  3.2 s"


def test_a_bar_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    callbacks, bar = progress_callbacks(True, "run")
    assert not bar and isinstance(callbacks[0], EpochLines)
    monkeypatch.setattr(sys, "stderr", Tty())
    callbacks, bar = progress_callbacks(True, "run")
    assert bar and isinstance(callbacks[0], CompactBar)
    callbacks, bar = progress_callbacks(False, "run")  # progress_bar: false -> lines
    assert not bar and isinstance(callbacks[0], EpochLines)


def test_lightning_info_hidden_unless_verbose():
    import lightning  # noqa: F401  (its import resets its logger to INFO)

    set_verbose(False)
    progress_callbacks(False)
    assert logging.getLogger("lightning.pytorch").getEffectiveLevel() == logging.WARNING
    set_verbose(True)
    assert logging.getLogger("lightning.pytorch").getEffectiveLevel() == logging.INFO
    set_verbose(False)


def test_compact_bar_drops_the_version_number(monkeypatch):
    from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar

    monkeypatch.setattr(
        ProgressBar, "get_metrics", lambda self, t, m: {"v_num": "oard", "train/loss_step": 0.1}
    )
    assert CompactBar().get_metrics(None, None) == {"train/loss_step": 0.1}
