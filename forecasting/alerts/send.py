"""Deliver an alert on every configured route (``settings.alerts.routes``)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from forecasting.alerts.alert import Alert
from forecasting.alerts.routes import ROUTES
from forecasting.core.config import Settings
from forecasting.core.errors import AlertError
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
