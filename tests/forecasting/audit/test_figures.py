"""The audit's per-site chart: its rate axis at the top too, every label readable."""

from __future__ import annotations

import matplotlib

from forecasting.audit import figures
from forecasting.core.html import contrast
from tests.support.audit_table import audit_table

matplotlib.use("Agg")


def test_long_forest_plot_has_an_axis_at_the_top_and_readable_labels(monkeypatch):
    figs: list = []
    monkeypatch.setattr(figures, "figure_svg", lambda fig, caption="": figs.append(fig) or "")
    figures.forest_plot(audit_table())
    ax = figs[0].axes[0]
    figs[0].canvas.draw()
    top = [t for t in ax.xaxis.get_major_ticks() if t.label2.get_visible()]
    assert top and all(t.label1.get_visible() for t in top)  # top and bottom
    assert all(contrast(label.get_color(), "#ffffff") >= 4.5 for label in ax.get_yticklabels())
    legend = ax.get_legend()
    renderer = figs[0].canvas.get_renderer()
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
