"""The Airflow Assets riskcast's DAGs produce and consume, defined once.

``BRONZE[source]``: the validated bronze of a daily source (emitted by ``riskcast_ingest``'s
``validate_<source>`` tasks; both together can trigger ``riskcast_forecast``).
``RESERVES``: the published reserves finance reads (``reserves_latest``).
"""

from __future__ import annotations

from airflow.sdk import Asset

from forecasting.core.schema import DAILY_SOURCES

BRONZE: dict[str, Asset] = {
    source: Asset(name=f"riskcast.bronze.{source}", uri=f"riskcast://lake/bronze/{source}")
    for source in DAILY_SOURCES
}
RESERVES = Asset(name="riskcast.reserves", uri="riskcast://reserves/reserves_latest")


def all_bronze():
    """The condition "every daily source's bronze was updated" (an asset-triggered schedule)."""
    assets = list(BRONZE.values())
    condition = assets[0]
    for asset in assets[1:]:
        condition = condition & asset
    return condition
