"""The backtest report's sections: verdict, metrics against baselines, reliability
diagram, coverage by horizon step, fan charts (rendered with ``forecasting.core.html``).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from forecasting.backtest import metrics as mt
from forecasting.core.html import FAN_RISKIEST, FAN_SAMPLE, Section, figure_svg, table_html, use_agg
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
)


def backtest_sections(result, by_step: pd.DataFrame) -> list[Section]:
    """The backtest report's sections, from a ``BacktestResult`` and its per-step metrics."""
    use_agg()
    return [
        _verdict(result),
        _metrics(result.metrics),
        Section("Reliability diagram", _reliability(result.frame)),
        Section("Coverage by horizon step", _by_step(by_step)),
        Section("Fan charts", _fans(result.frame)),
    ]


def _verdict(result) -> Section:
    gate = result.gate
    word = "<span class='pass'>PASSED</span>" if gate.passed else "<span class='fail'>FAILED</span>"
    figs = pd.DataFrame(gate.figures).T[["coverage_strict", "upper", "coverage", "lower"]]
    figs.index.name = "quantile"
    figs["ok"] = [str(v) for v in pd.DataFrame(gate.figures).T["ok"]]
    levels = ", ".join(f"q{q:g} &rarr; {v:.3f}" for q, v in sorted(result.calibration.levels.items()))
    checks = result.checks.to_dict()
    body = (
        f"<p>Calibration gate: {word} ({html.escape(gate.model)}, held-out windows "
        f"{html.escape(', '.join(gate.windows) or 'none')}, n={gate.n}, tolerance {gate.tolerance:g}). "
        "A calibrated q-quantile of counts needs coverage_strict &le; q + tol and coverage &ge; q &minus; tol.</p>"
        + table_html(figs.astype({c: float for c in ["coverage_strict", "upper", "coverage", "lower"]}))
        + f"<p>Cutoffs (evaluated): {', '.join(str(c.date()) for c in result.plan.cutoffs)}; "
        f"calibration-only: {', '.join(str(c.date()) for c in result.plan.calibration) or 'none'}; "
        f"horizon {result.plan.horizon}, step {result.plan.step}; {result.n_series} series; "
        f"cold start {len(result.cold_start)}.</p>"
        f"<p>Production calibration levels (applied to sample paths): {levels}.</p>"
        f"<p class='note'>Left out: {checks['all_missing']['count']} all-missing series, "
        f"{checks['missing_in_windows']['count']} with missing actuals inside the evaluated windows. "
        f"Capped sample values: {result.capped}.</p>"
    )
    return Section("Verdict", body)


def _metrics(metrics: pd.DataFrame) -> str | Section:
    cols = [mt.MEAN_WQL, *[mt.wql_name(q) for q in EVAL_QUANTILES], mt.INTERVAL_COVERAGE]
    cols += [mt.coverage_name(q) for q in EVAL_QUANTILES] + [mt.coverage_name(q, True) for q in EVAL_QUANTILES]
    cols += [mt.MASE, mt.BIAS]
    best = {c: "min" for c in [mt.MEAN_WQL, *[mt.wql_name(q) for q in EVAL_QUANTILES], mt.MASE]}
    out = []
    for seg in metrics[SEGMENT].unique():
        wide = metrics[metrics[SEGMENT] == seg].pivot(index=MODEL, columns=METRIC, values=METRIC_VALUE)
        wide = wide.reindex(index=list(dict.fromkeys(metrics[MODEL])), columns=cols)
        wide.index.name = "model"
        out.append(f"<h3>Segment: {html.escape(str(seg))}</h3>" + table_html(wide, best))
    note = (
        "<p class='note'>wQL = 2 &Sigma; pinball / &Sigma; |y| (GluonTS); coverage_q = share(y &le; q&#770;), "
        "coverage_strict_q = share(y &lt; q&#770;); interval_coverage_0.90 = share(q0.05 &le; y &le; q0.95). "
        "riskcast = DeepAR with levels recalibrated on earlier windows only; deepar_raw = the same samples uncalibrated.</p>"
    )
    return Section("Metrics against baselines", note + "".join(out))


def _reliability(frame: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    fig, (ax, hx) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="ideal")
    palette = plt.get_cmap("tab10")
    models = list(dict.fromkeys(frame[MODEL]))
    grid, edges = np.linspace(0, 1, 101), np.linspace(0, 1, 11)
    for i, model in enumerate(models):
        g = frame[frame[MODEL] == model]
        pit = g[g[PIT_LO].notna()]
        if len(pit):  # sample models: the whole PIT CDF and histogram
            ax.plot(grid, mt.pit_cdf(pit[PIT_LO], pit[PIT_HI], grid), color=palette(i), lw=1.2, alpha=0.8)
            mass = np.diff(mt.pit_cdf(pit[PIT_LO], pit[PIT_HI], edges)) * 10
            hx.step(edges, np.append(mass, mass[-1]), where="post", color=palette(i), lw=1.5, label=model)
        qs = [0.05, *EVAL_QUANTILES]
        lo = [mt.coverage(g, q, strict=True) for q in qs]
        hi = [mt.coverage(g, q) for q in qs]
        x = np.array(qs) + (i - len(models) / 2) * 0.005
        ax.vlines(x, lo, hi, color=palette(i), lw=2)
        ax.scatter(x, hi, color=palette(i), s=14, label=model)
    hx.axhline(1.0, color="#999", ls="--", lw=1)
    hx.set_title("Non-randomised PIT histogram (Czado et al. 2009)", fontsize=9)
    hx.set_xlabel("PIT"), hx.set_ylabel("density"), hx.legend(fontsize=7)
    ax.set_xlabel("nominal level q"), ax.set_ylabel("observed coverage")
    ax.set_title("Coverage: bars from share(y<q̂) to share(y≤q̂); lines: PIT CDF", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    caption = ("Left: for counts a calibrated model's bar crosses the diagonal, and its PIT CDF "
               "follows it. Right: flat means calibrated, U-shaped too narrow, hump-shaped too wide.")
    return figure_svg(fig, caption)


def _by_step(by_step: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(EVAL_QUANTILES), figsize=(12, 3.4), sharey=False)
    palette = plt.get_cmap("tab10")
    for ax, q in zip(np.atleast_1d(axes), EVAL_QUANTILES, strict=True):
        for i, model in enumerate(dict.fromkeys(by_step[MODEL])):
            g = by_step[(by_step[MODEL] == model) & (by_step[METRIC] == mt.coverage_name(q))]
            ax.plot(g[STEP], g[METRIC_VALUE], marker="o", ms=3, color=palette(i), label=model)
        ax.axhline(q, color="#999", ls="--", lw=1)
        ax.set_title(f"coverage_{q:g} by step", fontsize=9)
        ax.set_xlabel("horizon step")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return figure_svg(fig, "Share of actuals at or below the forecast quantile per horizon step (dashed: nominal).")


def _fans(frame: pd.DataFrame) -> str:
    """Fan charts of the calibrated model: the riskiest series (highest mean P95) and a sample."""
    import matplotlib.pyplot as plt

    model = frame[MODEL].iloc[0]
    fc = frame[frame[MODEL] == model]
    risk = fc.groupby(UNIQUE_ID)[quantile_col(0.95)].mean().sort_values(ascending=False, kind="stable")
    riskiest = list(risk.index[:FAN_RISKIEST])
    rest = sorted(set(risk.index) - set(riskiest))
    sample = list(np.random.default_rng(0).choice(rest, size=min(FAN_SAMPLE, len(rest)), replace=False)) if rest else []
    out = []
    for label, ids in (("riskiest", riskiest), ("sample", sample)):
        if not ids:
            continue
        fig, axes = plt.subplots(1, len(ids), figsize=(3.2 * len(ids), 2.8), squeeze=False)
        for ax, uid in zip(axes[0], ids, strict=True):
            g = fc[fc[UNIQUE_ID] == uid].sort_values([CUTOFF, DS])
            for _, w in g.groupby(CUTOFF):
                ax.fill_between(w[DS], w[quantile_col(0.05)], w[quantile_col(0.95)], color="#1f77b4", alpha=0.18, lw=0)
                ax.fill_between(w[DS], w[quantile_col(0.05)], w[quantile_col(0.9)], color="#1f77b4", alpha=0.22, lw=0)
                ax.plot(w[DS], w[quantile_col(0.5)], color="#1f77b4", lw=1.2)
            ax.plot(g[DS], g[Y], "o", color="#d62728", ms=3)
            ax.set_title(str(uid), fontsize=8)
            ax.tick_params(labelsize=6, axis="x", rotation=45)
        out.append(figure_svg(fig, f"{label.capitalize()} series ({model}): P50 line, P90 and P95 bands "
                                   "per cutoff; red dots are actuals."))
    return "".join(out)
