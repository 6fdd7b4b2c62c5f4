"""The reserves page for finance: what it shows, built from one ``ReservesPage`` of inputs.

``ReservesPage`` holds the reserves stage's frames and everything read beside them (the
backtest's gate and EUR coverage, the published model, the audit's reporting rate, the
explain stage's causes, the previous publication, link targets); ``forecasting.reserves.report``
reads those from the lake and composes the page from the section functions here and in
``forecasting.reserves.notes``. Each section function takes the ``ReservesPage`` and
returns a ``Section`` (or None to leave it out).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from forecasting.core import schema
from forecasting.core.html import Section, count, eur, pct, table_html
from forecasting.reserves.figures import totals_fans
from forecasting.reserves.weeks import FirstPeriod

HEADERS = {
    schema.WAREHOUSE_ID: "Warehouse", schema.REGION: "Region", schema.COUNTRY: "Country",
    schema.TOTAL_ID: "Total", schema.PERIOD_START: "From", schema.PERIOD_END: "To",
    schema.INCIDENTS_P50: "Incidents P50", schema.INCIDENTS_P90: "Incidents P90",
    schema.INCIDENTS_P95: "Incidents P95", schema.LOSS_EUR_P50: "Loss P50",
    schema.LOSS_EUR_P90: "Loss P90", schema.LOSS_EUR_P95: "Loss P95",
    schema.LOSS_EUR_MEAN: "Expected loss", schema.ESCALATION_LEVEL: "Escalation",
    schema.INCIDENTS_THRESHOLD: "Threshold (incidents)", schema.LOSS_EUR_THRESHOLD: "Threshold (EUR)",
    schema.THRESHOLD_SOURCE: "Threshold from", schema.PERIOD_LABEL: "Period",
    schema.N_PERIODS: "Weeks", schema.CROSSED_ON: "Crossed on",
}  # fmt: skip
_LOSS = (schema.LOSS_EUR_P50, schema.LOSS_EUR_P90, schema.LOSS_EUR_P95)
_INCIDENTS = (schema.INCIDENTS_P50, schema.INCIDENTS_P90, schema.INCIDENTS_P95)
FORMATS = {
    **{c: eur for c in (*_LOSS, schema.LOSS_EUR_MEAN, schema.LOSS_EUR_THRESHOLD)},
    **{c: count for c in (*_INCIDENTS, schema.INCIDENTS_THRESHOLD, schema.N_PERIODS)},
    schema.PERIOD_START: lambda v: str(pd.Timestamp(v).date()),
    schema.PERIOD_END: lambda v: str(pd.Timestamp(v).date()),
    schema.ESCALATION_LEVEL: lambda v: schema.ESCALATION_LEVELS[int(v)],
}


@dataclass(frozen=True)
class ReservesPage:
    """Everything the page shows. Frames: the reserves stage's files of ``as_of``.

    ``gate``: the backtest's ``gate.json``; ``coverage``: ``reserves.coverage`` output;
    ``model``: ``version`` and ``ensemble`` (member -> weight); ``reporting``: the audit's
    region and network rows; ``target``: the panel target the model forecasts; ``rules``:
    the escalation settings (``history_margin``, ``severe_factor``, ``quantile``, ...);
    ``causes``: (explain date, flagged weeks); ``links`` / ``exports``: name -> href.
    """

    as_of: date
    reserves: pd.DataFrame
    totals: pd.DataFrame
    thresholds: pd.DataFrame
    horizon: pd.DataFrame | None = None
    gate: dict[str, Any] | None = None
    coverage: dict[str, Any] | None = None
    model: dict[str, Any] = field(default_factory=dict)
    reporting: pd.DataFrame | None = None
    target: str = "estimated_thefts"
    rules: dict[str, Any] = field(default_factory=dict)
    causes: tuple[date | None, pd.DataFrame | None] = (None, None)
    previous_as_of: date | None = None
    previous_totals: pd.DataFrame | None = None
    links: dict[str, str] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    track: Section | None = None  # "How past reserves held up" (forecasting.reserves.track)
    missing: dict[str, Any] | None = None  # the panel summary's missing_data (drops not arrived)

    def first(self, column: str, default: Any = "-") -> Any:
        """A provenance value (the same on every row) of the reserves."""
        return self.reserves[column].iloc[0] if len(self.reserves) and column in self.reserves else default


# ----------------------------------------------------------------------------- the lead
def status_banner(p: ReservesPage) -> str:
    """Whether the figures passed the calibration check, in incidents and in euros."""
    gate, cov = p.gate, p.coverage or {}
    method = str(p.first(schema.CALIBRATION_METHOD, ""))
    euros = _euro_sentence(cov)
    if method.startswith("UNGATED"):
        cls, text = "bad", ("<b>No passing calibration check: these figures were computed with "
                            "--allow-ungated and are not fit for booking.</b>")  # fmt: skip
    elif gate is None:
        cls, text = "bad", "No calibration check was run for this date: treat the figures as unchecked."
    elif gate.get("passed"):
        fig = (gate.get("figures") or {}).get("0.95", {})
        cls = "ok"
        text = (f"<b>Calibration check passed.</b> In {len(gate.get('windows', []))} past forecast "
                f"windows held out from fitting ({count(gate.get('n'))} site-weeks), actual incidents "
                f"stayed at or below the forecast P95 in {pct(fig.get('coverage'))} of site-weeks "
                f"(target 95%, tolerance ±{float(gate.get('tolerance', 0)):.1%}).{euros}")  # fmt: skip
    else:
        cls = "bad"
        fig = (gate.get("figures") or {}).get("0.95", {})
        text = ("<b>Calibration check FAILED: these figures are not fit for booking and are not "
                f"published.</b> {html.escape(str(gate.get('reason') or ''))} Held-out P95 coverage "
                f"{pct(fig.get('coverage'))} (target 95%).{euros}")  # fmt: skip
    n_sites = p.reserves[schema.WAREHOUSE_ID].nunique() if len(p.reserves) else 0
    n_weeks = p.reserves[schema.PERIOD_START].nunique() if len(p.reserves) else 0
    scope = (f"{n_sites} warehouses, {n_weeks} weeks ahead; model and data lineage at the foot "
             "of the page.")  # fmt: skip
    return f"<div class='banner {cls}' id='status'>{text}<br><span class='note'>{scope}</span></div>"


def _euro_sentence(cov: dict[str, Any]) -> str:
    site = ((cov.get("sites") or {}).get("0.95") or {}).get("loss_eur")
    if not cov.get("available") or site is None:
        return " The check in euros was not available for this date."
    net = ((cov.get("network") or {}).get("0.95") or {}).get("loss_eur")
    net_text = (f"; the network's weekly loss stayed at or below its P95 in {pct(net)} of "
                f"{count(cov.get('network_weeks'))} weeks") if net is not None else ""  # fmt: skip
    return (f" In euros, the loss booked stayed at or below the loss P95 in {pct(site)} of "
            f"{count(cov.get('site_weeks'))} site-weeks{net_text}.")  # fmt: skip


def headline(p: ReservesPage) -> str:
    """The first forecast week's network P50/P90/P95 (next week, or the week under way at
    as_of: ``weeks.FirstPeriod``), with the change since the last publication, then the
    whole horizon's, from ``horizon`` (never a sum of weekly quantiles)."""
    network = _rows(p.totals, schema.NETWORK_ID)
    if not len(network):
        return "<p>No network total.</p>"
    nxt = network.iloc[0]
    prev = _previous_row(p, nxt[schema.PERIOD_START])
    first = FirstPeriod.of(p.as_of, network)  # "Next week", or a week under way at as_of
    cards = []
    for col, label in zip(_LOSS, ("P50", "P90", "P95"), strict=True):
        delta = ""
        if prev is not None:
            diff = float(nxt[col]) - float(prev[col])
            rel = diff / float(prev[col]) if float(prev[col]) else float("nan")
            delta = (f"<div class='d {'up' if diff > 0 else 'down'}'>{eur(diff, signed=True)} "
                     f"({pct(rel, signed=True)})</div>")  # fmt: skip
        cards.append(f"<div class='card'><div class='k'>{first.label} {label}</div>"
                     f"<div class='v'>{eur(nxt[col])}</div>{delta}</div>")  # fmt: skip
    whole = _span(p, schema.NETWORK_ID, "horizon")
    if whole is not None:
        span = f"{_day(whole[schema.PERIOD_START])} to {_day(whole[schema.PERIOD_END])}"
        for col, label in zip(_LOSS, ("P50", "P90", "P95"), strict=True):
            cards.append(f"<div class='card'><div class='k'>{html.escape(whole[schema.PERIOD_LABEL])} "
                         f"{label}</div><div class='v'>{eur(whole[col])}</div>"
                         f"<div class='d note'>{span}</div></div>")  # fmt: skip
    if prev is not None:
        same = pd.Timestamp(prev[schema.PERIOD_START]) == pd.Timestamp(nxt[schema.PERIOD_START])
        since = (f"Change against the publication of {p.previous_as_of} for the same week" if same
                 else f"Change against the first week of the publication of {p.previous_as_of}")  # fmt: skip
    else:
        since = "No earlier publication to compare with"
    note = first.note()
    return (f"<h2 id='headline'>Network loss reserve, {first.label.lower()} ({first.span})</h2>"
            + (f"<p class='note' id='partly-observed'>{html.escape(note)}</p>" if note else "")
            + f"<div class='cards'>{''.join(cards)}</div><p class='note'>{since}. Incidents "
            f"{first.label.lower()}: {count(nxt[schema.INCIDENTS_P50])} (P50), "
            f"{count(nxt[schema.INCIDENTS_P95])} (P95).</p>")  # fmt: skip


# ----------------------------------------------------------------------------- sections
def horizon_section(p: ReservesPage) -> Section | None:
    """Totals over the next 4 weeks, the horizon, and each month and quarter it covers."""
    if p.horizon is None or not len(p.horizon):
        return None
    h = p.horizon.assign(_kind=p.horizon[schema.PERIOD_KIND].map(schema.PERIOD_KINDS.index))
    h = h.sort_values(["_kind", schema.PERIOD_START], kind="stable")
    h = h.assign(**{schema.PERIOD_LABEL: [f"{lbl} (partial)" if part else lbl for lbl, part in
                                          zip(h[schema.PERIOD_LABEL], h[schema.IS_PARTIAL], strict=True)]})  # fmt: skip
    cols = [schema.PERIOD_LABEL, schema.PERIOD_START, schema.PERIOD_END, schema.N_PERIODS,
            schema.INCIDENTS_P50, schema.INCIDENTS_P95, *_LOSS, schema.LOSS_EUR_MEAN]  # fmt: skip
    net = h[h[schema.TOTAL_ID] == schema.NETWORK_ID]
    weekly = _rows(p.totals, schema.NETWORK_ID)[schema.LOSS_EUR_P95].astype(float).sum()
    whole = _span(p, schema.NETWORK_ID, "horizon")
    contrast = ""
    if whole is not None and weekly:
        diff = weekly / float(whole[schema.LOSS_EUR_P95]) - 1
        contrast = (f" Adding up the {len(_rows(p.totals, schema.NETWORK_ID))} weekly P95s instead "
                    f"would give {eur(weekly)}, {pct(abs(diff))} {'more' if diff >= 0 else 'less'}: "
                    "quantiles do not add (the horizon's P95 is the P95 of the horizon's total), so "
                    "never sum the weekly rows of the database; take these, which are in "
                    "<code>reserves_horizon</code>.")  # fmt: skip
    regions = h[h[schema.TOTAL_ID] != schema.NETWORK_ID].sort_values(
        [schema.TOTAL_ID, "_kind", schema.PERIOD_START], kind="stable")
    body = (f"<p class='note'>Each figure is a quantile of whole scenarios summed over the period "
            f"(sites and weeks together). A week counts in the month of its Thursday; "
            f"<i>partial</i> months and quarters reach beyond the forecast.{contrast}</p>"
            + page_table(net[cols])
            + "<details><summary>The same per region</summary>"
            + page_table(regions[[schema.TOTAL_ID, *cols]]) + "</details>")  # fmt: skip
    return Section("Reserve over the horizon, months and quarters", body)


def fans_section(p: ReservesPage) -> Section:
    return Section("Loss over the horizon, week by week", totals_fans(p.totals, p.previous_totals))


def weekly_totals_section(p: ReservesPage) -> Section:
    order = p.totals.assign(_net=p.totals[schema.TOTAL_ID] != schema.NETWORK_ID)
    order = order.sort_values(["_net", schema.TOTAL_ID, schema.PERIOD_START], kind="stable")
    cols = [schema.TOTAL_ID, schema.PERIOD_START, *_INCIDENTS, *_LOSS, schema.LOSS_EUR_MEAN]
    return Section("Totals per week (network first, then regions)", page_table(order[cols], total=True))


def sites_section(p: ReservesPage) -> Section:
    cols = [schema.WAREHOUSE_ID, schema.REGION, schema.COUNTRY, schema.PERIOD_START,
            *_INCIDENTS, *_LOSS, schema.ESCALATION_LEVEL]  # fmt: skip
    res = p.reserves
    first = res[res[schema.PERIOD_START] == res[schema.PERIOD_START].min()]
    first = first.sort_values([schema.LOSS_EUR_P95, schema.WAREHOUSE_ID], ascending=[False, True])
    when = "The first week"
    if len(first):
        period = FirstPeriod.of(p.as_of, first)
        when = f"{period.label} ({period.span})"
    body = (f"<p class='note'>{when}, largest P95 first. Every week of every warehouse is in the "
            "downloads above.</p>" + page_table(first[cols], level=True)
            + "<details><summary>Every week of every warehouse</summary>"
            + page_table(res.sort_values([schema.WAREHOUSE_ID, schema.PERIOD_START])[cols], level=True)
            + "</details>")  # fmt: skip
    return Section("Reserves per warehouse", body)


# ----------------------------------------------------------------------------- helpers
def _span(p: ReservesPage, ident: str, kind: str) -> pd.Series | None:
    if p.horizon is None or not len(p.horizon):
        return None
    h = p.horizon
    rows = h[(h[schema.TOTAL_ID] == ident) & (h[schema.PERIOD_KIND] == kind)]
    return rows.iloc[0] if len(rows) else None


def _rows(totals: pd.DataFrame | None, ident: str) -> pd.DataFrame:
    if totals is None or not len(totals):
        return pd.DataFrame()
    return totals[totals[schema.TOTAL_ID] == ident].sort_values(schema.PERIOD_START)


def _previous_row(p: ReservesPage, period_start: Any) -> pd.Series | None:
    net = _rows(p.previous_totals, schema.NETWORK_ID)
    if not len(net):
        return None
    same = net[pd.to_datetime(net[schema.PERIOD_START]) == pd.Timestamp(period_start)]
    return same.iloc[0] if len(same) else net.iloc[0]


def _day(value: Any) -> str:
    return str(pd.Timestamp(value).date())


def page_table(frame: pd.DataFrame, level: bool = False, total: bool = False) -> str:
    def row_class(_idx: object, row: pd.Series) -> str:
        if total and row.get(schema.TOTAL_ID) == schema.NETWORK_ID:
            return "total"
        lvl = int(row[schema.ESCALATION_LEVEL]) if level else 0
        return f"lvl{lvl}" if lvl else ""

    return table_html(frame.reset_index(drop=True), headers=HEADERS, formats=FORMATS,
                      row_class=row_class, index=False,
                      left=(schema.ESCALATION_LEVEL, schema.PERIOD_LABEL, schema.CROSSED_ON))  # fmt: skip
