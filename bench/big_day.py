"""One large reconciliation day: memory and throughput of ingest and GX validation.

    python bench/big_day.py [--rows 10000000] [--out bench/out/big_day]

Builds a landing drop for one day (a 60-warehouse sample network's reference files and
security reports, and ONE reconciliation CSV of ``--rows`` count lines in the sample
network's shape), then runs, each in its own process under ``/usr/bin/time -v`` (peak RSS of
the largest process, wall seconds):

- ``bare pyarrow``: ``pyarrow.csv.read_csv`` + ``pyarrow.parquet.write_table`` of the file;
- ``riskcast ingest --date D --no-validate``: read, type, split, write bronze (both sources),
  in blocks (the day is larger than ``intake_block_bytes``), then the same read whole
  (``RISKCAST_INTAKE_BLOCK_BYTES`` above the file's size), for comparison;
- ``riskcast validate --date D``: the GX suites on the day's bronze (both sources), in
  blocks of ``validation.block_rows``, then whole (``RISKCAST_VALIDATION__BLOCK_ROWS`` above
  the row count). Both runs leave the same files.

Then, in this process, the reconciliation suite through GX (``suites.validate_frame``) on
the bronze frame next to the same checks written as pandas masks. Timings never fail
anything; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = date(2024, 3, 4)
PII_KEY = "bench-pii-key-0123456789"
REASONS = np.array(["UNEXPLAINED", "DAMAGE", "MISCOUNT", "FOUND", "TRANSFER"])
CHUNK = 1_000_000


def build_landing(out: Path, rows: int) -> tuple[Path, list[str]]:
    """The day's landing folder; returns (the big CSV, the warehouse ids)."""
    import pandas as pd

    from forecasting.demo.generate import generate_network

    landing = out / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    generate_network(str(landing), 60, DAY - timedelta(days=27), 28, seed=1, faults=False)
    for source in ("security_reports", "reconciliation_logs"):  # the one day only: no volume history
        for folder in (landing / source).iterdir():
            if folder.name != f"date={DAY}":
                shutil.rmtree(folder)
    ids = pd.read_csv(landing / "warehouses.csv")["warehouse_id"].astype(str).tolist()
    folder = landing / "reconciliation_logs" / f"date={DAY}"
    shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path = folder / "part-000.csv"
    rng = np.random.default_rng(0)
    with pa_csv.CSVWriter(str(path), _schema()) as writer:
        for start in range(0, rows, CHUNK):
            writer.write_table(_chunk(rng, start, min(CHUNK, rows - start), ids))
    return path, ids


def _schema() -> pa.Schema:
    return pa.schema([("recon_id", pa.string()), ("warehouse_id", pa.string()), ("count_date", pa.string()),
                      ("sku", pa.string()), ("is_hvg", pa.string()), ("expected_units", pa.int64()),
                      ("counted_units", pa.int64()), ("unit_value_eur", pa.float64()), ("reason_code", pa.string())])


def _chunk(rng: np.random.Generator, start: int, n: int, ids: list[str]) -> pa.Table:
    expected = rng.integers(1, 200, n)
    counted = np.maximum(expected - rng.poisson(0.3, n), 0)
    cols = {
        "recon_id": [f"RC-{i:09d}" for i in range(start + 1, start + n + 1)],
        "warehouse_id": np.asarray(ids, dtype=object)[rng.integers(0, len(ids), n)],
        "count_date": [DAY.isoformat()] * n,
        "sku": [f"SKU-{k:06d}" for k in rng.integers(0, 999_999, n)],
        "is_hvg": np.where(rng.random(n) < 0.1, "true", "false"),
        "expected_units": expected,
        "counted_units": counted,
        "unit_value_eur": np.round(rng.gamma(2.0, 20.0, n), 2),
        "reason_code": REASONS[rng.integers(0, len(REASONS), n)],
    }
    return pa.table(cols, schema=_schema())


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall seconds and peak RSS (GiB, largest process) of ``cmd`` under /usr/bin/time -v."""
    t = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return {"wall_s": round(wall, 1), "peak_rss_gib": round(int(rss.group(1)) / 1024**2, 2) if rss else None,
            "exit_code": done.returncode}


def gx_vs_masks(lake: Path, ids: list[str]) -> dict[str, float]:
    import pandas as pd

    from forecasting.core.config import load_settings
    from forecasting.core.lake import Lake
    from forecasting.core.schema import CONTRACTS
    from forecasting.validation.gx.suites import validate_frame
    from forecasting.validation.inputs import input_frame, suite_parameters

    settings = load_settings(None, lake_uri=str(lake), landing_uri=str(lake), pii_key=PII_KEY)
    contract = CONTRACTS["reconciliation_logs"]
    frame, _ = input_frame(Lake(str(lake)), contract, DAY)
    params, _ = suite_parameters(settings, Lake(str(lake)), contract, DAY)
    validate_frame(frame.head(1000), contract.name, params)  # the GX context is built once per process
    t = time.perf_counter()
    result = validate_frame(frame, contract.name, params)
    gx = time.perf_counter() - t
    t = time.perf_counter()
    bad = np.zeros(len(frame), dtype=bool)
    for col in ("recon_id", "warehouse_id", "count_date", "sku", "is_hvg", "expected_units", "counted_units",
                "unit_value_eur", "reason_code"):
        bad |= frame[col].isna().to_numpy()
    bad |= frame["recon_id"].duplicated(keep=False).to_numpy()
    bad |= ~frame["warehouse_id"].isin(params["known_warehouse_ids"] or ids).to_numpy()
    bad |= ~frame["reason_code"].isin(REASONS).to_numpy()
    for col in ("expected_units", "counted_units", "unit_value_eur"):
        bad |= (frame[col] < 0).fillna(False).to_numpy(bool)
    bad |= (frame["count_date"] > pd.Timestamp(params["max_date"])).fillna(False).to_numpy(bool)
    masks = time.perf_counter() - t
    return {"rows": len(frame), "gx_s": round(gx, 2), "pandas_masks_s": round(masks, 2),
            "gx_over_masks": round(gx / masks, 1), "gx_failed": len(result.failed), "mask_rows_bad": int(bad.sum())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--out", default="bench/out/big_day")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    t = time.perf_counter()
    csv, ids = build_landing(out, args.rows)
    made = time.perf_counter() - t
    lake = out / "lake"
    shutil.rmtree(lake, ignore_errors=True)
    env = {**os.environ, "RISKCAST_LANDING_URI": str(out / "landing"), "RISKCAST_LAKE_URI": str(lake),
           "RISKCAST_PII_KEY": PII_KEY, "RISKCAST_RESERVES_URL": f"sqlite:///{out / 'r.db'}"}
    bin_dir = Path(sys.executable).parent
    bare = ("import sys, pyarrow.csv as c, pyarrow.parquet as q; "
            "q.write_table(c.read_csv(sys.argv[1]), sys.argv[2])")
    result = {
        "rows": args.rows, "csv_mib": round(csv.stat().st_size / 1024**2), "generate_s": round(made, 1),
        "bare pyarrow read_csv + write_table": timed([sys.executable, "-c", bare, str(csv), str(out / "bare.parquet")], env),
        "riskcast ingest --no-validate": timed([str(bin_dir / "riskcast"), "ingest", "--date", DAY.isoformat(),
                                                "--no-validate"], env),
        "riskcast validate": timed([str(bin_dir / "riskcast"), "validate", "--date", DAY.isoformat()], env),
    }
    whole = {**env, "RISKCAST_INTAKE_BLOCK_BYTES": str(2**40), "RISKCAST_VALIDATION__BLOCK_ROWS": str(2**40)}
    shutil.rmtree(lake, ignore_errors=True)
    result["riskcast ingest --no-validate, whole"] = timed(
        [str(bin_dir / "riskcast"), "ingest", "--date", DAY.isoformat(), "--no-validate"], whole)
    result["riskcast validate, whole"] = timed([str(bin_dir / "riskcast"), "validate", "--date", DAY.isoformat()], whole)
    ingest = result["riskcast ingest --no-validate"]["wall_s"]
    result["ingest throughput vs bare pyarrow"] = round(result["bare pyarrow read_csv + write_table"]["wall_s"] / ingest, 2)
    result["reconciliation suite, in process"] = gx_vs_masks(lake, ids)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
