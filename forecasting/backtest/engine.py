"""The rolling-origin backtest itself: riskcast (raw and calibrated DeepAR) against baselines.

At each cutoff every model is fit only on rows up to that cutoff and forecasts the next
``horizon`` periods. The result is one tidy frame (``backtest.parquet``), one row per
model, series, cutoff and step::

    model, unique_id, cutoff, ds, step, y, mean, q0.05, q0.5, q0.9, q0.95,
    window, cold_start, mase_scale, pit_lo, pit_hi [, region]

Models: ``riskcast`` (what production would have published at each cutoff: the blend of
members or, without evidence that it beats the best member, the best member alone, both
chosen on earlier windows only, with quantile levels recalibrated on earlier windows only
where that helped there: ``forecasting.backtest.level_choice``), ``ensemble`` (the shrunk
blend, always), ``best_member`` (the rule "the best member on earlier windows, alone"; see
``forecasting.backtest.ensemble``), ``deepar_raw`` (DeepAR's samples, raw levels),
``local_nb`` (and any other member), ``gluonts_deepar`` (plain GluonTS),
``seasonal_naive``, ``croston_sba``, ``tsb``, ``adida`` (see ``forecasting.backtest.baselines``).
The calibrated model also forecasts ``calibration_windows`` earlier cutoffs so that its
first evaluated window has levels fitted on the past (``forecasting.backtest.calibration``).
Pure: frames in, frames out; ``forecasting.backtest.run`` reads panels and writes the files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecasting.backtest import baselines as bl
from forecasting.backtest import ensemble as ens
from forecasting.backtest.calibration import Calibration, GateResult, evaluate_gate
from forecasting.backtest.level_choice import (
    LevelChoice,
    choose_window_levels,
    mapped_rows,
    production_levels,
)
from forecasting.backtest.metrics import (
    MEAN_WQL,
    SEGMENT_ALL,
    coverage,
    coverage_name,
    metrics_table,
)
from forecasting.backtest.parallel import run_windows
from forecasting.backtest.window_run import DEEPAR_RAW, RISKCAST, FitFn, PhaseClock, WindowJob
from forecasting.backtest.window_store import WindowStore, config_digest
from forecasting.backtest.windows import (
    PanelChecks,
    WindowPlan,
    pick_cold_start,
    plan_windows,
    scorable_panel,
    window_frames,
)
from forecasting.core.config import Settings
from forecasting.core.lake import Lake
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import (
    COLD_START,
    CUTOFF,
    DS,
    EVAL_QUANTILES,
    MASE_SCALE,
    MEAN,
    METRIC,
    METRIC_VALUE,
    MODEL,
    PIT_HI,
    PIT_LO,
    QUANTILE_LEVELS,
    REGION,
    SEGMENT,
    STEP,
    UNIQUE_ID,
    WINDOW,
    Y,
    quantile_col,
)
from forecasting.model.fit import fit_model

log = logging.getLogger(__name__)

MODELS = (RISKCAST, ens.ENSEMBLE, ens.BEST_MEMBER, DEEPAR_RAW, *ens.MEMBER_FITS, bl.GLUONTS_DEEPAR,
          bl.SEASONAL_NAIVE, *bl.STATS_BASELINES)
BASELINES = (bl.GLUONTS_DEEPAR, bl.SEASONAL_NAIVE, *bl.STATS_BASELINES)
CALIBRATION_WINDOWS = 1
FRAME_COLUMNS = [
    MODEL, UNIQUE_ID, CUTOFF, DS, STEP, Y, MEAN, *[quantile_col(q) for q in QUANTILE_LEVELS],
    WINDOW, COLD_START, MASE_SCALE, PIT_LO, PIT_HI,
]


def fit_riskcast(train: pd.DataFrame, spec: PanelSpec, settings: Settings, *, seed: int, horizon: int,
                 init=None, patience: int | None = None):
    """The production fit (``forecasting.model.fit.fit_model``), in process; ``init``: weights
    of an earlier window to start from, trained with ``patience`` (a warm start)."""
    return fit_model(train, spec, settings, seed=seed, use_ray=False, horizon=horizon, init=init, patience=patience)


@dataclass
class BacktestResult:
    """Everything a run produced; ``frame`` holds the evaluated windows only."""

    frame: pd.DataFrame
    metrics: pd.DataFrame
    calibration: Calibration
    gate: GateResult
    plan: WindowPlan
    checks: PanelChecks
    cold_start: list[str]
    n_series: int
    timings: dict[str, float] = field(default_factory=dict)
    window_levels: dict[str, dict[float, float]] = field(default_factory=dict)
    capped: int = 0
    ensemble: ens.EnsembleChoice | None = None
    paths: dict[pd.Timestamp, Any] = field(default_factory=dict)  # evaluated cutoff -> ForecastSamples
    origins: dict[str, str] = field(default_factory=dict)  # cutoff -> fitted, warm start, reused


def run_backtest(
    df: pd.DataFrame,
    spec: PanelSpec,
    settings: Settings,
    *,
    horizon: int,
    windows: int,
    step: int | None = None,
    cold_start_share: float = 0.0,
    seed: int = 0,
    fit: FitFn = fit_riskcast,
    models: tuple[str, ...] | None = None,
    calibration_windows: int = CALIBRATION_WINDOWS,
    num_samples: int | None = None,
    member_fits: dict[str, FitFn] | None = None,
    store_lake: Lake | None = None,
) -> BacktestResult:
    """Backtest ``df`` (a panel) on ``windows`` rolling origins; see the module docstring.

    ``models``: default every model but the baselines ``settings.backtest_baselines`` leaves
    out; ``member_fits``: default ``settings.ensemble_members``. ``fit`` is called once per
    cutoff (or once in all if ``settings.refit_every_window`` is False) with the training rows of that cutoff only; so is every ensemble member of
    ``member_fits`` (``forecasting.backtest.ensemble``). Windows run in process or as Ray
    tasks (``settings.backtest_workers``, see ``forecasting.backtest.parallel``; always in
    process when one fit serves every window), with identical results. Raises InputError
    for panels too short for the windows. ``store_lake``: the lake whose ``backtest_windows/``
    holds windows to reuse and where fitted ones are kept (``settings.backtest_reuse``;
    None: nothing stored). Cutoffs follow ``settings.backtest_cutoffs``.
    """
    clock = PhaseClock()
    if models is None:  # every model but the baselines the settings leave out
        models = tuple(m for m in MODELS if m not in BASELINES or m in settings.backtest_baselines)
    if member_fits is None:
        member_fits = ens.member_fits(settings)
    anchored = spec.freq if settings.backtest_cutoffs == "anchored" else None
    plan = plan_windows(df, horizon, windows, step, calibration_windows, anchored)
    df, checks = scorable_panel(df, plan.first_eval_period)
    ids = sorted(df[UNIQUE_ID].astype(str).unique())
    cold = pick_cold_start(ids, cold_start_share, seed)
    n = int(num_samples or settings.model.num_samples)
    every = [*plan.calibration, *plan.cutoffs]
    jobs = [WindowJob(window_frames(df, spec, c, horizon, cold), k - len(plan.calibration), c in plan.cutoffs,
                      cold, horizon, seed, n, models) for k, c in enumerate(every)]  # calibration: k < 0
    frames, raw, samples, members = [], [], {}, {}
    store = None
    if store_lake is not None and settings.backtest_reuse:
        deepar = RISKCAST in models or DEEPAR_RAW in models
        store = WindowStore(store_lake, config_digest(settings, spec, horizon=horizon, seed=seed, num_samples=n,
                                                      deepar=deepar, fit=fit, member_fits=member_fits))
    runs = run_windows(jobs, spec, settings, fit, member_fits, store, df)
    for w in runs:
        clock.add(w.seconds)
        frames.extend(w.baselines)
        if w.samples is not None:
            samples[w.cutoff], members[w.cutoff] = w.samples, w.members
            raw.append(w.raw)
    capped = sum(w.capped for w in runs)
    raw_all = pd.concat(raw, ignore_index=True) if raw else pd.DataFrame(columns=FRAME_COLUMNS)
    rule = ens.Rule.from_settings(settings)
    run = clock.time("ensemble", lambda: ens.build_ensemble(raw_all, samples, members, every, spec.freq, member_fits,
                                                             rule)) if raw else None
    base, paths = (run.rows, run.paths) if run else (raw_all, samples)
    choice = choose_window_levels(base, paths, spec.freq, every, plan.cutoffs, settings.calibration_tolerance)
    if raw:
        evaluated = [raw_all.assign(**{MODEL: DEEPAR_RAW}), *run.extra.values(), *run.members.values()]
        frames.extend(f[f[CUTOFF].isin(plan.cutoffs)] for f in evaluated)
        for cutoff in plan.cutoffs:
            rows = mapped_rows(base, paths[cutoff], spec.freq, cutoff, choice.applied[cutoff])
            frames.append(rows.assign(**{MODEL: RISKCAST}))
    frame = _finish(frames, df, models)
    metrics = clock.time("metrics", lambda: metrics_table(frame))
    calibration, gate = _calibrate(base, frame, plan, choice, settings.calibration_tolerance)
    return BacktestResult(
        frame, metrics, calibration, gate, plan, checks, cold, len(ids), clock.seconds,
        {str(c.date()): lv for c, lv in choice.applied.items()}, capped, run.choice if run else None,
        {c: paths[c] for c in plan.cutoffs if c in paths},
        {str(w.cutoff.date()): w.origin for w in runs},
    )


def _finish(frames: list[pd.DataFrame], panel: pd.DataFrame, models: tuple[str, ...]) -> pd.DataFrame:
    """Concatenate, keep rows every model forecast, add region, sort deterministically."""
    frame = pd.concat([f[FRAME_COLUMNS] for f in frames], ignore_index=True)
    frame = frame[frame[MODEL].isin(models)]
    keys = [UNIQUE_ID, CUTOFF, DS]
    count = frame.groupby(keys)[MODEL].transform("nunique")
    frame = frame[count == frame[MODEL].nunique()]
    if REGION in panel.columns:
        regions = panel[[UNIQUE_ID, REGION]].drop_duplicates(UNIQUE_ID)
        frame = frame.merge(regions, on=UNIQUE_ID, how="left")
    order = {m: i for i, m in enumerate(MODELS)}
    frame = frame.assign(_o=frame[MODEL].map(order)).sort_values(["_o", CUTOFF, UNIQUE_ID, STEP], kind="stable")
    frame = frame.drop(columns="_o").reset_index(drop=True)
    frame[STEP] = frame[STEP].astype("int64")
    frame[WINDOW] = frame[WINDOW].astype("int64")
    frame[UNIQUE_ID] = frame[UNIQUE_ID].astype(str)
    return frame


def _calibrate(raw, frame, plan, choice: LevelChoice, tolerance) -> tuple[Calibration, GateResult]:
    """Production levels (``production_levels``) and the gate on held-out windows."""
    held = [c for c in plan.cutoffs if choice.fitted_on[c]]
    rows = frame[(frame[MODEL] == RISKCAST) & frame[CUTOFF].isin(held)]
    names = [str(c.date()) for c in held]
    gate = evaluate_gate(rows, RISKCAST, tolerance, names, EVAL_QUANTILES)
    fitted_on = sorted({str(pd.Timestamp(c).date()) for c in raw[CUTOFF].unique()}) if len(raw) else []
    lv, method, evidence = production_levels(raw, choice.mapped, tolerance)
    calibration = Calibration(
        method=method,
        levels=lv,
        fitted_on_windows=fitted_on,
        n_pit=int(raw[PIT_LO].notna().sum()) if len(raw) else 0,
        held_out={"windows": names, "n": gate.n, "passed": gate.passed, "figures": gate.figures,
                  "tolerance": tolerance, **_flat_coverage(rows)},
        choice={"production": evidence,
                "windows": {str(c.date()): e for c, e in choice.evidence.items()}},
    )
    return calibration, gate


def _flat_coverage(rows: pd.DataFrame) -> dict[str, float]:
    """``coverage_<q>`` / ``coverage_strict_<q>`` of the held-out rows, for readers of the JSON."""

    out = {}
    for q in QUANTILE_LEVELS:
        for strict in (False, True):
            out[coverage_name(q, strict)] = coverage(rows, q, strict) if len(rows) else float("nan")
    return out


def summary_headline(metrics: pd.DataFrame) -> dict[str, float]:
    """``{model: mean_wQL}`` on segment ``all`` (rounded to 4 places)."""

    sel = metrics[(metrics[METRIC] == MEAN_WQL) & (metrics[SEGMENT] == SEGMENT_ALL)]
    return {str(m): round(float(v), 4) for m, v in zip(sel[MODEL], sel[METRIC_VALUE], strict=True)}

