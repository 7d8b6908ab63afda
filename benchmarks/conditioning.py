"""How well each way of conditioning on slant range maps a column onto the reference column.

For slant ranges across each preset's swath and just outside it, the error floor (dB) of a
model that learns the reference column's operator and is told the column's range by:
- none: nothing (the reference matched filter applied to every column);
- dt-scale: its SSM step size scaled by sqrt(Ka / Ka_ref) (`step_scale_error_db`);
- prefilter: the exact per-column all-pass FIR the models use (`prefilter_error_db`).
Closed forms, no training. With the pre-filter every column reaches the model as the
reference column, so the truncation floor of a causal model's delay is the reference
column's at every range (`sarssm models` prints it).

    python benchmarks/conditioning.py [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sarssm.bench import write_report
from sarssm.models import get_config
from sarssm.models.conditioning import (
    prefilter_error_db,
    step_scale_error_db,
    unconditioned_error_db,
)
from sarssm.physics.geometry import get_preset

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def rows_for(data_preset: str, model_preset: str) -> list[dict[str, float | str]]:
    cfg = get_config(model_preset).resolved()
    ref, J, d = cfg.reference, cfg.prefilter_taps, cfg.delay
    base = get_preset(data_preset)
    width = base.swath_far_m - base.swath_near_m
    points = {
        "interval near end": ref.range_min_m,
        "swath near end": base.swath_near_m,
        "mid swath": ref.range_m,
        "swath far end": base.swath_far_m,
        "interval far end": ref.range_max_m,
    }
    out = []
    for where, r in points.items():
        out.append(
            {
                "preset": data_preset,
                "where": where,
                "slant_range_km": r / 1e3,
                "offset_swath_widths": (r - ref.range_m) / width,
                "none_db": unconditioned_error_db(ref, r),
                "dt_scale_db": step_scale_error_db(ref, r),
                "prefilter_db": prefilter_error_db(ref, J, r),
                "prefilter_taps": 2 * J + 1,
                "delay": d,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    args = parser.parse_args()
    rows = rows_for("demo", "demo-teacher") + rows_for("s1-stripmap", "teacher")
    header = (
        f"{'preset':<12} {'where':<18} {'R0 km':>8} {'none':>7} {'dt-scale':>9} "
        f"{'prefilter':>9} {'taps':>5}"
    )
    print("conditioning error floors (dB)")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['preset']:<12} {r['where']:<18} {r['slant_range_km']:>8.2f} {r['none_db']:>7.1f} "
            f"{r['dt_scale_db']:>9.1f} {r['prefilter_db']:>9.1f} {r['prefilter_taps']:>5}"
        )
    write_report("conditioning", rows, args.out, quick=None, repeats=None)


if __name__ == "__main__":
    main()
