"""Who may open which riskcast page, and the headers every page is served with.

Every route of the plugin app belongs to a page group (``forecasting.core.page_roles``):
the reserves page and its exports to ``reserves``, Data Docs, the audit report and the
alert history to ``data_quality``, backtest reports to ``backtests``. ``authorize`` is a
dependency of the whole app (``FastAPI(dependencies=...)``), so a route added later is
covered without a line of its own: its group is found from its path (``SEGMENT_GROUPS``:
first segment, or the page named by the ``route`` path parameter), and a route with no
group is refused to everyone (fail closed) until it is given one. A user may open a group
when Airflow's auth manager allows the group's custom view (``is_authorized_custom_view``,
resource ``riskcast <group>``: FAB grants it per role) AND one of their roles is among
``settings.ui.<group>`` (SimpleAuthManager allows every custom view to every user, so the
roles decide). Refused: a 403 page naming the roles needed.

Lake HTML is written by whoever can write the lake; served from Airflow's own origin it
could act as the logged-in user. So every response carries ``Content-Security-Policy``:
riskcast's own pages run no script at all (``script-src`` falls back to ``'none'``; a page
that needs one must list its hash in ``SCRIPT_HASHES``), and Data Docs (GX's pages, with
inline scripts built from the validated data) are ``sandbox``ed: their scripts run in an
opaque origin that can neither read Airflow's session nor call its API as the user.
Also ``X-Frame-Options: SAMEORIGIN``, ``Referrer-Policy: no-referrer``, ``nosniff`` and
``no-store``.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from forecasting.core.config import Settings, load_settings
from forecasting.core.html import Section, render_report
from forecasting.core.layout import EXPORTS_DIR
from forecasting.core.links import AUDIT_ROUTE, BACKTEST_ROUTE, DATA_DOCS_ROUTE, RESERVES_ROUTE
from forecasting.core.page_roles import BACKTESTS, DATA_QUALITY, RESERVES, RESOURCE_NAMES, TITLES

INDEX = "index"  # the list of pages: every user, each seeing the groups they may open
SEGMENT_GROUPS = {  # first path segment (or the `route` path parameter) -> page group
    RESERVES_ROUTE: RESERVES, "export": RESERVES, EXPORTS_DIR: RESERVES,
    BACKTEST_ROUTE: BACKTESTS, "backtests": BACKTESTS,
    AUDIT_ROUTE: DATA_QUALITY, DATA_DOCS_ROUTE: DATA_QUALITY, "alerts": DATA_QUALITY,
}  # fmt: skip
SCRIPT_HASHES: tuple[str, ...] = ()  # "sha256-..." of inline scripts riskcast's own pages emit
_SCRIPTS = " ".join(f"'{h}'" for h in SCRIPT_HASHES) or "'none'"
_COMMON = "base-uri 'none'; form-action 'self'; frame-ancestors 'self'; object-src 'none'"
REPORT_CSP = (
    f"default-src 'none'; script-src {_SCRIPTS}; style-src 'unsafe-inline'; img-src 'self' data:; "
    f"font-src 'self'; {_COMMON}"
)
DATA_DOCS_CSP = (
    "sandbox allow-scripts allow-popups; default-src 'none'; script-src 'self' 'unsafe-inline'; "
    f"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; {_COMMON}"
)
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
}


def page_group(request: Request) -> str | None:
    """The page group of the request's route (INDEX for the list); None: no group (refused)."""
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    segments = [s for s in template.split("/") if s]
    if not segments:
        return INDEX
    first = segments[0]
    if first.startswith("{"):  # a page named by a path parameter (/{route}/{day})
        first = str(request.path_params.get(first.strip("{}").split(":")[0], ""))
        if first not in SEGMENT_GROUPS:
            raise HTTPException(404, f"no page {first!r}")
    return SEGMENT_GROUPS.get(first)


def user_roles(user: Any) -> set[str]:
    """Every role name the auth manager's user holds: its role, teams and roles (lower case)."""
    found: set[str] = set()
    for attr in ("role", "teams", "roles", "groups"):
        value = getattr(user, attr, None)
        for item in value if isinstance(value, list | tuple | set) else [value]:
            name = getattr(item, "name", item)
            if isinstance(name, str) and name:
                found.add(name.lower())
    return found


def may_open(user: Any, group: str, settings: Settings | None = None) -> bool:
    """Whether ``user`` may open pages of ``group`` (auth manager AND riskcast's roles)."""
    settings = settings or load_settings(None)
    return _auth_manager_allows(user, group) and settings.ui.allowed(group, user_roles(user))


async def authorize(request: Request) -> None:
    """The app-wide dependency: 403 unless the user may open the route's page group."""
    group = page_group(request)
    if group == INDEX:
        return
    user = request.state.airflow_user
    if group is None:
        raise Forbidden(None, user, request)
    if not may_open(user, group):
        raise Forbidden(group, user, request)


class Forbidden(Exception):
    """Raised by ``authorize``; the app turns it into ``forbidden_response``."""

    def __init__(self, group: str | None, user: Any, request: Request) -> None:
        super().__init__(group)
        self.group, self.user, self.request = group, user, request


def forbidden_response(exc: Forbidden) -> Response:
    """403, naming the roles that may open the page (HTML for browsers, a line for others)."""
    settings = load_settings(None)
    name = getattr(exc.user, "get_name", lambda: "you")()
    held = ", ".join(sorted(user_roles(exc.user))) or "none"
    if exc.group is None:
        need, what = "no role: this page has not been assigned to a page group", "this page"
    else:
        roles = getattr(settings.ui, exc.group)
        need, what = f"the role {' or '.join(roles)}", TITLES[exc.group]
    line = f"Forbidden: {what} need(s) {need}. You are signed in as {name} (roles: {held})."
    if "text/html" not in exc.request.headers.get("accept", ""):
        return Response(line, status_code=403, media_type="text/plain", headers=HEADERS)
    body = (f"<p>{html.escape(line)}</p><p class='note'>Ask an Airflow admin to give you the role, "
            f"or to change <code>ui.{exc.group or '...'}</code> in riskcast's settings.</p>")  # fmt: skip
    page = render_report([Section("403: not for your role", body)], title="riskcast reports")
    return HTMLResponse(page, status_code=403, headers=HEADERS)


def with_security_headers(response: Response, path: str) -> Response:
    """``response`` with HEADERS and the CSP of its page kind (Data Docs: sandboxed)."""
    for key, value in HEADERS.items():
        response.headers.setdefault(key, value)
    segments = [s for s in path.split("/") if s]
    sandboxed = DATA_DOCS_ROUTE in segments[:2]
    response.headers["Content-Security-Policy"] = DATA_DOCS_CSP if sandboxed else REPORT_CSP
    return response


def _auth_manager_allows(user: Any, group: str) -> bool:
    from airflow.api_fastapi.app import get_auth_manager

    try:
        manager = get_auth_manager()
    except RuntimeError:  # no auth manager: not inside the API server; nothing is allowed
        return False
    return bool(manager.is_authorized_custom_view(method="GET", resource_name=RESOURCE_NAMES[group], user=user))
