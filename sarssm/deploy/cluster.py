"""Focusing many products at once: processes on one machine or machines of a Dask cluster.

`focus_on_cluster` hands one task per product to Dask distributed: a `LocalCluster` of
`workers` processes on this machine by default, or the scheduler at `scheduler`
(`tcp://HOST:8786`) of an existing cluster. Each task focuses one whole product with
`sarssm.deploy.focus.focus_product`, which writes it atomically (a temporary folder renamed
into place), so a task that fails or a worker that dies leaves nothing under the output's
name. A failed product comes back as a result with its error; the others still finish.

Every worker opens the input products and writes the outputs itself: on several machines the
paths must name the same files everywhere (a shared file system), and sarssm must be installed
in every worker's environment. A worker loads the model once and keeps it for its later tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sarssm.errors import ConfigError, SarssmError

_FOCUSERS: dict[str, Any] = {}  # model folder (or "reference") -> Focuser, per worker process


def focus_job(model: str, product: str, out: str, options: dict[str, Any]) -> dict[str, Any]:
    """Focus one product on a worker: the summary of `focus_product` with `ok` True, or
    {"product", "out", "ok": False, "error"} when the product (or its output) is refused."""
    from sarssm.deploy.focus import focus_product, load_focuser

    try:
        if model not in _FOCUSERS:
            _FOCUSERS[model] = load_focuser(model)
        summary = focus_product(_FOCUSERS[model], product, out, **options)
    except (SarssmError, OSError) as exc:
        return {"product": Path(product).name, "out": out, "ok": False, "error": one_line(exc)}
    return {**summary, "ok": True}


def one_line(exc: BaseException) -> str:
    """An error as one line (OSError: the file and the reason)."""
    if isinstance(exc, OSError) and not isinstance(exc, SarssmError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return " ".join(str(exc).split()) or type(exc).__name__


def focus_on_cluster(
    model: str,
    jobs: list[tuple[Path, Path]],
    options: dict[str, Any],
    workers: int = 2,
    scheduler: str | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    verbose: bool = False,
) -> list[dict[str, Any]]:
    """Focus every (product, output) of `jobs` as Dask tasks; returns one result per job, in
    the order they finished (`focus_job`'s; a task that raised, a worker that died included,
    gives ok False and the error).

    Args:
        model: a model folder or "reference" (each worker loads it).
        options: keyword arguments of `focus_product` (mode, level, block sizes, overwrite).
        workers: worker processes of the local cluster (one thread each); unused with
            `scheduler`.
        scheduler: the address of an existing cluster's scheduler (None: a local cluster).
        on_result: called with each result as it arrives.
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError(
            "--workers/--scheduler need Dask distributed: pip install 'dask[distributed]'"
        ) from None
    if scheduler is None and (isinstance(workers, bool) or workers < 1):
        raise ConfigError(f"--workers must be >= 1, got {workers!r}")
    quiet = logging.WARNING if verbose else logging.ERROR
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(quiet)
    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=quiet,
            )
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(
                    f"--scheduler {scheduler}: cannot reach the Dask scheduler ({one_line(exc)})"
                ) from None
        with client:
            futures = {}
            for product, out in jobs:  # absolute paths: a worker may run in another folder
                args = (str(Path(product).resolve()), str(Path(out).resolve()), options)
                futures[client.submit(focus_job, model, *args, pure=False)] = (product, out)
            results = []
            for future in as_completed(futures):
                product, out = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # a worker died (KilledWorker), or a bug in the task
                    result = {
                        "product": Path(product).name,
                        "out": str(out),
                        "ok": False,
                        "error": f"{type(exc).__name__}: {one_line(exc)}",
                    }
                results.append(result)
                if on_result is not None:
                    on_result(result)
        return results
    finally:
        if cluster is not None:
            cluster.close()
