"""The earlier pipeline's module path for `compare_models` (see `sarssm.distill.diagnostics`)."""

from sarssm.distill.diagnostics import compare_models

__all__ = ["compare_models"]
