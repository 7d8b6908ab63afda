"""Latency of every model preset on the CPU: conv mode per column, step mode per sample, training.

For each preset (batch 1 unless stated, float32, eval mode and no autograd for inference):
- conv: one aligned forward of a column of L samples (the kernel spectrum cached, as in
  deployment), reported per column;
- step: `step` over S samples, reported per sample (one azimuth line of one range bin);
- line: `step` with batch W = `--line-width` range bins (default 16, the width of the presets'
  products), reported per azimuth line of W samples;
- chunk: `step_chunk` over blocks of 64 samples, reported per sample;
- train: forward + backward of a mean |y|^2 loss, training mode, batch `--train-batch`.
L is the data preset's column length (demo: 256) for demo presets; seed-size presets
(Sentinel-1 sizes, 64 x 540 x 6 ...) use the reduced `--seed-length` (default 256, training
at batch 1) to keep the run to minutes on two cores; every layer also processes the `delay`
padding samples (410 for seed presets). Each time is the median over repeats of
`time.perf_counter` after one warm-up run (one timed run for cases slower than 5 s).

    python benchmarks/models.py [--quick] [--repeats N] [--threads T] [--out DIR]
                                [--presets a,b] [--seed-length L] [--train-batch B]
                                [--line-width W]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sarssm.bench import median_seconds, write_report
from sarssm.models import build_model, count_parameters, macs_per_sample, preset_names
from sarssm.models.config import parse_variant
from sarssm.models.cost import data_stats

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
CHUNK = 64
SLOW_S = 5.0  # seconds: slower warm-ups get a single timed run


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """`median_seconds` with one timed run for cases whose warm-up took longer than SLOW_S
    (the seed-size selective teacher)."""
    return median_seconds(fn, repeats, slow_s=SLOW_S)


def bench(
    name: str, L: int, steps: int, train_batch: int, width: int, repeats: int, seed: int = 0
) -> dict[str, Any]:
    """Timings of preset `name` on columns of L samples (see the module docstring)."""
    torch.manual_seed(seed)
    preset, overrides = parse_variant(name)
    model = build_model(preset, **overrides).eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, L, model.config.input_channels, generator=g, dtype=torch.cfloat)
    r0 = model.config.reference.range_m  # every column at the reference range

    def ranges(n: int) -> torch.Tensor:
        return torch.full((n,), r0, dtype=torch.float64)

    def conv() -> None:
        with torch.no_grad():
            model(x, ranges(1))

    def step() -> None:
        with torch.no_grad():
            state = model.init_state(1, ranges(1))
            for t in range(steps):
                _, state = model.step(x[:, t % L], state)

    xw = torch.randn(width, steps, x.shape[2], generator=g, dtype=torch.cfloat)

    def line() -> None:
        with torch.no_grad():
            state = model.init_state(width, ranges(width))
            for t in range(steps):
                _, state = model.step(xw[:, t], state)

    def chunk() -> None:
        with torch.no_grad():
            state = model.init_state(1, ranges(1))
            for start in range(0, steps, CHUNK):
                _, state = model.step_chunk(x[:, start : start + CHUNK], state)

    xb = torch.randn(train_batch, L, x.shape[2], generator=g, dtype=torch.cfloat)

    def train() -> None:
        model.zero_grad(set_to_none=True)
        model(xb, ranges(train_batch)).abs().square().mean().backward()

    streaming = model.config.direction == "causal"
    row: dict[str, Any] = {
        "preset": name,
        "L": L,
        "delay": model.delay,
        "params": count_parameters(model),
        "macs_step": macs_per_sample(model, "step"),
        "macs_conv": macs_per_sample(model, "conv", L),
        "conv_ms_per_column": 1e3 * timed(conv, repeats),
        "step_us_per_sample": 1e6 * timed(step, repeats) / steps if streaming else None,
        "chunk_us_per_sample": 1e6 * timed(chunk, repeats) / steps if streaming else None,
        "line_width": width,
        "line_us_per_line": 1e6 * timed(line, repeats) / steps if streaming else None,
        "steps": steps,
    }
    model.train()
    row["train_batch"] = train_batch
    row["train_ms"] = 1e3 * timed(train, repeats)
    return row


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_table(rows: list[dict[str, Any]]) -> None:
    w = max(16, *(len(r["preset"]) for r in rows))
    header = (
        f"{'preset':<{w}} {'L':>5} {'params':>10} {'conv ms/col':>12} {'step us/smp':>12} "
        f"{'chunk us/smp':>13} {'line us':>9} {'train ms':>9} {'batch':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['preset']:<{w}} {r['L']:>5} {r['params']:>10,} "
            f"{r['conv_ms_per_column']:>12.2f} {_fmt(r['step_us_per_sample'], '.1f'):>12} "
            f"{_fmt(r['chunk_us_per_sample'], '.1f'):>13} "
            f"{_fmt(r['line_us_per_line'], '.1f'):>9} {r['train_ms']:>9.1f} "
            f"{r['train_batch']:>5}"
        )


# The demo teacher config trains demo-teacher with the gate: time it beside the presets.
VARIANTS = ["demo-teacher:selectivity=gate"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    parser.add_argument(
        "--quick", action="store_true", help="one repeat, seed-size L=128, 16 step samples"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--presets",
        default=",".join(preset_names() + VARIANTS),
        help="comma list of presets, each optionally with overrides: name:key=value;key=value",
    )
    parser.add_argument("--seed-length", type=int, default=None, help="L of seed presets")
    parser.add_argument("--train-batch", type=int, default=4, help="batch of demo training")
    parser.add_argument("--line-width", type=int, default=16, help="range bins per line")
    args = parser.parse_args(argv)
    presets = [p.replace(";", ",") for p in args.presets.split(",") if p]
    unknown = sorted({parse_variant(p)[0] for p in presets} - set(preset_names()))
    if unknown:
        parser.error(f"unknown presets {unknown}; choose from {preset_names()}")
    repeats = args.repeats or (1 if args.quick else 3)
    seed_length = args.seed_length or (128 if args.quick else 256)
    steps = 16 if args.quick else 128
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    results = []
    for name in presets:
        demo = name.startswith("demo-")
        L = data_stats("demo")["column_length"] if demo else seed_length
        batch = args.train_batch if demo else 1
        results.append(bench(name, L, min(steps, L), batch, args.line_width, repeats))
        print(f"  {name}: done", file=sys.stderr, flush=True)
    print_table(results)
    write_report(
        "models", results, args.out, quick=args.quick, repeats=repeats, load_before=load_before
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
