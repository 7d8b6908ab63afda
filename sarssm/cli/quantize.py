"""`sarssm quantize`: integer (int8) post-training quantisation of a trained LTI student.

Example:
    sarssm quantize --model runs/demo/students/demo-tiny --data runs/demo/data
    sarssm quantize --model runs/demo/students/demo-tiny --data runs/demo/data \
        --out /tmp/tiny-w8a16 --act-bits 16 --state-bits 32 --overwrite
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sarssm.cli import add_geometry_flag, geometry_flags


def clip_rule(text: str) -> float | str:
    """'mse', 'peak' or a positive number of sigmas."""
    if text in ("mse", "peak"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected mse, peak or a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the number of sigmas must be positive, got {text}")
    return value


def act_bits(text: str) -> int | dict[str, int]:
    """'8', '16', or KIND=BITS pairs over int8 ('u=16,s=16': a 16-bit residual stream)."""
    from sarssm.deploy.quantize import KINDS

    if text in ("8", "16"):
        return int(text)
    bits = {}
    for item in text.split(","):
        kind, _, value = item.partition("=")
        if kind not in KINDS or value not in ("8", "16"):
            raise argparse.ArgumentTypeError(
                f"expected 8, 16 or KIND=8|16 pairs with KIND in {list(KINDS)}, got {text!r}"
            )
        bits[kind] = int(value)
    return bits


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help="int8 post-training quantisation of an LTI student, measured on held-out products",
        description="Calibrate a trained causal LTI student on the training products of --data "
        "(split as the model's run split them), quantise it (int8 weights, int8 or int16 "
        "activations, Q15 poles, int16 or int32 state, integer requantisation), compare its "
        "integer streaming output with the float student on the held-out products, and write "
        "student_int8.npz and quantization.json into --out. docs/quantization.md has the scheme.",
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="DIR",
        help="a model folder (final_student_model/, best/, or a run folder with one)",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="the folder of products")
    p.add_argument("--out", metavar="DIR", help="output folder (default: int8/ in the run folder)")
    p.add_argument(
        "--state-bits", type=int, choices=(16, 32), default=16, help="bits of the recurrent state"
    )
    p.add_argument(
        "--act-bits",
        type=act_bits,
        default=8,
        help="bits of every activation (8 or 16), or KIND=BITS pairs over 8 bits, KIND in "
        "input, prefilter, u, s, output ('u=16,s=16': a 16-bit residual stream)",
    )
    p.add_argument(
        "--clip",
        type=clip_rule,
        default="mse",
        help="activation clip level: 'mse' (least squared error), 'peak', or K for mean +- K sigma",
    )
    p.add_argument(
        "--calibration-lines",
        type=positive,
        metavar="N",
        help="at most N lines of each training product (default: all)",
    )
    p.add_argument(
        "--gain",
        choices=("product", "none"),
        default="product",
        help="input gain: scale each product to the calibration rms (exact for a "
        "linear student), or none",
    )
    add_geometry_flag(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--json", action="store_true", help="print quantization.json's quality part")
    p.set_defaults(func=run)


def table(quality: dict[str, Any]) -> str:
    """The held-out comparison as a markdown table."""

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    rows = [
        "| student | NMSE dB vs az | PSNR dB | PSLR dB | NMSE dB vs float |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, label in (("float", "float32"), ("int", "integer")):
        m = quality[name]
        other = "-" if name == "float" else f(quality["int_vs_float_nmse_db"])
        rows.append(
            f"| {label} | {f(m['nmse_db'])} | {f(m['psnr_db'])} | {f(m['pslr_db'])} | {other} |"
        )
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    from sarssm.deploy.quantize_run import quantize_model

    quiet = args.json
    info = quantize_model(
        args.model,
        args.data,
        args.out,
        state_bits=args.state_bits,
        act_bits=args.act_bits,
        clip=args.clip,
        calibration_lines=args.calibration_lines,
        gain=args.gain == "product",
        overwrite=args.overwrite,
        echo=(lambda *_: None) if quiet else print,
        geometry_overrides=geometry_flags(args),
    )
    if quiet:
        print(json.dumps({"bits": info["bits"], "quality": info["quality"]}, indent=2))
        return 0
    from sarssm.deploy.quantize import KINDS

    bits = info["bits"]
    n = len(info["quality"]["products"])
    widths = {bits[kind] for kind in KINDS}
    acts = (
        f"int{bits['u']}"
        if len(widths) == 1
        else ", ".join(f"{kind} int{bits[kind]}" for kind in KINDS)
    )
    print(
        f"\n{info['source']['name']}: weights int{bits['weights']}, activations "
        f"{acts}, state int{bits['state']}, poles {bits['poles']}, clip "
        f"{info['clip']}; {n} held-out product(s)"
    )
    print(table(info["quality"]))
    print(f"\nwrote {info['out']}/student_int8.npz and quantization.json")
    return 0
