"""Which day each task works on, for runs built the way the scheduler builds them.

The DAGs' real timetables make the runs (``next_dagrun_info`` for cron runs; for asset-
triggered runs what the scheduler's ``_create_dag_runs_asset_triggered`` gives: no logical
date, no data interval, ``run_after`` = the asset event; for manual runs the timetable's
``infer_manual_data_interval``); the task context carries what the task runner hands a task
(``params``, ``logical_date``, ``data_interval_end``, ``dag_run``). Every task of both DAGs
must take its date from ``runtime.as_of`` and nothing else.
"""

from __future__ import annotations

import inspect
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from forecasting.core import schema
from forecasting.core.errors import ConfigError
from forecasting.panel.calendar import last_full_period, partly_observed, period_end, series_grid
from forecasting.panel.sites import OPENED
from forecasting.reserves.weeks import FirstPeriod
from riskcast_airflow import runtime

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _dag(dag_id: str, monkeypatch=None, schedule: str | None = None):
    from airflow.dag_processing.dagbag import DagBag

    if schedule is not None:
        monkeypatch.setenv("RISKCAST_FORECAST_SCHEDULE", schedule)
    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def _core(dag):
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(dag.timetable)


def _context(run_after, logical_date=None, interval=None, params=None) -> dict:
    """What a task sees: the run's stamps as the task runner passes them."""
    end = interval.end if interval is not None else None
    run = SimpleNamespace(run_after=run_after, logical_date=logical_date, data_interval_end=end)
    return {"params": params or {}, "logical_date": logical_date, "data_interval_end": end, "dag_run": run}


def _scheduled(dag, after: datetime) -> dict:
    """The context of the next cron run the scheduler creates after ``after``."""
    from airflow.timetables.base import DataInterval, TimeRestriction

    core = _core(dag)
    last = core.infer_manual_data_interval(run_after=after)
    restriction = TimeRestriction(earliest=datetime(2023, 1, 1, tzinfo=UTC), latest=None, catchup=True)
    info = core.next_dagrun_info(last_automated_data_interval=DataInterval(last.start, last.end),
                                 restriction=restriction)
    assert info is not None
    return _context(info.run_after, info.logical_date, info.data_interval)


@pytest.mark.usefixtures("airflow_db")
def test_the_scheduled_ingest_processes_the_day_that_just_ended():
    dag = _dag("riskcast_ingest")
    assert type(_core(dag)).__name__ == "CronDataIntervalTimetable"
    ctx = _scheduled(dag, datetime(2024, 3, 2, 0, 0, tzinfo=UTC))
    assert ctx["dag_run"].run_after == datetime(2024, 3, 3, tzinfo=UTC), "due once Mar 2 has ended"
    assert runtime.as_of(ctx) == date(2024, 3, 2)
    assert ctx["logical_date"].date() == date(2024, 3, 2), "the UI shows the day processed"
    assert runtime.days(ctx) == [date(2024, 3, 2)]


@pytest.mark.usefixtures("airflow_db")
def test_a_manual_ingest_for_a_logical_date_processes_the_day_before_it():
    dag = _dag("riskcast_ingest")
    stamp = datetime(2024, 3, 3, tzinfo=UTC)  # `airflow dags test riskcast_ingest 2024-03-03`
    ctx = _context(stamp, stamp, _core(dag).infer_manual_data_interval(run_after=stamp))
    assert runtime.as_of(ctx) == date(2024, 3, 2)
    ctx["params"] = {"as_of": "2024-01-05", "backfill_from": "2024-01-03"}
    assert runtime.days(ctx) == [date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]
    assert runtime.days(ctx, 3) == runtime.days(ctx)
    # a backfill_from typo (1924 for 2024) is refused in one line, as the CLI's --from/--to
    ctx["params"] = {"as_of": "2024-01-05", "backfill_from": "1924-01-03"}
    with pytest.raises(ConfigError, match="more than max_backfill_days=1098"):
        runtime.days(ctx, 1098)


@pytest.mark.usefixtures("airflow_db")
def test_the_weekly_preset_works_on_a_saturday_inside_the_week_it_forecasts(monkeypatch):
    """Why the default is not ``@weekly``: due Sunday 00:00, its week has not ended."""
    dag = _dag("riskcast_forecast", monkeypatch, "@weekly")
    ctx = _scheduled(dag, datetime(2024, 3, 1, tzinfo=UTC))
    assert ctx["dag_run"].run_after == datetime(2024, 3, 3, tzinfo=UTC)  # Sunday 00:00
    assert runtime.as_of(ctx) == date(2024, 3, 2)
    assert partly_observed(date(2024, 3, 2), "W-MON")["days_observed"] == 6


@pytest.mark.usefixtures("airflow_db")
def test_an_asset_triggered_forecast_works_on_the_day_the_ingest_processed(monkeypatch):
    dag = _dag("riskcast_forecast", monkeypatch, "assets")
    assert type(_core(dag)).__name__ == "AssetTriggeredTimetable"
    ingest = _scheduled(_dag("riskcast_ingest"), datetime(2024, 3, 2, tzinfo=UTC))
    # the scheduler: logical_date=None, data_interval=None, run_after=the (last) asset event
    event_time = ingest["dag_run"].run_after.replace(minute=7)
    ctx = _context(event_time)
    assert "ds" not in ctx and ctx["logical_date"] is None
    assert runtime.as_of(ctx) == runtime.as_of(ingest) == date(2024, 3, 2)


def test_a_manual_run_without_a_logical_date_works_on_yesterday():
    ctx = _context(datetime(2024, 3, 5, 14, 30, tzinfo=UTC))
    assert runtime.as_of(ctx) == date(2024, 3, 4)
    assert runtime.as_of({**ctx, "params": {"as_of": "2024-02-01"}}) == date(2024, 2, 1)


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("dag_id", ["riskcast_ingest", "riskcast_forecast"])
def test_every_task_derives_its_date_from_runtime_as_of_only(dag_id, monkeypatch):
    dag = _dag(dag_id, monkeypatch, "assets")
    for task in dag.tasks:
        for field in task.template_fields:
            value = str(getattr(task, field, "") or "")
            assert not re.search(r"\{\{.*\}\}", value), f"{task.task_id}.{field} is a template: {value}"
        callable_ = getattr(task, "python_callable", None)
        source = inspect.getsource(callable_ if callable_ else type(task).execute)
        assert "runtime.as_of(context)" in source or "runtime.days(context" in source, task.task_id
        assert not re.search(r"\b(ds|logical_date)\b", source), task.task_id


@pytest.mark.usefixtures("airflow_db")
def test_the_scheduled_weekly_forecast_works_on_sunday_and_forecasts_the_next_full_week(monkeypatch):
    monkeypatch.delenv("RISKCAST_FORECAST_SCHEDULE", raising=False)
    dag = _dag("riskcast_forecast")
    assert type(_core(dag)).__name__ == "CronTriggerTimetable"
    after = datetime(2025, 12, 24, 9, tzinfo=UTC)  # a Wednesday: three runs as catchup makes them
    sites = pd.DataFrame({schema.WAREHOUSE_ID: ["WH-1"], OPENED: [pd.NaT]})
    for _ in range(3):
        ctx = _scheduled(dag, after)
        day = runtime.as_of(ctx)
        assert ctx["dag_run"].run_after.weekday() == 0 and day.weekday() == 6, "due Monday 00:00, works on Sunday"
        assert partly_observed(day, "W-MON") is None
        assert period_end(last_full_period(day, "W-MON"), "W-MON").date() == day, "the last full week ends on as_of"
        grid, _ = series_grid(sites, date(2024, 1, 1), day, "W-MON", 8)
        first = grid.loc[grid[schema.IS_FUTURE], schema.DS].min()
        assert first.date() == day + timedelta(days=1), "the first forecast week is the next full week"
        assert FirstPeriod(day, first.date(), first.date() + timedelta(days=6)).label == "Next week"
        after = ctx["dag_run"].run_after


@pytest.mark.usefixtures("airflow_db")
def test_a_forecast_on_another_day_names_the_week_under_way(monkeypatch):
    """`make demo` runs `airflow dags test riskcast_forecast 2026-01-02`: as_of Thursday 2026-01-01."""
    monkeypatch.delenv("RISKCAST_FORECAST_SCHEDULE", raising=False)
    dag = _dag("riskcast_forecast")
    stamp = datetime(2026, 1, 2, tzinfo=UTC)
    ctx = _context(stamp, stamp, _core(dag).infer_manual_data_interval(run_after=stamp))
    day = runtime.as_of(ctx)
    assert day == date(2026, 1, 1) and day.weekday() == 3
    assert partly_observed(day, "W-MON") == {
        "period_start": "2025-12-29", "period_end": "2026-01-04", "days_observed": 4, "days": 7,
    }
    sites = pd.DataFrame({schema.WAREHOUSE_ID: ["WH-1"], OPENED: [pd.NaT]})
    grid, _ = series_grid(sites, date(2024, 1, 1), day, "W-MON", 8)
    first = grid.loc[grid[schema.IS_FUTURE], schema.DS].min().date()
    assert first == date(2025, 12, 29), "the week under way is forecast whole, its 4 days unused"
    period = FirstPeriod(day, first, first + timedelta(days=6))
    assert period.label == "This week" and "4 of its 7 days had passed" in period.note()


@pytest.mark.usefixtures("airflow_db")
def test_a_window_from_the_env_starts_both_timetables_and_the_forecast_waits_for_its_days_ingest(monkeypatch):
    """The soak's catchup window (docs/operations.md): RISKCAST_SCHEDULE_START/END bound both
    timetables; the first weekly run works on a day the ingest ran for, and its wait_ingest
    looks for the ingest run of exactly that day; a manual run does not wait."""
    from airflow.timetables.base import TimeRestriction

    monkeypatch.delenv("RISKCAST_FORECAST_SCHEDULE", raising=False)
    monkeypatch.setenv("RISKCAST_SCHEDULE_START", "2026-11-16")  # a Monday
    monkeypatch.setenv("RISKCAST_SCHEDULE_END", "2026-11-30")
    ingest, forecast = _dag("riskcast_ingest"), _dag("riskcast_forecast")
    first_runs = {}
    for dag in (ingest, forecast):
        assert dag.end_date == datetime(2026, 11, 30, tzinfo=UTC)
        restriction = TimeRestriction(earliest=dag.start_date, latest=dag.end_date, catchup=True)
        info = _core(dag).next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
        first_runs[dag.dag_id] = _context(info.run_after, info.logical_date, info.data_interval)
    assert first_runs["riskcast_ingest"]["logical_date"] == datetime(2026, 11, 16, tzinfo=UTC)
    ctx = first_runs["riskcast_forecast"]
    assert runtime.as_of(ctx) == date(2026, 11, 22), "not the Sunday before the window's first day"
    wait = forecast.get_task("wait_ingest")
    assert wait._get_dttm_filter(ctx) == [datetime(2026, 11, 22, tzinfo=UTC)], "the ingest run of that Sunday"
    manual = {**ctx, "dag_run": SimpleNamespace(run_type="manual", run_after=ctx["dag_run"].run_after)}
    assert wait.execute(manual) is None, "a manual run goes on at once (it would defer otherwise)"
