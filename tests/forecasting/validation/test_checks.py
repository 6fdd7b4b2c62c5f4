"""The validation stage on a real lake: quarantine with reasons, batch failures, exit codes,
volume history, referential checks, byte-identical reruns, Data Docs and the CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.core import schema as s
from forecasting.core.errors import DataContractError
from forecasting.core.lake import Lake, join
from forecasting.stages import run_ingest, run_validate
from forecasting.validation.checks import validate_source
from tests.support.landing import DAY as LANDED_DAY
from tests.support.landing import csv_text, land, recon
from tests.support.landing import report as landed_report
from tests.support.validation_frames import (
    DAY,
    recons,
    reports,
    warehouses,
    write_bronze,
    write_day,
    write_history,
)

REPORTS, RECON = s.SECURITY_REPORTS.name, s.RECONCILIATION_LOGS.name


@pytest.fixture
def lake_settings(settings_factory):
    settings = settings_factory()
    return settings, Lake.from_settings(settings)


def _bronze(lake: Lake, source: str, day=DAY) -> pd.DataFrame | None:
    uri = join(lake.bronze(source, day), "part.parquet")
    return lake.read_parquet(uri) if lake.exists(uri) else None


def _quarantine(lake: Lake, source: str, day=DAY) -> pd.DataFrame | None:
    uri = join(lake.quarantine(source, day), "validation.parquet")
    return lake.read_parquet(uri) if lake.exists(uri) else None


def _faulty_reports() -> pd.DataFrame:
    frame = reports(12)
    frame.loc[2, s.SEVERITY] = "SEV9"
    frame.loc[5, s.UNITS] = -2
    frame.loc[5, s.WAREHOUSE_ID] = "WH-XX-999"
    return frame


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "alerts" not in p.parts
    }


def test_row_level_failures_go_to_quarantine_with_expectation_names(lake_settings):
    settings, lake = lake_settings
    write_day(lake)
    write_bronze(lake, REPORTS, DAY, _faulty_reports())
    result = validate_source(settings, REPORTS, DAY)
    assert result.status == "warnings" and result.exit_code == 1
    assert (result.input_rows, result.validated_rows, result.quarantined_rows) == (12, 10, 2)
    held = _quarantine(lake, REPORTS).set_index(s.REPORT_ID)[s.REASON]
    assert held.to_dict() == {
        "SR-000002": "expect_column_values_to_be_in_set(severity)",
        "SR-000005": "expect_column_values_to_be_in_set(warehouse_id); "
        "expect_column_values_to_be_between(units)",
    }
    kept = _bronze(lake, REPORTS)
    assert len(kept) == 10 and not set(kept[s.REPORT_ID]) & set(held.index)
    assert kept.dtypes.astype(str).to_dict() == reports().dtypes.astype(str).to_dict()
    names = {f["name"] for f in result.failed}
    assert names == {
        "expect_column_values_to_be_in_set(severity)",
        "expect_column_values_to_be_in_set(warehouse_id)",
        "expect_column_values_to_be_between(units)",
    }


def test_too_many_bad_rows_escalate_to_a_batch_failure(settings_factory):
    settings = settings_factory(validation={"max_bad_row_share": 0.1})
    lake = Lake.from_settings(settings)
    write_day(lake)
    write_bronze(lake, REPORTS, DAY, _faulty_reports())  # 2 of 12 bad: 16.7% > 10%
    with pytest.raises(DataContractError, match="max_bad_row_share") as err:
        validate_source(settings, REPORTS, DAY)
    assert "riskcast ingest --date 2024-03-04" in str(err.value)
    assert _bronze(lake, REPORTS) is None
    held = _quarantine(lake, REPORTS).set_index(s.REPORT_ID)[s.REASON]
    assert len(held) == 12
    assert held["SR-000002"] == "expect_column_values_to_be_in_set(severity); max_bad_row_share"
    assert held["SR-000000"] == "max_bad_row_share"


def test_validate_exit_codes_and_alerts(lake_settings):
    settings, lake = lake_settings
    write_day(lake)
    clean = run_validate(settings, DAY)
    assert clean["exit_code"] == 0 and not clean["alerts"]
    assert {source: v["status"] for source, v in clean["sources"].items()} == dict.fromkeys(
        (s.WAREHOUSES.name, s.EVENTS.name, REPORTS, RECON), "passed"
    )
    write_day(lake, DAY + timedelta(days=1))
    write_bronze(lake, REPORTS, DAY + timedelta(days=1), _faulty_reports())
    warned = run_validate(settings, DAY + timedelta(days=1))
    assert warned["exit_code"] == 1
    assert list(warned["alerts"]) == ["data quality warning: security_reports 2024-03-05"]
    outbox = [json.loads(line) for line in Path(lake.outbox).read_text().splitlines()]
    assert len(outbox) == 1 and outbox[0]["severity"] == "warning"
    assert {r[s.REPORT_ID] for r in outbox[0]["rows"]} == {"SR-000002", "SR-000005"}
    assert outbox[0]["links"]["data docs"].endswith("data_docs/index.html")


def test_an_empty_day_stops_the_source_with_exit_2_and_an_alert(lake_settings):
    settings, lake = lake_settings
    write_day(lake, n_reports=0)
    checked = run_validate(settings, DAY)
    assert checked["exit_code"] == 2
    bad = checked["sources"][REPORTS]
    assert bad["blocking"] == ["expect_table_row_count_to_be_between(non_empty)"]
    assert not lake.exists(lake.bronze(REPORTS, DAY))  # nothing of the source and date in bronze
    assert _bronze(lake, RECON) is not None  # the other source goes on
    alert = json.loads(Path(lake.outbox).read_text().splitlines()[0])
    assert alert["severity"] == "critical" and alert["source"] == REPORTS
    # the fix is a new drop; the check's GX name stays in the details for engineers
    assert alert["summary"].startswith(f"No {REPORTS} rows arrived for {DAY}") and "riskcast ingest --date" in alert["summary"]
    assert "non_empty" in " ".join(alert["details"]["failed expectations"])


def test_missing_bronze_of_a_daily_source_is_critical(lake_settings):
    settings, lake = lake_settings
    write_day(lake)
    lake.remove(lake.bronze(RECON, DAY))  # ingest stopped the source (missing column)
    checked = run_validate(settings, DAY)
    bad = checked["sources"][RECON]
    assert bad["status"] == "critical" and any("ingest wrote none" in n for n in bad["notes"])


def test_missing_column_in_bronze_is_a_batch_failure(lake_settings):
    settings, lake = lake_settings
    write_day(lake)
    write_bronze(lake, RECON, DAY, recons().drop(columns=[s.REASON_CODE]))
    with pytest.raises(DataContractError, match="expect_table_columns_to_match_set"):
        validate_source(settings, RECON, DAY)
    assert not lake.exists(lake.bronze(RECON, DAY))
    assert len(_quarantine(lake, RECON)) == 6


def test_volume_bounds_come_from_recent_partitions(lake_settings):
    settings, lake = lake_settings
    write_history(lake, days=4, rows=6)
    write_day(lake, n_reports=60)  # 10x the usual day
    with pytest.raises(DataContractError, match=r"row_count_to_be_between\(volume\)"):
        validate_source(settings, REPORTS, DAY)
    ok_day = DAY + timedelta(days=1)
    write_day(lake, ok_day, n_reports=9)
    result = validate_source(settings, REPORTS, ok_day)
    assert result.status == "passed"
    # the rejected spike day left no bronze partition, so it does not count as history
    assert any(
        n.startswith("volume bounds [0, 24] rows") and "from 4 earlier days" in n for n in result.notes
    )


def test_a_day_far_below_recent_volume_is_rejected_by_default(lake_settings):
    settings, lake = lake_settings
    write_history(lake, days=4, rows=20)
    write_day(lake, n_reports=1)  # a lost file or a cut-off export: 1 row where 20 are usual
    with pytest.raises(DataContractError, match=r"row_count_to_be_between\(volume\)"):
        validate_source(settings, REPORTS, DAY)


def test_volume_check_is_skipped_without_history(lake_settings):
    settings, lake = lake_settings
    write_day(lake, n_reports=600)
    result = validate_source(settings, REPORTS, DAY)
    assert result.status == "passed"
    assert any("volume check skipped" in n for n in result.notes)


def test_known_warehouses_come_from_the_latest_snapshot(settings_factory):
    settings = settings_factory(validation={"max_bad_row_share": 1.0})
    lake = Lake.from_settings(settings)
    old = warehouses(DAY - timedelta(days=3)).iloc[:1]  # only WH-DE-001 back then
    write_bronze(lake, s.WAREHOUSES.name, DAY - timedelta(days=3), old)
    write_bronze(lake, REPORTS, DAY, reports(6))
    result = validate_source(settings, REPORTS, DAY)
    assert result.quarantined_rows == 4  # rows at WH-DE-002 / WH-FR-001
    write_bronze(lake, s.WAREHOUSES.name, DAY, warehouses())
    write_bronze(lake, REPORTS, DAY, reports(6))
    lake.remove(lake.quarantine(REPORTS, DAY))  # as a re-ingest does
    assert validate_source(settings, REPORTS, DAY).status == "passed"
    no_snapshot = DAY - timedelta(days=10)
    write_bronze(lake, REPORTS, no_snapshot, reports(6, no_snapshot))
    skipped = validate_source(settings, REPORTS, no_snapshot)
    assert skipped.status == "passed" and any(
        "referential check skipped" in n for n in skipped.notes
    )


def test_reruns_are_byte_identical_and_recover_quarantined_rows(lake_settings, tmp_path):
    settings, lake = lake_settings
    write_day(lake)
    write_bronze(lake, REPORTS, DAY, _faulty_reports())
    write_bronze(lake, RECON, DAY, recons(0))
    first = run_validate(settings, DAY)
    before = _digests(tmp_path / "lake")
    again = run_validate(settings, DAY)
    assert _digests(tmp_path / "lake") == before
    assert again == first
    reports_run = again["sources"][REPORTS]
    assert reports_run["input_rows"] == 12  # bronze (10) + quarantine (2) joined back
    # a re-ingest rewrites bronze and clears the quarantine partition: same outcome again
    write_bronze(lake, REPORTS, DAY, _faulty_reports())
    lake.remove(lake.quarantine(REPORTS, DAY))
    run_validate(settings, DAY)
    assert _digests(tmp_path / "lake") == before


def test_input_rows_equal_bronze_plus_quarantine(lake_settings):
    settings, lake = lake_settings
    write_day(lake)
    frame = pd.concat([_faulty_reports(), reports(4, start=20)], ignore_index=True)
    frame.loc[14, s.REPORTED_AT] = pd.Timestamp(DAY, tz="UTC")  # before its incident
    write_bronze(lake, REPORTS, DAY, frame)
    result = validate_source(settings, REPORTS, DAY)
    kept, held = _bronze(lake, REPORTS), _quarantine(lake, REPORTS)
    assert len(kept) + len(held) == len(frame) == result.input_rows
    restored = pd.concat([kept, held.drop(columns=[s.REASON])]).sort_values(s.REPORT_ID)
    expected = frame.sort_values(s.REPORT_ID)
    pd.testing.assert_frame_equal(
        restored.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )
    assert restored.dtypes.astype(str).to_dict() == expected.dtypes.astype(str).to_dict()
    manifest = lake.read_json(join(lake.quarantine(REPORTS, DAY), "validation.json"))
    assert manifest["input_rows"] == 16 and manifest["quarantined_rows"] == 3


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k == "href" and v]

    def handle_data(self, data):
        self.text.append(data)


def test_data_docs_index_lists_suites_and_runs(lake_settings, tmp_path):
    settings, lake = lake_settings
    write_day(lake)
    write_bronze(lake, REPORTS, DAY, _faulty_reports())
    checked = run_validate(settings, DAY)
    index = Path(checked["data_docs"])
    assert index == tmp_path / "lake" / "data_docs" / "index.html"
    page = _Page()
    page.feed(index.read_text())
    text = " ".join(page.text)
    for suite in (REPORTS, RECON, s.WAREHOUSES.name, s.EVENTS.name):
        assert f"expectations/{suite}.html" in text  # suite pages listed (in the table's JSON)
        # the results table is filled from JSON in a <script>: the run's page is linked there
        run_page = f"validations/{suite}/2024-03-04/20240304T000000.000000Z/{suite}-2024-03-04.html"
        assert run_page in text
        assert (index.parent / run_page).is_file() and (
            index.parent / f"expectations/{suite}.html"
        ).is_file()
    run = checked["sources"][REPORTS]
    own = _Page()
    own.feed(Path(run["data_docs"]["page"]).read_text())
    body = " ".join(own.text)
    assert "expect_column_values_to_be_in_set" in body or "values must belong to this set" in body
    assert "SEV9" in body  # the offending value is shown


def test_data_docs_render_in_a_headless_browser(lake_settings, tmp_path):
    import shutil
    import subprocess

    browser = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if browser is None:
        pytest.skip("no Chromium on PATH: Data Docs are checked with html.parser only")
    settings, lake = lake_settings
    write_day(lake)
    index = run_validate(settings, DAY)["data_docs"]
    out = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", f"file://{index}"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "security_reports" in out.stdout


def test_cli_validate_exit_codes(lake_settings, monkeypatch):
    from forecasting.cli import app

    settings, lake = lake_settings
    monkeypatch.setenv("RISKCAST_LAKE_URI", settings.lake_uri)
    write_day(lake)
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", "--date", "2024-03-04"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["exit_code"] == 0
    write_bronze(lake, REPORTS, DAY, _faulty_reports())
    lake.remove(lake.quarantine(REPORTS, DAY))
    assert runner.invoke(app, ["validate", "--date", "2024-03-04"]).exit_code == 1
    write_bronze(lake, REPORTS, DAY, reports(0))
    lake.remove(lake.quarantine(REPORTS, DAY))
    failed = runner.invoke(app, ["validate", "--date", "2024-03-04"])
    assert failed.exit_code == 2
    assert json.loads(failed.stdout)["sources"][REPORTS]["status"] == "critical"


# (fault in demo_faults.FAULTS, expectation that must name its rows in quarantine)
ROW_FAULTS = {
    "unknown_warehouse": "expect_column_values_to_be_in_set(warehouse_id)",
    "negative_units": "expect_column_values_to_be_between(units)",
    "future_timestamp": "expect_column_values_to_be_between(incident_at)",
    "reported_before_incident": "expect_column_pair_values_a_to_be_greater_than_b(reported_at,incident_at)",
    "duplicate_report_id": "expect_column_values_to_be_unique(report_id)",
    "severity_out_of_set": "expect_column_values_to_be_in_set(severity)",
}
DAY_FAULTS = {
    "volume_spike": "expect_table_row_count_to_be_between(volume)",
    # a header-only drop is a quiet day (non_empty passes); on 40 busy sites its zero is
    # implausible, and the volume band rejects it
    "empty_day": "expect_table_row_count_to_be_between(volume)",
}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_faulty_demo_days_end_to_end(settings_factory, tmp_path):
    """Acceptance: demo-data --faults, then ingest + validate the faulty days."""
    from datetime import date

    from forecasting.demo.generate import generate_network
    landing = tmp_path / "landing"
    generate_network(str(landing), 40, date(2024, 1, 1), 40, 3, True)
    faults = json.loads((landing / "_truth" / "faults.json").read_text())
    by_name = {
        f["fault"]: f for f in faults if f["fault"] in {*ROW_FAULTS, *DAY_FAULTS, "missing_column"}
    }
    fault_days = sorted({date.fromisoformat(f["date"]) for f in by_name.values()})
    history = [date(2024, 1, 1) + timedelta(days=i) for i in range(4)]
    settings = settings_factory()
    lake = Lake.from_settings(settings)
    days = {d.isoformat(): d for d in history + fault_days}
    # day by day, as the daily DAG runs: each day's alerts on their own (a backfill digests them)
    summaries = {d.isoformat(): run_ingest(settings, [d], sweep=False)[0] for d in days.values()}
    outbox = [json.loads(x) for x in Path(lake.outbox).read_text().splitlines()]

    for name, expectation in ROW_FAULTS.items():
        fault = by_name[name]
        day = days[fault["date"]]
        summary = summaries[fault["date"]]
        assert summary["exit_code"] == 1, (name, summary["errors"])
        held = _quarantine(lake, REPORTS, day)
        reasons = held.set_index(s.REPORT_ID)[s.REASON]
        for rid in fault["ids"]:  # a duplicated id: both versions are held back
            assert all(expectation in r for r in reasons.loc[[rid]]), (name, rid)
        kept = _bronze(lake, REPORTS, day)
        assert not set(kept[s.REPORT_ID]) & set(fault["ids"])
        ingested = summary["sources"][REPORTS]
        validated = summary["validation"]["sources"][REPORTS]
        assert ingested["read"] == ingested["accepted"] + ingested["quarantined"]
        assert validated["input_rows"] == ingested["accepted"] == len(kept) + len(held)
        (alert,) = [a for a in outbox if a["date"] == fault["date"] and a["source"] == REPORTS]
        assert {r[s.REPORT_ID] for r in alert["rows"]} >= set(fault["ids"])
        assert Path(alert["links"]["data docs"]).is_file()

    for name, expectation in DAY_FAULTS.items():
        fault = by_name[name]
        summary = summaries[fault["date"]]
        assert summary["exit_code"] == 2
        # the empty day's zero is out of the volume band of a 40-site network
        assert expectation in summary["validation"]["sources"][REPORTS]["blocking"]
        assert not lake.exists(lake.bronze(REPORTS, days[fault["date"]]))
        alerts = [a for a in outbox if a["date"] == fault["date"] and a["source"] == REPORTS]
        assert [a["severity"] for a in alerts] == ["critical"]

    missing = by_name["missing_column"]
    summary = summaries[missing["date"]]
    assert summary["exit_code"] == 2 and summary["sources"][RECON]["error"]
    assert not lake.exists(lake.bronze(RECON, days[missing["date"]]))
    alerts = [a for a in outbox if a["date"] == missing["date"] and a["source"] == RECON]
    assert [a["kind"] for a in alerts] == ["contract"]

    for d in history:
        assert summaries[d.isoformat()]["exit_code"] == 0
    page = _Page()
    page.feed((tmp_path / "lake" / "data_docs" / "index.html").read_text())
    assert "security_reports" in " ".join(page.text)


def test_a_rejected_batch_can_be_returned_for_alerting(lake_settings):
    from forecasting.validation.alerting import alert_day

    settings, lake = lake_settings
    write_day(lake, n_reports=0)
    checked = validate_source(settings, REPORTS, DAY, raise_on_critical=False)
    assert checked.status == "critical" and checked.exit_code == 2
    sent, failed = alert_day(settings, DAY, [], [checked])
    assert list(sent) == ["data quality failure: security_reports 2024-03-04"] and not failed


def test_a_site_held_back_in_the_snapshot_rejects_only_its_own_rows(settings_factory):
    """Reference failures stay proportionate: a warehouse row that fails (bad sqft) takes
    only that site's reports with it, named; the day's other reports are kept, even when
    the site's rows alone exceed max_bad_row_share."""
    settings = settings_factory()
    landing = Path(settings.landing_uri)
    (landing / "warehouses.csv").parent.mkdir(parents=True, exist_ok=True)
    (landing / "warehouses.csv").write_text(
        "warehouse_id,name,country,region,sqft,opened_on\n"
        "WH-DE-000,Berlin,DE,DACH,120000,2015-04-01\n"
        "WH-DE-001,Hamburg,DE,DACH,lots,2018-01-15\n"  # held back at ingest
        "WH-DE-002,K\xf6ln,DE,DACH,90000,2019-01-01\n"
    )
    (landing / "events.csv").write_text("date,scope,scope_id,event_type,name\n2024-03-01,all,,peak,Sale\n")
    rows = [landed_report(i) for i in range(9)]  # warehouse WH-DE-{i % 3}: a third at WH-DE-001
    land(landing, s.SECURITY_REPORTS.name, "part-000.csv", csv_text(rows))
    land(landing, s.RECONCILIATION_LOGS.name, "part-000.csv", csv_text([recon(0)]))
    (summary,) = run_ingest(settings, [LANDED_DAY], sweep=False)
    checked = summary["validation"]["sources"][s.SECURITY_REPORTS.name]
    assert checked["status"] == "warnings" and not checked["blocking"], checked
    assert checked["validated_rows"] == 6 and checked["quarantined_rows"] == 3
    lake = Lake.from_settings(settings)
    held = lake.read_parquet(lake.validation_quarantine(s.SECURITY_REPORTS.name, LANDED_DAY))
    assert set(held[s.WAREHOUSE_ID]) == {"WH-DE-001"}
    assert held[s.REASON].str.contains("warehouse WH-DE-001 is held back in the warehouses").all()
    assert any("WH-DE-001" in n and "other rows are not affected" in n for n in checked["notes"])
