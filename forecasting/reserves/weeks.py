"""How the reserves name their first forecast period: next week, or a week already under way.

A weekly forecast made on a Sunday (the scheduled run: ``core.panel_spec.weekly_schedule``)
starts with the next full week. Made on any other day (a manual or asset-triggered run, the
demo's Thursday), its first week has already begun: its days up to the as-of date happened
but are not in the forecast's history (the panel keeps full weeks only), so the reserve
covers that whole week without them. The page and the stage summaries say which it is and
never call a week under way "next week".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from forecasting.core import schema

_UNITS = {1: "day", 7: "week"}


@dataclass(frozen=True)
class FirstPeriod:
    """The first forecast period of a publication and how much of it had happened by as_of."""

    as_of: date
    start: date
    end: date

    @classmethod
    def of(cls, as_of: date, frame: pd.DataFrame) -> FirstPeriod:
        """From a reserves or totals frame (``period_start``, ``period_end``): its earliest period."""
        first = frame.sort_values(schema.PERIOD_START).iloc[0]
        start = pd.Timestamp(first[schema.PERIOD_START]).date()
        end = pd.Timestamp(first[schema.PERIOD_END]).date()
        return cls(as_of, start, end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def days_observed(self) -> int:
        """Days of the period on or before as_of (0: it begins after as_of)."""
        return max(0, min((self.as_of - self.start).days + 1, self.days))

    @property
    def partly_observed(self) -> bool:
        return self.days_observed > 0

    @property
    def unit(self) -> str:
        return _UNITS.get(self.days, "period")

    @property
    def label(self) -> str:
        """``Next week``, ``This week`` (under way at as_of) or ``First week`` (a later one)."""
        if self.partly_observed:
            return f"This {self.unit}"
        if (self.start - self.as_of).days == 1:
            return f"Next {self.unit}"
        return f"First {self.unit}"

    @property
    def span(self) -> str:
        return str(self.start) if self.days == 1 else f"{self.start} to {self.end}"

    def note(self) -> str:
        """One sentence for a period under way at as_of; '' otherwise."""
        if not self.partly_observed:
            return ""
        return (
            f"The {self.unit} {self.span} was under way on {self.as_of}: {self.days_observed} of "
            f"its {self.days} days had passed. The forecast's history holds full {self.unit}s "
            f"only, so these figures cover the whole {self.unit} without the incidents of those "
            f"days; the scheduled weekly run works on a Sunday and forecasts from the next full "
            f"{self.unit}."
        )

    def to_dict(self) -> dict[str, Any] | None:
        """The stage summaries' ``partly_observed`` (as ``panel.calendar.partly_observed``)."""
        if not self.partly_observed:
            return None
        return {
            "period_start": str(self.start),
            "period_end": str(self.end),
            "days_observed": self.days_observed,
            "days": self.days,
        }
