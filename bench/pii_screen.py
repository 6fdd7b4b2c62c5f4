"""What the PII screen costs: a demo day's ingest with the screen on and off, side by side.

    python bench/pii_screen.py [--warehouses 60] [--repeat 5] [--rows 1000000] [--out bench/out/pii_screen]

Writes the sample network (``riskcast demo-data``'s generator, ``--warehouses`` sites, 28
days, seed 0, no faults), then ingests its last day, all four sources
(``forecasting.ingest.drop.ingest_date``), into two lakes: ``pii_screen.enabled`` true and
false. Runs alternate (on, off, on, off, ...) so both see the same machine load; prints
the best of ``--repeat`` of each, wall and CPU seconds, and the ratio on / off (goal: at
most 1.10). It also checks that both lakes hold the same bronze bytes: the clean network
trips the screen nowhere. With ``--rows`` N it times one big security-reports day
(``bench/ingest.py``'s rows, CSV) the same way. Timings never fail anything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import DAY, PII_KEY, best_of, make_frame, write_landing  # noqa: E402

from forecasting.core import schema as s  # noqa: E402
from forecasting.core.config import load_settings  # noqa: E402
from forecasting.core.lake import Lake  # noqa: E402
from forecasting.demo.generate import generate_network  # noqa: E402
from forecasting.ingest.drop import ingest_date, ingest_source  # noqa: E402

START, DAYS = date(2024, 11, 4), 28


def _settings(landing: Path, lake: Path, on: bool):
    return load_settings(None, landing_uri=str(landing), lake_uri=str(lake), pii_key=PII_KEY,
                         pii_screen={"enabled": on})  # fmt: skip


def _bronze(settings, day: date) -> dict[str, bytes]:
    lake = Lake.from_settings(settings)
    return {src: Path(lake.bronze_file(src, day)).read_bytes() for src in s.CONTRACTS
            if Path(lake.bronze_file(src, day)).exists()}  # fmt: skip


def _row(label: str, on: tuple[float, float], off: tuple[float, float]) -> str:
    return (f"| {label} | {on[0]:.3f} | {off[0]:.3f} | **{on[0] / off[0]:.2f}x** | "
            f"{on[1]:.3f} | {off[1]:.3f} | {on[1] / off[1]:.2f}x |")  # fmt: skip


def demo_day(out: Path, warehouses: int, repeat: int) -> str:
    landing = out / "landing"
    generate_network(str(landing), warehouses, START, DAYS, seed=0, faults=False)
    day = START + timedelta(days=DAYS - 1)
    runs = {on: _settings(landing, out / f"lake-{'on' if on else 'off'}", on) for on in (True, False)}
    rows = sum(r.read for r in ingest_date(runs[True], day, overdue=True))  # warm-up, and a check
    ingest_date(runs[False], day, overdue=True)
    assert _bronze(runs[True], day) == _bronze(runs[False], day), "the clean network tripped the screen"
    on, off = best_of([lambda: ingest_date(runs[True], day, overdue=True),
                       lambda: ingest_date(runs[False], day, overdue=True)], repeat)  # fmt: skip
    return _row(f"demo day {day} ({warehouses} sites, 4 sources, {rows:,} rows)", on, off)


def big_day(out: Path, rows: int, repeat: int) -> str:
    landing = out / "landing-big"
    write_landing(make_frame(rows), landing, "csv")
    runs = {on: _settings(landing, out / f"lake-big-{'on' if on else 'off'}", on) for on in (True, False)}
    for settings in runs.values():
        ingest_source(settings, s.SECURITY_REPORTS.name, DAY)  # warm-up
    on, off = best_of([lambda: ingest_source(runs[True], s.SECURITY_REPORTS.name, DAY),
                       lambda: ingest_source(runs[False], s.SECURITY_REPORTS.name, DAY)], repeat)  # fmt: skip
    return _row(f"security_reports, {rows:,} rows (CSV, streamed in 64 MiB blocks)", on, off)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouses", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", type=int, default=0, help="also time one big reports day of N rows")
    parser.add_argument("--out", default="bench/out/pii_screen")
    args = parser.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, best of {args.repeat}")
    print("| ingest | on wall s | off wall s | on / off | on CPU s | off CPU s | on / off (CPU) |")
    print("|---|---|---|---|---|---|---|")
    print(demo_day(out, args.warehouses, args.repeat), flush=True)
    if args.rows:
        print(big_day(out, args.rows, args.repeat), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
