"""Errors raised by `sarssm.models` (all `SarssmError`s: the CLI prints them as one line)."""

from sarssm.errors import SarssmError


class ModelInputError(SarssmError, ValueError):
    """A tensor given to a model or layer has the wrong dtype, rank, shape or non-finite values."""


class StepModeError(SarssmError, RuntimeError):
    """Streaming (step) mode was asked of a bidirectional, off-line-only layer or model."""


class ModelFileError(SarssmError):
    """A saved model folder is missing a file, is corrupt, or its weights do not fit its config."""
