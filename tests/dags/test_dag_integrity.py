"""DAG integrity: both DAGs parse without errors, fast, without heavy imports, with the
expected wiring, tags, retries and retry policy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
HEAVY = ("torch", "gluonts", "ray", "great_expectations", "statsforecast", "lightning")


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"riskcast_ingest", "riskcast_forecast"} <= set(dagbag.dag_ids)


def test_parsing_imports_nothing_heavy_and_is_fast():
    # A fresh interpreter, so modules imported by other tests do not count.
    code = f"""
import json, sys, time
t = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
t_airflow = time.perf_counter()
bag = DagBag(dag_folder={str(DAGS)!r})
t_parse = time.perf_counter()
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"errors": list(bag.import_errors), "heavy": heavy, "parse_s": t_parse - t_airflow}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["heavy"] == [], f"DAG files import heavy modules at parse time: {report['heavy']}"
    # Measured, not a speed test: parsing our two files costs well under Airflow's 30 s limit.
    assert report["parse_s"] < 30


@pytest.mark.parametrize("dag_id", ["riskcast_ingest", "riskcast_forecast"])
def test_tags_owner_retries_and_policy(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    assert "riskcast" in dag.tags
    assert dag.catchup is False and dag.max_active_runs == 1
    for t in dag.tasks:
        assert t.retries >= 1, f"{t.task_id} has no retries"
        assert t.retry_exponential_backoff
        assert t.retry_policy is not None, f"{t.task_id} would retry data-contract failures"
        assert t.on_failure_callback, f"{t.task_id} alerts nobody on failure"


def test_retry_policy_fails_fast_on_data_errors_and_retries_infrastructure():
    from airflow.sdk import RetryAction

    from forecasting.core.errors import (
        CalibrationGateError,
        DataContractError,
        InputError,
        StorageError,
    )
    from riskcast_airflow.runtime import RETRY_POLICY

    for exc in (DataContractError("x"), InputError("x"), CalibrationGateError("x")):
        assert RETRY_POLICY.evaluate(exc, 1, 3).action == RetryAction.FAIL
    assert RETRY_POLICY.evaluate(StorageError("s3 down"), 1, 3).action == RetryAction.DEFAULT
    assert RETRY_POLICY.evaluate(ConnectionError("x"), 1, 3).action == RetryAction.DEFAULT


def test_ingest_structure(dagbag):
    dag = dagbag.get_dag("riskcast_ingest")
    ids = set(dag.task_ids)
    assert ids == {
        "ingest_reference",
        "wait_security_reports",
        "ingest_security_reports",
        "validate_security_reports",
        "wait_reconciliation_logs",
        "ingest_reconciliation_logs",
        "validate_reconciliation_logs",
        "sweep",
        "purge_landing",
    }
    for source in ("security_reports", "reconciliation_logs"):
        wait = dag.get_task(f"wait_{source}")
        assert wait.upstream_task_ids == {"ingest_reference"} and wait.deferrable
        assert dag.get_task(f"ingest_{source}").upstream_task_ids == {f"wait_{source}"}
        validate = dag.get_task(f"validate_{source}")
        assert validate.upstream_task_ids == {f"ingest_{source}"}
        assert [a.name for a in validate.outlets] == [f"riskcast.bronze.{source}"]
    sweep = dag.get_task("sweep")
    assert sweep.upstream_task_ids == {"validate_security_reports", "validate_reconciliation_logs"}
    assert sweep.trigger_rule == "all_done"  # past days are swept whatever this run's day did
    assert dag.get_task("purge_landing").upstream_task_ids == {"sweep"}
    # a data-interval timetable: the run of day D is due once D has ended (tests/dags/test_dates.py)
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"


def test_forecast_structure(dagbag):
    dag = dagbag.get_dag("riskcast_forecast")
    chain = ["audit", "panel", "validate_panel", "train", "backtest_gate", "forecast", "reserves", "publish", "explain", "escalate"]
    assert set(chain) | {"wait_ingest", "track", "report"} == set(dag.task_ids)
    # a scheduled run waits for the ingest run of its day (on the triggerer)
    wait = dag.get_task("wait_ingest")
    assert wait.deferrable and wait.external_dag_id == "riskcast_ingest"
    assert dag.get_task("audit").upstream_task_ids == {"wait_ingest"}
    # the track record scores earlier publications on the checked panel; the page of D shows it
    assert dag.get_task("track").upstream_task_ids == {"validate_panel"}
    for up, down in zip(chain, chain[1:], strict=False):
        assert up in dag.get_task(down).upstream_task_ids, f"{up} must run before {down}"
    # the reserves page has one writer, after the stages whose files it shows
    assert dag.get_task("report").upstream_task_ids == {"explain", "track"}
    assert {p for p in dag.params} >= {"as_of", "workers", "gpu"}
    assert [a.name for a in dag.get_task("publish").outlets] == ["riskcast.reserves"]


def test_forecast_can_be_asset_triggered(monkeypatch, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("RISKCAST_FORECAST_SCHEDULE", "assets")
    bag = DagBag(dag_folder=str(DAGS / "riskcast_forecast.py"))
    dag = bag.get_dag("riskcast_forecast")
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll", "forecast must wait for BOTH bronze assets"
    names = {a.name for a in condition.objects}
    assert names == {"riskcast.bronze.security_reports", "riskcast.bronze.reconciliation_logs"}


def test_every_task_runs_a_stage_of_the_table_and_every_stage_has_its_task(dagbag):
    """The DAGs are wired from forecasting.stages: a task id is a stage's task (per source
    where the stage runs per source), and no stage of a DAG is missing from it."""
    from forecasting.core.schema import DAILY_SOURCES
    from forecasting.stages import SOURCE_DAYS, STAGES

    for dag_id in ("riskcast_ingest", "riskcast_forecast"):
        expected = {
            task
            for s in STAGES if s.dag == dag_id
            for task in ([f"{s.task}_{src}" for src in DAILY_SOURCES] if s.scope == SOURCE_DAYS else [s.task])
        }
        dag = dagbag.get_dag(dag_id)
        # operators that wait are wiring, not stages: the drop sensors
        waits = {t.task_id for t in dag.tasks if t.task_id.startswith("wait_")}
        assert set(dag.task_ids) - waits == expected, dag_id


def test_riskcast_ingest_runs_the_dag_tasks_stage_functions_in_the_dag_order(dagbag, settings_factory, monkeypatch):
    """``riskcast ingest`` (``stages.run_ingest``) calls the very ``Stage.run`` objects the
    ingest DAG's tasks run, each stage task once, never before its upstream tasks. The calls
    are recorded by wrapping the real functions of the stage table: the work itself runs."""
    import dataclasses
    import inspect

    from forecasting import stages
    from tests.support.landing import DAY, csv_text, land, land_reference, recon, report

    dag = dagbag.get_dag("riskcast_ingest")
    task_runs = {t.task_id: inspect.getclosurevars(t.python_callable).nonlocals["s"].run
                 for t in dag.tasks if not t.task_id.startswith("wait_")}  # fmt: skip
    calls: list[tuple[str, object]] = []
    for name in ("ingest_reference", "ingest", "validate", "sweep", "purge_landing"):
        s = stages.BY_NAME[name]

        def record(settings, *args, _s=s, **kwargs):
            task = f"{_s.task}_{args[0]}" if _s.scope == stages.SOURCE_DAYS else _s.task
            calls.append((task, _s.run))
            return _s.run(settings, *args, **kwargs)

        monkeypatch.setitem(stages.BY_NAME, name, dataclasses.replace(s, run=record))
    settings = settings_factory(lookback_days=2)
    landing = Path(settings.landing_uri)
    land_reference(landing)
    land(landing, "security_reports", "part-000.csv", csv_text([report(i) for i in (0, 1, 3, 4)]))  # known sites
    land(landing, "reconciliation_logs", "part-000.csv", csv_text([recon(0)]))
    (summary,) = stages.run_ingest(settings, [DAY])
    assert summary["exit_code"] == 0 and summary["sweep"]["days_checked"] == 2 * 2, (summary["errors"], summary["sweep"])
    assert all(task_runs[task] is run for task, run in calls)  # the DAG task's own function
    order = [task for task, _ in calls]
    assert sorted(order) == sorted(set(task_runs) - {"purge_landing"})  # every stage task once (purge: its own command)

    def upstream(task_id: str) -> set[str]:  # stage tasks before it (through the drop sensors)
        found = set()
        for up in dag.get_task(task_id).upstream_task_ids:
            found |= upstream(up) | ({up} if up in task_runs else set())
        return found

    assert all(upstream(task) <= set(order[:i]) for i, task in enumerate(order)), order
