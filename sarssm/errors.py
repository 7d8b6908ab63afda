"""User-facing errors: the CLI prints these as one line and exits non-zero, without a traceback."""


class SarssmError(Exception):
    """Base class of every error caused by the user's input (a file, a flag, a config value)."""


class ConfigError(SarssmError):
    """A configuration key is unknown, missing, of the wrong type or has an impossible value."""


class ProductError(SarssmError):
    """A product on disk is missing, corrupt, or does not follow the Maya4 layout."""


class NumericalFaultError(SarssmError):
    """Training stopped: too many optimiser steps in a row had a non-finite loss or gradient."""


class RunInterrupted(Exception):  # noqa: N818 (not an error of the user's: exit code 130)
    """A run was interrupted (Ctrl-C); the message says how to continue it."""
