"""SAR physics that every part of sarssm stands on: the stripmap geometry and its presets, and
the azimuth signal of one range column (spectra, matched filter, migration, delays)."""

from sarssm.physics.azimuth import (
    azimuth_matched_filter,
    azimuth_transfer,
    effective_weighting,
    matched_filter_taps,
    migration_bins,
    range_transfer,
    truncation_floor_db,
)
from sarssm.physics.geometry import PRESETS, Geometry, get_preset

__all__ = [
    "PRESETS",
    "Geometry",
    "azimuth_matched_filter",
    "azimuth_transfer",
    "effective_weighting",
    "get_preset",
    "matched_filter_taps",
    "migration_bins",
    "range_transfer",
    "truncation_floor_db",
]
