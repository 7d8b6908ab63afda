"""Model order: fit one S4D channel's impulse response to the demo azimuth matched filter.

For each direction (causal with delay = half the aperture, bidirectional), state size N and
initialisation (inv, lin, band), a one-channel S4D layer is fitted by Adam (cosine decay) on
the kernel NMSE in dB (`sarssm.models.fit.fit_impulse_response`) to the taps of the demo
preset's windowed matched filter over the whole column (lags -127..127). The causal target is
the filter with the taps before lag -delay removed (no causal filter with that delay can reach
them); "full" is the NMSE against the whole filter, floored by that removed tail. Reports the
median and best over seeds.

    python benchmarks/models_fit.py [--quick] [--steps S] [--seeds K] [--threads T] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sarssm.bench import write_report
from sarssm.models.fit import fit_impulse_response, nmse_db
from sarssm.models.s4d import S4D
from sarssm.physics import matched_filter_taps
from sarssm.physics.geometry import get_preset

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
HALF = 127  # lags -127..127: the whole 256-sample demo column
CASES = {"causal": [8, 16, 32, 64], "bidirectional": [4, 8, 16, 32]}
INITS = ["inv", "lin", "band"]


def fit_case(direction: str, N: int, init: str, seed: int, steps: int, lr: float) -> dict:
    geo = get_preset("demo")
    aperture = float(geo.aperture_samples([geo.n_range // 2])[0])
    delay = round(aperture / 2) if direction == "causal" else 0
    full = matched_filter_taps(geo, HALF)
    lags = np.arange(-HALF, HALF + 1)
    target = np.where(lags >= -delay, full, 0) if direction == "causal" else full
    torch.manual_seed(seed)
    layer = S4D(1, N, direction=direction, delay=delay, init=init)
    t0 = time.perf_counter()
    reached = fit_impulse_response(layer, target, steps=steps, lr=lr)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        whole = nmse_db(layer.impulse_response(HALF + 1)[0], torch.as_tensor(full)).item()
    return dict(
        direction=direction,
        N=N,
        init=init,
        seed=seed,
        delay=delay,
        nmse_db=reached,
        nmse_full_db=whole,
        seconds=seconds,
    )


def causal_floors(delays: list[int]) -> dict[int, float]:
    """Energy of the filter taps before lag -delay relative to the whole filter, in dB: the
    lowest NMSE any causal filter with that delay can reach against the full filter."""
    full = matched_filter_taps(get_preset("demo"), HALF)
    lags = np.arange(-HALF, HALF + 1)
    energy = np.abs(full) ** 2
    return {d: float(10 * np.log10(energy[lags < -d].sum() / energy.sum())) for d in delays}


def summarise(runs: list[dict]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["direction"], r["N"], r["init"]), []).append(r)
    rows = []
    for (direction, N, init), rs in groups.items():
        vals = [r["nmse_db"] for r in rs]
        rows.append(
            dict(
                direction=direction,
                N=N,
                init=init,
                seeds=len(rs),
                median_db=statistics.median(vals),
                best_db=min(vals),
                median_full_db=statistics.median(r["nmse_full_db"] for r in rs),
            )
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'direction':<14} {'N':>3} " + " ".join(f"{i + ' med/best dB':>18}" for i in INITS))
    keys = sorted({(r["direction"], r["N"]) for r in rows}, key=lambda k: (k[0] != "causal", k[1]))
    for direction, N in keys:
        cells = []
        for init in INITS:
            r = next(r for r in rows if (r["direction"], r["N"], r["init"]) == (direction, N, init))
            cells.append(f"{r['median_db']:>8.1f} / {r['best_db']:>6.1f}  ")
        print(f"{direction:<14} {N:>3} " + " ".join(f"{c:>18}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    parser.add_argument("--quick", action="store_true", help="200 steps, one seed")
    parser.add_argument("--steps", type=int, default=None, help="Adam steps per fit")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per case")
    parser.add_argument("--lr", type=float, default=2e-2, help="Adam learning rate")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    steps = args.steps or (200 if args.quick else 1000)
    seeds = args.seeds or (1 if args.quick else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = []
    for direction, sizes in CASES.items():
        for N in sizes:
            for init in INITS:
                for seed in range(seeds):
                    runs.append(fit_case(direction, N, init, seed, steps, args.lr))
            print(f"  {direction} N={N}: done", file=sys.stderr, flush=True)
    rows = summarise(runs)
    print_table(rows)
    floors = causal_floors([32, 40, 48])
    print("causal floor (taps before -delay):", {d: round(v, 1) for d, v in floors.items()})
    extra = {
        "steps": steps,
        "lr": args.lr,
        "seeds": seeds,
        "half": HALF,
        "causal_floor_db": floors,
        "summary": rows,
        "runs": runs,
    }
    write_report("models_fit", None, args.out, quick=None, repeats=None, extra=extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
