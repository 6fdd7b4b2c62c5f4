"""Horizon totals: the reserve over spans of several periods, from whole scenarios.

A span is a set of forecast periods: the next 4 (``next_4``), the whole horizon
(``horizon``), and each calendar month and quarter the horizon touches (``month``,
``quarter``). Its figures are quantiles of each scenario's sum over the span's periods
(and over the sites of a region or the network): quantiles do not add, so the 8-week P95
is less than the sum of the weekly P95s, and only the scenarios can give it.

A period belongs to the month (quarter) holding its middle day: a week Monday to Sunday
counts in the month of its Thursday (the ISO 8601 rule), so whole weeks are never split.
A month or quarter is ``is_partial`` when a period of the same grid whose middle day falls
in it lies outside the horizon; ``period_start`` / ``period_end`` always say which days the
span covers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from forecasting.core import schema

FIRST_PERIODS = 4  # the "next 4 weeks" span
_UNIT = {1: "day", 7: "week"}  # period length in days -> its name (else "month")

FiguresFn = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Span:
    """Periods ``steps`` (0-based positions in the period frame) summed as one total."""

    kind: str
    label: str
    steps: tuple[int, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    partial: bool


def horizon_spans(periods: pd.DataFrame) -> list[Span]:
    """The spans of a period frame (``period_start``, ``period_end``; ascending)."""
    starts = pd.to_datetime(periods[schema.PERIOD_START]).reset_index(drop=True)
    ends = pd.to_datetime(periods[schema.PERIOD_END]).reset_index(drop=True)
    if not len(starts):
        return []
    length = int((ends.iloc[0] - starts.iloc[0]).days) + 1
    unit = _UNIT.get(length, "month")
    n = len(starts)

    def span(kind: str, label: str, idx: list[int], partial: bool = False) -> Span:
        return Span(kind, label, tuple(idx), starts.iloc[idx[0]], ends.iloc[idx[-1]], partial)

    out = []
    if n > FIRST_PERIODS:
        out.append(span("next_4", f"next {FIRST_PERIODS} {unit}s", list(range(FIRST_PERIODS))))
    out.append(span("horizon", f"{n} {unit}{'s' if n > 1 else ''}", list(range(n))))
    mids = starts + (ends - starts) / 2
    for kind, key, name in (
        ("month", mids.dt.to_period("M"), lambda p: p.strftime("%B %Y")),
        ("quarter", mids.dt.to_period("Q"), lambda p: f"Q{p.quarter} {p.year}"),
    ):
        for period in sorted(key.unique()):
            idx = [int(i) for i in np.flatnonzero((key == period).to_numpy())]
            before = mids.iloc[idx[0]] - timedelta(days=length)
            after = mids.iloc[idx[-1]] + timedelta(days=length)
            partial = before.to_period(period.freqstr) == period or after.to_period(
                period.freqstr
            ) == period
            out.append(span(kind, name(period), idx, bool(partial)))
    return out


def horizon_frame(
    regions: np.ndarray,
    periods: pd.DataFrame,
    counts: np.ndarray,
    losses: np.ndarray,
    figures: FiguresFn,
) -> pd.DataFrame:
    """One row per (region then network, span): figures of the scenarios summed.

    ``regions``: the region of each site (sites, ); ``counts`` / ``losses``: (sites, periods,
    scenarios); ``figures(counts, losses)`` turns (..., scenarios) arrays into the figure
    columns (calibrated quantiles and mean loss). Adds ``incidents_mean``.
    """
    groups = [(schema.TOTAL_LEVELS[0], r, regions == r) for r in sorted(set(regions))]
    groups.append((schema.TOTAL_LEVELS[1], schema.NETWORK_ID, np.ones(len(regions), bool)))
    spans = horizon_spans(periods)
    rows = []
    for level, ident, mask in groups:
        site_counts, site_losses = counts[mask].sum(axis=0), losses[mask].sum(axis=0)
        for sp in spans:
            c = site_counts[list(sp.steps)].sum(axis=0)
            values = figures(c, site_losses[list(sp.steps)].sum(axis=0))
            rows.append({
                schema.TOTAL_LEVEL: level, schema.TOTAL_ID: ident, schema.PERIOD_KIND: sp.kind,
                schema.PERIOD_LABEL: sp.label, schema.PERIOD_START: sp.start,
                schema.PERIOD_END: sp.end, schema.N_PERIODS: len(sp.steps),
                schema.IS_PARTIAL: sp.partial, **{k: float(v) for k, v in values.items()},
                schema.INCIDENTS_MEAN: round(float(c.mean()), 2),
            })  # fmt: skip
    return pd.DataFrame(rows)
