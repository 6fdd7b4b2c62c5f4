"""When the DAGs' timetables start and end, and the forecast's wait for the ingest of its day.

``start_date`` / ``end_date`` come from ``RISKCAST_SCHEDULE_START`` / ``RISKCAST_SCHEDULE_END``
(ISO dates, UTC), read when the DAG files are parsed: by default the timetables start on
2023-01-01 and never end. Catchup is Airflow's own setting (``[scheduler]
catchup_by_default``, ``AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT``, off by default): with it on,
the scheduler creates every run due since the start, oldest first (the soak,
docs/operations.md, replays weeks that way).

``IngestedSensor`` (task ``wait_ingest`` of ``riskcast_forecast``): a scheduled forecast run
waits, deferred on the triggerer, until the ``riskcast_ingest`` run of its as-of day has
succeeded, so the weekly run due Monday 00:00 reads Sunday's drop (due hours later) and the
restatements that run's sweep found. A run triggered by hand or by the bronze Assets (which
that ingest emitted) does not wait.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.providers.standard.sensors.external_task import ExternalTaskSensor

from riskcast_airflow import runtime

START_ENV, END_ENV = "RISKCAST_SCHEDULE_START", "RISKCAST_SCHEDULE_END"
DEFAULT_START = date(2023, 1, 1)
INGEST_DAG = "riskcast_ingest"


def start_date(days_after: int = 0) -> datetime:
    """The timetable's start (midnight UTC), ``days_after`` the configured start day."""
    return _midnight(_env_date(START_ENV) or DEFAULT_START) + timedelta(days=days_after)


def end_date() -> datetime | None:
    """The timetable's end (midnight UTC of the configured end day: its run is the last), or None."""
    day = _env_date(END_ENV)
    return None if day is None else _midnight(day)


def _env_date(name: str) -> date | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{name}={value!r} is not a date: use YYYY-MM-DD") from exc


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _ingest_logical_date(logical_date: Any, **context: Any) -> datetime:
    # the daily ingest's run of day D (CronDataIntervalTimetable) has logical date D 00:00 UTC
    return _midnight(runtime.as_of(context))


class IngestedSensor(ExternalTaskSensor):
    """Wait until the ``riskcast_ingest`` run of the run's as-of day succeeded (scheduled runs)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", timedelta(days=2).total_seconds())  # drop deadlines are < 1 day
        kwargs.setdefault("poke_interval", 30)
        super().__init__(external_dag_id=INGEST_DAG, external_task_id=None, failed_states=["failed"],
                         execution_date_fn=_ingest_logical_date, deferrable=True, **kwargs)  # fmt: skip

    def execute(self, context: Any) -> None:
        kind = getattr(context.get("dag_run"), "run_type", None)
        run_type = str(getattr(kind, "value", kind) or "manual").lower()
        if run_type != "scheduled" or (context.get("params") or {}).get("as_of"):
            self.log.info("a %s run does not wait for the ingest of its day", run_type)
            return None
        self.log.info("waiting for the %s run of %s", INGEST_DAG, runtime.as_of(context))
        return super().execute(context)
