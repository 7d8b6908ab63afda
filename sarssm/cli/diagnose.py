"""The distillation diagnostics: `sarssm compare-models`, `sarssm features`,
`sarssm distributions` (see `sarssm.distill.diagnostics`)."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare-models", help="teacher and student architecture and cost")
    p.add_argument(
        "--teacher_config",
        "--teacher-config",
        required=True,
        help="teacher training YAML, model folder or checkpoint",
    )
    p.add_argument(
        "--student_config", "--student-config", required=True, help="student distillation YAML"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(func=run_compare)

    p = sub.add_parser("features", help="feature taps, couplings per stage and projections")
    p.add_argument(
        "--teacher_path", "--teacher-path", required=True, help="teacher model folder or checkpoint"
    )
    p.add_argument(
        "--student_config", "--student-config", required=True, help="student distillation YAML"
    )
    p.set_defaults(func=run_features)

    p = sub.add_parser("distributions", help="output moments against ground truth, histograms")
    p.add_argument("--model_path", "--model-path", required=True, help="model folder or checkpoint")
    p.add_argument("--data", required=True, help="product folder (with az)")
    p.add_argument("--out", help="folder for distributions.png")
    p.set_defaults(func=run_distributions)  # fmt: skip


def _quiet(*_args) -> None:
    pass


def run_compare(args: argparse.Namespace) -> int:
    from sarssm.distill.diagnostics import compare_models

    result = compare_models(
        args.teacher_config, args.student_config, echo=_quiet if args.json else print
    )
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


def run_features(args: argparse.Namespace) -> int:
    from sarssm.distill import diagnostics

    diagnostics.test_feature_extraction(args.teacher_path, args.student_config)
    return 0


def run_distributions(args: argparse.Namespace) -> int:
    from sarssm.distill.diagnostics import analyze_distributions

    analyze_distributions(args.model_path, data=args.data, out=args.out)
    return 0
