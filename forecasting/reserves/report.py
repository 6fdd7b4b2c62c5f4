"""The reserve report: an HTML fragment (for the run report) and a self-contained page.

Rendered from the reserves stage frames only: the sites that escalate (worst first), the
region and network totals, and the reserve table per warehouse and period.
"""

from __future__ import annotations

import html
from datetime import date

import pandas as pd

from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.reserves.escalation import escalating_sites

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}"
    "th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}"
    "th{background:#f3f3f3}td.t{text-align:left}"
    "tr.lvl1 td{background:#fff4d6}tr.lvl2 td{background:#ffd9d6}"
    ".note{color:#555;font-size:.85rem}"
)
_FIGURES = [
    schema.INCIDENTS_P50, schema.INCIDENTS_P90, schema.INCIDENTS_P95,
    schema.LOSS_EUR_P50, schema.LOSS_EUR_P90, schema.LOSS_EUR_P95, schema.LOSS_EUR_MEAN,
]  # fmt: skip
_TEXT = {
    schema.WAREHOUSE_ID, schema.REGION, schema.COUNTRY, schema.TOTAL_LEVEL, schema.TOTAL_ID,
    schema.PERIOD_START, schema.PERIOD_END, schema.THRESHOLD_SOURCE,
}  # fmt: skip


def render_reserves_section(
    reserves: pd.DataFrame, totals: pd.DataFrame, thresholds: pd.DataFrame, as_of: date
) -> str:
    """HTML fragment (``<section>``): escalating sites, totals, reserve table.

    ``reserves`` / ``totals``: the reserves stage frames; ``thresholds``: its thresholds.
    """

    first = reserves[schema.CALIBRATION_METHOD].iloc[0] if len(reserves) else ""
    coverage = reserves[schema.BACKTEST_COVERAGE_P95].iloc[0] if len(reserves) else float("nan")
    cov_text = "no backtest" if pd.isna(coverage) else f"{coverage:.3f} (target 0.95)"
    hot = escalating_sites(reserves, thresholds)
    site_cols = [schema.WAREHOUSE_ID, schema.PERIOD_START, schema.REGION, schema.COUNTRY] + _FIGURES
    parts = [
        f"<section id='reserves'><h2>Reserves as of {as_of}</h2>",
        f"<p class='note'>Quantiles of the compound loss (incident paths x empirical severity), "
        f"calibration: {html.escape(str(first))}; held-out backtest coverage of P95: {cov_text}. "
        f"Model {html.escape(str(reserves[schema.MODEL_VERSION].iloc[0]) if len(reserves) else '')}"
        f", snapshot {html.escape(str(reserves[schema.SNAPSHOT_ID].iloc[0]) if len(reserves) else '')}."
        "</p>",
        f"<h3>Escalating sites ({len(hot)})</h3>",
        _table(hot) if len(hot) else "<p>No site crosses its escalation threshold.</p>",
        "<h3>Totals (region and network)</h3>",
        _table(totals[[schema.TOTAL_LEVEL, schema.TOTAL_ID, schema.PERIOD_START] + _FIGURES]),
        "<h3>Reserves per warehouse and period</h3>",
        _table(reserves[site_cols + [schema.ESCALATION_LEVEL]]),
        "</section>",
    ]
    return "\n".join(parts)


def write_reserves_report(
    lake: Lake, as_of: date, reserves: pd.DataFrame, totals: pd.DataFrame, thresholds: pd.DataFrame
) -> str:
    """Write ``reports/as_of=D/reserves.html`` (self-contained page); return its URI."""
    body = render_reserves_section(reserves, totals, thresholds, as_of)
    page = (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>riskcast reserves {as_of}</title><style>{_CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )
    return lake.write_text(lake.reserves_report(as_of), page)


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for rec in frame.to_dict("records"):
        level = int(rec.get(schema.ESCALATION_LEVEL, 0) or 0)
        cells = "".join(_cell(c, v) for c, v in rec.items())
        rows.append(f"<tr class='lvl{level}'>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(col: str, value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return f"<td class='t'>{value.date()}</td>"
    if col == schema.ESCALATION_LEVEL:
        return f"<td class='t'>{schema.ESCALATION_LEVELS[int(value)]}</td>"
    if col in _TEXT or not isinstance(value, int | float):
        return f"<td class='t'>{html.escape(str(value))}</td>"
    if pd.isna(value):
        return "<td>-</td>"
    digits = 0 if col.startswith("loss") else 2
    return f"<td>{value:,.{digits}f}</td>"
