"""The escalation alert when live P95 coverage leaves the calibration tolerance.

For finance (whose P95 reserve is then under- or overstated) and the platform owner (who
retrains or recalibrates): the calibration gate's rule, applied to what happened after the
publications instead of held-out history. Sent once per state: ``score.newly_out`` decides.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from forecasting.alerts.alert import Alert
from forecasting.core import schema
from forecasting.core.html import eur, pct
from forecasting.reserves.track.score import ALERT_LEVEL, ALERT_Q, ALERT_WINDOW, MEASURES

AUDIENCE = "finance; platform owner"
_WORDS = {"incidents": "incidents", "loss_eur": "losses in EUR"}
_MEANING = {
    "low": "the published P95 was exceeded more often than 1 week in 20, so the P95 reserve is "
    "understated",
    "high": "the published P95 was almost never reached, so the P95 reserve holds more than the "
    "risk needs",
}


def coverage_alert(
    as_of: date,
    cov: dict[str, Any],
    state: dict[str, str],
    new: dict[str, str],
    tolerance: float,
    scored: pd.DataFrame,
    links: dict[str, str],
    max_rows: int,
) -> Alert:
    """One alert naming every measure out of tolerance (``new`` are those that just left it)."""
    fig = cov["windows"][str(ALERT_WINDOW)][ALERT_LEVEL]
    out = {m: s for m, s in state.items() if s in _MEANING}
    key = f"{ALERT_Q:g}"
    lines = [
        f"Over the {ALERT_WINDOW} weeks to {cov['settled_through']}, realised {_WORDS[m]} stayed at "
        f"or below the published P95 in {pct(fig[m][key]['coverage'])} of {fig[m]['n']} "
        f"warehouse-weeks (target {ALERT_Q:.0%}, tolerance ±{tolerance:g}): {_MEANING[s]}."
        for m, s in out.items()
    ]
    lines.append(
        "The calibration gate passed these models on held-out history; live data no longer "
        f"agrees. Finance: read the P95 reserves as {'understated' if 'low' in out.values() else 'overstated'} "
        "until the platform owner has retrained or recalibrated (`riskcast backtest`, then the "
        "next publication)."
    )
    details: dict[str, Any] = {"for": AUDIENCE, "tolerance": tolerance, "state": state,
                               "newly out of tolerance": new}  # fmt: skip
    for weeks, levels in cov["windows"].items():
        details[f"P95 coverage, last {weeks} weeks"] = {
            level: {m: levels[level][m][key]["coverage"] for m in MEASURES} for level in levels
        }
    return Alert(
        kind="escalation",
        severity="critical" if "low" in out.values() else "warning",
        title=f"Live reserve coverage out of tolerance {as_of}: "
        + ", ".join(f"P95 {m} {s}" for m, s in out.items()),
        date=as_of,
        source="track_record",
        summary=" ".join(lines),
        details=details,
        rows=_worst_weeks(scored, cov["settled_through"], max_rows),
        links=links,
    )


def _worst_weeks(scored: pd.DataFrame, through: str, max_rows: int) -> list[dict[str, Any]]:
    """The in-force warehouse-weeks of the window whose loss exceeded its P95, worst first."""
    start = pd.Timestamp(through) - pd.Timedelta(weeks=ALERT_WINDOW)
    rows = scored.loc[
        scored[schema.IN_FORCE].astype(bool) & scored[schema.SETTLED].astype(bool)
        & (scored[schema.TRACK_LEVEL] == ALERT_LEVEL) & (pd.to_datetime(scored[schema.PERIOD_END]) > start)
        & (scored[schema.LOSS_EUR_WITHIN_P95] == False)  # noqa: E712 - None (not measured) is not a breach
    ]  # fmt: skip
    ratio = rows[schema.LOSS_EUR_ACTUAL].astype(float) / rows[schema.LOSS_EUR_P95].astype(float).clip(lower=1.0)
    rows = rows.assign(_r=ratio).sort_values(["_r", schema.TRACK_ID], ascending=[False, True]).head(max_rows)
    return [
        {
            schema.WAREHOUSE_ID: r[schema.TRACK_ID],
            schema.PERIOD_START: str(pd.Timestamp(r[schema.PERIOD_START]).date()),
            schema.LOSS_EUR_ACTUAL: eur(r[schema.LOSS_EUR_ACTUAL]),
            schema.LOSS_EUR_P95: eur(r[schema.LOSS_EUR_P95]),
            schema.AS_OF_DATE: str(pd.Timestamp(r[schema.AS_OF_DATE]).date()),
        }
        for r in rows.to_dict("records")
    ]
