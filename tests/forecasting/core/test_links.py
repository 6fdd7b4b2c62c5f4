"""public_base_url turns lake paths of reports and Data Docs into the plugin's URLs."""

from __future__ import annotations

from datetime import date

from forecasting.core.config import load_settings
from forecasting.core.lake import Lake
from forecasting.core.links import public_link, served_links

D = date(2024, 6, 2)


def _settings(tmp_path, base):
    return load_settings(None, lake_uri=str(tmp_path / "lake"), landing_uri=str(tmp_path / "l"), public_base_url=base)


def test_reports_and_data_docs_become_plugin_urls(tmp_path):
    s = _settings(tmp_path, "https://airflow.example.com/")
    lake = Lake.from_settings(s)
    base = "https://airflow.example.com/riskcast"
    assert public_link(s, lake.reserves_report(D)) == f"{base}/reserves/2024-06-02"
    assert public_link(s, lake.backtest_file(D, "report")) == f"{base}/backtest/2024-06-02"
    assert public_link(s, lake.audit_report(D)) == f"{base}/audit/2024-06-02"
    assert public_link(s, lake.data_docs_index) == f"{base}/data-docs/index.html"
    page = lake.data_docs + "/validations/events/2024-06-02/x/events-2024-06-02.html"
    assert public_link(s, page) == f"{base}/data-docs/validations/events/2024-06-02/x/events-2024-06-02.html"
    quarantine = lake.quarantine("events", D)  # not served: stays a lake path
    assert public_link(s, quarantine) == quarantine


def test_without_the_setting_links_stay_lake_paths(tmp_path):
    s = _settings(tmp_path, None)
    uri = Lake.from_settings(s).reserves_report(D)
    assert public_link(s, uri) == uri


def test_downloads_are_served_and_a_served_page_links_plugin_paths(tmp_path):
    s = _settings(tmp_path, "https://airflow.example.com")
    lake = Lake.from_settings(s)
    export = lake.reserves_export(D, "workbook")
    assert public_link(s, export) == "https://airflow.example.com/riskcast/reserves/2024-06-02/exports/reserves.xlsx"
    page = (f"<a href='{export}'>x</a> <a href=\"{lake.audit_report(D)}\">a</a> "
            f"<a href='https://example.org/'>e</a> <a href='{lake.quarantine('events', D)}'>q</a>")  # fmt: skip
    served = served_links(lake, page)
    assert "href='/riskcast/reserves/2024-06-02/exports/reserves.xlsx'" in served
    assert 'href="/riskcast/audit/2024-06-02"' in served
    assert "href='https://example.org/'" in served and lake.quarantine("events", D) in served  # not ours: kept
