"""Naming the first forecast week: next week after a Sunday, a week under way otherwise."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from forecasting.core import schema
from forecasting.core.panel_spec import weekly_schedule
from forecasting.panel.calendar import partly_observed
from forecasting.reserves.page import ReservesPage
from forecasting.reserves.report import render_reserves_page
from forecasting.reserves.weeks import FirstPeriod
from tests.support.reserves_frames import AS_OF, reserve_frames

MONDAY = AS_OF + timedelta(days=1)  # AS_OF is a Sunday; reserve_frames start the Monday after


def test_the_weekly_schedule_is_due_when_a_monday_week_has_ended():
    assert weekly_schedule() == weekly_schedule("W-MON") == "0 0 * * 1"
    assert weekly_schedule("W-SUN") == "0 0 * * 0"
    with pytest.raises(ValueError, match="not a weekly alias"):
        weekly_schedule("MS")


def test_first_period_labels():
    sunday = FirstPeriod(AS_OF, MONDAY, MONDAY + timedelta(days=6))
    assert sunday.label == "Next week" and sunday.note() == "" and sunday.to_dict() is None
    wednesday = FirstPeriod(MONDAY + timedelta(days=2), MONDAY, MONDAY + timedelta(days=6))
    assert wednesday.label == "This week" and wednesday.days_observed == 3
    assert wednesday.to_dict() == partly_observed(MONDAY + timedelta(days=2), "W-MON")
    assert "3 of its 7 days had passed" in wednesday.note()
    later = FirstPeriod(AS_OF - timedelta(days=3), MONDAY, MONDAY + timedelta(days=6))
    assert later.label == "First week"


def _render(as_of: date) -> str:
    res, tot, thr = reserve_frames()
    res = res.assign(**{schema.AS_OF_DATE: pd.Timestamp(as_of)})
    html, _ = render_reserves_page(ReservesPage(as_of=as_of, reserves=res, totals=tot, thresholds=thr))
    return html


def test_the_page_says_next_week_only_when_it_is():
    page = _render(AS_OF)
    assert "Next week P95" in page and f"next week ({MONDAY} to" in page
    assert "id='partly-observed'" not in page and "This week" not in page


def test_the_page_names_a_week_under_way_and_never_calls_it_next_week():
    wednesday = MONDAY + timedelta(days=2)
    page = _render(wednesday)
    assert "next week" not in page.lower()
    assert "This week P95" in page and "id='partly-observed'" in page
    assert f"was under way on {wednesday}: 3 of its 7 days had passed" in page
    assert f"This week ({MONDAY} to {MONDAY + timedelta(days=6)}), largest P95 first" in page
