"""The model panel: series bounds around opened_on, future covariate rows, targets, contract."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from forecasting.core import schema as s
from forecasting.core.errors import DataContractError, InputError
from forecasting.core.lake import Lake
from forecasting.panel.build import (
    PANEL_COLUMNS,
    build_panel,
    read_panel,
    validate_lake_panel,
    validate_panel,
)
from tests.support.pu_bronze import event, recon, report, site, write_bronze, write_days

FIRST = date(2024, 1, 3)  # a Wednesday: the first full week starts Monday 2024-01-08
AS_OF = date(2024, 2, 14)  # a Wednesday: the last full week is 2024-02-05..11
OLD = date(2019, 5, 1)


def _lake(settings, sites, reports=(), losses=(), events=()) -> Lake:
    lake = Lake.from_settings(settings)
    write_bronze(lake, "warehouses", FIRST, list(sites))
    write_bronze(lake, "events", FIRST, list(events))
    rows = [dict(r, _day=r[s.INCIDENT_AT].date()) for r in reports]
    write_days(lake, "security_reports", FIRST, AS_OF, rows, "_day")
    write_days(lake, "reconciliation_logs", FIRST, AS_OF, list(losses), s.COUNT_DATE)
    return lake


def _series(panel: pd.DataFrame, wid: str) -> pd.DataFrame:
    return panel.loc[panel[s.UNIQUE_ID] == wid].set_index(s.DS)


def _weeks(*days: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(d) for d in days]


def test_series_start_after_opening_and_gaps_are_zero_only_while_open(settings_factory) -> None:
    settings = settings_factory(horizon=2)
    _lake(
        settings,
        [site("WH-A", "north", "DE", OLD), site("WH-B", "north", "NL", date(2024, 1, 17))],
        reports=[
            report("R1", "WH-A", "S1", date(2024, 1, 23)),
            report("R0", "WH-B", "S1", date(2024, 1, 10)),  # before WH-B opened: never a row
        ],
        losses=[
            recon("G1", "WH-A", "S1", date(2024, 1, 24)),
            recon("G2", "WH-B", "S2", date(2024, 2, 1)),
        ],
    )
    summary = build_panel(settings, AS_OF)
    panel, spec = read_panel(settings, AS_OF)
    a, b = _series(panel, "WH-A"), _series(panel, "WH-B")
    # WH-A: open for years, but the lake starts on a Wednesday: first full week only
    assert list(a.index) == _weeks(
        "2024-01-08",
        "2024-01-15",
        "2024-01-22",
        "2024-01-29",
        "2024-02-05",
        "2024-02-12",
        "2024-02-19",
    )
    assert a.loc[~a[s.IS_FUTURE], s.Y].tolist() == [0, 0, 1, 0, 0]
    # WH-B opened Wednesday 2024-01-17: its series starts the next Monday, zeros after
    assert list(b.index[~b[s.IS_FUTURE]]) == _weeks("2024-01-22", "2024-01-29", "2024-02-05")
    assert b.loc[~b[s.IS_FUTURE], s.UNEXPLAINED_LOSSES].tolist() == [0, 1, 0]
    assert b.loc[~b[s.IS_FUTURE], s.SITE_AGE_YEARS].iloc[0] == pytest.approx(5 / 365.25)
    assert summary.history_start == "2024-01-08" and summary.history_end == "2024-02-05"
    # a Wednesday: the week under way is the first forecast week, its 3 days so far unused
    assert summary.partly_observed == {"period_start": "2024-02-12", "period_end": "2024-02-18",
                                       "days_observed": 3, "days": 7}
    assert spec.freq == "W-MON" and spec.target == s.ESTIMATED_THEFTS
    assert spec.dynamic_real == s.PANEL_DYNAMIC_REAL and spec.static_cat == s.PANEL_STATIC_CAT
    assert list(panel.columns) == PANEL_COLUMNS
    assert panel[s.DS].dt.weekday.eq(0).all() and panel[s.DS].dtype == "datetime64[ns]"


def test_future_rows_carry_the_calendar_over_the_horizon(settings_factory) -> None:
    settings = settings_factory(horizon=3)
    events = [
        event(date(2024, 2, 20), "country", "DE", "holiday"),  # future week 2024-02-19
        event(date(2024, 2, 20), "all", None, "holiday"),  # the same day once more
        event(date(2024, 2, 27), "region", "north", "product_launch"),
        event(date(2024, 2, 28), "region", "north", "product_launch"),
        event(date(2024, 3, 1), "warehouse", "WH-B", "peak"),
        event(date(2024, 2, 13), "country", "NL", "holiday"),  # in the current, partial week
        event(date(2024, 3, 5), "all", None, "peak"),  # after the horizon: ignored
        event(date(2019, 1, 1), "all", None, "peak"),  # before the history: ignored
        event(date(2024, 2, 21), "country", "FR", "holiday"),  # no site in FR
        event(date(2024, 1, 9), "all", None, "peak"),  # history week 2024-01-08
    ]
    _lake(
        settings,
        [site("WH-A", "north", "DE", OLD), site("WH-B", "north", "NL", OLD)],
        events=events,
    )
    summary = build_panel(settings, AS_OF)
    panel, _ = read_panel(settings, AS_OF)
    fut = panel.loc[panel[s.IS_FUTURE]]
    assert summary.n_future_rows == 6 and fut.groupby(s.UNIQUE_ID).size().tolist() == [3, 3]
    assert fut[s.Y].isna().all() and fut[s.ESTIMATED_THEFTS].isna().all()
    assert (
        fut[[*s.PANEL_STATIC_REAL, *s.PANEL_STATIC_CAT, *s.PANEL_DYNAMIC_REAL]].notna().all().all()
    )
    a, b = _series(panel, "WH-A"), _series(panel, "WH-B")
    weeks = _weeks("2024-02-12", "2024-02-19", "2024-02-26")
    assert list(a.index[a[s.IS_FUTURE]]) == weeks
    assert a.loc[weeks, s.IS_HOLIDAY].tolist() == pytest.approx([0, 1 / 7, 0])
    assert b.loc[weeks, s.IS_HOLIDAY].tolist() == pytest.approx([1 / 7, 1 / 7, 0])
    assert a.loc[weeks, s.IS_LAUNCH].tolist() == pytest.approx([0, 0, 2 / 7])
    assert a.loc[weeks, s.IS_PEAK].tolist() == [0, 0, 0]
    assert b.loc[weeks, s.IS_PEAK].tolist() == pytest.approx([0, 0, 1 / 7])
    assert a.loc[pd.Timestamp("2024-01-08"), s.IS_PEAK] == pytest.approx(1 / 7)
    age = a[s.SITE_AGE_YEARS].diff().dropna()
    assert np.allclose(age, 7 / 365.25)
    assert summary.future_end == "2024-02-26"


def test_daily_panel_ends_on_as_of_with_zero_one_covariates(settings_factory) -> None:
    settings = settings_factory(freq="D", horizon=4)
    _lake(
        settings,
        [site("WH-A", "north", "DE", date(2024, 2, 1))],
        reports=[report("R1", "WH-A", "S1", date(2024, 2, 5))],
        events=[event(date(2024, 2, 16), "all", None, "peak")],
    )
    build_panel(settings, AS_OF)
    panel, spec = read_panel(settings, AS_OF)
    hist = panel.loc[~panel[s.IS_FUTURE]]
    assert spec.freq == "D"
    assert hist[s.DS].min() == pd.Timestamp("2024-02-01") and hist[s.DS].max() == pd.Timestamp(
        AS_OF
    )
    assert hist.set_index(s.DS).loc["2024-02-05", s.ESTIMATED_THEFTS] == 1
    fut = panel.loc[panel[s.IS_FUTURE]].set_index(s.DS)
    assert list(fut.index) == list(pd.date_range("2024-02-15", periods=4))
    assert fut[s.IS_PEAK].tolist() == [0, 1, 0, 0]


def test_cold_start_unknown_and_future_sites_do_not_break_the_panel(settings_factory) -> None:
    settings = settings_factory(horizon=3)
    _lake(
        settings,
        [
            site("WH-A", "north", "DE", OLD),
            site("WH-NEW", "south", "ES", AS_OF - timedelta(days=3)),  # opened Sunday 02-11
            site("WH-SOON", "south", "ES", date(2024, 2, 21)),  # opens within the horizon
            site("WH-LATER", "south", "PT", date(2024, 9, 1)),  # after the horizon
        ],
        reports=[report("R1", "WH-GONE", "S1", date(2024, 1, 20))],  # not in warehouses
        losses=[recon("G1", "WH-GONE", "S1", date(2024, 1, 21))],
    )
    summary = build_panel(settings, AS_OF)
    panel, _ = read_panel(settings, AS_OF)
    assert summary.cold_start == ["WH-NEW", "WH-SOON"]
    assert summary.not_yet_open == ["WH-LATER"]
    assert summary.skipped_unknown_warehouse == {"security_reports": 1, "reconciliation_logs": 1}
    assert set(panel[s.UNIQUE_ID]) == {"WH-A", "WH-NEW", "WH-SOON"}
    new, soon = _series(panel, "WH-NEW"), _series(panel, "WH-SOON")
    assert new[s.IS_FUTURE].all() and len(new) == 3  # only static covariates and the calendar
    assert list(soon.index) == _weeks("2024-02-26")  # first full week after it opens
    assert summary.n_future_rows == 3 + 3 + 1


def test_targets_count_each_theft_once_and_y_follows_the_setting(settings_factory) -> None:
    week = date(2024, 1, 15)
    reports = [
        report("R1", "WH-A", "S1", week),  # matched to G1
        report("R2", "WH-A", "S2", week + timedelta(1), severity="SEV1"),  # alone, confirmed
        report("R3", "WH-A", "S3", week, status="unconfirmed"),  # alone, unconfirmed: not counted
        report("R4", "WH-A", "S4", week, status="false_alarm"),
        report("R5", "WH-A", "S5", week, category="vandalism"),  # no goods lost
        report("R6", "WH-A", "S6", week, severity="SEV3"),
    ]
    losses = [
        recon("G1", "WH-A", "S1", week + timedelta(2)),
        recon("G2", "WH-A", "S9", week + timedelta(3), hvg=False, lost=2, unit_value=5.0),
        recon("G3", "WH-A", "S8", week, reason="DAMAGE"),
    ]
    sites = [site("WH-A", "north", "DE", OLD)]
    settings = settings_factory(horizon=1)
    _lake(settings, sites, reports, losses)
    build_panel(settings, AS_OF)
    a = _series(read_panel(settings, AS_OF)[0], "WH-A").loc[pd.Timestamp(week)]
    # reported: R1, R2, R5 (confirmed SEV1/2 HVG); losses: G1, G2; thefts: R1=G1, R2, R6, G2
    assert (a[s.REPORTED_INCIDENTS], a[s.UNEXPLAINED_LOSSES], a[s.ESTIMATED_THEFTS]) == (3, 2, 4)
    assert a[s.Y] == a[s.ESTIMATED_THEFTS]
    settings = settings_factory(horizon=1, target="reported_incidents")
    summary = build_panel(settings, AS_OF)
    panel, spec = read_panel(settings, AS_OF)
    assert spec.target == s.REPORTED_INCIDENTS
    assert (panel[s.Y].fillna(-1) == panel[s.REPORTED_INCIDENTS].fillna(-1)).all()
    sev = Lake.from_settings(settings).read_parquet(summary.severity_uri)
    assert len(sev) == 3 and set(sev[s.SEVERITY_EVIDENCE]) == {"report"}


def test_severity_rows_follow_the_estimated_thefts(settings_factory) -> None:
    week = date(2024, 1, 15)
    settings = settings_factory(horizon=1)
    _lake(
        settings,
        [site("WH-A", "north", "DE", OLD), site("WH-B", "south", "ES", OLD)],
        reports=[
            report("R1", "WH-A", "S1", week, loss=450.0),
            report("R2", "WH-B", "S2", week, loss=90.0),
        ],
        losses=[
            recon("G1", "WH-A", "S1", week, lost=3, unit_value=150.0),
            recon("G2", "WH-A", "S3", week, lost=2, unit_value=20.0),
        ],
    )
    summary = build_panel(settings, AS_OF)
    sev = Lake.from_settings(settings).read_parquet(summary.severity_uri)
    got = sorted(
        zip(sev[s.REGION], sev[s.SEVERITY_LOSS_EUR], sev[s.SEVERITY_EVIDENCE], strict=True)
    )
    assert got == [
        ("north", 40.0, "unexplained_loss"),
        ("north", 450.0, "matched"),
        ("south", 90.0, "report"),
    ]


def test_build_panel_is_deterministic_and_identified_by_its_bytes(settings_factory) -> None:
    settings = settings_factory(horizon=2)
    lake = _lake(
        settings,
        [site("WH-A", "north", "DE", OLD)],
        reports=[report("R1", "WH-A", "S1", date(2024, 1, 20))],
    )
    first = build_panel(settings, AS_OF)
    data = lake.read_bytes(first.panel_uri)
    assert first.snapshot_id == hashlib.sha256(data).hexdigest()
    assert lake.read_json(first.summary_uri)["snapshot_id"] == first.snapshot_id
    assert first.validation["success"] is True
    second = build_panel(settings, AS_OF)
    assert lake.read_bytes(second.panel_uri) == data
    assert lake.read_bytes(second.summary_uri) == lake.read_bytes(first.summary_uri)


def test_read_panel_without_a_panel_says_how_to_build_it(settings_factory) -> None:
    with pytest.raises(InputError, match="riskcast panel --as-of 2024-02-14"):
        read_panel(settings_factory(), AS_OF)


def _good_panel() -> pd.DataFrame:
    rows = []
    for wid in ("WH-A", "WH-B"):
        for i, ds in enumerate(pd.date_range("2024-01-01", periods=5, freq="W-MON")):
            future = i >= 3
            y = np.nan if future else float(i)
            rows.append(
                [wid, ds, y, y, y, y, 10.0, "north", "DE", 0.0, 0.0, 1 / 7, 1.0 + i / 52, future]
            )
    return pd.DataFrame(rows, columns=PANEL_COLUMNS)


def test_panel_suite_passes_a_good_panel_and_names_every_breakage() -> None:
    good = _good_panel()
    assert validate_panel(good, 2, 4)["success"] is True
    bad = good.copy()
    bad.loc[1, s.Y] = -1.0  # a negative count
    bad.loc[2, s.ESTIMATED_THEFTS] = np.nan  # a missing target in the history
    bad.loc[3, s.UNEXPLAINED_LOSSES] = 0.0  # a target on a future row (leakage)
    bad.loc[4, s.IS_HOLIDAY] = np.nan  # a future covariate missing
    bad.loc[5, s.IS_PEAK] = 1.5  # a share above 1
    bad = bad.drop(index=[8, 9])  # WH-B has no future rows at all
    bad = pd.concat([bad, bad.iloc[[0]]]).assign(extra=1)  # a duplicate row, a stray column
    with pytest.raises(DataContractError) as err:
        validate_panel(bad, 2, 4)
    for name in (
        "expect_table_columns_to_match_set",
        "expect_compound_columns_to_be_unique(unique_id,ds)",
        "expect_column_values_to_be_between(y)",
        "expect_column_values_to_not_be_null(estimated_thefts)",
        "expect_column_values_to_be_null(unexplained_losses)",
        "expect_column_values_to_not_be_null(is_holiday)",
        "expect_column_values_to_be_between(is_peak)",
        "expect_column_unique_value_count_to_be_between(unique_id:future_rows_every_series)",
        "expect_table_row_count_to_equal(future_rows)",
    ):
        assert name in str(err.value), name


def test_rate_target_reads_the_audit_stage_output(settings_factory) -> None:
    """estimated_thefts_method 'rate' scales reports by the rates the audit stage wrote, read
    from audit/as_of=D: no audit of that day is a one-line error naming the command; an audit
    file with other rates gives another panel (the panel reads it, it does not recompute)."""
    from forecasting.audit.stage import run_audit
    from forecasting.core.layout import AUDIT, AUDIT_FILE

    settings = settings_factory(horizon=2, estimated_thefts_method="rate", match_window_days=7)
    lake = _lake(
        settings,
        [site("WH-A", "north", "DE", OLD), site("WH-B", "north", "NL", OLD)],
        reports=[report("R1", "WH-A", "S1", date(2024, 1, 23)), report("R2", "WH-B", "S1", date(2024, 1, 24))],
        losses=[recon("G1", "WH-A", "S1", date(2024, 1, 24)), recon("G2", "WH-B", "S2", date(2024, 1, 30))],
    )
    with pytest.raises(InputError, match=f"riskcast audit --as-of {AS_OF}"):
        build_panel(settings, AS_OF)
    run_audit(settings, AS_OF)
    build_panel(settings, AS_OF)
    first, _ = read_panel(settings, AS_OF)
    uri = f"{lake.stage(AUDIT, AS_OF)}/{AUDIT_FILE}"
    table = lake.read_parquet(uri)
    table[s.REPORTING_RATE] = table[s.REPORTING_RATE] / 2  # half the rate: twice the estimate
    lake.write_parquet(table, uri)
    build_panel(settings, AS_OF)
    second, _ = read_panel(settings, AS_OF)
    hist = ~first[s.IS_FUTURE]
    assert first.loc[hist, s.Y].sum() > 0
    assert not np.allclose(first.loc[hist, s.Y], second.loc[hist, s.Y])


def test_missing_site_days_are_missing_in_the_panel_not_zero(settings_factory) -> None:
    """A day ingested incomplete (one site's file missing) or never arrived leaves its site-weeks
    NaN in the targets that count that source, declared in the summary; the rest stays zero."""
    settings = settings_factory(horizon=1)
    lake = Lake.from_settings(settings)
    _lake(settings, [site("WH-A", "north", "DE", OLD), site("WH-B", "north", "NL", OLD)],
          reports=[report("R1", "WH-A", "S1", date(2024, 1, 23))], losses=[])  # fmt: skip
    recon_days = [date(2024, 1, 10) + timedelta(days=k) for k in range((AS_OF - date(2024, 1, 10)).days + 1)]
    for day in recon_days:  # every recon day was ingested (manifests), all empty but two
        lake.write_json(lake.ingest_manifest(s.RECONCILIATION_LOGS.name, day), {"files": {}})
        if day != date(2024, 1, 31):  # 01-31: nothing arrived, no bronze
            write_bronze(lake, s.RECONCILIATION_LOGS.name, day, [])
    lake.write_json(lake.incomplete_marker(s.RECONCILIATION_LOGS.name, date(2024, 1, 16)),
                    {"missing_sites": ["WH-B"]})  # fmt: skip
    summary = build_panel(settings, AS_OF)
    panel, _ = read_panel(settings, AS_OF)
    a, b = _series(panel, "WH-A"), _series(panel, "WH-B")
    week_16, week_31 = pd.Timestamp("2024-01-15"), pd.Timestamp("2024-01-29")
    assert np.isnan(b.loc[week_16, s.UNEXPLAINED_LOSSES]) and a.loc[week_16, s.UNEXPLAINED_LOSSES] == 0
    assert np.isnan(a.loc[week_31, s.UNEXPLAINED_LOSSES]) and np.isnan(b.loc[week_31, s.ESTIMATED_THEFTS])
    assert a.loc[week_31, s.REPORTED_INCIDENTS] == 0  # the reports of that week all arrived
    assert np.isnan(a.loc[week_31, s.Y])  # y = estimated_thefts counts both sources
    assert ["WH-B", "2024-01-15"] in summary.missing_periods and ["WH-A", "2024-01-29"] in summary.missing_periods
    listed = {(m["source"], m["day"]): m["sites"] for m in summary.missing_data["listed"]}
    assert listed == {(s.RECONCILIATION_LOGS.name, "2024-01-16"): ["WH-B"], (s.RECONCILIATION_LOGS.name, "2024-01-31"): "all"}
    assert validate_lake_panel(settings, AS_OF)["validation"]["success"] is True
