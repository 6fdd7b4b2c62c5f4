"""The reserves page for finance: headline figures, status and lineage, fans, tables.

Built from the reserves stage frames (``reserves``, ``totals``, ``thresholds``) and a
``PageContext`` (the backtest gate, the previous publication's totals, the horizon totals);
``forecasting.reserves.report`` reads those from the lake and writes the page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from forecasting.core import schema
from forecasting.core.html import Section, count, eur, pct, table_html
from forecasting.reserves.escalation import escalating_sites
from forecasting.reserves.figures import escalation_chart, totals_fans
from forecasting.reserves.weeks import FirstPeriod

HEADERS = {
    schema.WAREHOUSE_ID: "Warehouse", schema.REGION: "Region", schema.COUNTRY: "Country",
    schema.TOTAL_ID: "Total", schema.PERIOD_START: "Week starting", schema.PERIOD_END: "Week ending",
    schema.INCIDENTS_P50: "Incidents P50", schema.INCIDENTS_P90: "Incidents P90",
    schema.INCIDENTS_P95: "Incidents P95", schema.LOSS_EUR_P50: "Loss P50",
    schema.LOSS_EUR_P90: "Loss P90", schema.LOSS_EUR_P95: "Loss P95",
    schema.LOSS_EUR_MEAN: "Expected loss", schema.ESCALATION_LEVEL: "Escalation",
    schema.INCIDENTS_THRESHOLD: "Threshold (incidents)", schema.LOSS_EUR_THRESHOLD: "Threshold (EUR)",
    schema.THRESHOLD_SOURCE: "Threshold from",
}  # fmt: skip
_LOSS = (schema.LOSS_EUR_P50, schema.LOSS_EUR_P90, schema.LOSS_EUR_P95)
_INCIDENTS = (schema.INCIDENTS_P50, schema.INCIDENTS_P90, schema.INCIDENTS_P95)
FORMATS = {
    **{c: eur for c in (*_LOSS, schema.LOSS_EUR_MEAN, schema.LOSS_EUR_THRESHOLD)},
    **{c: count for c in (*_INCIDENTS, schema.INCIDENTS_THRESHOLD)},
    schema.PERIOD_START: lambda v: str(pd.Timestamp(v).date()),
    schema.PERIOD_END: lambda v: str(pd.Timestamp(v).date()),
    schema.ESCALATION_LEVEL: lambda v: schema.ESCALATION_LEVELS[int(v)],
}
HOW_TO_READ = (
    "<ul class='note'><li><b>P50</b>: the loss we expect to be exceeded one week in two: the "
    "central estimate.</li><li><b>P90</b> and <b>P95</b>: losses exceeded only one week in ten "
    "and one week in twenty. Reserve at P95 to be covered in 19 weeks out of 20.</li>"
    "<li>Totals are computed from whole scenarios, so a region's or the network's P95 is "
    "<i>less</i> than the sum of its sites' P95s (bad weeks rarely hit every site at once).</li>"
    "<li>The figures are simulations: weekly incident forecasts multiplied by the losses of past "
    "incidents in the same region. The calibration check compares earlier forecasts with what "
    "then happened.</li><li>An <b>escalating</b> site's P95 exceeds its threshold (its own "
    "history, or a limit set by security); <i>severe</i> means well above it.</li></ul>"
)


@dataclass(frozen=True)
class PageContext:
    """What the page shows beyond the day's frames; every field optional.

    ``gate``: the backtest's ``gate.json``; ``previous_as_of`` / ``previous_totals``: the
    latest earlier publication's totals frame; ``horizon``: network quantiles of the loss and
    incidents summed over every period (keys are the reserves figure columns).
    """

    gate: dict[str, Any] | None = None
    previous_as_of: date | None = None
    previous_totals: pd.DataFrame | None = None
    horizon: dict[str, float] | None = None
    sections: tuple[Section, ...] = ()  # added at the end: "How past reserves held up"


def reserves_lead(
    reserves: pd.DataFrame, totals: pd.DataFrame, as_of: date, ctx: PageContext
) -> str:
    """The top of the page: gate status and lineage in plain words, then the headline cards."""
    return _status(reserves, as_of, ctx) + _headline(totals, as_of, ctx)


def reserves_sections(
    reserves: pd.DataFrame, totals: pd.DataFrame, thresholds: pd.DataFrame, ctx: PageContext
) -> list[Section]:
    """How to read, fan charts, escalating sites, totals (network first), sites per week."""
    hot = escalating_sites(reserves, thresholds)
    if len(hot):
        cols = [schema.WAREHOUSE_ID, schema.REGION, schema.COUNTRY, schema.ESCALATION_LEVEL,
                schema.PERIOD_START, schema.INCIDENTS_P95, schema.INCIDENTS_THRESHOLD,
                schema.LOSS_EUR_P95, schema.LOSS_EUR_THRESHOLD, schema.THRESHOLD_SOURCE]  # fmt: skip
        escalating = escalation_chart(hot) + _table(
            hot[[c for c in cols if c in hot.columns]], level=True
        )
    else:
        escalating = "<p>No site crosses its escalation threshold.</p>"
    return [
        Section("How to read this", HOW_TO_READ),
        Section("Loss over the horizon", totals_fans(totals, ctx.previous_totals)),
        Section(f"Escalating sites ({len(hot)})", escalating),
        Section("Totals (network first, then regions)", _totals_table(totals)),
        Section("Reserves per warehouse", _sites_table(reserves)),
        *ctx.sections,
    ]


def _status(reserves: pd.DataFrame, as_of: date, ctx: PageContext) -> str:
    gate = ctx.gate
    first = reserves.iloc[0] if len(reserves) else {}
    coverage = (
        first.get(schema.BACKTEST_COVERAGE_P95, float("nan")) if len(reserves) else float("nan")
    )
    if gate is None:
        cls, text = (
            "bad",
            "No calibration check was run for this date: treat the figures as unchecked.",
        )
    elif gate.get("passed"):
        cls = "ok"
        coverage = (gate.get("figures") or {}).get("0.95", {}).get("coverage", coverage)
        text = (
            f"<b>Calibration check passed.</b> On {len(gate.get('windows', []))} past forecast "
            f"window(s) held out from fitting, actual incidents stayed at or below the forecast P95 "
            f"in {pct(coverage)} of site-weeks (target 95%, tolerance ±{gate.get('tolerance', 0):g})."
        )
    else:
        cls = "bad"
        text = (
            "<b>Calibration check FAILED: these figures are not fit for booking and are not "
            f"published.</b> {html.escape(str(gate.get('reason') or ''))} Held-out P95 coverage "
            f"{pct(coverage)} (target 95%)."
        )
    lineage = (
        f"Forecast as of <b>{as_of}</b> by model <code>{html.escape(str(first.get(schema.MODEL_VERSION, '-')))}"
        f"</code>, trained on data snapshot <code>{html.escape(str(first.get(schema.SNAPSHOT_ID, '-')))}</code>"
        f" with riskcast {html.escape(str(first.get(schema.CODE_VERSION, '-')))}; calibration: "
        f"{html.escape(str(first.get(schema.CALIBRATION_METHOD, '-')))}. "
        f"{reserves[schema.WAREHOUSE_ID].nunique() if len(reserves) else 0} warehouses, "
        f"{reserves[schema.PERIOD_START].nunique() if len(reserves) else 0} weeks ahead."
    )
    return (
        f"<div class='banner {cls}' id='status'>{text}<br><span class='note'>{lineage}</span></div>"
    )


def _headline(totals: pd.DataFrame, as_of: date, ctx: PageContext) -> str:
    network = totals[totals[schema.TOTAL_ID] == schema.NETWORK_ID].sort_values(schema.PERIOD_START)
    if not len(network):
        return "<p>No network total.</p>"
    nxt = network.iloc[0]
    prev = _previous_row(ctx, nxt[schema.PERIOD_START])
    first = FirstPeriod.of(as_of, network)  # "Next week", or a week under way at as_of
    cards = []
    for col, label in zip(_LOSS, ("P50", "P90", "P95"), strict=True):
        delta = ""
        if prev is not None:
            diff = float(nxt[col]) - float(prev[col])
            rel = diff / float(prev[col]) if float(prev[col]) else float("nan")
            arrow = "up" if diff > 0 else "down"
            delta = (
                f"<div class='d {arrow}'>{eur(diff, signed=True)} ({pct(rel, signed=True)})</div>"
            )
        cards.append(
            f"<div class='card'><div class='k'>{first.label} {label}</div>"
            f"<div class='v'>{eur(nxt[col])}</div>{delta}</div>"
        )
    if ctx.horizon:
        for col, label in zip(_LOSS, ("P50", "P90", "P95"), strict=True):
            cards.append(
                f"<div class='card'><div class='k'>{len(network)} weeks {label}</div>"
                f"<div class='v'>{eur(ctx.horizon.get(col))}</div></div>"
            )
    if prev is not None:
        since = (
            f"Change against the publication of {ctx.previous_as_of} for the same week"
            if pd.Timestamp(prev[schema.PERIOD_START]) == pd.Timestamp(nxt[schema.PERIOD_START])
            else f"Change against the first week of the publication of {ctx.previous_as_of}"
        )
    else:
        since = "No earlier publication to compare with"
    return (
        f"<h2 id='headline'>Network loss reserve, {first.label.lower()} ({first.span})</h2>"
        + (f"<p class='note' id='partly-observed'>{html.escape(first.note())}</p>" if first.note() else "")
        + f"<div class='cards'>{''.join(cards)}</div><p class='note'>{since}. Incidents "
        f"{first.label.lower()}: {count(nxt[schema.INCIDENTS_P50])} (P50), "
        f"{count(nxt[schema.INCIDENTS_P95])} (P95).</p>"
    )


def _previous_row(ctx: PageContext, period_start: Any) -> pd.Series | None:
    prev = ctx.previous_totals
    if prev is None or not len(prev):
        return None
    net = prev[prev[schema.TOTAL_ID] == schema.NETWORK_ID].sort_values(schema.PERIOD_START)
    same = net[pd.to_datetime(net[schema.PERIOD_START]) == pd.Timestamp(period_start)]
    return same.iloc[0] if len(same) else (net.iloc[0] if len(net) else None)


def _totals_table(totals: pd.DataFrame) -> str:
    order = totals.assign(_net=totals[schema.TOTAL_ID] != schema.NETWORK_ID)
    order = order.sort_values(["_net", schema.TOTAL_ID, schema.PERIOD_START], kind="stable")
    cols = [schema.TOTAL_ID, schema.PERIOD_START, *_INCIDENTS, *_LOSS, schema.LOSS_EUR_MEAN]
    return _table(order[cols], total=True)


def _sites_table(reserves: pd.DataFrame) -> str:
    cols = [schema.WAREHOUSE_ID, schema.REGION, schema.COUNTRY, schema.PERIOD_START,
            *_INCIDENTS, *_LOSS, schema.ESCALATION_LEVEL]  # fmt: skip
    first = reserves[reserves[schema.PERIOD_START] == reserves[schema.PERIOD_START].min()]
    first = first.sort_values([schema.LOSS_EUR_P95, schema.WAREHOUSE_ID], ascending=[False, True])
    when = "The first week"
    if len(first):
        period = FirstPeriod.of(pd.Timestamp(first[schema.AS_OF_DATE].iloc[0]).date(), first)
        when = f"{period.label} ({period.span})"
    return (
        f"<p class='note'>{when}, largest P95 first.</p>"
        + _table(first[cols], level=True)
        + "<details><summary>Every week of every warehouse</summary>"
        + _table(reserves.sort_values([schema.WAREHOUSE_ID, schema.PERIOD_START])[cols], level=True)
        + "</details>"
    )


def _table(frame: pd.DataFrame, level: bool = False, total: bool = False) -> str:
    def row_class(_idx: object, row: pd.Series) -> str:
        if total and row.get(schema.TOTAL_ID) == schema.NETWORK_ID:
            return "total"
        return (
            f"lvl{int(row[schema.ESCALATION_LEVEL])}"
            if level and int(row[schema.ESCALATION_LEVEL])
            else ""
        )

    return table_html(
        frame.reset_index(drop=True),
        headers=HEADERS,
        formats=FORMATS,
        row_class=row_class,
        index=False,
        left=(schema.ESCALATION_LEVEL,),
    )
