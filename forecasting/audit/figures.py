"""The audit's forest plot: reporting rate per site with its interval, grouped by region.

Input: the audit table (``forecasting.audit.stage``: one row per warehouse, region and the
network). Sites without a mature unexplained loss carry no information about their rate:
they appear as a grey "no data" row at the end of their region, with no point or interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.core import schema
from forecasting.core.html import (
    ACTUAL_COLOUR,
    BAND_COLOUR,
    MUTED_COLOUR,
    TEXT_COLOUR,
    figure_svg,
    use_agg,
)


def forest_plot(table: pd.DataFrame) -> str:
    """Inline SVG figure: per region, its pooled rate (band), then its sites, lowest rate first."""
    import matplotlib.pyplot as plt

    use_agg()
    level = table[schema.AUDIT_LEVEL]
    sites = table[level == schema.AUDIT_LEVELS[0]]
    regions = table[level == schema.AUDIT_LEVELS[1]].set_index(schema.AUDIT_ID)
    network = table[level == schema.AUDIT_LEVELS[2]]
    rows: list[tuple[str, pd.Series | None, str]] = []  # (label, row, kind)
    for region in sorted(sites[schema.REGION].dropna().astype(str).unique()):
        group = sites[sites[schema.REGION].astype(str) == region]
        has = group[schema.UNEXPLAINED_LOSSES_N] > 0
        rows.append(
            (
                f"{region} (region)",
                regions.loc[region] if region in regions.index else None,
                "region",
            )
        )
        rows += [
            (str(r[schema.AUDIT_ID]), r, "site")
            for _, r in group[has].sort_values(schema.REPORTING_RATE).iterrows()
        ]
        rows += [
            (f"{r[schema.AUDIT_ID]}: no data", r, "empty")
            for _, r in group[~has].sort_values(schema.AUDIT_ID).iterrows()
        ]
    fig, ax = plt.subplots(figsize=(8, 0.22 * len(rows) + 1.2))
    for y, (_label, row, kind) in enumerate(rows):
        if row is None or kind == "empty" or pd.isna(row[schema.REPORTING_RATE]):
            continue
        rate, lo, hi = (
            float(row[c])
            for c in (schema.REPORTING_RATE, schema.REPORTING_RATE_LO, schema.REPORTING_RATE_HI)
        )
        if kind == "region":
            ax.axhspan(y - 0.45, y + 0.45, color="#eef2f6", zorder=0)
            ax.plot([lo, hi], [y, y], color="#1d2733", lw=3, solid_capstyle="butt")
            ax.scatter([rate], [y], marker="D", color="#1d2733", s=30, zorder=3)
        else:
            ax.plot([lo, hi], [y, y], color=BAND_COLOUR, lw=1.2)
            ax.scatter([rate], [y], color=BAND_COLOUR, s=14, zorder=3)
    if len(network) and pd.notna(network[schema.REPORTING_RATE].iloc[0]):
        ax.axvline(
            float(network[schema.REPORTING_RATE].iloc[0]),
            color=ACTUAL_COLOUR,
            ls="--",
            lw=1,
            label="network",
        )
        ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(1.01, 0), frameon=False)
    ax.set_yticks(np.arange(len(rows)), [r[0] for r in rows], fontsize=7)
    for tick, (_, _, kind) in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_color(MUTED_COLOUR if kind == "empty" else TEXT_COLOUR)  # both >= 4.5:1 on white
        tick.set_fontweight("bold" if kind == "region" else "normal")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_xlabel("share of unexplained HVG losses that were reported")
    # a long chart: the rate axis at the top too, so the first sites are read without scrolling
    ax.tick_params(axis="x", top=True, labeltop=True)
    ax.grid(axis="x", color="#eee")
    return figure_svg(fig, "Dots: estimated reporting rate (shrunk towards the region); lines: its interval. "
                           "Diamonds: the region's pooled rate. Grey 'no data': no mature unexplained loss, so "
                           "no rate can be estimated.")  # fmt: skip
