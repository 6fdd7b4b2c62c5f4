"""The ingest DAG's per-source stages: ingest -> validate -> alert, over one day or a range.

``ingest_reference_days``, ``ingest_source_days`` and ``validate_source_days`` are what the
ingest DAG's tasks call (``forecasting.stages``); ``riskcast ingest`` composes the same
functions in the same order (``stages.run_ingest``), and ``day_summaries`` turns their
summaries into one summary per day for the command line.

A daily run covers one day; a backfill run (``params.backfill_from``) covers a range in one
process, with the same files as day by day. In a backfill a day whose batch is rejected
(a data-contract failure) is alerted and skipped so the other days land; the run's own
date (the last day) failing fails the task, without retries (the error carries what the
days before it did as ``partial``). A backfill's alerts of past days go out as one digest
at the end (``alerts.digest``); the last day's alone. Each function returns a small
JSON-able summary for XCom: counts, the days rejected and why, and ``by_day``: per day its
counts, status, errors, alerts and ``exit_code`` (2 refused, 1 rows held back, a drop
incomplete or missing or an alert route failed, 0 clean).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import partial
from typing import Any

from forecasting.alerts.alert import contract_alert
from forecasting.alerts.digest import Backfill
from forecasting.alerts.send import send_alert
from forecasting.core.config import Settings
from forecasting.core.errors import AlertError, DataContractError, InputError, RiskcastError
from forecasting.core.progress import progress_task
from forecasting.core.schema import REFERENCE_SOURCES
from forecasting.ingest.actors import run_on_actors, use_ray
from forecasting.ingest.drop import ingest_day, ingest_days
from forecasting.validation.alerting import HELD, alert_day
from forecasting.validation.batch import validate_days

log = logging.getLogger(__name__)
COUNTS = ("read", "accepted", "quarantined", "duplicates")
_BULKY = ("source", "date", "files", "file_rows")  # kept out of by_day: XCom stays small


def ingest_source_days(settings: Settings, source: str, days: Sequence[date]) -> dict[str, Any]:
    """Ingest ``source`` for each day; alert rows held back at ingest and rejected files.
    Each day stays staged: its validation swaps it in (``validation.staging``)."""

    arrival: dict[str, Any] = {}
    by_day: dict[str, dict[str, Any]] = {}
    out = {"source": source, "days": len(days), **dict.fromkeys(COUNTS, 0), "not_complete": arrival,
                    "by_day": by_day}  # fmt: skip
    ingest = _ingest_lookup(settings, source, days, swap=False)  # in process, or every day first on Ray
    backfill = _backfill(settings, f"ingest {source}", days)

    def one(day: date) -> None:
        result = ingest(day)
        for k in COUNTS:
            out[k] += getattr(result, k)
        if result.arrival != "complete" or result.kept:
            arrival[day.isoformat()] = result.kept or result.arrival
        sent: tuple[dict, list] = ({}, [])
        if result.quarantined or result.arrival != "complete":
            sent = alert_day(settings, day, [result], [], send=backfill.send)
        warned = result.quarantined or result.arrival != "complete" or sent[1]
        by_day[day.isoformat()] = {**{k: v for k, v in result.to_dict().items() if k not in _BULKY},
                                   "alerts": sent[0], "alert_errors": sent[1], "exit_code": 1 if warned else 0}

    with _partial(out):
        try:
            out["rejected_days"] = _each_day(settings, source, days, "ingest", one, set(), backfill, by_day)
        finally:
            _deliver(backfill.flush)
    return out


def validate_source_days(
    settings: Settings, source: str, days: Sequence[date], ingest_rejected: Collection[str] | None = (),
    only_staged: bool = True,
) -> dict[str, Any]:
    """Validate ``source``'s bronze for each day with its GX suite (in batches of days,
    ``validation_batch``: the same files as day by day); alert failures.

    ``ingest_rejected``: ISO days whose drop ingest refused (its ``rejected_days``): ingest
    alerted them as broken contracts, so their empty batch is not alerted a second time.
    ``only_staged`` (the DAG): validate the days this run ingested anew; False (``riskcast
    validate``): a day already live is validated again on a staged copy of it."""

    by_day: dict[str, dict[str, Any]] = {}
    out = {"source": source, "days": len(days), "input_rows": 0, "validated_rows": 0, "quarantined_rows": 0,
                    "warning_days": 0, "by_day": by_day}  # fmt: skip
    docs: dict[str, Any] = {}
    alerted: set[date] = set()  # rejected batches already alerted with their rows
    walk = validate_days(settings, source, days, docs_day=days[-1], only_staged=only_staged)  # many days per GX run
    backfill = _backfill(settings, f"validate {source}", days)

    def one(day: date) -> None:
        walked, checked = next(walk)
        assert walked == day, f"validation walked {walked}, expected {day}"
        if isinstance(checked, Exception):
            raise checked
        for k in ("input_rows", "validated_rows", "quarantined_rows"):
            out[k] += getattr(checked, k)
        docs.update(checked.data_docs or {})
        sent: tuple[dict, list] = ({}, [])
        if checked.exit_code:
            out["warning_days"] += checked.exit_code == 1
            alerted.add(day)
            if day.isoformat() not in (ingest_rejected or ()):  # one alert per problem
                sent = alert_day(settings, day, [], [checked], send=backfill.send)
        by_day[day.isoformat()] = {**{k: v for k, v in checked.to_dict().items() if k not in _BULKY},
                                   "message": checked.message, "alerts": sent[0], "alert_errors": sent[1],
                                   "exit_code": max(checked.exit_code, 1 if sent[1] else 0)}
        if checked.exit_code == 2:
            raise DataContractError(checked.message)

    with _partial(out):
        try:
            out["rejected_days"] = _each_day(settings, source, days, "validate", one, alerted, backfill, by_day)
        finally:
            _deliver(backfill.flush)
    out["data_docs"] = docs.get("index")
    return out


def ingest_reference_days(settings: Settings, days: Sequence[date]) -> dict[str, Any]:
    """Snapshot and validate the reference sources (warehouses, events).

    A daily run snapshots its day. A backfill snapshots the first and the last day only:
    reference data is delivered as one current file, so the snapshot of the first day is
    what the referential checks of every later day of the range read ("latest snapshot on
    or before the day"), and a snapshot per day would be the same bytes 1,000 times.
    """
    snap_days = sorted({days[0], days[-1]})
    out: dict[str, Any] = {}
    with _partial(out):
        for source in REFERENCE_SOURCES:
            out[source] = {"ingest": ingest_source_days(settings, source, snap_days)}
            out[source]["validate"] = validate_source_days(settings, source, snap_days)
    return out


def day_summaries(days: Sequence[date], ingested: dict[str, dict[str, Any]],
                  validated: dict[str, dict[str, Any]] | None) -> list[dict[str, Any]]:  # fmt: skip
    """One summary per day from the stages' ``by_day`` (``{source: {ISO day: entry}}``; a
    reference source has entries on its snapshot days only; ``validated`` None: ingest only).

    Each: ``date``, ``sources`` (the ingest entries), totals ``read`` / ``accepted`` /
    ``quarantined`` / ``duplicates``, ``validation`` (``sources``: the validation entries,
    ``data_docs``), ``alerts`` (title -> routes), ``alert_errors``, ``errors`` and
    ``exit_code``, the worst of the day's entries (2 a source-day refused or failed; 1 rows
    held back, a drop incomplete or missing, an alert route failed; 0 clean)."""
    out = []
    for iso in (d.isoformat() for d in days):
        sources = {s: by[iso] for s, by in ingested.items() if iso in by}
        entries = list(sources.values())
        summary: dict[str, Any] = {"date": iso, "sources": sources,
                                   **{k: sum(e.get(k, 0) for e in entries) for k in COUNTS}}  # fmt: skip
        errors = [f"{s}: {e['error']}" for s, e in sources.items() if e.get("error")]
        if validated is not None:
            checks = {s: by[iso] for s, by in validated.items() if iso in by}
            docs = [e["data_docs"]["index"] for e in checks.values() if e.get("data_docs")]
            summary["validation"] = {"sources": checks, "data_docs": docs[0] if docs else None}
            # a source ingest stopped has nothing validated: its error is already there
            errors += [e.get("message") or f"{s}: {e['error']}" for s, e in checks.items()
                       if e["exit_code"] == 2 and not sources.get(s, {}).get("error")]  # fmt: skip
            entries += checks.values()
        alerts: dict[str, list[str]] = {}
        for e in entries:
            alerts.update(e.get("alerts") or {})
        summary.update(alerts=alerts, alert_errors=[m for e in entries for m in e.get("alert_errors", [])],
                       errors=errors, exit_code=max((e["exit_code"] for e in entries), default=0))  # fmt: skip
        out.append(summary)
    return out


def _ingest_lookup(settings: Settings, source: str, days: Sequence[date], swap: bool = True) -> Callable[[date], Any]:
    """``get(day)``: what ingesting ``source`` for ``day`` returns, raising what it raises.
    In process ``get`` ingests the day when asked; on Ray (``parallel.use_ray``) the actors
    ingest every day first, ``validation.batch_days`` days per call, and ``get`` logs the
    day's warnings and errors and returns its result."""
    size = max(settings.validation.batch_days, 1)
    chunks = [list(days[i:i + size]) for i in range(0, len(days), size)]
    if not use_ray(settings, len(chunks)):
        return partial(ingest_day, settings, source=source, swap=swap)
    done: dict[date, Any] = {}
    for part in run_on_actors(settings, partial(ingest_days, source=source, swap=swap), chunks,
                              f"ingest {source} (Ray)", sources=[source]):  # fmt: skip
        done.update(part)

    def get(day: date) -> Any:
        if isinstance(done[day], Exception):
            raise done[day]
        result = done[day]
        for warning in result.warnings:
            log.warning("%s", warning)
        if result.error:
            log.error("%s %s: %s", result.source, day, result.error)
        return result

    return get


def _each_day(settings: Settings, source: str, days: Sequence[date], stage: str, fn: Callable[[date], None],
              alerted: set[date], backfill: Backfill, by_day: dict[str, Any]) -> dict[str, str]:  # fmt: skip
    """Run ``fn`` per day; collect contract failures (alerted, in ``by_day``); re-raise the last day's."""

    rejected: dict[str, str] = {}
    with progress_task(f"{stage} {source}", len(days)) as advance:
        for day in days:
            try:
                fn(day)
            except (DataContractError, InputError) as exc:
                rejected[day.isoformat()] = str(exc)
                log.error("%s %s %s rejected: %s", stage, source, day, exc)
                entry = by_day.setdefault(day.isoformat(), {"error": str(exc), "error_kind": "contract",
                                                            "alerts": {}, "alert_errors": []})  # fmt: skip
                entry["exit_code"] = 2
                if day not in alerted:
                    alert = contract_alert(source, day, str(exc))
                    try:
                        routes = backfill.send(alert)
                    except AlertError as failed:
                        log.error("alert not delivered on every route: %s", failed)
                        routes = failed.delivered
                        entry["alert_errors"].append(str(failed))
                    entry["alerts"][alert.title] = [HELD] if routes is None else routes
                if day == days[-1]:
                    raise DataContractError(
                        f"{source} {day} rejected at {stage}: {exc}"
                        + (f" ({len(rejected) - 1} earlier day(s) of this backfill also rejected)" if len(rejected) > 1 else "")
                    ) from exc
            advance()
    if rejected:
        log.warning("%s %s: %d of %d days rejected (alerted): %s", stage, source, len(rejected), len(days), sorted(rejected))
    return rejected


@contextmanager
def _partial(summary: dict[str, Any]) -> Iterator[None]:
    """A RiskcastError leaving the block carries ``summary`` as ``partial``: what the days
    before the failure did (``stages.run_ingest`` reports them)."""
    try:
        yield
    except RiskcastError as exc:
        exc.partial = summary
        raise


def _backfill(settings: Settings, label: str, days: Sequence[date]) -> Backfill:
    return Backfill(label, days, lambda a: send_alert(settings, a))


def _deliver(send: Callable[[], Any]) -> None:
    """Send an alert; a dead route is logged, never hides the data problem it reports."""
    try:
        send()
    except AlertError as exc:
        log.error("alert not delivered on every route: %s", exc)
