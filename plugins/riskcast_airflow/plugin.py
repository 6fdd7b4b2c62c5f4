"""Registers riskcast's extensions with Airflow (entry point ``airflow.plugins``).

``fastapi_apps``: the reports app (``riskcast_airflow.ui``) in the API server, behind
Airflow's login; ``external_views``: its entry in the UI's navigation.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from forecasting.core.links import UI_PREFIX
from riskcast_airflow.ui import app

NAV_ENTRY = {
    "name": "riskcast reports",
    "href": UI_PREFIX + "/",
    "destination": "nav",
    "category": "browse",
    "url_route": "riskcast",
}


class RiskcastPlugin(AirflowPlugin):
    """The riskcast reports app and its navigation entry; notifiers and operators import directly."""

    name = "riskcast"
    fastapi_apps = [{"app": app, "url_prefix": UI_PREFIX, "name": "riskcast reports"}]
    external_views = [NAV_ENTRY]
