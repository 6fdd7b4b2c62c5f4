"""Charts of the reserves page people can read: legends beside the data, colours that match."""

from __future__ import annotations

import matplotlib

from forecasting.core import schema
from forecasting.reserves import figures
from forecasting.reserves.escalation import escalating_sites
from tests.support.reserves_frames import reserve_frames

matplotlib.use("Agg")


def _capture(monkeypatch) -> list:
    figs: list = []
    monkeypatch.setattr(figures, "figure_svg", lambda fig, caption="": figs.append(fig) or "")
    return figs


def _outside(fig) -> bool:
    """Every legend of ``fig`` lies right of its axes (not over the data)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return bool(legends) and all(
        leg.get_window_extent(renderer).x0 >= leg.axes.get_window_extent(renderer).x1 for leg in legends
    )


def test_the_network_fan_legend_is_beside_the_bands(monkeypatch):
    figs = _capture(monkeypatch)
    res, tot, _ = reserve_frames()
    figures.totals_fans(tot, reserve_frames(scale=0.8)[1])
    assert _outside(figs[0])
    labels = [t.get_text() for t in figs[0].axes[0].get_legend().get_texts()]
    assert labels == ["P90 to P95", "P50 to P90", "P50", "P95, previous publication"]


def test_escalation_legend_colours_are_the_bars_colours(monkeypatch):
    figs = _capture(monkeypatch)
    res, _, thr = reserve_frames()
    res.loc[(res[schema.WAREHOUSE_ID] == "WH-B") & (res[schema.STEP] == 1), schema.ESCALATION_LEVEL] = 1
    figures.escalation_chart(escalating_sites(res, thr))
    fig = figs[0]
    assert _outside(fig)
    ax = fig.axes[0]
    bars = {tuple(p.get_facecolor()) for p in ax.patches}
    legend = {t.get_text(): tuple(h.get_facecolor()) for t, h in zip(ax.get_legend().get_texts(),
              ax.get_legend().legend_handles, strict=True) if t.get_text() != "threshold"}  # fmt: skip
    assert set(legend) == {"elevated", "severe"} and set(legend.values()) == bars
