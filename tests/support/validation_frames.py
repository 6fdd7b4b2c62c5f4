"""Tiny bronze-typed frames and lake partitions for the validation and alert tests.

Frames have exactly the columns and dtypes ingest writes (``Contract.bronze_columns``;
``string[pyarrow]``, ``Int64``, ``float64``, ``boolean``, ``datetime64[ns]`` days,
``datetime64[ns, UTC]`` instants) and are written with ``Lake.write_parquet`` where ingest
puts them: ``bronze/<source>/date=D/part.parquet``.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from forecasting.core import schema as s
from forecasting.core.lake import Lake, join
from forecasting.validation.inputs import empty_frame

DAY = date(2024, 3, 4)
SITES = ("WH-DE-001", "WH-DE-002", "WH-FR-001")


def typed(contract: s.Contract, rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts of plain values) -> a frame with the contract's bronze columns and dtypes."""
    dtypes = empty_frame(contract).dtypes.to_dict()
    frame = pd.DataFrame(rows, columns=list(dtypes))
    for col, dtype in dtypes.items():
        if str(dtype).startswith("datetime64"):
            frame[col] = pd.to_datetime(frame[col], utc="UTC" in str(dtype))
    return frame.astype(dtypes)


def reports(n: int = 6, day: date = DAY, start: int = 0) -> pd.DataFrame:
    """``n`` clean security reports dropped on ``day`` (incidents earlier that day)."""
    rows = []
    for i in range(start, start + n):
        at = pd.Timestamp(day, tz="UTC") + pd.Timedelta(minutes=30 + (7 * i) % 1200)
        rows.append(
            {
                s.REPORT_ID: f"SR-{i:06d}",
                s.WAREHOUSE_ID: SITES[i % len(SITES)],
                s.INCIDENT_AT: at,
                s.REPORTED_AT: at + pd.Timedelta(hours=2),
                s.SEVERITY: s.SEVERITIES[i % 4],
                s.CATEGORY: s.REPORT_CATEGORIES[i % 5],
                s.SKU: None if i % 2 else f"SKU-{i:04d}",
                s.IS_HVG: i % 3 == 0,
                s.UNITS: i % 4,
                s.LOSS_VALUE_EUR: 12.5 * (i % 4),
                s.STATUS: s.REPORT_STATUSES[i % 3],
                s.REPORTER_PSEUDONYM: f"{i:016x}",
                s.HAS_NOTES: i % 2 == 0,
                s.SOURCE_FILE: f"security_reports/date={day}/part-000.csv",
                s.SOURCE_ROW: i + 1,
                s.INGEST_DATE: pd.Timestamp(day),
            }
        )
    return typed(s.SECURITY_REPORTS, rows)


def recons(n: int = 6, day: date = DAY) -> pd.DataFrame:
    """``n`` clean reconciliation lines counted on ``day``."""
    rows = [
        {
            s.RECON_ID: f"RC-{i:06d}",
            s.WAREHOUSE_ID: SITES[i % len(SITES)],
            s.COUNT_DATE: pd.Timestamp(day),
            s.SKU: f"SKU-{i:04d}",
            s.IS_HVG: i % 2 == 0,
            s.EXPECTED_UNITS: 40 + i,
            s.COUNTED_UNITS: 38 + i,
            s.UNIT_VALUE_EUR: 9.5,
            s.REASON_CODE: s.REASON_CODES[i % 5],
            s.SOURCE_FILE: f"reconciliation_logs/date={day}/part-000.csv",
            s.SOURCE_ROW: i + 1,
            s.INGEST_DATE: pd.Timestamp(day),
        }
        for i in range(n)
    ]
    return typed(s.RECONCILIATION_LOGS, rows)


def warehouses(day: date = DAY) -> pd.DataFrame:
    rows = [
        {
            s.WAREHOUSE_ID: wid,
            s.WAREHOUSE_NAME: f"Site {i}",
            s.COUNTRY: wid[3:5],
            s.REGION: "DACH" if wid[3:5] == "DE" else "France",
            s.SQFT: 120_000.0 + 1000 * i,
            s.OPENED_ON: pd.Timestamp("2019-05-01"),
            s.SOURCE_FILE: "warehouses.csv",
            s.SOURCE_ROW: i + 1,
            s.INGEST_DATE: pd.Timestamp(day),
        }
        for i, wid in enumerate(SITES)
    ]
    return typed(s.WAREHOUSES, rows)


def events(day: date = DAY) -> pd.DataFrame:
    rows = [
        (pd.Timestamp("2024-05-01"), "country", "DE", "holiday", "Labour Day"),
        (pd.Timestamp("2024-11-29"), "all", None, "peak", "Black Friday"),
        (pd.Timestamp("2024-06-03"), "warehouse", "WH-FR-001", "product_launch", "Launch"),
    ]
    cols = (s.EVENT_DATE, s.SCOPE, s.SCOPE_ID, s.EVENT_TYPE, s.EVENT_NAME)
    out = [dict(zip(cols, r, strict=True)) for r in rows]
    for i, r in enumerate(out):
        r.update(
            {s.SOURCE_FILE: "events.csv", s.SOURCE_ROW: i + 1, s.INGEST_DATE: pd.Timestamp(day)}
        )
    return typed(s.EVENTS, out)


def write_bronze(lake: Lake, source: str, day: date, frame: pd.DataFrame) -> str:
    return lake.write_parquet(frame, join(lake.bronze(source, day), "part.parquet"))


def write_day(lake: Lake, day: date = DAY, n_reports: int = 6, n_recons: int = 6) -> None:
    """A clean ingested day: both snapshots and both daily sources."""
    write_bronze(lake, s.WAREHOUSES.name, day, warehouses(day))
    write_bronze(lake, s.EVENTS.name, day, events(day))
    write_bronze(lake, s.SECURITY_REPORTS.name, day, reports(n_reports, day))
    write_bronze(lake, s.RECONCILIATION_LOGS.name, day, recons(n_recons, day))


def write_history(lake: Lake, day: date = DAY, days: int = 5, rows: int = 6) -> None:
    """Clean daily partitions on the ``days`` days before ``day`` (volume history)."""
    for k in range(1, days + 1):
        write_day(lake, day - timedelta(days=k), rows, rows)
