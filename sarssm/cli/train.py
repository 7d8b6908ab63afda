"""`sarssm train`: train a focusing model from a YAML config.

Examples:
    sarssm train --config configs/demo/teacher.yaml --save-dir runs/teacher --max-epochs 20 \
        optim.lr=1e-3 data.batch_size=16
    sarssm train --config configs/teacher.yaml --data /archive/maya4 model.reference=data \
        data.split.train_file=train_files.txt data.split.val_file=validation_files.txt \
        data.split.test_file=test_files.txt data.split.filters.swaths='[1]' \
        --geometry window_alpha=0.75     # a folder of real Maya4 products (docs/real-data.md)
"""

from __future__ import annotations

import argparse

from sarssm.cli import add_geometry_flag, geometry_flags


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a focusing model (teacher or student without distillation)",
        description=(
            "Train from a YAML config. Precedence: config defaults < the YAML file < key=value "
            "overrides < the flags below."
        ),
    )
    p.add_argument("--config", required=True, help="YAML config, e.g. configs/demo/teacher.yaml")
    p.add_argument("--data", help="product folder (overrides data.path)")
    p.add_argument("--save-dir", help="output folder (overrides save_dir)")
    p.add_argument("--max-epochs", type=int, help="overrides trainer.max_epochs")
    p.add_argument("--seed", type=int, help="overrides seed")
    p.add_argument("--resume", action="store_true", help="continue from save_dir/checkpoints")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="when the data folder holds no products, simulate the config's data.simulate "
        "products into it first (without this flag a missing or empty folder is an error)",
    )
    add_data_flags(p)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    p.set_defaults(func=run)


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """`--geometry` and `--strict` of the commands that train on a data folder (`data_flags`
    turns them into config keys)."""
    add_geometry_flag(p)
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a product of a split list file that is not in the data folder (sets "
        "data.split.strict; default: warn and go on)",
    )


def data_flags(args: argparse.Namespace) -> dict:
    """Config keys of `--geometry` (data.geometry.KEY, merged into the config's mapping) and
    `--strict` (data.split.strict); None where not given."""
    flags: dict = {f"data.geometry.{k}": v for k, v in geometry_flags(args).items()}
    flags["data.split.strict"] = True if args.strict else None
    return flags


def run(args: argparse.Namespace) -> int:
    from sarssm.train.run import resolve_config, train

    config = resolve_config(
        args.config,
        args.overrides,
        **{
            "data.path": args.data,
            "save_dir": args.save_dir,
            "trainer.max_epochs": args.max_epochs,
            "seed": args.seed,
            **data_flags(args),
        },
    )
    metrics = train(config, resume=args.resume, simulate=args.simulate)
    if metrics is None:  # a DDP rank other than 0
        return 0
    print(f"saved to {config.save_dir}: best/, last/, metrics.json, config.yaml, logs/")
    for stage in ("val", "test"):
        if stage in metrics:
            values = metrics[stage]
            keys = ("nmse_db", "psnr_db", "ssim", "collapse_ratio")
            print(stage + ": " + ", ".join(f"{k}={values[k]:.3f}" for k in keys if k in values))
    return 0
