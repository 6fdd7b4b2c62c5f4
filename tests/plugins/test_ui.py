"""The riskcast plugin in Airflow's API server: every page is served only to a logged-in user
whose role may see it (403 naming the role otherwise), with CSP and frame headers.

Runs the real API server app (``create_app``) with the plugin loaded from its entry point,
over a lake holding every page (tests/support/served_lake.py); users of each kind carry real
JWTs of the SimpleAuthManager (role + teams).
"""

from __future__ import annotations

import re
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

def test_old_data_docs_pages_are_served_offline_and_self_contained(airflow_ui):
    base, token, lake = airflow_ui
    old = lake.data_docs + "/old.html"
    lake.write_text(old, '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>')
    _, body, headers = _get(base + UI_PREFIX + "/data-docs/old.html", {"Authorization": f"Bearer {token}"})
    assert body.startswith("<script>/*! jQuery v3.7.1") and "static/vendor" not in body and "https://" not in body
    assert headers["content-security-policy"].startswith("sandbox allow-scripts")


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


# ----------------------------------------------------------------------------- pages by role
# page -> who may open it (every other kind of user gets 403); admins open everything
ACCESS = {
    "/reserves/latest": {"admin", "finance"},
    "/reserves/2024-06-02": {"admin", "finance"},
    "/data-docs/index.html": {"admin", "security"},
    "/data-docs/static/vendor/js/jquery-3.7.1.min.js": {"admin", "security"},
    "/audit/latest": {"admin", "security"},
    "/backtest/2024-06-02": {"admin", "engineer"},
}
NEEDED = {"/reserves": "finance or admin", "/data-docs": "security or admin", "/audit": "security or admin",
          "/backtest": "data_engineer or admin"}  # fmt: skip


@pytest.mark.parametrize("path", list(ACCESS))
@pytest.mark.parametrize("who", ["admin", "finance", "security", "engineer", "viewer"])
def test_each_page_opens_for_its_roles_only(airflow_ui, role_tokens, path, who):
    base = airflow_ui[0]
    status, body, headers = _get(base + UI_PREFIX + path, {"Authorization": f"Bearer {role_tokens[who]}"})
    if who in ACCESS[path]:
        assert status == 200, (who, path, body[:300])
        return
    needed = next(v for k, v in NEEDED.items() if path.startswith(k))
    assert status == 403 and f"need(s) the role {needed}" in body, (who, path, body[:300])
    assert "2024" not in body and "<svg" not in body  # nothing of the page itself
    html = _get(base + UI_PREFIX + path, {"Authorization": f"Bearer {role_tokens[who]}", "Accept": "text/html"})
    assert html[0] == 403 and "403: not for your role" in html[1] and needed in html[1]


def test_a_finance_user_sees_the_reserves_but_not_the_data_docs(airflow_ui, role_tokens):
    base = airflow_ui[0]
    auth = {"Authorization": f"Bearer {role_tokens['finance']}", "Accept": "text/html"}
    status, body, _ = _get(base + UI_PREFIX + "/data-docs/index.html", auth)
    text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
    print(f"\nfinance user, /data-docs/index.html: HTTP {status}: {text[text.index('403'):]}")
    assert status == 403 and "security or admin" in text and "signed in as fin (roles: finance, viewer)" in text
    _, index, _ = _get(base + UI_PREFIX + "/", auth)
    assert "reserves/2024-06-02" in index and "data-docs" not in index and "audit/" not in index
    assert "backtest/" not in index


def test_a_user_without_a_riskcast_role_gets_an_index_that_says_so(airflow_ui, role_tokens):
    status, body, _ = _get(airflow_ui[0] + UI_PREFIX + "/", {"Authorization": f"Bearer {role_tokens['viewer']}"})
    assert status == 200 and "No pages for your role" in body and "2024-06-02" not in body


def test_page_roles_are_settings(airflow_ui, role_tokens, monkeypatch):
    base, auth = airflow_ui[0], {"Authorization": f"Bearer {role_tokens['viewer']}"}
    assert _get(base + UI_PREFIX + "/reserves/latest", auth)[0] == 403
    monkeypatch.setenv("RISKCAST_UI__RESERVES", '["viewer", "admin"]')  # the plugin reads settings per request
    assert _get(base + UI_PREFIX + "/reserves/latest", auth)[0] == 200
    monkeypatch.setenv("RISKCAST_UI__RESERVES", '["finance"]')
    admin = {"Authorization": f"Bearer {role_tokens['admin']}"}
    assert _get(base + UI_PREFIX + "/reserves/latest", admin)[0] == 403  # even admins, when so configured


@pytest.mark.parametrize("path", ["/", "/reserves/latest", "/audit/latest", "/data-docs/index.html", "/nope/x"])
def test_every_response_carries_csp_and_frame_headers(airflow_ui, role_tokens, path):
    base = airflow_ui[0]
    for token in (role_tokens["admin"], role_tokens["finance"], "not-a-jwt"):
        _, _, headers = _get(base + UI_PREFIX + path, {"Authorization": f"Bearer {token}"})
        headers = {k.lower(): v for k, v in headers.items()}
        assert headers["x-frame-options"] == "SAMEORIGIN" and headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'self'" in csp and "default-src 'none'" in csp
        if path.startswith("/data-docs"):
            assert csp.startswith("sandbox allow-scripts") and "allow-same-origin" not in csp
        else:
            assert "script-src 'none'" in csp  # riskcast's own pages run no script


def test_every_route_of_the_plugin_app_belongs_to_a_page_group():
    """A route added later (exports, alert history) is covered by the app-wide dependency only
    if its path names a page group: this fails until it does."""
    from fastapi.routing import APIRoute

    from riskcast_airflow.access import SEGMENT_GROUPS
    from riskcast_airflow.ui import _PAGES, app

    assert all(route in SEGMENT_GROUPS for route in _PAGES)
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        assert route.dependant.dependencies or app.router.dependencies, route.path
        first = [s for s in route.path.split("/") if s][:1]
        assert not first or first[0].startswith("{") or first[0] in SEGMENT_GROUPS, (
            f"route {route.path} belongs to no page group: add its first segment to access.SEGMENT_GROUPS"
        )

