"""Deliver an alert on every configured route (``settings.alerts.routes``), or once only."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from forecasting.alerts.alert import Alert
from forecasting.alerts.routes import ROUTES
from forecasting.core.config import Settings
from forecasting.core.errors import AlertError
from forecasting.core.lake import Lake
from forecasting.core.links import public_link

log = logging.getLogger(__name__)


def send_alert(settings: Settings, alert: Alert) -> list[str]:
    """Deliver ``alert`` on every route in ``settings.alerts.routes``; return those that worked.

    Every route is tried; if any failed, AlertError names them (``.delivered`` lists the rest).
    """

    # lake paths of reports and Data Docs become pages people can open (public_base_url)
    alert = replace(alert, links={n: public_link(settings, u) for n, u in alert.links.items()},
                    raised_at=alert.raised_at or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    delivered, failures = [], []
    for route in settings.alerts.routes:
        try:
            ROUTES[route](settings, alert)
            delivered.append(route)
        except Exception as exc:  # noqa: BLE001 - one broken route must not silence the others
            failures.append(f"{route}: {type(exc).__name__}: {exc}")
    log.info("alert %s %r delivered via %s", alert.alert_id, alert.title, delivered)
    if failures:
        raise AlertError(
            f"alert {alert.title!r} not delivered by {failures} (delivered: {delivered})", delivered
        )
    return delivered


def send_alert_once(settings: Settings, alert: Alert) -> list[str]:
    """``send_alert`` unless an alert with the same id was delivered before (a rerun, the
    next run's sweep): ``alerts/sent/<id>.json`` in the lake records each one delivered on
    at least one route. Returns the routes used now ([] when it was sent before)."""
    lake = Lake.from_settings(settings)
    ledger = lake.sent_alert(alert.alert_id)
    if lake.exists(ledger):
        log.info("alert %s %r was sent before: not again", alert.alert_id, alert.title)
        return []
    try:
        delivered = send_alert(settings, alert)
    except AlertError as exc:
        if exc.delivered:
            _record(lake, ledger, alert, exc.delivered)
        raise
    _record(lake, ledger, alert, delivered)
    return delivered


def _record(lake: Lake, uri: str, alert: Alert, routes: list[str]) -> None:
    lake.write_json(uri, {"id": alert.alert_id, "title": alert.title, "date": str(alert.date),
                          "source": alert.source, "routes": routes})  # fmt: skip
