"""Complex state space models for SAR focusing: S4D layer, sarSSM stack, presets, cost."""

from sarssm.models.config import ModelConfig, get_config, preset_names, resolve_config
from sarssm.models.cost import count_parameters, macs_per_sample, model_cost, preset_table
from sarssm.models.io import load_model, save_model
from sarssm.models.s4d import S4D, S4DKernel
from sarssm.models.stack import SarSSM, SarSSMState, build_model

__all__ = [
    "S4D",
    "ModelConfig",
    "S4DKernel",
    "SarSSM",
    "SarSSMState",
    "build_model",
    "count_parameters",
    "get_config",
    "load_model",
    "macs_per_sample",
    "model_cost",
    "preset_names",
    "preset_table",
    "resolve_config",
    "save_model",
]
