"""riskcast in the Airflow UI: the reserves page, backtest and audit reports and GX Data Docs,
read from the lake (local or ``s3://``, through ``Lake``) and served by the API server.

Mounted at ``forecasting.core.links.UI_PREFIX`` by ``RiskcastPlugin.fastapi_apps``. Airflow's
login does not cover plugin apps by itself: every route here resolves the caller with
Airflow's own ``get_user`` (the ``Authorization: Bearer`` JWT or the UI's ``_token`` cookie,
validated by the configured auth manager). No valid token: browsers are sent to Airflow's
login page, other clients get 401. Nothing is served without a user.

Pages by role (``access``): the app-wide dependency ``access.authorize`` refuses (403, naming
the role needed) a user whose roles may not open the route's page group, for every route,
those added later included; every response carries ``access.with_security_headers``.
"""

from __future__ import annotations

import mimetypes
from datetime import date
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from forecasting.core.config import Settings, load_settings
from forecasting.core.errors import RiskcastError
from forecasting.core.html import Section, render_report
from forecasting.core.lake import Lake, join, parse_date
from forecasting.core.layout import (
    AUDIT,
    BACKTESTS,
    DATA_DOCS_INDEX,
    EXPORT_FILES,
    EXPORTS_DIR,
    REPORTS,
)
from forecasting.core.links import (
    AUDIT_ROUTE,
    BACKTEST_ROUTE,
    DATA_DOCS_ROUTE,
    RESERVES_ROUTE,
    served_links,
)
from forecasting.validation.gx.offline import (
    SITE_VENDOR,
    VENDOR_DIR,
    offline_html,
    page_depth,
    self_contained,
)
from riskcast_airflow import access

LATEST = "latest"
_PAGES = {  # route -> (title, lake folder listing the dates, the page's URI); access: its group
    RESERVES_ROUTE: ("Reserves", REPORTS, lambda lake, d: lake.reserves_report(d)),
    BACKTEST_ROUTE: ("Backtest report", BACKTESTS, lambda lake, d: lake.backtest_file(d, "report")),
    AUDIT_ROUTE: ("Reporting-rate audit", AUDIT, lambda lake, d: lake.audit_report(d)),
}
_HEADERS = access.HEADERS
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

app = FastAPI(title="riskcast reports", docs_url=None, redoc_url=None, openapi_url=None,
              dependencies=[Depends(access.authorize)])  # fmt: skip
app.add_exception_handler(access.Forbidden, lambda _request, exc: access.forbidden_response(exc))


@app.middleware("http")
async def require_airflow_user(request: Request, call_next: Any) -> Response:
    """Serve nothing to a caller without a valid Airflow token; secure headers on everything."""
    user = await _airflow_user(request)
    if user is None:
        if "text/html" in request.headers.get("accept", ""):
            response = RedirectResponse(_login_url(request), status_code=302, headers=_HEADERS)
        else:
            response = Response("Not authenticated: log in to Airflow", status_code=401, headers=_HEADERS)
    else:
        request.state.airflow_user = user
        response = await call_next(request)
    return access.with_security_headers(response, request.url.path.removeprefix(request.scope.get("root_path", "")))


@app.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """Links to every date's pages and to the Data Docs, those of the user's page groups only."""
    lake = _lake()
    user = request.state.airflow_user
    sections = []
    for route, (title, folder, uri) in _PAGES.items():
        if not access.may_open(user, access.SEGMENT_GROUPS[route]):
            continue
        days = [d for d in _dates(lake, folder) if lake.exists(uri(lake, d))]
        items = "".join(
            f"<li><a href='{route}/{d.isoformat()}'>{d}</a></li>"
            for d in sorted(days, reverse=True)
        )
        sections.append(
            Section(title, f"<ul>{items}</ul>" if items else "<p class='note'>None yet.</p>")
        )
    if access.may_open(user, access.SEGMENT_GROUPS[DATA_DOCS_ROUTE]):
        docs = lake.exists(lake.data_docs_index)
        sections.append(Section("Data validation (Great Expectations Data Docs)",
                                f"<p><a href='{DATA_DOCS_ROUTE}/{DATA_DOCS_INDEX}'>Data Docs</a></p>"
                                if docs else "<p class='note'>None yet.</p>"))  # fmt: skip
    if not sections:
        sections.append(Section("No pages for your role", "<p class='note'>Ask an Airflow admin for a "
                                "role that may see them (riskcast settings ui.*).</p>"))  # fmt: skip
    return HTMLResponse(render_report(sections, title="riskcast reports"), headers=_HEADERS)


@app.get("/" + DATA_DOCS_ROUTE + "/{path:path}")
def data_docs(path: str) -> Response:
    """A file of the Data Docs site; pages with CDN links are served with local copies."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        parts = [DATA_DOCS_INDEX]
    if any(p in {".", ".."} or "\\" in p for p in parts):
        raise HTTPException(404, "no such file")
    lake = _lake()
    uri = join(lake.data_docs, *parts)
    media = mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
    if not lake.exists(uri):
        vendored = VENDOR_DIR.joinpath(*parts[len(SITE_VENDOR) :])
        if (
            tuple(parts[: len(SITE_VENDOR)]) == SITE_VENDOR
            and vendored.is_file()
            and VENDOR_DIR in vendored.parents
        ):
            return Response(vendored.read_bytes(), media_type=media, headers=_HEADERS)
        raise HTTPException(404, "no such file")
    if media == "text/html":  # sandboxed (access.DATA_DOCS_CSP): it gets every asset inline
        text = offline_html(lake.read_text(uri), page_depth(lake.data_docs, uri))
        return HTMLResponse(self_contained(text, lambda name: _site_image(lake, name)), headers=_HEADERS)
    return Response(lake.read_bytes(uri), media_type=media, headers=_HEADERS)


@app.get("/{route}/{day}")
def report_page(route: str, day: str) -> Response:
    """A date's reserves page, backtest or audit report (``latest``: the newest date)."""
    if route not in _PAGES:
        raise HTTPException(404, f"no page {route!r}")
    title, folder, uri = _PAGES[route]
    lake = _lake()
    if day == LATEST:
        days = [d for d in _dates(lake, folder) if lake.exists(uri(lake, d))]
        if not days:
            raise HTTPException(404, f"no {title.lower()} yet")
        as_of = max(days)
    else:
        try:
            as_of = parse_date(day, "date")
        except RiskcastError as exc:
            raise HTTPException(404, str(exc)) from exc
    target = uri(lake, as_of)
    if not lake.exists(target):
        raise HTTPException(404, f"no {title.lower()} for {as_of}")
    # links to lake files the plugin serves become its pages (a page written without public_base_url)
    return HTMLResponse(served_links(lake, lake.read_text(target)), headers=_HEADERS)


@app.get("/" + RESERVES_ROUTE + "/{day}/" + EXPORTS_DIR + "/{name}")
def reserves_export(day: str, name: str) -> Response:
    """A download of the reserves page (CSV or Excel), as a file named after its date."""
    kind = next((k for k, f in EXPORT_FILES.items() if f == name), None)
    if kind is None:
        raise HTTPException(404, "no such download")
    lake = _lake()
    as_of = _as_of(lake, RESERVES_ROUTE, day)
    target = lake.reserves_export(as_of, kind)
    if not lake.exists(target):
        raise HTTPException(404, f"no {name} for {as_of}: run `riskcast report --as-of {as_of}`")
    media = _XLSX if name.endswith(".xlsx") else "text/csv; charset=utf-8"
    disposition = f'attachment; filename="riskcast-reserves-{as_of}-{name}"'
    return Response(lake.read_bytes(target), media_type=media,
                    headers={**_HEADERS, "Content-Disposition": disposition})  # fmt: skip


def _as_of(lake: Lake, route: str, day: str) -> date:
    """The date of ``day`` (``latest``: the newest date with the route's page); 404 otherwise."""
    title, folder, uri = _PAGES[route]
    if day == LATEST:
        days = [d for d in _dates(lake, folder) if lake.exists(uri(lake, d))]
        if not days:
            raise HTTPException(404, f"no {title.lower()} yet")
        return max(days)
    try:
        return parse_date(day, "date")
    except RiskcastError as exc:
        raise HTTPException(404, str(exc)) from exc


def _site_image(lake: Lake, name: str) -> bytes | None:
    uri = join(lake.data_docs, "static", "images", name)
    return lake.read_bytes(uri) if lake.exists(uri) else None


def _lake() -> Lake:
    settings: Settings = load_settings(None)
    return Lake.from_settings(settings)


def _dates(lake: Lake, folder: str) -> list[date]:
    out = []
    for name in lake.ls(join(lake.uri, folder)):
        try:
            out.append(parse_date(name.partition("=")[2], "partition"))
        except RiskcastError:
            continue
    return out


async def _airflow_user(request: Request) -> Any:
    """The Airflow user of the request's JWT (bearer header, else the UI cookie), or None."""
    from airflow.api_fastapi.core_api.security import get_user

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    creds = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None
    try:
        return await get_user(request, None, creds)
    except HTTPException:
        return None


def _login_url(request: Request) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    try:
        return get_auth_manager().get_url_login(next_url=str(request.url))
    except RuntimeError:  # no auth manager: not inside the API server
        return "/"
