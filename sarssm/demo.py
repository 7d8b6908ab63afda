"""`sarssm demo` / `make demo`: the whole pipeline on the embedded `demo` preset, then a report.

Stages (each records a fingerprint of its inputs in out/stages.json):
1. data: simulate the demo products (`configs/demo/teacher.yaml`, split by product);
2. new products the models never see: every scene type (`points` too), new seeds;
3. teacher: train the demo teacher;
4. students: distil the four demo student presets and train each without distillation (the
   baseline), plus `demo-tiny` with the earlier pipeline's loss weights and with each learnable
   projection; two jobs at a time, one thread each (small models train faster that way);
5. evaluation: `sarssm evaluate` of every model, the reference processor and a pass-through
   on the held-out test products and the new ones: metrics.json, report.md, figures;
6. operator checks of the teacher (`sarssm.eval.operator`) on products it never saw;
7. deployment of the distilled demo-tiny (`sarssm.deploy.checks`): the new products focused
   in conv and in stream mode, every export format, int8 quantisation, and its streaming speed
   at 25,700 columns beside the line-by-line matched filter.

A finished stage whose inputs are unchanged is reused and reported as such; a stage whose
inputs changed is deleted and run again; an interrupted training resumes from its last
checkpoint; `--force` reruns everything.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sarssm.io import atomic_write_text

QUICK = [  # a smoke-sized run (tests, a first look): minutes become seconds
    "data.simulate.products=8",
    "data.samples_per_epoch=256",
    "data.norm_patches=16",
    "trainer.max_epochs=4",
    "trainer.figure_every_n_epochs=2",
    "trainer.log_every_n_steps=1",
]
QUICK_STUDENT = [  # distillation from the first epoch, so that quick students differ
    "data.samples_per_epoch=128",
    "trainer.max_epochs=3",
    "trainer.log_every_n_steps=1",
    "distillation.curriculum_epochs=0",
]
STUDENTS = ["demo-standard", "demo-compressed", "demo-tiny", "demo-ultra"]
# demo-tiny variants: (name, overrides) for the retention and distribution tables
VARIANTS = [
    (
        "demo-tiny-earlier-weights",
        [
            "distillation.alpha=0.5",
            "distillation.beta=0.3",
            "distillation.gamma=0.2",
            "distillation.temperature=4.0",
        ],
    ),
    *[
        (
            f"demo-tiny-{kind}",
            ["progressive.enhanced_projections=true", f"progressive.projection_type={kind}"],
        )
        for kind in ("linear", "pca_init", "attention")
    ],
]
EVAL_SCENES = ("mixed", "clutter", "points")
EVAL_SEED = 50_000  # new products: seeds far from the training data's


def demo_config_path() -> Path:
    """The demo teacher config shipped inside the package."""
    return Path(str(resources.files("sarssm") / "configs" / "demo" / "teacher.yaml"))


def student_config_path() -> Path:
    """The demo student config shipped inside the package."""
    return Path(str(resources.files("sarssm") / "configs" / "demo" / "student.yaml"))


def fingerprint(inputs: Any) -> str:
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Stages:
    """out/stages.json: per stage, the fingerprint of its inputs and whether it finished."""

    path: Path
    force: bool = False
    echo: Any = print
    records: dict[str, Any] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.path.is_file():
            self.records = json.loads(self.path.read_text())

    def begin(self, name: str, inputs: Any, folder: Path, product: str) -> str:
        """'reuse', 'resume' or 'run'; clears `folder` when its inputs changed. `product` is
        the file (relative to `folder`) whose presence means the stage finished."""
        fp = fingerprint(inputs)
        rec = self.records.get(name)
        same = rec is not None and rec["fingerprint"] == fp
        if same and rec["done"] and not self.force and (folder / product).exists():
            self.reused.append(name)
            return "reuse"
        if folder.exists() and (not same or self.force):
            why = "--force" if self.force else "its inputs changed"
            self.echo(f"      {name}: {why}: removing {folder} and running it again")
            shutil.rmtree(folder)
        self.records[name] = {"fingerprint": fp, "done": False}
        self._save()
        return "resume" if (folder / "checkpoints" / "last.ckpt").is_file() else "run"

    def finish(self, name: str, seconds: float) -> None:
        self.records[name].update(done=True, seconds=round(seconds, 1))
        self._save()

    def fp(self, name: str) -> str:
        return self.records[name]["fingerprint"]

    def _save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.records, indent=2))


# --- student jobs (run in worker processes) -------------------------------------------------
@dataclass
class Job:
    name: str
    save_dir: Path
    overrides: list[str]
    baseline: bool = False


def student_jobs(out: Path, teacher_dir: Path, config: Path, data: Path, quick: bool) -> list[Job]:
    common = [
        f"data.path={data}",
        f"teacher.config={config}",
        f"teacher.checkpoint={teacher_dir / 'best'}",
        "trainer.progress_bar=false",
        "baseline=false",
        *(QUICK_STUDENT if quick else []),
    ]
    jobs = []
    for preset in STUDENTS:
        preset_keys = [*common, f"model.preset={preset}"]
        jobs.append(Job(preset, out / "students" / preset, preset_keys))
        name = f"{preset}-baseline"
        jobs.append(Job(name, out / "students" / name, preset_keys, baseline=True))
    for name, extra in VARIANTS:
        jobs.append(Job(name, out / "students" / name, [*common, "model.preset=demo-tiny", *extra]))
    return jobs


def job_config(job: Job) -> Any:
    """The job's resolved distillation config (the baseline's: alpha 1, beta = gamma = 0)."""
    import dataclasses

    from sarssm.distill.run import baseline_config, resolve_config

    cfg = resolve_config(student_config_path(), job.overrides)
    if job.baseline:
        cfg = baseline_config(cfg)
    return dataclasses.replace(cfg, save_dir=str(job.save_dir))


def run_job(job: Job, teacher_overrides: list[str], verbose: bool) -> tuple[str, float]:
    """One distillation (or baseline) in this process, one torch thread."""
    import torch

    from sarssm.distill.run import distill
    from sarssm.progress import set_verbose

    torch.set_num_threads(1)
    set_verbose(verbose)
    cfg = job_config(job)
    resume = (Path(cfg.save_dir) / "checkpoints" / "last.ckpt").is_file()
    t0 = time.perf_counter()

    def echo(text: str) -> None:
        if not text.startswith(("resolved configuration", "teacher on held-out")):
            print(f"      {job.name}: {text}", flush=True)

    distill(cfg, resume=resume, teacher_overrides=teacher_overrides, echo=echo)
    return job.name, time.perf_counter() - t0


def run_students(
    jobs: list[Job],
    stages: Stages,
    teacher_fp: str,
    teacher_overrides: list[str],
    workers: int,
    echo,
) -> None:
    """Run every job whose inputs changed or that never finished, `workers` at a time."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from sarssm.config import to_dict
    from sarssm.progress import is_verbose

    todo = []
    for job in jobs:
        inputs = {
            "config": to_dict(job_config(job)),
            "teacher": teacher_fp,
            "teacher_overrides": teacher_overrides,
        }
        state = stages.begin(f"student:{job.name}", inputs, job.save_dir, "metrics.json")
        if state == "reuse":
            echo(f"      {job.name}: reusing the finished run in {job.save_dir}")
            continue
        verb = "resuming" if state == "resume" else "training"
        echo(f"      {job.name}: {verb} -> {job.save_dir}")
        todo.append(job)
    if not todo:
        return
    if workers <= 1:
        for job in todo:
            name, seconds = run_job(job, teacher_overrides, is_verbose())
            stages.finish(f"student:{name}", seconds)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_job, job, teacher_overrides, is_verbose()) for job in todo]
        for future in futures:
            name, seconds = future.result()
            stages.finish(f"student:{name}", seconds)
            echo(f"      {name}: done in {seconds:.0f} s")


# --- the demo -------------------------------------------------------------------------------
def run_demo(
    out: str | Path,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    quick: bool = False,
    force: bool = False,
    workers: int = 2,
    echo=print,
) -> dict[str, Any]:
    """Run the demo into `out`; returns the summary (also written to out/summary.json)."""
    from sarssm.config import to_dict
    from sarssm.data.datamodule import SarDataModule
    from sarssm.models import resolve_config as resolve_model
    from sarssm.train.run import resolve_config, train

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages(out / "stages.json", force=force, echo=echo)
    config = Path(config or demo_config_path())
    teacher_overrides = [*(QUICK if quick else []), *(overrides or [])]
    extra = [f"save_dir={out / 'teacher'}", f"data.path={out / 'data'}"]
    cfg = resolve_config(config, teacher_overrides + extra)
    mode = "--quick" if quick else "full"
    echo(f"sarssm demo ({mode}) -> {out}")

    echo("[1/7] data: the demo products")
    data_dir = Path(cfg.data.path)
    t0 = time.perf_counter()
    state = stages.begin("data", to_dict(cfg.data), data_dir, ".")
    dm = SarDataModule(cfg.data, resolve_model(cfg.model), simulate=True, echo=echo)
    dm.prepare_data()
    dm.setup("fit")
    if state != "reuse":
        stages.finish("data", time.perf_counter() - t0)
    else:
        echo(f"      reusing the products in {data_dir}")
    for split in ("train", "val", "test"):
        echo(f"      {split}: {len(dm.splits[split])} products")
    test_paths = [e.path for e in dm.splits["test"]]

    echo("[2/7] new products the models never see (every scene type, new seeds)")
    eval_dir = out / "evaluation-data"
    eval_inputs = {
        "quick": quick,
        "scenes": EVAL_SCENES,
        "seed": EVAL_SEED,
        "snr_db": cfg.data.simulate.snr_db,
    }
    t0 = time.perf_counter()
    if stages.begin("evaluation-data", eval_inputs, eval_dir, ".") == "reuse":
        echo(f"      reusing {eval_dir}")
    else:
        simulate_new_products(eval_dir, quick, cfg.data.simulate.snr_db)
        stages.finish("evaluation-data", time.perf_counter() - t0)
    new_paths = sorted(eval_dir.glob("*.zarr"))
    echo(f"      {len(new_paths)} products in {eval_dir}")

    save_dir = Path(cfg.save_dir)
    echo("[3/7] teacher")
    t0 = time.perf_counter()
    teacher_inputs = {"config": to_dict(cfg), "data": stages.fp("data")}
    state = stages.begin("teacher", teacher_inputs, save_dir, "metrics.json")
    if state == "reuse":
        echo(f"      reusing the finished run in {save_dir}")
    else:
        echo(f"      {'resuming' if state == 'resume' else 'training'} -> {save_dir}")
        train(cfg, resume=state == "resume")
        stages.finish("teacher", time.perf_counter() - t0)

    jobs = student_jobs(out, save_dir, config, data_dir, quick)
    echo(f"[4/7] students: {len(jobs)} runs, {workers} at a time")
    t0 = time.perf_counter()
    run_students(jobs, stages, stages.fp("teacher"), teacher_overrides, workers, echo)
    echo(f"      students: {time.perf_counter() - t0:.0f} s")

    echo("[5/7] evaluation: every model, the reference processor and a pass-through")
    eval_out = out / "evaluation"
    specs = [f"teacher={save_dir / 'best'}"] + [
        f"{job.name}={job.save_dir / 'final_student_model'}" for job in jobs
    ]
    inputs = {
        "models": [stages.fp("teacher")] + [stages.fp(f"student:{j.name}") for j in jobs],
        "data": [str(p) for p in test_paths + new_paths],
        "evaluation-data": stages.fp("evaluation-data"),
    }
    t0 = time.perf_counter()
    if stages.begin("evaluation", inputs, eval_out, "metrics.json") == "reuse":
        echo(f"      reusing {eval_out}")
        metrics = json.loads((eval_out / "metrics.json").read_text())
    else:
        from sarssm.eval.evaluate import run_evaluation

        preface = demo_preface(cfg, quick, test_paths, new_paths)
        metrics = run_evaluation(
            specs,
            test_paths + new_paths,
            eval_out,
            teacher="teacher",
            title=f"sarssm demo ({mode})",
            preface=preface,
            echo=lambda *_: None,
        )
        stages.finish("evaluation", time.perf_counter() - t0)

    echo("[6/7] the teacher as a focusing operator, on products it never saw")
    t0 = time.perf_counter()
    checks_file = out / "operator" / "checks.json"
    inputs = {"teacher": stages.fp("teacher"), "quick": quick}
    if stages.begin("operator", inputs, out / "operator", "checks.json") == "reuse":
        echo(f"      reusing {checks_file}")
        checks = json.loads(checks_file.read_text())
    else:
        checks = run_operator_checks(save_dir, test_paths, out, cfg, quick)
        atomic_write_text(checks_file, json.dumps(checks, indent=2))
        stages.finish("operator", time.perf_counter() - t0)
    print_operator_checks(checks, echo)

    student = out / "students" / "demo-tiny" / "final_student_model"
    echo("[7/7] deployment: the demo-tiny student streamed, exported and quantised")
    t0 = time.perf_counter()
    deploy_dir = out / "deployment"
    inputs = {"student": stages.fp("student:demo-tiny"), "quick": quick,
              "new": stages.fp("evaluation-data")}  # fmt: skip
    if stages.begin("deployment", inputs, deploy_dir, "checks.json") == "reuse":
        echo(f"      reusing {deploy_dir / 'checks.json'}")
        deployment = json.loads((deploy_dir / "checks.json").read_text())
    else:
        from sarssm.deploy.checks import deployment_checks

        deployment = deployment_checks(student, data_dir, new_paths, deploy_dir, quick, echo)
        atomic_write_text(deploy_dir / "checks.json", json.dumps(deployment, indent=2))
        stages.finish("deployment", time.perf_counter() - t0)
    from sarssm.deploy.checks import print_deployment_checks

    print_deployment_checks(deployment, echo)

    summary = {
        "mode": mode,
        "config": str(save_dir / "config.yaml"),
        "report": str(eval_out / "report.md"),
        "evaluation": str(eval_out / "metrics.json"),
        "reused_stages": stages.reused,
        "stage_seconds": {k: v.get("seconds") for k, v in stages.records.items()},
        "seconds": round(time.perf_counter() - started, 1),
        "models": {n: headline(v) for n, v in metrics["models"].items()},
        "operator_checks": checks,
        "deployment": deployment,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    print_summary(metrics, summary, stages, out, echo)
    return summary


def simulate_new_products(folder: Path, quick: bool, snr_db: float | None) -> None:
    from sarssm.sim.simulate import simulate

    per_scene = 1 if quick else 2
    for i, scene in enumerate(EVAL_SCENES):
        simulate(
            folder,
            "demo",
            scene,
            per_scene,
            EVAL_SEED + 1000 * i,
            snr_db=snr_db,
            progress=False,
            overwrite=True,
        )


def demo_preface(cfg: Any, quick: bool, test_paths: list[Path], new_paths: list[Path]) -> str:
    from sarssm.bench import machine_info

    m = machine_info()
    return (
        f"Made by `sarssm demo{' --quick' if quick else ''}` on {m.get('cpu_count')} CPU "
        f"cores ({m.get('platform', '')}), torch {torch_version()}. Products: the "
        f"{len(test_paths)} held-out test products of the training split and {len(new_paths)} "
        f"new ones ({', '.join(EVAL_SCENES)}; seeds from {EVAL_SEED}), none seen in training. "
        "Students: the four demo presets distilled from the teacher, each preset's baseline "
        "(the same student trained on the ground truth alone, same epochs and data), "
        "`demo-tiny` with the earlier pipeline's weights (alpha 0.5, beta 0.3, gamma 0.2, T 4) "
        "and with each learnable projection."
        + (" **Quick mode: 2 epochs per run, the figures are not the demo's.**" if quick else "")
    )


def headline(v: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "kind",
        "params",
        "nmse_db",
        "psnr_db",
        "ssim",
        "collapse_ratio",
        "pslr_db",
        "reference_pslr_db",
        "latency_ms_per_column",
    )
    return {k: v.get(k) for k in keys}


def print_summary(metrics: dict, summary: dict, stages: Stages, out: Path, echo) -> None:
    from sarssm.eval.report import demo_targets, fmt

    echo("")
    echo(
        f"{'entry':<28} {'params':>7} {'NMSE dB':>8} {'PSNR dB':>8} {'SSIM':>6} "
        f"{'collapse':>8} {'PSLR dB':>8} {'ms/col':>7}"
    )
    for name, v in metrics["models"].items():
        echo(
            f"{name:<28} {v['params']:>7,} {fmt(v['nmse_db']):>8} {fmt(v['psnr_db']):>8} "
            f"{fmt(v['ssim'], 3):>6} {fmt(v['collapse_ratio'], 3):>8} {fmt(v['pslr_db']):>8} "
            f"{fmt(v['latency_ms_per_column'], 3):>7}"
        )
    echo("(whole products less the margins; the reference's NMSE is n/a: it made the ground truth)")
    echo("")
    for what, ok, value in demo_targets(metrics, "teacher"):
        echo(f"{'met    ' if ok else 'NOT MET'}  {what}: {value}")
    echo("")
    if stages.reused:
        echo(f"reused (inputs unchanged): {', '.join(stages.reused)}; --force reruns them")
    echo(f"took {summary['seconds']:.0f} s")
    echo(f"report:   {summary['report']} (figures in {out / 'evaluation' / 'figures'})")
    echo(f"metrics:  {summary['evaluation']}, {out / 'summary.json'}")
    echo(
        f"teacher:  {out / 'teacher' / 'best'}; students: {out / 'students'}/*/final_student_model"
    )
    echo(f"logs:     .venv/bin/tensorboard --logdir {out}  (or activate .venv first)")


def run_operator_checks(
    teacher_dir: Path, test_paths: list[Path], out: Path, cfg: Any, quick: bool
) -> dict[str, Any]:
    """`sarssm.eval.operator` on the test products and on new simulated ones."""
    from sarssm.data.normalize import ComplexScaler
    from sarssm.eval import operator
    from sarssm.models import load_model

    net = load_model(teacher_dir / "best")
    scaler = ComplexScaler.load(teacher_dir / "best" / "normalization.json")
    margin = cfg.data.loss_margin
    near = operator.demo_near_ranges(net.config)
    snr = cfg.data.simulate.snr_db
    seeds = (60_000,) if quick else (60_000, 60_001)
    return {
        "scale": operator.scale_sweep(net, test_paths, scaler, margin),
        "range": operator.range_sweep(
            net,
            scaler,
            out / "operator" / "products",
            margin,
            near,
            products=1 if quick else 2,
            snr_db=snr,
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


def torch_version() -> str:
    import torch

    return torch.__version__
