"""Classical focusing: the reference range-Doppler processor that makes the `az` ground truth."""

from sarssm.focus.rda import azimuth_compress, focus_rc, rcmc

__all__ = ["azimuth_compress", "focus_rc", "rcmc"]
