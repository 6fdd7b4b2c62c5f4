"""Has a daily drop arrived? What the landing area holds for a source-day, judged by its settings.

A drop has arrived (``settings.drops.<source>``, ``core.drops.DropSettings``):

- with ``success_marker``: once ``_SUCCESS`` is in the day folder (the source says so);
- else once no file was added or changed for ``settle_minutes`` (newest modification time);
  a folder holding only ``_SUCCESS`` has arrived too: the source says its day has no row;
- with ``per_site_files`` also only once every site open on the day (latest warehouses
  snapshot) has its file ``<warehouse_id>[.<part>].<ext>``.

Its deadline is ``deadline_hours`` after the end of the day (UTC). The ingest DAG's sensor
(``riskcast_airflow.drop_sensor``) waits on the triggerer until the drop has arrived or the
deadline passed; then the day is ingested with what is there. At ingest ``status`` says what
the day is: ``complete``; ``incomplete`` (no marker, or sites without a file); ``missing``
(nothing arrived). The wall clock is used only here, to wait and to tell an overdue day
from one not due yet: what a day's files hold never depends on it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from forecasting.core.drops import DropSettings
from forecasting.core.lake import Lake
from forecasting.core.layout import SUCCESS_MARKER
from forecasting.core.schema import OPENED_ON, WAREHOUSE_ID, WAREHOUSES
from forecasting.ingest.history import read_snapshot

COMPLETE, INCOMPLETE, MISSING = "complete", "incomplete", "missing"


@dataclass
class DropState:
    """What the landing area holds for a source-day at one moment. ``files``: data file name
    -> ``{"size", "mtime"}``; ``missing_sites``: open sites without their own file (None when
    the source does not deliver per-site files)."""

    source: str
    day: date
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    marker: bool = False
    missing_sites: list[str] | None = None

    @property
    def newest(self) -> float | None:
        stamps = [f["mtime"] for f in self.files.values() if f.get("mtime") is not None]
        return max(stamps) if stamps else None

    def settled(self, drop: DropSettings, now: float) -> bool:
        """No file added or changed for ``settle_minutes`` (a store without times: settled)."""
        newest = self.newest
        return newest is None or now - newest >= drop.settle_minutes * 60

    def arrived(self, drop: DropSettings, now: float) -> bool:
        if drop.success_marker:
            return self.marker
        if not (self.files or self.marker) or self.missing_sites:  # a marker alone: a day of no rows
            return False
        return self.settled(drop, now)

    def status(self, drop: DropSettings) -> str:
        """The day as ingest records it. Without a marker or per-site files, files there
        are a complete day (whether they were still changing cannot be told from the files:
        a later change is a restatement, ``validation.sweep``)."""
        if not self.files and not self.marker:
            return MISSING
        if (drop.success_marker and not self.marker) or self.missing_sites:
            return INCOMPLETE
        return COMPLETE

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        return data


def look(landing: Lake, source: str, day: date, expected_sites: list[str] | None = None) -> DropState:
    """The source-day's landing folder now (one recursive listing); ``expected_sites``: the
    sites that must each deliver a file (per-site sources), else None."""
    found = landing.files(landing.landing_day(source, day))
    marker = SUCCESS_MARKER in found
    files = {name: info for name, info in found.items() if name != SUCCESS_MARKER}
    missing = None
    if expected_sites is not None:
        delivered = {file_site(name) for name in files}
        missing = sorted(set(expected_sites) - delivered)
    return DropState(source, day, files, marker, missing)


def file_site(name: str) -> str:
    """The site a per-site file belongs to: its name up to the first dot (``W007.csv``)."""
    return name.rsplit("/", 1)[-1].split(".", 1)[0]


def deadline(day: date, drop: DropSettings) -> datetime:
    """When the drop of ``day`` is due: ``deadline_hours`` after the day ended (UTC)."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=drop.deadline_hours
    )


def now() -> float:
    """The wall clock (epoch seconds): only ever to decide how long to wait for a drop."""
    return time.time()


def is_overdue(day: date, drop: DropSettings, now: float) -> bool:
    return now >= deadline(day, drop).timestamp()


def expected_sites(lake: Lake, day: date) -> list[str]:
    """Sites open on ``day`` by the latest warehouses snapshot on or before it ([] if none)."""
    sites = read_snapshot(lake, WAREHOUSES.name, day, required=False)
    if sites.empty:
        return []
    opened = pd.to_datetime(sites[OPENED_ON], errors="coerce")
    open_now = opened.isna() | (opened <= pd.Timestamp(day))
    return sorted(set(sites.loc[open_now.to_numpy(), WAREHOUSE_ID].dropna().astype(str)))


def describe(state: DropState, drop: DropSettings) -> str:
    """What arrived, in words, for the overdue alert."""
    if not state.files:
        return "only the _SUCCESS marker arrived (no data file)" if state.marker else (
            "nothing arrived (no data file in the day folder)")
    size = sum(int(f.get("size") or 0) for f in state.files.values())
    parts = [f"{len(state.files)} file(s), {size:,} bytes: {', '.join(sorted(state.files)[:10])}"]
    if drop.success_marker:
        parts.append("the _SUCCESS marker is " + ("there" if state.marker else "missing"))
    if state.missing_sites:
        parts.append(f"no file from {len(state.missing_sites)} site(s): {', '.join(state.missing_sites[:20])}")
    return "; ".join(parts)
