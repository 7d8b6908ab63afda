"""Throughput of the reference range-Doppler processor and of the simulator.

Processor: `focus_rc` (RCMC + azimuth compression) on an s1-stripmap block (2048 rows x 64
columns) and a demo block (256 x 256), in columns/s and samples/s. Simulator: `simulate_product`
per scene on the presets' own product size (rc, noise, reference processing; no disk I/O), in
products/s and samples/s. Each number is the median over repeats of `time.perf_counter`.

    python benchmarks/reference_processor.py [--quick] [--repeats N] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.bench import median_seconds, write_report
from sarssm.focus import focus_rc
from sarssm.physics.geometry import get_preset
from sarssm.sim.simulate import simulate_product

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def bench_processor(preset: str, rows: int, cols: int, repeats: int) -> dict[str, Any]:
    geometry = get_preset(preset).replace(n_azimuth=rows, n_range=cols)
    rng = np.random.default_rng(0)
    rc = (rng.standard_normal((rows, cols)) + 1j * rng.standard_normal((rows, cols))).astype(
        np.complex64
    )
    seconds = median_seconds(lambda: focus_rc(rc, geometry), repeats)
    return {
        "task": "focus_rc",
        "preset": preset,
        "shape": [rows, cols],
        "median_s": seconds,
        "columns_per_s": cols / seconds,
        "samples_per_s": rows * cols / seconds,
    }


def bench_simulation(preset: str, scene: str, repeats: int, image: Path) -> dict[str, Any]:
    geometry = get_preset(preset)
    kwargs = {"image": image} if scene == "image" else {}

    def run() -> None:
        simulate_product(geometry, scene, seed=0, snr_db=20.0, **kwargs)

    seconds = median_seconds(run, repeats)
    samples = geometry.n_azimuth * geometry.n_range
    return {
        "task": f"simulate {scene}",
        "preset": preset,
        "shape": [geometry.n_azimuth, geometry.n_range],
        "median_s": seconds,
        "products_per_s": 1.0 / seconds,
        "samples_per_s": samples / seconds,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'task':<18} {'preset':<12} {'shape':>10} {'median ms':>10} {'cols/s':>10} "
        f"{'products/s':>11} {'Msamples/s':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        shape = "x".join(str(s) for s in r["shape"])
        cols = f"{r['columns_per_s']:.0f}" if "columns_per_s" in r else "-"
        prods = f"{r['products_per_s']:.2f}" if "products_per_s" in r else "-"
        print(
            f"{r['task']:<18} {r['preset']:<12} {shape:>10} {1e3 * r['median_s']:>10.2f} "
            f"{cols:>10} {prods:>11} {r['samples_per_s'] / 1e6:>11.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    parser.add_argument("--quick", action="store_true", help="one repeat, narrower blocks")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    s1_cols, demo_cols = (16, 64) if args.quick else (64, 256)

    results = [
        bench_processor("s1-stripmap", 2048, s1_cols, repeats),
        bench_processor("demo", 256, demo_cols, repeats),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "ramp.npy"
        np.save(image, np.outer(np.linspace(0.1, 1.0, 64), np.ones(32)))
        for preset in ("demo", "s1-stripmap"):
            for scene in ("points", "clutter", "image", "mixed"):
                results.append(bench_simulation(preset, scene, repeats, image))
    print_table(results)
    write_report("reference_processor", results, args.out, quick=args.quick, repeats=repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
