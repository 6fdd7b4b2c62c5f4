"""Figures of the reserves page: fan charts of the totals, escalating sites against threshold.

Inline SVG through ``forecasting.core.html.figure_svg``; deterministic, so a rerun of a date
gives the same page. Inputs are the reserves stage frames (``totals.parquet`` columns for the
fans, ``escalation.escalating_sites`` rows for the escalation chart).
"""

from __future__ import annotations

import pandas as pd

from forecasting.core import schema
from forecasting.core.html import ACTUAL_COLOUR, BAND_COLOUR, count, eur, figure_svg, use_agg

_LEVEL_COLOURS = {1: "#e0a100", 2: "#b3261e"}
_TICK = "#1d2733"
MAX_ESCALATION_BARS = 20


def totals_fans(totals: pd.DataFrame, previous: pd.DataFrame | None = None) -> str:
    """Network fan chart, then one small fan per region (loss in EUR per period).

    ``previous``: the totals of the previous publication; its P95 is drawn dashed where its
    periods overlap this one's.
    """
    import matplotlib.pyplot as plt

    use_agg()
    network = _rows(totals, schema.NETWORK_ID)
    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    _fan(ax, network, _rows(previous, schema.NETWORK_ID) if previous is not None else None)
    ax.set_title("Network: loss reserve per week", fontsize=10)
    # beside the plot, never over the bands it explains
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    parts = [
        figure_svg(
            fig,
            "Line: P50 (as likely above as below). Darker band: P50 to P90. "
            "Lighter band: P90 to P95 (1 week in 20 above it).",
        )
    ]
    regions = sorted(
        set(totals.loc[totals[schema.TOTAL_LEVEL] == schema.TOTAL_LEVELS[0], schema.TOTAL_ID])
    )
    if regions:
        cols = min(3, len(regions))
        rows = -(-len(regions) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
        for ax, region in zip(axes.ravel(), regions, strict=False):
            prev = _rows(previous, region) if previous is not None else None
            _fan(ax, _rows(totals, region), prev, small=True)
            ax.set_title(str(region), fontsize=9)
        for ax in axes.ravel()[len(regions) :]:
            ax.set_visible(False)
        fig.tight_layout()
        parts.append(
            figure_svg(fig, "Each region on its own scale: same bands as the network chart.")
        )
    return "".join(parts)


def escalation_chart(hot: pd.DataFrame) -> str:
    """Bars: each escalating site's P95 incidents in its worst period; tick: its threshold.

    ``hot``: ``escalation.escalating_sites`` rows (worst first); at most ``MAX_ESCALATION_BARS``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    use_agg()
    rows = hot.head(MAX_ESCALATION_BARS).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8.5, 0.35 * len(rows) + 1.2))
    ids = [str(w) for w in rows[schema.WAREHOUSE_ID]]
    p95 = rows[schema.INCIDENTS_P95].astype(float).to_numpy()
    thr = rows[schema.INCIDENTS_THRESHOLD].astype(float).to_numpy()
    levels = rows[schema.ESCALATION_LEVEL].astype(int).to_numpy()
    ax.barh(ids, p95, color=[_LEVEL_COLOURS.get(v, "#999") for v in levels], height=0.6)
    ax.scatter(thr, ids, marker="|", s=220, color=_TICK, linewidths=2, zorder=3)
    for y, (v, t) in enumerate(zip(p95, thr, strict=True)):
        ax.annotate(
            f"{count(v)} vs {count(t)}",
            (max(v, t if t == t else 0), y),
            xytext=(4, -3),
            textcoords="offset points",
            fontsize=7,
        )
    # legend handles drawn with the bars' own colours, beside the plot
    handles = [Patch(color=c, label=schema.ESCALATION_LEVELS[lv]) for lv, c in _LEVEL_COLOURS.items()]
    handles.append(Line2D([], [], marker="|", ls="", color=_TICK, markersize=12, mew=2, label="threshold"))
    ax.set_xlabel("incidents in the week (P95)")
    ax.margins(x=0.15)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return figure_svg(
        fig,
        "Worst week of each escalating site: bar = P95 incidents, "
        "black tick = the site's escalation threshold.",
    )


def _rows(totals: pd.DataFrame | None, ident: str) -> pd.DataFrame:
    if totals is None or not len(totals):
        return pd.DataFrame()
    rows = totals[totals[schema.TOTAL_ID] == ident]
    return rows.sort_values(schema.PERIOD_START)


def _fan(ax, rows: pd.DataFrame, previous: pd.DataFrame | None, small: bool = False) -> None:
    x = pd.to_datetime(rows[schema.PERIOD_START])
    p50, p90, p95 = (
        rows[c].astype(float)
        for c in (schema.LOSS_EUR_P50, schema.LOSS_EUR_P90, schema.LOSS_EUR_P95)
    )
    ax.fill_between(x, p90, p95, color=BAND_COLOUR, alpha=0.18, lw=0, label="P90 to P95")
    ax.fill_between(x, p50, p90, color=BAND_COLOUR, alpha=0.38, lw=0, label="P50 to P90")
    ax.plot(x, p50, color=BAND_COLOUR, lw=1.8, marker="o", ms=3, label="P50")
    if previous is not None and len(previous):
        prev = previous[pd.to_datetime(previous[schema.PERIOD_START]).isin(x)]
        if len(prev):
            ax.plot(
                pd.to_datetime(prev[schema.PERIOD_START]),
                prev[schema.LOSS_EUR_P95].astype(float),
                color=ACTUAL_COLOUR,
                lw=1.2,
                ls="--",
                label="P95, previous publication",
            )
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(lambda v, _pos: eur(v))
    ax.tick_params(labelsize=7 if small else 8)
    ax.set_xticks(x, [f"{d:%d %b}" for d in x])
    ax.tick_params(axis="x", rotation=45 if small else 0)
    if not small:
        ax.set_ylabel("loss (EUR)")
        ax.set_xlabel("week starting")
    ax.grid(axis="y", color="#eee")
