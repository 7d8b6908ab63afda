"""The evaluation figures (PNG): amplitude panels, point-target cuts, distributions, trade-off.

Every amplitude is in dB relative to the ground truth's peak on the figure's product, on one
shared colour scale with a colour bar; axes are in azimuth and range samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DB_FLOOR = -60.0  # bottom of the amplitude colour scale


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _db(x: np.ndarray, peak: float) -> np.ndarray:
    return 20 * np.log10(np.maximum(np.abs(x) / peak, 10 ** (DB_FLOOR / 20 - 1)))


def amplitude_panels(figure: dict[str, Any], names: list[str], path: Path) -> Path:
    """Top row: ground truth then each entry's output; bottom row: the input, then each
    entry's error |yhat - y|; all in dB re the ground truth's peak."""
    from sarssm.train.callbacks import save_png

    plt = _plt()
    target = figure["target"]
    peak = float(np.abs(target).max())
    n = len(names) + 1
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n + 1.5, 7.5), squeeze=False, sharey=True)
    rows, cols = target.shape
    extent = (-0.5, cols - 0.5, rows - 0.5, -0.5)
    kw = dict(aspect="auto", cmap="gray", vmin=DB_FLOOR, vmax=0, extent=extent)
    inp = figure["input"]
    image = None
    panels = [(0, 0, target, "ground truth (az)"), (1, 0, inp, "input (own peak)")]
    for i, name in enumerate(names, start=1):
        pred = figure["predictions"][name]
        panels += [(0, i, pred, name), (1, i, pred - target, f"{name} error")]
    for r, c, data, title in panels:
        ref = float(np.abs(data).max()) if title.startswith("input") else peak
        image = axes[r][c].imshow(_db(data, ref), **kw)
        axes[r][c].set_title(title, fontsize=8)
        axes[r][c].set_xlabel("range sample", fontsize=8)
        axes[r][c].tick_params(labelsize=7)
    for r in range(2):
        axes[r][0].set_ylabel("azimuth sample", fontsize=8)
    m = figure["margin"]
    for ax in axes.flat:
        for row in (m, rows - m):  # the metric window
            ax.axhline(row - 0.5, color="tab:orange", lw=0.6, ls=":")
    fig.suptitle(f"{figure['product']}: amplitude, dB re peak of the ground truth", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.9, 0.96))
    cax = fig.add_axes((0.91, 0.1, 0.015, 0.8))
    fig.colorbar(image, cax=cax).set_label("dB re ground-truth peak")
    save_png(fig, path, dpi=90)
    plt.close(fig)
    return path


def point_target_cuts(
    figure: dict[str, Any], names: list[str], metrics: dict[str, Any], path: Path
) -> Path | None:
    """Azimuth cut through the brightest point target of the figure's product: each entry
    against the reference (the ground truth), x16 upsampled, with its -3 dB width (IRW) and its
    highest sidelobe (PSLR) marked."""
    from sarssm.eval.pointtarget import DEFAULT_FACTOR, DEFAULT_SIDELOBE_CELLS, upsample_cut
    from sarssm.eval.theory import default_half_window, theory_for_geometry
    from sarssm.train.callbacks import save_png

    targets = figure["point_targets"]
    rows = figure["target"].shape[0]
    m = figure["margin"]
    inside = [t for t in targets if m <= t["row"] < rows - m]
    if not inside:
        return None
    target = max(inside, key=lambda t: abs(float(t.get("amplitude") or 0)))
    row, col = float(target["row"]), int(target["col"])
    theory = theory_for_geometry(figure["geometry"])
    hw = default_half_window(theory, DEFAULT_SIDELOBE_CELLS)
    lo, hi = max(0, round(row) - hw), min(rows, round(row) + hw)
    f = DEFAULT_FACTOR

    def cut(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        up = upsample_cut(image[lo:hi, col], f)
        return lo + np.arange(up.size) / f, np.abs(up)

    t_ref, a_ref = cut(figure["target"])
    peak = float(a_ref.max())
    plt = _plt()
    n = len(names)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        t, a = cut(figure["predictions"][name])
        db = 20 * np.log10(np.maximum(a / peak, 1e-6))
        ax.plot(t_ref, 20 * np.log10(np.maximum(a_ref / peak, 1e-6)), "k-", lw=1, label="reference")
        ax.plot(t, db, "-", color="tab:blue", lw=1, label=name)
        q = next(
            (
                p["model"]
                for p in metrics["models"][name]["point_target_list"]
                if p["product"] == figure["product"] and p["col"] == col and abs(p["row"] - row) < 1
            ),
            None,
        )
        if q and not q.get("error"):
            top = 20 * np.log10(max(float(q["peak_amplitude"]), 1e-12) / peak)
            centre = q["measured_row"]
            half = q["irw_samples"] / 2
            ax.hlines(top - 3, centre - half, centre + half, color="tab:red", lw=2)
            ax.annotate(f"IRW {q['irw_samples']:.2f}", (centre + half, top - 3), fontsize=7)
            ax.axhline(top + q["pslr_db"], color="tab:green", ls="--", lw=0.8)
            ax.annotate(f"PSLR {q['pslr_db']:.1f} dB", (lo, top + q["pslr_db"] + 1), fontsize=7)
        ax.set_ylim(-60, 3)
        ax.set_xlabel("azimuth sample", fontsize=8)
        ax.set_ylabel("dB re reference peak", fontsize=8)
        ax.set_title(f"{name}: target at row {row:.1f}, column {col}", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    save_png(fig, path, dpi=90)
    plt.close(fig)
    return path


def distributions(figure: dict[str, Any], names: list[str], path: Path) -> Path:
    """Histograms of Re, Im and |.| of each entry's output against the ground truth."""
    from sarssm.train.callbacks import save_png

    plt = _plt()
    target = figure["target_samples"]
    parts = {"Re": np.real, "Im": np.imag, "|.|": np.abs}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (label, part) in zip(axes, parts.items(), strict=True):
        t = part(target)
        lo, hi = np.percentile(t, [0.1, 99.9])
        bins = np.linspace(lo, hi, 81)
        ax.hist(t, bins=bins, histtype="stepfilled", color="0.8", label="ground truth")
        for name in names:
            ax.hist(part(figure["samples"][name]), bins=bins, histtype="step", lw=1, label=name)
        ax.set_yscale("log")
        ax.set_xlabel(f"{label} (product units)")
        ax.set_ylabel("count")
    axes[-1].legend(fontsize=7)
    fig.suptitle("output distributions inside the metric window", fontsize=9)
    fig.tight_layout()
    save_png(fig, path, dpi=90)
    plt.close(fig)
    return path


def tradeoff(metrics: dict[str, Any], path: Path) -> Path:
    """Parameters against NMSE and PSNR, latency against NMSE (models; the reference
    processor's latency as a vertical line)."""
    from sarssm.train.callbacks import save_png

    plt = _plt()
    models = {k: v for k, v in metrics["models"].items() if v["kind"] == "model"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    specs = [
        ("params", "nmse_db", "parameters", "NMSE dB (lower is better)"),
        ("params", "psnr_db", "parameters", "PSNR dB"),
        ("latency_ms_per_column", "nmse_db", "ms per column (conv mode)", "NMSE dB"),
    ]
    for ax, (x, y, xlabel, ylabel) in zip(axes, specs, strict=True):
        for name, v in models.items():
            ax.scatter(v[x], v[y], s=18)
            ax.annotate(name, (v[x], v[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ref = metrics["models"].get("reference")
    if ref and ref["latency_ms_per_column"] > 0:
        axes[2].axvline(ref["latency_ms_per_column"], color="k", ls=":", lw=1)
        axes[2].annotate(
            "reference processor",
            (ref["latency_ms_per_column"], 0.02),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            rotation=90,
        )
    fig.suptitle("compression trade-off (whole products)", fontsize=9)
    fig.tight_layout()
    save_png(fig, path, dpi=90)
    plt.close(fig)
    return path


def write_figures(figure: dict[str, Any], metrics: dict[str, Any], out: Path) -> dict[str, str]:
    """Every evaluation figure under out/figures/; returns name -> relative path."""
    out = Path(out)
    names = [n for n, v in metrics["models"].items() if v["kind"] != "reference"]
    models = [n for n, v in metrics["models"].items() if v["kind"] == "model"]
    paths = {
        "amplitude": amplitude_panels(figure, names, out / "figures" / "amplitude.png"),
        "point_target": point_target_cuts(
            figure, models or names, metrics, out / "figures" / "point_target.png"
        ),
        "distributions": distributions(figure, names, out / "figures" / "distributions.png"),
        "tradeoff": tradeoff(metrics, out / "figures" / "tradeoff.png"),
    }
    return {k: str(Path(v).relative_to(out)) for k, v in paths.items() if v is not None}
