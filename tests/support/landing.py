"""Landing drops for ingest tests: a few valid rows per source, written in the real layout.

``<landing>/<source>/date=D/<file>`` plus ``warehouses.csv`` / ``events.csv`` at the root;
``over`` arguments replace cells to make a row bad.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from forecasting.core import schema as s

DAY = date(2024, 3, 1)


def report(i: int, **over: str) -> dict[str, str]:
    """One valid security report as landed strings; ``over`` replaces cells."""
    row = {
        s.REPORT_ID: f"SR-{i:05d}",
        s.WAREHOUSE_ID: f"WH-DE-{i % 3:03d}",
        s.INCIDENT_AT: "2024-02-29T22:15:00Z",
        s.REPORTED_AT: "2024-03-01T07:40:00Z",
        s.SEVERITY: "SEV3",
        s.CATEGORY: "theft",
        s.SKU: f"SKU-{i:04d}",
        s.IS_HVG: "true" if i % 2 else "false",
        s.UNITS: str(i + 1),
        s.LOSS_VALUE_EUR: f"{100 + i}.25",
        s.STATUS: "confirmed",
        s.REPORTER_ID: f"EMP-{70000 + i}",
        s.NOTES: f"Seen by Jane Roe near dock {i}, badge 4711-{i}",
    }
    row.update(over)
    return row


def recon(i: int, **over: str) -> dict[str, str]:
    row = {
        s.RECON_ID: f"RC-{i:05d}",
        s.WAREHOUSE_ID: "WH-DE-001",
        s.COUNT_DATE: "2024-03-01",
        s.SKU: f"SKU-{i:04d}",
        s.IS_HVG: "true",
        s.EXPECTED_UNITS: "10",
        s.COUNTED_UNITS: "9",
        s.UNIT_VALUE_EUR: "12.5",
        s.REASON_CODE: "UNEXPLAINED",
    }
    row.update(over)
    return row


def csv_text(rows: list[dict[str, str]], columns: list[str] | None = None) -> str:
    frame = pd.DataFrame(rows, columns=columns or list(rows[0]))
    return frame.to_csv(index=False, lineterminator="\n")


def land(root: Path, source: str, name: str, data: bytes | str, day: date = DAY) -> Path:
    path = root / source / f"date={day}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def land_reference(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "warehouses.csv").write_text(
        "warehouse_id,name,country,region,sqft,opened_on\n"
        "WH-DE-000,Berlin,DE,DACH,120000,2015-04-01\nWH-DE-001,Hamburg,DE,DACH,90000.5,2018-01-15\n"
    )
    (root / "events.csv").write_text(
        "date,scope,scope_id,event_type,name\n2024-03-01,all,,peak,Spring sale\n"
    )
