"""Settings of the daily drops: when a source's drop has arrived, its deadline and its owner.

A section of ``forecasting.core.config.Settings`` (``settings.drops.<source>``, env
``RISKCAST_DROPS__<SOURCE>__<FIELD>``), kept in its own module so ``config`` stays short.
The ingest DAG's sensor waits by these rules (``forecasting.ingest.arrival``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class DropSettings(BaseModel):
    """A daily source's drop: when it has arrived, its deadline, its owner (``ingest.arrival``)."""

    owner: str = Field("data engineering", description="who delivers it: named in the overdue alert")
    deadline_hours: float = Field(6.0, gt=0, le=23, description="due this many hours after the "
                                  "day ends (UTC); then ingested as it is, marked incomplete, alerted once")
    success_marker: bool = Field(False, description="arrived only once a _SUCCESS file is there")
    settle_minutes: float = Field(10.0, ge=0, description="no marker: arrived once no file changed for this long")
    per_site_files: bool = Field(False, description="one file per site, <warehouse_id>[.<part>].<ext>: "
                                 "an open site without one is a missing site-day")
    poll_seconds: float = Field(60.0, gt=0, description="how often the sensor looks")
    zero_rows_ok: bool = Field(
        True, description="a drop that arrived complete (its files hold a header, or only the "
        "_SUCCESS marker is there) with no row is a day with zero events, not a broken drop; "
        "the volume band still rejects a zero the history makes implausible. False: a day "
        "without rows is always rejected"
    )


class DropsSettings(BaseModel):
    """One ``DropSettings`` per daily source (``schema.DAILY_SOURCES``).

    ``zero_rows_ok`` is on for both: a security report is an incident, and a reconciliation
    line a count discrepancy (counted != expected; the sample network draws about 1.3 a site
    and day): a day without either at a small network is a quiet day, not a lost export.
    """

    security_reports: DropSettings = DropSettings(owner="security operations", deadline_hours=6)
    reconciliation_logs: DropSettings = DropSettings(owner="inventory control", deadline_hours=12)
