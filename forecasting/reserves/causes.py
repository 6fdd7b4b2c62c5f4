"""Root causes on the reserves page and in escalation alerts, read from the explain stage's files.

The explain stage (``forecasting.explain``) sits above reserves, so reserves never imports
it: it reads ``explain/as_of=E/scores.parquet`` of the latest E <= D through the lake
layout. The explain stage writes only its data; the reserves page (``reserves.report``,
its one writer) renders ``causes_body`` from it.
"""

from __future__ import annotations

import html
from datetime import date

import pandas as pd

from forecasting.core import schema
from forecasting.core.errors import ConfigError
from forecasting.core.lake import Lake, parse_date
from forecasting.core.layout import EXPLAIN

CAUSE_COLUMNS = [schema.WAREHOUSE_ID, schema.PERIOD_START, schema.OUTLIER_SCORE,
                 schema.EXCEEDED_P95, schema.CAUSE_TEXT]  # fmt: skip


def latest_causes(lake: Lake, as_of: date) -> tuple[date | None, pd.DataFrame]:
    """(explain date E, flagged weeks of E with their cause text) for the latest E <= as_of."""
    days = []
    for name in lake.ls(lake.stage_dates(EXPLAIN)) if lake.exists(lake.stage_dates(EXPLAIN)) else []:
        try:
            day = parse_date(name.rstrip("/").rpartition("/")[2].partition("=")[2], "explain partition")
        except ConfigError:
            continue
        if day <= as_of and lake.exists(lake.explain_file(day, "scores")):
            days.append(day)
    if not days:
        return None, pd.DataFrame(columns=CAUSE_COLUMNS)
    scores = lake.read_parquet(lake.explain_file(max(days), "scores"))
    flagged = scores.loc[scores[schema.FLAGGED].astype(bool) & scores[schema.CAUSE_TEXT].notna()]
    flagged = flagged.sort_values([schema.OUTLIER_SCORE, schema.WAREHOUSE_ID, schema.PERIOD_START],
                                  ascending=[False, True, True], kind="stable")  # fmt: skip
    return max(days), flagged[CAUSE_COLUMNS].reset_index(drop=True)


def site_causes(causes: pd.DataFrame, sites: list[str]) -> dict[str, str]:
    """warehouse -> its most recent flagged week's cause text, for ``sites`` that have one."""
    c = causes.loc[causes[schema.WAREHOUSE_ID].isin(sites)]
    c = c.sort_values(schema.PERIOD_START, kind="stable").drop_duplicates(schema.WAREHOUSE_ID, keep="last")
    return {r[schema.WAREHOUSE_ID]: f"week of {pd.Timestamp(r[schema.PERIOD_START]).date()}: "
            f"{r[schema.CAUSE_TEXT]}" for r in c.to_dict("records")}  # fmt: skip


def causes_body(explained_on: date | None, causes: pd.DataFrame, max_rows: int = 30) -> str:
    """The page's "Root causes of recent outliers" section: flagged weeks, most unusual first."""
    e = html.escape
    if explained_on is None:
        return "<p>No root-cause analysis yet (<code>riskcast explain</code>).</p>"
    if causes.empty:
        return f"<p>No outlier week as of {explained_on}.</p>"
    rows = "".join(
        f"<tr><td>{e(str(r[schema.WAREHOUSE_ID]))}</td>"
        f"<td style='white-space:nowrap'>{pd.Timestamp(r[schema.PERIOD_START]).date()}</td>"
        f"<td>{r[schema.OUTLIER_SCORE]:.1f}</td><td>{'yes' if r[schema.EXCEEDED_P95] else 'no'}</td>"
        f"<td class='t'>{e(str(r[schema.CAUSE_TEXT]))}</td></tr>"
        for r in causes.head(max_rows).to_dict("records")
    )
    more = f" The {max_rows} most unusual of {len(causes)} are listed." if len(causes) > max_rows else ""
    return (f"<p>Warehouse-weeks flagged by <code>riskcast explain</code> as of {explained_on}, "
            "most unusual first; shares are Shapley attributions of the outlier score (see the "
            f"glossary).{more}</p><table><thead><tr><th>Warehouse</th><th>Week of</th><th>Outlier score</th>"
            f"<th>Above published P95</th><th style='text-align:left'>Top causes</th></tr></thead><tbody>{rows}</tbody></table>")  # fmt: skip
