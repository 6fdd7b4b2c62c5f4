"""Per-source stage runs over one day or a backfill range: what each ingest-DAG task calls.

A daily run covers one day; a backfill run (``params.backfill_from``) covers a range in one
process, with the same files as day by day. In a backfill a day whose batch is rejected
(a data-contract failure) is alerted and skipped so the other days land; the run's own
date (the last day) failing fails the task, without retries. Each function returns a small
JSON-able summary for XCom: counts, the days rejected and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from forecasting.config import Settings
from forecasting.errors import AlertError, DataContractError, InputError
from forecasting.progress import progress_task
from forecasting.schema import REFERENCE_SOURCES

log = logging.getLogger(__name__)
COUNTS = ("read", "accepted", "quarantined", "duplicates")


def ingest_source_days(settings: Settings, source: str, days: Sequence[date]) -> dict[str, Any]:
    """Ingest ``source`` for each day; alert rows held back at ingest and rejected files."""
    from forecasting.ingest import ingest_source
    from forecasting.validation_alerts import alert_day

    totals = dict.fromkeys(COUNTS, 0)

    def one(day: date) -> None:
        result = ingest_source(settings, source, day)
        for k in COUNTS:
            totals[k] += getattr(result, k)
        if result.quarantined:
            _deliver(lambda: alert_day(settings, day, [result], []))

    rejected = _each_day(settings, source, days, "ingest", one)
    return {"source": source, "days": len(days), **totals, "rejected_days": rejected}


def validate_source_days(settings: Settings, source: str, days: Sequence[date]) -> dict[str, Any]:
    """Validate ``source``'s bronze for each day with its GX suite; alert failures."""
    from forecasting.validation import validate_source
    from forecasting.validation_alerts import alert_day

    totals = {"input_rows": 0, "validated_rows": 0, "quarantined_rows": 0, "warning_days": 0}
    docs: dict[str, Any] = {}
    alerted: set[date] = set()  # rejected batches already alerted with their rows

    def one(day: date) -> None:
        checked = validate_source(settings, source, day, raise_on_critical=False, docs=day == days[-1])
        for k in ("input_rows", "validated_rows", "quarantined_rows"):
            totals[k] += getattr(checked, k)
        docs.update(checked.data_docs or {})
        if checked.exit_code:
            totals["warning_days"] += checked.exit_code == 1
            alerted.add(day)
            _deliver(lambda: alert_day(settings, day, [], [checked]))
        if checked.exit_code == 2:
            raise DataContractError(checked.message)

    rejected = _each_day(settings, source, days, "validate", one, alerted)
    return {"source": source, "days": len(days), **totals, "rejected_days": rejected, "data_docs": docs.get("index")}


def ingest_reference_days(settings: Settings, days: Sequence[date]) -> dict[str, Any]:
    """Snapshot and validate the reference sources (warehouses, events).

    A daily run snapshots its day. A backfill snapshots the first and the last day only:
    reference data is delivered as one current file, so the snapshot of the first day is
    what the referential checks of every later day of the range read ("latest snapshot on
    or before the day"), and a snapshot per day would be the same bytes 1,000 times.
    """
    snap_days = sorted({days[0], days[-1]})
    return {
        source: {
            "ingest": ingest_source_days(settings, source, snap_days),
            "validate": validate_source_days(settings, source, snap_days),
        }
        for source in REFERENCE_SOURCES
    }


def _each_day(
    settings: Settings,
    source: str,
    days: Sequence[date],
    stage: str,
    fn: Callable[[date], None],
    alerted: set[date] = frozenset(),
) -> dict[str, str]:
    """Run ``fn`` per day; collect contract failures (alerted); re-raise the last day's."""
    from forecasting.alerts import contract_alert

    rejected: dict[str, str] = {}
    with progress_task(f"{stage} {source}", len(days)) as advance:
        for day in days:
            try:
                fn(day)
            except (DataContractError, InputError) as exc:
                rejected[day.isoformat()] = str(exc)
                log.error("%s %s %s rejected: %s", stage, source, day, exc)
                if day not in alerted:
                    alert = contract_alert(source, day, str(exc))
                    _deliver(lambda a=alert: _send(settings, a))
                if day == days[-1]:
                    raise DataContractError(
                        f"{source} {day} rejected at {stage}: {exc}"
                        + (f" ({len(rejected) - 1} earlier day(s) of this backfill also rejected)" if len(rejected) > 1 else "")
                    ) from exc
            advance()
    if rejected:
        log.warning("%s %s: %d of %d days rejected (alerted): %s", stage, source, len(rejected), len(days), sorted(rejected))
    return rejected


def _send(settings: Settings, alert: Any) -> list[str]:
    from forecasting.alerts import send_alert

    return send_alert(settings, alert)


def _deliver(send: Callable[[], Any]) -> None:
    """Send an alert; a dead route is logged, never hides the data problem it reports."""
    try:
        send()
    except AlertError as exc:
        log.error("alert not delivered on every route: %s", exc)
