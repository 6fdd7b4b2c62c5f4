"""One backtest window, start to finish: the production fit and its sample paths, the
ensemble members and, on evaluated cutoffs, the baselines.

``run_window`` is pure (a ``WindowJob`` in, a small ``WindowRun`` out) and runs with
``settings.model.num_threads`` torch threads whoever calls it, so a window gives the same
numbers in process and as a Ray task (``forecasting.backtest.parallel``): torch's float
results depend on its thread count. Rows are scored and decorated here, so ``WindowRun``
holds only frames and sample paths (it pickles); the fitted model is kept only in process.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.backtest import baselines as bl
from forecasting.backtest.members import fit_members
from forecasting.backtest.metrics import pit_bounds
from forecasting.backtest.windows import WindowFrames, mase_scales
from forecasting.core.config import Settings
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import (
    COLD_START,
    CUTOFF,
    DS,
    MODEL,
    PIT_HI,
    PIT_LO,
    UNIQUE_ID,
    WINDOW,
    Y,
)
from forecasting.model.quiet import torch_threads

RISKCAST, DEEPAR_RAW = "riskcast", "deepar_raw"

FitFn = Callable[..., Any]  # fit(train_df, spec, settings, *, seed, horizon) -> .predict(df, n)


class PhaseClock:
    """Wall seconds per phase (train, forecast, baselines, metrics, report) and, under
    ``cpu <phase>``, this process's CPU seconds (steadier than wall on a shared machine)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, phase: str, fn: Callable[[], Any]) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn()
        finally:
            self.add({phase: time.perf_counter() - t0, f"{CPU}{phase}": time.process_time() - c0})

    def add(self, seconds: dict[str, float]) -> None:
        for phase, s in seconds.items():
            self.seconds[phase] = self.seconds.get(phase, 0.0) + s


CPU = "cpu "  # prefix of a phase's CPU seconds in ``PhaseClock.seconds``


@dataclass
class WindowJob:
    """One window's inputs: its frames, its index (calibration windows are negative),
    whether it is evaluated (then the baselines run too), and the run's budget."""

    win: WindowFrames
    window: int
    evaluated: bool
    cold: list[str]
    horizon: int
    seed: int
    num_samples: int
    models: tuple[str, ...]


@dataclass
class WindowForecasts:
    """What a window forecast, before scoring (what ``window_store`` keeps). ``samples``:
    DeepAR's ``ForecastSamples`` (None when neither riskcast nor deepar_raw is asked for);
    ``members``: ``ensemble.fit_members`` output; ``baselines``: forecast frames by name;
    ``weights``: DeepAR's networks' state dicts (the next window's warm start); ``fitted``:
    the model, in process only; ``origin``: how it came about (fitted, warm start, stored)."""

    cutoff: pd.Timestamp
    samples: Any = None
    members: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    weights: list[dict] | None = None
    fitted: Any = None
    origin: str = "fitted"


@dataclass
class WindowRun:
    """One window's results. ``samples``: the production fit's ``ForecastSamples`` (None when
    neither riskcast nor deepar_raw is asked for); ``members``: ``ensemble.fit_members``
    output; ``raw``: DeepAR's scored rows; ``baselines``: scored rows, one frame per
    baseline; ``seconds`` per phase; ``capped`` sample values; ``origin``: see
    ``WindowForecasts``."""

    cutoff: pd.Timestamp
    samples: Any = None
    members: dict[str, Any] = field(default_factory=dict)
    raw: pd.DataFrame | None = None
    baselines: list[pd.DataFrame] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    capped: int = 0
    origin: str = "fitted"


def wants_deepar(job: WindowJob) -> bool:
    return RISKCAST in job.models or DEEPAR_RAW in job.models


def warm_capable(fit: FitFn) -> bool:
    """True when ``fit`` takes ``init`` (weights to start from) and ``patience``."""
    params = inspect.signature(fit).parameters
    return "init" in params and "patience" in params


def forecast_window(
    job: WindowJob, spec: PanelSpec, settings: Settings, fit: FitFn, member_fits: dict[str, FitFn],
    fitted: Any = None, init: list[dict] | None = None, have: tuple[str, ...] = (),
) -> WindowForecasts:
    """Fit, forecast, fit the ensemble members and (evaluated windows) the baselines of one
    window; ``fitted`` is reused instead of fitting when ``settings.refit_every_window`` is
    False; ``init``: DeepAR weights to start from (warm start, ``fit`` must take them);
    ``have``: baselines already stored (not forecast again)."""
    clock, win, n = PhaseClock(), job.win, job.num_samples
    out = WindowForecasts(win.cutoff, origin="warm start" if init else "fitted")
    with torch_threads(settings.model.num_threads):
        if wants_deepar(job):
            if fitted is None or settings.refit_every_window:
                extra = {"init": init, "patience": settings.backtest_warm_patience} if init else {}
                fitted = clock.time(
                    "train", lambda: fit(win.train, spec, settings, seed=job.seed, horizon=job.horizon, **extra)
                )
            fs = clock.time("forecast", lambda: fitted.predict(win.context, num_samples=n))
            out.samples, out.fitted = fs, fitted
            out.weights = fitted.warm_state() if hasattr(fitted, "warm_state") else None
            out.members = clock.time("fit ensemble", lambda: fit_members(
                win, spec, settings, job.horizon, job.seed, n, fs, member_fits))
        if job.evaluated:
            out.baselines = clock.time("baselines", lambda: _baselines(win, spec, settings, job, have))
    out.seconds = clock.seconds
    return out


def score_window(job: WindowJob, spec: PanelSpec, fc: WindowForecasts) -> WindowRun:
    """Score a window's forecasts against its actuals (PIT bounds, MASE scale, flags)."""
    win = job.win
    scales = mase_scales(win.history, spec.freq)
    out = WindowRun(win.cutoff, fc.samples, fc.members, seconds=dict(fc.seconds), origin=fc.origin)
    if fc.samples is not None:
        out.capped = int(getattr(fc.samples, "capped", 0))
        rows = _sample_rows(fc.samples, spec.freq, win.actuals, win.cutoff)
        out.raw = _decorate(rows, scales, job.cold, job.window)
    if job.evaluated:
        out.baselines = [_decorate(_scored(fc.baselines[name], name, win.actuals, win.cutoff), scales, job.cold,
                                   job.window) for name in _baseline_order(job) if name in fc.baselines]
    return out


def run_window(
    job: WindowJob, spec: PanelSpec, settings: Settings, fit: FitFn, member_fits: dict[str, FitFn],
    fitted: Any = None,
) -> WindowRun:
    """``forecast_window`` then ``score_window`` (one window, nothing stored)."""
    return score_window(job, spec, forecast_window(job, spec, settings, fit, member_fits, fitted))


def _baseline_order(job: WindowJob) -> list[str]:
    names = [bl.SEASONAL_NAIVE, *bl.STATS_BASELINES, bl.GLUONTS_DEEPAR]
    return [m for m in names if m in job.models]


def _baselines(win: WindowFrames, spec: PanelSpec, settings: Settings, job: WindowJob,
               have: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """Every baseline in ``job.models`` but ``have`` on this window's history (plain GluonTS:
    same budget)."""
    out: dict[str, pd.DataFrame] = {}
    todo = [m for m in _baseline_order(job) if m not in have]
    if bl.SEASONAL_NAIVE in todo:
        out[bl.SEASONAL_NAIVE] = bl.seasonal_naive(win.history, job.horizon, spec.freq)
    stats = tuple(m for m in bl.STATS_BASELINES if m in todo)
    if stats:
        out.update(bl.statsforecast_baselines(win.history, job.horizon, spec.freq, stats))
    if bl.GLUONTS_DEEPAR in todo:
        out[bl.GLUONTS_DEEPAR] = bl.gluonts_deepar(
            win.history, job.horizon, spec.freq, seed=job.seed, num_samples=job.num_samples,
            epochs=settings.model.max_epochs, batches=settings.model.batches_per_epoch,
        )
    return out


def _sample_rows(fs, freq: str, actuals: pd.DataFrame, cutoff) -> pd.DataFrame:
    """DeepAR's forecast rows from its sample paths, scored, with PIT bounds."""
    fc = bl.samples_frame(list(fs.ids), list(fs.starts), np.asarray(fs.samples, float), freq)
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
