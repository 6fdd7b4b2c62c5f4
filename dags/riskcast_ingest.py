"""riskcast_ingest: the daily landing drop -> bronze, validated by Great Expectations.

Dates: a run processes a day after it has ENDED. The timetable is a data-interval one
(``CronDataIntervalTimetable("@daily")``, UTC): the run for day D covers the interval
[D 00:00, D+1 00:00), is created at D+1 00:00 and its logical date is D. Every task takes
its date from ``runtime.as_of`` (``params.as_of`` if given, else the day before the data
interval's end, else the day before ``run_after``), so a cron run, a manual run and
``airflow dags test riskcast_ingest D+1`` all process D.

For each day (that date, or ``params.backfill_from`` .. that date in one run): reference
data (warehouses, events) first, then per source: wait for the drop (``wait_<source>``, a
deferrable ``DropSensor`` on the triggerer until the drop has arrived or its deadline,
``settings.drops``) -> ingest (a day still incomplete or missing is ingested as it is,
marked, alerted once) -> validate (on the day's staged copy, swapped in on success: a
rejected rerun keeps the good copy). Validation emits the bronze Asset of its source, which
can trigger ``riskcast_forecast``. Then ``sweep`` re-ingests the ``lookback_days`` before
whose landing files changed (restatements, recorded in the reserves database) and
``purge_landing`` deletes landing days past ``landing_retention_days`` (never bronze).
Failed expectations alert security; infrastructure failures alert the platform owner. A
backfill sends its historical days' alerts as one digest per task, the run's own day's alone.
Heavy libraries are imported inside the task callables only.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, Param, dag

from riskcast_airflow.assets import BRONZE as BRONZE_ASSETS
from riskcast_airflow.drop_sensor import DropSensor
from riskcast_airflow.notifiers import RiskcastAlertNotifier
from riskcast_airflow.runtime import DEFAULT_ARGS
from riskcast_airflow.schedule import end_date, start_date
from riskcast_airflow.stage_tasks import stage_task


@dag(
    dag_id="riskcast_ingest",
    description="Landing drop -> bronze + quarantine, validated with Great Expectations",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    # start/end: RISKCAST_SCHEDULE_START/END; catchup: Airflow's catchup_by_default (off)
    start_date=start_date(),
    end_date=end_date(),
    max_active_runs=1,
    # tasks alert the platform owner unless they override it with a data-quality route
    default_args={**DEFAULT_ARGS, "on_failure_callback": RiskcastAlertNotifier(kind="infrastructure")},
    tags=["riskcast", "ingest", "data-quality"],
    params={
        "as_of": Param(None, type=["null", "string"], format="date", description="process this day instead of the one that just ended"),
        "backfill_from": Param(
            None, type=["null", "string"], format="date", description="ingest every day from here to the run's date"
        ),
    },
    on_failure_callback=RiskcastAlertNotifier(kind="infrastructure"),
    doc_md=__doc__,
)
def riskcast_ingest():
    # each task but the drop sensors runs its stage from the stage table (forecasting.stages)
    # by name: the function its `riskcast` command runs, alerting whom the stage names
    reference = stage_task("ingest_reference")()
    # past days of every source, after this run's days, whatever this run's own days did
    swept = stage_task("sweep", trigger_rule="all_done")()
    for source, asset in BRONZE_ASSETS.items():
        waited = DropSensor(task_id=f"wait_{source}", source=source)
        ingested = stage_task("ingest", source=source)()
        reference >> waited >> ingested
        stage_task("validate", source=source, outlets=[asset])(ingested) >> swept
    stage_task("purge_landing", trigger_rule="all_done")(swept)


riskcast_ingest()
