"""The trigger a deferred ``DropSensor`` waits on: it runs on the triggerer, not a worker.

``DropTrigger`` looks at one source-day's landing folder every ``poll_s`` seconds (one
listing through fsspec: local folders or S3) and fires one event when the drop has arrived
by its rules (``forecasting.ingest.arrival``: the ``_SUCCESS`` marker, or no change for the
settle time, and every open site's file for per-site sources) or when its deadline
(epoch seconds, so a triggerer restart keeps it) has passed:
``{"status": "arrived" | "overdue", "source", "day", "files", "bytes", "marker",
"missing_sites", "arrived"}`` (``arrived``: what is there, in words).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from forecasting.core.drops import DropSettings
from forecasting.core.lake import Lake, parse_date
from forecasting.ingest.arrival import DropState, describe, look


class DropTrigger(BaseTrigger):
    """Wait for ``source``'s drop of ``day`` (ISO date) under ``landing_uri``."""

    def __init__(self, landing_uri: str, aws_conn_id: str, source: str, day: str, drop: dict[str, Any],
                 deadline: float, expected_sites: list[str] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.landing_uri, self.aws_conn_id = landing_uri, aws_conn_id
        self.source, self.day = source, day
        self.drop = dict(drop)  # forecasting.core.drops.DropSettings, dumped
        self.deadline = float(deadline)
        self.expected_sites = expected_sites

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"landing_uri": self.landing_uri, "aws_conn_id": self.aws_conn_id, "source": self.source,
             "day": self.day, "drop": self.drop, "deadline": self.deadline,
             "expected_sites": self.expected_sites},
        )  # fmt: skip

    async def run(self) -> AsyncIterator[TriggerEvent]:
        drop, day = DropSettings(**self.drop), parse_date(self.day)
        landing = Lake(self.landing_uri, self.aws_conn_id)
        while True:
            state = await asyncio.to_thread(look, landing, self.source, day, self.expected_sites)
            now = time.time()
            if state.arrived(drop, now) or now >= self.deadline:
                yield TriggerEvent(event(state, drop, "arrived" if state.arrived(drop, now) else "overdue"))
                return
            self.log.info("%s %s: not arrived yet (%d file(s), marker %s, missing sites %s); deadline in %.0f s",
                          self.source, self.day, len(state.files), state.marker,
                          len(state.missing_sites or []), self.deadline - now)  # fmt: skip
            await asyncio.sleep(max(0.0, min(float(drop.poll_seconds), self.deadline - now)))


def event(state: DropState, drop: DropSettings, status: str) -> dict[str, Any]:
    """The event payload (JSON-able) for ``state`` of a drop."""
    return {
        "status": status,
        "source": state.source,
        "day": state.day.isoformat(),
        "files": len(state.files),
        "bytes": sum(int(f.get("size") or 0) for f in state.files.values()),
        "marker": state.marker,
        "missing_sites": state.missing_sites,
        "arrived": describe(state, drop),
    }
