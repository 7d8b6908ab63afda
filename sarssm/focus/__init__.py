"""Classical focusing: the reference range-Doppler processor that makes the `az` ground truth."""

from sarssm.focus.rda import (
    azimuth_compress,
    azimuth_matched_filter,
    azimuth_transfer,
    effective_weighting,
    focus_rc,
    rcmc,
)

__all__ = [
    "azimuth_compress",
    "azimuth_matched_filter",
    "azimuth_transfer",
    "effective_weighting",
    "focus_rc",
    "rcmc",
]
