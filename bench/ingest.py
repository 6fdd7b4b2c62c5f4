"""Ingest throughput: N security-report rows as CSV and as Parquet, next to bare pandas.

    python bench/ingest.py [--rows 1000000] [--repeat 3] [--out bench/out/ingest]

For each format it times ``forecasting.ingest.drop.ingest_source`` (read, type to the contract,
pseudonymise reporters, flag notes, find duplicates, sort by key, write bronze) and the
bare pandas baseline on the same file (``pd.read_csv`` / ``pd.read_parquet`` with default
options, then ``to_parquet``). Rows look like the sample network's drops: same columns,
ISO timestamps, ~half the notes blank, a few thousand reporters and SKUs, ids in key
order. Prints the best of ``--repeat`` runs: wall and CPU seconds, rows/s and the ratio
to bare pandas. Timings never fail anything; on a shared machine compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecasting.core import schema as s
from forecasting.core.config import load_settings  # noqa: E402
from forecasting.ingest.drop import ingest_source  # noqa: E402

DAY = date(2024, 3, 1)
PII_KEY = "bench-pii-key-0123456789"


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` report rows as landed strings (what the CSV holds)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-02-29T00:00:00")
    incident = start + rng.integers(0, 2 * 86_400, n).astype("timedelta64[s]")
    reported = incident + rng.integers(600, 12 * 3_600, n).astype("timedelta64[s]")
    iso = lambda t: np.char.add(np.datetime_as_string(t, unit="s"), "Z")  # noqa: E731
    pick = lambda values, size=n: np.asarray(values)[rng.integers(0, len(values), size)]  # noqa: E731
    notes = pick(
        ["Door found open at dock 4.", "Pallet short on recount.", "Seal broken, CCTV checked."]
    )
    return pd.DataFrame(
        {
            s.REPORT_ID: np.char.add("SR-", np.char.zfill(np.arange(n).astype(str), 9)),
            s.WAREHOUSE_ID: pick(
                [f"WH-{c}-{i:03d}" for c in ("DE", "FR", "PL") for i in range(60)]
            ),
            s.INCIDENT_AT: iso(incident),
            s.REPORTED_AT: iso(reported),
            s.SEVERITY: pick(s.SEVERITIES),
            s.CATEGORY: pick(s.REPORT_CATEGORIES),
            s.SKU: np.where(rng.random(n) < 0.2, "", pick([f"SKU-{i:05d}" for i in range(5_000)])),
            s.IS_HVG: pick(["true", "false"]),
            s.UNITS: rng.integers(0, 40, n).astype(str),
            s.LOSS_VALUE_EUR: np.round(rng.gamma(2.0, 300.0, n), 2).astype(str),
            s.STATUS: pick(s.REPORT_STATUSES),
            s.REPORTER_ID: pick([f"EMP-{i:05d}" for i in range(3_000)]),
            s.NOTES: np.where(rng.random(n) < 0.5, "", notes),
        }
    )


def write_landing(frame: pd.DataFrame, root: Path, fmt: str) -> Path:
    path = root / s.SECURITY_REPORTS.name / f"date={DAY}" / f"part-000.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if fmt == "csv":
        pa_csv.write_csv(table, path, write_options=pa_csv.WriteOptions(quoting_style="needed"))
        return path
    typed = frame.assign(  # native Parquet types, like the sample network's Parquet drops
        **{
            s.INCIDENT_AT: pd.to_datetime(frame[s.INCIDENT_AT], utc=True).astype(
                "datetime64[ms, UTC]"
            ),
            s.REPORTED_AT: pd.to_datetime(frame[s.REPORTED_AT], utc=True).astype(
                "datetime64[ms, UTC]"
            ),
            s.IS_HVG: frame[s.IS_HVG] == "true",
            s.UNITS: frame[s.UNITS].astype("int64"),
            s.LOSS_VALUE_EUR: frame[s.LOSS_VALUE_EUR].astype("float64"),
        }
    )
    typed.to_parquet(path, index=False)
    return path


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def best_of(fns: list, repeat: int) -> list[tuple[float, float]]:
    """Best (wall, cpu) of each callable; runs alternate so both see the same machine load."""
    runs: list[list[tuple[float, float]]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            runs[i].append(timed(fn))
    return [(min(r[0] for r in rs), min(r[1] for r in rs)) for rs in runs]


def bare_pandas(fmt: str, path: Path, out: Path) -> None:
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    read(path).to_parquet(out, index=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="bench/out/ingest")
    args = parser.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    frame = make_frame(args.rows)
    print(f"{args.rows:,} rows, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    rows = []
    for fmt in ("csv", "parquet"):
        path = write_landing(frame, out / f"landing-{fmt}", fmt)
        settings = load_settings(
            None,
            landing_uri=str(out / f"landing-{fmt}"),
            lake_uri=str(out / f"lake-{fmt}"),
            pii_key=PII_KEY,
        )
        result = ingest_source(settings, s.SECURITY_REPORTS.name, DAY)  # warm-up, and a check
        assert result.accepted == args.rows, result.to_dict()
        ours, bare = best_of(
            [
                partial(ingest_source, settings, s.SECURITY_REPORTS.name, DAY),
                partial(bare_pandas, fmt, path, out / f"bare-{fmt}.parquet"),
            ],
            args.repeat,
        )
        size_mb = path.stat().st_size / 1e6
        for name, (wall, cpu) in (("riskcast ingest", ours), ("pandas read + to_parquet", bare)):
            rows.append(
                {
                    "format": fmt,
                    "pipeline": name,
                    "file_mb": round(size_mb, 1),
                    "wall_s": round(wall, 3),
                    "cpu_s": round(cpu, 3),
                    "rows_per_s": round(args.rows / wall),
                    "vs_bare_wall": round(wall / bare[0], 2),
                    "vs_bare_cpu": round(cpu / bare[1], 2),
                }
            )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    (out / "ingest.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
