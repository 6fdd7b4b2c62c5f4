"""The report stage: the reserves page's one writer, its downloads, reruns and links."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.core import schema
from forecasting.core.errors import InputError
from forecasting.core.lake import Lake
from forecasting.core.layout import EXPORT_FILES, RESERVES_FILE, TOTALS_FILE
from forecasting.core.links import served_links
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.report import previous_as_of, write_reserves_report
from tests.support.audit_table import audit_table
from tests.support.reserves_frames import AS_OF, reserve_frames, write_stage
from tests.support.reserves_lake import AS_OF as INPUTS_AS_OF
from tests.support.reserves_lake import write_inputs

CAUSE = "reporting at WH-A fell to 12% of its usual rate: 71% of the outlier"


@pytest.fixture
def staged(settings_factory):
    settings = settings_factory()
    lake = Lake.from_settings(settings)
    write_stage(lake, AS_OF)
    lake.write_parquet(audit_table(), lake.audit_table(AS_OF))
    return settings, lake


def test_page_and_downloads_are_written_and_a_rerun_changes_no_byte(staged):
    settings, lake = staged
    summary = write_reserves_report(settings, AS_OF)
    files = [summary.page, *summary.exports.values()]
    first = {u: lake.read_bytes(u) for u in files}
    assert set(summary.exports) == set(EXPORT_FILES)
    assert summary.sections[0] == "Reserve over the horizon, months and quarters"
    write_reserves_report(settings, AS_OF)
    assert {u: lake.read_bytes(u) for u in files} == first


def test_downloads_open_in_pandas_and_openpyxl_with_the_stage_figures(staged):
    settings, lake = staged
    summary = write_reserves_report(settings, AS_OF)
    res, tot, _ = reserve_frames()
    sites = pd.read_csv(io.BytesIO(lake.read_bytes(summary.exports["warehouse_week"])), parse_dates=[schema.PERIOD_START])
    assert len(sites) == len(res) and list(sites[schema.WAREHOUSE_ID].unique()) == ["WH-A", "WH-B", "WH-C"]
    merged = sites.merge(res, on=[schema.WAREHOUSE_ID, schema.PERIOD_START], suffixes=("", "_stage"))
    assert (merged[schema.LOSS_EUR_P95] - merged[f"{schema.LOSS_EUR_P95}_stage"]).abs().max() < 0.006
    regions = pd.read_csv(io.BytesIO(lake.read_bytes(summary.exports["region_week"])))
    assert regions[schema.TOTAL_ID].iloc[0] == schema.NETWORK_ID and len(regions) == len(tot)
    spans = pd.read_csv(io.BytesIO(lake.read_bytes(summary.exports["horizon"])))
    assert spans[schema.PERIOD_KIND].iloc[0] == "horizon" and spans[schema.TOTAL_ID].iloc[0] == schema.NETWORK_ID
    book = load_workbook(io.BytesIO(lake.read_bytes(summary.exports["workbook"])))
    assert book.sheetnames == ["About", "Warehouse x week", "Region x week", "Horizon totals"]
    sheet = book["Horizon totals"]
    header = [c.value for c in sheet[1]]
    p95 = sheet.cell(row=2, column=header.index(schema.LOSS_EUR_P95) + 1)
    assert p95.value == pytest.approx(spans[schema.LOSS_EUR_P95].iloc[0], abs=0.01) and "EUR" in p95.number_format
    assert sheet.cell(row=2, column=header.index(schema.PERIOD_START) + 1).number_format == "yyyy-mm-dd"
    frame = pd.read_excel(io.BytesIO(lake.read_bytes(summary.exports["workbook"])), sheet_name="Warehouse x week")
    assert len(frame) == len(res)


def test_explain_output_is_shown_when_the_page_is_rendered_after_it(staged):
    settings, lake = staged
    page = lake.read_text(write_reserves_report(settings, AS_OF).page)
    assert "No root-cause analysis yet" in page
    lake.write_parquet(pd.DataFrame({
        schema.WAREHOUSE_ID: ["WH-A"], schema.PERIOD_START: pd.to_datetime(["2024-05-20"]),
        schema.OUTLIER_SCORE: [7.5], schema.EXCEEDED_P95: [True], schema.FLAGGED: [True], schema.CAUSE_TEXT: [CAUSE],
    }), lake.explain_file(AS_OF, "scores"))  # fmt: skip
    summary = write_reserves_report(settings, AS_OF)
    page = lake.read_text(summary.page)
    assert CAUSE in page and summary.causes_from == str(AS_OF) and page.count("Root causes of recent outliers") == 1


def test_links_are_plugin_urls_with_a_public_base_url_and_served_paths_without(staged, settings_factory):
    settings, lake = staged
    lake.write_text(lake.backtest_file(AS_OF, "report"), "<html></html>")
    page = lake.read_text(write_reserves_report(settings, AS_OF).page)
    export = lake.reserves_export(AS_OF, "workbook")
    assert f"href='{export}'" in page  # a file the browser opens next to the page
    served = served_links(lake, page)
    assert "href='/riskcast/reserves/2024-06-02/exports/reserves.xlsx'" in served
    assert "href='/riskcast/backtest/2024-06-02'" in served and export not in served
    public = settings_factory(lake_uri=settings.lake_uri, public_base_url="https://airflow.example")
    page = lake.read_text(write_reserves_report(public, AS_OF).page)
    assert "href='https://airflow.example/riskcast/reserves/2024-06-02/exports/warehouse_week.csv'" in page
    assert "href='https://airflow.example/riskcast/backtest/2024-06-02'" in page


def test_previous_publication_and_missing_stage(staged, settings_factory):
    settings, lake = staged
    prev_day = AS_OF - timedelta(days=7)
    lake.write_parquet(reserve_frames(prev_day, scale=0.5)[1], lake.reserves_file(prev_day, TOTALS_FILE))
    assert previous_as_of(lake, AS_OF) == prev_day and previous_as_of(lake, prev_day) is None
    page = lake.read_text(write_reserves_report(settings, AS_OF).page)
    assert f"publication of {prev_day}" in page
    lake.remove(lake.reserves_file(AS_OF, RESERVES_FILE))
    with pytest.raises(InputError, match=r"run `riskcast reserves --as-of 2024-06-02` first"):
        write_reserves_report(settings, AS_OF)


def test_cli_report_prints_what_it_wrote(staged, monkeypatch):
    settings, _ = staged
    monkeypatch.setenv("RISKCAST_LAKE_URI", settings.lake_uri)
    done = CliRunner().invoke(app, ["report", "--as-of", str(AS_OF)])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert out["page"].endswith("reports/as_of=2024-06-02/reserves.html") and "workbook" in out["exports"]


MISSING = {"days": 2, "listed": [
    {"source": "reconciliation_logs", "day": "2024-05-21", "sites": "all"},
    {"source": "security_reports", "day": "2024-05-24", "sites": ["WH-B"]},
]}  # fmt: skip


def test_the_summary_and_the_page_list_the_missing_drops(settings_factory):
    """What was missing reaches finance: the reserves summary and a section of the page list
    the source-days whose drops had not arrived (the panel's ``missing_data``)."""
    settings = settings_factory()
    lake = write_inputs(settings.lake_uri)
    summary_uri = lake.panel_summary(INPUTS_AS_OF)
    lake.write_json(summary_uri, {**lake.read_json(summary_uri), "missing_data": MISSING})
    summary = compute_reserves(settings, INPUTS_AS_OF)
    assert summary.missing_data == MISSING
    page = lake.read_text(write_reserves_report(settings, INPUTS_AS_OF).page)
    assert "Data missing from this forecast (2 source-day(s))" in page
    assert "<td>2024-05-21</td><td>reconciliation_logs</td><td>every site</td>" in page
    assert "<td>WH-B</td>" in page


def test_no_missing_section_when_nothing_was_missing(settings_factory):
    settings = settings_factory()
    lake = write_inputs(settings.lake_uri)
    summary = compute_reserves(settings, INPUTS_AS_OF)
    assert summary.missing_data == {}
    assert "Data missing" not in lake.read_text(write_reserves_report(settings, INPUTS_AS_OF).page)
