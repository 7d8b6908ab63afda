"""The earlier pipeline's module path for `analyze_distributions` (see
`sarssm.distill.diagnostics`)."""

from sarssm.distill.diagnostics import analyze_distributions

__all__ = ["analyze_distributions"]
