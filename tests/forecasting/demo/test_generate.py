"""Sample network generator: layout, values, determinism, truth consistency, events, CLI."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.core.errors import ConfigError
from forecasting.core.schema import (
    CATEGORY,
    COLD_START,
    COUNT_DATE,
    COUNTED_UNITS,
    COUNTRY,
    EVENT_DATE,
    EVENT_TYPE,
    EVENTS,
    EXPECTED_UNITS,
    FAULT_DATE,
    INCIDENT_AT,
    NOTES,
    OPENED_ON,
    REASON_CODE,
    RECON_ID,
    RECONCILIATION_LOGS,
    REGION,
    REPORT_ID,
    REPORTED_AT,
    SCOPE,
    SCOPE_ID,
    SECURITY_REPORTS,
    SEVERITY,
    STATUS,
    TRUE_REPORTED,
    TRUE_THEFTS,
    TRUTH_DATE,
    UNITS,
    WAREHOUSE_ID,
    WAREHOUSES,
)
from forecasting.demo.calendar import black_friday, easter_sunday
from forecasting.demo.generate import HORIZON_DAYS, generate_network
from tests.support.demo_landing import (
    DAYS,
    N_WH,
    SEED,
    START,
    THEFT_CATEGORIES,
    files_of,
    make_network,
    read_source,
    read_truth,
)

SOURCES = (SECURITY_REPORTS, RECONCILIATION_LOGS)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return make_network(tmp_path_factory, "clean", False)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Path:
    return make_network(tmp_path_factory, "faulty", True)


# ----------------------------------------------------------------------------- layout
def test_every_day_has_a_drop_whose_columns_match_the_contract(clean: Path) -> None:
    days = [str(START + timedelta(days=i)) for i in range(DAYS)]
    for contract in SOURCES:
        folders = sorted(p.name for p in (clean / contract.name).iterdir())
        assert folders == [f"date={d}" for d in days]
        for folder in (clean / contract.name).iterdir():
            main = (folder / "part-000.csv").read_text(encoding="utf-8")
            assert main.splitlines()[0].split(",") == list(contract.columns)
            for f in folder.iterdir():
                assert f.name in {"part-000.csv", "part-001.jsonl", "part-001.parquet"}
                if f.suffix == ".parquet":
                    assert list(pd.read_parquet(f).columns) == list(contract.columns)
                if f.suffix == ".jsonl":
                    assert list(json.loads(f.read_text().splitlines()[0])) == list(contract.columns)
    for name, contract in (("warehouses.csv", WAREHOUSES), ("events.csv", EVENTS)):
        header = (clean / name).read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == list(contract.columns)
    truth = {p.name for p in (clean / "_truth").iterdir()}
    assert truth == {"warehouses.csv", "daily.csv", "horizon.csv", "thefts.csv", "skus.csv",
                     "params.json", "faults.json"}  # fmt: skip


def test_values_are_spelled_as_the_contract_says(clean: Path) -> None:
    reports = read_source(clean, SECURITY_REPORTS.name)
    recon = read_source(clean, RECONCILIATION_LOGS.name)
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$")
    assert (
        reports[INCIDENT_AT].str.match(stamp).all() and reports[REPORTED_AT].str.match(stamp).all()
    )
    assert recon[COUNT_DATE].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert set(reports["is_hvg"]) == {"true", "false"}
    assert set(reports[SEVERITY]) <= {"SEV1", "SEV2", "SEV3", "SEV4"}
    assert reports[REPORT_ID].is_unique and recon[RECON_ID].is_unique
    # a report lands in the drop of its reported_at day, a count line in its count_date
    assert (reports[REPORTED_AT].str[:10] == reports["_drop"]).all()
    assert (recon[COUNT_DATE] == recon["_drop"]).all()
    # roughly one report per open warehouse-day, so a day with none stands out
    per_day = reports.groupby("_drop").size()
    assert 0.5 * N_WH < per_day.median() < 2.0 * N_WH
    # notes carry PII for real: a person's name and a phone number in some of them
    notes = reports[NOTES][reports[NOTES] != ""]
    assert notes.str.contains(r"\+\d{2,3} \d{3} \d{7}").any()
    assert reports["reporter_id"].str.match(r"^(EMP-\d{5})?$").all()


def test_network_spans_europe_and_an_order_of_magnitude_of_sqft(tmp_path: Path) -> None:
    generate_network(str(tmp_path), 40, START, 30, 3, False)
    wh = pd.read_csv(tmp_path / "warehouses.csv")
    assert wh[REGION].nunique() >= 5 and wh[COUNTRY].nunique() >= 8
    assert wh["sqft"].max() / wh["sqft"].min() > 10
    assert wh[WAREHOUSE_ID].str.match(r"^WH-[A-Z]{2}-\d{3}$").all()
    opened = pd.to_datetime(wh[OPENED_ON]).dt.date
    assert 3 <= sum(START < d for d in opened) <= 10  # ~15% part-way, plus the cold start


# ----------------------------------------------------------------------------- determinism
def test_rerun_is_byte_identical_and_faults_change_only_the_fault_days(
    tmp_path: Path, clean: Path, faulty: Path
) -> None:
    again = tmp_path / "again"
    generate_network(str(again), N_WH, START, DAYS, SEED, True)
    assert files_of(again) == files_of(faulty)
    generate_network(str(again), N_WH, START, DAYS, SEED, False)  # rerun over an earlier run
    assert files_of(again) == files_of(clean)

    fault_dates = {r[FAULT_DATE] for r in json.loads((faulty / "_truth/faults.json").read_text())}
    a, b = files_of(clean), files_of(faulty)
    differ = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    assert {k for k in differ if not k.startswith("_truth/")} and all(
        k.split("/")[1].removeprefix("date=") in fault_dates for k in differ if "date=" in k
    )
    assert {k for k in differ if k.startswith("_truth/")} == {
        "_truth/faults.json",
        "_truth/params.json",
    }


def test_a_different_seed_gives_a_different_network(tmp_path: Path, clean: Path) -> None:
    generate_network(str(tmp_path), N_WH, START, DAYS, SEED + 1, False)
    assert (tmp_path / "warehouses.csv").read_bytes() != (clean / "warehouses.csv").read_bytes()


# ----------------------------------------------------------------------------- truth
def test_one_cold_start_site_opens_days_before_the_end_and_nothing_happens_before_opening(
    clean: Path,
) -> None:
    sites = read_truth(clean, "warehouses.csv")
    last = START + timedelta(days=DAYS - 1)
    cold = sites[sites[COLD_START]]
    assert len(cold) == 1
    assert 3 <= (last - date.fromisoformat(cold[OPENED_ON].iloc[0])).days <= 7
    opened = dict(zip(sites[WAREHOUSE_ID], sites[OPENED_ON], strict=True))
    reports = read_source(clean, SECURITY_REPORTS.name)
    recon = read_source(clean, RECONCILIATION_LOGS.name)
    assert (reports[INCIDENT_AT].str[:10] >= reports[WAREHOUSE_ID].map(opened)).all()
    assert (recon[COUNT_DATE] >= recon[WAREHOUSE_ID].map(opened)).all()
    daily = read_truth(clean, "daily.csv")
    assert (daily[TRUTH_DATE] >= daily[WAREHOUSE_ID].map(opened)).all()
    assert daily.groupby(WAREHOUSE_ID)[TRUTH_DATE].min().to_dict() == {
        w: max(o, str(START)) for w, o in opened.items()
    }


def test_reports_and_unexplained_lines_agree_exactly_with_the_true_thefts(clean: Path) -> None:
    daily, thefts = read_truth(clean, "daily.csv"), read_truth(clean, "thefts.csv")
    assert (daily[TRUE_REPORTED] <= daily[TRUE_THEFTS]).all()
    assert daily[TRUE_THEFTS].sum() == len(thefts) > 0
    assert daily[TRUE_REPORTED].sum() == thefts[TRUE_REPORTED].sum()

    last = str(START + timedelta(days=DAYS - 1))
    recon = read_source(clean, RECONCILIATION_LOGS.name)
    unexplained = recon[recon[REASON_CODE] == "UNEXPLAINED"]
    counted = thefts[thefts[COUNT_DATE] <= last]
    assert sorted(unexplained[RECON_ID]) == sorted(counted[RECON_ID])
    assert (unexplained[COUNTED_UNITS].astype(int) < unexplained[EXPECTED_UNITS].astype(int)).all()
    lost = unexplained[EXPECTED_UNITS].astype(int) - unexplained[COUNTED_UNITS].astype(int)
    assert lost.sum() == counted[UNITS].sum()

    reports = read_source(clean, SECURITY_REPORTS.name)
    is_theft = reports[CATEGORY].isin(THEFT_CATEGORIES) & (reports[STATUS] != "false_alarm")
    landed = thefts[thefts[TRUE_REPORTED] & (thefts[REPORTED_AT].str[:10] <= last)]
    assert sorted(reports.loc[is_theft, REPORT_ID]) == sorted(landed[REPORT_ID])
    assert set(reports.loc[~is_theft, STATUS]) <= {"confirmed", "unconfirmed", "false_alarm"}


def test_events_cover_the_forecast_horizon_with_every_kind(clean: Path) -> None:
    events = pd.read_csv(clean / "events.csv", keep_default_na=False)
    dates = pd.to_datetime(events[EVENT_DATE]).dt.date
    assert dates.max() > START + timedelta(days=DAYS - 1)  # future covariates for the horizon
    assert dates.max() <= START + timedelta(days=DAYS - 1 + HORIZON_DAYS)
    assert set(events[EVENT_TYPE]) == {"product_launch", "peak", "holiday"}
    assert not events.duplicated(list(EVENTS.key)).any()
    countries = set(pd.read_csv(clean / "warehouses.csv")[COUNTRY])
    holidays = events[events[EVENT_TYPE] == "holiday"]
    assert set(holidays[SCOPE]) == {"country"} and set(holidays[SCOPE_ID]) == countries
    assert {"2024-12-25", "2025-01-01"} <= set(holidays[EVENT_DATE])
    assert (easter_sunday(2024), easter_sunday(2025)) == (date(2024, 3, 31), date(2025, 4, 20))
    assert (black_friday(2024), black_friday(2025)) == (date(2024, 11, 29), date(2025, 11, 28))
    peaks = events[events[EVENT_TYPE] == "peak"]
    assert {"2024-11-29", "2024-12-20"} <= set(peaks[EVENT_DATE]) and set(peaks[SCOPE]) == {"all"}
    horizon = read_truth(clean, "horizon.csv")
    assert horizon[TRUTH_DATE].max() == str(START + timedelta(days=DAYS - 1 + HORIZON_DAYS))


# ----------------------------------------------------------------------------- errors, CLI
def test_bad_arguments_and_a_foreign_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--days"):
        generate_network(str(tmp_path / "a"), 5, START, 30, 0, True)
    with pytest.raises(ConfigError, match="--warehouses"):
        generate_network(str(tmp_path / "a"), 1, START, 60, 0, False)
    (tmp_path / "b" / SECURITY_REPORTS.name).mkdir(parents=True)
    with pytest.raises(ConfigError, match="not written by demo-data"):
        generate_network(str(tmp_path / "b"), 5, START, 60, 0, False)
    assert (tmp_path / "b" / SECURITY_REPORTS.name).is_dir()


def test_cli_writes_the_network_and_prints_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "land"
    args = ["demo-data", "--out", str(out), "--warehouses", "4", "--start", "2024-01-01",
            "--days", "40", "--seed", "7"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["warehouses"] == 4 and summary["faults"] == []
    assert summary["rows"][SECURITY_REPORTS.name] > 0 and (out / "_truth" / "params.json").exists()
    bad = CliRunner().invoke(app, [*args[:-2], "--seed", "-1"])
    assert bad.exit_code == 2 and "--seed" in bad.output
