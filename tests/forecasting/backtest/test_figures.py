"""Backtest charts people can read: heatmap numbers readable on every cell colour."""

from __future__ import annotations

import matplotlib
import pandas as pd

from forecasting.backtest import figures
from forecasting.backtest import metrics as mt
from forecasting.core.html import contrast, readable_on, text_shade
from forecasting.core.schema import METRIC, METRIC_VALUE, MODEL, SEGMENT

matplotlib.use("Agg")


def test_text_colour_is_chosen_for_contrast():
    assert readable_on("#ffffff") == "#1d2733" and readable_on("#67001f") == "#ffffff"
    assert contrast("#1d2733", "#ffffff") > 14 and round(contrast("#000", "#fff")) == 21
    assert contrast(text_shade("#bcbd22"), "#fff") >= 4.5 and text_shade("#1d2733") == "#1d2733"


def test_heatmap_numbers_have_contrast_on_dark_and_light_cells(monkeypatch):
    figs: list = []
    monkeypatch.setattr(figures, "figure_svg", lambda fig, caption="": figs.append(fig) or "")
    rows = []
    for model, wql, cov in (("riskcast", 0.50, 0.95), ("seasonal_naive", 0.95, 0.70), ("croston", 0.60, 1.0)):
        for segment in ("all", "cold start"):
            rows += [(model, mt.MEAN_WQL, segment, wql), (model, mt.coverage_name(0.95), segment, cov)]
    figures.score_heatmap(pd.DataFrame(rows, columns=[MODEL, METRIC, SEGMENT, METRIC_VALUE]))
    fig = figs[0]
    fig.canvas.draw()
    checked = 0
    for ax in fig.axes:
        mesh = ax.collections[0]
        colours = mesh.get_facecolors()
        ncols = len(ax.get_xticks())
        for text in ax.texts:
            x, y = text.get_position()
            cell = colours[int(round(y)) * ncols + int(round(x))]
            assert contrast(text.get_color(), cell) >= 4.5, (text.get_text(), cell)
            checked += 1
    assert checked == 12
    labels = [t for ax in fig.axes for t in ax.get_yticklabels()]
    assert labels and all(contrast(t.get_color(), "#ffffff") >= 4.5 for t in labels)  # model names too
