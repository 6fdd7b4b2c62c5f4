"""What every riskcast task needs from Airflow: the logical date, the days to process, the
settings with the run's params applied, and the retry policy.

Light on purpose: DAG files import this at parse time, so nothing heavy is imported here.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

# Data problems never get better by retrying; infrastructure hiccups might.
NOT_RETRYABLE = (
    "forecasting.errors.DataContractError",
    "forecasting.errors.InputError",
    "forecasting.errors.ConfigError",
    "forecasting.errors.CalibrationGateError",
    "forecasting.errors.ModelError",
    "forecasting.errors.PublishError",
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

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "riskcast",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "retry_policy": RETRY_POLICY,
}


def as_of(context: dict[str, Any]) -> date:
    """The run's date: ``params.as_of`` if given, else the logical date (or run_after)."""
    from forecasting.lake import parse_date

    explicit = (context.get("params") or {}).get("as_of")
    if explicit:
        return parse_date(explicit, "params.as_of")
    stamp = context.get("logical_date") or context["dag_run"].run_after
    return stamp.date()


def days(context: dict[str, Any]) -> list[date]:
    """Days an ingest run covers: ``params.backfill_from`` .. as_of, else just as_of."""
    from forecasting.lake import parse_date

    last = as_of(context)
    first_raw = (context.get("params") or {}).get("backfill_from")
    first = parse_date(first_raw, "params.backfill_from") if first_raw else last
    if first > last:
        raise ValueError(f"params.backfill_from {first} is after the run's date {last}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def settings(context: dict[str, Any]):
    """Settings from env / RISKCAST_CONFIG with the run's params (workers, gpu) applied."""
    from forecasting.config import load_settings

    base = load_settings()
    params = context.get("params") or {}
    ray = base.ray.model_copy(
        update={
            k: v
            for k, v in {"num_workers": params.get("workers"), "use_gpu": params.get("gpu")}.items()
            if v is not None
        }
    )
    return base.model_copy(update={"ray": ray})


def summary(result: Any) -> dict[str, Any]:
    """What a task returns to XCom: the stage's small JSON summary, never a frame."""
    return result.to_dict() if hasattr(result, "to_dict") else result
