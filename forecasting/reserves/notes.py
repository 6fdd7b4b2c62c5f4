"""The reserves page's words: downloads and evidence, what the figures rest on (model,
calibration in incidents and euros, reporting rate), escalating sites with the rules in
words, a glossary and the lineage footer. Section functions take the page's
``ReservesPage`` (``reserves.page``).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from forecasting.core import schema
from forecasting.core.html import Section, count, pct
from forecasting.reserves.escalation import crossed_on, escalating_sites
from forecasting.reserves.figures import escalation_chart
from forecasting.reserves.page import ReservesPage, page_table

EXPORT_LABELS = {"warehouse_week": "Warehouse × week (CSV)", "region_week": "Region × week (CSV)",
                 "horizon": "Horizon totals (CSV)", "workbook": "All three tables (Excel)"}  # fmt: skip
LINK_LABELS = {"backtest": "Backtest report (how earlier forecasts did)",
               "audit": "Reporting-rate audit (how many thefts get reported)",
               "data_docs": "Data validation (Great Expectations Data Docs)"}  # fmt: skip
_TARGETS = {  # panel target -> what the incident counts are
    "estimated_thefts": "estimated thefts: security reports plus stock losses no report explains",
    "reported_incidents": "incidents reported to security only",
}
GLOSSARY = (
    ("P50", "The central estimate: as likely to be exceeded as not."),
    ("P90 / P95", "Exceeded in only one week (or period) in ten / in twenty. Reserving at P95 "
                  "covers 19 periods out of 20."),
    ("Expected loss", "The average over every scenario; above the P50 because a few bad "
                      "scenarios are very bad."),
    ("Scenario", "One simulated future: a weekly incident path from the model, each incident "
                 "given a loss drawn from past incidents of the site's region. Totals add "
                 "scenarios up first, then take quantiles."),
    ("Coverage", "How often the actual value stayed at or below a forecast quantile in the "
                 "backtest: about 95% is right for a P95."),
    ("wQL", "Weighted quantile loss: the backtest's accuracy score of P50, P90 and P95 together "
            "(lower is better)."),
    ("HVG", "High-value goods: the categories whose losses the audit matches to security reports."),
    ("Reporting rate", "The share of unexplained high-value stock losses that had a security "
                       "report (the audit)."),
    ("Escalation", "A site whose P95 for a week is above its threshold (elevated), or above "
                   "twice it by default (severe)."),
    ("Outlier score", "How unusual a past week was for its site: -log of the chance of a week "
                      "at least as extreme (5 is about 1 in 150)."),
)  # fmt: skip


def links_section(p: ReservesPage) -> Section:
    """Downloads of the figures and links to the evidence behind them."""
    e = html.escape
    downloads = " · ".join(f"<a href='{e(p.exports[k])}'>{e(label)}</a>"
                           for k, label in EXPORT_LABELS.items() if k in p.exports)  # fmt: skip
    evidence = "".join(f"<li><a href='{e(p.links[k])}'>{e(label)}</a></li>"
                       for k, label in LINK_LABELS.items() if k in p.links)  # fmt: skip
    body = (f"<p id='downloads'><b>Download:</b> {downloads or 'none written'}. Columns are the "
            "database's (<code>reserves</code>, <code>reserves_totals</code>, "
            "<code>reserves_horizon</code>); amounts in EUR.</p>"
            + (f"<ul>{evidence}</ul>" if evidence else "<p class='note'>No evidence pages for this date.</p>"))  # fmt: skip
    return Section("Downloads and evidence", body)


def basis_section(p: ReservesPage) -> Section:
    """The model as published, calibration in incidents and euros, the reporting rate."""
    return Section("What the figures rest on", _model(p) + _calibration(p) + _reporting(p))


def _model(p: ReservesPage) -> str:
    version = html.escape(str(p.model.get("version") or p.first(schema.MODEL_VERSION)))
    weights = p.model.get("ensemble") or {}
    if len(weights) > 1:
        parts = ", ".join(f"{html.escape(m)} ({w:.0%})" for m, w in
                          sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])))  # fmt: skip
        what = (f"an ensemble of {len(weights)} models mixed by weight: {parts}. Its registry "
                f"version is <code>{version}</code> (named after its DeepAR member)")  # fmt: skip
    else:
        what = f"one model, <code>{version}</code>"
    target = _TARGETS.get(p.target, html.escape(p.target))
    return (f"<p><b>Model.</b> The incident forecasts come from {what}. They forecast weekly "
            f"{target}; losses in EUR are simulated from those counts.</p>")  # fmt: skip


def _calibration(p: ReservesPage) -> str:
    cov = p.coverage or {}
    if not cov.get("available"):
        why = html.escape(str(cov.get("reason") or "no backtest for this date"))
        return f"<p><b>Calibration.</b> Not checked in euros: {why}.</p>"
    rows = "".join(
        f"<tr><td>P{float(q) * 100:g}</td><td>{pct(v.get('incidents'))}</td><td>{pct(v.get('loss_eur'))}</td>"
        f"<td>{pct(((cov.get('network') or {}).get(q) or {}).get('loss_eur'))}</td><td>{float(q):.0%}</td></tr>"
        for q, v in sorted((cov.get("sites") or {}).items(), key=lambda kv: float(kv[0]))
    )  # fmt: skip
    return (f"<p><b>Calibration.</b> On the backtest's held-out windows "
            f"({', '.join(cov.get('windows', []))}): how often the actual stayed at or below "
            f"each forecast quantile, over {count(cov.get('site_weeks'))} site-weeks and "
            f"{count(cov.get('network_weeks'))} network weeks.</p><table><thead><tr><th>Quantile</th>"
            "<th>Incidents (site-weeks)</th><th>Loss in EUR (site-weeks)</th>"
            "<th>Network loss in EUR (weeks)</th><th>Target</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")  # fmt: skip


def _reporting(p: ReservesPage) -> str:
    audit = p.reporting
    if audit is None or not len(audit):
        return "<p><b>Reporting rate.</b> No reporting-rate audit for this date.</p>"
    net = audit[audit[schema.AUDIT_LEVEL] == schema.AUDIT_LEVELS[2]]
    if not len(net):
        return "<p><b>Reporting rate.</b> The audit holds no network rate.</p>"
    row = net.iloc[0]
    rate = float(row[schema.REPORTING_RATE])
    regions = audit[audit[schema.AUDIT_LEVEL] == schema.AUDIT_LEVELS[1]].sort_values(schema.REPORTING_RATE)
    low = ", ".join(f"{html.escape(str(r[schema.AUDIT_ID]))} {pct(r[schema.REPORTING_RATE], 0)}" for _, r in regions.head(2).iterrows())
    if p.target == "estimated_thefts":
        meaning = ("The model forecasts estimated thefts, which count unreported losses too, so the "
                   f"reserves are not scaled down by it; a forecast of reported incidents alone would "
                   f"see about {pct(rate, 0)} of them.")  # fmt: skip
    else:
        meaning = (f"The model forecasts reported incidents only: actual thefts may be about "
                   f"{1 / rate:.1f} times these figures." if rate > 0 else "")  # fmt: skip
    lowest = f" Lowest regions: {low}." if low else ""
    return (f"<p><b>Reporting rate.</b> The audit found {pct(rate)} of unexplained high-value "
            f"losses reported to security (interval {pct(row[schema.REPORTING_RATE_LO])} to "
            f"{pct(row[schema.REPORTING_RATE_HI])}).{lowest} {meaning}</p>")  # fmt: skip


def escalation_section(p: ReservesPage) -> Section:
    """Escalating sites: the rule in words, the chart, the table (what crossed: count or EUR)."""
    hot = escalating_sites(p.reserves, p.thresholds)
    if not len(hot):
        return Section("Escalating sites (0)", escalation_rules(p) + "<p>No site crosses its escalation threshold.</p>")
    hot = hot.assign(**{schema.CROSSED_ON: crossed_on(hot)})
    cols = [schema.WAREHOUSE_ID, schema.REGION, schema.ESCALATION_LEVEL, schema.CROSSED_ON, schema.PERIOD_START,
            schema.INCIDENTS_P95, schema.INCIDENTS_THRESHOLD, schema.LOSS_EUR_P95,
            schema.LOSS_EUR_THRESHOLD, schema.THRESHOLD_SOURCE]  # fmt: skip
    body = escalation_rules(p) + escalation_chart(hot) + page_table(hot[[c for c in cols if c in hot]], level=True)
    return Section(f"Escalating sites ({len(hot)})", body)


def escalation_rules(p: ReservesPage) -> str:
    """When a site escalates, in words, with the settings in force."""
    r = p.rules
    q = float(r.get("quantile", 0.95))
    margin, severe = float(r.get("history_margin", 1.25)), float(r.get("severe_factor", 2.0))
    set_inc, set_eur = len(r.get("incidents_p95") or {}), len(r.get("loss_eur_p95") or {})
    settings = (f" Security has set {set_inc} incident and {set_eur} EUR threshold(s) by hand."
                if set_inc or set_eur else "")  # fmt: skip
    return (
        "<p class='note'><b>The rule.</b> A site escalates when its P95 for a week is above its "
        "threshold, in incidents <i>or</i> in EUR; <i>severe</i> when above "
        f"{severe:g}× the threshold. By default the incident threshold is {margin:g}× the "
        f"{q:.0%} quantile of the site's own weekly incidents so far (at least 1, rounded up), "
        f"and the EUR threshold is the {q:.0%} quantile of the loss of a week with exactly that "
        "many incidents, from the region's past losses. Because both come from the same loss "
        "history, a site's EUR risk moves with its incidents: sites escalate on incidents, "
        "and their loss P95 can stay under the EUR threshold (column <i>Crossed on</i>). "
        f"A limit finance sets in EUR (<code>escalation.loss_eur_p95</code>) is judged on its own.{settings}</p>"
    )  # fmt: skip


def glossary_section(_p: ReservesPage) -> Section:
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in GLOSSARY)
    return Section("Glossary", f"<dl class='glossary'>{items}</dl>")


def lineage_footer(p: ReservesPage, extra: dict[str, Any] | None = None) -> str:
    """Where every figure comes from: versions, snapshot, calibration method, inputs."""
    e = html.escape
    facts = {
        "As of": str(p.as_of),
        "Model version": p.model.get("version") or p.first(schema.MODEL_VERSION),
        "Data snapshot": p.first(schema.SNAPSHOT_ID),
        "riskcast version": p.first(schema.CODE_VERSION),
        "Calibration of the quantiles": p.first(schema.CALIBRATION_METHOD),
        "Root causes from": str(p.causes[0]) if p.causes[0] else "none yet",
        **(extra or {}),
    }
    rows = "".join(f"<tr><th>{e(k)}</th><td class='t'><code>{e(str(v))}</code></td></tr>"
                   for k, v in facts.items() if v not in (None, "", "-"))  # fmt: skip
    return f"<footer id='lineage'><h2>Lineage</h2><table>{rows}</table></footer>"


def reporting_rows(audit: pd.DataFrame | None) -> pd.DataFrame | None:
    """The audit table's region and network rows (what the page quotes)."""
    if audit is None or schema.AUDIT_LEVEL not in audit:
        return None
    return audit[audit[schema.AUDIT_LEVEL].isin(schema.AUDIT_LEVELS[1:])].reset_index(drop=True)


def missing_section(p: ReservesPage) -> Section | None:
    """The source-days whose drops had not (all) arrived (the panel summary's
    ``missing_data``): those site-periods were left out of the history the forecast learnt
    from (missing, never counted as zero). None when nothing was missing."""
    missing = p.missing or {}
    if not missing.get("days"):
        return None
    rows = "".join(
        f"<tr><td>{html.escape(m['day'])}</td><td>{html.escape(m['source'])}</td>"
        f"<td>{html.escape('every site' if m['sites'] == 'all' else ', '.join(m['sites']))}</td></tr>"
        for m in missing["listed"]
    )
    more = missing["days"] - len(missing["listed"])
    body = (
        "<p>These drops had not (all) arrived when the data was read. Their site-weeks were left "
        "out of the history the forecast learnt from (missing, not zero); a late file restates "
        "the day and the next run republishes.</p>"
        f"<table><tr><th>Day</th><th>Source</th><th>Sites</th></tr>{rows}</table>"
        + (f"<p>... {more} more in the panel summary.</p>" if more > 0 else "")
    )
    return Section(f"Data missing from this forecast ({missing['days']} source-day(s))", body)
