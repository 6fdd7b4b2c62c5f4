"""Which problems of a day's ingest and validation become alerts, and with which rows.

One alert per source and day at most: a contract alert when ingest stopped the source
(nothing in bronze), else a data-quality alert (critical when the batch was rejected,
warning when rows were quarantined by ingest or validation). Offending rows are read from
``quarantine/<source>/date=D/`` (validation first, then ingest rejects) and restricted to
the business key, warehouse, lineage, reason and the columns the failed expectations name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecasting.alerts.alert import (
    contract_alert,
    data_quality_alert,
    infrastructure_alert,
    offending_rows,
)
from forecasting.alerts.drops import overdue_alert
from forecasting.alerts.send import send_alert, send_alert_once
from forecasting.core.config import Settings
from forecasting.core.errors import AlertError
from forecasting.core.lake import Lake
from forecasting.core.schema import (
    CONTRACTS,
    DAILY_SOURCES,
    REASON,
    SOURCE_FILE,
    SOURCE_ROW,
    WAREHOUSE_ID,
)
from forecasting.ingest import arrival
from forecasting.ingest.drop import INFRASTRUCTURE

if TYPE_CHECKING:
    from forecasting.alerts.alert import Alert
    from forecasting.ingest.drop import IngestResult
    from forecasting.validation.checks import SourceValidation

log = logging.getLogger(__name__)

STAGE = "stage"  # alert rows only: which stage held the row back ("validation" / "ingest")
HELD = "held for the backfill digest"
_NAME_COLUMNS = re.compile(r"\(([^)]*)\)")


def alert_day(
    settings: Settings,
    day: date,
    ingested: list[IngestResult],
    validated: list[SourceValidation],
    send: Callable[[Alert], list[str] | None] | None = None,
) -> tuple[dict[str, list[str]], list[str]]:
    """Build and send the day's alerts; return (title -> delivered routes, delivery errors).

    ``send``: how to deliver (default ``send_alert``); a backfill's ``alerts.digest.Backfill``
    holds historical days' alerts for its digest (returns None: listed as held)."""

    deliver = send or (lambda a: send_alert(settings, a))
    by_ingest = {r.source: r for r in ingested}
    by_check = {v.source: v for v in validated}
    sent: dict[str, list[str]] = {}
    errors: list[str] = []
    for result in ingested:
        try:
            sent.update(alert_drop(settings, result))
        except AlertError as exc:
            log.error("%s", exc)
            errors.append(str(exc))
    for source in CONTRACTS:
        alert = source_alert(settings, day, by_ingest.get(source), by_check.get(source))
        if alert is None:
            continue
        try:
            routes = deliver(alert)
            sent[alert.title] = routes if routes is not None else [HELD]
        except AlertError as exc:
            log.error("%s", exc)
            sent[alert.title] = exc.delivered
            errors.append(str(exc))
    return sent, errors


def alert_drop(settings: Settings, result: IngestResult) -> dict[str, list[str]]:
    """The one alert for a drop ingested incomplete or missing past its deadline (title ->
    routes; {} when complete, not yet due, or alerted before)."""
    if result.error or result.arrival == arrival.COMPLETE or result.source not in DAILY_SOURCES:
        return {}
    drop = settings.drop(result.source)
    if not arrival.is_overdue(result.date, drop, arrival.now()):
        return {}
    landing, lake = Lake.landing_from_settings(settings), Lake.from_settings(settings)
    sites = arrival.expected_sites(lake, result.date) if drop.per_site_files else None
    state = arrival.look(landing, result.source, result.date, sites)
    due = f"{arrival.deadline(result.date, drop):%Y-%m-%d %H:%M} UTC"
    alert = overdue_alert(result.source, result.date, result.arrival, arrival.describe(state, drop), drop.owner, due)
    return {alert.title: send_alert_once(settings, alert)}


def source_alert(
    settings: Settings,
    day: date,
    ingested: IngestResult | None,
    checked: SourceValidation | None,
) -> Alert | None:
    """The alert one source deserves for ``day``, or None when all is well."""

    source = (ingested or checked).source if (ingested or checked) else None
    if source is None:
        return None
    if ingested is not None and ingested.error:
        if ingested.error_kind == INFRASTRUCTURE:
            return infrastructure_alert(source, day, ingested.error)
        return contract_alert(source, day, ingested.error)
    held_at_ingest = ingested.quarantined if ingested is not None else 0
    status = checked.status if checked is not None else "passed"
    if status not in ("warnings", "critical") and not held_at_ingest:
        return None
    counts = {"ingest quarantined": held_at_ingest}
    links: dict[str, str] = {}
    failed: list[dict[str, Any]] = []
    notes: list[str] = []
    if checked is not None:
        counts.update(
            {
                "validated input rows": checked.input_rows,
                "validated rows kept": checked.validated_rows,
                "validation quarantined": checked.quarantined_rows,
            }
        )
        failed, notes = checked.failed, checked.notes
        if checked.data_docs:
            links = {"data docs": checked.data_docs["index"]}
            if checked.data_docs.get("page"):
                links["validation page"] = checked.data_docs["page"]
    if checked is not None and status == "critical" and not checked.input_rows and not held_at_ingest:
        summary = (  # nothing arrived: the fix is a new drop, not a rerun of validation
            f"No {source} rows arrived for {day} (the drop is empty or missing), so nothing "
            f"reached bronze. Have the sender deliver the day's rows to the landing area, then "
            f"rerun `riskcast ingest --date {day}`."
        )
    elif checked is not None and status == "critical":
        summary = checked.message
    elif checked is not None and not checked.quarantined_rows and not held_at_ingest:
        # a finding about the day, not its rows (a site fell silent): say what it is
        found = [f["note"] for f in failed if f.get("note")]
        summary = f"{source} {day}: " + ("; ".join(found) or checked.message) + "; every row is in bronze."
    elif checked is None:  # the ingest stage's alert: its rows wait, staged, for validation
        summary = (f"{source} {day}: {held_at_ingest} rows held back at ingest; the other rows go on "
                   "to validation. Review the quarantine partition.")
    else:
        summary = (
            f"{source} {day}: {counts.get('validation quarantined', 0)} rows held back by validation and "
            f"{held_at_ingest} by ingest; the other rows are in bronze. Review the quarantine partition."
        )
    blocking = checked.blocking if checked is not None else []
    kept = checked is not None and bool(checked.kept)
    staging = _lake(settings, source, day, True)
    staged = kept or (checked is None and staging.exists(staging.ingest_quarantine(source, day)))
    rows = quarantined_rows(settings, source, day, failed, blocking, staged=staged)
    return data_quality_alert(
        source,
        day,
        severity="critical" if status == "critical" else "warning",
        summary=summary,
        failed=failed,
        counts=counts,
        rows=rows,
        links={**links, "quarantine": _lake(settings, source, day, kept).quarantine(source, day)},
        notes=notes,
    )


def quarantined_rows(
    settings: Settings,
    source: str,
    day: date,
    failed: list[dict[str, Any]],
    blocking: list[str] = (),
    staged: bool = False,
) -> list[dict[str, Any]]:
    """Up to ``alerts.max_rows`` held-back rows of ``source`` on ``day``, safe columns only.

    Rows that broke a row-level expectation come first; rows held back only because the
    whole batch was rejected (reason = the ``blocking`` names) follow. ``staged``: from the
    day's rejected attempt (``validation.staging``), the live partition having been kept.
    """

    lake = _lake(settings, source, day, staged)
    contract = CONTRACTS[source]
    named = [c for f in failed for m in _NAME_COLUMNS.findall(f["name"]) for c in m.split(",")]
    columns = [*contract.key, WAREHOUSE_ID, *named, REASON, STAGE, SOURCE_FILE, SOURCE_ROW]
    frames = []
    for stage, uri in (
        ("validation", lake.validation_quarantine(source, day)),
        ("ingest", lake.ingest_quarantine(source, day)),
    ):
        if lake.exists(uri):
            held = lake.read_parquet(uri).assign(**{STAGE: stage}).astype({SOURCE_ROW: "Int64"})
            own = held[REASON] != "; ".join(blocking)
            frames.append(pd.concat([held[own], held[~own]]))
    if not frames:
        return []
    limit = settings.alerts.max_rows
    return offending_rows(
        pd.concat([f.head(limit) for f in frames], ignore_index=True), columns, limit
    )


def _lake(settings: Settings, source: str, day: date, staged: bool) -> Lake:
    lake = Lake.from_settings(settings)
    return lake.with_staged({(source, day)}) if staged else lake
