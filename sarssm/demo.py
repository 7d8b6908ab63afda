"""`sarssm demo` / `make demo`: the whole pipeline, as far as it reaches, on the `demo` preset.

1. simulate the demo products (skipped when the folder already holds them);
2. the reference processor's point-target quality on the test products;
3. train the demo teacher (`configs/demo/teacher.yaml`; an interrupted run is resumed, a
   finished one reused);
4. focus the held-out test products with the best teacher and compare it with the reference
   processor (image metrics over whole products, point-target quality side by side);
5. check that the teacher behaves as a focusing operator on products it never saw
   (`sarssm.eval.operator`): input scaled by 1e-4..1e4, near ranges outside the training
   swath, a band 30 dB darker than its surroundings next to the best any operator of the
   teacher's window can do there;
6. print where the outputs and figures are, and write `summary.json`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from sarssm.io import atomic_write_text

QUICK = [  # a smoke-sized run (tests, a first look): minutes become seconds
    "data.simulate.products=6",
    "data.samples_per_epoch=32",
    "data.norm_patches=16",
    "trainer.max_epochs=2",
    "trainer.figure_every_n_epochs=1",
    "trainer.progress_bar=false",
]


def demo_config_path() -> Path:
    """The demo teacher config shipped inside the package."""
    return Path(str(resources.files("sarssm") / "configs" / "demo" / "teacher.yaml"))


def run_demo(
    out: str | Path,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    quick: bool = False,
    echo=print,
) -> dict[str, Any]:
    """Run the demo into `out`; returns the summary (also written to out/summary.json)."""
    from sarssm.data.datamodule import SarDataModule
    from sarssm.data.normalize import ComplexScaler
    from sarssm.eval.products import evaluate_products
    from sarssm.models import load_model
    from sarssm.models import resolve_config as resolve_model
    from sarssm.train.run import resolve_config, train

    out = Path(out)
    extra = [f"save_dir={out / 'teacher'}", f"data.path={out / 'data'}"]
    cfg = resolve_config(
        config or demo_config_path(), (QUICK if quick else []) + extra + list(overrides or [])
    )

    echo(f"[1/6] data: {cfg.data.path}")
    dm = SarDataModule(cfg.data, resolve_model(cfg.model))
    dm.prepare_data()
    dm.setup("fit")
    for split in ("train", "val", "test"):
        echo(f"      {split}: {len(dm.splits[split])} products")

    echo("[2/6] reference processor, point targets of the test products")
    reference = reference_table([e.path for e in dm.splits["test"]], echo)

    save_dir = Path(cfg.save_dir)
    if (save_dir / "metrics.json").is_file():
        echo(f"[3/6] teacher: reusing the finished run in {save_dir}")
    else:
        resume = (save_dir / "checkpoints" / "last.ckpt").is_file()
        echo(f"[3/6] teacher: {'resuming' if resume else 'training'} -> {save_dir}")
        train(cfg, resume=resume)

    echo("[4/6] teacher vs reference processor on the held-out test products (whole products)")
    net = load_model(save_dir / "best")
    scaler = ComplexScaler.load(save_dir / "best" / "normalization.json")
    test = evaluate_products(net, [e.path for e in dm.splits["test"]], scaler, cfg.data.loss_margin)
    print_comparison(test, echo)

    echo("[5/6] teacher as a focusing operator, on products it never saw")
    checks = operator_checks(net, scaler, [e.path for e in dm.splits["test"]], out, cfg, quick)
    print_operator_checks(checks, echo)
    echo("[6/6] distillation: demo-tiny from the teacher, and without it (baseline)")
    students = distill_students(out, save_dir, cfg, list(overrides or []), quick, config, echo)
    summary = {
        "config": str(save_dir / "config.yaml"),
        "reference_point_targets": reference,
        "teacher_test_products": test,
        "teacher_patch_metrics": json.loads((save_dir / "metrics.json").read_text()),
        "operator_checks": checks,
        "students": students,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    echo("")
    echo(f"outputs:  {out}")
    echo(f"  data:       {cfg.data.path}")
    echo(f"  teacher:    {save_dir}/best (safetensors + model.yaml + normalization.json)")
    for name in students:
        echo(f"  student:    {out / 'students' / name}/final_student_model (and baseline/)")
    echo(f"  metrics:    {save_dir}/metrics.json, {out}/summary.json")
    echo(f"  figures:    {save_dir}/figures/")
    echo(f"  logs:       tensorboard --logdir {save_dir}/logs")
    return summary


STUDENTS = ["demo-tiny"]
QUICK_STUDENT = [
    "data.samples_per_epoch=32",
    "trainer.max_epochs=2",
    "distillation.curriculum_epochs=1",
]


def student_config_path() -> Path:
    """The demo student config shipped inside the package."""
    return Path(str(resources.files("sarssm") / "configs" / "demo" / "student.yaml"))


def distill_students(
    out: Path, teacher_dir: Path, cfg: Any, overrides: list[str], quick: bool, config, echo
) -> dict[str, Any]:
    """Distil each demo student (a finished run is reused, an interrupted one resumed)."""
    from sarssm.distill.run import distill, resolve_config

    teacher_overrides = (QUICK if quick else []) + overrides
    results = {}
    for name in STUDENTS:
        save = out / "students" / name
        if (save / "metrics.json").is_file():
            echo(f"      {name}: reusing the finished run in {save}")
            metrics = json.loads((save / "metrics.json").read_text())
        else:
            student = [
                f"save_dir={save}",
                f"data.path={cfg.data.path}",
                f"teacher.config={config or demo_config_path()}",
                f"teacher.checkpoint={teacher_dir / 'best'}",
                f"model.preset={name}",
                "trainer.progress_bar=false",
                *(QUICK_STUDENT if quick else []),
            ]
            scfg = resolve_config(student_config_path(), student)
            resume = (save / "checkpoints" / "last.ckpt").is_file()
            quiet = lambda text: None if text.startswith("resolved configuration") else echo(text)  # noqa: E731
            metrics = distill(scfg, resume=resume, teacher_overrides=teacher_overrides, echo=quiet)
        for side in ("teacher", "student", "baseline"):
            m = (metrics.get(side) or {}).get("mean", {})
            values = ", ".join(
                f"{k}={m[k]:.3f}"
                for k in ("nmse_db", "psnr_db", "ssim", "collapse_ratio")
                if k in m
            )
            echo(f"      {name} {side:>8} ({metrics.get(side, {}).get('params')} params): {values}")
        results[name] = metrics
    return results


def operator_checks(
    net: Any, scaler: Any, test_paths: list[Path], out: Path, cfg: Any, quick: bool
) -> dict[str, Any]:
    """`sarssm.eval.operator` on the test products and on new simulated ones."""
    from sarssm.eval import operator

    margin = cfg.data.loss_margin
    near = operator.demo_near_ranges(net.config)
    snr = cfg.data.simulate.snr_db
    seeds = (60_000,) if quick else (60_000, 60_001)
    return {
        "scale": operator.scale_sweep(net, test_paths, scaler, margin),
        "range": operator.range_sweep(
            net, scaler, out / "operator", margin, near, products=1 if quick else 2, snr_db=snr
        ),
        "length": operator.length_sweep(
            net,
            scaler,
            margin,
            rows=(256, 1024) if quick else (256, 512, 1024, 2048),
            seeds=seeds,
            snr_db=snr,
        ),
        "dark_band": operator.dark_band(
            net, scaler, margin, rows=1024 if quick else 2048, seeds=seeds, apertures=1.0
        ),
    }


def print_operator_checks(checks: dict[str, Any], echo) -> None:
    scale = ", ".join(f"{c['scale']:g}: {c['nmse_db']:.2f}" for c in checks["scale"])
    echo(f"      NMSE dB of f(a x) / a by |a| (random phases): {scale}")
    for c in checks["range"]:
        echo(
            f"      near range {c['near_range_m'] / 1e3:8.3f} km ({c['where']:>12}): "
            f"NMSE {c['nmse_db']:.2f} dB"
        )
    lengths = ", ".join(f"{c['rows']}: {c['nmse_db']:.2f}" for c in checks["length"])
    echo(f"      NMSE dB by product length in rows (clutter): {lengths}")
    d = checks["dark_band"]
    echo(
        f"      band {d['dark_db']:.0f} dB darker, {d['gap_rows']} rows from its edges: NMSE "
        f"{d['dark_nmse_db']:.2f} dB inside (best possible in the teacher's window "
        f"{d['window_dark_nmse_db']:.2f}), {d['bright_nmse_db']:.2f} dB outside"
    )


def reference_table(paths: list[Path], echo) -> list[dict[str, Any]]:
    """Point-target quality of the reference processor (the products' own az)."""
    from sarssm.data.store import open_product
    from sarssm.eval.pointtarget import measure_product

    rows = []
    echo(
        f"      {'product':<34} {'row':>8} {'col':>4} {'IRW/th':>7} {'PSLR dB':>8} "
        f"{'ISLR dB':>8} {'phase':>8} {'pos':>7}"
    )
    for path in paths:
        for q in measure_product(open_product(path)):
            rows.append({"product": Path(path).name, **q})
            if q.get("irw_ratio") is None:
                continue
            echo(
                f"      {Path(path).name[:34]:<34} {q['row']:>8.2f} {q['col']:>4d} "
                f"{q['irw_ratio']:>7.3f} {q['pslr_db']:>8.2f} {q['islr_db']:>8.2f} "
                f"{q['phase_error_rad']:>+8.4f} {q['position_error_samples']:>+7.3f}"
            )
    return rows


def print_comparison(result: dict[str, Any], echo) -> None:
    for scene, mean in [("all", result["mean"]), *result["by_scene"].items()]:
        values = ", ".join(f"{k}={v:.3f}" for k, v in mean.items() if k != "products")
        echo(f"      {scene:>8} ({mean['products']} products): {values}")
    echo(
        f"      {'product':<34} {'row':>8} {'col':>4} {'PSLR model':>10} {'PSLR ref':>9} "
        f"{'IRW model':>9} {'IRW ref':>8} {'phase model':>11}"
    )
    for product in result["products"]:
        for t in product["point_targets"]:
            m, r = t["model"], t["reference"]
            if m["error"] or r["error"]:
                echo(
                    f"      {product['product'][:34]:<34} {t['row']:>8.2f} {t['col']:>4d} "
                    f"not measurable: {m['error'] or r['error']}"
                )
                continue
            echo(
                f"      {product['product'][:34]:<34} {t['row']:>8.2f} {t['col']:>4d} "
                f"{m['pslr_db']:>10.2f} {r['pslr_db']:>9.2f} {m['irw_samples']:>9.3f} "
                f"{r['irw_samples']:>8.3f} {m['phase_error_rad']:>+11.4f}"
            )
