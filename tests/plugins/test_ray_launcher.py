"""The Ray launcher: settings travel as env, jobs run on a real local Ray head, logs stream,
failures fail the task; the operator defers to a trigger, a retry attaches to its job,
killing the deferred task stops the job."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from pathlib import Path

import pytest

from forecasting.core.config import load_settings
from riskcast_airflow.ray_launcher import (
    RayJobError,
    RayTrainOperator,
    attach_or_submit,
    entrypoint,
    job_env,
    job_result,
    job_status,
    record_trained,
    run_ray_job,
    submission_id,
)
from riskcast_airflow.ray_trigger import RayJobTrigger


def test_job_env_round_trips_settings_without_secrets(monkeypatch):
    monkeypatch.setenv("RISKCAST_PII_KEY", "a-secret-that-must-not-travel")
    monkeypatch.setenv("RISKCAST_ALERTS__SMTP_PASSWORD", "smtp-secret-that-must-not-travel")
    monkeypatch.setenv("RISKCAST_ALERTS__WEBHOOK_URL", "https://hooks.example.com/x?token=hook-secret")
    settings = load_settings(None, horizon=5, lake_uri="s3://bucket/lake",
                             reserves_url="postgresql://svc@db/r?password=pg-secret")  # fmt: skip
    settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"num_workers": 3, "jobs_address": "http://head:8265"})})
    env = job_env(settings)
    assert "secret" not in str(env), env  # no PII key, SMTP password, webhook, URL credential
    assert "RISKCAST_PII_KEY" not in env and "RISKCAST_RESERVES_URL" not in env
    assert "RISKCAST_PUBLIC_BASE_URL" not in env  # unset stays unset (not the string "null")
    assert env["RISKCAST_LAKE_URI"] == "s3://bucket/lake"
    print("Ray job environment keys:", " ".join(sorted(env)))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RISKCAST_PII_KEY")
    rebuilt = load_settings()
    assert rebuilt.horizon == 5 and rebuilt.ray.num_workers == 3
    assert rebuilt.ray.jobs_address is None  # the job must not resubmit itself


def test_entrypoint_is_the_cli():
    assert entrypoint("2025-01-06", 2, True) == "riskcast train --as-of 2025-01-06 --no-record --workers 2 --gpu"
    assert entrypoint("2025-01-06", None, False) == "riskcast train --as-of 2025-01-06 --no-record"


class _ListLog:
    def __init__(self):
        self.lines: list[str] = []

    def info(self, msg, *args):
        self.lines.append(msg % args)

    warning = info


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_job_logs_stream_and_summary_comes_back(ray_head):
    log = _ListLog()
    code = "import json; print('training step 1'); print(json.dumps({'model_version': 'v1'}))"
    result = run_ray_job(ray_head, f"{sys.executable} -c \"{code}\"", {"RISKCAST_X": "1"}, log=log, poll_s=0.5, timeout_s=240)
    assert result["model_version"] == "v1" and result["ray_job_id"].startswith("riskcast-")
    assert any("training step 1" in line for line in log.lines)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_failed_job_fails_the_task_with_its_log_tail(ray_head):
    code = "import sys; print('boom: diverged'); sys.exit(3)"
    with pytest.raises(RayJobError, match=r"FAILED(.|\n)*boom: diverged"):
        run_ray_job(ray_head, f"{sys.executable} -c \"{code}\"", {}, log=logging.getLogger("t"), poll_s=0.5, timeout_s=240)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_training_submitted_as_a_ray_job_registers_the_model(ray_head, settings_factory):
    """The real entrypoint (`riskcast train`) on the local head; the model lands in the lake."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "forecasting"))
    from forecasting.model.registry import list_models, read_manifest
    from tests.support.deepar_panels import AS_OF, make_panel, tiny_settings, write_lake_panel

    settings = tiny_settings(settings_factory)
    snapshot = write_lake_panel(settings, make_panel())
    result = run_ray_job(
        ray_head,
        entrypoint(AS_OF.isoformat(), 1, False),
        job_env(settings),
        log=logging.getLogger("ray-job"),
        poll_s=1.0,
        timeout_s=540,
    )
    version = result["model_version"]
    assert version in set(list_models(settings)["model_version"])
    manifest = read_manifest(settings, version)
    assert manifest["snapshot_id"] == snapshot and manifest["as_of"] == AS_OF.isoformat()
    from forecasting.model.registry import model_record

    assert model_record(settings, version) is None  # the job cannot reach the reserves database
    record_trained(settings, result, logging.getLogger("ray-job"))  # the Airflow task records it
    assert model_record(settings, version).artefacts == result["artefacts"]


def test_submission_id_is_derived_from_dag_run_and_task():
    a = submission_id("riskcast_forecast", "scheduled__2024-03-02T00:00:00+00:00", "train")
    assert a == submission_id("riskcast_forecast", "scheduled__2024-03-02T00:00:00+00:00", "train")
    assert a.startswith("riskcast-riskcast_forecast-train-")
    assert a != submission_id("riskcast_forecast", "manual__2024-03-02T00:00:00+00:00", "train")


def _client(address):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address)


def _wait_status(client, job_id, wanted, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(client, job_id)
        if status in wanted:
            return status
        time.sleep(0.5)
    raise AssertionError(f"{job_id} never reached {wanted}")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_retry_attaches_to_the_running_job_and_a_failed_one_is_not_reused(ray_head):
    client, log = _client(ray_head), _ListLog()
    base = f"riskcast-test-attach-{uuid.uuid4().hex[:8]}"
    sleeper = f"{sys.executable} -c \"import time; time.sleep(120)\""
    first, _ = attach_or_submit(client, base, sleeper, {}, log)
    _wait_status(client, first, {"RUNNING"})
    again, status = attach_or_submit(client, base, sleeper, {}, log)
    assert (again, status) == (first, "RUNNING"), "a retry must not start a second job"
    client.stop_job(first)
    _wait_status(client, first, {"STOPPED"})
    fresh, _ = attach_or_submit(client, base, sleeper, {}, log)
    assert fresh == f"{base}-2"
    client.stop_job(fresh)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_trigger_tails_each_line_once_and_fires_the_summary(ray_head, monkeypatch):
    client, job_id = _client(ray_head), f"riskcast-test-trigger-{uuid.uuid4().hex[:8]}"
    code = ("import json, time; [print('epoch', i, flush=True) or time.sleep(0.3) for i in range(5)]; "
            "print(json.dumps({'model_version': 'v2'}))")
    client.submit_job(entrypoint=f"{sys.executable} -c \"{code}\"", submission_id=job_id)
    trigger = RayJobTrigger(ray_head, job_id, poll_s=0.5, deadline=time.time() + 240)
    classpath, kwargs = trigger.serialize()
    assert classpath == "riskcast_airflow.ray_trigger.RayJobTrigger" and kwargs["job_id"] == job_id

    async def first_event():
        async for event in trigger.run():
            return event.payload

    log = _ListLog()
    monkeypatch.setattr(RayJobTrigger, "log", log, raising=False)  # the triggerer's task log
    event = asyncio.run(first_event())
    assert event["status"] == "SUCCEEDED" and event["summary"] == {"model_version": "v2"}
    epochs = [line for line in log.lines if line.split("] ", 1)[-1].startswith("epoch ")]
    assert len(epochs) == 5, epochs  # every line once, as it came
    assert job_result(event) == {"model_version": "v2", "ray_job_id": job_id}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_killing_the_deferred_task_stops_the_job(ray_head):
    client, job_id = _client(ray_head), f"riskcast-test-kill-{uuid.uuid4().hex[:8]}"
    client.submit_job(entrypoint=f"{sys.executable} -c \"import time; time.sleep(120)\"", submission_id=job_id)
    _wait_status(client, job_id, {"RUNNING"})
    asyncio.run(RayJobTrigger(ray_head, job_id).on_kill())
    assert _wait_status(client, job_id, {"STOPPED"}) == "STOPPED"
    with pytest.raises(RayJobError, match="STOPPED"):
        job_result({"status": "STOPPED", "job_id": job_id, "address": ray_head, "tail": []})


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_operator_submits_under_the_derived_id_then_defers(ray_head, monkeypatch, tmp_path):
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from airflow.sdk.exceptions import TaskDeferred

    monkeypatch.setenv("RISKCAST_RAY__JOBS_ADDRESS", ray_head)
    monkeypatch.setenv("RISKCAST_LAKE_URI", str(tmp_path / "lake"))
    run_id = f"manual__{uuid.uuid4().hex}"
    context = {
        "ti": SimpleNamespace(dag_id="riskcast_forecast", task_id="train"),
        "run_id": run_id,
        "params": {},
        "dag_run": SimpleNamespace(run_after=datetime(2024, 3, 4, 1, tzinfo=UTC), data_interval_end=None),
    }
    op = RayTrainOperator(task_id="train", poll_s=0.5)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, RayJobTrigger) and deferred.value.method_name == "execute_complete"
    assert trigger.job_id == submission_id("riskcast_forecast", run_id, "train")
    info = _client(ray_head).get_job_info(trigger.job_id)
    assert info.entrypoint == "riskcast train --as-of 2024-03-03 --no-record --workers 1"
    _client(ray_head).stop_job(trigger.job_id)
