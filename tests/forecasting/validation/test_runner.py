"""Backfill semantics of the per-source stage runs the ingest DAG calls."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from forecasting.core.errors import DataContractError
from forecasting.core.lake import Lake
from forecasting.validation.runner import (
    ingest_reference_days,
    ingest_source_days,
    validate_source_days,
)

START = date(2024, 1, 1)


@pytest.fixture(scope="module")
def faulty_landing(tmp_path_factory) -> Path:
    from forecasting.demo.generate import generate_network

    out = tmp_path_factory.mktemp("landing")
    generate_network(str(out), 6, START, 90, seed=5, faults=True)
    return out


def _fault(landing: Path, name: str) -> tuple[date, str]:
    """(day, source) of the first injected fault called ``name``."""
    faults = json.loads((landing / "_truth" / "faults.json").read_text())
    hit = min((f["date"], f["source"]) for f in faults if f["fault"] == name)
    return date.fromisoformat(hit[0]), hit[1]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.mark.slow
def test_backfill_keeps_going_past_a_rejected_day_and_alerts_it(faulty_landing, settings_factory):
    settings = settings_factory(landing_uri=str(faulty_landing))
    bad, source = _fault(faulty_landing, "missing_column")
    days = _days(bad - timedelta(days=2), bad + timedelta(days=2))
    ingest_reference_days(settings, days)
    out = ingest_source_days(settings, source, days)
    assert list(out["rejected_days"]) == [bad.isoformat()]
    assert "missing" in out["rejected_days"][bad.isoformat()]
    validate_source_days(settings, source, days)  # the DAG's next task swaps the staged days in
    lake = Path(settings.lake_uri)
    assert not (lake / "bronze" / source / f"date={bad}").exists()
    for d in days:
        if d != bad:
            assert (lake / "bronze" / source / f"date={d}" / "part.parquet").exists()
    alerts = [json.loads(line) for line in (lake / "alerts" / "outbox.jsonl").read_text().splitlines()]
    # a past day of a backfill: alerted in the task's digest, not on its own
    (digest,) = [a for a in alerts if a["kind"] == "digest" and a["source"] == f"ingest {source}"]
    assert any(r["kind"] == "contract" and r["date"] == str(bad) for r in digest["rows"])
    assert not any(a["kind"] == "contract" and a["date"] == str(bad) for a in alerts)


@pytest.mark.slow
def test_one_alert_per_problem_and_one_digest_per_backfill_task(faulty_landing, settings_factory):
    settings = settings_factory(landing_uri=str(faulty_landing), validation={"max_bad_row_share": 0.9})
    bad, source = _fault(faulty_landing, "missing_column")
    days = _days(bad - timedelta(days=6), bad + timedelta(days=2))
    ingest_reference_days(settings, days)
    ingested = ingest_source_days(settings, source, days)
    validated = validate_source_days(settings, source, days, ingested["rejected_days"])
    assert bad.isoformat() not in validated["rejected_days"]  # nothing staged: the good copy stays, not re-judged
    alerts = [json.loads(line) for line in (Path(settings.lake_uri) / "alerts" / "outbox.jsonl").read_text().splitlines()]
    own = [a for a in alerts if a["source"] in (source, f"ingest {source}", f"validate {source}")]
    assert all(a["kind"] == "digest" or a["date"] == str(days[-1]) for a in own)  # past days: digests only
    digests = {a["source"]: a for a in own if a["kind"] == "digest"}
    assert any(r["kind"] == "contract" and r["date"] == str(bad) for r in digests[f"ingest {source}"]["rows"])
    later = digests.get(f"validate {source}", {"rows": []})["rows"]
    assert not any(r["date"] == str(bad) for r in later)  # the broken drop is not alerted twice
    assert all(a["raised_at"] for a in alerts)


@pytest.mark.slow
def test_the_runs_own_date_failing_fails_the_task(faulty_landing, settings_factory):
    settings = settings_factory(landing_uri=str(faulty_landing))
    bad, source = _fault(faulty_landing, "missing_column")
    days = _days(bad - timedelta(days=1), bad)
    ingest_reference_days(settings, days)
    with pytest.raises(DataContractError, match=str(bad)):
        ingest_source_days(settings, source, days)


@pytest.mark.slow
def test_validation_backfill_takes_a_header_only_day_as_quiet_and_quarantines_row_faults(
    faulty_landing, settings_factory, tmp_path
):
    # a 6-site network has few rows a day: let a few bad rows stay a row-level problem
    settings = settings_factory(landing_uri=str(faulty_landing), validation={"max_bad_row_share": 0.9})
    empty, source = _fault(faulty_landing, "empty_day")
    negative, source2 = _fault(faulty_landing, "negative_units")
    assert source == source2 == "security_reports"
    days = _days(min(empty, negative) - timedelta(days=1), max(empty, negative) + timedelta(days=1))
    ingest_reference_days(settings, days)
    ingest_source_days(settings, source, days)
    out = validate_source_days(settings, source, days)
    # a header-only drop on 6 sites (about 5 reports a day) is a plausible day of zero
    # incidents: kept as an empty partition, not rejected, not alerted
    assert empty.isoformat() not in out["rejected_days"]
    lake = Lake.from_settings(settings)
    assert len(lake.read_parquet(lake.bronze_file(source, empty))) == 0
    assert negative.isoformat() not in out["rejected_days"]
    assert out["quarantined_rows"] >= 1 and out["warning_days"] >= 1
    assert out["input_rows"] == out["validated_rows"] + out["quarantined_rows"]
    # where the contract says a day without rows is no day (zero_rows_ok off), it is rejected
    strict = settings_factory(landing_uri=str(faulty_landing), lake_uri=str(tmp_path / "strict"),
                              validation={"max_bad_row_share": 0.9},
                              drops={source: {"zero_rows_ok": False}})  # fmt: skip
    ingest_reference_days(strict, days)
    ingest_source_days(strict, source, days)
    assert empty.isoformat() in validate_source_days(strict, source, days)["rejected_days"]


def test_reference_data_is_snapshotted_on_the_first_and_last_day_of_a_backfill(faulty_landing, settings_factory):
    settings = settings_factory(landing_uri=str(faulty_landing))
    days = _days(START, START + timedelta(days=9))
    out = ingest_reference_days(settings, days)
    assert out["warehouses"]["ingest"]["days"] == 2
    snaps = sorted(p.name for p in (Path(settings.lake_uri) / "bronze" / "warehouses").iterdir())
    assert snaps == [f"date={days[0]}", f"date={days[-1]}"]


@pytest.mark.slow
def test_a_cli_backfill_validates_in_batches_and_leaves_the_files_of_day_by_day(faulty_landing, settings_factory, tmp_path):
    from forecasting.core.schema import DAILY_SOURCES
    from forecasting.stages import run_ingest

    days = _days(date(2024, 2, 14), date(2024, 3, 5))  # empty, truncated, wrong-type and order faults
    lakes = {name: tmp_path / name for name in ("day_by_day", "batched")}
    settings = {
        name: settings_factory(landing_uri=str(faulty_landing), lake_uri=str(lake), validation={"max_bad_row_share": 0.5})
        for name, lake in lakes.items()
    }
    old = [run_ingest(settings["day_by_day"], [d], sweep=False)[0] for d in days]  # one day after the other
    new = run_ingest(settings["batched"], days, sweep=False)

    def outcome(summary: dict) -> tuple:  # the daily sources (a backfill snapshots reference data twice)
        checked = {s: v for s, v in summary["validation"]["sources"].items() if s in DAILY_SOURCES}
        ingested = [summary["sources"][s] for s in DAILY_SOURCES]
        return (
            summary["date"], summary["exit_code"], sum(r["read"] for r in ingested), sum(r["quarantined"] for r in ingested),
            sorted((s, v["status"], v["input_rows"], v["validated_rows"], v["quarantined_rows"]) for s, v in checked.items()),
        )

    assert [outcome(s) for s in old] == [outcome(s) for s in new]
    assert any(s["exit_code"] for s in new)  # the faults were hit
    files = {
        name: {str(p.relative_to(lake)): p.read_bytes() for part in ("bronze", "quarantine") for source in DAILY_SOURCES
               for p in sorted((lake / part / source).rglob("*")) if p.is_file()}
        for name, lake in lakes.items()
    }
    assert sorted(files["day_by_day"]) == sorted(files["batched"])
    assert [k for k in files["day_by_day"] if files["day_by_day"][k] != files["batched"][k]] == []
