"""Launch riskcast training from Airflow: in-process on local Ray, or as a Ray Job.

Without a jobs address (``settings.ray.jobs_address`` / ``RISKCAST_RAY__JOBS_ADDRESS``) the
task calls ``forecasting.train.train_model`` in-process (local Ray, the embedded default).
With one, it submits the same entrypoint (``riskcast train --as-of D``) through the Ray Jobs
API under a submission id derived from the DAG, run and task (``submission_id``): a retry
finds the job of the previous try and attaches to it instead of starting a second one (a
new id, ``...-2``, only when that job failed or was stopped). Then the task DEFERS: a
``RayJobTrigger`` on the triggerer tails the job's log and polls its status, so no worker
slot waits; ``execute_complete`` fails the task (with the log tail) unless the job
succeeded, and returns the job's summary (the last JSON line it printed). ``on_kill`` stops
the job (the trigger's ``on_kill`` does so while deferred). ``deferrable=False`` waits in
the worker instead (same ids, same log handling).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from forecasting.core.lake import parse_date
from forecasting.core.worker_settings import for_workers, shipped_names
from forecasting.model.registry import record_registration
from forecasting.train import train_model
from riskcast_airflow import runtime
from riskcast_airflow.ray_trigger import TAIL_LINES, TERMINAL, RayJobTrigger, last_json

# Ray settings the job must not receive: the addresses it runs under (it must not resubmit)
_RAY_ADDRESSES = {"address", "jobs_address"}
_ALIVE = {"PENDING", "RUNNING"}


class RayJobError(RuntimeError):
    """The Ray Job failed, was stopped, or did not finish in time."""


def job_env(settings: Any) -> dict[str, str]:
    """Settings as ``RISKCAST_*`` env vars for the job (nested models as JSON): the allow-list
    of ``forecasting.core.worker_settings`` only, so no secret and no URL credential (the
    Ray dashboard shows a job's environment to whoever opens it). What else the job needs
    (the lake's credentials) it reads from its own node's environment."""
    flat = for_workers(settings).flat()
    env: dict[str, str] = {}
    for name in shipped_names(settings):
        value = flat[name]
        if value is None:  # unset: the job's default (an env var "null" would be the string)
            continue
        if name == "ray":
            value = {k: v for k, v in value.items() if k not in _RAY_ADDRESSES}
        env[f"RISKCAST_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def record_trained(settings: Any, summary: dict[str, Any], log: Any) -> dict[str, Any]:
    """Record the digests a training job reported in the reserves database (the job cannot
    reach it), after checking the lake holds exactly those files; return ``summary``."""
    version = summary.get("model_version")
    if not version or not summary.get("artefacts"):
        raise RayJobError(f"the training job's summary names no model version and artefacts: {summary}")
    record_registration(settings, version, summary["artefacts"], retrained=not summary.get("reused"),
                        as_of=parse_date(summary["as_of"]), snapshot_id=summary.get("snapshot_id"))  # fmt: skip
    log.info("recorded the digests of model %s's %d files", version, len(summary["artefacts"]))
    return summary


def entrypoint(as_of: str, workers: int | None, use_gpu: bool) -> str:
    """The shell command the job runs: the same CLI a person would, without recording (the
    job has no access to the reserves database: the task records what it prints)."""
    cmd = f"riskcast train --as-of {as_of} --no-record"
    if workers:
        cmd += f" --workers {int(workers)}"
    if use_gpu:
        cmd += " --gpu"
    return cmd


def submission_id(dag_id: str, run_id: str, task_id: str) -> str:
    """``riskcast-<dag>-<task>-<hash of run id>``: the same task of the same run, the same id."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:12]
    return f"riskcast-{dag_id}-{task_id}-{digest}"


def attach_or_submit(
    client: Any, base_id: str, command: str, env: dict[str, str], log: Any, wait_s: float = 120
) -> tuple[str, str]:
    """``(job_id, status)``: the live or succeeded job of ``base_id`` (a retry attaches), else a
    new submission (``base_id``, then ``base_id-2``, ... after failed or stopped jobs)."""
    for attempt in range(1, 1000):
        job_id = base_id if attempt == 1 else f"{base_id}-{attempt}"
        status = job_status(client, job_id)
        if status is None:
            _submit(client, command, env, job_id, wait_s)
            log.info("submitted Ray job %s: %s", job_id, command)
            return job_id, "PENDING"
        if status in _ALIVE or status == "SUCCEEDED":
            log.info("Ray job %s of an earlier try is %s: attaching to it", job_id, status)
            return job_id, status
        log.info("Ray job %s of an earlier try ended %s: not reused", job_id, status)
    raise RayJobError(f"too many Ray jobs under {base_id}")


def job_status(client: Any, job_id: str) -> str | None:
    """The job's status, or None when the Jobs server does not know it."""
    try:
        return str(client.get_job_info(job_id).status.value)
    except RuntimeError as exc:
        if "404" in str(exc) or "does not exist" in str(exc):
            return None
        raise


def job_result(event: dict[str, Any]) -> dict[str, Any]:
    """The task's return value from a trigger event; RayJobError unless the job succeeded."""
    if event.get("status") != "SUCCEEDED":
        tail = "\n".join(event.get("tail") or [])
        raise RayJobError(
            f"Ray job {event.get('job_id')} ended {event.get('status')} on {event.get('address')}; "
            f"last log lines:\n{tail}"
        )
    return dict(event.get("summary") or {}) | {"ray_job_id": event["job_id"]}


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
    """Submit (or attach to) ``command`` at ``address`` and wait in this process, logging each
    new log line once. Returns the job's summary; RayJobError on failure or timeout."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    base = submission_id or f"riskcast-adhoc-{hashlib.sha256(command.encode()).hexdigest()[:8]}-{time.time_ns()}"
    job_id, status = attach_or_submit(client, base, command, env, log)
    return job_result(wait_ray_job(client, address, job_id, log=log, poll_s=poll_s, timeout_s=timeout_s))


def wait_ray_job(client: Any, address: str, job_id: str, *, log: Any, poll_s: float, timeout_s: float) -> dict:
    """The blocking twin of RayJobTrigger.run: the same event, from this process."""
    seen = 0
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(client.get_job_status(job_id).value)
        logs = client.get_job_logs(job_id)  # no stream in a worker: print only what is new
        for line in logs[seen:].splitlines():
            log.info("[ray job %s] %s", job_id, line)
        seen = len(logs)
        if status in TERMINAL:
            break
        if time.monotonic() > deadline:
            client.stop_job(job_id)
            status = "TIMED_OUT"
            break
        time.sleep(poll_s)
    lines = logs.splitlines()
    return {"status": status, "job_id": job_id, "address": address,
            "summary": last_json(lines), "tail": lines[-TAIL_LINES:]}


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


class RayTrainOperator(BaseOperator):
    """Train and register the DeepAR model for the run's ``runtime.as_of``; returns the
    training summary to XCom. Deferrable when training goes to a Ray cluster."""

    template_fields: Sequence[str] = ()
    ui_color = "#e8f1ff"

    def __init__(self, *, poll_s: float = 10.0, deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poll_s = poll_s
        self.deferrable = deferrable
        self._job: tuple[str, str] | None = None

    def execute(self, context: Any) -> dict[str, Any]:
        from ray.job_submission import JobSubmissionClient

        settings = runtime.settings(context)
        as_of = runtime.as_of(context)
        if not settings.ray.jobs_address:
            return runtime.summary(train_model(settings, as_of))
        address = settings.ray.jobs_address
        command = entrypoint(as_of.isoformat(), settings.ray.num_workers, settings.ray.use_gpu)
        ti = context["ti"]
        base = submission_id(ti.dag_id, context["run_id"], ti.task_id)
        client = JobSubmissionClient(address)
        job_id, status = attach_or_submit(client, base, command, job_env(settings), self.log)
        self._job = (address, job_id)
        if self.deferrable and status != "SUCCEEDED":
            deadline = time.time() + settings.ray.job_timeout_s
            self.defer(
                trigger=RayJobTrigger(address, job_id, self.poll_s, deadline),
                method_name="execute_complete",
            )
        event = wait_ray_job(
            client, address, job_id, log=self.log, poll_s=self.poll_s, timeout_s=settings.ray.job_timeout_s
        )
        return record_trained(settings, job_result(event), self.log)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        self.log.info("Ray job %s ended %s", event.get("job_id"), event.get("status"))
        return record_trained(runtime.settings(context), job_result(event), self.log)

    def on_kill(self) -> None:
        from ray.job_submission import JobSubmissionClient

        if self._job:
            address, job_id = self._job
            self.log.info("stopping Ray job %s on %s", job_id, address)
            JobSubmissionClient(address).stop_job(job_id)
