"""Sample network generator: layout, determinism, truth consistency, faults, CLI."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.demo_calendar import black_friday, easter_sunday
from forecasting.demo_data import HORIZON_DAYS, generate_network
from forecasting.demo_faults import CLEAN_TAIL_DAYS, EXTRA_COLUMN, FAULT_NAMES, PATH_LIKE_ID
from forecasting.demo_truth import true_period_quantiles
from forecasting.errors import ConfigError
from forecasting.schema import (
    CATEGORY,
    COLD_START,
    COUNT_DATE,
    COUNTED_UNITS,
    COUNTRY,
    DAYS_OPEN,
    EVENT_DATE,
    EVENT_TYPE,
    EVENTS,
    EXPECTED_UNITS,
    FAULT_DATE,
    FAULT_FILE,
    FAULT_IDS,
    FAULT_NAME,
    INCIDENT_AT,
    INCIDENTS_MEAN,
    NOTES,
    OPENED_ON,
    PERIOD_START,
    REASON_CODE,
    RECON_ID,
    RECONCILIATION_LOGS,
    REGION,
    REPORT_ID,
    REPORTED_AT,
    REPORTING_RATE,
    SCOPE,
    SCOPE_ID,
    SECURITY_REPORTS,
    SEVERITY,
    STATUS,
    TRUE_MU,
    TRUE_REPORTED,
    TRUE_THEFTS,
    TRUTH_DATE,
    UNITS,
    WAREHOUSE_ID,
    WAREHOUSES,
)

START, DAYS, N_WH, SEED = date(2024, 10, 7), 60, 5, 11  # Black Friday week in range
SOURCES = (SECURITY_REPORTS, RECONCILIATION_LOGS)
THEFT_CATEGORIES = ("theft", "burglary", "fraud")


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate_network(str(out), N_WH, START, DAYS, SEED, False)
    return out


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faulty")
    generate_network(str(out), N_WH, START, DAYS, SEED, True)
    return out


def _truth(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / "_truth" / name, keep_default_na=False, na_values=[""])


def _read_source(root: Path, source: str) -> pd.DataFrame:
    """Every row of a clean source's drops as strings, with the drop date in ``_drop``."""
    parts = []
    for folder in sorted((root / source).iterdir()):
        for f in sorted(folder.iterdir()):
            if f.suffix == ".csv":
                df = pd.read_csv(f, dtype=str, keep_default_na=False)
            else:
                df = (
                    pd.read_json(f, lines=True, dtype=False)
                    if f.suffix == ".jsonl"
                    else pd.read_parquet(f)
                )
                for col in df.select_dtypes("datetimetz").columns:
                    df[col] = df[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                for col in df.select_dtypes(bool).columns:
                    df[col] = df[col].map({True: "true", False: "false"})
                df = df.astype(object).where(df.notna(), "").astype(str)
            parts.append(df.assign(_drop=folder.name.removeprefix("date=")))
    return pd.concat(parts, ignore_index=True)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


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
    reports = _read_source(clean, SECURITY_REPORTS.name)
    recon = _read_source(clean, RECONCILIATION_LOGS.name)
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
    assert _files(again) == _files(faulty)
    generate_network(str(again), N_WH, START, DAYS, SEED, False)  # rerun over an earlier run
    assert _files(again) == _files(clean)

    fault_dates = {r[FAULT_DATE] for r in json.loads((faulty / "_truth/faults.json").read_text())}
    a, b = _files(clean), _files(faulty)
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
    sites = _truth(clean, "warehouses.csv")
    last = START + timedelta(days=DAYS - 1)
    cold = sites[sites[COLD_START]]
    assert len(cold) == 1
    assert 3 <= (last - date.fromisoformat(cold[OPENED_ON].iloc[0])).days <= 7
    opened = dict(zip(sites[WAREHOUSE_ID], sites[OPENED_ON], strict=True))
    reports = _read_source(clean, SECURITY_REPORTS.name)
    recon = _read_source(clean, RECONCILIATION_LOGS.name)
    assert (reports[INCIDENT_AT].str[:10] >= reports[WAREHOUSE_ID].map(opened)).all()
    assert (recon[COUNT_DATE] >= recon[WAREHOUSE_ID].map(opened)).all()
    daily = _truth(clean, "daily.csv")
    assert (daily[TRUTH_DATE] >= daily[WAREHOUSE_ID].map(opened)).all()
    assert daily.groupby(WAREHOUSE_ID)[TRUTH_DATE].min().to_dict() == {
        w: max(o, str(START)) for w, o in opened.items()
    }


def test_reports_and_unexplained_lines_agree_exactly_with_the_true_thefts(clean: Path) -> None:
    daily, thefts = _truth(clean, "daily.csv"), _truth(clean, "thefts.csv")
    assert (daily[TRUE_REPORTED] <= daily[TRUE_THEFTS]).all()
    assert daily[TRUE_THEFTS].sum() == len(thefts) > 0
    assert daily[TRUE_REPORTED].sum() == thefts[TRUE_REPORTED].sum()

    last = str(START + timedelta(days=DAYS - 1))
    recon = _read_source(clean, RECONCILIATION_LOGS.name)
    unexplained = recon[recon[REASON_CODE] == "UNEXPLAINED"]
    counted = thefts[thefts[COUNT_DATE] <= last]
    assert sorted(unexplained[RECON_ID]) == sorted(counted[RECON_ID])
    assert (unexplained[COUNTED_UNITS].astype(int) < unexplained[EXPECTED_UNITS].astype(int)).all()
    lost = unexplained[EXPECTED_UNITS].astype(int) - unexplained[COUNTED_UNITS].astype(int)
    assert lost.sum() == counted[UNITS].sum()

    reports = _read_source(clean, SECURITY_REPORTS.name)
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
    horizon = _truth(clean, "horizon.csv")
    assert horizon[TRUTH_DATE].max() == str(START + timedelta(days=DAYS - 1 + HORIZON_DAYS))


def test_true_period_quantiles_match_the_nb_truth(clean: Path) -> None:
    from scipy.stats import nbinom

    weekly = true_period_quantiles(str(clean), "W", (0.5, 0.9, 0.95), n_sims=4000, seed=1)
    assert {"incidents_p50", "incidents_p90", "incidents_p95", "loss_eur_p95"} <= set(
        weekly.columns
    )
    assert (pd.to_datetime(weekly[PERIOD_START]).dt.dayofweek == 0).all()
    assert (weekly["incidents_p50"] <= weekly["incidents_p90"]).all()
    assert (weekly["incidents_p90"] <= weekly["incidents_p95"]).all()
    assert (weekly["loss_eur_p90"] <= weekly["loss_eur_p95"]).all()
    assert pd.to_datetime(weekly[PERIOD_START]).max().date() > START + timedelta(days=DAYS)

    days = pd.concat([_truth(clean, "daily.csv"), _truth(clean, "horizon.csv")])
    assert weekly[DAYS_OPEN].sum() == len(days)
    assert weekly[INCIDENTS_MEAN].sum() == pytest.approx(days[TRUE_MU].sum(), rel=0.03)
    # one day: the simulated quantile is the NB's own quantile (up to sampling at a step)
    daily = true_period_quantiles(str(clean / "_truth"), "D", (0.95,), n_sims=4000, seed=2)
    row = days.iloc[0]
    k = float(row["dispersion"])
    exact = nbinom.ppf(0.95, k, k / (k + row[TRUE_MU]))
    at = pd.Timestamp(row[TRUTH_DATE])
    got = daily[(daily[WAREHOUSE_ID] == row[WAREHOUSE_ID]) & (daily[PERIOD_START] == at)]
    assert abs(got["incidents_p95"].iloc[0] - exact) <= 1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_empirical_reporting_rate_recovers_the_true_rate(tmp_path: Path) -> None:
    """What the PU audit computes from the landing files: theft reports / UNEXPLAINED lines."""
    days = 730
    generate_network(str(tmp_path), 20, START, days, 5, False)
    sites = _truth(tmp_path, "warehouses.csv").set_index(WAREHOUSE_ID)
    cutoff = str(START + timedelta(days=days - 12))  # both report and count line have landed
    reports = _read_source(tmp_path, SECURITY_REPORTS.name)
    recon = _read_source(tmp_path, RECONCILIATION_LOGS.name)
    reported = reports[reports[CATEGORY].isin(THEFT_CATEGORIES) & (reports[STATUS] != "false_alarm")
                       & (reports[INCIDENT_AT].str[:10] < cutoff)].groupby(WAREHOUSE_ID).size()  # fmt: skip
    thefts = _truth(tmp_path, "thefts.csv")
    lines = recon[recon[REASON_CODE] == "UNEXPLAINED"].merge(
        thefts[[RECON_ID, INCIDENT_AT]], on=RECON_ID
    )
    losses = lines[lines[INCIDENT_AT].str[:10] < cutoff].groupby(WAREHOUSE_ID).size()
    losses = losses[losses >= 30]  # the cold-start and late sites have too few to judge
    rate = reported.reindex(losses.index, fill_value=0) / losses
    truth = sites.loc[losses.index, REPORTING_RATE]
    se = np.sqrt(truth * (1 - truth) / losses)
    assert (np.abs(rate - truth) < 4 * se).all(), pd.DataFrame({"got": rate, "true": truth})
    pooled = reported.reindex(losses.index, fill_value=0).sum() / losses.sum()
    assert pooled == pytest.approx((truth * losses).sum() / losses.sum(), abs=0.03)


# ----------------------------------------------------------------------------- faults
def _day_files(root: Path, record: dict) -> list[Path]:
    return sorted((root / record[FAULT_FILE]).parent.iterdir())


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))))


def test_every_fault_is_recorded_on_its_own_day_and_visible_in_the_files(faulty: Path) -> None:
    records = json.loads((faulty / "_truth/faults.json").read_text())
    assert sorted(r[FAULT_NAME] for r in records) == sorted(FAULT_NAMES)
    dates = [r[FAULT_DATE] for r in records]
    assert len(set(dates)) == len(dates)
    first, last_ok = (
        START + timedelta(days=DAYS // 2),
        START + timedelta(days=DAYS - 1 - CLEAN_TAIL_DAYS),
    )
    assert all(str(first) <= d <= str(last_ok) for d in dates)
    by = {r[FAULT_NAME]: r for r in records}
    sites = set(pd.read_csv(faulty / "warehouses.csv")[WAREHOUSE_ID])

    def rows_of(name: str) -> tuple[list[str], list[list[str]]]:
        rows = _csv_rows((faulty / by[name][FAULT_FILE]).read_bytes())
        return rows[0], [r for r in rows[1:] if r and r[0] in by[name][FAULT_IDS]]

    header, rows = rows_of("unknown_warehouse")
    assert rows and all(r[header.index(WAREHOUSE_ID)] not in sites for r in rows)
    header, rows = rows_of("negative_units")
    assert rows and all(int(r[header.index(UNITS)]) < 0 for r in rows)
    header, rows = rows_of("future_timestamp")
    assert rows and all(
        r[header.index(REPORTED_AT)][:10] > by["future_timestamp"][FAULT_DATE] for r in rows
    )
    header, rows = rows_of("reported_before_incident")
    assert rows and all(r[header.index(REPORTED_AT)] < r[header.index(INCIDENT_AT)] for r in rows)
    header, rows = rows_of("duplicate_report_id")
    assert len(rows) == 2 * len(by["duplicate_report_id"][FAULT_IDS]) and len(
        {tuple(r) for r in rows}
    ) == len(rows)
    header, rows = rows_of("severity_out_of_set")
    assert rows and all(r[header.index(SEVERITY)] == "SEV9" for r in rows)
    header, rows = rows_of("wrong_type")
    assert [r[header.index(UNITS)] for r in rows] == ["twelve"]

    raw = (faulty / by["non_utf8_bytes"][FAULT_FILE]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert EXTRA_COLUMN in _csv_rows((faulty / by["extra_column"][FAULT_FILE]).read_bytes())[0]
    fake = faulty / by["format_mismatch"][FAULT_FILE]
    assert fake.suffix == ".parquet" and fake.read_bytes().startswith(b"report_id,")

    spike = date.fromisoformat(by["volume_spike"][FAULT_DATE])
    before = [spike - timedelta(days=i) for i in range(1, 15)]
    usual = np.median(
        [len(_read_day(faulty / SECURITY_REPORTS.name / f"date={d}")) for d in before]
    )
    assert len(_read_day(faulty / SECURITY_REPORTS.name / f"date={spike}")) >= 8 * usual
    empty = _day_files(faulty, by["empty_day"])
    assert [f.name for f in empty] == ["part-000.csv"] and len(
        _csv_rows(empty[0].read_bytes())
    ) == 1

    recon_rows = _csv_rows((faulty / by["path_like_id"][FAULT_FILE]).read_bytes())
    assert sum(PATH_LIKE_ID in r for r in recon_rows) == 2
    cut = (faulty / by["truncated_file"][FAULT_FILE]).read_bytes()
    assert not cut.endswith(b"\n") and len(_csv_rows(cut)[-1]) < len(RECONCILIATION_LOGS.columns)
    assert (faulty / by["empty_file"][FAULT_FILE]).stat().st_size == 0
    header = _csv_rows((faulty / by["missing_column"][FAULT_FILE]).read_bytes())[0]
    assert REASON_CODE not in header and len(header) == len(RECONCILIATION_LOGS.columns) - 1


def _read_day(folder: Path) -> list[list[str]]:
    return [r for f in sorted(folder.glob("*.csv")) for r in _csv_rows(f.read_bytes())[1:]]


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
