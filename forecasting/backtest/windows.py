"""Backtest inputs: which cutoffs a panel allows, which series it can score, and the
frames each window sees (training rows strictly up to the cutoff; nothing later).

Panel frames follow ``forecasting.panel.build``: ``unique_id, ds, y`` (+ covariates per the
``PanelSpec``, + ``is_future`` covariate-only rows on lake panels).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.core.errors import InputError
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import DS, IS_FUTURE, MASE_SCALE, UNIQUE_ID, Y

log = logging.getLogger(__name__)

# GluonTS' seasonality for MASE (gluonts.time_feature.get_seasonality): M 12, W 1, D 1.
MASE_SEASON = {"MS": 12, "M": 12}
LISTED = 50  # ids listed in a summary (the count is always complete)
ANCHOR = pd.Timestamp("2000-01-03")  # a Monday: the origin of the anchored cutoff grid


def min_train_periods(horizon: int) -> int:
    """History needed before the first cutoff: two horizons plus one (conformal baselines
    calibrate on two rolling windows; the model validates on the last horizon)."""
    return 2 * horizon + 1


def history(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that carry history (not ``is_future`` covariate-only rows)."""
    if IS_FUTURE in df.columns:
        return df[~df[IS_FUTURE].fillna(False).astype(bool)]
    return df


@dataclass
class WindowPlan:
    """The cutoffs (last training period of each window), oldest first.

    ``cutoffs`` are the evaluated windows every model is scored on; ``calibration`` are
    earlier windows the calibrated model also forecasts, only to fit its quantile levels.
    """

    periods: pd.DatetimeIndex
    horizon: int
    step: int
    cutoffs: list[pd.Timestamp]
    calibration: list[pd.Timestamp] = field(default_factory=list)

    @property
    def first_eval_period(self) -> pd.Timestamp:
        return self.periods[self.periods.get_loc(self.cutoffs[0]) + 1]


def plan_windows(
    df: pd.DataFrame, horizon: int, windows: int, step: int | None = None, calibration_windows: int = 1,
    anchored: str | None = None,
) -> WindowPlan:
    """Rolling origins ending at the last history period: window k forecasts
    ``horizon`` periods after cutoff k; cutoffs are ``step`` (default ``horizon``) apart.

    ``anchored`` (the panel's frequency, or None): the last cutoff is the latest period on
    the calendar grid of every ``step`` periods from ``ANCHOR`` that leaves a whole horizon
    after it, so a panel one period longer keeps the same cutoffs (their stored windows are
    reused) until the grid's next point has a whole horizon of actuals. A panel too short
    for that keeps the latest cutoffs.

    Raises InputError when the horizon is longer than the history or the panel is too
    short for ``windows`` windows (the message gives the largest possible number).
    """
    step = step or horizon
    periods = pd.DatetimeIndex(sorted(history(df)[DS].unique()))
    n, need = len(periods), min_train_periods(horizon)
    span = f"{n} periods ({periods[0].date()} to {periods[-1].date()})" if n else "no periods"
    if horizon >= n:
        raise InputError(
            f"the horizon ({horizon}) is longer than the history: the panel has {span}; "
            f"lower --horizon below {max(n - need, 1)} or give a longer panel"
        )
    max_k = (n - horizon - need) // step + 1 if n - horizon >= need else 0
    if max_k < 1:
        raise InputError(
            f"the panel is too short for any backtest window with horizon {horizon}: it has "
            f"{span}, a window needs {need} training periods plus the horizon "
            f"({need + horizon}); lower --horizon or give a longer panel"
        )
    if windows > max_k:
        raise InputError(
            f"the panel is too short for {windows} windows of horizon {horizon} (step {step}): "
            f"it has {span} and each window needs {need} training periods before its cutoff; "
            f"the maximum is --windows {max_k}"
        )
    last = n - horizon - 1  # index of the last cutoff
    if anchored:
        shift = _grid_number(periods[last], anchored) % step
        if (last - shift + 1 - need) // step + 1 >= windows:
            last -= shift
        else:  # a short panel keeps every window it can have
            log.warning("the panel is too short for %d windows on the anchored grid: latest cutoffs", windows)
    idx = [last - (windows - 1 - k) * step for k in range(windows)]
    calib = [idx[0] - j * step for j in range(calibration_windows, 0, -1)]
    calib = [i for i in calib if i + 1 >= need]
    return WindowPlan(periods, horizon, step, [periods[i] for i in idx], [periods[i] for i in calib])


def _grid_number(period: pd.Timestamp, freq: str) -> int:
    """Periods from ``ANCHOR`` to ``period`` (weeks, months or days by ``freq``)."""
    if freq.startswith("W"):
        return (period - ANCHOR).days // 7
    if freq.startswith(("M", "Q", "Y", "A")):
        return (period.year - ANCHOR.year) * 12 + period.month - ANCHOR.month
    return (period - ANCHOR).days


@dataclass
class PanelChecks:
    """Series left out of the backtest, by reason (ids sorted; counts complete)."""

    all_missing: list[str] = field(default_factory=list)
    missing_in_windows: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "all_missing": {"count": len(self.all_missing), "ids": self.all_missing[:LISTED]},
            "missing_in_windows": {
                "count": len(self.missing_in_windows),
                "ids": self.missing_in_windows[:LISTED],
            },
        }


def scorable_panel(df: pd.DataFrame, first_eval: pd.Timestamp) -> tuple[pd.DataFrame, PanelChecks]:
    """Drop series with no observed ``y`` at all; list the series with a missing ``y`` inside
    the evaluated windows (``ds >= first_eval``: a drop that never arrived). Those stay:
    every model is scored on the same observed actuals (``window_frames`` keeps only those),
    so a day missing at every site (a whole drop lost) does not empty the backtest.
    Returns the kept panel and the lists of ids."""
    hist = history(df)
    observed = hist[Y].notna().groupby(hist[UNIQUE_ID]).any()
    all_missing = sorted(observed.index[~observed].astype(str))
    late = hist[hist[DS] >= first_eval]
    gaps = late[Y].isna().groupby(late[UNIQUE_ID]).any()
    in_windows = sorted(set(gaps.index[gaps].astype(str)) - set(all_missing))
    kept = df[~df[UNIQUE_ID].astype(str).isin(set(all_missing))].reset_index(drop=True)
    if kept.empty:
        raise InputError(f"no series is left to backtest: all {len(all_missing)} have no observed value")
    return kept, PanelChecks(all_missing, in_windows)


def pick_cold_start(ids: list[str], share: float, seed: int) -> list[str]:
    """A seeded ``share`` of series held out of every fit (at least one if share > 0)."""
    if share <= 0:
        return []
    n = min(max(1, int(round(share * len(ids)))), len(ids) - 1)
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(sorted(ids), size=n, replace=False).tolist()) if n > 0 else []


@dataclass
class WindowFrames:
    """What one window sees. ``train``: history rows with ``ds <= cutoff`` (cold-start
    series removed); ``context``: every scored series up to the cutoff (cold-start ``y``
    blanked) plus covariate-only ``is_future`` rows over the horizon when the spec has
    dynamic covariates; ``history``: rows up to the cutoff for local baselines;
    ``actuals``: ``unique_id, ds, y`` over the horizon."""

    cutoff: pd.Timestamp
    train: pd.DataFrame
    context: pd.DataFrame
    history: pd.DataFrame
    actuals: pd.DataFrame


def window_frames(
    df: pd.DataFrame, spec: PanelSpec, cutoff: pd.Timestamp, horizon: int, cold: list[str]
) -> WindowFrames:
    """Split the panel at ``cutoff``; no ``y`` after the cutoff reaches train or context."""
    hist = history(df)
    end = cutoff + horizon * pd.tseries.frequencies.to_offset(spec.freq)
    past = hist[hist[DS] <= cutoff].copy()
    past[IS_FUTURE] = False
    is_cold = past[UNIQUE_ID].astype(str).isin(cold)
    train = past[~is_cold].reset_index(drop=True)
    context = past.copy()
    context.loc[is_cold, Y] = np.nan
    if spec.dynamic_real:
        ahead = df[(df[DS] > cutoff) & (df[DS] <= end) & df[UNIQUE_ID].isin(past[UNIQUE_ID].unique())]
        ahead = ahead.drop_duplicates([UNIQUE_ID, DS]).assign(**{Y: np.nan, IS_FUTURE: True})
        context = pd.concat([context, ahead], ignore_index=True)
    actuals = hist[(hist[DS] > cutoff) & (hist[DS] <= end) & hist[Y].notna()][[UNIQUE_ID, DS, Y]]
    return WindowFrames(cutoff, train, context.reset_index(drop=True),
                        past[[UNIQUE_ID, DS, Y]].reset_index(drop=True), actuals.reset_index(drop=True))


def mase_scales(past: pd.DataFrame, freq: str) -> pd.DataFrame:
    """``unique_id, mase_scale``: mean |y_t - y_{t-m}| over each series' history (NaN-safe)."""
    m = MASE_SEASON.get(freq, 1)
    df = past.sort_values([UNIQUE_ID, DS], kind="stable")
    diff = (df[Y] - df.groupby(UNIQUE_ID, sort=False)[Y].shift(m)).abs()
    scale = diff.groupby(df[UNIQUE_ID], sort=False).mean()
    return scale.rename(MASE_SCALE).reset_index()
