"""When a drop has arrived (marker, settle time, per-site files), its deadline, and how ingest
records an incomplete or missing day (manifest, incomplete.json, one alert past the deadline)."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from forecasting.core.drops import DropSettings
from forecasting.core.errors import StorageError
from forecasting.core.lake import Lake
from forecasting.ingest import arrival
from forecasting.ingest.drop import ingest_source
from forecasting.stages import run_ingest
from tests.support.landing import csv_text, land, land_reference
from tests.support.operations import FIRST, RECON, REPORTS, day_recons, day_reports

DAY = FIRST


def _state(landing: Path, source: str = REPORTS, sites=None):
    return arrival.look(Lake(str(landing)), source, DAY, sites)


def test_settle_time_marker_and_per_site_files(tmp_path):
    landing = tmp_path / "landing"
    path = land(landing, REPORTS, "part-000.csv", csv_text(day_reports(DAY)))
    now = path.stat().st_mtime
    plain, marked = DropSettings(settle_minutes=10), DropSettings(success_marker=True)
    state = _state(landing)
    assert not state.arrived(plain, now + 60) and state.arrived(plain, now + 601)
    assert state.status(plain) == "complete"
    assert not state.arrived(marked, now + 10_000) and state.status(marked) == "incomplete"
    land(landing, REPORTS, "_SUCCESS", "")
    state = _state(landing)
    assert state.arrived(marked, now) and state.status(marked) == "complete" and "_SUCCESS" not in state.files

    sites = DropSettings(per_site_files=True, settle_minutes=0)
    land(landing, RECON, "WH-DE-000.csv", csv_text(day_recons(DAY)))
    state = _state(landing, RECON, ["WH-DE-000", "WH-DE-001"])
    assert state.missing_sites == ["WH-DE-001"] and not state.arrived(sites, now)
    assert state.status(sites) == "incomplete"
    land(landing, RECON, "WH-DE-001.part-2.csv", csv_text(day_recons(DAY, start=10)))
    assert _state(landing, RECON, ["WH-DE-000", "WH-DE-001"]).arrived(sites, now + 1)
    assert _state(tmp_path / "empty").status(plain) == "missing"


def test_deadline_is_hours_after_the_day_ends_utc():
    drop = DropSettings(deadline_hours=6)
    assert arrival.deadline(date(2024, 3, 1), drop) == datetime(2024, 3, 2, 6, tzinfo=UTC)
    due = arrival.deadline(date(2024, 3, 1), drop).timestamp()
    assert not arrival.is_overdue(date(2024, 3, 1), drop, due - 1)
    assert arrival.is_overdue(date(2024, 3, 1), drop, due)


def test_expected_sites_are_the_sites_open_on_the_day(settings_factory):
    settings = settings_factory()
    land_reference(Path(settings.landing_uri))
    (Path(settings.landing_uri) / "warehouses.csv").write_text(
        "warehouse_id,name,country,region,sqft,opened_on\nWH-DE-000,B,DE,DACH,1000,2015-04-01\n"
        "WH-DE-001,H,DE,DACH,1000,\nWH-DE-002,M,DE,DACH,1000,2024-06-01\n")  # fmt: skip
    ingest_source(settings, "warehouses", DAY)
    assert arrival.expected_sites(Lake.from_settings(settings), DAY) == ["WH-DE-000", "WH-DE-001"]


def test_a_missing_day_past_its_deadline_is_recorded_missing_and_alerted_once(settings_factory):
    settings = settings_factory()
    landing = Path(settings.landing_uri)
    land_reference(landing)
    land(landing, REPORTS, "part-000.csv", csv_text(day_reports(DAY)))
    with pytest.raises(StorageError, match="it is due by 2024-03-02 12:00 UTC"):
        ingest_source(settings, RECON, DAY, overdue=False)
    first = run_ingest(settings, [DAY], sweep=False)[0]  # long past the deadline
    second = run_ingest(settings, [DAY], sweep=False)[0]
    lake = Lake.from_settings(settings)
    assert first["sources"][RECON]["arrival"] == "missing" and first["exit_code"] == 1  # a warning
    assert not lake.exists(lake.bronze(RECON, DAY))  # a missing day is no day of zero rows
    marker = json.loads(Path(lake.incomplete_marker(RECON, DAY)).read_text())
    assert marker == {"source": RECON, "date": str(DAY), "status": "missing", "missing_sites": None}
    titles = [json.loads(line)["title"] for line in Path(lake.outbox).read_text().splitlines()]
    assert titles.count(f"drop missing: {RECON} {DAY}") == 1  # once, not again on the rerun
    alert = next(json.loads(line) for line in Path(lake.outbox).read_text().splitlines() if "drop missing" in line)
    assert alert["details"]["owner"] == settings.drops.reconciliation_logs.owner
    assert first["alerts"] and not any("drop missing" in t for t in second["alerts"] if second["alerts"][t])


def test_an_incomplete_day_lists_its_missing_sites(settings_factory):
    drops = {"reconciliation_logs": {"per_site_files": True}}
    settings = settings_factory(drops=drops)
    landing = Path(settings.landing_uri)
    land_reference(landing)
    ingest_source(settings, "warehouses", DAY)
    land(landing, REPORTS, "part-000.csv", csv_text(day_reports(DAY)))
    land(landing, RECON, "WH-DE-001.csv", csv_text(day_recons(DAY)))
    out = run_ingest(settings, [DAY], sweep=False)[0]
    assert out["sources"][RECON]["arrival"] == "incomplete"
    assert out["sources"][RECON]["missing_sites"] == ["WH-DE-000"]
    lake = Lake.from_settings(settings)
    assert json.loads(Path(lake.incomplete_marker(RECON, DAY)).read_text())["missing_sites"] == ["WH-DE-000"]
    assert len(lake.read_parquet(lake.bronze_file(RECON, DAY))) == 3  # what arrived is ingested
    alert = next(json.loads(line) for line in Path(lake.outbox).read_text().splitlines() if "incomplete" in line)
    assert "no file from 1 site(s): WH-DE-000" in alert["details"]["arrived"]


def test_a_drop_not_due_yet_is_not_alerted(settings_factory, monkeypatch):
    settings = settings_factory(drops={"security_reports": {"success_marker": True}})
    land_reference(Path(settings.landing_uri))
    land(Path(settings.landing_uri), REPORTS, "part-000.csv", csv_text(day_reports(DAY)))
    land(Path(settings.landing_uri), RECON, "part-000.csv", csv_text(day_recons(DAY)))
    monkeypatch.setattr(arrival, "now", lambda: datetime(2024, 3, 2, 1, tzinfo=UTC).timestamp())
    out = run_ingest(settings, [DAY], sweep=False)[0]
    assert out["sources"][REPORTS]["arrival"] == "incomplete" and not out["alerts"]
    assert not os.path.exists(Lake.from_settings(settings).outbox)
