"""The ingest DAG waiting for drops: ``dag.test()`` runs a deferred ``DropSensor``'s trigger
in-line, as the triggerer would (no worker slot held): the sensor defers, the drop lands, the
day is ingested; a drop missing past its deadline is ingested as missing, alerted once, and
restated when it lands late. The deadline is checked against the DAG's real timetable."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from forecasting.core.drops import DropSettings
from forecasting.core.lake import Lake
from forecasting.ingest import arrival
from riskcast_airflow import runtime
from riskcast_airflow.drop_trigger import DropTrigger
from tests.support.landing import csv_text, land
from tests.support.operations import (
    FIRST,
    RECON,
    REPORTS,
    day_recons,
    day_reports,
    days_from,
    land_days,
)

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_the_deadline_follows_the_real_timetable(airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    dag = DagBag(dag_folder=str(DAGS / "riskcast_ingest.py")).get_dag("riskcast_ingest")
    core = coerce_to_core_timetable(dag.timetable)
    last = core.infer_manual_data_interval(run_after=datetime(2024, 3, 1, 12, tzinfo=UTC))
    info = core.next_dagrun_info(last_automated_data_interval=DataInterval(last.start, last.end),
                                 restriction=TimeRestriction(datetime(2023, 1, 1, tzinfo=UTC), None, True))
    context = {"params": {}, "data_interval_end": info.data_interval.end, "logical_date": info.logical_date}
    day = runtime.as_of(context)
    drop = DropSettings(deadline_hours=6)
    assert day == date(2024, 3, 1) and info.run_after == datetime(2024, 3, 2, tzinfo=UTC)
    # the run is created when the day ends; the drop is due deadline_hours later, before the next run
    assert arrival.deadline(day, drop) == info.run_after + timedelta(hours=6) < info.run_after + timedelta(days=1)


@pytest.fixture
def ingest_env(tmp_path, monkeypatch, airflow_db):
    env = {
        "RISKCAST_LANDING_URI": str(tmp_path / "landing"),
        "RISKCAST_LAKE_URI": str(tmp_path / "lake"),
        "RISKCAST_RESERVES_URL": f"sqlite:///{tmp_path / 'reserves.db'}",
        "RISKCAST_DROPS__SECURITY_REPORTS__SUCCESS_MARKER": "true",
        "RISKCAST_DROPS__SECURITY_REPORTS__POLL_SECONDS": "0.2",
        "RISKCAST_DROPS__RECONCILIATION_LOGS__SETTLE_MINUTES": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS / "riskcast_ingest.py")).get_dag("riskcast_ingest")
    return tmp_path / "landing", tmp_path / "lake", dag


def _states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_dag_defers_on_the_triggerer_until_the_drop_lands(ingest_env, monkeypatch):
    landing, lake, dag = ingest_env
    today = datetime.now(UTC).date()  # due tomorrow: the sensor must wait for it
    land_days(landing, days_from(today - timedelta(days=3), 3))
    land(landing, REPORTS, "part-000.csv", csv_text(day_reports(today)), today)
    land(landing, RECON, "part-000.csv", csv_text(day_recons(today)), today)
    ran, timers = [], []
    real_run = DropTrigger.run

    async def counted(self):
        # the trigger dag.test() runs in-line, as the triggerer would; the marker lands
        # 2 s after it started waiting
        ran.append((self.source, time.monotonic()))
        timers.append(threading.Timer(2.0, lambda: land(landing, REPORTS, "_SUCCESS", "", today)))
        timers[-1].start()
        async for event in real_run(self):
            ran.append(("event", time.monotonic()))
            yield event

    monkeypatch.setattr(DropTrigger, "run", counted)
    run = dag.test(run_conf={"as_of": today.isoformat(), "backfill_from": (today - timedelta(days=3)).isoformat()})
    for timer in timers:
        timer.join()
    assert run.state == "success", _states(run)
    # deferred: the reports sensor only (the logs had arrived already), until the marker landed
    assert [name for name, _ in ran] == [REPORTS, "event"] and ran[1][1] - ran[0][1] > 1.9
    waited = next(ti for ti in run.get_task_instances() if ti.task_id == f"wait_{REPORTS}")
    assert waited.xcom_pull(task_ids=f"wait_{REPORTS}")["status"] == "arrived"
    manifest = json.loads((lake / "quarantine" / REPORTS / f"date={today}" / "ingest.json").read_text())
    assert manifest["arrival"] == {"status": "complete", "marker": True, "missing_sites": None}


def test_dag_ingests_a_drop_missing_past_its_deadline_as_missing_and_alerts_once(ingest_env):
    landing, lake, dag = ingest_env
    days = days_from(FIRST, 4)
    land_days(landing, days[:-1])
    land(landing, REPORTS, "part-000.csv", csv_text(day_reports(days[-1])), days[-1])
    land(landing, REPORTS, "_SUCCESS", "", days[-1])  # reconciliation_logs never arrive
    conf = {"as_of": days[-1].isoformat(), "backfill_from": days[0].isoformat()}
    run = dag.test(run_conf=conf)
    assert run.state == "success", _states(run)
    assert not (lake / "bronze" / RECON / f"date={days[-1]}").exists()  # missing, not zero
    marker = json.loads((lake / "quarantine" / RECON / f"date={days[-1]}" / "incomplete.json").read_text())
    assert marker["status"] == "missing"
    again = dag.test(run_conf=conf)  # a rerun of the day: no second alert
    assert again.state == "success", _states(again)
    titles = [json.loads(line)["title"] for line in (lake / "alerts" / "outbox.jsonl").read_text().splitlines()]
    assert titles.count(f"drop missing: {RECON} {days[-1]}") == 1

    land(landing, RECON, "part-000.csv", csv_text(day_recons(days[-1])), days[-1])  # three days late
    later = days[-1] + timedelta(days=3)
    land_days(landing, days_from(days[-1] + timedelta(days=1), 3))
    late = dag.test(run_conf={"as_of": later.isoformat(), "backfill_from": None})
    assert late.state == "success", _states(late)
    assert (lake / "bronze" / RECON / f"date={days[-1]}" / "part.parquet").exists()  # restated
    assert not (lake / "quarantine" / RECON / f"date={days[-1]}" / "incomplete.json").exists()
    assert Lake(str(lake)).exists(str(next((lake / "restatements" / RECON / f"date={days[-1]}").glob("*.json"))))
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{lake.parent / 'reserves.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT source, day, rows_before, rows_after FROM restatements")).all()
    engine.dispose()
    assert [(r[0], str(r[1]), r[2], r[3]) for r in rows] == [(RECON, str(days[-1]), None, 3)]
