"""The Ray launcher: settings travel as env, jobs run on a real local Ray head, logs stream,
failures fail the task."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from forecasting.core.config import load_settings
from riskcast_airflow.ray_launcher import RayJobError, entrypoint, job_env, run_ray_job


def test_job_env_round_trips_settings_without_secrets(monkeypatch):
    monkeypatch.setenv("RISKCAST_PII_KEY", "a-secret-that-must-not-travel")
    settings = load_settings(None, horizon=5, lake_uri="s3://bucket/lake")
    settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"num_workers": 3, "jobs_address": "http://head:8265"})})
    env = job_env(settings)
    assert "RISKCAST_PII_KEY" not in env and "a-secret-that-must-not-travel" not in str(env)
    assert env["RISKCAST_LAKE_URI"] == "s3://bucket/lake"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RISKCAST_PII_KEY")
    rebuilt = load_settings()
    assert rebuilt.horizon == 5 and rebuilt.ray.num_workers == 3
    assert rebuilt.ray.jobs_address is None  # the job must not resubmit itself


def test_entrypoint_is_the_cli():
    assert entrypoint("2025-01-06", 2, True) == "riskcast train --as-of 2025-01-06 --workers 2 --gpu"
    assert entrypoint("2025-01-06", None, False) == "riskcast train --as-of 2025-01-06"


class _ListLog:
    def __init__(self):
        self.lines: list[str] = []

    def info(self, msg, *args):
        self.lines.append(msg % args)


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
