"""`sarssm export`: write an LTI student as numpy, ONNX and TorchScript files.

Example:
    sarssm export --model runs/demo/students/demo-tiny --format all --out exports/demo-tiny \
        --length 1000
"""

from __future__ import annotations

import argparse

DEFAULT_LENGTH = 1000  # sarssm.deploy.export.DEFAULT_LENGTH (not imported: `--help` stays fast)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export an LTI student (numpy, ONNX, TorchScript) for deployment",
        description="Write a causal LTI student (selectivity none, activation none, direction "
        "causal) into --out: student.npz + numpy_step.py (numpy only, always written), "
        "student_conv/student_step as .onnx and .pt, and export.json (provenance, sha256). "
        "The model's normalization.json, when present, is folded in: the files map product "
        "units to product units. See docs/export.md.",
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="DIR",
        help="a model folder (model.yaml + model.safetensors) or a run folder holding "
        "best/, final_student_model/ or last/",
    )
    p.add_argument(
        "--format",
        default="all",
        choices=["numpy", "onnx", "torchscript", "all"],
        help="what to write",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (written atomically)")
    p.add_argument(
        "--length",
        type=int,
        default=DEFAULT_LENGTH,
        metavar="L",
        help="column length in rows of the conv-mode graphs (onnx, torchscript)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sarssm.deploy.export import export_folder

    manifest = export_folder(
        args.model, args.out, args.format, length=args.length, overwrite=args.overwrite
    )
    model = manifest["model"]["name"]
    scales = manifest["normalization"]
    units = "product units (normalization.json folded in)" if scales else "normalised units"
    print(f"exported {model!r} ({', '.join(manifest['formats'])}) to {args.out}, in {units}")
    for name, info in manifest["files"].items():
        print(f"  {name:<20} {info['bytes']:>10,} bytes  sha256 {info['sha256'][:16]}")
    print(f"  {'export.json':<20} provenance; delay {manifest['delay']} rows")
    return 0
