"""SAR simulation: scenes and the forward model of range-compressed products."""
