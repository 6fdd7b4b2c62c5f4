"""Weeks of operation in small: several valid days of both daily sources, and what a day's
partition holds, for the late / amended / missing / purged / restated tests."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from forecasting.core import schema as s
from tests.support.landing import csv_text, land, land_reference, recon, report

FIRST = date(2024, 3, 1)
REPORTS, RECON = s.SECURITY_REPORTS.name, s.RECONCILIATION_LOGS.name


def day_reports(day: date, n: int = 4, start: int = 0) -> list[dict[str, str]]:
    """``n`` valid reports filed on ``day`` (ids unique per day)."""
    base = (day - FIRST).days * 100 + start
    return [report(base + i, **{s.INCIDENT_AT: f"{day - timedelta(days=1)}T22:15:00Z",
                                s.REPORTED_AT: f"{day}T07:40:00Z",
                                s.WAREHOUSE_ID: f"WH-DE-{i % 2:03d}"}) for i in range(n)]  # fmt: skip


def day_recons(day: date, n: int = 3, start: int = 0) -> list[dict[str, str]]:
    base = (day - FIRST).days * 100 + start
    return [recon(base + i, **{s.COUNT_DATE: day.isoformat()}) for i in range(n)]


def land_days(root: Path, days: list[date], reports: int = 4, recons: int = 3) -> None:
    """The reference files and, per day, one file of each daily source."""
    land_reference(root)
    for day in days:
        land(root, REPORTS, "part-000.csv", csv_text(day_reports(day, reports)), day)
        land(root, RECON, "part-000.csv", csv_text(day_recons(day, recons)), day)


def partition_bytes(lake_root: str | Path, source: str, day: date) -> dict[str, bytes]:
    """Every file of the day's live partition (bronze and quarantine), by relative path."""
    root = Path(lake_root)
    out = {}
    for folder in ("bronze", "quarantine"):
        part = root / folder / source / f"date={day}"
        out.update({str(p.relative_to(root)): p.read_bytes() for p in sorted(part.rglob("*")) if p.is_file()})
    return out


def days_from(first: date, n: int) -> list[date]:
    return [first + timedelta(days=k) for k in range(n)]


def ingested_days(settings, days: list[date]) -> dict[str, bytes]:
    """Land ``days`` and ingest them with the stage table (validated, no sweep); the bytes of
    the last day's security-report partition (what a later rerun must keep or replace)."""
    from forecasting.stages import run_ingest

    land_days(Path(settings.landing_uri), days)
    run_ingest(settings, days, sweep=False)
    return partition_bytes(settings.lake_uri, REPORTS, days[-1])
