"""Validation throughput: the full ``security_reports`` suite through GX vs bare pandas masks.

Builds a bronze-typed frame of ``--rows`` security reports (Arrow strings, nullable ints,
UTC timestamps) with ~1% faulty rows spread over six faults, then times

- ``gx``: ``forecasting.validation.gx.suites.validate_frame`` (GX 1.x, ephemeral context, every
  expectation of ``expectations/security_reports.json``, COMPLETE results with the index
  of every offending row), and
- ``pandas``: the same checks written as boolean masks, giving the same offending row
  positions per check,

and prints rows/s for both and their ratio (best of ``--repeat`` after one warm-up).
Checks that the two agree on every offending row. Usage:
``.venv/bin/python bench/validate.py --rows 1000000 --repeat 3``.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

from forecasting.core import schema as s
from forecasting.validation.gx.suites import load_suite, validate_frame

DAY = date(2024, 3, 4)
SITES = [f"WH-{c}-{i:03d}" for c in ("DE", "FR", "IT", "ES", "PL") for i in range(1, 13)]
END = pd.Timestamp(DAY + timedelta(days=1), tz="UTC")


def make_reports(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` bronze-typed reports of one day; about 1% of rows carry one of six faults."""
    rng = np.random.default_rng(seed)
    at = pd.Timestamp(DAY, tz="UTC") + pd.to_timedelta(rng.integers(0, 80_000, n), unit="s")
    arrow = "string[pyarrow]"
    df = pd.DataFrame(
        {
            s.REPORT_ID: pd.array(np.char.add("SR-", np.arange(n).astype("U9")), dtype=arrow),
            s.WAREHOUSE_ID: pd.array(rng.choice(SITES, n), dtype=arrow),
            s.INCIDENT_AT: at,
            s.REPORTED_AT: at + pd.to_timedelta(rng.integers(0, 3_000, n), unit="s"),
            s.SEVERITY: pd.array(rng.choice(s.SEVERITIES, n), dtype=arrow),
            s.CATEGORY: pd.array(rng.choice(s.REPORT_CATEGORIES, n), dtype=arrow),
            s.SKU: pd.array(np.where(rng.random(n) < 0.5, None, "SKU-1"), dtype=arrow),
            s.IS_HVG: pd.array(rng.random(n) < 0.3, dtype="boolean"),
            s.UNITS: pd.array(rng.integers(0, 5, n), dtype="Int64"),
            s.LOSS_VALUE_EUR: rng.random(n) * 200,
            s.STATUS: pd.array(rng.choice(s.REPORT_STATUSES, n), dtype=arrow),
            s.REPORTER_PSEUDONYM: pd.array(rng.choice(["a1b2c3d4e5f60718", None], n), dtype=arrow),
            s.HAS_NOTES: pd.array(rng.random(n) < 0.4, dtype="boolean"),
            s.SOURCE_FILE: pd.array([f"security_reports/date={DAY}/part-000.csv"] * n, dtype=arrow),
            s.SOURCE_ROW: pd.array(np.arange(1, n + 1), dtype="Int64"),
            s.INGEST_DATE: pd.Timestamp(DAY),
        }
    )
    bad = rng.choice(n, size=max(6, n // 100), replace=False)
    for k, rows in enumerate(np.array_split(bad, 6)):
        if k == 0:
            df.loc[rows, s.WAREHOUSE_ID] = "WH-XX-999"
        elif k == 1:
            df.loc[rows, s.UNITS] = -1
        elif k == 2:
            df.loc[rows, s.INCIDENT_AT] = END + pd.Timedelta(days=2)
            df.loc[rows, s.REPORTED_AT] = END + pd.Timedelta(days=2, hours=1)
        elif k == 3:
            df.loc[rows, s.REPORTED_AT] = df.loc[rows, s.INCIDENT_AT] - pd.Timedelta(hours=1)
        elif k == 4:
            df.loc[rows, s.REPORT_ID] = df.loc[0, s.REPORT_ID]
        else:
            df.loc[rows, s.SEVERITY] = "SEV9"
    return df


PARAMS = {"known_warehouse_ids": SITES, "max_timestamp": END, "min_timestamp": None, "min_day_rows": 1, "min_rows": 1,
          "max_rows": 10**8}


def pandas_checks(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The suite's checks as bare pandas masks: name -> offending row positions."""
    suite = load_suite("security_reports")["expectations"]
    required = next(e for e in suite if e["type"] == "expect_table_columns_to_match_set")
    missing = set(required["kwargs"]["column_set"]) - set(df.columns)
    assert not missing and 1 <= len(df) <= PARAMS["max_rows"], "batch-level checks failed"
    out: dict[str, np.ndarray] = {}
    for col in (s.REPORT_ID, s.WAREHOUSE_ID, s.INCIDENT_AT, s.REPORTED_AT, s.SEVERITY,
                s.CATEGORY, s.IS_HVG, s.UNITS, s.STATUS):  # fmt: skip
        out[f"expect_column_values_to_not_be_null({col})"] = df[col].isna().to_numpy()
    out[f"expect_column_values_to_be_unique({s.REPORT_ID})"] = (
        df[s.REPORT_ID].duplicated(keep=False) & df[s.REPORT_ID].notna()
    ).to_numpy()
    for col, values in ((s.WAREHOUSE_ID, SITES), (s.SEVERITY, s.SEVERITIES),
                        (s.CATEGORY, s.REPORT_CATEGORIES), (s.STATUS, s.REPORT_STATUSES)):  # fmt: skip
        out[f"expect_column_values_to_be_in_set({col})"] = (
            ~df[col].isin(values) & df[col].notna()
        ).to_numpy()
    for col in (s.UNITS, s.LOSS_VALUE_EUR):
        out[f"expect_column_values_to_be_between({col})"] = (df[col] < 0).fillna(False).to_numpy()
    for col in (s.INCIDENT_AT, s.REPORTED_AT):
        out[f"expect_column_values_to_be_between({col})"] = (df[col] >= END).to_numpy()
    pair = df[s.REPORTED_AT] < df[s.INCIDENT_AT]
    out["expect_column_pair_values_a_to_be_greater_than_b(reported_at,incident_at)"] = pair.fillna(
        False
    ).to_numpy()
    return {k: np.flatnonzero(v) for k, v in out.items()}


def _best(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up: imports, GX context, metric registry
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    df = make_reports(args.rows)
    n_exp = len(load_suite("security_reports")["expectations"])
    gx_s, gx = _best(lambda: validate_frame(df, "security_reports", PARAMS), args.repeat)
    pd_s, masks = _best(lambda: pandas_checks(df), args.repeat)
    gx_rows = {e.name: e.rows for e in gx.failed if e.rows is not None}
    pd_rows = {k: v for k, v in masks.items() if len(v)}
    assert gx_rows.keys() == pd_rows.keys(), (sorted(gx_rows), sorted(pd_rows))
    assert all(np.array_equal(np.sort(gx_rows[k]), pd_rows[k]) for k in pd_rows), "row mismatch"
    bad = int(gx.bad_rows().sum())
    print(f"rows {args.rows:,}, bad rows {bad:,}, suite expectations {n_exp}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    print("| engine | checks | seconds | rows/s |")
    print("|---|---|---|---|")
    print(f"| GX validate_frame (COMPLETE) | {n_exp} | {gx_s:.2f} | {args.rows / gx_s:,.0f} |")
    print(
        f"| pandas masks | {len(masks)} row-level + schema/count | {pd_s:.2f} | {args.rows / pd_s:,.0f} |"
    )
    print(f"GX / pandas time ratio: {gx_s / pd_s:.2f}x; both flag the same rows per check")


if __name__ == "__main__":
    main()
