"""How much a run prints: Lightning's informational messages only with `--verbose`.

Lightning resets its logger to INFO when it is imported, so `apply_verbosity` runs again
wherever a Trainer is built (`sarssm.train.progress`). Warnings always show.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")
_verbose = False


def set_verbose(verbose: bool) -> None:
    """Show (True) or hide (False) Lightning's informational messages from now on."""
    global _verbose
    _verbose = bool(verbose)
    apply_verbosity()


def is_verbose() -> bool:
    return _verbose


def apply_verbosity() -> None:
    level = logging.INFO if _verbose else logging.WARNING
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(level)


def is_terminal(stream: Any = None) -> bool:
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())
