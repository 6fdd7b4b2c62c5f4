"""Baselines a planner would otherwise use, forecast on the backtest's own cutoffs.

Each function takes the training frame of one cutoff (``unique_id, ds, y``; one row per
period up to and including the cutoff, regular grid, ``y`` NaN where missing) and returns a
forecast frame ``unique_id, ds, step, mean, q0.05, q0.5, q0.9, q0.95`` for ``horizon`` periods
after each series' last row.

- ``seasonal_naive``: the value one season earlier, with quantiles from the empirical
  quantiles of the series' own in-sample seasonal differences ``y_t - y_{t-m}`` (the point
  forecast is the mean; every quantile, the median included, is point + residual quantile).
- ``croston_sba``, ``tsb``, ``adida``: statsforecast point forecasts with statsforecast's own
  ``ConformalIntervals`` (conformal distribution over ``n_windows`` rolling windows of
  ``horizon``): q0.95 / q0.05 are the 90% interval bounds, q0.9 the upper 80% bound, q0.5
  the point forecast.
Counts are never negative, so every quantile is clipped at 0.
- ``gluonts_deepar``: plain GluonTS torch DeepAR with a negative-binomial likelihood and
  its defaults otherwise (``context_length`` = horizon), trained with GluonTS's own loop.
"""

from __future__ import annotations

import logging
import tempfile
import warnings

import numpy as np
import pandas as pd

from forecasting.backtest.calibration import apply_levels, identity_levels
from forecasting.core.panel_spec import season_length
from forecasting.core.schema import DS, MEAN, QUANTILE_LEVELS, STEP, UNIQUE_ID, Y, quantile_col
from forecasting.model.quiet import quiet

SEASONAL_NAIVE, CROSTON_SBA, TSB, ADIDA = "seasonal_naive", "croston_sba", "tsb", "adida"
GLUONTS_DEEPAR = "gluonts_deepar"
STATS_BASELINES = (CROSTON_SBA, TSB, ADIDA)
TSB_ALPHAS = (0.1, 0.1)  # (alpha_d, alpha_p): the measured carparts anchor (STACK.md)
CONFORMAL_WINDOWS = 2
GLUONTS_EPOCHS = 25  # x 50 batches: the budget of the measured anchor (STACK.md)
# GluonTS indexes by pandas Period: a month is "M"; a Monday-start week is the period
# ending on Sunday ("W-MON" as a Period would be the week ending on Monday).
PERIOD_FREQS = {"MS": "M", "M": "M", "W-MON": "W-SUN", "W": "W-SUN", "D": "D"}


def period_freq(freq: str) -> str:
    """The pandas Period frequency GluonTS needs for a panel frequency alias."""
    return PERIOD_FREQS.get(freq, freq)


def seasonal_naive(train: pd.DataFrame, horizon: int, freq: str) -> pd.DataFrame:
    """Seasonal naive with empirical seasonal-difference quantiles (see module docstring).

    Series with no full season of history fall back to the last value and lag-1 differences.
    """
    df = _trim(train)
    season = season_length(freq)
    rows = []
    for uid, g in df.groupby(UNIQUE_ID, sort=True):
        y = g[Y].to_numpy(float)
        m = season if len(y) > season else 1
        steps = np.arange(horizon)
        point = y[len(y) - m + steps % m] if len(y) >= m else np.zeros(horizon)
        resid = y[m:] - y[:-m] if len(y) > m else np.zeros(1)
        start = g[DS].iloc[-1]
        rows.append((uid, start, point, np.quantile(resid, QUANTILE_LEVELS)))
    return _frame_from_points(rows, horizon, freq)


def _frame_from_points(rows: list, horizon: int, freq: str) -> pd.DataFrame:
    """Frame from ``(uid, last ds, point (h,), residual quantiles (len QUANTILE_LEVELS,))``."""
    offset = pd.tseries.frequencies.to_offset(freq)
    out = pd.DataFrame(
        {
            UNIQUE_ID: np.repeat([r[0] for r in rows], horizon).astype(object),
            DS: np.concatenate(
                [pd.date_range(r[1] + offset, periods=horizon, freq=freq).to_numpy() for r in rows]
            )
            if rows
            else np.array([], dtype="datetime64[ns]"),
            STEP: np.tile(np.arange(1, horizon + 1), len(rows)),
        }
    )
    points = np.concatenate([r[2] for r in rows]) if rows else np.zeros(0)
    out[MEAN] = np.clip(points, 0.0, None)
    for i, q in enumerate(QUANTILE_LEVELS):
        shift = np.repeat([r[3][i] for r in rows], horizon) if rows else np.zeros(0)
        out[quantile_col(q)] = np.clip(points + shift, 0.0, None)
    return out


def _stats_model(name: str):
    from statsforecast.models import ADIDA as _ADIDA
    from statsforecast.models import TSB as _TSB
    from statsforecast.models import CrostonSBA

    if name == CROSTON_SBA:
        return CrostonSBA(alias=name)
    if name == TSB:
        return _TSB(alpha_d=TSB_ALPHAS[0], alpha_p=TSB_ALPHAS[1], alias=name)
    if name == ADIDA:
        return _ADIDA(alias=name)
    raise ValueError(f"unknown baseline {name!r}; choose from {STATS_BASELINES}")


def _trim(train: pd.DataFrame) -> pd.DataFrame:
    """statsforecast takes no NaN: drop leading missing periods, fill inner gaps (a drop that
    never arrived) with the series' mean of observed periods: zero would bias it low."""
    df = train[[UNIQUE_ID, DS, Y]].sort_values([UNIQUE_ID, DS], kind="stable")
    seen = df[Y].notna().groupby(df[UNIQUE_ID], sort=False).cummax()
    df = df[seen].copy()
    df[Y] = df[Y].fillna(df.groupby(UNIQUE_ID, sort=False)[Y].transform("mean")).astype(float)
    return df.reset_index(drop=True)


def statsforecast_baselines(
    train: pd.DataFrame,
    horizon: int,
    freq: str,
    models: tuple[str, ...] = STATS_BASELINES,
    n_windows: int = CONFORMAL_WINDOWS,
) -> dict[str, pd.DataFrame]:
    """Forecast every statsforecast baseline in ``models``; ``{model: forecast frame}``.

    Series with fewer than ``2 * horizon + 1`` observed periods cannot be calibrated by
    conformal windows; they get the point forecast for every quantile of that model.
    """
    from statsforecast import StatsForecast
    from statsforecast.utils import ConformalIntervals

    df = _trim(train)
    sizes = df.groupby(UNIQUE_ID, sort=False).size()
    long_ids = sizes.index[sizes >= 2 * horizon + 1]
    parts = []
    for ids, intervals in ((long_ids, True), (sizes.index.difference(long_ids), False)):
        if len(ids) == 0:
            continue
        sub = df[df[UNIQUE_ID].isin(ids)]
        sf = StatsForecast(models=[_stats_model(m) for m in models], freq=freq, n_jobs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "some series have less windows": intended
            if intervals:
                pi = ConformalIntervals(n_windows=n_windows, h=horizon)
                fc = sf.forecast(h=horizon, df=sub, level=[80, 90], prediction_intervals=pi)
            else:
                fc = sf.forecast(h=horizon, df=sub)
        parts.append(fc)
    fc = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return {m: _stats_frame(fc, m, horizon) for m in models}


def _stats_frame(fc: pd.DataFrame, model: str, horizon: int) -> pd.DataFrame:
    point = fc[model].clip(lower=0.0).to_numpy(float)

    def bound(col: str) -> np.ndarray:
        return fc[col].clip(lower=0.0).to_numpy(float) if col in fc else np.full(len(fc), np.nan)

    quant = {
        0.05: bound(f"{model}-lo-90"),
        0.5: point,
        0.9: bound(f"{model}-hi-80"),
        0.95: bound(f"{model}-hi-90"),
    }
    out = pd.DataFrame({UNIQUE_ID: fc[UNIQUE_ID].to_numpy(), DS: pd.to_datetime(fc[DS]).to_numpy()})
    out = out.sort_values([UNIQUE_ID, DS], kind="stable")
    order = out.index.to_numpy()
    out[STEP] = out.groupby(UNIQUE_ID, sort=False).cumcount() + 1
    out[MEAN] = point[order]
    for q in QUANTILE_LEVELS:
        vals = quant[q][order]
        out[quantile_col(q)] = np.where(np.isnan(vals), point[order], vals)
    # conformal bounds around a point forecast need not be ordered like quantiles
    qcols = [quantile_col(q) for q in QUANTILE_LEVELS]
    out[qcols] = np.sort(out[qcols].to_numpy(float), axis=1)
    return out[out[STEP] <= horizon].reset_index(drop=True)


def gluonts_deepar(
    train: pd.DataFrame,
    horizon: int,
    freq: str,
    seed: int = 0,
    num_samples: int = 200,
    epochs: int = GLUONTS_EPOCHS,
    batches: int = 50,
) -> pd.DataFrame:
    """Plain GluonTS DeepAR (negative binomial, defaults) trained on ``train`` and forecast.

    No covariates, no guards, no early stopping: the reference a user would get out of the
    box, trained for ``epochs`` x ``batches`` batches (the backtest gives it riskcast's budget).
    """
    import lightning.pytorch as pl
    from gluonts.dataset.common import ListDataset
    from gluonts.torch.distributions import NegativeBinomialOutput
    from gluonts.torch.model.deepar import DeepAREstimator

    pl.seed_everything(seed, workers=True, verbose=False)
    df = train.sort_values([UNIQUE_ID, DS], kind="stable")
    seen = df[Y].notna().groupby(df[UNIQUE_ID], sort=False).cummax()
    df = df[seen]
    pfreq = period_freq(freq)
    data = [
        {"start": pd.Period(g[DS].iloc[0], freq=pfreq), "target": g[Y].to_numpy(np.float32), "item_id": uid}
        for uid, g in df.groupby(UNIQUE_ID, sort=True)
    ]
    dataset = ListDataset(data, freq=pfreq)
    quieter = quiet(logging.ERROR, ("lightning", "lightning.pytorch", "gluonts"))
    with tempfile.TemporaryDirectory(prefix="riskcast-gluonts-") as tmp, quieter, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = DeepAREstimator(
            freq=pfreq,
            prediction_length=horizon,
            distr_output=NegativeBinomialOutput(),
            num_parallel_samples=num_samples,
            num_batches_per_epoch=batches,
            trainer_kwargs={
                "max_epochs": epochs,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "logger": False,
                "default_root_dir": tmp,
                "accelerator": "cpu",
            },
        )
        predictor = est.train(dataset, cache_data=True)
        forecasts = list(predictor.predict(dataset, num_samples=num_samples))
    ids = [f.item_id for f in forecasts]
    samples = np.stack([f.samples for f in forecasts])  # (n_series, num_samples, horizon)
    starts = [f.start_date.to_timestamp() for f in forecasts]
    return samples_frame(ids, starts, samples, freq)


def samples_frame(
    ids: list, starts: list[pd.Timestamp], samples: np.ndarray, freq: str, levels: dict | None = None
) -> pd.DataFrame:
    """Forecast frame from sample paths (n_series, num_samples, horizon).

    Quantiles are the ``levels[q]``-quantiles of the samples (identity by default; see
    ``forecasting.backtest.calibration.apply_levels``).
    """

    n, _, horizon = samples.shape
    qs = apply_levels(samples, levels or identity_levels(QUANTILE_LEVELS), axis=1)
    ds = np.concatenate([pd.date_range(s, periods=horizon, freq=freq).to_numpy() for s in starts])
    out = pd.DataFrame(
        {
            UNIQUE_ID: np.repeat(np.asarray(ids, dtype=object), horizon),
            DS: ds,
            STEP: np.tile(np.arange(1, horizon + 1), n),
            MEAN: samples.mean(axis=1).reshape(-1),
        }
    )
    for q in QUANTILE_LEVELS:
        out[quantile_col(q)] = qs[q].reshape(-1)
    return out
