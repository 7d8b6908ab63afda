"""Speed and memory of students against the classical processor, per azimuth line.

Every case runs in its own child process (spawned, with its thread count set before numpy
and torch load), so its peak RSS is its own. Cases:

- `stream`: a `StreamingFocuser` over W columns (the slant ranges spread over the model's
  accepted interval): ms per line over `lines` single-line pushes after a warm-up (min and
  median), the bytes it holds (state, weights) against the arithmetic minimum, the RSS
  growth over `growth_lines` further lines, the child's peak RSS, and the bandwidth floor:
  the bytes a line must move (state read and written, the pre-filter's taps and ring rows
  read, the line in and out) over the measured in-place memory bandwidth
  (`memory_bandwidth`).
- `conv`: whole columns of the data preset's length L in conv mode, columns per second
  (`model(x, r)`; for LTI students also the folded single-kernel form, `folded`).
- `matched_filter`: the line-wise time-domain matched filter (`classical`), ms per line.
- `block`: the block range-Doppler processor on a [lines, W] block: ms per line amortised,
  its peak RSS and its latency (the block's duration plus its processing time).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


@dataclass
class Case:
    """One measurement: `kind` in stream | conv | matched_filter | block."""

    kind: str
    model: str = ""  # a model folder, or a preset with overrides ("demo-tiny:model_dim=2")
    columns: int = 1000
    lines: int = 200
    growth_lines: int = 0
    length: int = 0  # conv: column length (0: the data preset's)
    batch: int = 64  # conv: columns per call
    threads: int = 1
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --- helpers -------------------------------------------------------------------------------
def rss_bytes() -> int:
    """Current resident set size (Linux /proc; elsewhere the peak)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def memory_bandwidth(nbytes: int = 1 << 28, repeats: int = 5) -> float:
    """Best in-place read-modify-write bandwidth in bytes/s: a 256 MiB float32 array
    multiplied in place, bytes read plus bytes written over the time. It is the access
    pattern of the state update (each line read and written back in place); a copy to
    another array pays for reading its target lines before writing them and measures half
    of this here."""
    a = np.ones(nbytes // 4, np.float32)
    one = np.float32(1.0)
    np.multiply(a, one, out=a)
    best = min(_timed(lambda: np.multiply(a, one, out=a)) for _ in range(repeats))
    return 2 * a.nbytes / best


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def variant_config(spec: str) -> Any:
    """The `ModelConfig` of a preset spec; "reference.KEY=VALUE" items change one field of
    the preset's resolved reference geometry ("reference.range_min_m=820000")."""
    import dataclasses

    from sarssm.models.config import parse_variant, resolve_config

    name, overrides = parse_variant(spec)
    ref = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("reference.")}
    rest = {k: v for k, v in overrides.items() if not k.startswith("reference.")}
    config = resolve_config(name, **rest)
    if ref:
        base = dataclasses.asdict(config.resolved().reference)
        config = config.replace(reference={**base, **ref})
    return config


def load(spec: str) -> tuple[Any, Any]:
    """(model in eval mode, scaler or None) from a model folder or a preset spec."""
    if Path(spec).exists():
        from sarssm.eval.evaluate import load_entries

        entry = load_entries([spec])[0]
        return entry.net, entry.scaler
    import torch

    from sarssm.models import SarSSM

    torch.manual_seed(0)
    return SarSSM(variant_config(spec)).eval(), None


def spread_ranges(model: Any, columns: int) -> np.ndarray | None:
    """W slant ranges over the model's accepted interval (None without conditioning)."""
    if model.config.geometry == "none":
        return None
    ref = model.config.reference
    return np.linspace(ref.range_min_m, ref.range_max_m, columns)


def line_bytes(focuser: Any) -> int:
    """Bytes one pushed line must move at least: the recurrent state read and written, the
    pre-filter's taps and ring rows read and one ring row written, the line in and out."""
    a, W = focuser.arrays, focuser.columns
    Ly, H, N = a["dA"].shape
    K = 2 * int(a["prefilter_half_taps"]) + 1
    Wp = W + 2 * int(a["range_neighbours"])
    state = 8 * Ly * H * N * W
    taps = 8 * K * W if K > 1 else 0
    return 2 * state + taps + 8 * K * Wp + 8 * Wp + 2 * 8 * W


# --- the cases -----------------------------------------------------------------------------
def _timed_pushes(push: Any, W: int, n: int) -> tuple[list[float], np.ndarray, np.ndarray]:
    """(seconds of each of `n` pushes of one noise line of W columns into a preallocated
    output, after 3 warm-up pushes; the line; the output)."""
    rng = np.random.default_rng(0)
    line = (rng.standard_normal(W) + 1j * rng.standard_normal(W)).astype(np.complex64)
    out = np.empty(W, np.complex64)
    for _ in range(3):
        push(line, out)
    return [_timed(lambda: push(line, out)) for _ in range(n)], line, out


def run_stream(case: Case) -> dict[str, Any]:
    from sarssm.deploy.stream import StreamingFocuser
    from sarssm.models import count_parameters

    model, scaler = load(case.model)
    W = case.columns
    rss0 = rss_bytes()
    focuser = StreamingFocuser(model, W, spread_ranges(model, W), scaler=scaler)
    times, line, out = _timed_pushes(focuser.push, W, case.lines)
    rss1 = rss_bytes()
    growth = None
    if case.growth_lines:
        for _ in range(case.growth_lines):
            focuser.push(line, out)
        growth = rss_bytes() - rss1
    mem = focuser.memory()
    return {
        "params": count_parameters(model),
        "delay": focuser.delay,
        "backend": focuser.backend,
        "ms_min": 1e3 * min(times),
        "ms_median": 1e3 * statistics.median(times),
        "state_bytes": mem["state"],
        "weight_bytes": mem["weights"],
        "scratch_bytes": mem["scratch"],
        "minimum_bytes": mem["minimum"],
        "held_over_minimum": (mem["state"] + mem["weights"]) / mem["minimum"],
        "rss_of_focuser_bytes": rss1 - rss0,
        "rss_growth_bytes": growth,
        "growth_lines": case.growth_lines,
        "line_bytes": line_bytes(focuser),
    }


def run_conv(case: Case) -> dict[str, Any]:
    import torch

    from sarssm.models import count_parameters
    from sarssm.physics.geometry import get_preset

    model, _ = load(case.model)
    L = case.length or get_preset(model.config.data_preset).n_azimuth
    B, C = case.batch, model.config.input_channels
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, L, C, generator=g, dtype=torch.cfloat)
    r = spread_ranges(model, B)
    rt = None if r is None else torch.from_numpy(r)
    with torch.no_grad():
        model(x, rt)
        times = [_timed(lambda: model(x, rt)) for _ in range(case.lines)]
    result = {
        "params": count_parameters(model),
        "length": L,
        "batch": B,
        "columns_per_s": B / min(times),
        "ms_per_column": 1e3 * min(times) / B,
    }
    folded = _folded_conv(model, x, rt, case.lines)
    if folded is not None:
        result["folded_columns_per_s"] = B / folded
        result["folded_ms_per_column"] = 1e3 * folded / B
    return result


def _folded_conv(model: Any, x: Any, r: Any, repeats: int) -> float | None:
    """Best time of the folded conv mode (`sarssm.deploy.conv.FoldedLTI`: one composite
    kernel per column, FFT overlap-save) on the same columns; None unless a causal LTI model."""
    from sarssm.deploy.conv import FoldedLTI
    from sarssm.deploy.lti import is_lti

    if not is_lti(model.config):
        return None

    engine = FoldedLTI(model)
    xn, rn = x.numpy(), None if r is None else r.numpy()
    B, L, _ = xn.shape
    out = np.empty((L, B), np.complex64)

    def write(a: int, b: int, y: np.ndarray) -> None:
        out[a:b] = y

    def run() -> None:
        engine.run(lambda a, b: xn[:, a:b], write, L, rn, L, B)

    run()
    return min(_timed(run) for _ in range(repeats))


def _s1_line(columns: int) -> Any:
    from sarssm.physics.geometry import get_preset

    g = get_preset("s1-stripmap")
    return g.replace(near_range_m=g.swath_near_m + 20_000.0, n_range=columns)


def run_matched_filter(case: Case) -> dict[str, Any]:
    from sarssm.deploy.classical import StreamingMatchedFilter

    W = case.columns
    rss0 = rss_bytes()
    mf = StreamingMatchedFilter(_s1_line(W))
    times = _timed_pushes(mf.push, W, case.lines)[0]
    mem = mf.memory()
    return {
        "taps": 2 * mf.half + 1,
        "delay": mf.delay,
        "ms_min": 1e3 * min(times),
        "ms_median": 1e3 * statistics.median(times),
        "state_bytes": mem["state"],
        "weight_bytes": mem["weights"],
        "rss_of_focuser_bytes": rss_bytes() - rss0,
    }


def run_block(case: Case) -> dict[str, Any]:
    from sarssm.errors import ConfigError
    from sarssm.focus.rda import focus_rc

    W, n = case.columns, case.lines
    try:
        g = _s1_line(W).replace(n_azimuth=n)
    except ConfigError as exc:
        raise ConfigError(f"a block of {n} lines (--block-lines): {exc}") from None
    rng = np.random.default_rng(0)
    rc = (rng.standard_normal((n, W)) + 1j * rng.standard_normal((n, W))).astype(np.complex64)
    rss0 = rss_bytes()
    seconds = _timed(lambda: focus_rc(rc, g))
    return {
        "block_lines": n,
        "ms_per_line": 1e3 * seconds / n,
        "block_seconds": seconds,
        "latency_s": n / g.prf_hz + seconds,
        "input_bytes": rc.nbytes,
        "rss_before_bytes": rss0,
    }


RUNNERS = {
    "stream": run_stream,
    "conv": run_conv,
    "matched_filter": run_matched_filter,
    "block": run_block,
}


def _child(case: Case, queue: Any) -> None:
    try:
        import torch

        torch.set_num_threads(case.threads)
        result = RUNNERS[case.kind](case)
        result["peak_rss_bytes"] = peak_rss_bytes()
        queue.put(("ok", result))
    except BaseException as exc:  # report it to the parent instead of dying silently
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _wait(proc: Any, queue: Any) -> tuple[str, Any]:
    """The child's (status, result); an error if it dies without one (killed, out of memory)."""
    import queue as queues

    while True:
        try:
            return queue.get(timeout=1.0)
        except queues.Empty:
            if not proc.is_alive():
                return "error", f"the child process died (exit code {proc.exitcode})"


def run_case(case: Case, isolate: bool = True) -> dict[str, Any]:
    """Measure one case, in a spawned child process when `isolate` (its own peak RSS)."""
    if case.kind not in RUNNERS:
        from sarssm.errors import ConfigError

        raise ConfigError(f"benchmark case kind {case.kind!r} not in {sorted(RUNNERS)}")
    if not isolate:
        result = RUNNERS[case.kind](case)
        result["peak_rss_bytes"] = peak_rss_bytes()
        return result
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: str(case.threads) for k in THREAD_VARS})
    try:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(case, queue))
        proc.start()
        status, result = _wait(proc, queue)
        proc.join()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if status != "ok":
        from sarssm.errors import SarssmError

        raise SarssmError(f"benchmark {case.kind} {case.model or ''} {case.columns}: {result}")
    return result


# --- a suite: models and the classical processor at several line widths ---------------------
ANCHOR_MS_PER_LINE = 16.0  # arXiv 2605.10340: its student, one CPU core, per azimuth line


def is_streamable(spec: str) -> bool:
    """Whether the model (folder or preset spec) is a causal LTI student."""
    from sarssm.deploy.lti import is_lti

    if Path(spec).exists():
        from sarssm.eval.evaluate import model_folder
        from sarssm.models.io import load_config

        config = load_config(model_folder(spec))
    else:
        config = variant_config(spec)
    return is_lti(config)


def split_label(text: str) -> tuple[str, str]:
    """'NAME=SPEC' -> (NAME, SPEC); a plain SPEC is its own name. The text before the first
    '=' is a name only if it holds no ':' or '/' (a preset's overrides and paths have them)."""
    name, sep, rest = text.partition("=")
    if sep and name and ":" not in name and "/" not in name:
        return name, rest
    return text, text


def run_suite(
    models: list[str],
    columns: list[int],
    threads: int = 1,
    lines: int = 200,
    growth_lines: int = 0,
    classical: bool = True,
    block_lines: int = 2048,
    echo: Any = print,
) -> dict[str, Any]:
    """Every case of the suite, each in its own child process, with ratios from this run."""
    bandwidth = memory_bandwidth()
    echo(f"memory bandwidth {bandwidth / 1e9:.1f} GB/s (in place, read + written)")
    out: dict[str, Any] = {"memory_bandwidth_bytes_per_s": bandwidth, "threads": threads}
    stream, conv, mf, block = [], [], [], []
    for text in models:
        name, spec = split_label(text)
        echo(f"conv {name}")
        case = Case("conv", spec, lines=5, threads=threads)
        conv.append({"model": name, "spec": spec, **run_case(case)})
        if not is_streamable(spec):
            continue
        for W in columns:
            echo(f"stream {name} W={W}")
            case = Case("stream", spec, W, lines, growth_lines, threads=threads)
            result = {"model": name, "spec": spec, "columns": W, **run_case(case)}
            result["floor_ms"] = 1e3 * result["line_bytes"] / bandwidth
            stream.append(result)
    if classical:
        for W in columns:
            echo(f"matched filter W={W}")
            mf.append({"columns": W, **run_case(Case("matched_filter", columns=W, lines=20))})
            echo(f"block processor W={W}")
            case = Case("block", columns=W, lines=block_lines, threads=threads)
            block.append({"columns": W, **run_case(case)})
    by_w = {r["columns"]: r for r in mf}
    blocks = {r["columns"]: r for r in block}
    for r in stream:
        r["anchor_ratio"] = ANCHOR_MS_PER_LINE / r["ms_min"]
        if r["columns"] in by_w:
            m = by_w[r["columns"]]
            r["matched_filter_ratio"] = m["ms_min"] / r["ms_min"]
            held = r["state_bytes"] + r["weight_bytes"]
            r["matched_filter_memory_ratio"] = (m["state_bytes"] + m["weight_bytes"]) / held
        if r["columns"] in blocks:
            r["block_ratio"] = blocks[r["columns"]]["ms_per_line"] / r["ms_min"]
    base = conv[0]["ms_per_column"] if conv else None
    for r in conv:
        r["speedup_vs_first"] = base / r["ms_per_column"]
        if "folded_ms_per_column" in r:
            r["folded_speedup_vs_first"] = base / r["folded_ms_per_column"]
    out.update(stream=stream, conv=conv, matched_filter=mf, block=block)
    return out


def _mb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}"


def format_tables(report: dict[str, Any]) -> str:
    """Plain-text tables of a `run_suite` report. Stream columns: min and median ms per line,
    the bandwidth floor (line bytes over the in-place memory bandwidth: meaningful once
    state and taps exceed the caches), state and weight MB held, their ratio to the
    arithmetic minimum, the RSS the focuser added, the child's peak RSS (the interpreter,
    torch and numba included), the RSS growth over the growth lines, and the speed-ups over
    the line-by-line matched filter and over the anchor's 16 ms per line."""
    rows = [
        "stream (one line per push, ms; bytes in MB)",
        f"{'model':<32} {'W':>6} {'min':>7} {'median':>7} {'floor':>6} {'state':>8} "
        f"{'weights':>8} {'held/min':>8} {'RSS':>8} {'peak RSS':>8} {'growth':>7} {'x MF':>6} "
        f"{'x 16ms':>6}",
    ]
    for r in report["stream"]:
        rows.append(
            f"{r['model']:<32} {r['columns']:>6} {r['ms_min']:>7.3f} {r['ms_median']:>7.3f} "
            f"{r['floor_ms']:>6.3f} {_mb(r['state_bytes']):>8} {_mb(r['weight_bytes']):>8} "
            f"{r['held_over_minimum']:>8.3f} {_mb(r['rss_of_focuser_bytes']):>8} "
            f"{_mb(r['peak_rss_bytes']):>8} "
            f"{_mb(r['rss_growth_bytes']):>7} {r.get('matched_filter_ratio', 0):>6.1f} "
            f"{r['anchor_ratio']:>6.1f}"
        )
    rows += ["", "conv mode (whole columns)", f"{'model':<32} {'params':>8} {'L':>5} "
             f"{'ms/col':>8} {'x first':>8} {'folded ms/col':>13} {'x first':>8}"]  # fmt: skip
    for r in report["conv"]:
        folded = r.get("folded_ms_per_column")
        rows.append(
            f"{r['model']:<32} {r['params']:>8} {r['length']:>5} {r['ms_per_column']:>8.3f} "
            f"{r['speedup_vs_first']:>8.1f} "
            + (f"{folded:>13.4f} {r['folded_speedup_vs_first']:>8.1f}" if folded else "")
        )
    if report["matched_filter"] or report["block"]:
        rows += ["", "classical", f"{'processor':<32} {'W':>6} {'ms/line':>8} {'latency s':>9} "
                 f"{'state+weights':>13} {'peak RSS':>8}"]  # fmt: skip
        for r in report["matched_filter"]:
            held = r["state_bytes"] + r["weight_bytes"]
            rows.append(
                f"{'matched filter, ' + str(r['taps']) + ' taps':<32} "
                f"{r['columns']:>6} {r['ms_min']:>8.2f} {'-':>9} {_mb(held):>13} "
                f"{_mb(r['peak_rss_bytes']):>8}"
            )
        for r in report["block"]:
            rows.append(
                f"{'range-Doppler, ' + str(r['block_lines']) + '-line block':<32} "
                f"{r['columns']:>6} {r['ms_per_line']:>8.2f} {r['latency_s']:>9.2f} "
                f"{'-':>13} {_mb(r['peak_rss_bytes']):>8}"
            )
    return "\n".join(rows)
