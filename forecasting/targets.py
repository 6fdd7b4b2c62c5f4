"""The panel's three targets per warehouse and period, and the severity table.

All three count high-value-goods (HVG) thefts, the population the audit measures:

- ``reported_incidents``: confirmed SEV1/SEV2 HVG reports, by incident day;
- ``unexplained_losses``: UNEXPLAINED HVG reconciliation lines that lost units, by count day;
- ``estimated_thefts``: the positive-unlabeled estimate of HVG thefts (``ESTIMATORS``).

``estimated_thefts`` estimators (``settings.estimated_thefts_method``):

- ``union`` (default): one theft per piece of evidence, each theft counted once: a report
  matched to a loss line (dated by the incident), an unmatched unexplained loss line (dated
  by its count, moved back by the median report-to-count lag seen in matched pairs), an
  unmatched confirmed HVG theft report (dated by the incident).
- ``rate``: confirmed HVG theft reports divided by the site's estimated reporting rate
  (the audit's empirical-Bayes rate), by incident day.

On the sample network ``union`` tracks the true weekly theft counts more closely (see
``bench/README.md``, section audit); ``rate`` needs no reconciliation data at prediction
time but inherits the noise of small report counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting import schema
from forecasting.calendar import period_start
from forecasting.matching import INCIDENT_DATE, INCIDENT_SEVERITIES, LAG_DAYS, LOSS_EUR, Evidence

ESTIMATORS = ("union", "rate")
THEFT_CATEGORIES = ("theft", "burglary")  # report categories that take goods away
TARGET_COLUMNS = [schema.REPORTED_INCIDENTS, schema.UNEXPLAINED_LOSSES, schema.ESTIMATED_THEFTS]

# severity.parquet: which evidence a loss amount comes from
EVIDENCE_REPORT, EVIDENCE_MATCHED, EVIDENCE_LOSS = "report", "matched", "unexplained_loss"


def target_counts(
    evidence: Evidence, freq: str, method: str = "union", rates: pd.Series | None = None
) -> pd.DataFrame:
    """Counts per (warehouse, period) with any evidence.

    Returns columns warehouse_id, ds (period start), reported_incidents,
    unexplained_losses, estimated_thefts (float64); (site, period) pairs without any
    evidence are absent (the caller fills zeros where the site was open). ``rates``
    (index warehouse_id, 0..1) is required for ``method="rate"``.
    """
    rep = _hvg(evidence.reports)
    loss = _hvg(evidence.losses)
    parts = [
        _count(rep.loc[rep[schema.SEVERITY].isin(INCIDENT_SEVERITIES)], INCIDENT_DATE, freq).rename(
            schema.REPORTED_INCIDENTS
        ),
        _count(loss, schema.COUNT_DATE, freq).rename(schema.UNEXPLAINED_LOSSES),
        _estimated(evidence, rep, loss, freq, method, rates).rename(schema.ESTIMATED_THEFTS),
    ]
    out = pd.concat(parts, axis=1).fillna(0.0).astype("float64")
    out.index = out.index.set_names([schema.WAREHOUSE_ID, schema.DS])
    return out.reset_index().sort_values([schema.WAREHOUSE_ID, schema.DS], kind="stable")


def severity_table(evidence: Evidence, freq: str) -> pd.DataFrame:
    """One row per HVG theft with a known loss in EUR: the empirical loss per incident.

    Rows: matched and unmatched confirmed HVG theft reports (their ``loss_value_eur``,
    category from the report) and unmatched unexplained HVG loss lines (units lost x unit
    value, category ``theft``). Columns: region, category, loss_eur, evidence ("report",
    "matched", "unexplained_loss"), severity (SEV1..4 or missing), warehouse_id, ds (period
    of the incident). Sorted; zero or missing amounts are dropped.
    """
    rep = _hvg(evidence.reports)
    rep = rep.loc[rep[schema.CATEGORY].isin(THEFT_CATEGORIES)]
    loss = _hvg(evidence.losses)
    matched_r = rep[schema.REPORT_ID].isin(set(evidence.matches[schema.REPORT_ID]))
    matched_l = loss[schema.RECON_ID].isin(set(evidence.matches[schema.RECON_ID]))
    from_reports = pd.DataFrame(
        {
            schema.WAREHOUSE_ID: rep[schema.WAREHOUSE_ID],
            schema.CATEGORY: rep[schema.CATEGORY],
            schema.SEVERITY_LOSS_EUR: rep[LOSS_EUR],
            schema.SEVERITY_EVIDENCE: np.where(matched_r, EVIDENCE_MATCHED, EVIDENCE_REPORT),
            schema.SEVERITY: rep[schema.SEVERITY].astype(object),
            "_day": rep[INCIDENT_DATE],
        }
    )
    loss = loss.loc[~matched_l]
    from_losses = pd.DataFrame(
        {
            schema.WAREHOUSE_ID: loss[schema.WAREHOUSE_ID],
            schema.CATEGORY: THEFT_CATEGORIES[0],
            schema.SEVERITY_LOSS_EUR: loss[LOSS_EUR],
            schema.SEVERITY_EVIDENCE: EVIDENCE_LOSS,
            schema.SEVERITY: None,
            "_day": loss[schema.COUNT_DATE],
        }
    )
    sev = pd.concat([from_reports, from_losses], ignore_index=True)
    sev = sev.loc[sev[schema.SEVERITY_LOSS_EUR].fillna(0) > 0]
    regions = evidence.warehouses.set_index(schema.WAREHOUSE_ID)[schema.REGION].astype(str)
    sev[schema.REGION] = sev[schema.WAREHOUSE_ID].map(regions)
    sev[schema.DS] = period_start(sev["_day"], freq).to_numpy()
    cols = [
        schema.REGION,
        schema.CATEGORY,
        schema.SEVERITY_LOSS_EUR,
        schema.SEVERITY_EVIDENCE,
        schema.SEVERITY,
        schema.WAREHOUSE_ID,
        schema.DS,
    ]
    sev = sev[cols].astype({schema.SEVERITY_LOSS_EUR: "float64"})
    order = [
        schema.REGION,
        schema.CATEGORY,
        schema.WAREHOUSE_ID,
        schema.DS,
        schema.SEVERITY_LOSS_EUR,
    ]
    return sev.sort_values(order, kind="stable").reset_index(drop=True)


def median_lag_days(evidence: Evidence) -> int:
    """Median days from incident to the count that found it, over matched HVG pairs (0 if none)."""
    hvg = set(_hvg(evidence.losses)[schema.RECON_ID])
    lags = evidence.matches.loc[evidence.matches[schema.RECON_ID].isin(hvg), LAG_DAYS]
    return int(np.floor(lags.median())) if len(lags) else 0


def _estimated(
    evidence: Evidence,
    rep: pd.DataFrame,
    loss: pd.DataFrame,
    freq: str,
    method: str,
    rates: pd.Series | None,
) -> pd.Series:
    thefts = rep.loc[rep[schema.CATEGORY].isin(THEFT_CATEGORIES)]
    if method == "rate":
        if rates is None:
            raise ValueError("method='rate' needs the audit's reporting rates")
        rate = thefts[schema.WAREHOUSE_ID].map(rates).clip(lower=0.05).fillna(1.0)
        return _count(thefts, INCIDENT_DATE, freq, weight=1.0 / rate)
    if method != "union":
        raise ValueError(f"unknown estimated_thefts method {method!r}: use one of {ESTIMATORS}")
    matched_l = loss[schema.RECON_ID].isin(set(evidence.matches[schema.RECON_ID]))
    matched_r = rep[schema.REPORT_ID].isin(set(evidence.matches[schema.REPORT_ID]))
    # a matched pair counts once, at the report's incident day; any matched report counts
    # (its category may say fraud while the count says the goods are gone)
    lone_losses = loss.loc[~matched_l].copy()
    lone_losses[INCIDENT_DATE] = lone_losses[schema.COUNT_DATE] - pd.Timedelta(
        days=median_lag_days(evidence)
    )
    evidence_days = pd.concat(
        [
            rep.loc[matched_r, [schema.WAREHOUSE_ID, INCIDENT_DATE]],
            thefts.loc[
                ~thefts[schema.REPORT_ID].isin(set(evidence.matches[schema.REPORT_ID])),
                [schema.WAREHOUSE_ID, INCIDENT_DATE],
            ],
            lone_losses[[schema.WAREHOUSE_ID, INCIDENT_DATE]],
        ],
        ignore_index=True,
    )
    return _count(evidence_days, INCIDENT_DATE, freq)


def _hvg(df: pd.DataFrame) -> pd.DataFrame:
    return df.loc[df[schema.IS_HVG].astype(bool)]


def _count(df: pd.DataFrame, day_col: str, freq: str, weight: pd.Series | None = None) -> pd.Series:
    """Sum of ``weight`` (default 1) per (warehouse_id, period of ``day_col``)."""
    if df.empty:
        empty = pd.MultiIndex.from_arrays(
            [pd.Index([], dtype=object), pd.DatetimeIndex([], dtype="datetime64[ns]")]
        )
        return pd.Series([], index=empty, dtype="float64")
    ds = period_start(df[day_col], freq)
    w = pd.Series(1.0, index=df.index) if weight is None else weight.astype(float)
    return w.groupby([df[schema.WAREHOUSE_ID].to_numpy(), ds.to_numpy()]).sum()
