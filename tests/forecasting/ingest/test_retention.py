"""Landing retention: old landing days are deleted once ingested, validated and unchanged,
recorded first; bronze is never touched; a day with files not ingested yet is kept."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.core.lake import Lake
from forecasting.ingest.drop import ingest_source
from forecasting.ingest.retention import purge_landing
from forecasting.stages import run_ingest
from tests.support.landing import csv_text, land
from tests.support.operations import FIRST, RECON, REPORTS, day_recons, days_from, land_days

DAYS = days_from(FIRST, 6)


def _bronze(settings) -> dict[str, bytes]:
    root = Path(settings.lake_uri) / "bronze"
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_purge_deletes_only_safe_old_days_and_never_bronze(settings_factory, monkeypatch):
    settings = settings_factory(landing_retention_days=3)
    landing = Path(settings.landing_uri)
    land_days(landing, DAYS)
    run_ingest(settings, DAYS[:4], sweep=False)
    ingest_source(settings, RECON, DAYS[4])  # ingested, not validated (and not old enough anyway)
    land(landing, RECON, "part-001.csv", csv_text(day_recons(DAYS[1], 2, start=50)), DAYS[1])  # not ingested yet
    bronze = _bronze(settings)
    run_day = DAYS[-1] + (DAYS[1] - DAYS[0]) * 2  # cutoff: days before DAYS[4]

    dry = purge_landing(settings, run_day, dry_run=True)
    assert (landing / REPORTS / f"date={DAYS[0]}").exists()
    out = purge_landing(settings, run_day)
    assert out["purged"] == dry["purged"]
    gone = {p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in out["purged"]}
    assert gone == {f"{s}/date={d}" for s in (REPORTS, RECON) for d in DAYS[:4]} - {f"{RECON}/date={DAYS[1]}"}
    assert "changed since they were ingested" in out["kept"][str(landing / RECON / f"date={DAYS[1]}")]
    assert _bronze(settings) == bronze
    lake = Lake.from_settings(settings)
    record = json.loads(Path(lake.landing_purge(REPORTS, DAYS[0])).read_text())
    assert record["purged_on"] == str(run_day) and record["retention_days"] == 3
    assert list(record["files"]) == [f"{REPORTS}/date={DAYS[0]}/part-000.csv"]
    assert purge_landing(settings, run_day)["purged"] == []  # nothing left to do

    monkeypatch.setenv("RISKCAST_LANDING_URI", settings.landing_uri)
    monkeypatch.setenv("RISKCAST_LAKE_URI", settings.lake_uri)
    monkeypatch.setenv("RISKCAST_LANDING_RETENTION_DAYS", "1")
    cli = CliRunner().invoke(app, ["--json", "purge-landing", "--as-of", str(run_day), "--dry-run"])
    assert cli.exit_code == 0, cli.output
    listed = json.loads(cli.stdout)
    assert listed["dry_run"] and "never validated" in listed["kept"][str(landing / RECON / f"date={DAYS[4]}")]


def test_a_never_ingested_day_is_kept(settings_factory):
    settings = settings_factory(landing_retention_days=1)
    land_days(Path(settings.landing_uri), DAYS[:2])
    out = purge_landing(settings, DAYS[-1])
    assert not out["purged"] and all("never ingested" in why for why in out["kept"].values())
