"""The backtest report's sections: the verdict in words, then the figures (scores by segment,
reliability, coverage by horizon step, fan charts), then the tables (rendered with
``forecasting.core.html``; figures in ``forecasting.backtest.figures``).
"""

from __future__ import annotations

import html

import pandas as pd

from forecasting.backtest import figures
from forecasting.backtest import metrics as mt
from forecasting.core.html import Section, table_html
from forecasting.core.schema import EVAL_QUANTILES, METRIC, METRIC_VALUE, MODEL, SEGMENT

_GATE_HEADERS = {
    "quantile": "Quantile", "coverage_strict": "share(y < q̂)", "upper": "at most",
    "coverage": "share(y ≤ q̂)", "lower": "at least", "ok": "OK",
}  # fmt: skip
_SCORE_COLUMNS = {
    mt.MEAN_WQL: "mean wQL", **{mt.wql_name(q): f"wQL P{q * 100:g}" for q in EVAL_QUANTILES},
    mt.INTERVAL_COVERAGE: "P5-P95 coverage", **{mt.coverage_name(q): f"≤ P{q * 100:g}" for q in EVAL_QUANTILES},
    mt.MASE: "MASE", mt.BIAS: "bias",
}  # fmt: skip


def backtest_sections(result, by_step: pd.DataFrame) -> list[Section]:
    """The backtest report's sections, from a ``BacktestResult`` and its per-step metrics."""
    return [
        _verdict(result),
        Section("Scores by segment", figures.score_heatmap(result.metrics)),
        Section("Reliability diagram", figures.reliability(result.frame)),
        Section("Coverage by horizon step", figures.by_step(by_step)),
        Section("Fan charts", figures.fans(result.frame)),
        _tables(result),
    ]


def _verdict(result) -> Section:
    gate = result.gate
    word = "<span class='pass'>PASSED</span>" if gate.passed else "<span class='fail'>FAILED</span>"
    levels = ", ".join(
        f"P{q * 100:g} &rarr; {v:.3f}" for q, v in sorted(result.calibration.levels.items())
    )
    checks = result.checks.to_dict()
    fig95 = gate.figures.get("0.95") or next(iter(gate.figures.values()), None)
    headline = ""
    if fig95:
        headline = (f" On the held-out windows {fig95['coverage']:.1%} of actuals were at or below the "
                    f"forecast P95 ({fig95['coverage_strict']:.1%} strictly below).")  # fmt: skip
    body = (
        f"<p>Calibration gate: {word} ({html.escape(gate.model)}, held-out windows "
        f"{html.escape(', '.join(gate.windows) or 'none')}, n={gate.n}, tolerance {gate.tolerance:g}).{headline} "
        "A calibrated q-quantile of counts needs share(y &lt; q&#770;) &le; q + tol and share(y &le; q&#770;) "
        "&ge; q &minus; tol (figures in the tables below).</p>"
        f"<p>Cutoffs (evaluated): {', '.join(str(c.date()) for c in result.plan.cutoffs)}; "
        f"calibration-only: {', '.join(str(c.date()) for c in result.plan.calibration) or 'none'}; "
        f"horizon {result.plan.horizon}, step {result.plan.step}; {result.n_series} series; "
        f"cold start {len(result.cold_start)}.</p>"
        f"<p>Production calibration levels (applied to sample paths): {levels} "
        f"({html.escape(result.calibration.method)}).</p>{_ensemble_text(result.ensemble)}"
        f"<p class='note'>Left out: {checks['all_missing']['count']} all-missing series, "
        f"{checks['missing_in_windows']['count']} with missing actuals inside the evaluated windows "
        "(kept, scored on the periods observed). "
        f"Capped sample values: {result.capped}.</p>"
    )
    return Section("Verdict", body)


def _ensemble_text(choice) -> str:
    """What is published: the choice, its evidence, per-window choices, failures."""
    if choice is None:
        return ""
    weights = ", ".join(f"{html.escape(m)} {w:.0%}" for m, w in choice.weights.items())
    scores = ", ".join(f"{html.escape(m)} {v:.4f}" for m, v in choice.scores.items())
    windows = "; ".join(
        f"{c}: " + ", ".join(f"{html.escape(m)} {w:.0%}" for m, w in ws.items())
        for c, ws in choice.window_weights.items()
    )
    failed = "".join(
        f"<li>{html.escape(m)}: weight 0, {html.escape('; '.join(r))}</li>" for m, r in choice.failed.items()
    )
    ev = choice.evidence.get("production", {})
    blend = ", ".join(f"{html.escape(m)} {w:.0%}" for m, w in choice.blend.items())
    interval = ev.get("interval") or [float("nan"), float("nan")]
    evidence = (
        f" Evidence on {len(ev.get('windows', []))} window(s) x {ev.get('series', 0)} series "
        f"({ev.get('units', 0)} pairs): best member {html.escape(str(ev.get('best')))} "
        f"(mean wQL {ev.get('best_wql', float('nan')):.4f}), shrunk blend {blend} "
        f"({ev.get('blend_wql', float('nan')):.4f}), improvement {ev.get('improvement', 0.0):+.2%} "
        f"[90%: {interval[0]:+.2%}, {interval[1]:+.2%}], paired bootstrap p = {ev.get('p', 1.0):.3f}: "
        f"{html.escape(str(ev.get('reason', '')))}."
    ) if ev else ""
    return (
        f"<p>Published ({html.escape(choice.combination)} combination): {weights}.{evidence} Mean wQL "
        f"over every window: {scores}. What each window published (chosen on earlier windows only): "
        f"{windows}.</p>" + (f"<ul>{failed}</ul>" if failed else "")
    )


def _tables(result) -> Section:
    gate = pd.DataFrame(result.gate.figures).T
    gate = (
        gate[["coverage_strict", "upper", "coverage", "lower"]]
        .astype(float)
        .assign(ok=[("yes" if v else "NO") for v in pd.DataFrame(result.gate.figures).T["ok"]])
    )
    gate.index.name = "quantile"
    metrics = result.metrics
    every = metrics[metrics[SEGMENT] == metrics[SEGMENT].iloc[0]] if len(metrics) else metrics
    wide = every.pivot(index=MODEL, columns=METRIC, values=METRIC_VALUE)
    wide = wide.reindex(
        index=figures.ordered_models(wide.index),
        columns=[c for c in _SCORE_COLUMNS if c in wide.columns],
    )
    wide.index.name = "model"
    best = {
        c: "min"
        for c in (mt.MEAN_WQL, *[mt.wql_name(q) for q in EVAL_QUANTILES], mt.MASE)
        if c in wide.columns
    }
    segment = html.escape(str(every[SEGMENT].iloc[0])) if len(every) else "-"
    note = (
        "<p class='note'>wQL = 2 &Sigma; pinball / &Sigma; |y| (GluonTS); &le; Pq = share(y &le; q&#770;); "
        "P5-P95 coverage = share(q0.05 &le; y &le; q0.95), target 0.90. riskcast = what production would "
        "have published at each cutoff (the blend when earlier windows gave evidence it beats the best "
        "member, else the best member), levels recalibrated on earlier windows only where that helped "
        "there; ensemble = the shrunk blend at each cutoff; best_member = the best member of earlier "
        "windows alone; deepar_raw = DeepAR's samples uncalibrated; local_nb = the local negative "
        "binomial model; gbm = the global LightGBM count model (Tweedie mean, NB paths). "
        "Every segment's figures are in metrics.csv.</p>"
    )
    return Section(
        "Tables",
        "<h3>Calibration gate</h3>"
        + table_html(gate, headers=_GATE_HEADERS)
        + f"<h3>Scores, segment {segment}</h3>"
        + table_html(wide, best, headers=_SCORE_COLUMNS)
        + note,
    )
