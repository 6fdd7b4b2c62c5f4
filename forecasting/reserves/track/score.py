"""Score published reserves against what then happened: pure frames in, frames and dicts out.

- ``realised(panel, severity)``: per warehouse and period, the realised incidents (the
  panel's target ``y``, what the model forecast) and loss in EUR (the sum of the period's
  ``severity.parquet`` losses, the incidents the reserves compound), from the panel of the
  scoring day: the same definitions as the published figures, restated data included. A
  period before a site's first panel period (it was not open the whole period: the forecast
  published zero for it, ``model.dataset.prediction_entries``) is realised as zero and
  marked ``SITE_CLOSED``: measured, so the region and network totals of a week in which a
  site opens are scored, but left out of the warehouse-level coverage (a zero forecast of a
  site that did not exist says nothing about calibration).
- ``score(published, actuals, as_of)``: every published row (warehouse, region, network)
  whose period had ended by ``as_of``, with its realised values and hit flags (``TRACK_COLUMNS``).
  Totals are realised as the sum of the publication's own warehouses (unknown when one of
  them is). ``in_force`` marks, per id and period, the latest publication made before the
  period began: the live record, what finance booked. ``settled`` marks periods that ended
  ``SETTLE_DAYS`` before ``as_of`` (count lines arrive days late, as in ``explain``).
- ``coverage(scored, as_of)``: live coverage of P50/P90/P95 over the last 13 and 52 weeks of
  settled periods, per level and measure; ``coverage_state`` holds it to the calibration gate's
  rule (``coverage >= q - tolerance`` and ``coverage_strict <= q + tolerance``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core import schema

SETTLE_DAYS = 7  # explain's settle_days: non-HVG count lines arrive up to 10 days late
WINDOWS_WEEKS = (13, 52)
ALERT_WINDOW, ALERT_LEVEL, ALERT_Q = 13, "warehouse", 0.95  # the gate's unit: site-weeks
LEVELS = schema.TRACK_LEVELS
MEASURES = {  # measure -> (actual column, {q: (published column, within column)})
    "incidents": (schema.INCIDENTS_ACTUAL, {
        0.5: (schema.INCIDENTS_P50, schema.INCIDENTS_WITHIN_P50),
        0.9: (schema.INCIDENTS_P90, schema.INCIDENTS_WITHIN_P90),
        0.95: (schema.INCIDENTS_P95, schema.INCIDENTS_WITHIN_P95),
    }),
    "loss_eur": (schema.LOSS_EUR_ACTUAL, {
        0.5: (schema.LOSS_EUR_P50, schema.LOSS_EUR_WITHIN_P50),
        0.9: (schema.LOSS_EUR_P90, schema.LOSS_EUR_WITHIN_P90),
        0.95: (schema.LOSS_EUR_P95, schema.LOSS_EUR_WITHIN_P95),
    }),
}  # fmt: skip
QUANTILE_COLUMNS = [pub for _, qs in MEASURES.values() for pub, _ in qs.values()]
WITHIN_COLUMNS = [within for _, qs in MEASURES.values() for _, within in qs.values()]
PUBLISHED_COLUMNS = [
    schema.AS_OF_DATE, schema.RUN_ID, schema.TRACK_LEVEL, schema.TRACK_ID, schema.REGION,
    schema.PERIOD_START, schema.PERIOD_END, schema.STEP, *QUANTILE_COLUMNS,
]  # fmt: skip
ACTUAL_COLUMNS = [schema.WAREHOUSE_ID, schema.PERIOD_START, schema.INCIDENTS_ACTUAL, schema.LOSS_EUR_ACTUAL]
TRACK_COLUMNS = [
    *PUBLISHED_COLUMNS, schema.INCIDENTS_ACTUAL, schema.LOSS_EUR_ACTUAL, *WITHIN_COLUMNS,
    schema.IN_FORCE, schema.SETTLED, schema.SCORED_AS_OF,
]  # fmt: skip
SITE_CLOSED = "_site_closed"  # internal column (never stored): the site was not open that period
_PUB = [schema.AS_OF_DATE, schema.RUN_ID]
_ACTUALS = [schema.INCIDENTS_ACTUAL, schema.LOSS_EUR_ACTUAL]


def realised(panel: pd.DataFrame, severity: pd.DataFrame) -> pd.DataFrame:
    """Realised values per warehouse and observed period (``ACTUAL_COLUMNS``).

    ``panel``: the panel of the scoring day (history rows: ``y`` observed; NaN stays NaN:
    a period with missing data is not measured, never zero); ``severity``: its
    ``severity.parquet`` (one row per incident of the target with its loss).
    """
    hist = panel.loc[~panel[schema.IS_FUTURE].astype(bool)]
    out = pd.DataFrame({
        schema.WAREHOUSE_ID: hist[schema.UNIQUE_ID].astype(str).to_numpy(),
        schema.PERIOD_START: pd.to_datetime(hist[schema.DS]).to_numpy(),
        schema.INCIDENTS_ACTUAL: hist[schema.Y].astype(float).to_numpy(),
    })  # fmt: skip
    loss = (
        severity.assign(**{schema.WAREHOUSE_ID: severity[schema.WAREHOUSE_ID].astype(str),
                           schema.PERIOD_START: pd.to_datetime(severity[schema.DS])})
        .groupby([schema.WAREHOUSE_ID, schema.PERIOD_START])[schema.SEVERITY_LOSS_EUR].sum()
        .rename(schema.LOSS_EUR_ACTUAL).reset_index()
    )  # fmt: skip
    out = out.merge(loss, on=[schema.WAREHOUSE_ID, schema.PERIOD_START], how="left")
    measured = out[schema.INCIDENTS_ACTUAL].notna()
    out[schema.LOSS_EUR_ACTUAL] = out[schema.LOSS_EUR_ACTUAL].fillna(0.0).round(2).where(measured)
    out[SITE_CLOSED] = False
    out = pd.concat([out, _closed_periods(panel)], ignore_index=True)
    columns = [*ACTUAL_COLUMNS, SITE_CLOSED]
    return out[columns].sort_values(ACTUAL_COLUMNS[:2], kind="stable").reset_index(drop=True)


def _closed_periods(panel: pd.DataFrame) -> pd.DataFrame:
    """Zero rows for each site's periods of the panel's grid before its first row (history or
    future: a site opening inside the horizon has only future rows)."""
    ids = panel[schema.UNIQUE_ID].astype(str)
    ds = pd.to_datetime(panel[schema.DS])
    grid = np.sort(ds.unique())
    first = ds.groupby(ids).min()
    parts = [(wid, grid[grid < start]) for wid, start in first.items() if start > grid[0]]
    wids = [wid for wid, periods in parts for _ in periods]
    starts = np.concatenate([periods for _, periods in parts]) if parts else np.array([], "datetime64[ns]")
    return pd.DataFrame({
        schema.WAREHOUSE_ID: pd.Series(wids, dtype=object), schema.PERIOD_START: pd.to_datetime(starts),
        schema.INCIDENTS_ACTUAL: 0.0, schema.LOSS_EUR_ACTUAL: 0.0, SITE_CLOSED: True,
    })  # fmt: skip


def score(published: pd.DataFrame, actuals: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Every published row whose period ended by ``as_of``, scored (``TRACK_COLUMNS``).

    ``published``: ``PUBLISHED_COLUMNS`` (current runs of earlier as-of dates);
    ``actuals``: ``realised`` output. Sorted by publication, level, id, period; with the
    internal ``SITE_CLOSED`` column after ``TRACK_COLUMNS`` (for ``coverage``, never stored).
    """
    day = pd.Timestamp(as_of)
    pub = published.assign(**{c: pd.to_datetime(published[c]) for c in
                              (schema.AS_OF_DATE, schema.PERIOD_START, schema.PERIOD_END)})  # fmt: skip
    pub = pub.loc[(pub[schema.PERIOD_END] <= day) & (pub[schema.AS_OF_DATE] < day)]
    sites = pub.loc[pub[schema.TRACK_LEVEL] == LEVELS[0]].merge(
        actuals.rename(columns={schema.WAREHOUSE_ID: schema.TRACK_ID}),
        on=[schema.TRACK_ID, schema.PERIOD_START], how="left",
    )
    sites[_ACTUALS] = sites[_ACTUALS].astype(float)
    totals = pub.loc[pub[schema.TRACK_LEVEL] != LEVELS[0]].merge(
        _total_actuals(sites), on=[*_PUB, schema.TRACK_LEVEL, schema.TRACK_ID, schema.PERIOD_START],
        how="left",
    )
    out = pd.concat([sites, totals], ignore_index=True)
    closed = out[SITE_CLOSED] if SITE_CLOSED in out else pd.Series(False, index=out.index)
    out[SITE_CLOSED] = closed.astype("boolean").fillna(False).astype(bool)  # totals: never closed
    for measure_actual, quantiles in MEASURES.values():
        actual = out[measure_actual].astype(float)
        for published_col, within in quantiles.values():
            hit = actual <= out[published_col].astype(float)
            out[within] = hit.astype(object).where(actual.notna(), None)
    out[schema.IN_FORCE] = _in_force(out)
    out[schema.SETTLED] = out[schema.PERIOD_END] <= day - pd.Timedelta(days=SETTLE_DAYS)
    out[schema.SCORED_AS_OF] = pd.Series(day, index=out.index, dtype="datetime64[ns]")
    order = out[schema.TRACK_LEVEL].map({lvl: i for i, lvl in enumerate(LEVELS)})
    out = out.assign(_o=order).sort_values([*_PUB, "_o", schema.TRACK_ID, schema.PERIOD_START], kind="stable")
    return out[[*TRACK_COLUMNS, SITE_CLOSED]].reset_index(drop=True)


def _total_actuals(sites: pd.DataFrame) -> pd.DataFrame:
    """Region and network realised values: sums over the publication's warehouses, NaN if
    any of them was not measured (a total of what was seen would look covered)."""
    parts = []
    for level, keys in ((LEVELS[1], [schema.REGION]), (LEVELS[2], [])):
        by = [*_PUB, schema.PERIOD_START, *keys]
        g = sites.groupby(by, dropna=False)[_ACTUALS]
        sums = g.sum().where(~sites[_ACTUALS].isna().groupby([sites[k] for k in by]).any())
        sums = sums.reset_index()
        sums[schema.TRACK_LEVEL] = level
        sums[schema.TRACK_ID] = sums[schema.REGION] if keys else schema.NETWORK_ID
        parts.append(sums.drop(columns=keys))
    out = pd.concat(parts, ignore_index=True)
    out[schema.LOSS_EUR_ACTUAL] = out[schema.LOSS_EUR_ACTUAL].round(2)
    return out


def _in_force(rows: pd.DataFrame) -> pd.Series:
    """True for the row of the latest publication made before its period began."""
    before = rows[schema.AS_OF_DATE] < rows[schema.PERIOD_START]
    key = [schema.TRACK_LEVEL, schema.TRACK_ID, schema.PERIOD_START]
    latest = rows[schema.AS_OF_DATE].where(before).groupby([rows[k] for k in key]).transform("max")
    return before & (rows[schema.AS_OF_DATE] == latest)


def coverage(scored: pd.DataFrame, as_of: date) -> dict[str, Any]:
    """Live coverage per window (13, 52 weeks), level and measure (JSON-able).

    Only ``in_force`` rows of settled periods that were measured count: the publication
    finance had when each period began, judged once its late lines are in; a site's periods
    before it opened (``SITE_CLOSED``) count in the totals only. Per quantile
    ``coverage`` (share at or below it) and ``coverage_strict`` (below it: counts tie).
    """
    through = as_of - timedelta(days=SETTLE_DAYS)
    live = scored.loc[scored[schema.IN_FORCE].astype(bool) & scored[schema.SETTLED].astype(bool)]
    if SITE_CLOSED in live:
        live = live.loc[~(live[SITE_CLOSED].astype(bool) & (live[schema.TRACK_LEVEL] == LEVELS[0]))]
    out: dict[str, Any] = {"settled_through": str(through), "windows": {}}
    for weeks in WINDOWS_WEEKS:
        start = pd.Timestamp(through - timedelta(weeks=weeks))
        in_window = live.loc[pd.to_datetime(live[schema.PERIOD_END]) > start]
        out["windows"][str(weeks)] = {
            level: _figures(in_window.loc[in_window[schema.TRACK_LEVEL] == level]) for level in LEVELS
        }
    return out


def _figures(rows: pd.DataFrame) -> dict[str, Any]:
    periods = rows[[schema.PERIOD_START, schema.PERIOD_END]].drop_duplicates()
    lengths = pd.to_datetime(periods[schema.PERIOD_END]) - pd.to_datetime(periods[schema.PERIOD_START])
    days = int(lengths.dt.days.sum() + len(periods))  # weeks of periods scored (daily panels too)
    fig: dict[str, Any] = {"weeks": round(days / 7, 2)}
    for measure, (actual_col, quantiles) in MEASURES.items():
        seen = rows.loc[rows[actual_col].notna()]
        actual = seen[actual_col].astype(float).to_numpy()
        per_q = {}
        for q, (published_col, _) in quantiles.items():
            bound = seen[published_col].astype(float).to_numpy()
            per_q[f"{q:g}"] = {
                "coverage": float(np.mean(actual <= bound)) if len(seen) else None,
                "coverage_strict": float(np.mean(actual < bound)) if len(seen) else None,
            }
        fig[measure] = {"n": int(len(seen)), **per_q}
    return fig


def coverage_state(cov: dict[str, Any], tolerance: float) -> dict[str, str]:
    """Per measure: ``ok``, ``low`` (under-covered: reserves too small), ``high``
    (over-covered: too large) or ``too_few_weeks``, for P95 at the warehouse level over the
    last 13 weeks: the calibration gate's rule, on live data."""
    fig = cov["windows"][str(ALERT_WINDOW)][ALERT_LEVEL]
    state = {}
    for measure in MEASURES:
        q = fig[measure][f"{ALERT_Q:g}"]
        if fig["weeks"] < ALERT_WINDOW or q["coverage"] is None:
            state[measure] = "too_few_weeks"
        elif q["coverage"] < ALERT_Q - tolerance:
            state[measure] = "low"
        elif q["coverage_strict"] > ALERT_Q + tolerance:
            state[measure] = "high"
        else:
            state[measure] = "ok"
    return state


def newly_out(state: dict[str, str], previous: dict[str, str] | None) -> dict[str, str]:
    """Measures out of tolerance now that were not out the same way in the previous scoring:
    what an alert must say (the same state twice alerts once)."""
    previous = previous or {}
    return {m: s for m, s in state.items() if s in ("low", "high") and previous.get(m) != s}
