"""Run `sarssm ARGV` and SIGKILL the process at a chosen point (a child of the kill tests).

    python tests/reliability/killer.py '{"argv": [...], "kill": {...}}'

kill, one of:
    {"at": "batch", "epoch": E, "batch": B}   after training batch B of epoch E (train, distill)
    {"at": "commit", "name": N, "nth": K}     the K-th time sarssm.io has finished writing the
                                              temporary of output N (file or folder) and is
                                              about to rename it into place
    {"at": "block", "nth": K}                 at the K-th block a product writer writes (focus)

The process kills itself with SIGKILL: no handler, no clean-up, as a crash or the OOM killer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def at_batch(epoch: int, batch: int) -> None:
    import lightning as L

    import sarssm.train.run as run

    class Kill(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, b, batch_idx) -> None:
            if trainer.current_epoch == epoch and batch_idx == batch:
                die()

    fit = run.fit

    def fit_and_kill(module, datamodule, config, callbacks, *args, **kwargs):
        return fit(module, datamodule, config, [*callbacks, Kill()], *args, **kwargs)

    run.fit = fit_and_kill


def at_commit(name: str, nth: int) -> None:
    import sarssm.io as io

    seen = {"n": 0}
    apply_umask, apply_umask_tree = io.apply_umask, io.apply_umask_tree

    temporary = re.compile(rf"\.{re.escape(name)}\.[^.]+\.tmp")  # sarssm.io's names

    def check(path: Path) -> None:  # called on a finished temporary, just before its rename
        if temporary.fullmatch(Path(path).name):
            seen["n"] += 1
            if seen["n"] == nth:
                die()

    def umask_file(path, mask=None):
        apply_umask(path, mask)
        if mask is None:  # atomic_write_bytes; atomic_dir passes the mask for its entries
            check(path)

    def umask_tree(folder):
        apply_umask_tree(folder)
        check(folder)

    io.apply_umask, io.apply_umask_tree = umask_file, umask_tree


def at_block(nth: int) -> None:
    from sarssm.data.store import ProductWriter

    seen = {"n": 0}
    write = ProductWriter.write

    def write_and_kill(self, *args, **kwargs):
        seen["n"] += 1
        if seen["n"] == nth:
            die()
        return write(self, *args, **kwargs)

    ProductWriter.write = write_and_kill


def main() -> int:
    spec = json.loads(sys.argv[1])
    kill = spec["kill"]
    hooks = {"batch": at_batch, "commit": at_commit, "block": at_block}
    hooks[kill.pop("at")](**kill)
    from sarssm.cli import main as sarssm

    return sarssm(spec["argv"])


if __name__ == "__main__":
    raise SystemExit(main())
