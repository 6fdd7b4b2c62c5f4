"""Launch riskcast training from Airflow: in-process on local Ray, or as a Ray Job.

Without a jobs address (``settings.ray.jobs_address`` / ``RISKCAST_RAY__JOBS_ADDRESS``) the
task calls ``forecasting.train.train_model`` in-process (local Ray, the embedded default).
With one, it submits the same entrypoint (``riskcast train --as-of D``) through the Ray Jobs
API, streams the job's logs into the task log while polling, fails the task when the job
fails or is stopped, and returns the job's summary (the last JSON line it printed).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from forecasting.core.lake import parse_date
from forecasting.train import train_model
from riskcast_airflow import runtime

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
# Settings the job must not receive: secrets, and the address the job itself runs under.
_NOT_FORWARDED = {"pii_key"}


class RayJobError(RuntimeError):
    """The Ray Job failed, was stopped, or did not finish in time."""


def job_env(settings: Any) -> dict[str, str]:
    """Settings as ``RISKCAST_*`` env vars for the job (nested models as JSON), no secrets."""
    env: dict[str, str] = {}
    for name, value in settings.flat().items():
        if name in _NOT_FORWARDED:
            continue
        if name == "ray":
            value = {k: v for k, v in value.items() if k not in {"address", "jobs_address"}}
        env[f"RISKCAST_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def entrypoint(as_of: str, workers: int | None, use_gpu: bool) -> str:
    """The shell command the job runs: the same CLI a person would."""
    cmd = f"riskcast train --as-of {as_of}"
    if workers:
        cmd += f" --workers {int(workers)}"
    if use_gpu:
        cmd += " --gpu"
    return cmd


def run_ray_job(
    address: str,
    command: str,
    env: dict[str, str],
    *,
    log: Any,
    poll_s: float = 2.0,
    timeout_s: float = 3600,
    submission_id: str | None = None,
) -> dict[str, Any]:
    """Submit ``command`` to the Ray Jobs server at ``address``, stream logs, wait.

    Returns the last JSON object the job printed on a line of its own; raises RayJobError
    (with the log tail) if the job fails, is stopped, or outlives ``timeout_s``.
    """
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    job_id = _submit(client, command, env, submission_id or f"riskcast-{uuid.uuid4().hex[:12]}")
    log.info("submitted Ray job %s to %s: %s", job_id, address, command)
    seen = 0
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(client.get_job_status(job_id).value)
        logs = client.get_job_logs(job_id)
        for line in logs[seen:].splitlines():
            log.info("[ray job %s] %s", job_id, line)
        seen = len(logs)
        if status in TERMINAL:
            break
        if time.monotonic() > deadline:
            client.stop_job(job_id)
            raise RayJobError(f"Ray job {job_id} did not finish within {timeout_s:.0f} s; stopped it")
        time.sleep(poll_s)
    if status != "SUCCEEDED":
        tail = "\n".join(logs.splitlines()[-20:])
        raise RayJobError(f"Ray job {job_id} ended {status} on {address}; last log lines:\n{tail}")
    return _last_json(logs) | {"ray_job_id": job_id}


def _submit(client: Any, command: str, env: dict[str, str], submission_id: str, wait_s: float = 120) -> str:
    """Submit, retrying while a freshly started head has no job agent registered yet."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return client.submit_job(
                entrypoint=command,
                submission_id=submission_id,
                runtime_env={"env_vars": env},
                metadata={"submitted_by": "riskcast"},
            )
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(2)


def _last_json(logs: str) -> dict[str, Any]:
    for line in reversed(logs.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return {}


class RayTrainOperator(BaseOperator):
    """Train and register the DeepAR model; returns the training summary to XCom."""

    template_fields: Sequence[str] = ("as_of",)
    ui_color = "#e8f1ff"

    def __init__(self, *, as_of: str, poll_s: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.as_of = as_of
        self.poll_s = poll_s

    def execute(self, context: Any) -> dict[str, Any]:

        settings = runtime.settings(context)
        as_of = parse_date(self.as_of, "as_of")
        if not settings.ray.jobs_address:

            return runtime.summary(train_model(settings, as_of))
        command = entrypoint(as_of.isoformat(), settings.ray.num_workers, settings.ray.use_gpu)
        return run_ray_job(
            settings.ray.jobs_address,
            command,
            job_env(settings),
            log=self.log,
            poll_s=self.poll_s,
            timeout_s=settings.ray.job_timeout_s,
        )
