"""Time of each selective-scan variant (forward, forward + backward) on the CPU.

Times `sarssm.models.scan.selective_scan` (ZOH, input-dependent dt, B, C; y = sum_n C x,
block 256) for the sequential loop, the chunked log-space scan and the doubling scan (chunk 64),
and the sequential and chunked scans with per-block checkpointing (block 64), at a
demo-teacher-like size (B=8, L=256, H=16, N=64) and a larger one (B=1, L=2048, H=64, N=64).
Each time is the median over repeats of `time.perf_counter` after one warm-up run; "saved MB"
is what autograd keeps for the backward pass (unique storages of the saved tensors).

    python benchmarks/scan.py [--quick] [--repeats N] [--threads T] [--out DIR]
                              [--large-modes N] [--variants sequential,chunked,...]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sarssm.bench import median_seconds, write_report
from sarssm.models.scan import selective_scan

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
SIZES = {"demo": (8, 256, 16, 64), "large": (1, 2048, 64, 64)}  # B, L, H, N
QUICK_SIZES = {"demo": (8, 256, 16, 64), "large": (1, 512, 64, 64)}
VARIANTS = {  # name -> selective_scan keyword arguments
    "sequential": dict(method="sequential", block=256),
    "chunked": dict(method="chunked", chunk=64, block=256),
    "doubling": dict(method="doubling", chunk=64, block=256),
    "sequential+ckpt": dict(method="sequential", block=64, checkpoint=True),
    "chunked+ckpt": dict(method="chunked", chunk=64, block=64, checkpoint=True),
}


def make_inputs(Bt: int, L: int, H: int, N: int, seed: int = 0) -> list[torch.Tensor]:
    """Leaves of a selective scan at the layer's initial scale: dt in [1e-3, 1e-1], S4D-Lin-like
    poles, unit B_static, B_sel and C_sel of about unit size."""
    g = torch.Generator().manual_seed(seed)
    c = torch.complex64
    u = torch.randn(Bt, L, H, generator=g, dtype=c)
    dt = torch.exp(torch.empty(Bt, L, H).uniform_(-6.9, -2.3, generator=g))
    im = torch.pi * (torch.arange(N, dtype=torch.float32) - N // 2)
    A = torch.complex(torch.full((H, N), -0.5), im.expand(H, N).contiguous())
    Bs = torch.ones(H, N, dtype=c)
    Cs = torch.randn(H, N, generator=g, dtype=c)
    Bx = torch.randn(Bt, L, N, generator=g, dtype=c)
    Cx = torch.randn(Bt, L, N, generator=g, dtype=c)
    return [t.requires_grad_() for t in (u, dt, A, Bs, Bx, Cs, Cx)]


def saved_megabytes(fn: Callable[[], torch.Tensor]) -> float:
    """MB of the unique storages autograd saves for the backward pass of `fn()`."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values()) / 2**20


def bench(size: str, shape: tuple[int, int, int, int], variant: str, repeats: int) -> dict:
    leaves = make_inputs(*shape)
    kw = VARIANTS[variant]

    def forward() -> torch.Tensor:
        return selective_scan(*leaves, **kw)[0]

    def forward_backward() -> None:
        y = forward()
        torch.autograd.backward(y, torch.ones_like(y))
        for t in leaves:
            t.grad = None

    with torch.no_grad():
        fwd = median_seconds(forward, repeats)
    fwd_bwd = median_seconds(forward_backward, repeats)
    Bt, L, H, N = shape
    return {
        "size": size,
        "shape_BLHN": list(shape),
        "variant": variant,
        "forward_ms": 1e3 * fwd,
        "forward_backward_ms": 1e3 * fwd_bwd,
        "saved_MB": saved_megabytes(forward),
        "state_MB": Bt * L * H * N * 8 / 2**20,  # the full complex64 [B, L, H, N] state
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'size':<6} {'B,L,H,N':>16} {'variant':<16} {'fwd ms':>9} {'fwd+bwd ms':>11} "
        f"{'saved MB':>9} {'state MB':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        shape = ",".join(str(s) for s in r["shape_BLHN"])
        saved = f"{r['saved_MB']:.1f}"
        print(
            f"{r['size']:<6} {shape:>16} {r['variant']:<16} {r['forward_ms']:>9.1f} "
            f"{r['forward_backward_ms']:>11.1f} {saved:>9} {r['state_MB']:>9.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    parser.add_argument("--quick", action="store_true", help="one repeat, large case L=512")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--large-modes", type=int, default=64, help="N of the large case")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma list of {list(VARIANTS)}"
    )
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    repeats = args.repeats or (1 if args.quick else 5)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = dict(QUICK_SIZES if args.quick else SIZES)
    sizes["large"] = (*sizes["large"][:3], args.large_modes)
    load_before = os.getloadavg()

    results = [
        bench(size, shape, variant, repeats)
        for size, shape in sizes.items()
        for variant in variants
    ]
    print_table(results)
    write_report(
        "scan", results, args.out, quick=args.quick, repeats=repeats, load_before=load_before
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
