"""Periods and the event calendar: period starts, full periods, and event shares per site.

Periods are labelled by their start (``ds``): ``D`` the day, ``W-MON`` the Monday of a
Monday-to-Sunday week, ``MS`` the first of the month. A period is *full* on a range of days
when every one of its days lies in the range: a series starts at the first full period after
a site opened and ends at the last full period on or before the logical date.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from forecasting.core import schema
from forecasting.core.errors import ConfigError
from forecasting.panel.sites import OPENED

EVENT_COLUMNS = {
    "product_launch": schema.IS_LAUNCH,
    "peak": schema.IS_PEAK,
    "holiday": schema.IS_HOLIDAY,
}
assert set(EVENT_COLUMNS) == set(schema.EVENT_TYPES)


def period_start(dates: pd.Series | pd.DatetimeIndex, freq: str) -> pd.Series:
    """The start of the period holding each date (naive datetime64[ns] midnight)."""
    d = pd.Series(pd.to_datetime(dates)).dt.normalize()
    if freq == "D":
        return d
    if freq == "W-MON":
        return d - pd.to_timedelta(d.dt.weekday, unit="D")
    if freq == "MS":
        return d - pd.to_timedelta(d.dt.day - 1, unit="D")
    raise ConfigError(f"frequency {freq!r} is not supported here: use D, W-MON or MS")


def period_end(start: pd.Timestamp, freq: str) -> pd.Timestamp:
    """The last day of the period starting at ``start``."""
    return start + pd.tseries.frequencies.to_offset(freq) - pd.Timedelta(days=1)


def first_full_period(day: date | pd.Timestamp, freq: str) -> pd.Timestamp:
    """Start of the first period whose days all lie on or after ``day``."""
    ts = pd.Timestamp(day).normalize()
    start = period_start(pd.Series([ts]), freq).iloc[0]
    return start if start == ts else start + pd.tseries.frequencies.to_offset(freq)


def last_full_period(day: date | pd.Timestamp, freq: str) -> pd.Timestamp:
    """Start of the last period whose days all lie on or before ``day``."""
    ts = pd.Timestamp(day).normalize()
    start = period_start(pd.Series([ts]), freq).iloc[0]
    offset = pd.tseries.frequencies.to_offset(freq)
    return start if period_end(start, freq) == ts else start - offset


def partly_observed(as_of: date, freq: str) -> dict[str, str | int] | None:
    """The period holding ``as_of`` when ``as_of`` is not its last day, else None.

    Such a period has begun but not ended: the panel leaves it out of the history (it is not
    full), so it is the first forecast period and its days up to ``as_of`` are not used.
    Returns ``period_start``, ``period_end`` (ISO dates), ``days_observed`` and ``days``;
    JSON-able, for the stage summaries and the reserves page.
    """
    start = period_start(pd.Series([pd.Timestamp(as_of)]), freq).iloc[0]
    end = period_end(start, freq)
    if end.date() == as_of:
        return None
    return {
        "period_start": str(start.date()),
        "period_end": str(end.date()),
        "days_observed": (pd.Timestamp(as_of) - start).days + 1,
        "days": (end - start).days + 1,
    }


def series_grid(
    sites: pd.DataFrame, first_day: date | None, as_of: date, freq: str, horizon: int
) -> tuple[pd.DataFrame, dict]:
    """The (series, period) rows of the panel: history where the site was open, then the horizon.

    ``sites``: warehouse_id and ``OPENED`` (datetime64, may be NaT: open before the lake
    began). History runs from the first full period on or after ``max(opened, first_day)``
    to the last full period on or before ``as_of``; the next ``horizon`` periods are future
    rows. A site opening late gets only the periods after it opened (cold start: future rows
    only); one opening after the horizon gets none. ``first_day`` None (no daily data yet)
    makes every site cold start. Returns (frame with unique_id, ds, is_future; facts dict
    with history_end, future_end, cold_start, not_yet_open).
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    history_end = last_full_period(as_of, freq)
    future_start = history_end + offset
    future_end = history_end + horizon * offset
    ids, starts = [], []
    cold, not_open = [], []
    for wid, opened in zip(sites[schema.WAREHOUSE_ID], sites[OPENED], strict=True):
        bounds = [pd.Timestamp(d) for d in (opened, first_day) if d is not None and not pd.isna(d)]
        start = first_full_period(max(bounds), freq) if bounds else future_start
        if first_day is None:
            start = max(start, future_start)
        if start > future_end:
            not_open.append(str(wid))
            continue
        if start >= future_start:
            cold.append(str(wid))
        ids.append(str(wid))
        starts.append(start)
    frames = [
        pd.DataFrame(
            {schema.UNIQUE_ID: wid, schema.DS: pd.date_range(start, future_end, freq=freq)}
        )
        for wid, start in zip(ids, starts, strict=True)
    ]
    cols = {
        schema.UNIQUE_ID: pd.Series([], dtype=object),
        schema.DS: pd.Series([], dtype="datetime64[ns]"),
    }
    grid = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(cols)
    grid[schema.DS] = grid[schema.DS].astype("datetime64[ns]")
    grid[schema.IS_FUTURE] = grid[schema.DS] > history_end
    # what the suite checks the finished panel against (merges must neither drop nor add)
    expected_future = sum(
        min(horizon, horizon - _periods_between(future_start, start, offset)) for start in starts
    )
    facts = {
        "expected_series": len(ids),
        "expected_future_rows": int(expected_future),
        "history_end": history_end,
        "future_end": future_end,
        "cold_start": sorted(cold),
        "not_yet_open": sorted(not_open),
    }
    return grid, facts


def _periods_between(first: pd.Timestamp, later: pd.Timestamp, offset: pd.DateOffset) -> int:
    """Whole periods from ``first`` up to ``later`` (0 when ``later <= first``)."""
    n = 0
    while later > first + n * offset:
        n += 1
    return n


def event_shares(events: pd.DataFrame, sites: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Share of the days of each period with an event of each type applying to a site.

    ``events``: bronze ``events`` (date, scope, scope_id, event_type); ``sites``: columns
    warehouse_id, region, country. An event applies to a site when its scope is ``all`` or
    its scope_id equals the site's region, country or id for scope region, country or
    warehouse. Several events of a type on one day count once. Returns columns
    warehouse_id, ds, is_launch, is_peak, is_holiday (0..1), only for (site, period) pairs
    with at least one event; events of unknown type or scope are ignored.
    """
    cols = [schema.WAREHOUSE_ID, schema.DS, *EVENT_COLUMNS.values()]
    if events.empty or sites.empty:
        return pd.DataFrame({c: pd.Series([], dtype=_dtype(c)) for c in cols})
    ev = events.loc[events[schema.EVENT_TYPE].isin(list(EVENT_COLUMNS))]
    ev = ev[[schema.EVENT_DATE, schema.SCOPE, schema.SCOPE_ID, schema.EVENT_TYPE]].copy()
    ev[schema.SCOPE_ID] = ev[schema.SCOPE_ID].astype(object).where(ev[schema.SCOPE_ID].notna(), "")
    keys = {
        "all": pd.Series("", index=sites.index),
        "region": sites[schema.REGION].astype(str),
        "country": sites[schema.COUNTRY].astype(str),
        "warehouse": sites[schema.WAREHOUSE_ID].astype(str),
    }
    assert set(keys) == set(schema.EVENT_SCOPES)
    pairs = []
    for scope, key in keys.items():
        lookup = pd.DataFrame(
            {schema.WAREHOUSE_ID: sites[schema.WAREHOUSE_ID].astype(str), "_k": key}
        )
        part = ev.loc[ev[schema.SCOPE] == scope]
        if scope == "all":
            part = part.assign(**{schema.SCOPE_ID: ""})
        pairs.append(part.merge(lookup, left_on=schema.SCOPE_ID, right_on="_k"))
    hits = pd.concat(pairs, ignore_index=True)
    hits[schema.EVENT_DATE] = pd.to_datetime(hits[schema.EVENT_DATE]).dt.normalize()
    hits = hits.drop_duplicates([schema.WAREHOUSE_ID, schema.EVENT_DATE, schema.EVENT_TYPE])
    hits[schema.DS] = period_start(hits[schema.EVENT_DATE], freq).to_numpy()
    days = hits.groupby([schema.WAREHOUSE_ID, schema.DS, schema.EVENT_TYPE]).size()
    shares = days.unstack(schema.EVENT_TYPE, fill_value=0).reindex(
        columns=list(EVENT_COLUMNS), fill_value=0
    )
    shares = shares.rename(columns=EVENT_COLUMNS).reset_index()
    length = period_length_days(shares[schema.DS], freq)
    for col in EVENT_COLUMNS.values():
        shares[col] = (shares[col] / length).astype("float64")
    return shares[cols]


def period_length_days(starts: pd.Series, freq: str) -> np.ndarray:
    """Number of days in each period starting at ``starts``."""
    if freq == "D":
        return np.ones(len(starts))
    if freq == "W-MON":
        return np.full(len(starts), 7.0)
    return pd.to_datetime(starts).dt.days_in_month.to_numpy(dtype=float)


def _dtype(col: str) -> str:
    return {schema.WAREHOUSE_ID: "object", schema.DS: "datetime64[ns]"}.get(col, "float64")
