"""What every riskcast task needs from Airflow: the logical date, the days to process, the
settings with the run's params applied, and the retry policy.

Light on purpose: DAG files import this at parse time, so nothing heavy is imported here.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

from forecasting.core.config import load_settings, with_ray_overrides
from forecasting.core.lake import day_range, parse_date
from forecasting.core.progress import isolate_libraries

# Data problems never get better by retrying; infrastructure hiccups might.
NOT_RETRYABLE = (
    "forecasting.core.errors.DataContractError",
    "forecasting.core.errors.InputError",
    "forecasting.core.errors.ConfigError",
    "forecasting.core.errors.CalibrationGateError",
    "forecasting.core.errors.ModelError",
    "forecasting.core.errors.PublishError",
)

RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=list(NOT_RETRYABLE),
            action=RetryAction.FAIL,
            reason="data or contract problem: fix the input, then rerun the date",
        )
    ],
    default=RetryAction.DEFAULT,
)

LIBRARY_LOG = "riskcast-libraries.log"
_START_RSS: dict[str, float] = {}  # task id -> the process's RSS (MiB) when the task started


def reset_peak_memory(context: dict[str, Any]) -> None:
    """Start the task's peak-RSS count afresh (Linux: ``/proc/self/clear_refs``): under
    ``airflow dags test`` every task runs in one process, whose peak would carry over."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return
    task = getattr(context.get("ti"), "task_id", "?")
    _START_RSS[task] = _status_mib("VmRSS") or 0.0


def log_peak_memory(context: dict[str, Any]) -> None:
    """Log the task process's peak RSS since ``reset_peak_memory`` and its RSS then
    (``bench/README.md`` tabulates these lines from a demo run). Ray workers (training) are
    other processes: not in it."""
    peak = _status_mib("VmHWM")
    if peak is not None:
        task = getattr(context.get("ti"), "task_id", "?")
        start = _START_RSS.pop(task, None)
        log = logging.getLogger(__name__)
        log.disabled = False  # a logging dictConfig run by the task (Ray's start) may disable it
        log.info(
            "riskcast task %s peak RSS %.0f MiB (%s MiB when it started)", task, peak,
            "?" if start is None else f"{start:.0f}",
        )


def _status_mib(field: str) -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    value = next((ln.split()[1] for ln in status.splitlines() if ln.startswith(f"{field}:")), None)
    return None if value is None else int(value) / 1024


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "riskcast",
    "on_execute_callback": reset_peak_memory,
    "on_success_callback": log_peak_memory,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "retry_policy": RETRY_POLICY,
}


def as_of(context: dict[str, Any]) -> date:
    """The day a run works on, derived one way for cron, asset-triggered and manual runs.

    ``params.as_of`` if given; else the last day that had ENDED when the run became due: the
    day before the end of the run's data interval, or, for runs without one (asset-triggered,
    manual without a logical date), the day before ``run_after``. So the daily ingest
    (``CronDataIntervalTimetable``, interval [D, D+1) due at D+1 00:00 UTC) processes D, the
    weekly forecast due Monday 00:00 works on the Sunday that ended the week, and a forecast
    triggered by the bronze of D (published just after midnight) works on D. Never ``ds``:
    asset-triggered runs have none.
    """

    explicit = (context.get("params") or {}).get("as_of")
    if explicit:
        return parse_date(explicit, "params.as_of")
    run = context.get("dag_run")
    end = context.get("data_interval_end") or getattr(run, "data_interval_end", None)
    end = end or getattr(run, "run_after", None)
    if end is None:
        raise ValueError("the task context has neither a data interval nor run_after: pass params.as_of")
    return _utc_day(end) - timedelta(days=1)


def _utc_day(stamp: Any) -> date:
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC)
    return stamp.date()


def days(context: dict[str, Any], max_days: int | None = None) -> list[date]:
    """Days an ingest run covers: ``params.backfill_from`` .. as_of, else just as_of; at most
    ``max_days`` (``settings.max_backfill_days``, the CLI's bound on ``--from/--to``)."""

    last = as_of(context)
    first_raw = (context.get("params") or {}).get("backfill_from")
    first = parse_date(first_raw, "params.backfill_from") if first_raw else last
    if first > last:
        raise ValueError(f"params.backfill_from {first} is after the run's date {last}")
    return day_range(first, last, max_days, "params.backfill_from")


def settings(context: dict[str, Any]):
    """Settings from env / RISKCAST_CONFIG with the run's params (workers, gpu) applied."""

    params = context.get("params") or {}
    quiet_task_logs()
    return with_ray_overrides(load_settings(), params.get("workers"), params.get("gpu"))


def quiet_task_logs() -> Path:
    """GX, Ray, Lightning and torch log to ``<base_log_folder>/riskcast-libraries.log``, not
    the task log (which keeps riskcast's own lines); called by every task via ``settings``."""
    from airflow.configuration import conf

    folder = Path(conf.get("logging", "base_log_folder", fallback=tempfile.gettempdir()))
    return isolate_libraries(folder / LIBRARY_LOG)


def summary(result: Any) -> dict[str, Any]:
    """What a task returns to XCom: the stage's small JSON summary, never a frame."""
    return result.to_dict() if hasattr(result, "to_dict") else result
