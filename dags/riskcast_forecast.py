"""riskcast_forecast: bronze -> audit -> panel -> DeepAR on Ray -> backtest + gate ->
forecast -> reserves -> publish -> explain (root causes) -> reserves page (report) and
escalation alerts; beside the model, track scores the earlier publications against the
panel (the page shows the track record).

Scheduled weekly by default, due Monday 00:00 UTC (``panel_spec.weekly_schedule``: weeks run
Monday..Sunday), so it works on the Sunday that ended the week and forecasts from the next
full week; set ``RISKCAST_FORECAST_SCHEDULE=assets`` to run whenever both bronze Assets were
updated, or any cron expression. Every task takes its date from ``runtime.as_of``:
``params.as_of``, else the last day that had ended when the run became due (the day before
the data interval's end, or before ``run_after`` for asset-triggered runs, which have no
logical date): a run triggered by the bronze of D works on D, and when D is not a Sunday its
first forecast week is the one under way (the page and summaries say so). Training runs in-process on local Ray
(embedded default) or as a Ray Job on the cluster named by ``RISKCAST_RAY__JOBS_ADDRESS``.
A miscalibrated model fails the gate, so nothing is published. A scheduled run first waits
(``wait_ingest``, on the triggerer) for the ingest run of its as-of day; a manual or
asset-triggered run does not (``riskcast_airflow.schedule``).
"""

from __future__ import annotations

import os

from airflow.sdk import Param, dag

from forecasting.core.panel_spec import weekly_schedule
from riskcast_airflow.assets import RESERVES, all_bronze
from riskcast_airflow.notifiers import RiskcastAlertNotifier
from riskcast_airflow.ray_launcher import RayTrainOperator
from riskcast_airflow.runtime import DEFAULT_ARGS
from riskcast_airflow.schedule import IngestedSensor, end_date, start_date
from riskcast_airflow.stage_tasks import stage_task


def _schedule():
    value = os.environ.get("RISKCAST_FORECAST_SCHEDULE", weekly_schedule())
    return all_bronze() if value == "assets" else value


@dag(
    dag_id="riskcast_forecast",
    description="Audit, panel, DeepAR (NB) on Ray, backtest gate, reserves published for finance",
    schedule=_schedule(),
    # a day after RISKCAST_SCHEDULE_START: the first run works on a day the ingest ran for
    start_date=start_date(days_after=1),
    end_date=end_date(),
    max_active_runs=1,
    # tasks alert the platform owner unless they override it with a data-quality route
    default_args={**DEFAULT_ARGS, "on_failure_callback": RiskcastAlertNotifier(kind="infrastructure")},
    tags=["riskcast", "forecast", "reserves"],
    params={
        "as_of": Param(None, type=["null", "string"], format="date", description="work on this day instead of the last one that ended"),
        "workers": Param(None, type=["null", "integer"], minimum=1, description="Ray Train workers"),
        "gpu": Param(None, type=["null", "boolean"], description="one GPU per Ray worker"),
    },
    on_failure_callback=RiskcastAlertNotifier(kind="infrastructure"),
    doc_md=__doc__,
)
def riskcast_forecast():
    # every task but train runs its stage from the stage table (forecasting.stages) by name:
    # the function its `riskcast` command runs, alerting whom the stage names on failure
    # a scheduled run first waits for the ingest run of its day (Sunday's drop, its sweep)
    audited = stage_task("audit")()
    IngestedSensor(task_id="wait_ingest") >> audited
    checked = stage_task("validate_panel")(stage_task("panel")(audited))
    train = RayTrainOperator(task_id="train")
    checked >> train
    gate = stage_task("backtest")(train.output)
    published = stage_task("publish", outlets=[RESERVES])(
        stage_task("reserves")(stage_task("forecast")(train.output, gate))
    )
    explained = stage_task("explain")(published)
    # the page's one writer, after reserves, explain and the track record, whose files it shows
    stage_task("track")(checked) >> stage_task("report")(explained)
    stage_task("escalate")(explained)


riskcast_forecast()
