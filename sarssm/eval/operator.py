"""Is a trained model a focusing operator? Checks on products it never saw.

Focusing is linear and shift-invariant along azimuth, and depends on a column only through its
geometry. Each check simulates `demo`-like products away from the training distribution and
reports whole-product complex NMSE (dB, the metric window of `evaluate_product`):

- `scale_sweep`: the input multiplied by complex a of |a| 1e-4..1e4 (real archives differ in
  brightness by orders of magnitude): NMSE of f(a x) / a against the reference.
- `range_sweep`: products whose near range lies inside and outside the training swath.
- `length_sweep`: products of 256 to 2048 rows (a stream has no known length; training
  patches constrain only the response lags shorter than themselves).
- `dark_band`: a clutter scene with a band of rows `dark_db` darker; NMSE inside the band (more
  than `apertures` synthetic apertures from its edges) next to the bright rows'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from sarssm.eval.products import evaluate_product, predict_product

SCALES = (1e-4, 1e-2, 1.0, 1e2, 1e4)


def nmse_db(pred: np.ndarray, target: np.ndarray) -> float:
    """Complex NMSE in dB (`sarssm.eval.metrics.nmse_db`) as a float."""
    from sarssm.eval.metrics import nmse_db as metric

    return float(metric(pred, target))


def scale_sweep(
    net: torch.nn.Module,
    paths: list[Path],
    scaler: Any,
    margin: int,
    scales: tuple[float, ...] = SCALES,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Mean NMSE over `paths` of f(a x) / a for |a| in `scales`, each with a random phase."""
    from sarssm.data.store import open_product

    rng = np.random.default_rng(seed)
    products = [open_product(p) for p in paths]
    out = []
    for mag in scales:
        a = complex(mag * np.exp(1j * rng.uniform(-np.pi, np.pi)))
        values = []
        for product in products:
            pred = predict_product(net, product, scaler, gain=a)
            values.append(evaluate_product(pred, product, margin)["nmse_db"])
        out.append({"scale": float(mag), "phase_rad": float(np.angle(a)), "nmse_db": _mean(values)})
    return out


def range_sweep(
    net: torch.nn.Module,
    scaler: Any,
    out_dir: Path,
    margin: int,
    near_ranges_m: dict[str, float],
    scene: str = "mixed",
    products: int = 2,
    seed: int = 50_000,
    snr_db: float | None = 20.0,
) -> list[dict[str, Any]]:
    """Mean NMSE of `products` new products at each named near range (`demo` preset)."""
    from sarssm.data.store import open_product
    from sarssm.sim.simulate import simulate

    out = []
    for i, (label, near) in enumerate(near_ranges_m.items()):
        folder = Path(out_dir) / f"range-{label}"
        paths = simulate(
            folder, "demo", scene, products, seed + 100 * i, snr_db,
            overwrite=True, near_range_m=near, progress=False,
        )  # fmt: skip
        values = []
        for path in paths:
            product = open_product(path)
            pred = predict_product(net, product, scaler)
            values.append(evaluate_product(pred, product, margin)["nmse_db"])
        out.append({"where": label, "near_range_m": float(near), "nmse_db": _mean(values)})
    return out


def length_sweep(
    net: torch.nn.Module,
    scaler: Any,
    margin: int,
    rows: tuple[int, ...] = (256, 512, 1024, 2048),
    scene: str = "clutter",
    seeds: tuple[int, ...] = (70_000, 70_001),
    snr_db: float | None = 20.0,
) -> list[dict[str, float]]:
    """Mean NMSE of new `demo` products of each length (the first and last `margin` rows out)."""
    from sarssm.physics.geometry import get_preset
    from sarssm.sim.simulate import simulate_product

    out = []
    for n in rows:
        geometry = get_preset("demo").replace(n_azimuth=int(n))
        values = []
        for seed in seeds:
            product = simulate_product(geometry, scene, seed, snr_db)
            pred = predict_product(net, product, scaler)
            window = slice(margin, n - margin)
            values.append(nmse_db(pred[window], product.arrays["az"][window]))
        out.append({"rows": int(n), "nmse_db": _mean(values)})
    return out


def demo_near_ranges(config: Any) -> dict[str, float]:
    """Near ranges of the range sweep for a model of `demo` geometry: mid-swath, and the two
    ends of the model's reference interval (a quarter of the swath's width beyond the swath
    the training products were drawn in: products wholly outside it, on either side)."""
    from sarssm.physics.geometry import get_preset

    base = get_preset("demo")
    width = (base.n_range - 1) * base.range_spacing_m
    mid = 0.5 * (base.swath_near_m + base.swath_far_m) - 0.5 * width
    ref = config.reference
    return {
        "below_swath": ref.range_min_m + 1.0,
        "mid_swath": mid,
        "above_swath": ref.range_max_m - width - 1.0,
    }


def dark_band(
    net: torch.nn.Module,
    scaler: Any,
    margin: int,
    rows: int = 1024,
    dark_db: float = 30.0,
    apertures: float = 1.0,
    seeds: tuple[int, ...] = (60_000, 60_001),
    snr_db: float | None = None,
) -> dict[str, float]:
    """NMSE of the middle third of rows (`dark_db` darker) and of the bright rows, each more
    than `apertures` synthetic apertures from the band's edges and `margin` from the ends.

    Without noise by default: at the demo's 20 dB SNR the band would be 10 dB below the noise,
    and the check would measure how noise is focused rather than the weak signal.
    """
    from sarssm.physics.geometry import get_preset
    from sarssm.sim.simulate import simulate_product

    geometry = get_preset("demo").replace(n_azimuth=int(rows))
    a, b = rows // 3, 2 * rows // 3
    gap = int(np.ceil(apertures * float(np.max(geometry.aperture_samples()))))
    dark = np.zeros(rows, dtype=bool)
    dark[a + gap : b - gap] = True
    bright = np.zeros(rows, dtype=bool)
    bright[margin : a - gap] = True
    bright[b + gap : rows - margin] = True
    if not dark.any() or not bright.any():
        raise ValueError(f"dark_band: {rows} rows leave no rows {gap} from the band's edges")
    options = {"n_regions": 0, "dark_rows": (a, b), "dark_db": dark_db}
    cfg = net.config
    lead = cfg.delay if cfg.direction == "causal" else cfg.memory
    errors: dict[str, list[float]] = {k: [] for k in ("dark", "bright", "dark_cap", "bright_cap")}
    for seed in seeds:
        product = simulate_product(geometry, "clutter", seed, snr_db, scene_options=options)
        pred = predict_product(net, product, scaler)
        az = product.arrays["az"]
        cap = windowed_reference(product.arrays["rcmc"], geometry, lead, cfg.memory)
        for key, image in (("", pred), ("_cap", cap)):
            errors["dark" + key].append(nmse_db(image[dark], az[dark]))
            errors["bright" + key].append(nmse_db(image[bright], az[bright]))
    return {
        "dark_db": float(dark_db),
        "gap_rows": gap,
        "dark_nmse_db": _mean(errors["dark"]),
        "bright_nmse_db": _mean(errors["bright"]),
        "window_dark_nmse_db": _mean(errors["dark_cap"]),
        "window_bright_nmse_db": _mean(errors["bright_cap"]),
    }


def windowed_reference(rcmc: np.ndarray, geometry: Any, lead: int, memory: int) -> np.ndarray:
    """The reference processor with its matched filter cut to the lags a model reads: the
    output at row t from input rows t - (memory - lead) .. t + lead (lags -lead..memory-lead).

    The best any operator of that window can do is bounded by this cut's error: where the
    reference output at t holds energy from farther rows (the far sidelobes of a bright area
    next to a dark one), no such model can reproduce it.
    """
    from sarssm.focus.rda import fft_length
    from sarssm.physics.azimuth import azimuth_matched_filter

    n = rcmc.shape[0]
    nfft = fft_length(geometry, n)
    h = np.fft.ifft(azimuth_matched_filter(geometry, None, nfft), axis=0)  # lag j at j mod nfft
    lags = (np.arange(nfft) + nfft // 2) % nfft - nfft // 2  # [nfft] signed lag of each index
    h[(lags < -lead) | (lags > memory - lead)] = 0.0
    spec = np.fft.fft(rcmc, n=nfft, axis=0) * np.fft.fft(h, axis=0)
    return np.fft.ifft(spec, axis=0)[:n].astype(np.complex64)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")
