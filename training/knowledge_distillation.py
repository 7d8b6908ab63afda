"""The earlier pipeline's module path for `test_feature_extraction` (see
`sarssm.distill.diagnostics`)."""

from sarssm.distill.diagnostics import test_feature_extraction

__all__ = ["test_feature_extraction"]
