"""Figures of the backtest report: score heatmap, reliability, coverage by step, fan charts.

Every figure colours a model with ``model_colour`` (fixed per model name, whatever models a
run has), so riskcast is the same blue in each figure. Inputs are the backtest frames:
``metrics`` (long: segment, model, metric, value), ``frame`` (one row per model, series,
cutoff and step with y, quantile columns and PIT bounds), ``by_step`` (metrics per step).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.backtest import metrics as mt
from forecasting.backtest.engine import MODELS
from forecasting.core.html import (
    ACTUAL_COLOUR,
    FAN_RISKIEST,
    FAN_SAMPLE,
    figure_svg,
    model_colours,
    readable_on,
    text_shade,
    use_agg,
)
from forecasting.core.schema import (
    CUTOFF,
    DS,
    EVAL_QUANTILES,
    METRIC,
    METRIC_VALUE,
    MODEL,
    PIT_HI,
    PIT_LO,
    SEGMENT,
    STEP,
    UNIQUE_ID,
    Y,
    quantile_col,
)  # fmt: skip

MODEL_ORDER = MODELS
RELIABILITY_LEVELS = (0.05, *EVAL_QUANTILES)


def model_colour(models) -> dict[str, str]:
    """The fixed colour of each model (``MODEL_ORDER`` first)."""
    return model_colours(models, MODEL_ORDER)


def ordered_models(models) -> list[str]:
    """Models in ``MODEL_ORDER``, unknown ones after by name."""
    names = set(map(str, models))
    return [m for m in MODEL_ORDER if m in names] + sorted(names - set(MODEL_ORDER))


def score_heatmap(metrics: pd.DataFrame) -> str:
    """Model x segment: mean wQL (shaded relative to the segment's best) and P95 coverage."""
    import matplotlib.pyplot as plt

    use_agg()
    models = ordered_models(metrics[MODEL].unique())
    segments = list(dict.fromkeys(metrics[SEGMENT]))
    wide = {
        m: metrics[metrics[METRIC] == m].pivot(index=MODEL, columns=SEGMENT, values=METRIC_VALUE)
        .reindex(index=models, columns=segments)
        for m in (mt.MEAN_WQL, mt.coverage_name(0.95))
    }  # fmt: skip
    fig, axes = plt.subplots(
        1, 2, figsize=(max(9, 1.5 * len(segments) + 4), 0.45 * len(models) + 1.8)
    )
    wql = wide[mt.MEAN_WQL]
    rel = wql / wql.min(axis=0)
    _heat(axes[0], rel.to_numpy(dtype=float), wql.to_numpy(dtype=float), "YlOrRd", (1.0, 1.6), "{:.3f}",
          best=(wql == wql.min(axis=0)).to_numpy())  # fmt: skip
    axes[0].set_title("mean wQL (lower is better; shade: ratio to the segment's best, light = best)", fontsize=9)
    cov = wide[mt.coverage_name(0.95)].to_numpy(dtype=float)
    _heat(axes[1], cov - 0.95, cov, "RdBu", (-0.15, 0.15), "{:.2f}")
    axes[1].set_title("share of actuals at or below P95 (target 0.95: white)", fontsize=9)
    colours = model_colour(models)
    for ax in axes:
        ax.set_xticks(range(len(segments)), segments, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(models)), models, fontsize=8)
        for label in ax.get_yticklabels():  # the model's colour, dark enough to read
            label.set_color(text_shade(colours[label.get_text()]))
    fig.tight_layout()
    return figure_svg(
        fig,
        "One row per model, one column per segment of series; bold: best mean wQL in its segment.",
    )


def reliability(frame: pd.DataFrame) -> str:
    """Per nominal level, each model's coverage bar; then the PIT histogram of sample models."""
    import matplotlib.pyplot as plt

    use_agg()
    models = ordered_models(frame[MODEL].unique())
    colours = model_colour(models)
    fig, axes = plt.subplots(1, len(RELIABILITY_LEVELS) + 1, figsize=(14, 3.6),
                             gridspec_kw={"width_ratios": [1] * len(RELIABILITY_LEVELS) + [1.6]})  # fmt: skip
    for ax, q in zip(axes[:-1], RELIABILITY_LEVELS, strict=True):
        for i, model in enumerate(models):
            g = frame[frame[MODEL] == model]
            lo, hi = mt.coverage(g, q, strict=True), mt.coverage(g, q)
            ax.vlines(i, lo, hi, color=colours[model], lw=5)
            ax.scatter([i], [hi], color=colours[model], s=16, zorder=3)
        ax.axhline(q, color="#555", ls="--", lw=1)
        ax.set_title(f"P{q * 100:g}: nominal {q:g}", fontsize=9)
        ax.set_xticks(range(len(models)), models, rotation=60, ha="right", fontsize=7)
        ax.set_xlim(-0.7, len(models) - 0.3)
    axes[0].set_ylabel("observed coverage")
    hx = axes[-1]
    edges = np.linspace(0, 1, 11)
    for model in models:
        pit = frame[(frame[MODEL] == model) & frame[PIT_LO].notna()]
        if len(pit):  # sample models only: the non-randomised PIT histogram
            mass = np.diff(mt.pit_cdf(pit[PIT_LO], pit[PIT_HI], edges)) * 10
            hx.step(
                edges,
                np.append(mass, mass[-1]),
                where="post",
                color=colours[model],
                lw=1.5,
                label=model,
            )
    hx.axhline(1.0, color="#555", ls="--", lw=1)
    hx.set_title("PIT histogram (flat = calibrated)", fontsize=9)
    hx.set_xlabel("PIT"), hx.set_ylabel("density")
    if hx.get_legend_handles_labels()[0]:
        hx.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return figure_svg(fig, "Bars run from share(y < q̂) to share(y ≤ q̂) (counts tie at the quantile): a "
                           "calibrated model's bar crosses the dashed nominal line. Right: U-shaped = too "
                           "narrow, hump = too wide.")  # fmt: skip


def by_step(by_step_frame: pd.DataFrame) -> str:
    """Coverage of each evaluated quantile per horizon step, one line per model."""
    import matplotlib.pyplot as plt

    use_agg()
    models = ordered_models(by_step_frame[MODEL].unique())
    colours = model_colour(models)
    fig, axes = plt.subplots(1, len(EVAL_QUANTILES), figsize=(12, 3.4))
    for ax, q in zip(np.atleast_1d(axes), EVAL_QUANTILES, strict=True):
        for model in models:
            g = by_step_frame[
                (by_step_frame[MODEL] == model) & (by_step_frame[METRIC] == mt.coverage_name(q))
            ]
            ax.plot(g[STEP], g[METRIC_VALUE], marker="o", ms=3, color=colours[model], label=model)
        ax.axhline(q, color="#555", ls="--", lw=1)
        ax.set_title(f"P{q * 100:g} coverage by step", fontsize=9)
        ax.set_xlabel("horizon step")
    np.atleast_1d(axes)[0].set_ylabel("share of actuals ≤ quantile")
    np.atleast_1d(axes)[-1].legend(
        fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False
    )
    fig.tight_layout()
    return figure_svg(
        fig,
        "Dashed: nominal level. A line drifting down with the step means intervals too narrow far ahead.",
    )


def fans(frame: pd.DataFrame) -> str:
    """Fan charts of the first model: the riskiest series (highest mean P95) and a sample."""
    import matplotlib.pyplot as plt

    use_agg()
    model = ordered_models(frame[MODEL].unique())[0]
    fc = frame[frame[MODEL] == model]
    risk = (
        fc.groupby(UNIQUE_ID)[quantile_col(0.95)].mean().sort_values(ascending=False, kind="stable")
    )
    riskiest = list(risk.index[:FAN_RISKIEST])
    rest = sorted(set(risk.index) - set(riskiest))
    sample = (
        list(np.random.default_rng(0).choice(rest, size=min(FAN_SAMPLE, len(rest)), replace=False))
        if rest
        else []
    )
    colour, out = model_colour([model])[model], []
    for label, ids in (("riskiest", riskiest), ("sample", sample)):
        if not ids:
            continue
        fig, axes = plt.subplots(1, len(ids), figsize=(3.3 * len(ids), 3.0), squeeze=False)
        for ax, uid in zip(axes[0], ids, strict=True):
            _fan(ax, fc[fc[UNIQUE_ID] == uid], colour)
            ax.set_title(str(uid), fontsize=8)
        axes[0][0].set_ylabel("count per period")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="lower center",
            ncol=5,
            fontsize=7,
            frameon=False,
            bbox_to_anchor=(0.5, -0.08),
        )
        fig.tight_layout()
        out.append(figure_svg(fig, f"{label.capitalize()} series ({model}), forecast from the last cutoff "
                                   "(dotted line); actuals before it come from earlier windows."))  # fmt: skip
    return "".join(out)


def _fan(ax, g: pd.DataFrame, colour: str) -> None:
    last = g[CUTOFF].max()
    w = g[g[CUTOFF] == last].sort_values(DS)
    actual = g.drop_duplicates(DS).sort_values(DS)
    ax.fill_between(
        w[DS],
        w[quantile_col(0.05)],
        w[quantile_col(0.95)],
        color=colour,
        alpha=0.18,
        lw=0,
        label="P5 to P95",
    )
    ax.fill_between(
        w[DS],
        w[quantile_col(0.5)],
        w[quantile_col(0.9)],
        color=colour,
        alpha=0.3,
        lw=0,
        label="P50 to P90",
    )
    ax.plot(w[DS], w[quantile_col(0.5)], color=colour, lw=1.4, label="P50")
    ax.plot(actual[DS], actual[Y], color="#555", lw=0.8, marker="o", ms=2.5, label="actual")
    ahead = w[[DS, Y]].dropna()
    ax.plot(ahead[DS], ahead[Y], "o", color=ACTUAL_COLOUR, ms=3.5, label="actual after cutoff")
    ax.axvline(last, color="#555", ls=":", lw=1)
    ax.set_ylim(bottom=0)
    ax.tick_params(labelsize=6, axis="x", rotation=45)
    ax.tick_params(labelsize=7, axis="y")


def _heat(ax, shade: np.ndarray, values: np.ndarray, cmap: str, lim: tuple[float, float], fmt: str,
          best: np.ndarray | None = None) -> None:  # fmt: skip
    rows, cols = shade.shape
    # vector cells (pcolormesh), not imshow: an image would be embedded as a PNG data URI
    mesh = ax.pcolormesh(np.arange(cols + 1) - 0.5, np.arange(rows + 1) - 0.5, np.nan_to_num(shade, nan=lim[1]),
                         cmap=cmap, vmin=lim[0], vmax=lim[1], edgecolors="white", linewidth=0.5)  # fmt: skip
    ax.set_ylim(rows - 0.5, -0.5)
    cells = mesh.cmap(mesh.norm(np.nan_to_num(shade, nan=lim[1])))
    for (r, c), v in np.ndenumerate(values):
        strong = best is not None and bool(best[r, c])
        ax.text(c, r, "-" if np.isnan(v) else fmt.format(v), ha="center", va="center", fontsize=7,
                fontweight="bold" if strong else "normal", color=readable_on(cells[r, c]))  # fmt: skip
