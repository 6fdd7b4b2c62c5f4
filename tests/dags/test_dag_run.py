"""The whole spine end to end through Airflow: ``dag.test()`` of riskcast_ingest (a backfill
over a tiny faulty network) then riskcast_forecast for the last day, on real Airflow, GX,
Ray, GluonTS and SQLite. The core CI check that every stage fits the next."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

DAGS = Path(__file__).resolve().parents[2] / "dags"
START, DAYS = date(2024, 1, 1), 210
LAST = START + timedelta(days=DAYS - 1)
# a run processes the day that ended before it became due: the run of LAST + 1 works on LAST
RUN_AT = datetime.combine(LAST + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


@pytest.fixture
def tiny_stack(tmp_path, monkeypatch, airflow_db):
    from forecasting.demo.generate import generate_network

    landing = tmp_path / "landing"
    generate_network(str(landing), 6, START, DAYS, seed=3, faults=True)
    env = {
        "RISKCAST_LANDING_URI": str(landing),
        "RISKCAST_LAKE_URI": str(tmp_path / "lake"),
        "RISKCAST_RESERVES_URL": f"sqlite:///{tmp_path / 'reserves.db'}",
        "RISKCAST_HORIZON": "4",
        "RISKCAST_BACKTEST_WINDOWS": "2",
        # a wiring test, not an accuracy test: the gate's own behaviour is tested elsewhere
        "RISKCAST_CALIBRATION_TOLERANCE": "0.45",
        "RISKCAST_MODEL__MAX_EPOCHS": "2",
        "RISKCAST_MODEL__BATCHES_PER_EPOCH": "3",
        "RISKCAST_MODEL__BATCH_SIZE": "16",
        "RISKCAST_MODEL__NUM_SAMPLES": "50",
        "RISKCAST_MODEL__HIDDEN_SIZE": "8",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return tmp_path, landing


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def _failed_tasks(run) -> list[str]:
    return [ti.task_id for ti in run.get_task_instances() if ti.state != "success"]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_ingest_then_forecast_end_to_end(tiny_stack):
    tmp_path, landing = tiny_stack
    ingest = _dag("riskcast_ingest")
    run = ingest.test(logical_date=RUN_AT, run_conf={"backfill_from": START.isoformat()})
    assert run.state == "success", _failed_tasks(run)

    lake = tmp_path / "lake"
    faults = json.loads((landing / "_truth" / "faults.json").read_text())
    assert faults, "the network was generated with faults"
    quarantined = list((lake / "quarantine").glob("*/date=*/*.parquet"))
    assert quarantined, "injected faults must land in quarantine"
    outbox = lake / "alerts" / "outbox.jsonl"
    assert outbox.exists() and outbox.read_text().strip(), "faults must alert security"
    assert (lake / "data_docs" / "index.html").exists()

    forecast = _dag("riskcast_forecast")
    run = forecast.test(logical_date=RUN_AT)
    assert run.state == "success", _failed_tasks(run)

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'reserves.db'}")
    with engine.connect() as conn:
        latest = pd.read_sql(sa.text("SELECT * FROM reserves_latest"), conn)
    warehouses = pd.read_csv(landing / "warehouses.csv")
    assert set(latest["warehouse_id"]) == set(warehouses["warehouse_id"])
    assert len(latest) == len(warehouses) * 4
    for what in ("incidents", "loss_eur"):
        assert (latest[f"{what}_p50"] <= latest[f"{what}_p90"]).all()
        assert (latest[f"{what}_p90"] <= latest[f"{what}_p95"]).all()
    for stage in ("audit", "panel", "forecasts", "backtests", "reserves", "track"):
        assert (lake / stage / f"as_of={LAST}").is_dir(), f"no {stage} partition"
    # the report task rendered the page and its downloads; the horizon totals were published
    page = (lake / "reports" / f"as_of={LAST}" / "reserves.html").read_text()
    assert "Reserve over the horizon" in page and (lake / "reports" / f"as_of={LAST}" / "exports" / "reserves.xlsx").exists()
    with engine.connect() as conn:
        spans = pd.read_sql(sa.text("SELECT * FROM reserves_horizon_latest WHERE id = 'network'"), conn)
    assert set(spans["period_kind"]) >= {"horizon"}
    # the track task ran beside the model: the page of LAST says nothing has been scored yet
    assert "How past reserves held up" in page and "no week published before it began" in page

    # rerun of the same date: the published tables do not change
    before = latest.sort_values(["warehouse_id", "period_start"]).reset_index(drop=True)
    run = forecast.test(logical_date=RUN_AT)
    assert run.state == "success", _failed_tasks(run)
    with engine.connect() as conn:
        after = pd.read_sql(sa.text("SELECT * FROM reserves_latest"), conn)
    pd.testing.assert_frame_equal(before, after.sort_values(["warehouse_id", "period_start"]).reset_index(drop=True))
