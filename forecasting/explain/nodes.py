"""The graph's nodes, measured per warehouse and week from the panel, severity and bronze.

``weekly_measures`` counts raw evidence per (warehouse_id, period_start); ``node_frame``
turns it into the node values the causal model sees, each relative to the site's own
reference weeks (so one model pools every site):

| node | measured as |
|---|---|
| ``calendar`` | is_launch + is_peak - is_holiday of the panel (shares of the week's days) |
| ``activity`` | log((TRANSFER + DAMAGE lines + 1) / (site mean + 1)) |
| ``reporting`` | log((security reports filed, any category or status, + 1) / (site mean + 1)) |
| ``thefts`` | (theft/burglary/fraud reports, not false alarms, / the site's reporting share - m) / s |
| ``count_errors`` | (incidents - reported thefts / reporting share) / s: evidence no report corroborates beyond the usual share |
| ``incidents`` | (the panel target - m) / s (= thefts + count_errors) |
| ``value_mix`` | (severity losses / the site's mean loss per incident - incidents) / s: the loss beyond what the week's incidents usually cost |
| ``loss_eur`` | (severity losses / the site's mean loss per incident - m) / s (= incidents + value_mix) |

``m`` is the site's mean incidents per reference week and ``s = sqrt(m + 1)``: counts are
centred and scaled like Poisson counts, so a small site's single theft does not look like
a large site's ten. The reporting share is reported thefts / incidents over the reference
weeks (0.1..1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.audit.matching import FALSE_ALARM
from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.explain.graph import NODES
from forecasting.ingest.history import read_history
from forecasting.panel.calendar import period_start
from forecasting.panel.targets import THEFT_CATEGORIES

REPORTS_FILED, REPORTED_THEFTS, ACTIVITY_LINES = (
    schema.REPORTS_FILED, schema.REPORTED_THEFTS, schema.ACTIVITY_LINES,
)
LOSS = schema.LOSS_EUR_ACTUAL
ACTIVITY_REASONS = ("TRANSFER", "DAMAGE")
MIN_SHARE = 0.1
_KEYS = [schema.WAREHOUSE_ID, schema.PERIOD_START]


def read_bronze_counts(lake: Lake, as_of, freq: str) -> pd.DataFrame:
    """Reports filed, reported thefts and activity lines per warehouse and period, from bronze."""
    reports = read_history(lake, schema.SECURITY_REPORTS.name, as_of)
    recon = read_history(lake, schema.RECONCILIATION_LOGS.name, as_of)
    r = pd.DataFrame({
        schema.WAREHOUSE_ID: reports[schema.WAREHOUSE_ID].astype(str),
        schema.PERIOD_START: period_start(_utc_naive(reports[schema.INCIDENT_AT]), freq).to_numpy(),
        REPORTS_FILED: 1,
        REPORTED_THEFTS: (reports[schema.CATEGORY].isin(THEFT_CATEGORIES)
                          & (reports[schema.STATUS] != FALSE_ALARM)).fillna(False).astype(int).to_numpy(),
    })  # fmt: skip
    c = pd.DataFrame({
        schema.WAREHOUSE_ID: recon[schema.WAREHOUSE_ID].astype(str),
        schema.PERIOD_START: period_start(pd.to_datetime(recon[schema.COUNT_DATE]), freq).to_numpy(),
        ACTIVITY_LINES: recon[schema.REASON_CODE].isin(ACTIVITY_REASONS).astype(int).to_numpy(),
    })  # fmt: skip
    out = r.groupby(_KEYS).sum().join(c.groupby(_KEYS).sum(), how="outer")
    return out.fillna(0).reset_index()


def weekly_measures(panel: pd.DataFrame, severity: pd.DataFrame, bronze: pd.DataFrame) -> pd.DataFrame:
    """One row per history row of ``panel``: incidents (y), calendar and the raw counts.

    ``panel``: PANEL_COLUMNS; ``severity``: SEVERITY_COLUMNS; ``bronze``: ``read_bronze_counts``.
    Periods without a count are 0 (the panel says the site was open then).
    """
    hist = panel.loc[~panel[schema.IS_FUTURE].astype(bool)]
    out = pd.DataFrame({
        schema.WAREHOUSE_ID: hist[schema.UNIQUE_ID].astype(str).to_numpy(),
        schema.PERIOD_START: pd.to_datetime(hist[schema.DS]).to_numpy(),
        schema.NODE_INCIDENTS: hist[schema.Y].astype(float).to_numpy(),
        schema.NODE_CALENDAR: (hist[schema.IS_LAUNCH] + hist[schema.IS_PEAK]
                               - hist[schema.IS_HOLIDAY]).astype(float).to_numpy(),
    })  # fmt: skip
    loss = (
        severity.assign(**{schema.PERIOD_START: pd.to_datetime(severity[schema.DS])})
        .groupby([schema.WAREHOUSE_ID, schema.PERIOD_START])[schema.SEVERITY_LOSS_EUR].sum()
        .rename(LOSS)
    )
    out = out.merge(loss.reset_index(), on=_KEYS, how="left")
    out = out.merge(bronze, on=_KEYS, how="left")
    for col in (LOSS, REPORTS_FILED, REPORTED_THEFTS, ACTIVITY_LINES):
        out[col] = out[col].fillna(0.0).astype(float)
    return out.sort_values(_KEYS, kind="stable").reset_index(drop=True)


def node_frame(measures: pd.DataFrame, reference: pd.Series) -> pd.DataFrame:
    """Node values (columns ``NODES``) plus the keys, relative to each site's reference weeks.

    ``reference``: boolean mask of ``measures`` rows that are the site's usual weeks (the
    history before the weeks explained). A site without reference weeks gets NaN nodes.
    """
    m = measures
    ref = m.loc[reference.to_numpy()]
    site = m[schema.WAREHOUSE_ID]
    g = ref.groupby(schema.WAREHOUSE_ID)
    mean = {c: site.map(g[c].mean()) for c in (schema.NODE_INCIDENTS, REPORTS_FILED,
                                              ACTIVITY_LINES, LOSS)}  # fmt: skip
    share = site.map((g[REPORTED_THEFTS].sum() / g[schema.NODE_INCIDENTS].sum().replace(0, np.nan))
                     .fillna(MIN_SHARE).clip(MIN_SHARE, 1.0))  # fmt: skip
    ref_pi = g[LOSS].sum() / g[schema.NODE_INCIDENTS].sum().where(g[schema.NODE_INCIDENTS].sum() > 0)
    mu = mean[schema.NODE_INCIDENTS].where(mean[schema.NODE_INCIDENTS] > 0)
    scale = np.sqrt(mu + 1)
    typical = site.map(ref_pi)
    implied = m[REPORTED_THEFTS] / share
    out = m[_KEYS].copy()
    out[schema.NODE_CALENDAR] = m[schema.NODE_CALENDAR]
    out[schema.NODE_ACTIVITY] = np.log((m[ACTIVITY_LINES] + 1) / (mean[ACTIVITY_LINES] + 1))
    out[schema.NODE_REPORTING] = np.log((m[REPORTS_FILED] + 1) / (mean[REPORTS_FILED] + 1))
    out[schema.NODE_THEFTS] = (implied - mu) / scale
    out[schema.NODE_COUNT_ERRORS] = (m[schema.NODE_INCIDENTS] - implied) / scale
    out[schema.NODE_INCIDENTS] = (m[schema.NODE_INCIDENTS] - mu) / scale
    cost = m[LOSS] / typical.where(typical > 0)  # the week's loss in usual incidents' worth
    out[schema.NODE_VALUE_MIX] = (cost - m[schema.NODE_INCIDENTS]) / scale
    out[schema.NODE_LOSS_EUR] = (cost - mu) / scale
    return out[[*_KEYS, *NODES]]


def _utc_naive(ts: pd.Series) -> pd.Series:
    t = pd.to_datetime(ts, utc=True, errors="coerce")
    return t.dt.tz_localize(None)
