"""Evaluation: point-target quality (IRW, PSLR, ISLR, phase, position) and product inspection."""

from sarssm.eval.pointtarget import (
    CutQuality,
    PointTargetQuality,
    interpolate_at,
    measure_cut,
    measure_point_target,
    measure_product,
    upsample_cut,
    wrap_phase,
)
from sarssm.eval.theory import (
    TheoreticalQuality,
    default_half_window,
    impulse_response,
    theoretical_response,
    theory_for_geometry,
)

__all__ = [
    "CutQuality",
    "PointTargetQuality",
    "TheoreticalQuality",
    "default_half_window",
    "impulse_response",
    "interpolate_at",
    "measure_cut",
    "measure_point_target",
    "measure_product",
    "theoretical_response",
    "theory_for_geometry",
    "upsample_cut",
    "wrap_phase",
]
