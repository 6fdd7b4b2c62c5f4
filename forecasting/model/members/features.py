"""Feature rows for the global gradient-boosted member (``forecasting.model.members.gbm``).

A panel is laid on its regular period grid as a matrix ``Y`` (n_series, T) with NaN where a
period has no observed ``y``, and each dynamic covariate as a matrix over the same grid
(which reaches into the horizon through ``is_future`` rows). A feature row is one (series,
origin t, step h): the target is ``y[t + h]``; every history feature reads periods ``<= t``
only (direct multi-step forecasting: one model for every step, ``step`` a feature), so the
same code builds training rows at past origins and prediction rows at the last one.

Columns of a feature matrix, in order (``feature_names``): ``step``; ``lag_k`` (y at t-k+1);
``mean_w`` (mean of the observed values in the last w periods); ``zero_frac`` and
``since_nonzero`` over the longest window; ``n_obs`` (observed periods up to t, capped);
``seasonal`` (y one season before the target, when that is <= t); calendar position of the
target period; the static real and categorical covariates; the dynamic covariates at the
target period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.core.panel_spec import PanelSpec, season_length
from forecasting.core.schema import DS, IS_FUTURE, UNIQUE_ID, Y

# per frequency: lags and rolling windows (periods); the season is ``spec.season_length``
LAGS = {"D": 14, "W-MON": 8, "W": 8, "MS": 12, "M": 12}
WINDOWS = {"D": (7, 28, 91), "W-MON": (4, 13, 52), "W": (4, 13, 52), "MS": (3, 6, 12), "M": (3, 6, 12)}


@dataclass
class Grid:
    """The panel on its period grid. ``ids`` sorted; ``periods`` the grid (history and
    horizon); ``y`` (n, T) observed targets (NaN: none); ``dyn`` name -> (n, T) covariates;
    ``last`` (n,) index of each series' last history period (its forecast origin; one
    before the first covariate row for a series without history); ``first`` (n,) index of
    its first observed ``y`` (-1: none)."""

    ids: list[str]
    periods: pd.DatetimeIndex
    y: np.ndarray
    dyn: dict[str, np.ndarray]
    last: np.ndarray
    first: np.ndarray


def panel_grid(df: pd.DataFrame, spec: PanelSpec, extend: int, before: int = 0) -> Grid:
    """``df`` (``unique_id, ds, y``, optional ``is_future`` and ``spec`` covariates) on its
    grid, from ``before`` periods ahead of the first row to ``extend`` past the last."""
    future = df[IS_FUTURE].fillna(False).astype(bool) if IS_FUTURE in df else pd.Series(False, index=df.index)
    uid = df[UNIQUE_ID].astype(str)
    ids = sorted(uid.unique())
    offset = pd.tseries.frequencies.to_offset(spec.freq)
    periods = pd.date_range(df[DS].min() - before * offset, df[DS].max() + extend * offset, freq=offset)
    rows, cols = pd.Index(ids).get_indexer(uid), periods.get_indexer(df[DS])
    ok = cols >= 0
    shape = (len(ids), len(periods))
    y = np.full(shape, np.nan)
    hist = ok & ~future.to_numpy()
    y[rows[hist], cols[hist]] = df[Y].to_numpy(float)[hist]
    dyn = {}
    for name in spec.dynamic_real:
        mat = np.full(shape, np.nan)
        mat[rows[ok], cols[ok]] = pd.to_numeric(df[name], errors="coerce").to_numpy(float)[ok]
        dyn[name] = mat
    last = np.full(len(ids), -1)
    np.maximum.at(last, rows[hist], cols[hist])
    first_future = np.full(len(ids), len(periods))
    np.minimum.at(first_future, rows[ok & future.to_numpy()], cols[ok & future.to_numpy()])
    last = np.where(last >= 0, last, np.minimum(first_future, len(periods)) - 1)
    seen = ~np.isnan(y)
    first = np.where(seen.any(axis=1), seen.argmax(axis=1), -1)
    return Grid(ids, periods, y, dyn, last, first)


def feature_names(spec: PanelSpec, freq: str) -> list[str]:
    lags, windows = LAGS.get(freq, 8), WINDOWS.get(freq, (4, 13, 52))
    cal = ["cal_dow", "cal_month"] if freq == "D" else ["cal_period"]
    return (["step", *[f"lag_{k}" for k in range(1, lags + 1)], *[f"mean_{w}" for w in windows],
             "zero_frac", "since_nonzero", "n_obs", "seasonal", *cal, *spec.static_real,
             *spec.static_cat, *[f"dyn_{d}" for d in spec.dynamic_real]])


def origin_features(y: np.ndarray, series: np.ndarray, origins: np.ndarray, freq: str) -> np.ndarray:
    """History features (lags, means, zero_frac, since_nonzero, n_obs) of (series, origin)
    pairs: (len(series), n_history_features), NaN where a period is unobserved or < 0."""
    lags, windows = LAGS.get(freq, 8), WINDOWS.get(freq, (4, 13, 52))
    n, t = y.shape
    pad = max(lags, *windows)
    padded = np.concatenate([np.full((n, pad), np.nan), y], axis=1)
    o = origins + pad
    lag_cols = [padded[series, o - k] for k in range(lags)]
    seen = ~np.isnan(padded)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(np.nan_to_num(padded), axis=1)], axis=1)
    ccnt = np.concatenate([np.zeros((n, 1)), np.cumsum(seen, axis=1)], axis=1)
    czero = np.concatenate([np.zeros((n, 1)), np.cumsum(seen & (padded == 0), axis=1)], axis=1)
    means = []
    for w in windows:
        cnt = ccnt[series, o + 1] - ccnt[series, o + 1 - w]
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((csum[series, o + 1] - csum[series, o + 1 - w]) / cnt)
    w = windows[-1]
    cnt = ccnt[series, o + 1] - ccnt[series, o + 1 - w]
    with np.errstate(invalid="ignore", divide="ignore"):
        zero_frac = (czero[series, o + 1] - czero[series, o + 1 - w]) / cnt
    nonzero = seen & (padded > 0)
    idx = np.where(nonzero, np.arange(padded.shape[1])[None, :], -1)
    last_nz = np.maximum.accumulate(idx, axis=1)[series, o]
    since = np.where(last_nz >= 0, np.minimum(o - last_nz, 2 * w), np.nan)
    n_obs = np.minimum(ccnt[series, o + 1], 4 * season_length(freq))
    return np.column_stack([*lag_cols, *means, zero_frac, since, n_obs])


def calendar(periods: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """(T, k) calendar position of each grid period: day of week and month (daily), else
    the month (monthly) or ISO week (weekly)."""
    if freq == "D":
        return np.column_stack([periods.dayofweek, periods.month]).astype(float)
    if freq in ("MS", "M"):
        return periods.month.to_numpy(float)[:, None]
    return periods.isocalendar().week.to_numpy(float)[:, None]


def static_matrix(df: pd.DataFrame, spec: PanelSpec, ids: list[str], categories: dict[str, list[str]]) -> np.ndarray:
    """(n, len(static_real) + len(static_cat)): each series' first non-null static value;
    categories as codes into ``categories`` (unknown or missing: NaN)."""
    first = df.assign(**{UNIQUE_ID: df[UNIQUE_ID].astype(str)}).groupby(UNIQUE_ID)
    cols = [pd.to_numeric(first[c].first(), errors="coerce").reindex(ids).to_numpy(float) for c in spec.static_real]
    for c in spec.static_cat:
        values = first[c].first().reindex(ids).astype("string")
        codes = pd.Index(categories.get(c, [])).get_indexer(values.fillna("\x00"))
        cols.append(np.where(codes >= 0, codes, np.nan).astype(float))
    return np.column_stack(cols) if cols else np.empty((len(ids), 0))


def step_rows(grid: Grid, series: np.ndarray, origins: np.ndarray, horizon: int, freq: str,
              statics: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows of every (series, origin) pair and step 1..horizon, pair-major:
    (X (len*horizon, n_features), target period index (len*horizon,), row's series)."""
    base = origin_features(grid.y, series, origins, freq)
    h = np.tile(np.arange(1, horizon + 1), len(series))
    pair = np.repeat(np.arange(len(series)), horizon)
    s, target = series[pair], origins[pair] + h
    inside = np.clip(target, 0, grid.y.shape[1] - 1)
    m = season_length(freq)
    seas_at = target - m
    # clipped both ways: a horizon longer than the season (daily: 14 > 7) reads no period past the grid
    seasonal = np.where((h <= m) & (seas_at >= 0), grid.y[s, np.clip(seas_at, 0, grid.y.shape[1] - 1)], np.nan)
    cal = calendar(grid.periods, freq)[inside]
    dyn = [grid.dyn[d][s, inside] for d in grid.dyn]
    x = np.column_stack([h, base[pair], seasonal, cal, statics[s], *dyn]) if dyn else \
        np.column_stack([h, base[pair], seasonal, cal, statics[s]])
    return x, target, s
