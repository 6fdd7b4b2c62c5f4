"""Registers riskcast's extensions with Airflow (entry point ``airflow.plugins``)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class RiskcastPlugin(AirflowPlugin):
    """Makes riskcast visible in Airflow's plugin list; notifiers and operators import directly."""

    name = "riskcast"
