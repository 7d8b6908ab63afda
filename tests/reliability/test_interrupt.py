"""Ctrl-C: training stops with exit code 130 and says how to continue (`--resume`), which
then works; in Python, `train` raises `RunInterrupted` and gives Ctrl-C back to Python."""

from __future__ import annotations

import signal
import subprocess
import sys

import lightning as L
import pytest

from sarssm.cli import main
from sarssm.errors import RunInterrupted
from sarssm.train.run import train

from .conftest import ROOT, tiny_train_config, train_argv


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_with_the_resume_hint(rel_data, tmp_path):
    import os

    run = tmp_path / "run"
    # more epochs than the test can wait for, and unbuffered lines: the signal must reach a
    # run in its third epoch, whatever the machine's speed
    argv = train_argv(rel_data, run, "trainer.max_epochs=100000")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # a shell starts background jobs (and so CI runners and `make test &`) with SIGINT
    # ignored, which the child would inherit: give it the foreground's default, as a user's
    # terminal does
    proc = subprocess.Popen([sys.executable, "-m", "sarssm", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)  # fmt: skip
    try:
        for line in proc.stdout:  # one line per epoch off a terminal
            if "epoch 2/100000" in line:
                break
        else:
            pytest.fail(f"the run ended before its second epoch: {proc.stderr.read()}")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("sarssm train: interrupted: training stopped in epoch ")
    assert f"{run / 'checkpoints' / 'last.ckpt'}" in last and "--resume" in last
    # and the hint works (here with fewer epochs, which a resume may change)
    assert main([*train_argv(rel_data, run, "trainer.max_epochs=3"), "--resume"]) == 0
    assert (run / "metrics.json").is_file()


class CtrlC(L.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 2:
            raise KeyboardInterrupt


def test_train_raises_run_interrupted_and_restores_ctrl_c(rel_data, tmp_path):
    before = signal.getsignal(signal.SIGINT)
    try:
        config = tiny_train_config(rel_data, tmp_path / "run")
        with pytest.raises(RunInterrupted, match="before its first checkpoint"):
            train(config, extra_callbacks=[CtrlC()])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
