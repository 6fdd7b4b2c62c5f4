"""The audit's short report, rendered from the audit table (Markdown, then HTML).

The HTML page adds a forest plot (``audit_figures.forest_plot``): each site's reporting rate
with its interval, grouped by region. Sites without a mature unexplained loss have no rate:
they are listed as "no data", never ranked.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
from markdown_it import MarkdownIt

from forecasting.audit.figures import forest_plot
from forecasting.core import schema

_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
    "text-align:right}th{background:#f3f3f3}"
)


def render_markdown(table: pd.DataFrame, summary: Any, lags: pd.Series) -> str:
    """The report as Markdown: headline, method, regions, sites (lowest rate first), data notes."""
    level = int(round(summary.interval_level * 100))
    lines = [
        f"# Reporting-rate audit as of {summary.as_of}",
        "",
        _headline(summary, level),
        "",
        "## Method",
        "",
        "An HVG security report (any status but false alarm) and an UNEXPLAINED "
        "reconciliation loss line are the same theft when warehouse and sku match and the "
        f"count falls 0-{summary.match_window_days} days after the incident; matching is one-to-one, closest pairs first. The reporting "
        "rate is the share of unexplained HVG loss lines matched to a report. Only losses "
        f"counted from {summary.window_start} to {summary.window_end} count (mature: their "
        f"report had time to arrive). Site rates are empirical-Bayes estimates shrunk towards "
        f"the region, with {level}% posterior intervals; region and network rates are pooled "
        f"shares with {level}% Jeffreys intervals.",
        "",
        "## Regions",
        "",
        _region_table(table.loc[table[schema.AUDIT_LEVEL] != schema.AUDIT_LEVELS[0]]),
        "",
        "## Warehouses (lowest estimated reporting rate first; no data last)",
        "",
        _site_table(table.loc[table[schema.AUDIT_LEVEL] == schema.AUDIT_LEVELS[0]]),
        "",
        "## Data notes",
        "",
        *_notes(summary, lags),
        "",
    ]
    return "\n".join(lines)


def render_html(markdown: str, title: str, table: pd.DataFrame | None = None) -> str:
    """A standalone HTML page of the Markdown report (markdown-it, tables enabled); with the
    audit ``table``, the forest plot of site rates comes right after the headline."""

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    if table is not None and (table[schema.AUDIT_LEVEL] == schema.AUDIT_LEVELS[0]).any():
        head, sep, rest = body.partition("<h2>Method</h2>")
        figure = "<h2>Reporting rate per site</h2>\n" + forest_plot(table) + "\n"
        body = head + figure + sep + rest if sep else body + figure
    return (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body>\n{body}</body></html>\n"
    )


def _headline(summary: Any, level: int) -> str:
    if summary.network_rate is None:
        return "No mature unexplained HVG losses yet: no reporting rate can be estimated."
    return (
        f"**{summary.network_rate:.1%}** of unexplained HVG losses were reported "
        f"({level}% interval {summary.network_rate_lo:.1%}-{summary.network_rate_hi:.1%}; "
        f"{summary.reported_losses} of {summary.unexplained_losses} loss lines, "
        f"{summary.warehouses} warehouses). A model trained on reports alone sees about "
        f"{summary.network_rate:.0%} of the thefts, and more at sites that report more."
    )


def _region_table(df: pd.DataFrame) -> str:
    """Regions then the network: pooled counts, so the raw share is the rate (shown once)."""
    cols = [
        (schema.AUDIT_ID, "region", str),
        (schema.UNEXPLAINED_LOSSES_N, "unexplained losses", str),
        (schema.REPORTED_LOSSES, "reported", str),
        (schema.REPORTING_RATE, "reporting rate", _pct),
        (None, "interval", _interval),
        (schema.UNMATCHED_REPORTS_N, "reports without a loss", str),
    ]
    return _markdown_table(df, cols)


def _site_table(df: pd.DataFrame) -> str:
    """Sites with data, lowest estimated rate first; sites without data last, unranked."""
    has = df[schema.UNEXPLAINED_LOSSES_N] > 0
    ranked = df[has].sort_values([schema.REPORTING_RATE, schema.AUDIT_ID])
    rest = df[~has].sort_values([schema.REGION, schema.AUDIT_ID])
    cols = [
        (schema.AUDIT_ID, "warehouse", str),
        (schema.REGION, "region", lambda v: "" if v is None or pd.isna(v) else str(v)),
        (schema.UNEXPLAINED_LOSSES_N, "unexplained losses", str),
        (schema.REPORTED_LOSSES, "reported", str),
        (schema.REPORTING_RATE_RAW, "raw share", _pct),
        (None, "estimated rate (interval)", _estimate),
        (schema.UNMATCHED_REPORTS_N, "reports without a loss", str),
    ]
    return _markdown_table(pd.concat([ranked, rest]), cols)


def _markdown_table(df: pd.DataFrame, cols: list) -> str:
    out = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        out.append(
            "| " + " | ".join(fmt(row if c is None else row[c]) for c, _, fmt in cols) + " |"
        )
    return "\n".join(out)


def _interval(row: pd.Series) -> str:
    lo, hi = row[schema.REPORTING_RATE_LO], row[schema.REPORTING_RATE_HI]
    return "-" if pd.isna(lo) or pd.isna(hi) else f"{lo:.1%}-{hi:.1%}"


def _estimate(row: pd.Series) -> str:
    if not row[schema.UNEXPLAINED_LOSSES_N] > 0:
        return "no data (no mature unexplained loss)"
    return f"{_pct(row[schema.REPORTING_RATE])} ({_interval(row)})"


def _pct(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.1%}"


def _notes(summary: Any, lags: pd.Series) -> list[str]:
    notes = [f"- HVG reports (not false alarms) in the window: {summary.hvg_reports}."]
    if len(lags):
        notes.append(
            f"- Days from incident to the count that found it (matched pairs): median "
            f"{lags.median():g}, 90th percentile {lags.quantile(0.9):g}, max {lags.max():g}."
        )
    skipped = {k: v for k, v in summary.skipped_unknown_warehouse.items() if v}
    if skipped:
        parts = ", ".join(f"{v} {k}" for k, v in sorted(skipped.items()))
        notes.append(f"- Rows skipped at warehouses missing from the warehouses table: {parts}.")
    return notes
