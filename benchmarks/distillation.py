"""Distillation at demo scale: every student preset against its no-distillation baseline, the
label-scarce case, the earlier pipeline's mode-collapse weights, the methods beyond it and the
projection types, all on the same held-out test products (whole products).

Groups (`--only`, default all):
    presets     demo-standard, -compressed, -tiny, -ultra distilled from the demo teacher with
                the default weights (alpha 0.8, beta 0.15, gamma 0.05, T 2.5), each with its
                baseline (the same student, alpha 1, beta = gamma = 0, same data and epochs)
    scarce      2 labelled training products + 16 rc-only ones, against the baseline on the 2
    collapse    the earlier weights (0.5, 0.3, 0.2, T 4) on demo-tiny (the corrected ones are
                the `presets` run)
    beyond      demo-tiny with teacher-forced alignment first, and initialised from the teacher
    retention   demo-tiny with learnable projections linear / pca_init / attention (the group
                mean is the `presets` run): explained variance of held-out teacher features

Runs are cached in `--work` (a finished run is reused). The teacher is trained there first when
`--teacher` is not given.

    python benchmarks/distillation.py [--only presets,scarce] [--epochs 30] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from sarssm.bench import write_report

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results"
STUDENT = ROOT / "configs" / "demo" / "student.yaml"
TEACHER = ROOT / "configs" / "demo" / "teacher.yaml"
PRESETS = ["standard", "compressed", "tiny", "ultra"]
GROUPS = ["presets", "scarce", "collapse", "beyond", "retention"]


def teacher_dir(work: Path, given: str | None) -> Path:
    if given:
        return Path(given)
    from sarssm.train.run import resolve_config, train

    out = work / "teacher"
    if not (out / "metrics.json").is_file():
        cfg = resolve_config(
            TEACHER, [f"save_dir={out}", f"data.path={work / 'data'}", "trainer.progress_bar=false"]
        )
        train(cfg, resume=(out / "checkpoints" / "last.ckpt").is_file())
    return out


def unlabeled(work: Path) -> Path:
    from sarssm.data.store import list_products
    from sarssm.sim.simulate import simulate

    out = work / "unlabeled"
    if not (out.exists() and list_products(out)):
        simulate(out, "demo", "mixed", 8, 50_000, snr_db=20.0, levels=["rc"], progress=False)
        simulate(out, "demo", "clutter", 8, 60_000, snr_db=20.0, levels=["rc"], progress=False)
    return out


def teacher_split(data: Path) -> tuple[dict[str, list], dict]:
    """The split of the student config (the teacher's), and every product's attributes."""
    from sarssm.data.catalog import split_products
    from sarssm.data.store import list_products, open_product
    from sarssm.distill.run import resolve_config

    paths = list_products(data)
    attrs = {p: open_product(p).attrs for p in paths}
    return split_products(paths, resolve_config(STUDENT).data.split, attrs), attrs


def scarce_split(data: Path) -> list[str]:
    """The teacher's split with the training products cut to one per scene."""
    parts, attrs = teacher_split(data)
    first: dict[str, str] = {}
    for p in parts["train"]:
        first.setdefault(str(attrs[p].get("scene")), Path(p).name)
    names = lambda key: json.dumps([Path(p).name for p in parts[key]])  # noqa: E731
    return [
        f"data.split.train={json.dumps(sorted(first.values()))}",
        f"data.split.val={names('val')}",
        f"data.split.test={names('test')}",
    ]


def runs(work: Path, group: str) -> dict[str, list[str]]:
    """name -> overrides of the student config, for one group."""
    if group == "presets":
        return {p: [f"model.preset=demo-{p}"] for p in PRESETS}
    if group == "scarce":
        extra = [*scarce_split(work / "data"), f"unlabeled_data={unlabeled(work)}"]
        return {"scarce": ["model.preset=demo-tiny", *extra]}
    tiny = ["model.preset=demo-tiny", "baseline=false"]
    if group == "collapse":
        seed_weights = ["distillation.alpha=0.5", "distillation.beta=0.3"]
        seed_weights += ["distillation.gamma=0.2", "distillation.temperature=4.0"]
        return {"collapse-earlier-weights": tiny + seed_weights}
    if group == "beyond":
        return {
            "teacher-forced": [*tiny, "beyond.teacher_forced_epochs=5"],
            "init-from-teacher": [*tiny, "beyond.init_from_teacher=true"],
        }
    if group == "retention":
        proj = ["progressive.enhanced_projections=true"]
        return {
            f"projection-{kind}": tiny + proj + [f"progressive.projection_type={kind}"]
            for kind in ("linear", "pca_init", "attention")
        }
    raise SystemExit(f"unknown group {group!r}; choose from {GROUPS}")


def run_one(name: str, overrides: list[str], work: Path, teacher: Path, epochs: int) -> dict:
    from sarssm.distill.run import distill, resolve_config

    save = work / "runs" / name
    if (save / "metrics.json").is_file():
        return json.loads((save / "metrics.json").read_text())
    base = [
        f"save_dir={save}",
        f"data.path={work / 'data'}",
        f"teacher.checkpoint={teacher / 'best'}",
        f"teacher.config={TEACHER}",
        f"trainer.max_epochs={epochs}",
        "trainer.progress_bar=false",
    ]
    cfg = resolve_config(STUDENT, base + overrides)
    resume = (save / "checkpoints" / "last.ckpt").is_file()
    return distill(cfg, resume=resume, echo=lambda *_: None) or {}


def val_curve(save: Path) -> list[float]:
    """val/nmse_db per epoch from the run's CSV log."""
    path = save / "logs" / "csv" / "metrics.csv"
    if not path.is_file():
        return []
    rows = [r for r in csv.DictReader(open(path)) if r.get("val/nmse_db")]
    return [float(r["val/nmse_db"]) for r in rows]


def epochs_to(curve: list[float], level: float) -> int | None:
    """First epoch (1-based) whose validation NMSE is at or below `level` dB."""
    return next((i + 1 for i, v in enumerate(curve) if v <= level), None)


def summarise(name: str, side: str, metrics: dict[str, Any]) -> dict[str, Any]:
    m = metrics.get(side) or {}
    mean = m.get("mean", {})
    pt = m.get("point_targets", {})
    return {
        "run": name,
        "model": side,
        "params": m.get("params"),
        **{k: mean.get(k) for k in ("nmse_db", "psnr_db", "ssim", "collapse_ratio")},
        "pslr_db": pt.get("model_pslr_db"),
        "irw_samples": pt.get("model_irw_samples"),
        "reference_pslr_db": pt.get("reference_pslr_db"),
        "by_scene": {s: v.get("nmse_db") for s, v in m.get("by_scene", {}).items()},
    }


def find(rows: list[dict], run: str, model: str = "student") -> dict | None:
    return next((r for r in rows if r["run"] == run and r["model"] == model), None)


def comparisons(rows: list[dict], work: Path) -> dict[str, Any]:
    """The must-show comparisons: margins, epochs to reach a level, distribution moments."""
    out: dict[str, Any] = {}
    tiny = find(rows, "tiny")
    if tiny:
        target = max(tiny["val_curve"][-3:]) if tiny["val_curve"] else None
        for name in ("teacher-forced", "init-from-teacher"):
            r = find(rows, name)
            if r and target is not None:
                out[name] = {
                    "test_nmse_db": r["nmse_db"],
                    "seed_method_test_nmse_db": tiny["nmse_db"],
                    "level_db": target,
                    "epochs_to_level": epochs_to(r["val_curve"], target),
                    "seed_method_epochs_to_level": epochs_to(tiny["val_curve"], target),
                }
    scarce, base = find(rows, "scarce"), find(rows, "scarce", "baseline")
    if scarce and base:
        out["label_scarce"] = {
            "distilled_nmse_db": scarce["nmse_db"],
            "baseline_nmse_db": base["nmse_db"],
            "margin_db": base["nmse_db"] - scarce["nmse_db"],
        }
    earlier = find(rows, "collapse-earlier-weights")
    if earlier and tiny:
        from sarssm.distill.diagnostics import analyze_distributions

        paths = teacher_split(work / "data")[0]["test"]
        moments = {}
        for label, folder in (
            ("earlier weights (0.5, 0.3, 0.2, T 4)", "collapse-earlier-weights"),
            ("corrected weights (0.8, 0.15, 0.05, T 2.5)", "tiny"),
            ("baseline (1, 0, 0)", "tiny/baseline"),
        ):
            model = work / "runs" / folder / "final_student_model"
            if not model.is_dir():
                model = work / "runs" / folder / "best"
            moments[label] = analyze_distributions(model, data=paths, echo=lambda *_: None)
        out["mode_collapse"] = moments
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(GROUPS))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--work", default=str(ROOT / "runs" / "bench-distill"))
    parser.add_argument("--teacher", default=None, help="a teacher run folder (has best/)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    work = Path(args.work)
    teacher = teacher_dir(work, args.teacher)
    if args.teacher:  # the runs read the given teacher's data, linked into the work folder
        import yaml

        data = Path(yaml.safe_load((teacher / "config.yaml").read_text())["data"]["path"])
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "data").exists():
            (work / "data").symlink_to(data.resolve())
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for group in args.only.split(","):
        for name, overrides in runs(work, group).items():
            print(f"[{group}] {name} ...", file=sys.stderr, flush=True)
            metrics = run_one(name, overrides, work, teacher, args.epochs)
            curve = val_curve(work / "runs" / name)
            if not any(r["model"] == "teacher" for r in rows):
                rows.append(summarise("teacher", "teacher", metrics))
            row = summarise(name, "student", metrics)
            row["val_curve"] = curve
            row["retention"] = metrics.get("retention")
            rows.append(row)
            if metrics.get("baseline"):
                base = summarise(name, "baseline", {"baseline": metrics["baseline"]})
                base["val_curve"] = val_curve(work / "runs" / name / "baseline")
                rows.append(base)
    extra.update(comparisons(rows, work))
    print(f"{'run':<26} {'model':<9} {'params':>7} {'NMSE dB':>8} {'PSNR':>6} {'SSIM':>6} "
          f"{'collapse':>8} {'PSLR':>6} {'IRW':>5}")  # fmt: skip
    for r in rows:
        f = lambda v, spec: format(v, spec) if isinstance(v, (int, float)) else "-"  # noqa: E731
        print(
            f"{r['run']:<26} {r['model']:<9} {f(r['params'], '>7')} {f(r['nmse_db'], '>8.2f')} "
            f"{f(r['psnr_db'], '>6.1f')} {f(r['ssim'], '>6.3f')} {f(r['collapse_ratio'], '>8.3f')} "
            f"{f(r['pslr_db'], '>6.1f')} {f(r['irw_samples'], '>5.2f')}"
        )
    write_report(
        "distillation", rows, Path(args.out), quick=None, repeats=None,
        extra={"epochs": args.epochs, "teacher": str(teacher), **extra},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
