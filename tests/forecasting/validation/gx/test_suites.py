"""The suite files in ``expectations/`` and ``validate_frame``: every fault has a named catcher.

Each case injects one fault the sample generator can produce into a tiny bronze-typed
frame and asserts that exactly the named expectation fails, on exactly the faulty rows,
with the severity the design gives it (row-level: warning; batch-level: critical).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from forecasting.core import schema as s
from forecasting.core.errors import ConfigError
from forecasting.validation.gx.suites import (
    CRITICAL,
    WARNING,
    default_suites_dir,
    expectation_name,
    load_suite,
    suite_names,
    validate_frame,
)
from tests.support.validation_frames import DAY, SITES, events, recons, reports, warehouses

END_OF_DAY = pd.Timestamp(DAY + timedelta(days=1), tz="UTC")
PARAMS = {
    "known_warehouse_ids": list(SITES),
    "max_timestamp": END_OF_DAY,
    "max_date": pd.Timestamp(DAY),
    "min_timestamp": pd.Timestamp(DAY - timedelta(days=30), tz="UTC"),
    "min_date": pd.Timestamp(DAY - timedelta(days=30)),
    "min_day_rows": 1,
    "min_rows": 1,
    "max_rows": 60,
    "sqft_min": 1_000,
    "sqft_max": 5_000_000,
}
SOURCE_SUITES = ("security_reports", "reconciliation_logs", "warehouses", "events")


@pytest.mark.parametrize("name", SOURCE_SUITES)
def test_suite_file_matches_the_source_contract(name):
    doc = load_suite(name)
    contract = s.CONTRACTS[name]
    exps = doc["expectations"]
    columns = next(e for e in exps if e["type"] == "expect_table_columns_to_match_set")
    assert columns["kwargs"]["column_set"] == contract.bronze_columns
    typed = {
        e["kwargs"]["column"] for e in exps if e["type"] == "expect_column_values_to_be_of_type"
    }
    assert typed == set(contract.bronze_columns)
    assert all(e["meta"]["severity"] in (CRITICAL, WARNING) for e in exps)
    # schema, types, row counts are batch-level; everything row-level is a warning
    batch_types = ("expect_table_", "expect_column_values_to_be_of_type")
    for e in exps:
        assert (e["meta"]["severity"] == CRITICAL) == e["type"].startswith(batch_types), e
    for col, values in {
        s.SEVERITY: s.SEVERITIES,
        s.STATUS: s.REPORT_STATUSES,
        s.CATEGORY: s.REPORT_CATEGORIES,
        s.REASON_CODE: s.REASON_CODES,
        s.SCOPE: s.EVENT_SCOPES,
        s.EVENT_TYPE: s.EVENT_TYPES,
    }.items():
        for e in exps:
            if (
                e["type"] == "expect_column_values_to_be_in_set"
                and e["kwargs"].get("column") == col
            ):
                assert e["kwargs"]["value_set"] == list(values), (name, col)


def test_every_suite_in_the_folder_loads():
    assert set(SOURCE_SUITES) <= set(suite_names())
    for name in suite_names():
        assert load_suite(name)["name"] == name


def test_clean_frames_pass_every_suite():
    for name, frame in [
        ("security_reports", reports()),
        ("reconciliation_logs", recons()),
        ("warehouses", warehouses()),
        ("events", events()),
    ]:
        result = validate_frame(frame, name, PARAMS)
        assert result.success, (name, result.to_dict())
        assert not result.bad_rows().any()


def _set(frame, row, **values):
    frame = frame.copy()
    for col, value in values.items():
        frame.loc[row, col] = value
    return frame


ROW_FAULTS = [
    # (fault, suite, frame builder, expectation name, faulty rows)
    ("unknown_warehouse", "security_reports",
     lambda: _set(reports(), 2, **{s.WAREHOUSE_ID: "WH-DE-999"}),
     "expect_column_values_to_be_in_set(warehouse_id)", [2]),
    ("negative_units", "security_reports",
     lambda: _set(reports(), 1, **{s.UNITS: -3}),
     "expect_column_values_to_be_between(units)", [1]),
    ("future_timestamp", "security_reports",
     lambda: _set(reports(), 4, **{s.INCIDENT_AT: END_OF_DAY + pd.Timedelta(days=2),
                                   s.REPORTED_AT: END_OF_DAY + pd.Timedelta(days=2, hours=1)}),
     "expect_column_values_to_be_between(incident_at)", [4]),
    ("future_timestamp", "security_reports",
     lambda: _set(reports(), 0, **{s.REPORTED_AT: END_OF_DAY}),  # midnight after D: future
     "expect_column_values_to_be_between(reported_at)", [0]),
    ("reported_before_incident", "security_reports",
     lambda: _set(reports(), 3, **{s.REPORTED_AT: pd.Timestamp(DAY, tz="UTC")}),
     "expect_column_pair_values_a_to_be_greater_than_b(reported_at,incident_at)", [3]),
    ("duplicate_report_id", "security_reports",
     lambda: _set(reports(), 5, **{s.REPORT_ID: "SR-000001"}),
     "expect_column_values_to_be_unique(report_id)", [1, 5]),
    ("severity_out_of_set", "security_reports",
     lambda: _set(reports(), 2, **{s.SEVERITY: "SEV9"}),
     "expect_column_values_to_be_in_set(severity)", [2]),
    ("missing_severity", "security_reports",
     lambda: _set(reports(), 2, **{s.SEVERITY: None}),
     "expect_column_values_to_not_be_null(severity)", [2]),
    ("negative_loss", "security_reports",
     lambda: _set(reports(), 1, **{s.LOSS_VALUE_EUR: -10.0}),
     "expect_column_values_to_be_between(loss_value_eur)", [1]),
    ("negative_count", "reconciliation_logs",
     lambda: _set(recons(), 0, **{s.COUNTED_UNITS: -1}),
     "expect_column_values_to_be_between(counted_units)", [0]),
    ("reason_code_out_of_set", "reconciliation_logs",
     lambda: _set(recons(), 3, **{s.REASON_CODE: "LOST"}),
     "expect_column_values_to_be_in_set(reason_code)", [3]),
    ("future_count_date", "reconciliation_logs",
     lambda: _set(recons(), 2, **{s.COUNT_DATE: pd.Timestamp(DAY + timedelta(days=1))}),
     "expect_column_values_to_be_between(count_date)", [2]),
    ("stale_report", "security_reports",
     lambda: _set(reports(), 3, **{s.INCIDENT_AT: pd.Timestamp(DAY - timedelta(days=41), tz="UTC"),
                                   s.REPORTED_AT: pd.Timestamp(DAY - timedelta(days=40), tz="UTC")}),
     "expect_column_values_to_be_between(stale)", [3]),
    ("stale_count_date", "reconciliation_logs",
     lambda: _set(recons(), 4, **{s.COUNT_DATE: pd.Timestamp(DAY - timedelta(days=31))}),
     "expect_column_values_to_be_between(stale)", [4]),
    ("path_like_warehouse", "reconciliation_logs",
     lambda: _set(recons(), 1, **{s.WAREHOUSE_ID: "../x"}),
     "expect_column_values_to_be_in_set(warehouse_id)", [1]),
    ("implausible_sqft", "warehouses",
     lambda: _set(warehouses(), 1, **{s.SQFT: 12.0}),
     "expect_column_values_to_be_between(sqft)", [1]),
    ("duplicate_warehouse", "warehouses",
     lambda: _set(warehouses(), 2, **{s.WAREHOUSE_ID: SITES[0]}),
     "expect_column_values_to_be_unique(warehouse_id)", [0, 2]),
    ("scoped_event_without_scope_id", "events",
     lambda: _set(events(), 0, **{s.SCOPE_ID: None}),
     "expect_column_values_to_not_be_null(scoped)", [0]),
    ("event_type_out_of_set", "events",
     lambda: _set(events(), 2, **{s.EVENT_TYPE: "sale"}),
     "expect_column_values_to_be_in_set(event_type)", [2]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "suite", "build", "name", "rows"),
    ROW_FAULTS,
    ids=[f"{c[0]}-{c[3]}" for c in ROW_FAULTS],
)
def test_row_fault_is_caught_by_its_named_expectation(fault, suite, build, name, rows):
    result = validate_frame(build(), suite, PARAMS)
    failed = {e.name: e for e in result.failed}
    assert name in failed, (fault, list(failed))
    assert failed[name].severity == WARNING and failed[name].rows.tolist() == rows
    assert not result.critical, [e.name for e in result.critical]
    assert result.bad_rows().nonzero()[0].tolist() == rows
    assert all(name in result.row_reasons()[r] for r in rows)


BATCH_FAULTS = [
    ("volume_spike", lambda: pd.concat([reports(6)] + [reports(6, start=6 * k) for k in range(1, 11)], ignore_index=True),
     "expect_table_row_count_to_be_between(volume)"),
    ("empty_day", lambda: reports(0), "expect_table_row_count_to_be_between(non_empty)"),
    ("missing_column", lambda: reports().drop(columns=[s.SEVERITY]), "expect_table_columns_to_match_set"),
    ("wrong_type", lambda: reports().astype({s.UNITS: "string"}), "expect_column_values_to_be_of_type(units)"),
]  # fmt: skip


@pytest.mark.parametrize(("fault", "build", "name"), BATCH_FAULTS, ids=[c[0] for c in BATCH_FAULTS])
def test_batch_fault_is_caught_by_a_critical_expectation(fault, build, name):
    result = validate_frame(build(), "security_reports", PARAMS)
    critical = {e.name: e for e in result.critical}
    assert name in critical, (fault, [e.name for e in result.failed])
    assert critical[name].severity == CRITICAL


def test_volume_bounds_and_missing_parameters():
    frame = reports(3)
    skipped = validate_frame(
        frame, "security_reports", {**PARAMS, "min_rows": None, "max_rows": None}
    )
    volume = next(e for e in skipped.expectations if e.name.endswith("(volume)"))
    assert volume.skipped and not volume.failed and skipped.success
    assert any("(volume) skipped" in n for n in skipped.notes)
    low = validate_frame(frame, "security_reports", {**PARAMS, "min_rows": 4})
    assert [e.name for e in low.critical] == ["expect_table_row_count_to_be_between(volume)"]
    # a quiet day (min_day_rows 0: the drop vouched for it) in a band that holds zero passes
    quiet = validate_frame(reports(0), "security_reports", {**PARAMS, "min_day_rows": 0, "min_rows": 0})
    assert quiet.success, [e.name for e in quiet.failed]
    params = dict(PARAMS)
    del params["max_timestamp"]
    with pytest.raises(ConfigError, match="max_timestamp"):
        validate_frame(frame, "security_reports", params)


def test_a_suite_edited_by_a_data_owner_is_picked_up(tmp_path):
    doc = load_suite("security_reports", default_suites_dir())
    doc["expectations"].append(
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": s.CATEGORY, "value_set": ["theft"]},
            "meta": {"severity": "warning", "label": "theft_only"},
        }
    )
    (tmp_path / "security_reports.json").write_text(json.dumps(doc))
    result = validate_frame(reports(5), "security_reports", PARAMS, suites_dir=tmp_path)
    names = [e.name for e in result.failed]
    assert names == ["expect_column_values_to_be_in_set(theft_only)"]
    assert result.bad_rows().nonzero()[0].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda e: e["meta"].pop("severity"), "meta.severity"),
        (lambda e: e["meta"].update(severity="fatal"), "meta.severity"),
        (lambda e: e.pop("kwargs"), "kwargs"),
    ],
)
def test_a_broken_suite_file_is_refused_naming_the_entry(tmp_path, change, match):
    doc = load_suite("events")
    change(doc["expectations"][3])
    (tmp_path / "events.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=match) as err:
        load_suite("events", tmp_path)
    assert "#3" in str(err.value) and "events.json" in str(err.value)


def test_unknown_suite_names_the_folder():
    with pytest.raises(ConfigError, match="no expectation suite"):
        load_suite("no_such_suite")


def test_expectation_names():
    assert expectation_name({"type": "t", "kwargs": {"column": "a"}}) == "t(a)"
    assert expectation_name({"type": "t", "kwargs": {"column_A": "a", "column_B": "b"}}) == "t(a,b)"
    assert expectation_name({"type": "t", "kwargs": {"column_list": ["a", "b"]}}) == "t(a,b)"
    assert expectation_name({"type": "t", "kwargs": {}, "meta": {"label": "x"}}) == "t(x)"
    assert expectation_name({"type": "t", "kwargs": {}}) == "t"
