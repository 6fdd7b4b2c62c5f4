"""Periods of the panel: which week as-of falls in, and whether it has ended."""

from __future__ import annotations

from datetime import date

import pytest

from forecasting.panel.calendar import partly_observed


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2026, 1, 4), None),  # Sunday: the week has ended
        (date(2026, 1, 1), ("2025-12-29", "2026-01-04", 4)),  # the demo's Thursday
        (date(2026, 1, 5), ("2026-01-05", "2026-01-11", 1)),  # Monday
        (date(2026, 1, 3), ("2025-12-29", "2026-01-04", 6)),  # Saturday: what @weekly did
    ],
)
def test_partly_observed_names_the_week_holding_as_of_unless_it_ends_it(as_of, expected):
    got = partly_observed(as_of, "W-MON")
    if expected is None:
        assert got is None
    else:
        assert (got["period_start"], got["period_end"], got["days_observed"], got["days"]) == (*expected, 7)
    assert partly_observed(as_of, "D") is None  # a day is always whole once it has ended
