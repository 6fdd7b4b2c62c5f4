"""`make stack-test`: what the scheduler did on the local production-shaped stack.

The scenario (tests/stack/conftest.py) runs once; each test checks one promise of the
deployment: every task succeeded under the scheduler (ingest on its timetable, forecast on
the bronze assets), training ran as a Ray Job on the Ray cluster (deferred to the
triggerer), reserves are in PostgreSQL and finance can only read them, data-quality alerts
arrived by SMTP with pseudonymised ids, and a second run published identical rows.
"""

from __future__ import annotations

import csv
import email
import mailbox
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import ProgrammingError

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]


def test_the_scheduler_ran_every_task_of_both_dags(scenario):
    ingest, forecast = scenario["ingest"], scenario["forecast"]
    scheduled = [r for r in ingest if r["run_type"] == "scheduled"]
    assert scheduled, f"no scheduled ingest run: {ingest}"
    assert scheduled[0]["logical_date"].date() == scenario["as_of"], "the run of a day is due once it ended"
    assert all(r["state"] == "success" and set(r["tasks"].values()) == {"success"} for r in ingest), ingest
    assert len(forecast) >= 2 and all(r["run_type"] == "asset_triggered" for r in forecast), forecast
    for r in forecast:
        assert r["logical_date"] is None, "asset-triggered runs have no logical date"
        assert set(r["tasks"].values()) == {"success"}, r["tasks"]
        assert {"train", "backtest_gate", "publish"} <= set(r["tasks"])
    print(f"scenario took {scenario['seconds']:.0f} s; ingest {len(ingest)} run(s), forecast {len(forecast)}")


def test_training_ran_as_a_ray_job_on_the_cluster_deferred_to_the_triggerer(scenario):
    from ray.job_submission import JobSubmissionClient
    from ray.util.state import list_nodes

    env = scenario["env"]
    address = env["RISKCAST_RAY__JOBS_ADDRESS"]
    alive = sum(n.state == "ALIVE" for n in list_nodes(address=address))
    # up.sh goes on with the head alone (and says so in logs/WARNING) when the worker cannot start
    no_worker = (Path(env["STACK"]) / "logs" / "WARNING").exists()
    assert alive == (1 if no_worker else 2), f"{alive} Ray node(s) alive"
    print(f"Ray nodes alive: {alive}" + (" (the worker node did not start: see logs/WARNING)" if no_worker else ""))
    jobs = [j for j in JobSubmissionClient(address).list_jobs()
            if (j.submission_id or "").startswith("riskcast-riskcast_forecast-train-")]
    assert jobs, "no training job on the Ray cluster"
    assert {str(j.status.value) for j in jobs} == {"SUCCEEDED"}
    assert all(j.entrypoint.startswith(f"riskcast train --as-of {scenario['as_of']}") for j in jobs)
    # one job per run (ids from dag/run/task): retries would attach, not add
    assert len({j.submission_id for j in jobs}) == len(jobs) <= len(scenario["forecast"])
    logs = Path(env["AIRFLOW_HOME"]) / "logs"
    tailed = [p for p in logs.rglob("*") if p.is_file() and "task_id=train" in str(p)
              and "[ray job riskcast-riskcast_forecast-train-" in p.read_text(errors="replace")]
    assert tailed, "the train task's log has no lines of the Ray job (tailed by the trigger)"


def test_reserves_are_in_postgresql_and_finance_only_reads_them(scenario):
    env, rows = scenario["env"], scenario["first"]
    warehouses = {r["warehouse_id"] for r in csv.DictReader((scenario["landing"] / "warehouses.csv").open())}
    assert rows and {r["warehouse_id"] for r in rows} == warehouses
    assert all(not str(r["calibration_method"]).startswith("UNGATED") for r in rows)
    url = env["STACK_PG"].replace("//postgres@", "//riskcast_finance_svc@") + "/riskcast_reserves"
    engine = sa.create_engine(url)
    for statement in (
        "INSERT INTO reserves (as_of_date, run_id, warehouse_id) VALUES ('2024-01-01', 'x', 'w')",
        "UPDATE reserves SET loss_eur_p95 = 0",
        "DELETE FROM reserves",
        "DROP TABLE reserves CASCADE",
    ):
        with engine.connect() as conn, pytest.raises(ProgrammingError) as info:
            conn.exec_driver_sql(statement)
        assert info.value.orig.sqlstate == "42501", statement  # insufficient_privilege
    engine.dispose()


def test_data_quality_alerts_arrived_by_smtp_with_pseudonymised_ids(scenario):
    box = mailbox.Maildir(Path(scenario["env"]["STACK"]) / "mail", create=False)
    messages = [email.message_from_bytes(box.get_bytes(key)) for key in box.keys()]
    assert messages, "no alert reached the SMTP server"
    bodies = {m["Subject"]: _text(m) for m in messages}
    quality = {s: b for s, b in bodies.items() if "quality" in s.lower() or "quarantin" in b.lower()}
    assert quality, f"no data-quality alert among {list(bodies)}"
    bad = scenario["bad_rows"]  # yesterday's rows with negative units, caught by the scheduled run
    body = "\n".join(quality.values())
    assert any(r["report_id"] in body for r in bad), "the alert names the offending rows"
    raw = {r["reporter_id"] for r in bad}
    leaked = {i for i in raw if any(i in b for b in bodies.values())}
    assert not leaked, f"raw reporter ids in alert mails: {sorted(leaked)}"
    from forecasting.ingest.pii import pseudonym

    key = scenario["pii_key"].encode()
    if "reporter" in body:
        assert any(pseudonym(i, key) in body for i in raw), "reporters appear as pseudonyms"


def test_a_second_scheduled_run_publishes_identical_rows(scenario):
    first, second = scenario["first"], scenario["second"]
    assert second == first, "the rerun of the same day must publish the very same rows"
    env = scenario["env"]
    engine = sa.create_engine(env["STACK_PG"] + "/riskcast_reserves")
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM publications WHERE as_of_date = :d"),
                         {"d": scenario["as_of"]}).scalar()
    engine.dispose()
    assert n == 1, "the second run found its identical publication and wrote nothing"


def _text(message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    return "\n".join(p.get_payload(decode=True).decode(errors="replace") for p in parts
                     if p.get_content_maintype() == "text")
