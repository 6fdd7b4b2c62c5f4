"""Backfill partitions on Ray actors leave exactly the files of the in-process run."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest

from forecasting.core.schema import DAILY_SOURCES
from forecasting.core.worker_settings import for_workers
from forecasting.ingest import actors
from forecasting.stages import run_ingest
from forecasting.validation import batch, runner
from forecasting.validation.runner import (
    ingest_reference_days,
    ingest_source_days,
    validate_source_days,
)
from tests.support.backfill_lakes import FIRST, LAST, days_between, lake_files


def _same_lakes(tmp_path: Path, left: str, right: str) -> None:
    a, b = lake_files(tmp_path / left), lake_files(tmp_path / right)
    assert sorted(a) == sorted(b) and len(a) > 100
    assert [k for k in a if a[k] != b[k]] == []
    alerts = [(tmp_path / lake / "alerts" / "outbox.jsonl").read_text().splitlines() for lake in (left, right)]
    assert len(alerts[0]) == len(alerts[1]) > 0


@pytest.mark.slow
def test_dag_backfill_on_ray_actors_matches_in_process(ray_local, faulty_landing, settings_factory, tmp_path, monkeypatch):
    days = days_between(FIRST, LAST)
    calls = []
    real = actors.run_on_actors

    def counted(settings, work, chunks, label, sources=(), **kw):
        calls.append(label.split()[0])  # "ingest" or "screen"
        return real(settings, work, chunks, label, sources, **kw)

    monkeypatch.setattr(actors, "run_on_actors", counted)
    monkeypatch.setattr(runner, "run_on_actors", counted)
    monkeypatch.setattr(batch, "run_on_actors", counted)

    def run(lake: str, workers: int) -> list[str]:
        settings = settings_factory(landing_uri=str(faulty_landing), lake_uri=str(tmp_path / lake),
                                    intake_workers=workers,
                                    validation={"max_bad_row_share": 0.5, "batch_days": 10})
        ingest_reference_days(settings, days)
        out = [ingest_source_days(settings, s, days) for s in DAILY_SOURCES]
        out += [validate_source_days(settings, s, days) for s in DAILY_SOURCES]
        return [json.dumps(x, sort_keys=True).replace(settings.lake_uri, "LAKE") for x in out]

    in_process = run("one", 1)
    assert calls == []
    on_ray = run("ray", 2)
    assert calls.count("ingest") == 2 and calls.count("screen") == 2  # both daily sources, both stages
    assert in_process == on_ray
    rejected = sum(len(json.loads(s)["rejected_days"]) for s in in_process)
    assert rejected >= 3  # the faults were hit
    _same_lakes(tmp_path, "one", "ray")


@pytest.mark.slow
def test_cli_backfill_on_ray_actors_matches_in_process(ray_local, faulty_landing, settings_factory, tmp_path):
    days = days_between(FIRST, LAST)
    summaries = []
    for lake, workers in (("one", 1), ("ray", 0)):  # 0: one actor per CPU of the cluster
        settings = settings_factory(landing_uri=str(faulty_landing), lake_uri=str(tmp_path / lake),
                                    intake_workers=workers,
                                    validation={"max_bad_row_share": 0.5, "batch_days": 10})
        out = run_ingest(settings, days, sweep=False)
        summaries.append(json.dumps(out, sort_keys=True).replace(settings.lake_uri, "LAKE"))
    assert summaries[0] == summaries[1]
    assert any(d["exit_code"] == 2 for d in json.loads(summaries[0]))
    _same_lakes(tmp_path, "one", "ray")


def test_short_ranges_and_one_worker_stay_in_process(settings_factory):
    assert not actors.use_ray(settings_factory(intake_workers=1), 50)
    assert not actors.use_ray(settings_factory(intake_workers=4), 1)
    assert actors.use_ray(settings_factory(intake_workers=0), 2)


def test_actors_get_the_resolved_pii_key_only_where_rows_carry_pii(settings_factory):
    settings = settings_factory(pii_key="k" * 32)
    # any source's rows may carry PII the screen hashes (ingest.screen); with it off, none
    assert actors._resolved_key(settings, ["warehouses"]) == b"k" * 32
    assert actors._resolved_key(settings_factory(pii_key="k" * 32, pii_screen={"enabled": False}),
                                ["warehouses"]) is None  # fmt: skip
    assert actors._resolved_key(settings, ()) is None  # GX screens read pseudonymised bronze
    assert actors._resolved_key(settings, ["warehouses", "security_reports"]) == b"k" * 32
    # the actor holds it in its own settings; what is shipped to it has none (worker_settings)
    logger = logging.getLogger("forecasting")
    level = logger.level  # an actor quiets riskcast's logs in its own process: restore them here
    try:
        worker = actors.IntakeWorker(for_workers(settings), None, b"k" * 32)
    finally:
        logger.setLevel(level)
    assert worker.settings.pii_key.get_secret_value() == "k" * 32


@pytest.mark.slow
def test_a_worker_killed_mid_backfill_leaves_whole_files_and_a_rerun_completes(
    ray_local, faulty_landing, settings_factory, tmp_path, monkeypatch
):
    import os
    import signal

    import pyarrow.parquet as pq

    from forecasting.core.errors import ClusterError

    days, source, victim = days_between(FIRST, LAST), "reconciliation_logs", date(2024, 3, 3)

    class Killer(actors.IntakeWorker):
        """An actor that dies (kill -9) half-way through the chunk holding ``victim``."""

        def run(self, work, chunk):
            if victim in chunk:
                super().run(work, chunk[: chunk.index(victim)])
                os.kill(os.getpid(), signal.SIGKILL)
            return super().run(work, chunk)

    def settings(lake: str, workers: int):
        return settings_factory(landing_uri=str(faulty_landing), lake_uri=str(tmp_path / lake),
                                intake_workers=workers, validation={"batch_days": 10})

    ingest_source_days(settings("clean", 1), source, days)
    with monkeypatch.context() as patch:
        patch.setattr(actors, "IntakeWorker", Killer)
        with pytest.raises(ClusterError, match="rerun the same range"):
            ingest_source_days(settings("killed", 2), source, days)
    written = sorted((tmp_path / "killed").rglob("*.parquet"))
    assert written, "the other actor's chunks landed before the failure surfaced"
    for path in written:
        pq.read_metadata(path)  # every partition written is whole
    ingest_source_days(settings("killed", 2), source, days)  # the rerun
    clean, rerun = lake_files(tmp_path / "clean"), lake_files(tmp_path / "killed")
    rerun = {k: v for k, v in rerun.items() if ".tmp-" not in k}  # the dead process's temp file, if any
    assert sorted(clean) == sorted(rerun) and [k for k in clean if clean[k] != rerun[k]] == []


def test_an_error_the_work_raises_comes_back_as_itself(ray_local, settings_factory):
    from forecasting.core.errors import ClusterError

    def boom(settings, chunk):  # defined here: shipped to the actors by value
        raise ValueError(f"a bug in the work on {chunk}")

    with pytest.raises(ValueError, match="a bug in the work") as caught:
        actors.run_on_actors(settings_factory(intake_workers=2), boom, [[1], [2]], "boom")
    assert not isinstance(caught.value, ClusterError)
