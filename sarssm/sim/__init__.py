"""SAR simulation: stripmap geometry and presets, scenes, the raw-to-rc forward model."""

from sarssm.sim.geometry import PRESETS, Geometry, get_preset

__all__ = ["PRESETS", "Geometry", "get_preset"]
