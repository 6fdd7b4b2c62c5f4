"""The reserves page: read what it shows beyond the day's frames from the lake and write it.

``write_reserves_report`` writes ``reports/as_of=D/reserves.html`` (self-contained: inline
CSS and SVG); ``render_reserves_section`` is the same content as one ``<section>`` fragment.
The page itself is built in ``forecasting.reserves.page``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from forecasting.core.errors import ConfigError
from forecasting.core.html import render_report
from forecasting.core.lake import Lake, join, parse_date
from forecasting.core.layout import RESERVES, TOTALS_FILE
from forecasting.reserves.causes import causes_block, insert_causes, latest_causes
from forecasting.reserves.page import PageContext, reserves_lead, reserves_sections
from forecasting.reserves.track.section import track_section


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
) -> str:
    """The whole self-contained page."""
    lead = reserves_lead(reserves, totals, as_of, ctx)
    sections = reserves_sections(reserves, totals, thresholds, ctx)
    return render_report(sections, title=f"riskcast reserves as of {as_of}", lead=lead)


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
        sections=(track_section(lake, as_of),),  # forecasting.reserves.track's scoring of as_of
    )
    page = render_reserves_page(reserves, totals, thresholds, as_of, ctx)
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
