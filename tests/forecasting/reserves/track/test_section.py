"""The reserves page's "How past reserves held up": coverage, the chart, the breach weeks and
the causes explain found; only what was known on the page's day."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.reserves.track.section import TITLE, track_section
from tests.support.track_weeks import Truth, operate_week, sundays

FIRST = date(2024, 1, 7)


def _lake_with_a_theft_ring(settings_factory):
    """4 weekly runs; in the week after the first Sunday every site has 10 times its usual thefts."""
    settings = settings_factory(horizon=3)
    days = sundays(FIRST, 4)
    ring = pd.Timestamp(FIRST + timedelta(days=1))
    truth = Truth(factor={ring: 10.0})
    for day in days:
        operate_week(settings, day, truth)
    return Lake.from_settings(settings), days, ring


def _explain_scores(lake: Lake, day: date, week: pd.Timestamp, cause: str | None) -> None:
    """What ``riskcast explain --as-of day`` writes for WH-A's week (only the columns read)."""
    frame = pd.DataFrame({
        schema.WAREHOUSE_ID: ["WH-A", "WH-B"], schema.PERIOD_START: [week, week],
        schema.OUTLIER_SCORE: [7.5, 0.4], schema.FLAGGED: [cause is not None, False],
        schema.CAUSE_TEXT: [cause, None],
    })  # fmt: skip
    lake.write_parquet(frame, lake.explain_file(day, "scores"))


def test_breach_weeks_are_listed_with_the_causes_explain_found(settings_factory):
    lake, days, ring = _lake_with_a_theft_ring(settings_factory)
    cause = "thefts at WH-A (from its reports) ran 6.1 sd above usual: 82% of the outlier"
    _explain_scores(lake, days[2], ring, cause)
    section = track_section(lake, days[-1])
    assert section.title == TITLE and "<svg" in section.body
    assert "id='track-state'" in section.body and "not judged yet" in section.body
    rows = section.body.split("Causes found by explain")[1]
    week = str(ring.date())
    wh_a = rows.split(f"<td class='t'>{week}</td><td class='t'>warehouse</td><td class='t'>WH-A</td>")[1].split("</tr>")[0]
    assert cause in wh_a
    network = rows.split(f"<td class='t'>{week}</td><td class='t'>network</td>")[1].split("</tr>")[0]
    assert cause in network, "a total's breach shows the causes found at its sites"
    assert "last 13 weeks" in section.body and "last 52 weeks" in section.body


def test_weeks_explain_has_not_reached_say_so(settings_factory):
    lake, days, ring = _lake_with_a_theft_ring(settings_factory)
    body = track_section(lake, days[-1]).body
    assert "not explained yet (explain waits 7 days for late count lines)" in body, "the newest weeks"
    assert "no explain run scored this week" in body, "older weeks no explain run covered"
    _explain_scores(lake, days[2], ring, None)
    assert "found nothing unusual at its sites" in track_section(lake, days[-1]).body


def test_the_page_of_a_day_shows_only_what_was_scored_by_then(settings_factory):
    lake, days, ring = _lake_with_a_theft_ring(settings_factory)
    assert "No track record yet" in track_section(lake, FIRST - timedelta(days=1)).body
    first = track_section(lake, days[0]).body
    assert "no week published before it began has ended yet" in first
    _explain_scores(lake, days[-1] + timedelta(days=7), ring, "learnt later")
    assert "learnt later" not in track_section(lake, days[-1]).body
    second = track_section(lake, days[1]).body
    assert f"Scored on {days[1]}" in second and f"Scored on {days[-1]}" not in second
    page = lake.read_text(lake.reserves_report(days[-1]))
    # after what the figures rest on, before the weekly figures
    assert page.index("What the figures rest on") < page.index(TITLE) < page.index("Reserves per warehouse")
