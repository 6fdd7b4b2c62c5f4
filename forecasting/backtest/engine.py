"""The rolling-origin backtest itself: riskcast (raw and calibrated DeepAR) against baselines.

At each cutoff every model is fit only on rows up to that cutoff and forecasts the next
``horizon`` periods. The result is one tidy frame (``backtest.parquet``), one row per
model, series, cutoff and step::

    model, unique_id, cutoff, ds, step, y, mean, q0.05, q0.5, q0.9, q0.95,
    window, cold_start, mase_scale, pit_lo, pit_hi [, region]

Models: ``riskcast`` (the ensemble, with quantile levels recalibrated on earlier windows
only, and only where earlier windows showed the map improves both calibration and wQL: see
``forecasting.backtest.level_choice``), ``ensemble`` (the mixture of DeepAR's and the
members' sample paths at weights fitted on earlier windows: ``forecasting.backtest.ensemble``),
``deepar_raw`` (DeepAR's samples, raw levels), ``local_nb`` (and any other member), ``gluonts_deepar`` (plain GluonTS),
``seasonal_naive``, ``croston_sba``, ``tsb``, ``adida`` (see ``forecasting.backtest.baselines``).
The calibrated model also forecasts ``calibration_windows`` earlier cutoffs so that its
first evaluated window has levels fitted on the past (``forecasting.backtest.calibration``).
Pure: frames in, frames out; ``forecasting.backtest.run`` reads panels and writes the files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting import model
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
    pit_bounds,
)
from forecasting.backtest.windows import (
    PanelChecks,
    WindowPlan,
    mase_scales,
    pick_cold_start,
    plan_windows,
    scorable_panel,
    window_frames,
)
from forecasting.core.config import Settings
from forecasting.core.progress import track
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
from forecasting.panel.spec import PanelSpec

log = logging.getLogger(__name__)

RISKCAST, DEEPAR_RAW = "riskcast", "deepar_raw"
MODELS = (RISKCAST, ens.ENSEMBLE, DEEPAR_RAW, *ens.MEMBER_FITS, bl.GLUONTS_DEEPAR, bl.SEASONAL_NAIVE,
          *bl.STATS_BASELINES)
CALIBRATION_WINDOWS = 1
FRAME_COLUMNS = [
    MODEL, UNIQUE_ID, CUTOFF, DS, STEP, Y, MEAN, *[quantile_col(q) for q in QUANTILE_LEVELS],
    WINDOW, COLD_START, MASE_SCALE, PIT_LO, PIT_HI,
]

FitFn = Callable[..., Any]  # fit(train_df, spec, settings, *, seed, horizon) -> .predict(df, n)


def fit_riskcast(train: pd.DataFrame, spec: PanelSpec, settings: Settings, *, seed: int, horizon: int):
    """The production fit (``forecasting.model.fit.fit_model``), in process."""
    return model.fit_model(train, spec, settings, seed=seed, use_ray=False, horizon=horizon)


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


class _Clock:
    """Wall seconds per phase (train, forecast, baselines, metrics, report)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, phase: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0


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
    models: tuple[str, ...] = MODELS,
    calibration_windows: int = CALIBRATION_WINDOWS,
    num_samples: int | None = None,
    member_fits: dict[str, FitFn] = ens.MEMBER_FITS,
) -> BacktestResult:
    """Backtest ``df`` (a panel) on ``windows`` rolling origins; see the module docstring.

    ``fit`` is called once per cutoff (or once in all if ``settings.refit_every_window``
    is False) with the training rows of that cutoff only; so is every ensemble member of
    ``member_fits`` (``forecasting.backtest.ensemble``). Raises InputError for panels
    too short for the windows.
    """
    clock = _Clock()
    plan = plan_windows(df, horizon, windows, step, calibration_windows)
    df, checks = scorable_panel(df, plan.first_eval_period)
    ids = sorted(df[UNIQUE_ID].astype(str).unique())
    cold = pick_cold_start(ids, cold_start_share, seed)
    n = int(num_samples or settings.model.num_samples)
    frames, raw, samples, members, capped, fitted = [], [], {}, {}, 0, None
    for k, cutoff in enumerate(track([*plan.calibration, *plan.cutoffs], "backtest windows")):
        win = window_frames(df, spec, cutoff, horizon, cold)
        scales = mase_scales(win.history, spec.freq)
        window = k - len(plan.calibration)  # calibration-only windows are negative
        if RISKCAST in models or DEEPAR_RAW in models:
            if fitted is None or settings.refit_every_window:
                fitted = clock.time(
                    "train", lambda w=win: fit(w.train, spec, settings, seed=seed, horizon=horizon)
                )
            fs = clock.time("forecast", lambda w=win, f=fitted: f.predict(w.context, num_samples=n))
            capped += int(getattr(fs, "capped", 0))
            samples[cutoff] = fs
            members[cutoff] = clock.time("fit ensemble", lambda w=win, f=fs: ens.fit_members(
                w, spec, settings, horizon, seed, n, f, member_fits))
            raw.append(_decorate(_sample_rows(fs, spec.freq, win.actuals, cutoff), scales, cold, window))
        if cutoff in plan.cutoffs:
            fcs = clock.time("baselines", lambda w=win: _baselines(w, spec, settings, horizon, seed, models, n))
            for name, fc in fcs.items():
                frames.append(_decorate(_scored(fc, name, win.actuals, cutoff), scales, cold, window))
    raw_all = pd.concat(raw, ignore_index=True) if raw else pd.DataFrame(columns=FRAME_COLUMNS)
    every = [*plan.calibration, *plan.cutoffs]
    run = clock.time("ensemble", lambda: ens.build_ensemble(raw_all, samples, members, every, spec.freq, member_fits)
                     ) if raw else None
    base, paths = (run.rows, run.paths) if run else (raw_all, samples)
    choice = choose_window_levels(base, paths, spec.freq, every, plan.cutoffs, settings.calibration_tolerance)
    if raw:
        evaluated = [raw_all.assign(**{MODEL: DEEPAR_RAW}), base, *run.members.values()]
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
    )


def _baselines(
    win, spec: PanelSpec, settings: Settings, horizon: int, seed: int, models: tuple[str, ...], n: int
) -> dict[str, pd.DataFrame]:
    """Every baseline in ``models`` on this window's history (plain GluonTS: same budget)."""
    out: dict[str, pd.DataFrame] = {}
    if bl.SEASONAL_NAIVE in models:
        out[bl.SEASONAL_NAIVE] = bl.seasonal_naive(win.history, horizon, spec.freq)
    stats = tuple(m for m in bl.STATS_BASELINES if m in models)
    if stats:
        out.update(bl.statsforecast_baselines(win.history, horizon, spec.freq, stats))
    if bl.GLUONTS_DEEPAR in models:
        out[bl.GLUONTS_DEEPAR] = bl.gluonts_deepar(
            win.history, horizon, spec.freq, seed=seed, num_samples=n,
            epochs=settings.model.max_epochs, batches=settings.model.batches_per_epoch,
        )
    return out


def _sample_rows(fs, freq: str, actuals: pd.DataFrame | None, cutoff, levels=None) -> pd.DataFrame:
    """Forecast rows from sample paths; with ``actuals``, scored and with PIT bounds."""
    fc = bl.samples_frame(list(fs.ids), list(fs.starts), np.asarray(fs.samples, float), freq, levels)
    if actuals is None:
        return fc
    flat = np.asarray(fs.samples, float).transpose(0, 2, 1).reshape(len(fc), -1)
    fc[PIT_LO], fc[PIT_HI] = np.nan, np.nan
    keyed = fc[[UNIQUE_ID, DS]].assign(_row=np.arange(len(fc))).merge(actuals, on=[UNIQUE_ID, DS])
    lo, hi = pit_bounds(flat[keyed["_row"].to_numpy()], keyed[Y].to_numpy())
    fc.loc[keyed["_row"].to_numpy(), PIT_LO] = lo
    fc.loc[keyed["_row"].to_numpy(), PIT_HI] = hi
    return _scored(fc, DEEPAR_RAW, actuals, cutoff)


def _scored(fc: pd.DataFrame, model: str, actuals: pd.DataFrame, cutoff) -> pd.DataFrame:
    out = fc.merge(actuals, on=[UNIQUE_ID, DS], how="inner")
    return out.assign(**{MODEL: model, CUTOFF: pd.Timestamp(cutoff)})


def _decorate(f: pd.DataFrame, scales: pd.DataFrame, cold: list[str], window: int) -> pd.DataFrame:
    out = f.merge(scales, on=UNIQUE_ID, how="left")
    out[WINDOW] = window
    out[COLD_START] = out[UNIQUE_ID].astype(str).isin(cold)
    for col in (PIT_LO, PIT_HI):
        if col not in out:
            out[col] = np.nan
    return out


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

