"""riskcast_forecast: bronze -> audit -> panel -> DeepAR on Ray -> backtest + gate ->
forecast -> reserves -> publish -> explain (root causes) -> reserves page (report) and
escalation alerts.

Scheduled weekly by default; set ``RISKCAST_FORECAST_SCHEDULE=assets`` to run whenever both
bronze Assets were updated, or any cron expression. Every task takes its date from
``runtime.as_of``: ``params.as_of``, else the last day that had ended when the run became
due (the day before the data interval's end, or before ``run_after`` for asset-triggered
runs, which have no logical date): a weekly run due Sunday 00:00 works on Saturday, a run
triggered by the bronze of D works on D. Training runs in-process on local Ray
(embedded default) or as a Ray Job on the cluster named by ``RISKCAST_RAY__JOBS_ADDRESS``.
A miscalibrated model fails the gate, so nothing is published.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import Param, dag, task

from riskcast_airflow.assets import RESERVES, all_bronze
from riskcast_airflow.notifiers import RiskcastAlertNotifier
from riskcast_airflow.ray_launcher import RayTrainOperator
from riskcast_airflow.runtime import DEFAULT_ARGS


def _schedule():
    value = os.environ.get("RISKCAST_FORECAST_SCHEDULE", "@weekly")
    return all_bronze() if value == "assets" else value


@dag(
    dag_id="riskcast_forecast",
    description="Audit, panel, DeepAR (NB) on Ray, backtest gate, reserves published for finance",
    schedule=_schedule(),
    start_date=datetime(2023, 1, 1),
    catchup=False,
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
    data_alert = RiskcastAlertNotifier(kind="data_quality")

    @task(on_failure_callback=data_alert)
    def audit(**context) -> dict:
        from forecasting.audit.stage import run_audit
        from riskcast_airflow import runtime

        return runtime.summary(run_audit(runtime.settings(context), runtime.as_of(context)))

    @task(on_failure_callback=data_alert)
    def panel(audited: dict, **context) -> dict:
        from forecasting.panel.build import build_panel
        from riskcast_airflow import runtime

        return runtime.summary(build_panel(runtime.settings(context), runtime.as_of(context)))

    @task(on_failure_callback=data_alert)
    def validate_panel(built: dict, **context) -> dict:
        from forecasting.panel.build import validate_lake_panel
        from riskcast_airflow import runtime

        return runtime.summary(validate_lake_panel(runtime.settings(context), runtime.as_of(context)))

    train = RayTrainOperator(task_id="train")

    @task(on_failure_callback=RiskcastAlertNotifier(kind="gate"))
    def backtest_gate(trained: dict, **context) -> dict:
        from forecasting.backtest.run import backtest_lake
        from riskcast_airflow import runtime

        return runtime.summary(
            backtest_lake(runtime.settings(context), runtime.as_of(context), trained["model_version"])
        )

    @task
    def forecast(trained: dict, gate: dict, **context) -> dict:
        from forecasting.forecast import forecast_panel
        from riskcast_airflow import runtime

        return runtime.summary(
            forecast_panel(runtime.settings(context), runtime.as_of(context), trained["model_version"])
        )

    @task
    def reserves(forecasted: dict, **context) -> dict:
        from forecasting.reserves.compute import compute_reserves
        from riskcast_airflow import runtime

        return runtime.summary(compute_reserves(runtime.settings(context), runtime.as_of(context)))

    @task(outlets=[RESERVES])
    def publish(computed: dict, **context) -> dict:
        from forecasting.reserves.publish import publish_reserves
        from riskcast_airflow import runtime

        # run_id None: derived from as_of + model + data snapshot, so a rerun is idempotent
        return runtime.summary(publish_reserves(runtime.settings(context), runtime.as_of(context), None))

    @task
    def explain(published: dict, **context) -> dict:
        from forecasting.explain.stage import explain_lake
        from riskcast_airflow import runtime

        return runtime.summary(explain_lake(runtime.settings(context), runtime.as_of(context)))

    @task
    def report(explained: dict, **context) -> dict:
        from forecasting.reserves.report import write_reserves_report
        from riskcast_airflow import runtime

        # the page's one writer: after reserves and explain, whose files it shows
        return runtime.summary(write_reserves_report(runtime.settings(context), runtime.as_of(context)))

    @task
    def escalate(published: dict, **context) -> dict:
        from forecasting.reserves.escalation import escalate_reserves
        from riskcast_airflow import runtime

        return runtime.summary(escalate_reserves(runtime.settings(context), runtime.as_of(context)))

    built = panel(audit())
    checked = validate_panel(built)
    checked >> train
    gate = backtest_gate(train.output)
    explained = explain(publish(reserves(forecast(train.output, gate))))
    report(explained)
    escalate(explained)


riskcast_forecast()
