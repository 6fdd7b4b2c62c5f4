"""A day's partition written aside and swapped in: a failed rerun keeps the good copy byte for
byte (landing moved away, no PII key, a broken file), and a swap cut short rolls forward."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forecasting.core.errors import ConfigError, InputError, StorageError
from forecasting.core.lake import Lake
from forecasting.ingest import partition
from forecasting.ingest.drop import ingest_source
from forecasting.stages import run_ingest
from tests.support.landing import csv_text, land
from tests.support.operations import (
    FIRST,
    RECON,
    REPORTS,
    day_recons,
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


def _no_leftovers(settings) -> bool:
    return not [p for p in Path(settings.lake_uri, "_staging").rglob("*") if p.is_file()]


def test_a_rerun_with_the_landing_moved_away_keeps_bronze(ingested, tmp_path):
    settings, good = ingested
    folder = Path(settings.landing_uri) / REPORTS / f"date={DAY}"
    shutil.move(folder, tmp_path / "moved")  # the repro
    with pytest.raises(StorageError, match="bronze of the day is kept unchanged"):
        ingest_source(settings, REPORTS, DAY)
    out = run_ingest(settings, [DAY], sweep=False)[0]
    assert out["exit_code"] == 2 and "restore the landing folder" in out["errors"][0]
    assert partition_bytes(settings.lake_uri, REPORTS, DAY) == good
    assert _no_leftovers(settings)


def test_a_rerun_without_the_pii_key_keeps_bronze(ingested, monkeypatch):
    settings, good = ingested
    monkeypatch.delenv("RISKCAST_PII_KEY")
    keyless = settings.model_copy(update={"pii_key": None})
    with pytest.raises(ConfigError):
        ingest_source(keyless, REPORTS, DAY)
    out = run_ingest(keyless, [DAY], sweep=False)[0]
    assert out["sources"][REPORTS]["error_kind"] == "infrastructure"
    assert partition_bytes(settings.lake_uri, REPORTS, DAY) == good
    assert _no_leftovers(settings)


def test_a_rerun_on_a_broken_file_keeps_bronze(ingested):
    settings, _ = ingested
    good = partition_bytes(settings.lake_uri, RECON, DAY)
    rows = [{k: v for k, v in r.items() if k != "reason_code"} for r in day_recons(DAY)]
    land(Path(settings.landing_uri), RECON, "part-000.csv", csv_text(rows), DAY)
    with pytest.raises(InputError, match="'reason_code' is missing"):
        ingest_source(settings, RECON, DAY)
    assert partition_bytes(settings.lake_uri, RECON, DAY) == good
    assert _no_leftovers(settings)


def test_a_swap_cut_short_rolls_forward_on_the_next_attempt(ingested, monkeypatch):
    settings, _ = ingested
    lake = Lake.from_settings(settings)
    land(Path(settings.landing_uri), RECON, "part-001.csv", csv_text(day_recons(DAY, 2, start=50)), DAY)
    ingest_source(settings, RECON, DAY, swap=False)
    staged = partition.staged(lake, RECON, DAY)
    expected = partition_bytes(Path(settings.lake_uri) / "_staging", RECON, DAY)
    copied = []
    real = Lake.copy

    def dies_after_one(self, src, dst):
        if len(copied) == 1:
            raise KeyboardInterrupt("killed mid-swap")
        copied.append(dst)
        return real(self, src, dst)

    monkeypatch.setattr(Lake, "copy", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        partition.swap_in(lake, RECON, DAY)
    monkeypatch.setattr(Lake, "copy", real)
    assert lake.exists(staged.ingest_manifest(RECON, DAY))  # the attempt is still there
    assert not partition.has_attempt(lake, RECON, DAY)  # ... and has_attempt finished the swap
    assert partition_bytes(settings.lake_uri, RECON, DAY) == expected
    assert _no_leftovers(settings)


def test_manifests_go_live_last(ingested, monkeypatch):
    settings, _ = ingested
    lake = Lake.from_settings(settings)
    ingest_source(settings, RECON, DAY, swap=False)
    order = []
    real = Lake.copy
    monkeypatch.setattr(Lake, "copy", lambda self, src, dst: order.append(dst.rsplit("/", 1)[-1]) or real(self, src, dst))
    partition.swap_in(lake, RECON, DAY)
    assert order[-1] == "ingest.json" and order.index("part.parquet") < order.index("ingest.json")
