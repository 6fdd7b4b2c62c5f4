"""The one runner of the intake stage: ingest -> validate -> alert, over one day or a range.

``ingest_dates`` / ``ingest_and_validate`` / ``validate_date`` run every source of a day
(the CLI); ``ingest_source_days`` / ``validate_source_days`` / ``ingest_reference_days``
run one source over days (what each ingest-DAG task calls).

A daily run covers one day; a backfill run (``params.backfill_from``) covers a range in one
process, with the same files as day by day. In a backfill a day whose batch is rejected
(a data-contract failure) is alerted and skipped so the other days land; the run's own
date (the last day) failing fails the task, without retries. A backfill's alerts of past days
go out as one digest at the end (``alerts.digest``); the last day's alone. Each function
returns a small JSON-able summary for XCom: counts, the days rejected and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import date
from functools import partial
from typing import Any

from forecasting.alerts.alert import contract_alert
from forecasting.alerts.digest import Backfill
from forecasting.alerts.send import send_alert
from forecasting.core.config import Settings
from forecasting.core.errors import AlertError, DataContractError, InputError, RiskcastError
from forecasting.core.lake import Lake, parse_date
from forecasting.core.progress import progress_task
from forecasting.core.schema import CONTRACTS, REFERENCE_SOURCES
from forecasting.ingest.actors import run_on_actors, use_ray
from forecasting.ingest.drop import ingest_date, ingest_day, ingest_days
from forecasting.validation.alerting import alert_day
from forecasting.validation.batch import validate_days
from forecasting.validation.checks import CRITICAL, SOURCE_ORDER, check_source, write_docs
from forecasting.validation.results import DayValidation
from forecasting.validation.staging import conclude, not_revalidated, prepare

log = logging.getLogger(__name__)
COUNTS = ("read", "accepted", "quarantined", "duplicates")


def ingest_source_days(settings: Settings, source: str, days: Sequence[date]) -> dict[str, Any]:
    """Ingest ``source`` for each day; alert rows held back at ingest and rejected files."""

    totals = dict.fromkeys(COUNTS, 0)
    ingest = _ingest_lookup(settings, source, days, swap=False)  # in process, or every day first on Ray
    backfill = _backfill(settings, f"ingest {source}", days)
    arrival: dict[str, Any] = {}

    def one(day: date) -> None:
        result = ingest(day)
        for k in COUNTS:
            totals[k] += getattr(result, k)
        if result.arrival != "complete" or result.kept:
            arrival[day.isoformat()] = result.kept or result.arrival
        if result.quarantined or result.arrival != "complete":
            _deliver(lambda: alert_day(settings, day, [result], [], send=backfill.send))

    try:
        rejected = _each_day(settings, source, days, "ingest", one, set(), backfill)
    finally:
        _deliver(backfill.flush)
    return {"source": source, "days": len(days), **totals, "rejected_days": rejected, "not_complete": arrival}


def validate_source_days(
    settings: Settings, source: str, days: Sequence[date], ingest_rejected: Collection[str] | None = ()
) -> dict[str, Any]:
    """Validate ``source``'s bronze for each day with its GX suite (in batches of days,
    ``validation_batch``: the same files as day by day); alert failures.

    ``ingest_rejected``: ISO days whose drop ingest refused (its ``rejected_days``): ingest
    alerted them as broken contracts, so their empty batch is not alerted a second time."""

    totals = {"input_rows": 0, "validated_rows": 0, "quarantined_rows": 0, "warning_days": 0}
    docs: dict[str, Any] = {}
    alerted: set[date] = set()  # rejected batches already alerted with their rows
    walk = validate_days(settings, source, days, docs_day=days[-1], only_staged=True)  # many days per GX run
    backfill = _backfill(settings, f"validate {source}", days)

    def one(day: date) -> None:
        walked, checked = next(walk)
        assert walked == day, f"validation walked {walked}, expected {day}"
        if isinstance(checked, Exception):
            raise checked
        for k in ("input_rows", "validated_rows", "quarantined_rows"):
            totals[k] += getattr(checked, k)
        docs.update(checked.data_docs or {})
        if checked.exit_code:
            totals["warning_days"] += checked.exit_code == 1
            alerted.add(day)
            if day.isoformat() not in (ingest_rejected or ()):  # one alert per problem
                _deliver(lambda: alert_day(settings, day, [], [checked], send=backfill.send))
        if checked.exit_code == 2:
            raise DataContractError(checked.message)

    try:
        rejected = _each_day(settings, source, days, "validate", one, alerted, backfill)
    finally:
        _deliver(backfill.flush)
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


def _ingest_lookup(settings: Settings, source: str | None, days: Sequence[date], swap: bool = True) -> Callable[[date], Any]:
    """``get(day)``: what ingesting ``source`` (None: every source, ``ingest_date``) for
    ``day`` returns, raising what it raises. In process ``get`` ingests the day when asked;
    on Ray (``parallel.use_ray``) the actors ingest every day first, ``validation.batch_days``
    days per call, and ``get`` logs the day's warnings and errors and returns its result."""
    size = max(settings.validation.batch_days, 1)
    chunks = [list(days[i:i + size]) for i in range(0, len(days), size)]
    if not use_ray(settings, len(chunks)):
        return partial(ingest_day, settings, source=source, swap=swap)
    done: dict[date, Any] = {}
    label = f"ingest {source or 'every source'} (Ray)"
    for part in run_on_actors(settings, partial(ingest_days, source=source, swap=swap), chunks, label,
                              sources=[source] if source else list(CONTRACTS)):
        done.update(part)

    def get(day: date) -> Any:
        if isinstance(done[day], Exception):
            raise done[day]
        for result in done[day] if isinstance(done[day], list) else [done[day]]:
            for warning in result.warnings:
                log.warning("%s", warning)
            if result.error:
                log.error("%s %s: %s", result.source, day, result.error)
        return done[day]

    return get


def _each_day(settings: Settings, source: str, days: Sequence[date], stage: str,
              fn: Callable[[date], None], alerted: set[date], backfill: Backfill) -> dict[str, str]:  # fmt: skip
    """Run ``fn`` per day; collect contract failures (alerted); re-raise the last day's."""

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
                    _deliver(lambda a=alert: backfill.send(a))
                if day == days[-1]:
                    raise DataContractError(
                        f"{source} {day} rejected at {stage}: {exc}"
                        + (f" ({len(rejected) - 1} earlier day(s) of this backfill also rejected)" if len(rejected) > 1 else "")
                    ) from exc
            advance()
    if rejected:
        log.warning("%s %s: %d of %d days rejected (alerted): %s", stage, source, len(rejected), len(days), sorted(rejected))
    return rejected


def _backfill(settings: Settings, label: str, days: Sequence[date]) -> Backfill:
    return Backfill(label, days, lambda a: send_alert(settings, a))


def _deliver(send: Callable[[], Any]) -> None:
    """Send an alert; a dead route is logged, never hides the data problem it reports."""
    try:
        send()
    except AlertError as exc:
        log.error("alert not delivered on every route: %s", exc)


# --------------------------------------------------------------------------- all sources of a day
def validate_date(settings: Settings, day: date, alert: bool = False, only_staged: bool = False) -> DayValidation:
    """Validate every source of ``day`` (reference snapshots first), each on its staged copy,
    swapped in or kept before the next (``staging``; ``only_staged``: only the sources this
    run ingested anew); raises nothing for data. ``alert``: alert every source with
    quarantined rows or a rejected batch (``DayValidation.alerts``)."""
    day = parse_date(day)
    lake = Lake.from_settings(settings)
    runs = []
    for source in SOURCE_ORDER:
        staged = prepare(lake, source, day, only_staged)
        if staged is None:
            runs.append((not_revalidated(source, day), None))
            continue
        checked, result = check_source(settings, staged, source, day)
        runs.append((conclude(staged, source, day, checked), result))
    write_docs(settings, day, runs)
    results = [checked for checked, _ in runs]
    for r in results:
        (log.error if r.status == CRITICAL else log.info)("%s", r.message)
    index = next((r.data_docs["index"] for r in results if r.data_docs), None)
    checked = DayValidation(day, results, index)
    if alert:
        checked.alerts, checked.alert_errors = alert_day(settings, day, [], results)
    return checked


def ingest_and_validate(
    settings: Settings, days: date | Sequence[date], validate: bool = True
) -> dict[str, Any] | list[dict[str, Any]]:
    """Ingest each day, then validate it, and alert on every source with a problem.

    One dict per day: ``date``, ``sources`` (ingest results), totals ``read`` /
    ``accepted`` / ``quarantined`` / ``duplicates``, ``validation`` (``DayValidation``),
    ``alerts`` (title -> routes), ``alert_errors``, ``errors`` and ``exit_code`` (2: a
    source failed; 1: rows quarantined, a drop incomplete or missing, an alert route
    failed; 0: clean). A single date gives a single dict. A day without any landing drop
    raises StorageError.
    """
    single = not isinstance(days, Sequence)
    out = [
        _ingest_and_validate_day(settings, parse_date(d), validate)
        for d in ([days] if single else days)
    ]
    return out[0] if single else out


def _ingest_and_validate_day(settings: Settings, day: date, validate: bool) -> dict[str, Any]:
    ingested = ingest_date(settings, day, swap=not validate)
    return _day_summary(settings, day, ingested, validate_date(settings, day, only_staged=True) if validate else None)


def _backfill_and_validate(settings: Settings, days: Sequence[date]) -> list[dict[str, Any]]:
    """A CLI backfill: ingest every day, validate each source over the days in batches
    (``validation_batch``: the same files as day by day), then summarise and alert each day
    as ``ingest_and_validate`` does. Data Docs: the last day and days with a problem (as the
    DAG's backfill). A day without a landing drop is recorded and skipped."""
    ingested, out = {}, {}
    ingest = _ingest_lookup(settings, None, days, swap=False)
    backfill = _backfill(settings, "ingest", days)
    with progress_task("ingest days", len(days)) as advance:
        for day in days:
            try:
                ingested[day] = ingest(day)
            except RiskcastError as exc:
                log.error("%s: %s", day, exc)
                out[day] = {"date": day.isoformat(), "sources": {}, "errors": [str(exc)], "exit_code": exc.exit_code}
            advance()
    landed = list(ingested)
    checks: dict[date, list[Any]] = {d: [] for d in landed}
    for source in SOURCE_ORDER:
        for day, checked in validate_days(settings, source, landed, docs_day=landed[-1] if landed else None,
                                          only_staged=True):
            checks[day].append(checked)
    for day in landed:
        results = [c for c in checks[day] if not isinstance(c, Exception)]
        for r in results:
            (log.error if r.status == CRITICAL else log.info)("%s", r.message)
        index = next((r.data_docs["index"] for r in results if r.data_docs), None)
        out[day] = _day_summary(settings, day, ingested[day], DayValidation(day, results, index), backfill.send)
        failed = [str(c) for c in checks[day] if isinstance(c, Exception)]
        if failed:
            out[day]["errors"] += failed
            out[day]["exit_code"] = 2
    _deliver(backfill.flush)
    return [out[d] for d in days]


def _day_summary(
    settings: Settings, day: date, ingested: list[Any], checked: DayValidation | None,
    send: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """One day's summary (see ``ingest_and_validate``); alerts every source with a problem."""
    stopped = {r.source for r in ingested if r.error}
    summary: dict[str, Any] = {"date": day.isoformat(), "sources": {r.source: r.to_dict() for r in ingested},
                               **{k: sum(getattr(r, k) for r in ingested) for k in COUNTS}}
    errors = [f"{r.source}: {r.error}" for r in ingested if r.error]
    warned = summary["quarantined"] or any(r.arrival != "complete" for r in ingested)  # incomplete, missing
    exit_code = 2 if errors else (1 if warned else 0)
    if checked is not None:
        summary["validation"] = checked.to_dict()
        # a source ingest already stopped has no bronze: its critical result repeats that
        errors += [
            s.message for s in checked.sources if s.status == CRITICAL and s.source not in stopped
        ]
        exit_code = max(exit_code, checked.exit_code)
    sent, failed = alert_day(settings, day, ingested, checked.sources if checked else [], send=send)
    summary.update(alerts=sent, alert_errors=failed, errors=errors)
    summary["exit_code"] = max(exit_code, 1 if failed else 0)
    return summary


def ingest_dates(
    settings: Settings, days: list[date], validate: bool = False
) -> list[dict[str, Any]]:
    """Ingest (and with ``validate`` also validate) each day in order; one dict per day.

    Each dict: ``date``, ``sources`` (source -> ``IngestResult.to_dict()``), totals
    ``read``/``accepted``/``quarantined``/``duplicates``, ``errors`` and ``exit_code``
    (2: a source or the day failed; 1: rows were quarantined; 0: clean). With ``validate``
    the dicts are ``validation.ingest_and_validate``'s (same keys plus the validation).
    A single day that cannot be ingested at all raises; in a backfill such a day is
    recorded and the next day goes on (the result is the same as ingesting day by day).
    """
    if validate and len(days) > 1:
        return _backfill_and_validate(settings, days)
    out = []
    with progress_task("ingest days", len(days)) as advance:
        for day in days:
            try:
                out.append(_one_day(settings, day, validate))
            except RiskcastError as exc:
                if len(days) == 1:
                    raise
                log.error("%s: %s", day, exc)
                out.append({"date": day.isoformat(), "sources": {}, "errors": [str(exc)],
                            "exit_code": exc.exit_code})  # fmt: skip
            advance()
    return out


def _one_day(settings: Settings, day: date, validate: bool) -> dict[str, Any]:
    if validate:
        summary = ingest_and_validate(settings, day)
        return summary if isinstance(summary, dict) else summary.to_dict()
    results = ingest_date(settings, day)
    errors = [f"{r.source}: {r.error}" for r in results if r.error]
    totals = {
        k: sum(getattr(r, k) for r in results)
        for k in ("read", "accepted", "quarantined", "duplicates")
    }
    return {
        "date": day.isoformat(),
        "sources": {r.source: r.to_dict() for r in results},
        **totals,
        "errors": errors,
        "exit_code": 2 if errors else (1 if totals["quarantined"] else 0),
    }
