"""Validation on the staged copy: a rerun the contract rejects keeps the day's good copy (CLI
and DAG paths), its alert shows the rejected rows; a first ingest rejected still lands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forecasting.core.errors import DataContractError
from forecasting.core.lake import Lake
from forecasting.stages import run_ingest, run_validate
from forecasting.validation.runner import ingest_source_days, validate_source_days
from tests.support.landing import csv_text, land
from tests.support.operations import (
    FIRST,
    REPORTS,
    day_reports,
    days_from,
    ingested_days,
    partition_bytes,
)

DAYS = days_from(FIRST, 4)
DAY = DAYS[-1]


@pytest.fixture
def ingested(settings_factory):
    settings = settings_factory()
    return settings, ingested_days(settings, DAYS)


def _break_reports(settings) -> None:
    rows = [{**r, "severity": "SEV9"} for r in day_reports(DAY, 4)]  # every row breaks its value set
    land(Path(settings.landing_uri), REPORTS, "part-000.csv", csv_text(rows), DAY)


def test_a_rejected_rerun_keeps_the_good_copy_cli_path(ingested):
    settings, good = ingested
    _break_reports(settings)
    out = run_ingest(settings, [DAY], sweep=False)[0]
    assert out["exit_code"] == 2
    assert any("previous bronze is kept unchanged" in e for e in out["errors"])
    assert partition_bytes(settings.lake_uri, REPORTS, DAY) == good
    alert = next(json.loads(line) for line in Path(Lake.from_settings(settings).outbox).read_text().splitlines()
                 if REPORTS in line and "critical" in line)  # fmt: skip
    assert {r["severity"] for r in alert["rows"]} == {"SEV9"}  # the rejected rows, not the kept ones
    assert "_staging" in alert["links"]["quarantine"]


def test_a_rejected_rerun_keeps_the_good_copy_dag_path(ingested):
    settings, good = ingested
    _break_reports(settings)
    ingest_source_days(settings, REPORTS, [DAY])
    assert partition_bytes(settings.lake_uri, REPORTS, DAY) == good  # staged, not live yet
    with pytest.raises(DataContractError, match="previous bronze is kept unchanged"):
        validate_source_days(settings, REPORTS, [DAY])
    assert partition_bytes(settings.lake_uri, REPORTS, DAY) == good


def test_a_revalidation_that_now_fails_keeps_the_live_files(ingested):
    settings, _ = ingested
    sites = partition_bytes(settings.lake_uri, "warehouses", DAY)
    strict = settings.model_copy(update={"validation": settings.validation.model_copy(update={"sqft_min": 10**6})})
    checked = run_validate(strict, DAY)  # every site is now below the sqft floor: rejected
    bad = checked["sources"]["warehouses"]
    assert bad["status"] == "critical" and bad["kept"]
    assert partition_bytes(settings.lake_uri, "warehouses", DAY) == sites


def test_a_good_rerun_replaces_the_day_whole(ingested):
    settings, _ = ingested
    land(Path(settings.landing_uri), REPORTS, "part-000.csv", csv_text(day_reports(DAY, 5)), DAY)
    out = run_ingest(settings, [DAY], sweep=False)[0]
    assert out["exit_code"] == 0
    lake = Lake.from_settings(settings)
    assert len(lake.read_parquet(lake.bronze_file(REPORTS, DAY))) == 5
    assert json.loads(Path(lake.validation_manifest(REPORTS, DAY)).read_text())["validated_rows"] == 5
