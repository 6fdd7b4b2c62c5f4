"""The landing sweep: late, amended and removed files of past days become restatements, each
byte-identical to an on-time ingest of the final files, recorded and alerted once; purged
days are not amendments; a refused amendment keeps the good copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from forecasting.core.lake import Lake
from forecasting.ingest.retention import purge_landing
from forecasting.stages import run_ingest
from forecasting.validation.sweep import sweep_after
from tests.support.landing import csv_text, land
from tests.support.operations import (
    FIRST,
    RECON,
    REPORTS,
    day_recons,
    day_reports,
    days_from,
    land_days,
    partition_bytes,
)

DAYS = days_from(FIRST, 6)
LATE = DAYS[2]


@pytest.fixture
def lake_of(settings_factory, tmp_path):
    def make(name: str):
        return settings_factory(landing_uri=str(tmp_path / name / "landing"), lake_uri=str(tmp_path / name / "lake"))
    return make


def _outbox(settings) -> list[dict]:
    path = Path(Lake.from_settings(settings).outbox)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _ingest(settings, days):
    return run_ingest(settings, days, sweep=False)


def test_a_late_file_restates_its_day_byte_identical_to_an_on_time_ingest(lake_of):
    late, on_time = lake_of("late"), lake_of("on_time")
    for settings in (late, on_time):
        land_days(Path(settings.landing_uri), DAYS)
    extra = csv_text(day_recons(LATE, 2, start=50))
    land(Path(on_time.landing_uri), RECON, "part-001.csv", extra, LATE)
    _ingest(on_time, DAYS)

    _ingest(late, DAYS[:-1])
    before = partition_bytes(late.lake_uri, RECON, LATE)
    land(Path(late.landing_uri), RECON, "part-001.csv", extra, LATE)  # lands 3 days late
    _ingest(late, DAYS[-1:])
    swept = sweep_after(late, DAYS[-1:])

    assert [r["date"] for r in swept["restated"]] == [LATE.isoformat()]
    record = swept["restated"][0]
    assert record["added"] == [f"{RECON}/date={LATE}/part-001.csv"] and not record["changed"]
    assert (record["rows_before"], record["rows_after"]) == (3, 5)
    assert record["reason"] == f"{RECON} {LATE}, +2 rows"
    after = partition_bytes(late.lake_uri, RECON, LATE)
    assert after != before
    assert after == partition_bytes(on_time.lake_uri, RECON, LATE)  # bronze, quarantine, manifests
    lake = Lake.from_settings(late)
    stored = json.loads(Path(lake.restatement(RECON, LATE, record["landing_digest"])).read_text())
    assert stored["status"] == "restated" and stored["rows_after"] == 5
    assert not list(Path(late.lake_uri, "_staging").rglob("*.*"))  # swapped in, nothing left aside

    alerts = [a for a in _outbox(late) if a["title"].startswith("restated:")]
    assert len(alerts) == 1 and "+2" in alerts[0]["summary"]
    again = sweep_after(late, DAYS[-1:])  # the next run: nothing new, no second alert
    assert not again["restated"] and not again["alerts"]
    assert len([a for a in _outbox(late) if a["title"].startswith("restated:")]) == 1


def test_an_amended_file_of_the_same_size_and_a_removed_file_are_restatements(lake_of):
    settings = lake_of("amend")
    landing = Path(settings.landing_uri)
    land_days(landing, DAYS[:-1])
    land(landing, REPORTS, "part-001.csv", csv_text(day_reports(LATE, 2, start=50)), LATE)
    _ingest(settings, DAYS[:-1])
    rows = day_reports(LATE, 4)
    rows[1]["status"] = "unconfirmed"  # an investigation changed one report
    land(landing, REPORTS, "part-000.csv", csv_text(rows), LATE)
    (landing / REPORTS / f"date={LATE}" / "part-001.csv").unlink()
    land_days(landing, DAYS[-1:])
    _ingest(settings, DAYS[-1:])
    swept = sweep_after(settings, DAYS[-1:])
    (record,) = swept["restated"]
    assert record["changed"] == [f"{REPORTS}/date={LATE}/part-000.csv"]
    assert record["removed"] == [f"{REPORTS}/date={LATE}/part-001.csv"]
    assert (record["rows_before"], record["rows_after"]) == (6, 4)
    bronze = Lake.from_settings(settings).read_parquet(Lake.from_settings(settings).bronze_file(REPORTS, LATE))
    assert sorted(bronze["status"].astype(str)) == ["confirmed"] * 3 + ["unconfirmed"]


def test_same_size_content_change_is_found_by_its_sha256(lake_of):
    settings = lake_of("sha")
    landing = Path(settings.landing_uri)
    land_days(landing, DAYS[:-1])
    _ingest(settings, DAYS[:-1])
    path = landing / RECON / f"date={LATE}" / "part-000.csv"
    text = path.read_text()
    path.write_text(text.replace(",9,", ",8,", 1))  # counted 9 -> 8: same size, new content
    land_days(landing, DAYS[-1:])
    _ingest(settings, DAYS[-1:])
    (record,) = sweep_after(settings, DAYS[-1:])["restated"]
    assert record["changed"] == [f"{RECON}/date={LATE}/part-000.csv"]
    assert record["rows_before"] == record["rows_after"] == 3


def test_a_purged_day_is_not_an_amendment_and_a_rerun_keeps_its_bronze(lake_of):
    settings = lake_of("purge").model_copy(update={"landing_retention_days": 2})
    landing = Path(settings.landing_uri)
    land_days(landing, DAYS)
    _ingest(settings, DAYS)
    kept = partition_bytes(settings.lake_uri, REPORTS, DAYS[0])
    purged = purge_landing(settings, DAYS[-1])
    assert len(purged["purged"]) == 2 * 3  # days 0..2 of both sources are older than 2 days
    assert not (landing / REPORTS / f"date={DAYS[0]}").exists()
    swept = sweep_after(settings, DAYS[-1:])
    assert not swept["restated"] and not swept["vanished"] and not swept["refused"]
    rerun = run_ingest(settings, [DAYS[0]], sweep=False)[0]
    assert rerun["exit_code"] == 0, rerun
    assert "deleted by retention" in " ".join(rerun["sources"][REPORTS]["warnings"])
    assert partition_bytes(settings.lake_uri, REPORTS, DAYS[0]) == kept


def test_a_broken_amendment_is_refused_once_and_the_good_copy_stays(lake_of):
    settings = lake_of("refused")
    landing = Path(settings.landing_uri)
    land_days(landing, DAYS[:-1])
    _ingest(settings, DAYS[:-1])
    good = partition_bytes(settings.lake_uri, RECON, LATE)
    rows = [{k: v for k, v in r.items() if k != "reason_code"} for r in day_recons(LATE, 3)]
    land(landing, RECON, "part-000.csv", csv_text(rows), LATE)  # a required column lost
    land_days(landing, DAYS[-1:])
    _ingest(settings, DAYS[-1:])
    swept = sweep_after(settings, DAYS[-1:])
    (record,) = swept["refused"]
    assert "'reason_code' is missing" in record["reason"] and not swept["restated"]
    assert partition_bytes(settings.lake_uri, RECON, LATE) == good
    again = sweep_after(settings, DAYS[-1:])
    assert not again["refused"] and not again["alerts"]  # the same files: not tried, not alerted again
    refused = [a for a in _outbox(settings) if a["title"].startswith("amendment refused")]
    assert len(refused) == 1


def test_a_rejected_amendment_keeps_the_good_copy_and_alerts_with_the_rejected_rows(lake_of):
    settings = lake_of("rejected")
    landing = Path(settings.landing_uri)
    land_days(landing, DAYS[:-1])
    _ingest(settings, DAYS[:-1])
    good = partition_bytes(settings.lake_uri, REPORTS, LATE)
    rows = [{**r, "severity": "SEV9"} for r in day_reports(LATE, 4)]  # every row breaks the value set
    land(landing, REPORTS, "part-000.csv", csv_text(rows), LATE)
    land_days(landing, DAYS[-1:])
    _ingest(settings, DAYS[-1:])
    (record,) = sweep_after(settings, DAYS[-1:])["refused"]
    assert "batch rejected" in record["reason"] and "previous bronze is kept" in record["reason"]
    assert partition_bytes(settings.lake_uri, REPORTS, LATE) == good
    (alert,) = [a for a in _outbox(settings) if a["title"].startswith("amendment refused")]
    assert "previous bronze, quarantine and manifests are kept" in alert["summary"]
    staged = Path(settings.lake_uri, "_staging", "quarantine", REPORTS, f"date={LATE}", "validation.parquet")
    assert staged.exists()  # the rejected attempt, for inspection; the next attempt clears it


def test_a_vanished_folder_alerts_once_and_keeps_bronze(lake_of):
    settings = lake_of("vanished")
    landing = Path(settings.landing_uri)
    land_days(landing, DAYS)
    _ingest(settings, DAYS)
    kept = partition_bytes(settings.lake_uri, RECON, LATE)
    shutil.rmtree(landing / RECON / f"date={LATE}")
    first, second = sweep_after(settings, DAYS[-1:]), sweep_after(settings, DAYS[-1:])
    assert [v["date"] for v in first["vanished"]] == [LATE.isoformat()]
    assert list(first["alerts"].values()) == [["file"]] and list(second["alerts"].values()) == [[]]
    assert partition_bytes(settings.lake_uri, RECON, LATE) == kept


def test_a_day_never_ingested_is_left_to_its_own_run(lake_of):
    settings = lake_of("own_run")
    land_days(Path(settings.landing_uri), DAYS)
    _ingest(settings, DAYS[:2])
    swept = sweep_after(settings, DAYS[-1:])
    assert not swept["restated"] and swept["days_checked"] == 2 * settings.lookback_days
    assert not Path(Lake.from_settings(settings).bronze(REPORTS, DAYS[3])).exists()
