"""Peak memory of one training step of the seed-size teacher (CPU), and what it implies.

Each case runs in a fresh child process with an address-space limit: forward of a [B, L, C]
column batch, complex MSE against a target, backward. The memory is the child's peak resident
set (`ru_maxrss`) less its resident set before the step (model built, inputs made). Activation
memory grows linearly in layers, column length and batch, so the full-size figure
(6 layers, 2048 samples) is extrapolated from the measured ones by that law and labelled so;
the batch-8 figure is 8 x the batch-1 figure (a GPU holds the same tensors; its allocator's
overhead is not included).

    python benchmarks/teacher_memory.py [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from pathlib import Path
from typing import Any

from sarssm.bench import write_report

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
LIMIT_BYTES = 14 << 30  # a child may not take the machine down
GIB = float(1 << 30)


def _step(queue: mp.Queue, overrides: dict[str, Any], L: int, batch: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))
    import torch

    from sarssm.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model("teacher", **overrides)
    c = model.config
    x = torch.randn(batch, L, c.input_channels, dtype=torch.complex64)
    y = torch.randn(batch, L, dtype=torch.complex64)
    r = torch.full((batch,), c.reference.range_m, dtype=torch.float64)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    loss = (model(x, r) - y).abs().square().mean()
    loss.backward()
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    queue.put({"step_gib": (peak - before) * 1024 / GIB, "seconds": seconds, "weights": weights})


def measure(overrides: dict[str, Any], L: int, batch: int = 1) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_step, args=(queue, overrides, L, batch))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        return {"error": f"child exited with {proc.exitcode} (memory limit?)"}
    return queue.get()


def extrapolate(name: str, measured: list[tuple[int, float]]) -> dict[str, Any]:
    """Six layers of 2048 samples from one layer at two lengths: m(L) = a + b L per layer.
    Upper bound: every layer keeps its a; lower bound: a is a workspace shared by the layers.
    Batch 8: the upper bound times 8."""
    (L1, m1), (L2, m2) = measured
    b = max((m2 - m1) / (L2 - L1), 0.0)
    a = m1 - b * L1
    upper, lower = 6 * (a + b * 2048), a + 6 * b * 2048
    return {
        "variant": name,
        "layers": 6,
        "L": 2048,
        "batch": 1,
        "step_gib": upper,
        "step_gib_lower": lower,
        "batch8_gib": 8 * upper,
        "extrapolated": "one layer at L=128, 256: m = a + b L; 6 (a + 2048 b); batch 8: x 8",
        "fits_24gb_batch1": upper < 24e9 / GIB,
        "fits_80gb_batch8": 8 * upper < 80e9 / GIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    args = parser.parse_args()
    variants = {
        "scan": {"selectivity": "scan"},
        "scan, checkpoint": {"selectivity": "scan", "checkpoint": True},
        "gate": {"selectivity": "gate"},
    }
    lengths = (128, 256)
    rows = []
    for name, overrides in variants.items():
        measured = []
        for L in lengths:
            m = measure({**overrides, "num_layers": 1}, L)
            m.update({"variant": name, "layers": 1, "L": L, "batch": 1})
            rows.append(m)
            if "error" not in m:
                measured.append((L, m["step_gib"]))
            print(json.dumps(m))
        if len(measured) == 2:
            rows.append(extrapolate(name, measured))
    print(f"{'variant':<18} {'layers':>6} {'L':>5} {'GiB':>8} {'s':>7}  note")
    for r in rows:
        note = "extrapolated" if "extrapolated" in r else r.get("error", "measured")
        gib = r.get("step_gib", float("nan"))
        print(f"{r['variant']:<18} {r['layers']:>6} {r['L']:>5} {gib:>8.2f} "
              f"{r.get('seconds', float('nan')):>7.1f}  {note}")  # fmt: skip
    write_report("teacher_memory", rows, args.out, quick=None, repeats=1)


if __name__ == "__main__":
    main()
