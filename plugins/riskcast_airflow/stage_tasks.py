"""Airflow tasks made from the stage table (``forecasting.stages``): one factory, so a task
runs exactly the function its ``riskcast`` command runs, under the stage's name, after
checking the lake and landing URIs (``core.lake.check_storage``: one line for a bad one).

A task built here takes its date from ``runtime.as_of`` (its days from ``runtime.days``),
its settings from ``runtime.settings``, alerts on failure as its stage says
(``Stage.failure``), and returns the stage's small JSON summary to XCom. Upstream summaries
are passed as arguments: a stage that ``takes`` a key of the first one (the trained model
version, the days ingest refused) gets its value as its last argument. Imported by DAG files at parse time: the stage table imports no
heavy library (they load inside the stage functions).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from forecasting.core.lake import check_storage
from forecasting.stages import DAY, DAYS, SOURCE_DAYS, stage
from riskcast_airflow import runtime
from riskcast_airflow.notifiers import RiskcastAlertNotifier


def stage_task(name: str, *, source: str | None = None, **task_kwargs: Any):
    """The TaskFlow task of stage ``name`` (for ``source`` where the stage runs per source);
    ``task_kwargs`` go to ``@task`` (``outlets``, ``trigger_rule``...)."""
    s = stage(name)
    if (source is not None) != (s.scope == SOURCE_DAYS):
        raise ValueError(f"stage {name!r} runs {'per source' if s.scope == SOURCE_DAYS else 'once'}: source={source!r}")
    task_id = f"{s.task}_{source}" if source else s.task
    kwargs = {"on_failure_callback": RiskcastAlertNotifier(kind=s.failure), **task_kwargs}

    @task(task_id=task_id, **kwargs)
    def run_stage(*upstream: dict, **context: Any) -> dict:
        settings = runtime.settings(context)
        check_storage(settings)  # a bad lake or landing URI: one line, before the stage starts
        taken = [upstream[0].get(s.takes)] if s.takes else []
        if s.scope == DAY:
            return runtime.summary(s.run(settings, runtime.as_of(context), *taken))
        days = runtime.days(context, settings.max_backfill_days)
        if s.scope == DAYS:
            return runtime.summary(s.run(settings, days, *taken))
        return runtime.summary(s.run(settings, source, days, *taken))

    run_stage.__doc__ = s.help
    return run_stage
