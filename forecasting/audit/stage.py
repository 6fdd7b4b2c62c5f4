"""Positive-unlabeled audit: which share of unexplained HVG losses was ever reported?

Security reports are positives only; most thefts surface only as UNEXPLAINED shrinkage in
reconciliation counts. Matching HVG reports (any but false alarms) to those loss lines
(``forecasting.audit.matching``) gives, per warehouse, ``k`` reported out of ``n`` unexplained
losses; the reporting rate is ``k / n`` with an empirical-Bayes interval per site (shrunk
towards the region, ``forecasting.audit.rates``) and Jeffreys intervals for pooled regions and
the network.

Only mature losses count: those counted in ``[first drop + window, as_of - window]``,
``window = settings.match_window_days``. Near ``as_of`` a report may not have arrived yet,
and right after the first drop a loss may belong to an incident reported before the lake
began; both would bias the rate down.

Output ``audit/as_of=D/``: ``audit.parquet`` (columns ``AUDIT_COLUMNS``, one row per
warehouse, region and the network), ``report.md`` and ``report.html``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from forecasting.audit.matching import INCIDENT_DATE, LAG_DAYS, Evidence, gather_evidence
from forecasting.audit.rates import (
    LEVEL,
    RATE,
    RATE_HI,
    RATE_LO,
    RATE_RAW,
    jeffreys_interval,
    shrink_rates,
)
from forecasting.audit.report import render_html, render_markdown
from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import InputError
from forecasting.core.lake import Lake, join
from forecasting.core.layout import AUDIT as AUDIT_STAGE
from forecasting.core.layout import AUDIT_FILE
from forecasting.core.layout import AUDIT_REPORT_HTML as REPORT_HTML
from forecasting.core.layout import AUDIT_REPORT_MD as REPORT_MD

log = logging.getLogger(__name__)

AUDIT_COLUMNS = [
    schema.AUDIT_LEVEL,
    schema.AUDIT_ID,
    schema.REGION,
    schema.UNEXPLAINED_LOSSES_N,
    schema.REPORTED_LOSSES,
    schema.REPORTING_RATE,
    schema.REPORTING_RATE_LO,
    schema.REPORTING_RATE_HI,
    schema.REPORTING_RATE_RAW,
    schema.HVG_REPORTS_N,
    schema.UNMATCHED_REPORTS_N,
]
WAREHOUSE, REGION_LEVEL, NETWORK = schema.AUDIT_LEVELS


@dataclass
class AuditSummary:
    """What ``run_audit`` wrote and its headline figures (JSON-able via ``to_dict``)."""

    as_of: str
    audit_uri: str
    report_md_uri: str
    report_html_uri: str
    match_window_days: int
    window_start: str | None
    window_end: str | None
    warehouses: int
    unexplained_losses: int
    reported_losses: int
    hvg_reports: int
    network_rate: float | None
    network_rate_lo: float | None
    network_rate_hi: float | None
    interval_level: float = LEVEL
    median_lag_days: float | None = None
    skipped_unknown_warehouse: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_audit(settings: Settings, as_of: date) -> AuditSummary:
    """Match reports to losses as of ``as_of``, estimate reporting rates, write table + report."""

    lake = Lake.from_settings(settings)
    window = settings.match_window_days
    evidence = gather_evidence(lake, as_of, window)
    start, end = audit_window(evidence.first_day, as_of, window)
    table = audit_table(evidence, start, end)
    out = lake.stage(AUDIT_STAGE, as_of)
    lags = evidence.matches[LAG_DAYS]
    net = table.loc[table[schema.AUDIT_LEVEL] == NETWORK].iloc[0]
    summary = AuditSummary(
        as_of=str(as_of),
        audit_uri=join(out, AUDIT_FILE),
        report_md_uri=join(out, REPORT_MD),
        report_html_uri=join(out, REPORT_HTML),
        match_window_days=window,
        window_start=str(start) if start else None,
        window_end=str(end) if end else None,
        warehouses=int((table[schema.AUDIT_LEVEL] == WAREHOUSE).sum()),
        unexplained_losses=int(net[schema.UNEXPLAINED_LOSSES_N]),
        reported_losses=int(net[schema.REPORTED_LOSSES]),
        hvg_reports=int(net[schema.HVG_REPORTS_N]),
        network_rate=_num(net[schema.REPORTING_RATE]),
        network_rate_lo=_num(net[schema.REPORTING_RATE_LO]),
        network_rate_hi=_num(net[schema.REPORTING_RATE_HI]),
        median_lag_days=float(lags.median()) if len(lags) else None,
        skipped_unknown_warehouse=evidence.skipped,
    )
    markdown = render_markdown(table, summary, lags)
    lake.write_parquet(table, summary.audit_uri)
    lake.write_text(summary.report_md_uri, markdown)
    lake.write_text(summary.report_html_uri, render_html(markdown, f"riskcast audit {as_of}", table))
    log.info(
        "audit %s: %d/%d unexplained HVG losses reported (%.1f%%)",
        as_of,
        summary.reported_losses,
        summary.unexplained_losses,
        100 * (summary.network_rate or 0),
    )
    return summary


def read_reporting_rates(lake: Lake, as_of: date) -> pd.Series:
    """The audit's reporting rate per warehouse as of ``as_of`` (``audit/as_of=D``), as the
    audit stage wrote it: what the panel's ``rate`` target scales reports by. Raises
    InputError naming the command to run where the audit of that day is missing."""
    uri = join(lake.stage(AUDIT_STAGE, as_of), AUDIT_FILE)
    if not lake.exists(uri):
        raise InputError(
            f"no audit for {as_of} ({uri}): estimated_thefts_method 'rate' scales reports by the "
            f"audit's reporting rates; run `riskcast audit --as-of {as_of}` (the forecast DAG's "
            "audit task) first"
        )
    table = lake.read_parquet(uri)
    sites = table.loc[table[schema.AUDIT_LEVEL] == schema.AUDIT_LEVELS[0]]
    return sites.set_index(schema.AUDIT_ID)[schema.REPORTING_RATE]


def audit_window(
    first_day: date | None, as_of: date, window: int
) -> tuple[date | None, date | None]:
    """The count dates whose losses are mature: ``[first_day + window, as_of - window]``."""
    if first_day is None:
        return None, None
    return first_day + timedelta(days=window), as_of - timedelta(days=window)


def audit_table(evidence: Evidence, start: date | None, end: date | None) -> pd.DataFrame:
    """Reporting rates per warehouse (empirical Bayes), region and network (Jeffreys).

    Counts only HVG unexplained losses counted in ``[start, end]`` and HVG reports (not
    false alarms) with an incident in that range. Columns ``AUDIT_COLUMNS``; every warehouse of the
    snapshot has a row (``n = 0`` gives the region's prior and a wide interval).
    """
    sites = evidence.warehouses[[schema.WAREHOUSE_ID, schema.REGION]].astype(str)
    sites = sites.sort_values(schema.WAREHOUSE_ID).reset_index(drop=True)
    losses = evidence.losses.loc[evidence.losses[schema.IS_HVG]]
    reports = evidence.reports.loc[evidence.reports[schema.IS_HVG]]
    if start is None or end is None or end < start:
        losses, reports = losses.iloc[:0], reports.iloc[:0]
    else:
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        losses = losses.loc[losses[schema.COUNT_DATE].between(lo, hi)]
        reports = reports.loc[reports[INCIDENT_DATE].between(lo, hi)]
    matched_losses = set(evidence.matches[schema.RECON_ID])
    matched_reports = set(evidence.matches[schema.REPORT_ID])
    counts = pd.DataFrame(
        {
            schema.UNEXPLAINED_LOSSES_N: losses.groupby(schema.WAREHOUSE_ID).size(),
            schema.REPORTED_LOSSES: losses[schema.RECON_ID]
            .isin(matched_losses)
            .groupby(losses[schema.WAREHOUSE_ID])
            .sum(),
            schema.HVG_REPORTS_N: reports.groupby(schema.WAREHOUSE_ID).size(),
            schema.UNMATCHED_REPORTS_N: (~reports[schema.REPORT_ID].isin(matched_reports))
            .groupby(reports[schema.WAREHOUSE_ID])
            .sum(),
        }
    )
    site = sites.merge(counts, left_on=schema.WAREHOUSE_ID, right_index=True, how="left")
    count_cols = list(counts.columns)
    site[count_cols] = site[count_cols].fillna(0).astype("int64")
    rates = shrink_rates(
        site[schema.REPORTED_LOSSES], site[schema.UNEXPLAINED_LOSSES_N], site[schema.REGION]
    )
    site = site.assign(
        **{
            schema.AUDIT_LEVEL: WAREHOUSE,
            schema.AUDIT_ID: site[schema.WAREHOUSE_ID],
            schema.REPORTING_RATE: rates[RATE],
            schema.REPORTING_RATE_LO: rates[RATE_LO],
            schema.REPORTING_RATE_HI: rates[RATE_HI],
            schema.REPORTING_RATE_RAW: rates[RATE_RAW],
        }
    )
    region = site.groupby(schema.REGION, as_index=False)[count_cols].sum()
    region[schema.AUDIT_LEVEL] = REGION_LEVEL
    region[schema.AUDIT_ID] = region[schema.REGION]
    network = site[count_cols].sum().to_frame().T.astype("int64")
    network[schema.AUDIT_LEVEL] = NETWORK
    network[schema.AUDIT_ID] = NETWORK
    network[schema.REGION] = None
    pooled = pd.concat([region, network], ignore_index=True)
    k, n = pooled[schema.REPORTED_LOSSES].to_numpy(), pooled[schema.UNEXPLAINED_LOSSES_N].to_numpy()
    lo, hi = jeffreys_interval(k, n)
    raw = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    pooled[schema.REPORTING_RATE_RAW] = raw
    pooled[schema.REPORTING_RATE] = raw
    pooled[schema.REPORTING_RATE_LO] = np.where(n > 0, lo, np.nan)
    pooled[schema.REPORTING_RATE_HI] = np.where(n > 0, hi, np.nan)
    table = pd.concat([site[AUDIT_COLUMNS], pooled[AUDIT_COLUMNS]], ignore_index=True)
    table[schema.REGION] = (
        table[schema.REGION].astype(object).where(table[schema.REGION].notna(), None)
    )
    for col in count_cols:
        table[col] = table[col].astype("int64")
    for col in (
        schema.REPORTING_RATE,
        schema.REPORTING_RATE_LO,
        schema.REPORTING_RATE_HI,
        schema.REPORTING_RATE_RAW,
    ):
        table[col] = table[col].astype("float64")
    return table


def read_audit(settings: Settings, as_of: date) -> pd.DataFrame:
    """The audit table written by ``run_audit`` for ``as_of`` (columns ``AUDIT_COLUMNS``)."""
    lake = Lake.from_settings(settings)
    return lake.read_parquet(join(lake.stage(AUDIT_STAGE, as_of), AUDIT_FILE))


def _num(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)
