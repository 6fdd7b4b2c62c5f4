"""The panel's three targets per warehouse and period, and the matching severity table.

- ``reported_incidents``: confirmed SEV1/SEV2 HVG reports, by incident day. What security
  sees; it learns each site's reporting habit as much as its theft risk.
- ``unexplained_losses``: UNEXPLAINED reconciliation lines that lost units (all goods), by
  count day.
- ``estimated_thefts``: the positive-unlabeled estimate of thefts (all goods), by
  ``settings.estimated_thefts_method``:

  - ``union`` (default): one theft per piece of evidence, each theft counted once: a report
    matched to a loss line (dated by the incident), an unmatched unexplained loss line
    (dated by its count moved back by the median incident-to-count lag of matched pairs of
    its kind, HVG or not), an unmatched confirmed theft/burglary/fraud report (by incident).
  - ``rate``: filed (not false-alarm) theft/burglary/fraud reports, each weighted by
    1 / the site's estimated HVG reporting rate (the audit's empirical-Bayes rate), by
    incident day. It needs no reconciliation data but inherits the noise of small counts.

  On the 60-site sample network ``union`` tracks the true weekly thefts far better (see
  ``bench/README.md``, section audit), so it is the default.

Severity (``severity.parquet``): one row per incident *of the configured target*, so that
reserves compound counts and losses of the same population: confirmed SEV1/SEV2 HVG
reports' ``loss_value_eur``; unexplained lines' units lost x unit value; or, for
estimated thefts, the report's amount for a matched pair or a lone report and the count's
valuation for a lone loss line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.audit.matching import (
    CONFIRMED,
    INCIDENT_DATE,
    INCIDENT_SEVERITIES,
    LAG_DAYS,
    LOSS_EUR,
    Evidence,
)
from forecasting.core import schema
from forecasting.panel.calendar import period_start

ESTIMATORS = ("union", "rate")
THEFT_CATEGORIES = ("theft", "burglary", "fraud")  # report categories where goods go missing
TARGET_COLUMNS = [schema.REPORTED_INCIDENTS, schema.UNEXPLAINED_LOSSES, schema.ESTIMATED_THEFTS]
_MIN_RATE = 0.05  # the rate estimator never multiplies a report by more than 20

# severity.parquet ``evidence``: where a loss amount comes from
EVIDENCE_REPORT, EVIDENCE_MATCHED, EVIDENCE_LOSS = "report", "matched", "unexplained_loss"
SEVERITY_COLUMNS = [
    schema.REGION,
    schema.CATEGORY,
    schema.SEVERITY_LOSS_EUR,
    schema.SEVERITY_EVIDENCE,
    schema.IS_HVG,
    schema.WAREHOUSE_ID,
    schema.DS,
]


def target_counts(
    evidence: Evidence, freq: str, method: str = "union", rates: pd.Series | None = None
) -> pd.DataFrame:
    """Counts per (warehouse, period) with any evidence.

    Returns columns warehouse_id, ds (period start), reported_incidents,
    unexplained_losses, estimated_thefts (float64); (site, period) pairs without any
    evidence are absent (the caller fills zeros where the site was open). ``rates``
    (index warehouse_id, 0..1) is required for ``method="rate"``.
    """
    thefts, weight = _estimated(evidence, method, rates)
    parts = [
        _count(reported_incidents(evidence), INCIDENT_DATE, freq).rename(schema.REPORTED_INCIDENTS),
        _count(evidence.losses, schema.COUNT_DATE, freq).rename(schema.UNEXPLAINED_LOSSES),
        _count(thefts, INCIDENT_DATE, freq, weight).rename(schema.ESTIMATED_THEFTS),
    ]
    out = pd.concat(parts, axis=1).fillna(0.0).astype("float64")
    out.index = out.index.set_names([schema.WAREHOUSE_ID, schema.DS])
    return out.reset_index().sort_values([schema.WAREHOUSE_ID, schema.DS], kind="stable")


def reported_incidents(evidence: Evidence) -> pd.DataFrame:
    """The reports behind ``reported_incidents``: confirmed, SEV1/SEV2, HVG."""
    r = evidence.reports
    keep = (
        r[schema.IS_HVG]
        & (r[schema.STATUS] == CONFIRMED)
        & r[schema.SEVERITY].isin(INCIDENT_SEVERITIES)
    )
    return r.loc[keep]


def theft_evidence(evidence: Evidence) -> pd.DataFrame:
    """One row per estimated theft (``union``): warehouse_id, incident_date, loss_eur, is_hvg,
    category, evidence (matched / report / unexplained_loss)."""
    rep, loss, m = evidence.reports, evidence.losses, evidence.matches
    matched_r = rep[schema.REPORT_ID].isin(set(m[schema.REPORT_ID]))
    matched_l = loss[schema.RECON_ID].isin(set(m[schema.RECON_ID]))
    # a matched pair counts once, dated by the report's incident; any matched report counts
    # (the count corroborates it), a lone report only when confirmed and about lost goods
    lone_rep = (
        (~matched_r)
        & (rep[schema.STATUS] == CONFIRMED)
        & rep[schema.CATEGORY].isin(THEFT_CATEGORIES)
    )
    lone_loss = loss.loc[~matched_l]
    lags = _median_lags(evidence)
    shift = lone_loss[schema.IS_HVG].map(lags).fillna(0).astype(int)
    cols = [schema.WAREHOUSE_ID, INCIDENT_DATE, LOSS_EUR, schema.IS_HVG, schema.CATEGORY]
    frames = [
        rep.loc[matched_r, cols].assign(**{schema.SEVERITY_EVIDENCE: EVIDENCE_MATCHED}),
        rep.loc[lone_rep, cols].assign(**{schema.SEVERITY_EVIDENCE: EVIDENCE_REPORT}),
        lone_loss.assign(
            **{
                INCIDENT_DATE: lone_loss[schema.COUNT_DATE] - pd.to_timedelta(shift, unit="D"),
                schema.CATEGORY: THEFT_CATEGORIES[0],
                schema.SEVERITY_EVIDENCE: EVIDENCE_LOSS,
            }
        )[[*cols, schema.SEVERITY_EVIDENCE]],
    ]
    return pd.concat(frames, ignore_index=True)


def severity_table(evidence: Evidence, freq: str, target: str) -> pd.DataFrame:
    """One row per incident of ``target`` with a positive loss in EUR (``SEVERITY_COLUMNS``).

    region comes from the site, ds is the incident's period; sorted, deterministic.
    """
    if target == schema.REPORTED_INCIDENTS:
        rows = reported_incidents(evidence).assign(**{schema.SEVERITY_EVIDENCE: EVIDENCE_REPORT})
        day = INCIDENT_DATE
    elif target == schema.UNEXPLAINED_LOSSES:
        rows = evidence.losses.assign(
            **{schema.CATEGORY: THEFT_CATEGORIES[0], schema.SEVERITY_EVIDENCE: EVIDENCE_LOSS}
        )
        day = schema.COUNT_DATE
    else:
        rows, day = theft_evidence(evidence), INCIDENT_DATE
    regions = evidence.warehouses.set_index(schema.WAREHOUSE_ID)[schema.REGION].astype(str)
    sev = pd.DataFrame(
        {
            schema.REGION: rows[schema.WAREHOUSE_ID].map(regions).to_numpy(),
            schema.CATEGORY: rows[schema.CATEGORY].astype(str).to_numpy(),
            schema.SEVERITY_LOSS_EUR: rows[LOSS_EUR].astype("float64").to_numpy(),
            schema.SEVERITY_EVIDENCE: rows[schema.SEVERITY_EVIDENCE].to_numpy(),
            schema.IS_HVG: rows[schema.IS_HVG].astype(bool).to_numpy(),
            schema.WAREHOUSE_ID: rows[schema.WAREHOUSE_ID].astype(str).to_numpy(),
            schema.DS: period_start(rows[day], freq).to_numpy(),
        }
    )
    sev = sev.loc[sev[schema.SEVERITY_LOSS_EUR].fillna(0) > 0]
    order = [
        schema.REGION,
        schema.WAREHOUSE_ID,
        schema.DS,
        schema.SEVERITY_LOSS_EUR,
        schema.CATEGORY,
    ]
    return sev.sort_values(order, kind="stable").reset_index(drop=True)[SEVERITY_COLUMNS]


def _median_lags(evidence: Evidence) -> pd.Series:
    """Median incident-to-count days of matched pairs, by the loss line's is_hvg (floored)."""
    m = evidence.matches.merge(
        evidence.losses[[schema.RECON_ID, schema.IS_HVG]], on=schema.RECON_ID
    )
    return (
        np.floor(m.groupby(schema.IS_HVG)[LAG_DAYS].median()) if len(m) else pd.Series(dtype=float)
    )


def _estimated(
    evidence: Evidence, method: str, rates: pd.Series | None
) -> tuple[pd.DataFrame, pd.Series | None]:
    """The thefts (by incident_date) and their weights (None: one each)."""
    if method == "union":
        return theft_evidence(evidence), None
    if method != "rate":
        raise ValueError(f"unknown estimated_thefts method {method!r}: use one of {ESTIMATORS}")
    if rates is None:
        raise ValueError("method='rate' needs the audit's reporting rates")
    rep = evidence.reports
    thefts = rep.loc[rep[schema.CATEGORY].isin(THEFT_CATEGORIES)]
    rate = thefts[schema.WAREHOUSE_ID].map(rates).clip(lower=_MIN_RATE).fillna(1.0)
    return thefts, 1.0 / rate


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
