"""The riskcast plugin in Airflow's API server: every page is served, only to a logged-in user.

Runs the real API server app (``create_app``) with the plugin loaded from its entry point,
over a lake holding every page (tests/support/served_lake.py).
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from forecasting.core.links import UI_PREFIX
from riskcast_airflow.plugin import RiskcastPlugin

PAGES = ["/", "/reserves/2024-06-02", "/reserves/latest", "/backtest/2024-06-02", "/audit/latest",
         "/data-docs/index.html", "/data-docs/static/vendor/js/jquery-3.7.1.min.js",
         "/reserves/2024-06-02/exports/reserves.xlsx", "/reserves/latest/exports/warehouse_week.csv"]  # fmt: skip


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8", "replace"), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace"), dict(exc.headers)


def test_plugin_registers_the_app_and_a_nav_entry():
    apps = RiskcastPlugin.fastapi_apps
    assert apps[0]["url_prefix"] == UI_PREFIX
    assert RiskcastPlugin.external_views[0]["href"] == UI_PREFIX + "/"


@pytest.mark.parametrize("path", PAGES)
def test_no_session_no_page(airflow_ui, path):
    base, _, _ = airflow_ui
    status, body, _ = _get(base + UI_PREFIX + path)
    assert status == 401 and "riskcast" not in body.lower().replace("log in to airflow", "")
    status, body, headers = _get(base + UI_PREFIX + path, {"Accept": "text/html"})
    assert status == 302 and "/login" in headers["location"] and "<svg" not in body
    status, _, _ = _get(base + UI_PREFIX + path, {"Cookie": "_token=not-a-jwt"})
    assert status == 401


@pytest.mark.parametrize("path", PAGES)
def test_a_logged_in_user_gets_every_page(airflow_ui, path):
    base, token, _ = airflow_ui
    for headers in ({"Authorization": f"Bearer {token}"}, {"Cookie": f"_token={token}"}):
        status, body, _ = _get(base + UI_PREFIX + path, headers)
        assert status == 200, (path, body[:300])


def test_index_links_every_date_and_unknown_paths_are_404(airflow_ui):
    base, token, _ = airflow_ui
    auth = {"Authorization": f"Bearer {token}"}
    _, index, _ = _get(base + UI_PREFIX + "/", auth)
    for link in ("reserves/2024-06-02", "backtest/2024-06-02", "audit/2024-06-02", "data-docs/index.html"):
        assert f"href='{link}'" in index
    for bad in ("/reserves/2020-01-01", "/reserves/yesterday", "/nope/2024-06-02",
                "/data-docs/../../etc/passwd", "/data-docs/%2e%2e/secret"):  # fmt: skip
        assert _get(base + UI_PREFIX + bad, auth)[0] == 404, bad


def test_old_data_docs_pages_are_served_offline(airflow_ui):
    base, token, lake = airflow_ui
    old = lake.data_docs + "/old.html"
    lake.write_text(old, '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>')
    _, body, _ = _get(base + UI_PREFIX + "/data-docs/old.html", {"Authorization": f"Bearer {token}"})
    assert body == '<script src="./static/vendor/js/jquery-3.7.1.min.js"></script>'


def test_downloads_are_served_and_the_page_links_them_as_plugin_paths(airflow_ui):
    import io

    import pandas as pd
    from openpyxl import load_workbook

    base, token, _ = airflow_ui
    auth = {"Authorization": f"Bearer {token}"}
    _, page, _ = _get(base + UI_PREFIX + "/reserves/2024-06-02", auth)
    for name in ("warehouse_week.csv", "region_week.csv", "horizon_totals.csv", "reserves.xlsx"):
        assert f"href='{UI_PREFIX}/reserves/2024-06-02/exports/{name}'" in page
    assert f"href='{UI_PREFIX}/backtest/2024-06-02'" in page and f"href='{UI_PREFIX}/audit/2024-06-02'" in page
    status, body, headers = _get(base + UI_PREFIX + "/reserves/2024-06-02/exports/horizon_totals.csv", auth)
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert 'filename="riskcast-reserves-2024-06-02-horizon_totals.csv"' in headers["content-disposition"]
    assert pd.read_csv(io.StringIO(body))["period_kind"].iloc[0] == "horizon"
    url = base + UI_PREFIX + "/reserves/2024-06-02/exports/reserves.xlsx"
    with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=30) as resp:
        book = load_workbook(io.BytesIO(resp.read()))
    assert "Horizon totals" in book.sheetnames
    for bad in ("/reserves/2024-06-02/exports/../../../etc/passwd", "/reserves/2024-06-02/exports/other.csv",
                "/reserves/2020-01-01/exports/reserves.xlsx"):  # fmt: skip
        assert _get(base + UI_PREFIX + bad, auth)[0] == 404, bad
