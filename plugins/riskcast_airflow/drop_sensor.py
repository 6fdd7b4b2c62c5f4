"""``DropSensor``: wait for a daily source's landing drop without holding a worker slot.

Deferrable (the default): ``execute`` looks once; a drop already there (or a deadline long
past: a catch-up run) returns at once; otherwise the task defers to ``DropTrigger`` on the
triggerer until the drop has arrived or its deadline (``settings.drops.<source>``) has
passed. Either way the sensor succeeds with the event: a late drop is data, not a failure;
the ingest task that follows records the day incomplete or missing and alerts its owner
once (``forecasting.ingest.arrival``). ``deferrable=False`` pokes in the worker instead,
every ``poke_interval`` seconds (60 by default), holding a slot.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from forecasting.core.lake import Lake
from forecasting.ingest import arrival
from riskcast_airflow import runtime
from riskcast_airflow.drop_trigger import DropTrigger, event

TRIGGER_MARGIN = timedelta(minutes=10)  # the trigger fires at the deadline; fail only well after


class DropSensor(BaseSensorOperator):
    """Wait for ``source``'s drop of the run's day (``runtime.as_of``)."""

    def __init__(self, *, source: str, deferrable: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", timedelta(days=2))  # poke mode only: a deadline is < 1 day
        super().__init__(**kwargs)
        self.source = source
        self.deferrable = deferrable

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        wait = _Wait(runtime.settings(context), runtime.as_of(context), self.source)
        done = wait.result()
        if done is not None:
            return done
        self.defer(trigger=wait.trigger(), method_name="execute_complete",
                   timeout=timedelta(seconds=max(wait.deadline - wait.now, 0)) + TRIGGER_MARGIN)  # fmt: skip

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        self.log.info("%s %s: %s (%s)", event["source"], event["day"], event["status"], event["arrived"])
        return event

    def poke(self, context: Any) -> PokeReturnValue:
        done = _Wait(runtime.settings(context), runtime.as_of(context), self.source).result()
        return PokeReturnValue(is_done=done is not None, xcom_value=done)


class _Wait:
    """One look at the drop of the run's day, and the trigger that waits for the rest."""

    def __init__(self, settings: Any, day: date, source: str) -> None:
        self.settings, self.day, self.source = settings, day, source
        self.drop = self.settings.drop(source)
        lake = Lake.from_settings(self.settings)
        self.sites = arrival.expected_sites(lake, self.day) if self.drop.per_site_files else None
        self.state = arrival.look(Lake.landing_from_settings(self.settings), source, self.day, self.sites)
        self.now, self.deadline = arrival.now(), arrival.deadline(self.day, self.drop).timestamp()

    def result(self) -> dict[str, Any] | None:
        """The event when waiting is over (arrived, or past the deadline), else None."""
        if self.state.arrived(self.drop, self.now):
            return event(self.state, self.drop, "arrived")
        return event(self.state, self.drop, "overdue") if self.now >= self.deadline else None

    def trigger(self) -> DropTrigger:
        return DropTrigger(self.settings.landing_uri, self.settings.aws_conn_id, self.source,
                           self.day.isoformat(), self.drop.model_dump(), self.deadline, self.sites)  # fmt: skip
