"""Missing data in the panel: site-periods whose daily drops did not (all) arrive stay missing.

A site-day is missing for a daily source when the source's drop of that day never arrived,
was rejected whole, arrived without that site's file, or was not ingested yet
(``ingest.history.missing_site_days``). A target counts the evidence of one or two sources
(``TARGET_SOURCES``); its value for a site and period is NaN, never zero, when any day of the
period is missing for that site in one of its sources. The model, the members and the
backtest treat NaN as unobserved (GluonTS: ``observed_values`` 0); the panel summary, the
forecast and reserves summaries list what was missing (``missing_summary``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.ingest.history import missing_site_days
from forecasting.panel.calendar import period_start

SECURITY, RECON = schema.SECURITY_REPORTS.name, schema.RECONCILIATION_LOGS.name
TARGET_SOURCES = {  # estimated_thefts by method: union reads both sources, rate the reports only
    schema.REPORTED_INCIDENTS: (SECURITY,),
    schema.UNEXPLAINED_LOSSES: (RECON,),
    (schema.ESTIMATED_THEFTS, "union"): (SECURITY, RECON),
    (schema.ESTIMATED_THEFTS, "rate"): (SECURITY,),
}
MAX_LISTED = 200  # source-days listed in a summary (the count is always complete)


def missing_days(lake: Lake, as_of: date) -> dict[str, pd.DataFrame]:
    """Source -> its missing site-days up to ``as_of`` (see the module doc)."""
    return {source: missing_site_days(lake, source, as_of) for source in schema.DAILY_SOURCES}


def blank_missing(panel: pd.DataFrame, missing: dict[str, pd.DataFrame], freq: str,
                  method: str) -> tuple[pd.DataFrame, list[list[str]]]:  # fmt: skip
    """``panel`` with each target NaN on the history rows its sources miss a day of, and the
    rows blanked as sorted ``[unique_id, ds]`` pairs (the panel summary declares them)."""
    history = ~panel[schema.IS_FUTURE]
    ids = panel[schema.UNIQUE_ID].astype(str)
    blanked = pd.Series(False, index=panel.index)
    for target in (schema.REPORTED_INCIDENTS, schema.UNEXPLAINED_LOSSES, schema.ESTIMATED_THEFTS):
        sources = TARGET_SOURCES.get(target) or TARGET_SOURCES[(target, method)]
        hit = pd.Series(False, index=panel.index)
        for source in sources:
            hit |= _rows_of(panel, ids, missing.get(source), freq)
        hit &= history
        panel.loc[hit, target] = float("nan")
        blanked |= hit
    pairs = panel.loc[blanked, [schema.UNIQUE_ID, schema.DS]]
    return panel, sorted([str(u), str(pd.Timestamp(d).date())] for u, d in pairs.itertuples(index=False))


def _rows_of(panel: pd.DataFrame, ids: pd.Series, days: pd.DataFrame | None, freq: str) -> pd.Series:
    """Mask of panel rows whose (site, period) holds one of ``days`` (<NA> site: every site)."""
    if days is None or days.empty:
        return pd.Series(False, index=panel.index)
    periods = period_start(days[schema.MISSING_DAY], freq).to_numpy()
    every = set(periods[days[schema.WAREHOUSE_ID].isna().to_numpy()])
    sites = set(zip(days[schema.WAREHOUSE_ID].astype(str), periods, strict=True))
    ds = panel[schema.DS].to_numpy()
    all_sites = pd.Series(ds, index=panel.index).isin(every)
    one_site = pd.Series([(u, d) in sites for u, d in zip(ids, ds, strict=True)], index=panel.index)
    return all_sites | one_site


def missing_summary(missing: dict[str, pd.DataFrame], first: str | None, last: str) -> dict[str, Any]:
    """What the panel's history (``first`` .. ``last``, ISO days) missed, per source and day:
    ``{"days": count, "listed": [{"source", "day", "sites": [...] or "all"}]}``."""
    listed = []
    for source, days in missing.items():
        if days.empty or first is None:
            continue
        window = days[(days[schema.MISSING_DAY] >= pd.Timestamp(first)) & (days[schema.MISSING_DAY] <= pd.Timestamp(last))]
        for day, group in window.groupby(schema.MISSING_DAY, sort=True):
            sites = group[schema.WAREHOUSE_ID]
            listed.append({schema.MISSING_SOURCE: source, schema.MISSING_DAY: str(pd.Timestamp(day).date()),
                           "sites": "all" if sites.isna().any() else sorted(sites.astype(str))})  # fmt: skip
    listed.sort(key=lambda r: (r[schema.MISSING_DAY], r[schema.MISSING_SOURCE]))
    return {"days": len(listed), "listed": listed[:MAX_LISTED]}
