"""What a product holds and how well its point targets are focused: the logic of `sarssm inspect`.

`inspect_path` returns a JSON-able report; `format_report` renders it as aligned text tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sarssm.errors import ProductError
from sarssm.eval.pointtarget import DEFAULT_SIDELOBE_CELLS, measure_product, to_jsonable
from sarssm.eval.theory import THEORY_FACTOR, theoretical_response, theory_for_geometry

FOCUSED_LEVEL = "az"
# Metadata shown in the human summary, when a product has them (first name found wins).
META_KEYS = {
    "preset": ("preset",),
    "scene": ("scene", "scene_name"),
    "seed": ("seed",),
    "snr_db": ("snr_db", "snr"),
}
# Per-target columns of the human table: (key, header, format).
TARGET_COLUMNS = [
    ("row", "row", "{:.2f}"),
    ("col", "col", "{:d}"),
    ("irw_samples", "IRW", "{:.3f}"),
    ("irw_ratio", "IRW/theory", "{:.3f}"),
    ("pslr_db", "PSLR dB", "{:.2f}"),
    ("pslr_theory_db", "(theory)", "{:.2f}"),
    ("islr_db", "ISLR dB", "{:.2f}"),
    ("phase_error_rad", "phase err rad", "{:+.4f}"),
    ("position_error_samples", "pos err", "{:+.4f}"),
    ("amplitude_error_db", "amp err dB", "{:+.3f}"),
]


def array_summary(path: Path) -> dict[str, dict[str, Any]]:
    """Name -> {shape, dtype, chunks} of every array in the product's Zarr group."""
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
        arrays = {
            name: {
                "shape": list(arr.shape),
                "dtype": str(arr.dtype),
                "chunks": list(arr.chunks),
            }
            for name, arr in sorted(group.arrays())
        }
    except Exception as exc:  # zarr raises many types on damaged metadata: name the product
        raise ProductError(f"{path}: cannot read the product's arrays ({exc})") from None
    return arrays


def geometry_summary(geometry: Any) -> dict[str, Any]:
    """Geometry fields and derived per-column ranges (Ka, aperture, TBP) of a product."""
    ka = geometry.ka()
    aperture = geometry.aperture_samples()
    tbp = geometry.tbp()
    return to_jsonable(
        {
            **geometry.to_attrs(),
            "doppler_bandwidth_hz": geometry.doppler_bandwidth_hz,
            "ka_hz_per_s": [float(ka.min()), float(ka.max())],
            "aperture_samples": [float(aperture.min()), float(aperture.max())],
            "tbp": [float(tbp.min()), float(tbp.max())],
        }
    )


def inspect_product(path: Path) -> dict[str, Any]:
    """Report of one product: attrs, geometry summary, arrays, theory, point-target quality."""
    from sarssm.data.store import open_product

    product = open_product(path)
    arrays = array_summary(path)
    if FOCUSED_LEVEL not in arrays:
        raise ProductError(
            f"{path}: no {FOCUSED_LEVEL!r} array (arrays: {sorted(arrays) or 'none'})"
        )
    for name, info in arrays.items():
        if not np.issubdtype(np.dtype(info["dtype"]), np.complexfloating):
            raise ProductError(f"{path}: array {name!r} is {info['dtype']}, expected complex")
    geometry = product.geometry
    theory = theory_for_geometry(geometry)
    try:
        targets = measure_product(product, level=FOCUSED_LEVEL)
    except ProductError as exc:
        raise ProductError(f"{path}: {exc}") from None
    return {
        "path": str(path),
        "attrs": to_jsonable(dict(product.attrs)),
        "geometry": geometry_summary(geometry),
        "arrays": arrays,
        "theory": theory.as_dict(),
        "point_targets": targets,
    }


def inspect_path(path: str | Path) -> dict[str, Any]:
    """Report of a product, or of every product below a folder.

    Returns {"products": [report, ...]}; when `path` is itself a product, that product's report
    keys (path, attrs, geometry, arrays, theory, point_targets) are also at the top level.
    """
    from sarssm.data.store import list_products

    path = Path(path)
    if not path.exists():
        raise ProductError(f"{path}: no such file or folder")
    paths = list_products(path)
    if not paths:
        raise ProductError(f"{path}: no products found (expected a .zarr group or a folder)")
    reports = [inspect_product(p) for p in paths]
    out: dict[str, Any] = {"products": reports}
    if len(paths) == 1 and Path(paths[0]).resolve() == path.resolve():
        out.update(reports[0])
    return out


# --- reference table (`sarssm inspect --theory`) -------------------------------------------
def theory_table() -> list[dict[str, Any]]:
    """Theoretical quality of the reference windows and of each preset's effective weighting."""
    from sarssm.physics.geometry import PRESETS

    rows = []
    for alpha, name in ((1.0, "rectangular"), (0.75, "gen. Hamming 0.75"), (0.54, "Hamming")):
        t = theoretical_response(lambda f, a=alpha: a + (1 - a) * np.cos(2 * np.pi * f), 2.0, 1.0)
        rows.append({"weighting": name, **t.as_dict(), "irw_samples": None})  # no PRF here
    for preset, geometry in PRESETS.items():
        variants = {
            "effective (window x antenna)": geometry,
            "window only": geometry.replace(antenna_weighting=False),
            "antenna only": geometry.replace(window_alpha=1.0),
            "rectangular": geometry.replace(antenna_weighting=False, window_alpha=1.0),
        }
        for label, g in variants.items():
            rows.append({"weighting": f"{preset}: {label}", **theory_for_geometry(g).as_dict()})
    return rows


# --- text rendering --------------------------------------------------------------------------
def _table(headers: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Aligned columns: the first `left` left-justified (names), the rest right-justified."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)


def _meta(attrs: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        if name in attrs and attrs[name] is not None:
            return str(attrs[name])
    return "-"


def format_product(report: dict[str, Any]) -> str:
    """Human-readable summary of one product's report."""
    attrs, geo, theory = report["attrs"], report["geometry"], report["theory"]
    lines = [f"product {report['path']}"]
    lines.append(
        "  " + "  ".join(f"{key} {_meta(attrs, names)}" for key, names in META_KEYS.items())
    )
    lines.append(
        f"  PRF {geo['prf_hz']:.1f} Hz  wavelength {geo['wavelength_m']:.5f} m  "
        f"velocity {geo['velocity_mps']:.1f} m/s  near range {geo['near_range_m'] / 1e3:.3f} km  "
        f"Ba {geo['doppler_bandwidth_hz']:.1f} Hz"
    )
    lines.append(
        f"  Ka {geo['ka_hz_per_s'][0]:.2f}..{geo['ka_hz_per_s'][1]:.2f} Hz/s  "
        f"aperture {geo['aperture_samples'][0]:.1f}..{geo['aperture_samples'][1]:.1f} samples  "
        f"TBP {geo['tbp'][0]:.1f}..{geo['tbp'][1]:.1f}  window alpha {geo['window_alpha']}  "
        f"antenna weighting {geo['antenna_weighting']}"
    )
    rows = [
        [name, "x".join(map(str, a["shape"])), a["dtype"], "x".join(map(str, a["chunks"]))]
        for name, a in report["arrays"].items()
    ]
    lines += ["  " + s for s in _table(["array", "shape", "dtype", "chunks"], rows)]
    lines.append(
        f"  theory (effective weighting): IRW {theory['irw_samples']:.3f} samples "
        f"({theory['irw_bandwidth']:.4f}/B)  PSLR {theory['pslr_db']:.2f} dB  "
        f"ISLR {theory['islr_db']:.2f} dB"
    )
    targets = report["point_targets"]
    if targets:
        rows = [[_fmt(t.get(k), spec) for k, _, spec in TARGET_COLUMNS] for t in targets]
        lines += ["  " + s for s in _table([h for _, h, _ in TARGET_COLUMNS], rows, left=0)]
        lines += [
            f"  target at row {t['row']:.2f} col {t['col']} not measured: {t['error']}"
            for t in targets
            if t.get("error")
        ]
    else:
        lines.append("  no point targets")
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    """Human-readable summary of every product in an `inspect_path` report."""
    return "\n\n".join(format_product(p) for p in report["products"])


def format_theory_table() -> str:
    """`theory_table` as aligned text (IRW in samples only where a PRF applies)."""
    rows = [
        [
            r["weighting"],
            _fmt(r["irw_samples"], "{:.4f}"),
            f"{r['irw_bandwidth']:.4f}",
            f"{r['pslr_db']:.2f}",
            f"{r['islr_db']:.2f}",
        ]
        for r in theory_table()
    ]
    lines = _table(["weighting", "IRW [samples]", "IRW x B", "PSLR dB", "ISLR dB"], rows)
    lines.append(
        f"main lobe between first minima; ISLR over +-{DEFAULT_SIDELOBE_CELLS:g} IRW; "
        f"theory upsampled x{THEORY_FACTOR}, measurements x16"
    )
    return "\n".join(lines)
