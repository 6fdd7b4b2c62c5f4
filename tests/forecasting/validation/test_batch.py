"""Backfills validated in batches of days leave the files day-by-day validation leaves."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from forecasting.core.schema import DAILY_SOURCES
from forecasting.validation.batch import screenable, validate_days
from forecasting.validation.gx.suites import load_suite
from forecasting.validation.runner import (
    ingest_reference_days,
    ingest_source_days,
    validate_source_days,
)
from tests.support.backfill_lakes import FIRST, LAST, days_between, lake_files


@pytest.mark.slow
def test_batches_leave_the_files_and_counts_of_day_by_day(faulty_landing, settings_factory, tmp_path):
    days = days_between(FIRST, LAST)

    def settings(lake: str, batch_days: int):
        return settings_factory(
            landing_uri=str(faulty_landing),
            lake_uri=str(tmp_path / lake),
            validation={"max_bad_row_share": 0.5, "batch_days": batch_days},
            drops={"security_reports": {"zero_rows_ok": False}},  # the empty-day fault stays a rejection
        )

    one = settings("one", 1)
    ingest_reference_days(one, days)
    for source in DAILY_SOURCES:
        ingest_source_days(one, source, days)
    shutil.copytree(tmp_path / "one", tmp_path / "batched")
    batched = settings("batched", 12)

    hit = {"rejected": 0, "quarantined": 0}
    for source in DAILY_SOURCES:
        summaries = [validate_source_days(s, source, days) for s in (one, batched)]
        # the same summary but for where each lake lives
        same = [json.dumps(x, sort_keys=True).replace(s.lake_uri, "LAKE") for x, s in zip(summaries, (one, batched), strict=True)]
        assert same[0] == same[1]
        hit["rejected"] += len(summaries[0]["rejected_days"])
        hit["quarantined"] += summaries[0]["quarantined_rows"]
        assert summaries[0]["input_rows"] == summaries[0]["validated_rows"] + summaries[0]["quarantined_rows"]
    assert hit["rejected"] >= 3 and hit["quarantined"] >= 10  # the faults were hit
    # the two lakes differ only in where Data Docs were written
    left, right = lake_files(tmp_path / "one"), lake_files(tmp_path / "batched")
    assert sorted(left) == sorted(right)
    assert [k for k in left if left[k] != right[k]] == []
    # the alerts say the same things in the same order
    alerts = [(tmp_path / lake / "alerts" / "outbox.jsonl").read_text().splitlines() for lake in ("one", "batched")]
    assert len(alerts[0]) == len(alerts[1]) > 0


def test_a_batch_settles_every_day_in_order_and_runs_problem_days_on_their_own(faulty_landing, settings_factory):
    # a header-only day is rejected only where the contract takes no day without rows
    settings = settings_factory(landing_uri=str(faulty_landing), validation={"batch_days": 10},
                                drops={"security_reports": {"zero_rows_ok": False}})  # fmt: skip
    source = "security_reports"
    days = days_between(date(2024, 3, 5), date(2024, 3, 12))  # a severity fault on 03-07, an empty day on 03-10
    ingest_reference_days(settings, days)
    ingest_source_days(settings, source, days)
    walked = list(validate_days(settings, source, days, docs_day=days[-1]))
    assert [d for d, _ in walked] == days
    status = {d: checked.status for d, checked in walked}
    assert status[date(2024, 3, 10)] == "critical"
    assert status[date(2024, 3, 7)] in ("warnings", "critical")
    assert status[date(2024, 3, 5)] == "passed"
    # only the last day (Data Docs) and problem days went through their own GX run
    assert {d for d, c in walked if c.data_docs} <= {days[-1], date(2024, 3, 7), date(2024, 3, 10), date(2024, 3, 8), date(2024, 3, 9)}


def test_the_screen_refuses_a_suite_it_cannot_shift():
    doc = load_suite("security_reports")
    assert screenable(doc) == {"incident_at", "reported_at"}
    fixed = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "incident_at", "min_value": "2020-01-01"},
             "meta": {"severity": "warning"}}
    assert screenable({**doc, "expectations": [*doc["expectations"], fixed]}) is None
    mean = {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "units", "max_value": 5}, "meta": {"severity": "warning"}}
    assert screenable({**doc, "expectations": [*doc["expectations"], mean]}) is None
