"""The reserves page's "How past reserves held up" section, from the track stage's files.

``track_section(lake, as_of)`` reads the latest scoring on or before ``as_of``
(``track/as_of=S/``) and every ``explain/as_of=E/scores.parquet`` with E <= as_of, and
shows: whether live P95 coverage is within the calibration tolerance; coverage of P50, P90
and P95 over the last 13 and 52 weeks per level; realised network loss against the P95 in
force each week (chart); the weeks a P95 was exceeded, with the causes ``explain`` found.
Nothing after ``as_of`` is read, so the page of an old day stays what it was.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date

import pandas as pd

from forecasting.core import schema
from forecasting.core.errors import ConfigError
from forecasting.core.html import BAND_COLOUR, Section, eur, figure_svg, pct, table_html, use_agg
from forecasting.core.lake import Lake, parse_date
from forecasting.core.layout import EXPLAIN
from forecasting.reserves.track.files import latest_scoring, read_scoring
from forecasting.reserves.track.score import ALERT_Q, ALERT_WINDOW, LEVELS, SETTLE_DAYS

TITLE = "How past reserves held up"
MAX_BREACHES = 30
_BREACH, _OK = "#b3261e", "#1d2733"
_KEY = [schema.WAREHOUSE_ID, schema.PERIOD_START]
_WORDS = {"incidents": "incidents", "loss_eur": "losses"}
_VERDICTS = {"low": "too low: the P95 reserve is understated",
             "high": "too high: the P95 reserve is overstated"}  # fmt: skip
_EXPLAIN_LAG_DAYS = 2 * SETTLE_DAYS  # explain scores a week once it has settled, at the next run


def track_section(lake: Lake, as_of: date) -> Section:
    """The section for the page of ``as_of`` (a short note when nothing was scored yet)."""
    day = latest_scoring(lake, as_of)
    if day is None:
        return Section(TITLE, "<p>No track record yet: <code>riskcast track</code> scores a "
                              "publication once its weeks have happened.</p>")  # fmt: skip
    rows, cov = read_scoring(lake, day)
    live = rows.loc[rows[schema.IN_FORCE].astype(bool)]
    if live.empty:
        return Section(TITLE, f"<p>Scored on {day}: no week published before it began has ended yet.</p>")
    network = live.loc[live[schema.TRACK_LEVEL] == LEVELS[2]].sort_values(schema.PERIOD_START)
    body = (
        _state(cov, day)
        + _coverage_table(cov)
        + (_chart(network) if len(network) else "")
        + _breaches(live, rows, _explained(lake, as_of), as_of)
    )
    return Section(TITLE, body)


def _state(cov: dict, day: date) -> str:
    fig = cov["windows"][str(ALERT_WINDOW)][LEVELS[0]]
    key, tol = f"{ALERT_Q:g}", cov.get("tolerance", 0)
    figures = ", ".join(f"{word} {pct(fig[m][key]['coverage'])}" for m, word in _WORDS.items())
    head = (f"Scored on {day} with the data of that day (restatements included). Live P95 coverage "
            f"over the last {ALERT_WINDOW} settled weeks, warehouse-weeks: {figures} (target "
            f"{ALERT_Q:.0%}, tolerance ±{tol:g}).")  # fmt: skip
    out = {m: s for m, s in cov["state"].items() if s in _VERDICTS}
    if "too_few_weeks" in cov["state"].values():
        verdict, cls = f"Fewer than {ALERT_WINDOW} settled weeks: not judged yet.", "ok"
    elif not out:
        verdict, cls = "Within the tolerance.", "ok"
    else:
        words = "; ".join(f"{_WORDS[m]} {_VERDICTS[s]}" for m, s in out.items())
        told = ("Finance and the platform owner were alerted." if cov.get("alert")
                else "(alerted when it left the tolerance)")  # fmt: skip
        verdict, cls = f"<b>Out of tolerance: {html.escape(words)}.</b> {told}", "bad"
    return f"<div class='banner {cls}' id='track-state'>{head} {verdict}</div>"


def _coverage_table(cov: dict) -> str:
    def share(measure: str, q: str) -> Callable[[dict], float | None]:
        return lambda f: f[measure][q]["coverage"]

    columns = {"Loss ≤ P50": share("loss_eur", "0.5"), "Loss ≤ P90": share("loss_eur", "0.9"),
               "Loss ≤ P95": share("loss_eur", "0.95"), "Incidents ≤ P95": share("incidents", "0.95")}  # fmt: skip
    rows = [
        {"Window": f"last {weeks} weeks", "Level": level, "Weeks": f["weeks"],
         **{name: get(f) for name, get in columns.items()}, "Periods scored": f["loss_eur"]["n"]}
        for weeks, levels in cov["windows"].items() for level, f in ((lvl, levels[lvl]) for lvl in LEVELS)
    ]  # fmt: skip
    rows.append({"Window": "target", "Level": "", "Weeks": None, "Loss ≤ P50": 0.5, "Loss ≤ P90": 0.9,
                 "Loss ≤ P95": 0.95, "Incidents ≤ P95": 0.95, "Periods scored": None})  # fmt: skip
    formats = {**{name: pct for name in columns}, "Weeks": _or_dash(lambda v: f"{v:g}"),
               "Periods scored": _or_dash(lambda v: f"{int(v):,d}")}  # fmt: skip
    note = (f"<p class='note'>Share of periods whose realised value stayed at or below the figure "
            f"published before the period began, over settled periods (ended {SETTLE_DAYS} days "
            "before the scoring: late count lines are in). A share well under its target means the "
            "reserve was too small that often.</p>")  # fmt: skip
    return note + table_html(pd.DataFrame(rows), index=False, formats=formats, left=("Window", "Level"))


def _or_dash(fmt: Callable[[float], str]) -> Callable[[object], str]:
    return lambda v: "-" if v is None or pd.isna(v) else fmt(v)


def _chart(network: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    use_agg()
    x = pd.to_datetime(network[schema.PERIOD_START])
    p50, p95 = (network[c].astype(float) for c in (schema.LOSS_EUR_P50, schema.LOSS_EUR_P95))
    actual = network[schema.LOSS_EUR_ACTUAL].astype(float)
    breach = (network[schema.LOSS_EUR_WITHIN_P95] == False).to_numpy()  # noqa: E712 - None: not measured
    settled = network[schema.SETTLED].astype(bool).to_numpy()
    fig, ax = plt.subplots(figsize=(8.5, 3.2))
    ax.fill_between(x, p50, p95, step="mid", color=BAND_COLOUR, alpha=0.2, lw=0, label="published P50 to P95")
    ax.step(x, p95, where="mid", color=BAND_COLOUR, lw=1.4, label="published P95")
    for mask, colour, label in ((~breach, _OK, "realised loss"), (breach, _BREACH, "above the P95")):
        for done, face in ((settled, None), (~settled, "none")):
            pick = mask & done
            if pick.any():
                ax.scatter(x[pick], actual[pick], s=18, zorder=3, edgecolors=colour,
                           facecolors=face or colour, label=label if face is None else None)  # fmt: skip
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(lambda v, _pos: eur(v))
    ax.tick_params(labelsize=8)
    ax.set_ylabel("network loss (EUR)")
    ax.set_xlabel("week starting")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    ax.grid(axis="y", color="#eee")
    return figure_svg(fig, "Each week: the network's realised loss (dot; red when above the P95 "
                           "published before the week began; hollow while late lines may still "
                           "arrive) against the published P95 and the P50-P95 band.")  # fmt: skip


def _explained(lake: Lake, as_of: date) -> pd.DataFrame:
    """Every warehouse-week some explain run up to ``as_of`` scored: the latest run's verdict."""
    cols = [*_KEY, schema.FLAGGED, schema.CAUSE_TEXT, schema.OUTLIER_SCORE]
    frames = []
    for name in lake.ls(lake.stage_dates(EXPLAIN)):
        try:
            day = parse_date(name.partition("=")[2], "explain partition")
        except ConfigError:
            continue
        uri = lake.explain_file(day, "scores")
        if day <= as_of and lake.exists(uri):
            frames.append(lake.read_parquet(uri)[cols].assign(_day=day))
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    out[schema.PERIOD_START] = pd.to_datetime(out[schema.PERIOD_START])
    out = out.sort_values([*_KEY, "_day"], kind="stable").drop_duplicates(_KEY, keep="last")
    return out.drop(columns="_day").reset_index(drop=True)


def _breaches(live: pd.DataFrame, rows: pd.DataFrame, explained: pd.DataFrame, as_of: date) -> str:
    hot = live.loc[live[schema.LOSS_EUR_WITHIN_P95] == False].copy()  # noqa: E712
    if hot.empty:
        return "<p>No week's realised loss exceeded the P95 published before it began.</p>"
    hot["_o"] = hot[schema.TRACK_LEVEL].map({lvl: i for i, lvl in enumerate(reversed(LEVELS))})
    hot = hot.sort_values([schema.PERIOD_START, "_o", schema.TRACK_ID], ascending=[False, True, True])
    sites = rows.loc[rows[schema.TRACK_LEVEL] == LEVELS[0]]
    table = pd.DataFrame({
        "Week starting": pd.to_datetime(hot[schema.PERIOD_START]).dt.date.astype(str),
        "Level": hot[schema.TRACK_LEVEL], "Id": hot[schema.TRACK_ID],
        "Realised loss": hot[schema.LOSS_EUR_ACTUAL], "Published P95": hot[schema.LOSS_EUR_P95],
        "Published on": pd.to_datetime(hot[schema.AS_OF_DATE]).dt.date.astype(str),
        "Causes found by explain": [_causes(r, sites, explained, as_of) for r in hot.to_dict("records")],
    })  # fmt: skip
    more = len(table) - MAX_BREACHES
    return (
        f"<p>Weeks whose realised loss exceeded the P95 published before they began ({len(table)}), "
        "most recent first, with the root causes <code>riskcast explain</code> attributed.</p>"
        + table_html(table.head(MAX_BREACHES), index=False, formats={"Realised loss": eur, "Published P95": eur},
                     left=("Level", "Id", "Causes found by explain"))
        + (f"<p class='note'>... and {more} more in <code>reserves_track_record</code>.</p>" if more > 0 else "")
    )  # fmt: skip


def _causes(row: dict, sites: pd.DataFrame, explained: pd.DataFrame, as_of: date) -> str:
    week = pd.Timestamp(row[schema.PERIOD_START])
    if row[schema.TRACK_LEVEL] == LEVELS[0]:
        members = [row[schema.TRACK_ID]]
    else:
        same = sites.loc[(sites[schema.AS_OF_DATE] == row[schema.AS_OF_DATE]) & (sites[schema.PERIOD_START] == week)]
        if row[schema.TRACK_LEVEL] == LEVELS[1]:
            same = same.loc[same[schema.REGION] == row[schema.TRACK_ID]]
        members = sorted(same[schema.TRACK_ID].astype(str).unique())
    found = explained.loc[explained[schema.WAREHOUSE_ID].astype(str).isin(members) & (explained[schema.PERIOD_START] == week)]
    flagged = found.loc[found[schema.FLAGGED].astype(bool) & found[schema.CAUSE_TEXT].notna()]
    if len(flagged):
        return "; ".join(str(t) for t in flagged[schema.CAUSE_TEXT])  # each names its site
    if len(found):
        return "explain scored this week and found nothing unusual at its sites"
    if pd.Timestamp(row[schema.PERIOD_END]) > pd.Timestamp(as_of) - pd.Timedelta(days=_EXPLAIN_LAG_DAYS):
        return f"not explained yet (explain waits {SETTLE_DAYS} days for late count lines)"
    return "no explain run scored this week"
