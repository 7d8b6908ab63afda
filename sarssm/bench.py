"""Helpers shared by the scripts in `benchmarks/`: a median timer and the JSON report.

torch is never imported here: its version and thread count are recorded only when the
benchmark has already imported it, so numpy-only benchmarks do not pay for the import.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sarssm import __version__
from sarssm.io import atomic_write_text

_RESERVED = ("benchmark", "sarssm_version", "command", "quick", "repeats", "machine", "results")


def median_seconds(
    fn: Callable[[], Any], repeats: int, warmup: int = 1, slow_s: float | None = None
) -> float:
    """Median wall time of `fn()` over `repeats` timed runs, after `warmup` untimed runs.

    With `slow_s`, a single timed run is made when a warm-up run took longer than `slow_s`
    seconds (cases that take minutes are not repeated).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    slowest = 0.0
    for _ in range(warmup):
        t0 = time.perf_counter()
        fn()
        slowest = max(slowest, time.perf_counter() - t0)
    if slow_s is not None and slowest > slow_s:
        repeats = 1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _loadavg() -> list[float] | None:
    """1, 5 and 15 minute load averages, or None where the platform has none."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def machine_info() -> dict[str, Any]:
    """Python, platform, numpy (and torch, when already imported) versions, CPUs and load."""
    import numpy as np

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    info["cpu_count"] = os.cpu_count()
    info["loadavg"] = _loadavg()
    return info


def write_report(
    name: str,
    results: Any,
    out_dir: Path,
    *,
    quick: bool | None,
    repeats: int | None,
    extra: Mapping[str, Any] | None = None,
    load_before: tuple[float, ...] | list[float] | None = None,
) -> Path:
    """Write `out_dir/{name}.json` atomically, print `wrote PATH` and return the path.

    The report holds the benchmark name, package version, command line, `quick`, `repeats`,
    `machine_info()` and `results`, then the keys of `extra`. A None `quick`, `repeats` or
    `results` leaves that key out. With `load_before` (`os.getloadavg()` taken before the
    runs), the machine's `loadavg` is replaced by `loadavg_before` and `loadavg_after`.
    """
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"extra keys {clash} clash with the report's own keys")
    machine = machine_info()
    if load_before is not None:
        machine.pop("loadavg")
        machine["loadavg_before"] = list(load_before)
        machine["loadavg_after"] = _loadavg()
    report: dict[str, Any] = {
        "benchmark": name,
        "sarssm_version": __version__,
        "command": " ".join(["python", *sys.argv]),
    }
    if quick is not None:
        report["quick"] = bool(quick)
    if repeats is not None:
        report["repeats"] = repeats
    report["machine"] = machine
    if results is not None:
        report["results"] = results
    report.update(extra)
    out = Path(out_dir) / f"{name}.json"
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return out
