"""Tiny hand-made bronze partitions for the audit and panel tests.

Rows are written through ``Lake.write_parquet`` with the bronze dtypes (string, Int64,
float64, boolean, datetime64[ns] days, datetime64[ns, UTC] instants), one partition per
drop day, exactly where ingest puts them: ``bronze/<source>/date=D/part.parquet``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from forecasting.core import schema as s
from forecasting.core.lake import Lake, join

DTYPES = {"str": "string", "int": "Int64", "float": "float64", "bool": "boolean"}


def report(
    rid: str,
    wh: str,
    sku: str | None,
    incident: date,
    *,
    status: str = "confirmed",
    severity: str = "SEV2",
    category: str = "theft",
    hvg: bool = True,
    units: int = 1,
    loss: float = 100.0,
) -> dict:
    at = pd.Timestamp(incident, tz="UTC") + pd.Timedelta(hours=10)
    return {
        s.REPORT_ID: rid,
        s.WAREHOUSE_ID: wh,
        s.INCIDENT_AT: at,
        s.REPORTED_AT: at + pd.Timedelta(hours=5),
        s.SEVERITY: severity,
        s.CATEGORY: category,
        s.SKU: sku,
        s.IS_HVG: hvg,
        s.UNITS: units,
        s.LOSS_VALUE_EUR: loss,
        s.STATUS: status,
        s.REPORTER_PSEUDONYM: "abcdef0123456789",
        s.HAS_NOTES: False,
    }


def recon(
    gid: str,
    wh: str,
    sku: str,
    counted_on: date,
    *,
    lost: int = 1,
    reason: str = "UNEXPLAINED",
    hvg: bool = True,
    unit_value: float = 100.0,
) -> dict:
    return {
        s.RECON_ID: gid,
        s.WAREHOUSE_ID: wh,
        s.COUNT_DATE: pd.Timestamp(counted_on),
        s.SKU: sku,
        s.IS_HVG: hvg,
        s.EXPECTED_UNITS: 10,
        s.COUNTED_UNITS: 10 - lost,
        s.UNIT_VALUE_EUR: unit_value,
        s.REASON_CODE: reason,
    }


def site(wh: str, region: str, country: str, opened: date, sqft: float = 50_000.0) -> dict:
    return {
        s.WAREHOUSE_ID: wh,
        s.WAREHOUSE_NAME: wh,
        s.COUNTRY: country,
        s.REGION: region,
        s.SQFT: sqft,
        s.OPENED_ON: pd.Timestamp(opened),
    }


def event(day: date, scope: str, scope_id: str | None, etype: str, name: str = "e") -> dict:
    return {
        s.EVENT_DATE: pd.Timestamp(day),
        s.SCOPE: scope,
        s.SCOPE_ID: scope_id,
        s.EVENT_TYPE: etype,
        s.EVENT_NAME: name,
    }


def bronze_frame(source: str, rows: list[dict], day: date) -> pd.DataFrame:
    """Rows typed as bronze, with lineage columns for the drop ``day``."""
    contract = s.CONTRACTS[source]
    data = {}
    for raw, kind in contract.columns.items():
        name = contract.pii.get(raw) or contract.free_text.get(raw) or raw
        kind = "bool" if raw in contract.free_text else kind
        values = [r.get(name) for r in rows]
        if kind == "date":
            data[name] = pd.Series(pd.to_datetime(values), dtype="datetime64[ns]")
        elif kind == "datetime":
            data[name] = pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[ns, UTC]")
        else:
            data[name] = pd.Series(values, dtype=DTYPES[kind])
    data[s.SOURCE_FILE] = pd.Series([f"{source}.csv"] * len(rows), dtype="string")
    data[s.SOURCE_ROW] = pd.Series(range(1, len(rows) + 1), dtype="Int64")
    data[s.INGEST_DATE] = pd.Series([pd.Timestamp(day)] * len(rows), dtype="datetime64[ns]")
    return pd.DataFrame(data)[contract.bronze_columns]


def write_bronze(lake: Lake, source: str, day: date, rows: list[dict]) -> str:
    uri = join(lake.bronze(source, day), "part.parquet")
    return lake.write_parquet(bronze_frame(source, rows, day), uri)


def write_days(
    lake: Lake, source: str, first: date, last: date, rows: list[dict], key: str
) -> None:
    """Partitions for ``first``, ``last`` and every day in between that has rows (by ``key`` day).

    Quiet days without a drop are legal in the lake (nothing arrived); skipping them keeps
    the tests fast.
    """
    by_day: dict[date, list[dict]] = {first: [], last: []}
    for r in rows:
        day = pd.Timestamp(r[key]).date()
        assert first <= day <= last, day
        by_day.setdefault(day, []).append({k: v for k, v in r.items() if not k.startswith("_")})
    for day, day_rows in sorted(by_day.items()):
        write_bronze(lake, source, day, day_rows)
