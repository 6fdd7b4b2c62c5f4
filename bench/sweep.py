"""The landing sweep's cost next to a day's ingest, on the sample network.

    python bench/sweep.py [--warehouses 60] [--days 30] [--repeat 5] [--out bench/out/sweep]

Generates the demo network (no faults), ingests and validates every day but the last
(setup, not timed), then, side by side on the same lake:

- ``day``: what an ingest run does for its own day (``stages.run_ingest([D], sweep=False)``: the ingest DAG's stages,
  every source's ingest and GX validation, staged and swapped in), rerun ``--repeat`` times;
- ``sweep``: what the run adds (``validation.sweep.sweep_after``: the ``lookback_days`` (14)
  days before D of both daily sources, nothing changed: a listing, a manifest read and a
  sha256 of every landing file per day), ``--repeat`` times;
- ``sweep + 1 restatement``: the same with one day's reconciliation file amended (the
  re-ingest and re-validation of that day is the price of a restatement, paid once).

Prints the median wall seconds and the sweep/day ratio (goal <= 10%). Timings never fail
anything; on a shared machine compare the ratios.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecasting.core.config import load_settings  # noqa: E402
from forecasting.demo.generate import generate_network  # noqa: E402
from forecasting.stages import run_ingest  # noqa: E402
from forecasting.validation.sweep import sweep_after  # noqa: E402

START = date(2023, 1, 2)
PII_KEY = "bench-pii-key-0123456789"


def timed(fn, repeat: int) -> tuple[float, object]:
    walls, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t)
    return statistics.median(walls), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouses", type=int, default=60)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default="bench/out/sweep")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    generate_network(str(out / "landing"), args.warehouses, START, args.days, seed=0, faults=False)
    settings = load_settings(None, landing_uri=str(out / "landing"), lake_uri=str(out / "lake"),
                             reserves_url=f"sqlite:///{out / 'reserves.db'}", pii_key=PII_KEY,
                             alerts={"routes": ["file"]})  # fmt: skip
    days = [START + timedelta(days=k) for k in range(args.days)]
    run_ingest(settings, days[:-1], sweep=False)
    last = days[-1]
    landing = sum(p.stat().st_size for p in (out / "landing").rglob("*") if p.is_file() and "date=" in str(p))
    day_s, _ = timed(lambda: run_ingest(settings, [last], sweep=False), args.repeat)
    sweep_s, swept = timed(lambda: sweep_after(settings, [last]), args.repeat)
    amended = out / "landing" / "reconciliation_logs" / f"date={last - timedelta(days=5)}" / "part-000.csv"
    text = amended.read_text().splitlines(keepends=True)
    amended.write_text("".join(text[:-1]))  # the last count line withdrawn
    t = time.perf_counter()
    restated = sweep_after(settings, [last])
    restate_s = time.perf_counter() - t
    print(f"network: {args.warehouses} warehouses, {args.days} days; landing of daily sources "
          f"{landing / args.days / 1024:.0f} KiB per day; lookback {settings.lookback_days} days")
    print("| step | median wall s | vs a day's ingest |\n|---|---|---|")
    print(f"| a day's ingest + validation (both daily sources, reference snapshots) | {day_s:.2f} | 1.00 |")
    print(f"| sweep, nothing changed ({swept['days_checked']} source-days) | {sweep_s:.3f} | "
          f"**{sweep_s / day_s:.1%}** |")
    print(f"| sweep with 1 restatement ({len(restated['restated'])} restated) | {restate_s:.2f} | "
          f"{restate_s / day_s:.1%} |")


if __name__ == "__main__":
    main()
