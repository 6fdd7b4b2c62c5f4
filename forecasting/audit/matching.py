"""Positive-unlabeled evidence: security reports (positives) matched to unexplained losses.

A security report and an UNEXPLAINED reconciliation line are the same theft when they share
warehouse and sku and the count date lies ``0..window`` days after the incident's (UTC)
date: the count is what discovers the loss, so it never precedes the incident. Matching is
one-to-one (a report explains at most one loss line and vice versa); candidate pairs are
taken greedily by time distance, then report id, then recon id, so the result is
deterministic. Reports without a sku cannot be matched (they stay unmatched).

Which reports take part: every report that is not a ``false_alarm``. The audit asks whether
a theft was *reported*, not how an investigation ended; an ``unconfirmed`` report whose sku
turns up missing at the next count is corroborated by that count. (Counting confirmed
reports only would understate the reporting rate by the share still under investigation,
about 10% on the sample network.) Targets that must rest on confirmed reports alone
(``reported_incidents``) filter on ``status`` themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.ingest.history import partition_dates, read_history, read_snapshot

log = logging.getLogger(__name__)

# Panel target ``reported_incidents``: the severe, confirmed HVG reports.
INCIDENT_SEVERITIES = ("SEV1", "SEV2")
LOSS_REASON = "UNEXPLAINED"
CONFIRMED = "confirmed"
FALSE_ALARM = "false_alarm"

# Derived columns of the frames below (internal to the audit and panel stages).
INCIDENT_DATE = "incident_date"  # UTC calendar day of incident_at, datetime64[ns]
UNITS_LOST = "units_lost"  # expected - counted units of a loss line
LOSS_EUR = "loss_eur"  # units_lost x unit_value_eur, or a report's loss_value_eur
LAG_DAYS = "lag_days"  # count_date - incident_date of a matched pair


@dataclass
class Evidence:
    """Everything the audit and the panel derive from bronze as of one logical date.

    ``reports``: ``filed_reports`` (all severities, HVG and not, flag kept); ``losses``:
    ``unexplained_losses`` (HVG and not); ``matches``: ``match_reports`` of the two; all restricted to
    warehouses in the ``warehouses`` snapshot. ``first_day``: the first daily drop in the
    lake (None when there is none); ``skipped``: rows at unknown warehouses, per source.
    """

    warehouses: pd.DataFrame
    reports: pd.DataFrame
    losses: pd.DataFrame
    matches: pd.DataFrame
    first_day: date | None
    skipped: dict[str, int] = field(default_factory=dict)


def gather_evidence(lake: Lake, as_of: date, window_days: int) -> Evidence:
    """Read bronze as of ``as_of`` and match filed reports to unexplained losses.

    Rows at a warehouse missing from the ``warehouses`` snapshot (quarantined or not yet
    registered) are skipped and counted, never fatal.
    """
    sites = read_snapshot(lake, schema.WAREHOUSES.name, as_of)
    known = set(sites[schema.WAREHOUSE_ID].astype(str))
    skipped: dict[str, int] = {}
    frames = {}
    for source in schema.DAILY_SOURCES:
        df = read_history(lake, source, as_of)
        unknown = ~df[schema.WAREHOUSE_ID].astype(str).isin(known)
        skipped[source] = int(unknown.sum())
        if skipped[source]:
            ids = sorted(df.loc[unknown, schema.WAREHOUSE_ID].astype(str).unique())
            log.warning(
                "skipping %d %s rows at %d warehouse(s) not in the warehouses snapshot: %s",
                skipped[source],
                source,
                len(ids),
                ", ".join(ids[:10]),
            )
        frames[source] = df.loc[~unknown]
    reports = filed_reports(frames[schema.SECURITY_REPORTS.name])
    losses = unexplained_losses(frames[schema.RECONCILIATION_LOGS.name], hvg_only=False)
    firsts = [d for s in schema.DAILY_SOURCES for d in partition_dates(lake, s, as_of)[:1]]
    return Evidence(
        warehouses=sites,
        reports=reports,
        losses=losses,
        matches=match_reports(reports, losses, window_days),
        first_day=min(firsts) if firsts else None,
        skipped=skipped,
    )


def filed_reports(
    reports: pd.DataFrame, severities: tuple[str, ...] | None = None, hvg_only: bool = False
) -> pd.DataFrame:
    """Reports that are not false alarms (optionally only ``severities`` / HVG), one per report.

    In: bronze ``security_reports``. Out columns: report_id, warehouse_id, sku (may be
    missing), is_hvg, status, incident_date, severity, category, units, loss_eur; sorted
    by report_id.
    """
    r = reports
    hvg = r[schema.IS_HVG].fillna(False).astype(bool)
    keep = r[schema.STATUS].notna() & (r[schema.STATUS] != FALSE_ALARM)
    if hvg_only:
        keep &= hvg
    if severities is not None:
        keep &= r[schema.SEVERITY].isin(severities)
    keep = keep.fillna(False).astype(bool)
    r, hvg = r.loc[keep], hvg.loc[keep]
    out = pd.DataFrame(
        {
            schema.REPORT_ID: r[schema.REPORT_ID].astype(str),
            schema.WAREHOUSE_ID: r[schema.WAREHOUSE_ID].astype(str),
            schema.SKU: r[schema.SKU].astype("string"),
            schema.IS_HVG: hvg,
            schema.STATUS: r[schema.STATUS].astype(str),
            INCIDENT_DATE: _utc_day(r[schema.INCIDENT_AT]),
            schema.SEVERITY: r[schema.SEVERITY].astype(str),
            schema.CATEGORY: r[schema.CATEGORY].astype(str),
            schema.UNITS: r[schema.UNITS].astype("Int64"),
            LOSS_EUR: r[schema.LOSS_VALUE_EUR].astype("float64"),
        }
    )
    return out.sort_values(schema.REPORT_ID, kind="stable").reset_index(drop=True)


def unexplained_losses(recon: pd.DataFrame, hvg_only: bool = True) -> pd.DataFrame:
    """UNEXPLAINED reconciliation lines that lost units (counted < expected).

    In: bronze ``reconciliation_logs``. Out columns: recon_id, warehouse_id, sku,
    count_date (datetime64[ns]), is_hvg, units_lost (int), loss_eur; sorted by recon_id.
    """
    g = recon
    lost = (g[schema.EXPECTED_UNITS] - g[schema.COUNTED_UNITS]).astype("Int64")
    keep = (g[schema.REASON_CODE] == LOSS_REASON) & (lost > 0)
    if hvg_only:
        keep &= g[schema.IS_HVG].fillna(False).astype(bool)
    keep = keep.fillna(False).astype(bool)
    g, lost = g.loc[keep], lost.loc[keep]
    out = pd.DataFrame(
        {
            schema.RECON_ID: g[schema.RECON_ID].astype(str),
            schema.WAREHOUSE_ID: g[schema.WAREHOUSE_ID].astype(str),
            schema.SKU: g[schema.SKU].astype("string"),
            schema.COUNT_DATE: pd.to_datetime(g[schema.COUNT_DATE]).astype("datetime64[ns]"),
            schema.IS_HVG: g[schema.IS_HVG].fillna(False).astype(bool),
            UNITS_LOST: lost.astype("int64"),
            LOSS_EUR: lost.astype("float64") * g[schema.UNIT_VALUE_EUR].astype("float64"),
        }
    )
    return out.sort_values(schema.RECON_ID, kind="stable").reset_index(drop=True)


def match_reports(reports: pd.DataFrame, losses: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """One-to-one matches between ``filed_reports`` rows and ``unexplained_losses`` rows.

    A pair qualifies when warehouse_id and sku are equal and ``0 <= count_date -
    incident_date <= window_days``. Out columns: report_id, recon_id, lag_days (int);
    one row per matched pair, sorted by report_id.
    """
    cols = [schema.REPORT_ID, schema.RECON_ID, LAG_DAYS]
    key = [schema.WAREHOUSE_ID, schema.SKU]
    left = reports.loc[reports[schema.SKU].notna(), [schema.REPORT_ID, *key, INCIDENT_DATE]]
    right = losses.loc[losses[schema.SKU].notna(), [schema.RECON_ID, *key, schema.COUNT_DATE]]
    if left.empty or right.empty:
        return pd.DataFrame(
            {c: pd.Series([], dtype="int64" if c == LAG_DAYS else object) for c in cols}
        )
    cand = left.merge(right, on=key, how="inner")
    cand[LAG_DAYS] = (cand[schema.COUNT_DATE] - cand[INCIDENT_DATE]).dt.days
    cand = cand.loc[(cand[LAG_DAYS] >= 0) & (cand[LAG_DAYS] <= window_days)]
    cand = cand.sort_values([LAG_DAYS, schema.REPORT_ID, schema.RECON_ID], kind="stable")
    used_reports: set[str] = set()
    used_losses: set[str] = set()
    rows = []
    # greedy by time distance: closest pairs first; ties broken by ids (deterministic)
    for rid, lid, lag in zip(
        cand[schema.REPORT_ID], cand[schema.RECON_ID], cand[LAG_DAYS], strict=True
    ):
        if rid in used_reports or lid in used_losses:
            continue
        used_reports.add(rid)
        used_losses.add(lid)
        rows.append((rid, lid, int(lag)))
    out = pd.DataFrame(rows, columns=cols).astype({LAG_DAYS: "int64"})
    return out.sort_values(schema.REPORT_ID, kind="stable").reset_index(drop=True)


def _utc_day(ts: pd.Series) -> pd.Series:
    """The UTC calendar day of a timestamp column, as naive datetime64[ns] midnight."""
    t = pd.to_datetime(ts, utc=True)
    return t.dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
