"""What each model input can reach on range-migrating data: the per-column linear oracle.

For every input option (`rc` one column, `rcmc` one column, `rc` with k neighbouring columns on
each side) the best linear shift-invariant filter from the input columns to `az[:, m]` is fitted
per output column m and per Doppler bin by least squares over training products of one fixed
geometry (`simulate(..., vary_range=False)`), then applied to held-out products of other seeds.
Its whole-product NMSE is the cap any model of that input reaches at that geometry. Zero-padded
FFTs (linear convolution); the first and last `margin` rows are left out, as in the metrics.

    python benchmarks/range_context.py [--preset s1-stripmap] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sarssm.bench import write_report
from sarssm.data.store import open_product
from sarssm.models.inputs import stack_neighbours
from sarssm.physics.geometry import get_preset
from sarssm.sim.simulate import simulate

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
OPTIONS = (("rc", 0), ("rcmc", 0), ("rc", 1), ("rc", 2), ("rc", 3))


def spectra(paths: list[Path], level: str, k: int, nfft: int) -> tuple[np.ndarray, np.ndarray]:
    """Input spectra X [P, F, M, 2k+1] and target spectra Y [P, F, M] of products `paths`."""
    xs, ys = [], []
    for path in paths:
        product = open_product(path)
        block = product.read(level).astype(np.complex128)
        padded = np.pad(block, ((0, 0), (k, k)))  # zero beyond the range edges, as the models
        x = stack_neighbours(padded, k)  # [M, L, 2k+1]
        xs.append(np.fft.fft(x, n=nfft, axis=1).transpose(1, 0, 2))
        ys.append(np.fft.fft(product.read("az").astype(np.complex128), n=nfft, axis=0))
    return np.stack(xs), np.stack(ys)


def oracle_nmse_db(
    train: list[Path], test: list[Path], level: str, k: int, margin: int, ridge: float = 1e-9
) -> float:
    """Whole-product NMSE (dB) on `test` of the per-column, per-bin least-squares filter."""
    rows = open_product(train[0]).shape[0]
    nfft = 2 * rows
    X, Y = spectra(train, level, k, nfft)  # [P, F, M, C], [P, F, M]
    G = np.einsum("pfmc,pfmd->fmcd", X.conj(), X)  # normal equations per (bin, column)
    b = np.einsum("pfmc,pfm->fmc", X.conj(), Y)
    scale = np.trace(G, axis1=2, axis2=3).real[..., None, None] / G.shape[-1]
    W = np.linalg.solve(G + ridge * scale * np.eye(G.shape[-1]) + 1e-300, b[..., None])[..., 0]
    Xt, _ = spectra(test, level, k, nfft)
    err = total = 0.0
    for p, path in enumerate(test):
        pred = np.fft.ifft(np.einsum("fmc,fmc->fm", Xt[p], W), axis=0)[:rows]
        az = open_product(path).read("az")
        window = slice(margin, rows - margin)
        err += float(np.sum(np.abs(pred[window] - az[window]) ** 2))
        total += float(np.sum(np.abs(az[window]) ** 2))
    return 10.0 * np.log10(err / total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="s1-stripmap", help="geometry preset")
    parser.add_argument("--train", type=int, default=48, help="training products per range")
    parser.add_argument("--test", type=int, default=4, help="held-out products per range")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    args = parser.parse_args()
    base = get_preset(args.preset)
    width = (base.n_range - 1) * base.range_spacing_m
    ranges = {"near": base.swath_near_m, "far": base.swath_far_m - width}
    margin = int(np.ceil(np.max(base.aperture_samples()) / 2))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for where, near in ranges.items():
            made = {}
            for split, count, seed in (("train", args.train, 1000), ("test", args.test, 9000)):
                made[split] = simulate(
                    Path(tmp) / f"{where}-{split}", args.preset, "clutter", count, seed, 20.0,
                    near_range_m=near, progress=False,
                )  # fmt: skip
            for level, k in OPTIONS:
                t = time.perf_counter()
                nmse = oracle_nmse_db(made["train"], made["test"], level, k, margin)
                rows.append(
                    {
                        "preset": args.preset,
                        "where": where,
                        "near_range_km": near / 1e3,
                        "input": level if k == 0 else f"{level}+-{k}",
                        "oracle_nmse_db": nmse,
                        "seconds": time.perf_counter() - t,
                    }
                )
                print(f"{args.preset} {where:>4} {near / 1e3:7.1f} km  {rows[-1]['input']:>7}  "
                      f"oracle NMSE {nmse:7.2f} dB")  # fmt: skip
    extra = {"train_products": args.train, "test_products": args.test, "scene": "clutter",
             "snr_db": 20.0, "margin": margin}  # fmt: skip
    write_report("range_context", rows, args.out, quick=None, repeats=None, extra=extra)


if __name__ == "__main__":
    main()
