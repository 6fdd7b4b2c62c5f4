"""``DropTrigger`` run with asyncio as the triggerer runs it: it fires when the marker lands,
waits out the settle time, fires overdue at the deadline with what arrived, and serialises.
The sensor and the DAG around it: ``tests/dags/test_drops.py``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import date
from pathlib import Path

from forecasting.core.drops import DropSettings
from riskcast_airflow.drop_trigger import DropTrigger
from tests.support.landing import csv_text, land
from tests.support.operations import (
    FIRST,
    REPORTS,
    day_reports,
)

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _first_event(trigger: DropTrigger, timeout: float = 30) -> dict:
    async def first():
        return await asyncio.wait_for(anext(trigger.run()), timeout)

    return asyncio.run(first()).payload


def _trigger(landing: Path, drop: DropSettings, deadline: float, day: date = FIRST) -> DropTrigger:
    return DropTrigger(str(landing), "aws_default", REPORTS, day.isoformat(), drop.model_dump(), deadline)


def test_the_trigger_fires_when_the_marker_lands(tmp_path):
    landing = tmp_path / "landing"
    land(landing, REPORTS, "part-000.csv", csv_text(day_reports(FIRST)))
    drop = DropSettings(success_marker=True, poll_seconds=0.05)
    timer = threading.Timer(0.5, lambda: land(landing, REPORTS, "_SUCCESS", ""))
    timer.start()
    started = time.monotonic()
    event = _first_event(_trigger(landing, drop, time.time() + 60))
    timer.join()
    assert event["status"] == "arrived" and event["marker"] and event["files"] == 1
    assert 0.4 < time.monotonic() - started < 10


def test_the_trigger_fires_overdue_at_the_deadline_with_what_arrived(tmp_path):
    landing = tmp_path / "landing"
    land(landing, REPORTS, "part-000.csv", csv_text(day_reports(FIRST)))
    drop = DropSettings(success_marker=True, poll_seconds=30)  # the deadline cuts the sleep short
    started = time.monotonic()
    event = _first_event(_trigger(landing, drop, time.time() + 0.5))
    assert event["status"] == "overdue" and not event["marker"]
    assert "1 file(s)" in event["arrived"] and "_SUCCESS marker is missing" in event["arrived"]
    assert time.monotonic() - started < 10


def test_the_trigger_waits_out_the_settle_time_and_round_trips(tmp_path):
    landing = tmp_path / "landing"
    land(landing, REPORTS, "part-000.csv", csv_text(day_reports(FIRST)))
    drop = DropSettings(settle_minutes=1 / 60, poll_seconds=0.1)  # one second without a change
    assert _first_event(_trigger(landing, drop, time.time() + 60))["status"] == "arrived"
    classpath, kwargs = _trigger(landing, drop, 1.0).serialize()
    assert classpath == "riskcast_airflow.drop_trigger.DropTrigger"
    assert DropTrigger(**kwargs).serialize() == (classpath, kwargs)
    json.dumps(kwargs)  # what the triggerer stores


