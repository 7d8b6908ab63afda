"""sarssm: complex-valued state space models that focus SAR data."""

__version__ = "0.1.0"
