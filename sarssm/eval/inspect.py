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


def array_summary(product: Any) -> dict[str, dict[str, Any]]:
    """Level -> {shape, dtype, chunks} of every array of an opened product."""
    out = {}
    for name in product.levels:
        arr = product.array(name)
        out[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "chunks": list(arr.chunks)}
    return out


def geometry_summary(geometry: Any) -> dict[str, Any]:
    """Geometry fields and derived per-column ranges (Ka, aperture, TBP) of a product, and
    the values at its first and last column."""
    ka = geometry.ka()
    aperture = geometry.aperture_samples()
    tbp = geometry.tbp()
    ends = [0, geometry.n_range - 1]
    r = geometry.slant_range(ends)
    columns = {
        side: {
            "column": ends[i],
            "slant_range_m": float(r[i]),
            "ka_hz_per_s": float(ka[ends[i]]),
            "aperture_samples": float(aperture[ends[i]]),
            "tbp": float(tbp[ends[i]]),
        }
        for i, side in enumerate(("first_column", "last_column"))
    }
    return to_jsonable(
        {
            **geometry.to_attrs(),
            "far_range_m": float(r[1]),
            "doppler_bandwidth_hz": geometry.doppler_bandwidth_hz,
            "ka_hz_per_s": [float(ka.min()), float(ka.max())],
            "aperture_samples": [float(aperture.min()), float(aperture.max())],
            "tbp": [float(tbp.min()), float(tbp.max())],
            **columns,
        }
    )


def inspect_product(path: Path, geometry_overrides: Any = None) -> dict[str, Any]:
    """Report of one product: attrs, geometry summary, arrays, theory, point-target quality;
    for a real Maya4 product also its Level-0 parameters (`level0`, with `varying`) and the
    attributes left out (`dropped_attrs`: the packet records). A Maya4 product whose geometry
    cannot be read is still reported, with `geometry_error` (and the command exits 2)."""
    from sarssm.data.store import open_product

    product = open_product(path, geometry_overrides)
    arrays = array_summary(product)
    if FOCUSED_LEVEL not in arrays:
        raise ProductError(
            f"{path}: no {FOCUSED_LEVEL!r} array (arrays: {sorted(arrays) or 'none'})"
        )
    report: dict[str, Any] = {"path": str(path), "attrs": to_jsonable(dict(product.attrs))}
    if product.is_maya4:
        report["dropped_attrs"] = product.dropped_attrs
        level0 = product.level0.as_dict() if product.level0 is not None else None
        report["level0"] = to_jsonable(level0)
        report["level0_error"] = product.level0_error
        try:
            geometry = product.geometry
        except ProductError as exc:
            return {**report, "geometry": None, "geometry_error": str(exc), "arrays": arrays,
                    "theory": None, "point_targets": []}  # fmt: skip
    else:
        geometry = product.geometry
    theory = theory_for_geometry(geometry)
    try:
        targets = measure_product(product, level=FOCUSED_LEVEL)
    except ProductError as exc:
        raise ProductError(f"{path}: {exc}") from None
    return {
        **report,
        "geometry": geometry_summary(geometry),
        "arrays": arrays,
        "theory": theory.as_dict(),
        "point_targets": targets,
    }


def inspect_path(path: str | Path, geometry_overrides: Any = None) -> dict[str, Any]:
    """Report of a product, or of every product below a folder (`geometry_overrides`:
    `--geometry` items or a dict, applied to every product).

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
    reports = [inspect_product(p, geometry_overrides) for p in paths]
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
    name = (report.get("level0") or {}).get("name")
    if name:  # a Maya4 product: what its group name says
        lines.append(
            f"  Maya4 {name['mission']} swath s{name['swath']} {name['polarization']}  "
            f"{name['start']} .. {name['stop']}  orbit {name['orbit']}  data-take "
            f"{name['datatake']}"
        )
    else:
        lines.append(
            "  " + "  ".join(f"{key} {_meta(attrs, names)}" for key, names in META_KEYS.items())
        )
    if "level0" in report:
        lines += format_level0(report)
    if geo is None:
        lines.append(f"  geometry: {report.get('geometry_error')}")
    else:
        lines += format_geometry(geo)
    rows = [
        [name, "x".join(map(str, a["shape"])), a["dtype"], "x".join(map(str, a["chunks"]))]
        for name, a in report["arrays"].items()
    ]
    lines += ["  " + s for s in _table(["array", "shape", "dtype", "chunks"], rows)]
    if theory is None:
        return "\n".join(lines)
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


def format_geometry(geo: dict[str, Any]) -> list[str]:
    """The geometry lines of a product's summary: radar, swath, and the first / last column."""
    lines = [
        f"  PRF {geo['prf_hz']:.4f} Hz  wavelength {geo['wavelength_m']:.5f} m  "
        f"velocity {geo['velocity_mps']:.2f} m/s  range spacing {geo['range_spacing_m']:.6f} m  "
        f"Ba {geo['doppler_bandwidth_hz']:.1f} Hz",
        f"  slant range {geo['near_range_m'] / 1e3:.3f}..{geo['far_range_m'] / 1e3:.3f} km  "
        f"window alpha {geo['window_alpha']}  antenna weighting {geo['antenna_weighting']}",
    ]
    for side in ("first_column", "last_column"):
        c = geo[side]
        lines.append(
            f"  {side.replace('_', ' ')} {c['column']}: R0 {c['slant_range_m'] / 1e3:.3f} km  "
            f"Ka {c['ka_hz_per_s']:.2f} Hz/s  aperture {c['aperture_samples']:.1f} samples  "
            f"TBP {c['tbp']:.1f}"
        )
    return lines


def format_level0(report: dict[str, Any]) -> list[str]:
    """The Level-0 lines of a Maya4 product's summary: packet fields, what varies, what was
    left out of the attributes."""
    p = report["level0"]
    if p is None:
        return [f"  Level-0: cannot be read: {report.get('level0_error')}"]

    def us(value: Any) -> str:
        return "-" if value is None else f"{value * 1e6:.4f} us"

    lines = [
        f"  Level-0: {p['n_records']} records ({p['n_echo_records']} echo)  PRI {us(p['pri_s'])}"
        f"  rank {_fmt(p['rank'], '{}')}  SWST {us(p['swst_s'])}  range decimation "
        f"{_fmt(p['range_decimation'], '{}')}  TXPL {us(p['tx_pulse_length_s'])}  "
        f"TXPRR {_fmt(p['tx_ramp_rate_hz_per_s'], '{:.4g}')} Hz/s",
        f"  packets: polarisation {_fmt(p['polarization'], '{}')}  swath "
        f"{_fmt(p['swath'], 's{}')} (ECC {_fmt(p['ecc_num'], '{}')})  samples per line "
        f"{_fmt(p['samples_per_line'], '{}')}  V from {_fmt(p['velocity_source'], '{}')}",
    ]
    varying = p.get("varying") or {}
    lines.append(
        "  varying along the product: "
        + (", ".join(f"{k} {lo:g}..{hi:g}" for k, (lo, hi) in varying.items()) or "none")
    )
    dropped = report.get("dropped_attrs") or {}
    if dropped:
        lines.append("  not kept in memory: " + ", ".join(f"{k} ({v})" for k, v in dropped.items()))
    return lines


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
