"""The trigger a deferred ``RayTrainOperator`` waits on: it runs on the triggerer, not a worker.

``RayJobTrigger`` follows one Ray Job through the Jobs API: it tails the job's log as a
stream (each line once, into the triggerer's log of the task), polls the job's status every
``poll_s`` seconds, stops the job past ``deadline`` (epoch seconds, so a triggerer restart
keeps the same limit) and fires one event: ``{"status", "job_id", "address", "summary",
"tail"}`` (``summary``: the last JSON object the job printed on a line of its own; ``tail``:
its last log lines). ``on_kill`` (a user cleared or marked the deferred task) stops the job.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
TAIL_LINES = 20


class RayJobTrigger(BaseTrigger):
    """Wait for Ray Job ``job_id`` at ``address`` (http://head:8265) to end."""

    def __init__(self, address: str, job_id: str, poll_s: float = 10.0, deadline: float | None = None) -> None:
        super().__init__()
        self.address = address
        self.job_id = job_id
        self.poll_s = float(poll_s)
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"address": self.address, "job_id": self.job_id, "poll_s": self.poll_s, "deadline": self.deadline},
        )

    def _client(self):
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.address)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        client = await asyncio.to_thread(self._client)
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        found: dict[str, Any] = {}
        tailer = asyncio.create_task(self._tail(client, tail, found))
        while True:
            status = str((await asyncio.to_thread(client.get_job_status, self.job_id)).value)
            if status in TERMINAL:
                break
            if self.deadline is not None and time.time() > self.deadline:
                await asyncio.to_thread(client.stop_job, self.job_id)
                status = "TIMED_OUT"
                break
            await asyncio.sleep(self.poll_s)
        try:  # the stream closes once the job has ended; give it time to deliver the last lines
            await asyncio.wait_for(tailer, timeout=30)
        except TimeoutError:
            tailer.cancel()
        if not found.get("complete"):  # the stream broke: read the log once, for tail and summary
            logs = await asyncio.to_thread(client.get_job_logs, self.job_id)
            tail.extend(logs.splitlines())
            found["summary"] = last_json(logs.splitlines())
        yield TriggerEvent({
            "status": status,
            "job_id": self.job_id,
            "address": self.address,
            "summary": found.get("summary") or {},
            "tail": list(tail),
        })

    async def _tail(self, client: Any, tail: deque[str], found: dict[str, Any]) -> None:
        """Log each new line of the job once, keep the last ones and the last JSON summary."""
        pending = ""
        try:
            async for chunk in client.tail_job_logs(self.job_id):
                *lines, pending = (pending + chunk).split("\n")
                for line in lines:
                    self.log.info("[ray job %s] %s", self.job_id, line)
                    tail.append(line)
                    found["summary"] = last_json([line]) or found.get("summary")
            if pending:
                tail.append(pending)
                found["summary"] = last_json([pending]) or found.get("summary")
            found["complete"] = True
        except Exception as exc:  # noqa: BLE001 - status polling decides the outcome, not the stream
            self.log.warning("log stream of Ray job %s broke (%s); status polling goes on", self.job_id, exc)

    async def on_kill(self) -> None:
        """The user cleared or failed the deferred task: the Ray job must not run on."""
        client = await asyncio.to_thread(self._client)
        stopped = await asyncio.to_thread(client.stop_job, self.job_id)
        self.log.info("stopped Ray job %s on %s: %s", self.job_id, self.address, stopped)


def last_json(lines: list[str]) -> dict[str, Any]:
    """The last line that is a JSON object (the CLI's summary), else {}."""
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return {}
