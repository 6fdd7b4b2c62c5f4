"""What was missing reaches finance: the reserves summary and a section of the page list the
source-days whose drops had not arrived (the panel's ``missing_data``)."""

from __future__ import annotations

from pathlib import Path

from forecasting.reserves.compute import compute_reserves
from tests.support.reserves_lake import AS_OF, write_inputs

MISSING = {"days": 2, "listed": [
    {"source": "reconciliation_logs", "day": "2024-05-21", "sites": "all"},
    {"source": "security_reports", "day": "2024-05-24", "sites": ["WH-B"]},
]}  # fmt: skip


def test_the_summary_and_the_page_list_the_missing_drops(settings_factory):
    settings = settings_factory()
    lake = write_inputs(settings.lake_uri)
    summary_uri = lake.panel_summary(AS_OF)
    lake.write_json(summary_uri, {**lake.read_json(summary_uri), "missing_data": MISSING})
    summary = compute_reserves(settings, AS_OF)
    assert summary.missing_data == MISSING
    page = Path(summary.uris["report"]).read_text()
    assert "Data missing from this forecast (2 source-day(s))" in page
    assert "<td>2024-05-21</td><td>reconciliation_logs</td><td>every site</td>" in page
    assert "<td>WH-B</td>" in page


def test_no_section_when_nothing_was_missing(settings_factory):
    settings = settings_factory()
    write_inputs(settings.lake_uri)
    summary = compute_reserves(settings, AS_OF)
    assert summary.missing_data == {}
    assert "Data missing" not in Path(summary.uris["report"]).read_text()
