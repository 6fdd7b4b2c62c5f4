"""Escalation: per-warehouse thresholds on a period's P95 and the alert to security.

Thresholds (``thresholds.parquet`` of the reserves stage; columns ``warehouse_id,
incidents_threshold, loss_eur_threshold, threshold_source``): a warehouse's setting
(``escalation.incidents_p95`` / ``escalation.loss_eur_p95``) wins. Otherwise:

- incidents: ``escalation.history_margin`` x the ``escalation_quantile_history`` quantile of
  the site's observed incidents per period (at least 1, rounded up to whole incidents). The
  margin keeps a site whose risk has not changed from escalating on sampling noise (its
  forecast P95 sits near its historical quantile). No default with fewer than
  ``escalation.min_history_periods`` observed periods.
- loss: the ``escalation_quantile_history`` quantile of the loss of a period with exactly
  the incidents threshold, from the reserves' own severity pool. The pool is the same for
  history and forecast, so risk in EUR only moves with incidents; a loss threshold of its
  own would re-test the incident counts with severity noise added (measured on the sample
  network: a third of the sites escalated on it by noise alone). Set
  ``escalation.loss_eur_p95`` for a limit finance chose in EUR.

Levels (``schema.ESCALATION_LEVELS``): 0 none; 1 elevated, the P95 of incidents or loss
exceeds its threshold; 2 severe, it exceeds ``severe_factor`` x the threshold.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from forecasting.alerts.alert import Alert
from forecasting.alerts.send import send_alert
from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import InputError
from forecasting.core.jsonable import records
from forecasting.core.lake import Lake
from forecasting.core.layout import RESERVES_FILE, THRESHOLDS_FILE
from forecasting.reserves import compound
from forecasting.reserves.causes import latest_causes, site_causes

log = logging.getLogger(__name__)

_METRICS = (
    (schema.INCIDENTS_P95, schema.INCIDENTS_THRESHOLD),
    (schema.LOSS_EUR_P95, schema.LOSS_EUR_THRESHOLD),
)
_LOSS_DRAWS = 4000  # simulated periods at the incidents threshold (loss default)
ALERT_KIND = "escalation"
ALERT_SEVERITY = {1: "warning", 2: "critical"}


def resolve_thresholds(
    settings: Settings,
    sites: pd.DataFrame,
    history: pd.DataFrame,
    pools: compound.SeverityPools,
    as_of: date,
) -> pd.DataFrame:
    """Thresholds per site (``sites``: ``warehouse_id, region``; ``history``: ``unique_id, ds, y``)."""
    esc = settings.escalation
    ids = sites[schema.WAREHOUSE_ID].tolist()
    unknown = sorted((set(esc.incidents_p95) | set(esc.loss_eur_p95)) - set(ids))
    if unknown:
        log.warning("escalation thresholds set for warehouses not forecast: %s", unknown)
    y = history.groupby(schema.UNIQUE_ID)[schema.Y]
    rng = np.random.default_rng([settings.reserves.seed, as_of.toordinal(), 1])
    rows, loss_at = [], {}  # (region, incidents) -> loss quantile: few distinct pairs
    for wid, region in zip(ids, sites[schema.REGION], strict=True):
        observed = y.get_group(wid).to_numpy(dtype=float) if wid in y.groups else np.array([])
        hist_inc = np.nan
        if len(observed) >= esc.min_history_periods:
            q = settings.escalation_quantile_history
            # whole incidents: a P95 of 3 against a margin-ed 2.5 is no real change
            hist_inc = float(
                np.ceil(esc.history_margin * max(np.quantile(observed, q, method="higher"), 1.0))
            )
        inc = esc.incidents_p95.get(wid, hist_inc)
        if wid in esc.loss_eur_p95:
            loss = esc.loss_eur_p95[wid]
        else:
            if (region, inc) not in loss_at:
                q = settings.escalation_quantile_history
                loss_at[region, inc] = _loss_at(inc, pools.pool_of(region), q, rng)
            loss = loss_at[region, inc]
        rows.append(
            (wid, inc, loss, _source(wid in esc.incidents_p95, wid in esc.loss_eur_p95, hist_inc))
        )
    cols = [
        schema.WAREHOUSE_ID,
        schema.INCIDENTS_THRESHOLD,
        schema.LOSS_EUR_THRESHOLD,
        schema.THRESHOLD_SOURCE,
    ]
    out = pd.DataFrame(rows, columns=cols)
    out[schema.LOSS_EUR_THRESHOLD] = out[schema.LOSS_EUR_THRESHOLD].astype(float).round(2)
    return out


def _loss_at(incidents: float, pool: np.ndarray, q: float, rng: np.random.Generator) -> float:
    """q-quantile of the loss of a period with exactly ``incidents`` incidents (NaN: none)."""
    if not np.isfinite(incidents):
        return float("nan")
    counts = np.full(_LOSS_DRAWS, int(np.ceil(incidents)), dtype=np.int64)
    losses = compound.simulate_losses(counts, np.zeros(_LOSS_DRAWS, int), [pool], rng)
    return float(np.quantile(losses, q))


def _source(inc_set: bool, loss_set: bool, hist: float) -> str:
    """``setting`` (the loss default derives from a set incidents threshold), ``history``,
    ``setting+history`` (only the loss was set) or ``none``."""
    if inc_set:
        return "setting"
    if loss_set:
        return "setting+history" if np.isfinite(hist) else "setting"
    return "history" if np.isfinite(hist) else "none"


def escalation_levels(
    reserves: pd.DataFrame, thresholds: pd.DataFrame, severe_factor: float
) -> np.ndarray:
    """Level (int64, 0..2) of each reserves row: the worse of incidents and loss P95."""
    merged = reserves[[schema.WAREHOUSE_ID]].merge(thresholds, on=schema.WAREHOUSE_ID, how="left")
    level = np.zeros(len(reserves), dtype=np.int64)
    for value_col, thr_col in _METRICS:
        value = reserves[value_col].to_numpy(dtype=float)
        thr = merged[thr_col].to_numpy(dtype=float)
        has = np.isfinite(thr)
        with np.errstate(invalid="ignore"):
            lvl = np.where(
                has & (value > severe_factor * thr), 2, np.where(has & (value > thr), 1, 0)
            )
        level = np.maximum(level, lvl)
    return level


def escalating_sites(reserves: pd.DataFrame, thresholds: pd.DataFrame) -> pd.DataFrame:
    """One row per escalating warehouse: worst level, first period at that level, its figures.

    Columns: warehouse_id, region, country, escalation_level, period_start, incidents_p95,
    loss_eur_p95, incidents_threshold, loss_eur_threshold, threshold_source; worst first.
    """
    hot = reserves[reserves[schema.ESCALATION_LEVEL] > 0]
    hot = hot.sort_values(
        [schema.WAREHOUSE_ID, schema.ESCALATION_LEVEL, schema.PERIOD_START],
        ascending=[True, False, True],
    ).drop_duplicates(schema.WAREHOUSE_ID)
    cols = [
        schema.WAREHOUSE_ID, schema.REGION, schema.COUNTRY, schema.ESCALATION_LEVEL,
        schema.PERIOD_START, schema.INCIDENTS_P95, schema.LOSS_EUR_P95,
    ]  # fmt: skip
    out = hot[cols].merge(thresholds, on=schema.WAREHOUSE_ID, how="left")
    return out.sort_values(
        [schema.ESCALATION_LEVEL, schema.LOSS_EUR_P95, schema.WAREHOUSE_ID],
        ascending=[False, False, True],
    ).reset_index(drop=True)


@dataclass
class EscalationSummary:
    """What ``escalate_reserves`` found and where its alert went."""

    as_of: date
    escalating: int
    severe: int
    sites: list[dict[str, Any]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data


def escalate_reserves(settings: Settings, as_of: date) -> EscalationSummary:
    """Alert security (through the alert routes) about every warehouse that escalates on ``as_of``.

    Reads ``reserves/as_of=D/reserves.parquet`` and ``thresholds.parquet``. One alert per
    date, listing the sites worst first; no site escalating sends nothing.
    """
    lake = Lake.from_settings(settings)
    uri = lake.reserves_file(as_of, RESERVES_FILE)
    if not lake.exists(uri):
        raise InputError(f"{uri} does not exist: run `riskcast reserves --as-of {as_of}` first")
    sites = escalating_sites(
        lake.read_parquet(uri), lake.read_parquet(lake.reserves_file(as_of, THRESHOLDS_FILE))
    )
    rows = _jsonable(sites)
    summary = EscalationSummary(
        as_of=as_of,
        escalating=len(sites),
        severe=int((sites[schema.ESCALATION_LEVEL] == 2).sum()),
        sites=rows,
    )
    if sites.empty:
        log.info("escalation %s: no site crosses its threshold", as_of)
        return summary

    summary.sent = list(send_alert(settings, build_escalation_alert(as_of, sites, lake)))
    return summary


def build_escalation_alert(as_of: date, sites: pd.DataFrame, lake: Lake) -> Any:
    """The security alert for ``escalating_sites`` output (an ``alerts.Alert``), worst first.

    Each row says what crossed its threshold (incidents, EUR or both): thresholds in EUR
    derive from the incident ones (module docstring), so most sites cross on incidents only.
    """

    worst = int(sites[schema.ESCALATION_LEVEL].max())
    severe = int((sites[schema.ESCALATION_LEVEL] == 2).sum())
    names = ", ".join(sites[schema.WAREHOUSE_ID].head(5)) + (" ..." if len(sites) > 5 else "")
    summary = (
        f"{len(sites)} warehouse(s) are forecast above their escalation threshold at P95 "
        f"({severe} severe), worst first: {names}. Review their site protocols."
    )
    rows = sites.assign(**{
        schema.ESCALATION_LEVEL: sites[schema.ESCALATION_LEVEL].map(lambda v: schema.ESCALATION_LEVELS[int(v)]),
        schema.CROSSED_ON: crossed_on(sites),
    })  # fmt: skip
    cols = [schema.WAREHOUSE_ID, schema.PERIOD_START, schema.ESCALATION_LEVEL, schema.CROSSED_ON, schema.REGION,
            schema.INCIDENTS_P95, schema.INCIDENTS_THRESHOLD, schema.LOSS_EUR_P95, schema.LOSS_EUR_THRESHOLD,
            schema.THRESHOLD_SOURCE]  # fmt: skip
    causes = site_causes(latest_causes(lake, as_of)[1], list(sites[schema.WAREHOUSE_ID]))
    return Alert(
        kind=ALERT_KIND,
        severity=ALERT_SEVERITY[worst],
        title=f"Reserve escalation {as_of}: {len(sites)} site(s), worst level "
        f"{schema.ESCALATION_LEVELS[worst]}",
        date=as_of,
        source="reserves",
        summary=summary,
        details={
            "rule": "a site escalates when its P95 for a week is above its threshold in incidents "
                    "or in EUR; severe when above the severe factor times it. The EUR threshold "
                    "follows from the incident one, so sites usually cross on incidents.",
            "escalating": len(sites),
            "severe": severe,
            # root causes of the sites' recent outlier weeks (riskcast explain), when known
            **({"root causes": causes} if causes else {}),
        },
        rows=_jsonable(rows[[c for c in cols if c in rows]]),
        links={"reserves page": lake.reserves_report(as_of),
               "reserves (Excel)": lake.reserves_export(as_of, "workbook")},
    )


def crossed_on(sites: pd.DataFrame) -> list[str]:
    """Per escalating site: ``incidents``, ``EUR`` or ``incidents and EUR``."""
    inc = sites[schema.INCIDENTS_P95].astype(float) > sites[schema.INCIDENTS_THRESHOLD].astype(float)
    loss = sites[schema.LOSS_EUR_P95].astype(float) > sites[schema.LOSS_EUR_THRESHOLD].astype(float)
    return ["incidents and EUR" if i and e else "incidents" if i else "EUR" if e else "-"
            for i, e in zip(inc, loss, strict=True)]  # fmt: skip


def _jsonable(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.copy()
    if schema.PERIOD_START in out:
        out[schema.PERIOD_START] = pd.to_datetime(out[schema.PERIOD_START]).dt.strftime("%Y-%m-%d")
    return records(out)
