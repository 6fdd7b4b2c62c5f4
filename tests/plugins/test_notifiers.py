"""RiskcastAlertNotifier: from an Airflow context to an alert in the outbox and on a webhook,
called directly with a real context dict, and as a real on_failure_callback in dag.test()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    """The notifier loads settings like a task does: from RISKCAST_* env."""
    monkeypatch.setenv("RISKCAST_LAKE_URI", str(tmp_path / "lake"))
    return tmp_path / "lake" / "alerts" / "outbox.jsonl"


def _context(exception: BaseException) -> dict:
    from airflow.sdk import DAG
    from airflow.sdk.bases.operator import BaseOperator

    with DAG("riskcast_ingest", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
        task = BaseOperator(task_id="validate_security_reports")
    return {
        "dag": dag,
        "task": task,
        "run_id": "scheduled__2024-03-04T00:00:00+00:00",
        # the daily ingest's run for 2024-03-04: data interval [03-04, 03-05)
        "logical_date": datetime(2024, 3, 4, tzinfo=UTC),
        "data_interval_end": datetime(2024, 3, 5, tzinfo=UTC),
        "params": {},
        "exception": exception,
    }


def test_notify_writes_the_alert_to_the_outbox(lake_env):
    from forecasting.core.errors import DataContractError
    from riskcast_airflow.notifiers import RiskcastAlertNotifier

    error = DataContractError(
        "security_reports 2024-03-04: batch rejected by expect_table_row_count_to_be_between(volume)"
    )
    RiskcastAlertNotifier(kind="data_quality")(_context(error))
    (line,) = lake_env.read_text().splitlines()
    alert = json.loads(line)
    assert alert["kind"] == "data_quality" and alert["severity"] == "critical"
    assert alert["title"] == "data quality: riskcast_ingest.validate_security_reports failed"
    assert alert["date"] == "2024-03-04"
    assert alert["summary"].startswith("DataContractError: security_reports 2024-03-04")
    assert alert["details"]["run_id"] == "scheduled__2024-03-04T00:00:00+00:00"


def test_params_as_of_and_a_templated_title(lake_env):
    from riskcast_airflow.notifiers import RiskcastAlertNotifier

    context = {
        **_context(RuntimeError("worker lost")),
        "params": {"as_of": "2024-03-10"},
        "ds": "2024-03-04",
    }
    RiskcastAlertNotifier(kind="infrastructure", title="ingest down on {{ ds }}")(context)
    alert = json.loads(lake_env.read_text())
    assert alert["date"] == "2024-03-10" and alert["title"] == "ingest down on 2024-03-04"
    assert alert["kind"] == "infrastructure" and alert["summary"] == "RuntimeError: worker lost"


def test_unknown_kind_is_refused_at_dag_parse_time():
    from riskcast_airflow.notifiers import RiskcastAlertNotifier

    with pytest.raises(ValueError, match="kind"):
        RiskcastAlertNotifier(kind="pager")


@pytest.mark.timeout(60)
def test_notify_posts_to_a_webhook(lake_env, monkeypatch):
    from riskcast_airflow.notifiers import RiskcastAlertNotifier

    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server hook name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("RISKCAST_ALERTS__ROUTES", '["file", "webhook"]')
        monkeypatch.setenv(
            "RISKCAST_ALERTS__WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook"
        )
        RiskcastAlertNotifier(kind="gate")(_context(ValueError("P95 coverage 0.81 < 0.925")))
    finally:
        server.shutdown()
        server.server_close()
    (payload,) = received
    assert payload["text"].startswith(
        "[riskcast warning] gate: riskcast_ingest.validate_security_reports failed"
    )
    assert "P95 coverage 0.81" in json.dumps(payload["blocks"])
    assert lake_env.exists()  # the outbox got it too


DAG_FILE = """
from datetime import datetime
from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable
from riskcast_airflow.notifiers import RiskcastAlertNotifier

# the ingest's timetable: the run of logical date D covers [D, D+1) and works on D
@dag(dag_id="notifier_check", schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
     start_date=datetime(2024, 1, 1), catchup=False)
def notifier_check():
    @task
    def validate_summary():
        return {"source": "security_reports", "exit_code": 2, "quarantined_rows": 60}

    @task(retries=0, on_failure_callback=RiskcastAlertNotifier(
        kind="data_quality", xcom_task_ids=["validate_summary"]))
    def publish(summary):
        raise ValueError("batch rejected by expect_table_row_count_to_be_between(volume)")

    publish(validate_summary())

notifier_check()
"""

RUN = """
from datetime import datetime, timezone
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

bag = DagBag(dag_folder={dags!r})
assert not bag.import_errors, bag.import_errors
DagBundlesManager().sync_bundles_to_db()
sync_bag_to_db(bag, "dags-folder", None)
run = bag.dags["notifier_check"].test(logical_date=datetime(2024, 3, 4, tzinfo=timezone.utc))
print("STATE", run.state)
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_on_failure_callback_in_a_real_dag_run(tmp_path):
    """A fresh Airflow home (own SQLite DB) in a subprocess, so the session's Airflow is untouched."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "notifier_check.py").write_text(DAG_FILE)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "RISKCAST_LAKE_URI": str(tmp_path / "lake"),
    }
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run(
        [str(airflow), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    script = textwrap.dedent(RUN.format(dags=str(dags)))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert "STATE failed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    (line,) = (tmp_path / "lake" / "alerts" / "outbox.jsonl").read_text().splitlines()
    alert = json.loads(line)
    assert alert["title"] == "data quality: notifier_check.publish failed"
    # dag.test at 2024-03-04 is a manual run: its data interval is the day that ended, 03-03,
    # the day its tasks work on (runtime.as_of); the alert names the same day
    assert alert["date"] == "2024-03-03" and alert["details"]["try_number"] == 1
    assert alert["details"]["summary"] == {
        "validate_summary": {"source": "security_reports", "exit_code": 2, "quarantined_rows": 60}
    }
    assert "expect_table_row_count_to_be_between(volume)" in alert["summary"]
    assert alert["links"]["log"].startswith("http")
