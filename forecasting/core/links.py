"""Links people can open: lake paths of reports and Data Docs as pages of the Airflow plugin.

With ``public_base_url`` set (the Airflow web server as people reach it), ``public_link``
turns a lake URI of a reserves page, backtest report, audit report or Data Docs file into the
URL where the ``riskcast_airflow`` plugin serves it (behind Airflow's login); any other URI,
or every URI without the setting, is returned unchanged. The plugin mounts these routes.
The reserves page's downloads (``reports/as_of=D/exports/<file>``) are served under
``/riskcast/reserves/D/exports/<file>``. ``served_links`` rewrites a page's links to lake
URIs into plugin paths when the plugin serves it, so a page written without
``public_base_url`` works both as a file and in the Airflow UI.
"""

from __future__ import annotations

import html
import re
from datetime import date

from forecasting.core.config import Settings
from forecasting.core.lake import Lake, parse_date
from forecasting.core.layout import EXPORT_FILES, EXPORTS_DIR

UI_PREFIX = "/riskcast"  # where the plugin's app is mounted in the Airflow API server
RESERVES_ROUTE, BACKTEST_ROUTE, AUDIT_ROUTE, DATA_DOCS_ROUTE = "reserves", "backtest", "audit", "data-docs"
_AS_OF = re.compile(r"as_of=(\d{4}-\d{2}-\d{2})")
_HREF = re.compile(r"""href=(['"])(.*?)\1""")


def page_path(route: str, rest: str = "") -> str:
    """The plugin path of a route (``/riskcast/reserves/2024-06-02``)."""
    return "/".join(p for p in (UI_PREFIX, route, rest.lstrip("/")) if p)


def public_link(settings: Settings, uri: str) -> str:
    """The plugin URL of ``uri`` under ``settings.public_base_url``, else ``uri`` itself."""
    base = (settings.public_base_url or "").rstrip("/")
    if not base:
        return uri
    path = plugin_path(Lake.from_settings(settings), uri)
    return base + path if path else uri


def plugin_path(lake: Lake, uri: str) -> str | None:
    """The plugin path serving lake ``uri``, or None when the plugin does not serve it."""
    docs = lake.data_docs.rstrip("/") + "/"
    if uri.startswith(docs):
        return page_path(DATA_DOCS_ROUTE, uri[len(docs) :])
    found = _AS_OF.search(uri)
    if not found:
        return None
    day = _day(found.group(1))
    if day is None:
        return None
    for route, target in (
        (RESERVES_ROUTE, lake.reserves_report(day)),
        (BACKTEST_ROUTE, lake.backtest_file(day, "report")),
        (AUDIT_ROUTE, lake.audit_report(day)),
    ):
        if uri == target:
            return page_path(route, day.isoformat())
    for name, file in EXPORT_FILES.items():
        if uri == lake.reserves_export(day, name):
            return page_path(RESERVES_ROUTE, f"{day.isoformat()}/{EXPORTS_DIR}/{file}")
    return None


def served_links(lake: Lake, text: str) -> str:
    """``text`` (HTML) with every ``href`` to a lake URI the plugin serves made its plugin path."""

    def swap(m: re.Match) -> str:
        path = plugin_path(lake, html.unescape(m.group(2)))
        return f"href={m.group(1)}{html.escape(path)}{m.group(1)}" if path else m.group(0)

    return _HREF.sub(swap, text)


def _day(text: str) -> date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None
