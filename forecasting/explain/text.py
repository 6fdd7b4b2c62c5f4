"""Plain words for attributions: what moved at the site, and its share of the outlier.

``cause_text`` turns one week's top contributions into a sentence an alert or the reserves
page shows ("reporting at WH-FR-002 fell to 12% of its usual rate: 71% of the outlier");
``root_cause_alerts`` builds the alerts (kind ``root_cause``): weeks whose top cause is a
data problem (reporting, count errors) in one, the others in another, each headed by its
most unusual week.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

from forecasting.alerts.alert import Alert
from forecasting.core import schema

DATA_CAUSES = (schema.NODE_REPORTING, schema.NODE_COUNT_ERRORS)
MIN_SHARE, MAX_CAUSES = 0.1, 2


def describe(node: str, site: str, value: float) -> str:
    """What ``node``'s value (as ``explain.nodes`` measures it) says about the site's week."""
    if node in (schema.NODE_REPORTING, schema.NODE_ACTIVITY):
        what = "reporting" if node == schema.NODE_REPORTING else "count activity (transfers, damage)"
        ratio = math.exp(value)
        if ratio < 1:
            return f"{what} at {site} fell to {ratio:.0%} of its usual rate"
        return f"{what} at {site} rose to {ratio:.1f}x its usual rate"
    if node == schema.NODE_THEFTS:
        return f"thefts at {site} (from its reports) ran {_sd(value)} usual"
    if node == schema.NODE_COUNT_ERRORS:
        return f"losses no report corroborates at {site} (count errors) ran {_sd(value)} usual"
    if node == schema.NODE_VALUE_MIX:
        return f"the value of goods lost at {site} (value mix) ran {_sd(value)} what its incidents usually cost"
    if node == schema.NODE_CALENDAR:
        return f"calendar events at {site} (launch, peak, holiday exposure {value:+.2f})"
    if node == schema.NODE_INCIDENTS:
        return f"incidents at {site} ran {_sd(value)} usual beyond what their causes explain"
    return f"losses at {site} ran {_sd(value)} usual beyond incidents and value mix"


def _sd(value: float) -> str:
    """Node values of counts are in Poisson standard deviations (``explain.nodes``)."""
    return f"{abs(value):.1f} standard deviations {'above' if value >= 0 else 'below'}"


def shares(contributions: pd.DataFrame) -> pd.Series:
    """Each node's share of the outlier: contribution / sum of the positive contributions."""
    c = contributions.set_index(schema.EXPLAIN_NODE)[schema.CONTRIBUTION]
    total = c.clip(lower=0).sum()
    return (c / total if total > 0 else c * 0).sort_values(ascending=False, kind="stable")


def cause_text(site: str, contributions: pd.DataFrame, values: dict[str, float]) -> str:
    """The top causes (share >= 10%, at most two) of one week, in plain words."""
    s = shares(contributions)
    top = [(n, v) for n, v in s.items() if v >= MIN_SHARE][:MAX_CAUSES] or list(s.items())[:1]
    return "; ".join(f"{describe(n, site, values.get(n, float('nan')))}: {v:.0%} of the outlier"
                     for n, v in top)  # fmt: skip


def root_cause_alerts(as_of: date, weeks: pd.DataFrame, links: dict[str, str]) -> list[Alert]:
    """Alerts for flagged weeks (``weeks``: scores rows with ``cause_text`` and ``node`` = top-1).

    Weeks whose top cause is a data problem (reporting, count errors) go out as one alert,
    the rest as another; both of kind ``root_cause``, rows and headline worst (highest
    outlier score) first; ``warning`` when a week exceeded its published P95, else
    ``info``. Nothing when no week is flagged.
    """
    alerts = []
    for data, mask in ((True, weeks[schema.EXPLAIN_NODE].isin(DATA_CAUSES)),
                       (False, ~weeks[schema.EXPLAIN_NODE].isin(DATA_CAUSES))):  # fmt: skip
        part = weeks.loc[mask].sort_values([schema.OUTLIER_SCORE, schema.WAREHOUSE_ID, schema.PERIOD_START],
                                           ascending=[False, True, True], kind="stable")  # fmt: skip
        if part.empty:
            continue
        rows = [
            {schema.WAREHOUSE_ID: r[schema.WAREHOUSE_ID],
             schema.PERIOD_START: str(pd.Timestamp(r[schema.PERIOD_START]).date()),
             schema.OUTLIER_SCORE: round(float(r[schema.OUTLIER_SCORE]), 1),
             schema.EXCEEDED_P95: bool(r[schema.EXCEEDED_P95]),
             schema.CAUSE_TEXT: r[schema.CAUSE_TEXT]}
            for r in part.to_dict("records")
        ]  # fmt: skip
        first, above = rows[0], sum(r[schema.EXCEEDED_P95] for r in rows)
        what = "Data problems behind unusual weeks" if data else "Unusual weeks and their causes"
        alerts.append(Alert(
            "root_cause", "warning" if above else "info",
            f"{what}: {len(rows)} warehouse-week(s) as of {as_of}", as_of, "explain",
            f"Most unusual: {first[schema.WAREHOUSE_ID]}, week of {first[schema.PERIOD_START]} "
            f"(outlier score {first[schema.OUTLIER_SCORE]:.1f}): {first[schema.CAUSE_TEXT]}. "
            f"{above} of the {len(rows)} week(s) went above the P95 published for them."
            + (" Check the data of these sites before trusting their figures." if data else ""),
            {"weeks": len(rows), "above published P95": above,
             "sites": sorted({r[schema.WAREHOUSE_ID] for r in rows})},
            rows, dict(links),
        ))  # fmt: skip
    return alerts
