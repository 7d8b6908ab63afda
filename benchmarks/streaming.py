"""Streaming students against the classical processor, per azimuth line, on one thread.

Cases (each in its own child process, `sarssm.deploy.benchmark`):
- stream, at W = 1,000 and 25,700 columns (one Sentinel-1 raw line), random-weight students
  (speed and memory do not depend on the weights):
  - `published`: the anchor's student size, 4 layers x width 2 x 4 complex modes, on
    s1-stripmap geometry (rcmc, 81-tap range pre-filter);
  - the same conditioned on its line's own slant ranges, 820-880 km (a 39-tap pre-filter);
  - `published, no conditioning`: the same without the pre-filter (as the anchor's student);
  - the demo students demo-tiny, demo-ultra, demo-compressed, demo-standard;
  - the seed-size `tiny` (16 x 128 x 3, s1-stripmap), at 1,000 columns only unless --full;
- conv mode, whole columns: the demo teacher (gate, the demo's trained teacher) first, then
  the students (speed-ups are against it), with the folded single-kernel form of each student;
- classical: the line-by-line matched filter and the 2048-line block range-Doppler processor.
RSS growth is measured over 10,000 further lines for the published size and demo-tiny at
25,700 columns.

    python benchmarks/streaming.py [--quick] [--full] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sarssm.bench import write_report
from sarssm.deploy.benchmark import (
    ANCHOR_MS_PER_LINE,
    Case,
    format_tables,
    run_case,
    run_suite,
)

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
PUBLISHED = "ultra:model_dim=2,state_dim=4,num_layers=4"
# the same, conditioned on the slant ranges of one 25,700-column line (820-880 km) instead of
# the preset's swath +-25 % (775-925 km): a 39-tap pre-filter instead of 81
LINE_SWATH = PUBLISHED + ",reference.range_min_m=820000,reference.range_max_m=880000"
STUDENTS = [
    f"4x2x4 s1, 81 taps={PUBLISHED}",
    f"4x2x4 s1, line swath, 39 taps={LINE_SWATH}",
    f"4x2x4 s1, no conditioning={PUBLISHED},geometry=none",
    "demo-tiny",
    "demo-ultra",
    "demo-compressed",
    "demo-standard",
]
TEACHER = "demo teacher (gate)=demo-teacher:selectivity=gate"
GROWTH = (("4x2x4 s1, line swath, 39 taps", LINE_SWATH), ("demo-tiny", "demo-tiny"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    parser.add_argument("--quick", action="store_true", help="W = 1,000 only, 50 lines")
    parser.add_argument("--full", action="store_true", help="seed-size tiny at 25,700 too")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    columns = [1000] if args.quick else [1000, 25_700]
    lines = 50 if args.quick else 200
    report = run_suite([TEACHER, *STUDENTS], columns, threads=1, lines=lines)
    for W in [1000, 25_700] if args.full else [1000]:
        print(f"stream tiny W={W}")
        r = run_case(Case("stream", "tiny", W, lines=20 if W > 1000 else lines))
        r["floor_ms"] = 1e3 * r["line_bytes"] / report["memory_bandwidth_bytes_per_s"]
        r["anchor_ratio"] = ANCHOR_MS_PER_LINE / r["ms_min"]
        report["stream"].append({"model": "tiny", "columns": W, **r})
    if not args.quick:
        report["growth"] = []
        for name, spec in GROWTH:
            print(f"growth {name} W=25700 over 10,000 lines")
            r = run_case(Case("stream", spec, 25_700, lines=20, growth_lines=10_000))
            report["growth"].append({"model": name, "spec": spec, "columns": 25_700, **r})
    print(format_tables(report))
    for r in report.get("growth", []):
        print(f"RSS growth over {r['growth_lines']} lines, {r['model']}: "
              f"{r['rss_growth_bytes']} bytes")  # fmt: skip
    write_report("streaming", report, args.out, quick=args.quick, repeats=lines,
                 load_before=load_before)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
