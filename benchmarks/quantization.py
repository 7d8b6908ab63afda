"""Integer post-training quantisation of the demo-tiny student: quality and cost, on one thread.

Quality, on the held-out (test split) products of the model's run: each variant is calibrated
on the training split (every line, per-product input gain) and streamed over whole products;
the table gives NMSE, PSNR and point-target PSLR of the float32 student and of each integer
variant against the ground truth `az` (the product less `default_margin` rows at each end),
and the NMSE of the integer output against the float one. Variants: int8 weights always;
activations int8 (W8A8) or int16 (W8A16); state int16 or int32; clip "mse" (the default) or
mean +- 3 sigma (the earlier plan).

Poles: NMSE of the float student with only its poles dA rounded to Q7 (int8), Q11 or Q15
(int16) against the float student, on the same products, and the largest change of a mode's
time constant 1 / (1 - |dA|) that the rounding makes.

Cost, at W = 25,700 columns (one Sentinel-1 raw line) on one thread: ms per line of the float
`StreamingFocuser` (numba kernel) and of `QuantizedStream` (numba integer kernel), median of
`--repeats` runs of 50 pushes after a warm-up, and the bytes each holds (state: recurrent
state and pre-filter ring; weights: parameters and per-column taps).

    python benchmarks/quantization.py [--model DIR] [--data DIR] [--repeats N] [--out DIR]

The model defaults to the demo's trained demo-tiny (`make demo`): runs/demo/students/demo-tiny.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from sarssm.bench import median_seconds, write_report

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_MODEL = ROOT / "runs" / "demo" / "students" / "demo-tiny"
DEFAULT_DATA = ROOT / "runs" / "demo" / "data"
WIDTH = 25_700
PUSHES = 50
VARIANTS = [  # name, state bits, activation bits, clip
    ("W8A8, state int16 (default)", 16, 8, "mse"),
    ("W8A8, state int32", 32, 8, "mse"),
    ("W8A8, mean +- 3 sigma clip", 16, 8, 3.0),
    ("W8A8, 16-bit residual stream (u, s)", 16, {"u": 16, "s": 16}, "mse"),
    ("W8A16, state int16", 16, 16, "mse"),
    ("W8A16, state int32", 32, 16, "mse"),
]


def quality(model: Path, data: Path) -> tuple[dict[str, Any], list[dict[str, Any]], Any, Any]:
    """The float row and the model's facts, one row per variant, the float arrays and
    (calibration statistics, model config)."""
    from sarssm.deploy import quantize as Q
    from sarssm.deploy import quantize_run as R
    from sarssm.deploy.lti import lti_arrays
    from sarssm.eval.evaluate import load_entries

    entry = load_entries([str(model)])[0]
    arrays = lti_arrays(entry.net, entry.scaler)
    parts = R.run_split(Path(entry.path), data)
    config = entry.net.config

    def blocks():
        return (R.product_block(config, p)[:2] for p in parts["train"])

    t0 = time.perf_counter()
    stats = Q.calibrate(arrays, blocks, input_rms=1.0)
    print(f"calibrated on {len(parts['train'])} products in {time.perf_counter() - t0:.1f} s")
    rows: list[dict[str, Any]] = []
    float_row: dict[str, Any] | None = None
    for name, state_bits, act_bits, clip in VARIANTS:
        q = Q.quantize(arrays, stats, state_bits, clip, act_bits, input_rms=1.0)
        result = R.evaluate_quantized(arrays, q, config, parts["test"])
        float_row = float_row or {"variant": "float32", **result["float"]}
        rows.append(
            {
                "variant": name,
                "state_bits": state_bits,
                "act_bits": act_bits,
                "clip": str(clip),
                **result["int"],
                "int_vs_float_nmse_db": result["int_vs_float_nmse_db"],
                "per_product": result["products"],
            }
        )
    info = {
        "test_paths": parts["test"],
        "model": str(entry.path),
        "test_products": [p.name for p in parts["test"]],
        "calibration_products": len(parts["train"]),
    }
    return {"float": float_row, **info}, rows, arrays, (stats, config)


def cost(arrays: dict[str, np.ndarray], stats: Any, repeats: int) -> list[dict[str, Any]]:
    """ms per line and bytes of the float and the integer streams at W = WIDTH."""
    from sarssm.deploy import quantize as Q
    from sarssm.deploy.stream import StreamingFocuser

    stats, config = stats
    ref = config.reference
    r = np.linspace(ref.range_min_m, ref.range_max_m, WIDTH)
    rng = np.random.default_rng(0)
    line = (rng.standard_normal(WIDTH) + 1j * rng.standard_normal(WIDTH)).astype(np.complex64)
    out = np.empty(WIDTH, np.complex64)
    streams: list[tuple[str, Any]] = [("float32 (numba)", StreamingFocuser(arrays, WIDTH, r))]
    for act_bits, bits in ((8, 16), (8, 32), (16, 16)):
        q = Q.quantize(arrays, stats, bits, act_bits=act_bits, input_rms=1.0)
        name = f"W8A{act_bits}, state int{bits} (numba)"
        streams.append((name, Q.QuantizedStream(q, r, backend="numba", gain=1.0)))
    rows = []
    for name, stream in streams:

        def pushes(stream: Any = stream) -> None:
            for _ in range(PUSHES):
                stream.push(line, out)

        seconds = median_seconds(pushes, repeats)
        mem = stream.memory()
        rows.append(
            {
                "stream": name,
                "columns": WIDTH,
                "ms_per_line": 1e3 * seconds / PUSHES,
                "state_bytes": mem["state"],
                "weights_bytes": mem["weights"],
            }
        )
    return rows


def poles(arrays: dict[str, np.ndarray], config: Any, paths: list[Path]) -> list[dict[str, Any]]:
    """The float student with its poles rounded to `frac` fractional bits, against itself."""
    from sarssm.deploy import quantize_run as R
    from sarssm.deploy.stream import StreamingFocuser
    from sarssm.eval.metrics import nmse_db

    blocks = [R.product_block(config, p)[:2] for p in paths]
    ref = [StreamingFocuser(arrays, lines.shape[1], r).focus(lines) for lines, r in blocks]
    tau = 1 / (1 - np.abs(arrays["dA"].astype(np.complex128)))
    rows = []
    for frac in (7, 11, 15):
        step = 2.0**-frac
        dA = (np.rint(arrays["dA"].real / step) + 1j * np.rint(arrays["dA"].imag / step)) * step
        rounded = {**arrays, "dA": dA.astype(np.complex64)}
        nmse = [
            float(nmse_db(StreamingFocuser(rounded, lines.shape[1], r).focus(lines), y))
            for (lines, r), y in zip(blocks, ref, strict=True)
        ]
        tau_q = 1 / np.maximum(1 - np.abs(dA), 1e-12)
        rows.append(
            {
                "poles": f"Q{frac} (int{frac + 1})",
                "nmse_db": float(np.mean(nmse)),
                "max_time_constant_change": float(np.max(np.abs(tau_q / tau - 1))),
            }
        )
    return rows


def _f(v: Any, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def print_tables(head: dict[str, Any], rows: list[dict[str, Any]], costs: list[dict[str, Any]]):
    print(f"\n{head['model']}: {len(head['test_products'])} held-out products")
    print("| variant | NMSE dB vs az | PSNR dB | PSLR dB | NMSE dB vs float |")
    print("| --- | --- | --- | --- | --- |")
    f = head["float"]
    print(f"| float32 | {_f(f['nmse_db'])} | {_f(f['psnr_db'])} | {_f(f['pslr_db'])} | - |")
    for r in rows:
        print(
            f"| {r['variant']} | {_f(r['nmse_db'])} | {_f(r['psnr_db'])} | {_f(r['pslr_db'])} "
            f"| {_f(r['int_vs_float_nmse_db'])} |"
        )
    print("\n| poles (all else float) | NMSE dB vs float | largest time-constant change |")
    print("| --- | --- | --- |")
    for p in head["poles"]:
        print(
            f"| {p['poles']} | {p['nmse_db']:.2f} | {100 * p['max_time_constant_change']:.2f} % |"
        )
    print(f"\nW = {WIDTH:,} columns, one thread")
    print("| stream | ms/line | state MB | weights kB |")
    print("| --- | --- | --- | --- |")
    for c in costs:
        print(
            f"| {c['stream']} | {c['ms_per_line']:.2f} | {c['state_bytes'] / 1e6:.2f} "
            f"| {c['weights_bytes'] / 1e3:.1f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="an LTI student")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="its run's products")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per stream")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    args = parser.parse_args(argv)
    if not args.model.exists():
        parser.error(f"{args.model} does not exist: run `make demo` or pass --model")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    head, rows, arrays, stats = quality(args.model, args.data)
    head["poles"] = poles(arrays, stats[1], head.pop("test_paths"))
    costs = cost(arrays, stats, args.repeats)
    print_tables(head, rows, costs)
    write_report(
        "quantization",
        rows,
        args.out,
        quick=False,
        repeats=args.repeats,
        extra={
            "float": head["float"],
            "model": head["model"],
            "test_products": head["test_products"],
            "calibration_products": head["calibration_products"],
            "poles": head["poles"],
            "cost": costs,
        },
        load_before=load_before,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
