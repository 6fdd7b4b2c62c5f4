"""The reserves page: read what it shows beyond the day's frames from the lake and write it.

``write_reserves_report`` writes ``reports/as_of=D/reserves.html`` (self-contained: inline
CSS and SVG); ``render_reserves_section`` is the same content as one ``<section>`` fragment.
The page itself is built in ``forecasting.reserves.page``.
"""

from __future__ import annotations

import html
from datetime import date

import pandas as pd

from forecasting.core.errors import ConfigError
from forecasting.core.html import Section, render_report
from forecasting.core.lake import Lake, join, parse_date
from forecasting.core.layout import RESERVES, TOTALS_FILE
from forecasting.reserves.causes import causes_block, insert_causes, latest_causes
from forecasting.reserves.page import PageContext, reserves_lead, reserves_sections


def render_reserves_section(
    reserves: pd.DataFrame,
    totals: pd.DataFrame,
    thresholds: pd.DataFrame,
    as_of: date,
    ctx: PageContext | None = None,
) -> str:
    """HTML fragment (``<section>``): status, headline, fans, escalating sites, tables."""
    ctx = ctx or PageContext()
    parts = [
        f"<section id='reserves'><h2>Reserves as of {as_of}</h2>",
        reserves_lead(reserves, totals, as_of, ctx),
    ]
    for sec in reserves_sections(reserves, totals, thresholds, ctx):
        parts.append(f"<h3>{sec.title}</h3>\n{sec.body}")
    parts.append("</section>")
    return "\n".join(parts)


def render_reserves_page(
    reserves: pd.DataFrame,
    totals: pd.DataFrame,
    thresholds: pd.DataFrame,
    as_of: date,
    ctx: PageContext,
    missing: dict | None = None,
) -> str:
    """The whole self-contained page; ``missing``: the panel summary's ``missing_data``."""
    lead = reserves_lead(reserves, totals, as_of, ctx)
    sections = reserves_sections(reserves, totals, thresholds, ctx)
    if missing and missing.get("days"):
        sections.append(missing_section(missing))
    return render_report(sections, title=f"riskcast reserves as of {as_of}", lead=lead)


def missing_section(missing: dict) -> Section:
    """The source-days whose drops had not (all) arrived: those site-periods were left out
    of the history the forecast learnt from (missing, never counted as zero)."""
    rows = "".join(
        f"<tr><td>{html.escape(m['day'])}</td><td>{html.escape(m['source'])}</td>"
        f"<td>{html.escape('every site' if m['sites'] == 'all' else ', '.join(m['sites']))}</td></tr>"
        for m in missing["listed"]
    )
    more = len(missing["listed"]) < missing["days"]
    body = (
        "<p>These drops had not (all) arrived when the data was read. Their site-weeks were left "
        "out of the history the forecast learnt from (missing, not zero); a late file restates "
        "the day and the next run republishes.</p>"
        f"<table><tr><th>day</th><th>source</th><th>sites</th></tr>{rows}</table>"
        + (f"<p>... {missing['days'] - len(missing['listed'])} more in the panel summary.</p>" if more else "")
    )
    return Section(f"Data missing from this forecast ({missing['days']} source-day(s))", body)


def write_reserves_report(
    lake: Lake,
    as_of: date,
    reserves: pd.DataFrame,
    totals: pd.DataFrame,
    thresholds: pd.DataFrame,
    horizon: dict[str, float] | None = None,
) -> str:
    """Write ``reports/as_of=D/reserves.html``; return its URI.

    Reads the backtest's ``gate.json`` of ``as_of`` and the totals of the latest earlier
    reserves date (both optional). ``horizon``: network quantiles over the whole horizon.
    """
    gate_uri = lake.backtest_file(as_of, "gate")
    previous = previous_as_of(lake, as_of)
    ctx = PageContext(
        gate=lake.read_json(gate_uri) if lake.exists(gate_uri) else None,
        previous_as_of=previous,
        previous_totals=lake.read_parquet(lake.reserves_file(previous, TOTALS_FILE))
        if previous
        else None,
        horizon=horizon,
    )
    summary_uri = lake.panel_summary(as_of)
    missing = lake.read_json(summary_uri).get("missing_data") if lake.exists(summary_uri) else None
    page = render_reserves_page(reserves, totals, thresholds, as_of, ctx, missing)
    page = insert_causes(page, causes_block(*latest_causes(lake, as_of)))  # forecasting.explain's
    return lake.write_text(lake.reserves_report(as_of), page)


def previous_as_of(lake: Lake, as_of: date) -> date | None:
    """The latest reserves date before ``as_of`` that has a totals file, else None."""
    days = []
    for name in lake.ls(join(lake.uri, RESERVES)):
        try:
            day = parse_date(name.partition("=")[2], "reserves partition")
        except (ConfigError, ValueError):
            continue
        if day < as_of:
            days.append(day)
    for day in sorted(days, reverse=True):
        if lake.exists(lake.reserves_file(day, TOTALS_FILE)):
            return day
    return None
